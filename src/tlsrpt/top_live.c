/*
 * top_live.c - the live terminal of `tlsrpt top`: plain ANSI escapes and
 * termios (no curses), refreshed every interval and on every key; the
 * terminal is restored on every way out (q, SIGINT, SIGTERM, exit, fatal
 * errors) and around a suspension, and SIGWINCH redraws at the new size.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "top.h"

static struct termios saved_termios;
static volatile sig_atomic_t raw_mode, got_stop, got_resize, got_suspend;

static void terminal_write(const char *text)
{
    size_t len = strlen(text);

    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* Back to the normal screen, cursor shown, line mode and echo. Safe to call twice. */
static void terminal_restore(void)
{
    if (!raw_mode)
        return;
    raw_mode = 0;
    terminal_write("\033[?25h\033[?1049l");
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
}

static void terminal_enter(void)
{
    struct termios raw = saved_termios;

    /* Keys arrive one at a time and are not echoed; ^C still sends SIGINT. */
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    raw_mode = 1;
    terminal_write("\033[?1049h\033[?25l");
}

static void on_signal(int signo)
{
    if (signo == SIGWINCH)
        got_resize = 1;
    else if (signo == SIGTSTP)
        got_suspend = 1;
    else
        got_stop = 1;
}

static void signals_setup(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll(2) returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
}

static void terminal_size(int *rows, int *columns)
{
    struct winsize size;

    *rows = 24;
    *columns = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
        *rows = size.ws_row;
        *columns = size.ws_col;
    }
}

/* The whole screen in one write: the view cut to the terminal, then the key line. */
static void draw(const struct top_view *view, const char *error, bool editing, const char *edit)
{
    char *text = NULL;
    size_t text_len = 0;
    int rows, columns, row = 0;
    struct buf screen;
    FILE *out = open_memstream(&text, &text_len);

    if (out == NULL)
        return;
    if (error)
        fprintf(out, "%s\n", error);
    else
        top_print_text(view, out);
    fclose(out);
    terminal_size(&rows, &columns);
    buf_init(&screen);
    buf_puts(&screen, "\033[H\033[2J");
    for (char *line = text; *line && row < rows - 1; row++) {
        size_t len = strcspn(line, "\n");
        buf_append(&screen, line, len < (size_t)columns ? len : (size_t)columns);
        buf_puts(&screen, "\r\n");
        line += len + (line[len] == '\n');
    }
    buf_printf(&screen, "\033[%d;1H\033[7m", rows);
    if (editing)
        buf_printf(&screen, "filter (glob or text, Enter applies, Esc cancels): %s", edit);
    else
        buf_printf(&screen, "sort: s sessions  f failures  r rate  d domain   / filter   q quit");
    buf_puts(&screen, "\033[0m");
    terminal_write(buf_cstr(&screen));
    buf_free(&screen);
    free(text);
}

/* Reloads the tables; an error is shown instead of the view, and the view tries again. */
static char *reload(struct top_view *view, const char *dir, int fixed_day)
{
    char *error = NULL;

    top_free(view);
    if (top_load(view, dir, fixed_day >= 0 ? fixed_day : day_today(), &error) < 0)
        return error;
    return NULL;
}

int top_live(struct top_view *view, const char *counters_dir, int interval_ms)
{
    int fixed_day = view->day == day_today() ? -1 : view->day; /* follow the clock */
    char edit[TOP_MAX_FILTER] = "", *error = NULL;
    size_t edit_len = 0;
    bool editing = false;

    if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
        msg_fatal("top: cannot read the terminal's settings");
    atexit(terminal_restore); /* msg_fatal exits: the terminal comes back */
    signals_setup();
    terminal_enter();
    error = reload(view, counters_dir, fixed_day);
    int64_t next_refresh = clock_ms() + interval_ms;
    bool dirty = true;
    while (!got_stop) {
        if (got_suspend) {
            got_suspend = 0;
            terminal_restore();
            kill(getpid(), SIGSTOP); /* continues here on SIGCONT */
            terminal_enter();
            dirty = true;
        }
        if (got_resize) {
            got_resize = 0;
            dirty = true;
        }
        if (clock_ms() >= next_refresh) {
            free(error);
            error = reload(view, counters_dir, fixed_day);
            next_refresh = clock_ms() + interval_ms;
            dirty = true;
        }
        if (dirty)
            draw(view, error, editing, edit);
        dirty = false;
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int64_t wait = next_refresh - clock_ms();
        if (poll(&pfd, 1, wait > 0 ? (int)wait : 0) <= 0)
            continue;
        char key;
        if (read(STDIN_FILENO, &key, 1) != 1) {
            if (errno != EINTR && errno != EAGAIN)
                break; /* the terminal is gone */
            continue;
        }
        dirty = true;
        if (editing) {
            if (key == '\n' || key == '\r') {
                memcpy(view->filter, edit, edit_len + 1);
                editing = false;
                top_arrange(view);
            } else if (key == 27) {
                editing = false;
            } else if ((key == 127 || key == 8) && edit_len > 0) {
                edit[--edit_len] = '\0';
            } else if (key >= 32 && key < 127 && edit_len + 1 < sizeof(edit)) {
                edit[edit_len++] = key;
                edit[edit_len] = '\0';
            }
            continue;
        }
        if (key == 'q' || key == 'Q')
            break;
        if (strchr("sfrd", key) != NULL && key != '\0') {
            view->sort = key;
            top_arrange(view);
        } else if (key == '/') {
            editing = true;
            edit_len = strlen(view->filter);
            memcpy(edit, view->filter, edit_len + 1);
        }
    }
    terminal_restore();
    free(error);
    return 0;
}
