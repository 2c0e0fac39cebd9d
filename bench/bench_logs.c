/*
 * bench_logs.c - what users run, `tlsrpt ingest --format postfix` (reading, parsing,
 * counting into a day's table), in MB/s on a big real-shaped log in the page cache, beside
 * same-run `grep -c` (writing to a pipe) and pflogsumm (Debian package pflogsumm; skipped
 * with a message when absent); events must be exactly copies x one lab log's.
 * Usage: bench_logs [-f LAB_LOG] [-s MB] [-t TLSRPT_PROGRAM]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logfollow.h"
#include "util.h"

extern char **environ;

#define LAB_LOG "tests/data/postfix-3.7-lab.log"
#ifndef PFLOGSUMM
#define PFLOGSUMM "/usr/sbin/pflogsumm"
#endif
#define ROUNDS 3
#define DAY_SECONDS 86000 /* the times of the big log stay within one day */
#define PID_MIN 1000
#define PID_MAX 4194304            /* Linux pid_max: pids wrap as on a real host */
#define PFLOGSUMM_SLICE (32 << 20) /* pflogsumm is slow: it reads a slice */
/* "now" for the parser's RFC 3164 year guess: 2026-12-01, so "Nov" is 2026. */
#define NOW_2026_12_01 ((time_t)1796083200)

/* One line of the lab log, split where the generator renumbers. */
struct line_shape {
    int offset;         /* seconds after the first line */
    const char *prefix; /* " host program[" */
    size_t prefix_len;
    long pid;
    bool has_qid;          /* the message starts with a queue id */
    char qid_head[16];     /* the queue id without its last 6 hex digits */
    unsigned long qid_low; /* those 6 digits (the inode part) */
    const char *message;   /* "]: ..." after the pid, or after the queue id */
    size_t message_len;
};

struct lab {
    struct buf text;
    struct line_shape *lines;
    size_t n;
    char month_day[7]; /* "Nov 22" */
    int first_second;  /* of the day, of the first line */
    int span;          /* seconds from the first line to the last, + 1 */
    long pid_lo, pid_hi;
    unsigned long qid_lo, qid_hi;
};

static char *temp_dir;
static char *big_path;
static char *slice_path;
static char *config_path;
static char *state_dir;

static double run_command(char *const argv[], bool to_null, struct buf *out);

static void cleanup(void)
{
    if (state_dir != NULL) {
        char *rm_argv[] = {"rm", "-rf", state_dir, NULL};
        (void)run_command(rm_argv, true, NULL);
    }
    if (config_path != NULL)
        unlink(config_path);
    if (big_path != NULL)
        unlink(big_path);
    if (slice_path != NULL)
        unlink(slice_path);
    if (temp_dir != NULL && rmdir(temp_dir) < 0)
        fprintf(stderr, "bench_logs: rmdir %s: %s\n", temp_dir, strerror(errno));
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1234567 -> "1,234,567" */
static const char *commas(uint64_t value, char out[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)value), o = 0;

    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

static bool readable(const char *path)
{
    return path != NULL && access(path, R_OK) == 0;
}

/* "abs_top_srcdir = /path" of the Makefile in the current (build) directory. */
static char *srcdir_from_makefile(void)
{
    FILE *f = fopen("Makefile", "r");
    char line[4096];
    char *found = NULL;

    while (f != NULL && found == NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "abs_top_srcdir = ", 17) == 0) {
            line[strcspn(line, "\n")] = '\0';
            found = xstrdup(line + 17);
        }
    if (f != NULL)
        fclose(f);
    return found;
}

/* -f, then $top_srcdir, then guesses relative to here, the program and the build's Makefile. */
static char *find_lab_log(const char *option, const char *argv0)
{
    const char *top = getenv("top_srcdir");
    char *program_dir = xstrdup(argv0), *guess, *srcdir;

    if (option != NULL) {
        free(program_dir);
        if (readable(option))
            return xstrdup(option);
        msg_fatal("-f %s: %s", option, strerror(errno));
    }
    if (top != NULL && *top != '\0' && readable(guess = path_join(top, LAB_LOG)))
        goto found;
    if (readable(guess = xstrdup(LAB_LOG)))
        goto found;
    free(guess);
    guess = xasprintf("%s/../%s", dirname(program_dir), LAB_LOG);
    if (readable(guess))
        goto found;
    free(guess);
    if ((srcdir = srcdir_from_makefile()) != NULL) {
        guess = path_join(srcdir, LAB_LOG);
        free(srcdir);
        if (readable(guess))
            goto found;
        free(guess);
    }
    free(program_dir);
    msg_fatal("cannot find the lab log %s: give it with -f FILE or set top_srcdir to the "
              "source directory",
              LAB_LOG);
found:
    free(program_dir);
    return guess;
}

static bool hex_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* Splits the lab log into line shapes; fatal when a line is not of the expected shape. */
static void lab_load(const char *path, struct lab *lab)
{
    char *error;
    size_t cap = 0;

    memset(lab, 0, sizeof(*lab));
    if (file_read_all(path, 16 << 20, &lab->text, &error) < 0)
        msg_fatal("%s", error);
    lab->pid_lo = PID_MAX;
    lab->qid_lo = 0xffffff;
    for (char *line = lab->text.data, *end; *line != '\0'; line = end + 1) {
        struct line_shape t;
        int hh, mm, ss;
        char *open, *close;

        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        *end = '\0';
        memset(&t, 0, sizeof(t));
        /* "Nov 22 09:46:18 sender postfix/smtp[11161]: message" */
        if (strlen(line) < 16 || sscanf(line + 7, "%2d:%2d:%2d", &hh, &mm, &ss) != 3 ||
            (open = strchr(line + 16, '[')) == NULL || (close = strchr(open, ']')) == NULL ||
            strncmp(close, "]: ", 3) != 0)
            msg_fatal("%s: line %zu: not an RFC 3164 line with a pid", path, lab->n + 1);
        if (lab->n == 0) {
            memcpy(lab->month_day, line, 6);
            lab->first_second = hh * 3600 + mm * 60 + ss;
        } else if (memcmp(lab->month_day, line, 6) != 0) {
            msg_fatal("%s: line %zu: the lab log must be from one day", path, lab->n + 1);
        }
        t.offset = hh * 3600 + mm * 60 + ss - lab->first_second;
        if (t.offset < 0)
            msg_fatal("%s: line %zu: time goes backwards", path, lab->n + 1);
        if (t.offset + 1 > lab->span)
            lab->span = t.offset + 1;
        t.prefix = line + 15;
        t.prefix_len = (size_t)(open + 1 - t.prefix);
        t.pid = strtol(open + 1, NULL, 10);
        if (t.pid < lab->pid_lo)
            lab->pid_lo = t.pid;
        if (t.pid > lab->pid_hi)
            lab->pid_hi = t.pid;
        t.message = close;
        /* A Postfix short queue id: 10 to 12 upper-case hex digits, then ": ". */
        size_t q = strspn(close + 3, "0123456789ABCDEF");
        if (q >= 10 && q <= 12 && strncmp(close + 3 + q, ": ", 2) == 0 && hex_upper(close + 3, q)) {
            char low[7];
            t.has_qid = true;
            memcpy(t.qid_head, close + 3, q - 6);
            memcpy(low, close + 3 + q - 6, 6);
            low[6] = '\0';
            t.qid_low = strtoul(low, NULL, 16);
            if (t.qid_low < lab->qid_lo)
                lab->qid_lo = t.qid_low;
            if (t.qid_low > lab->qid_hi)
                lab->qid_hi = t.qid_low;
            t.message = close + 3 + q;
        }
        t.message_len = strlen(t.message);
        if (lab->n == cap) {
            cap = cap ? cap * 2 : 256;
            lab->lines = xreallocarray(lab->lines, cap, sizeof(*lab->lines));
        }
        lab->lines[lab->n++] = t;
        if (*end == '\0' && end == lab->text.data + lab->text.len)
            break;
    }
    if (lab->n == 0)
        msg_fatal("%s: empty", path);
}

/*
 * Copy `copy` of the lab log, `copies` in all: pids shifted by one lab-wide
 * pid range per copy (wrapping at pid_max), the inode part of each queue id
 * by one lab-wide range per copy, times spread over the day in order.
 */
static size_t write_copy(FILE *out, const struct lab *lab, uint64_t copy, uint64_t copies)
{
    uint64_t pid_stride = (uint64_t)(lab->pid_hi - lab->pid_lo + 1);
    uint64_t qid_stride = lab->qid_hi - lab->qid_lo + 1;
    uint64_t total = copies * (uint64_t)lab->span;
    size_t written = 0;

    for (size_t i = 0; i < lab->n; i++) {
        const struct line_shape *t = &lab->lines[i];
        uint64_t at = copy * (uint64_t)lab->span + (uint64_t)t->offset;
        uint64_t second = total <= DAY_SECONDS ? at : at * DAY_SECONDS / total;
        uint64_t pid_step = (uint64_t)(t->pid - PID_MIN) + copy * pid_stride;
        long pid = PID_MIN + (long)(pid_step % (PID_MAX - PID_MIN));
        int n;

        second += 5; /* from 00:00:05 */
        n = fprintf(out, "%s %02d:%02d:%02d%.*s%ld", lab->month_day, (int)(second / 3600),
                    (int)(second / 60 % 60), (int)(second % 60), (int)t->prefix_len, t->prefix,
                    pid);
        if (t->has_qid) {
            uint64_t low = (t->qid_low + copy * qid_stride) & 0xffffff;
            n += fprintf(out, "]: %s%06lX", t->qid_head, (unsigned long)low);
        }
        n += fprintf(out, "%.*s\n", (int)t->message_len, t->message);
        if (n < 0)
            msg_fatal("write: %s", strerror(errno));
        written += (size_t)n;
    }
    return written;
}

/* Writes copies until target bytes; returns the copies written. */
static uint64_t generate(const char *path, const struct lab *lab, uint64_t target, size_t *size_r)
{
    uint64_t copies = (target + lab->text.len - 1) / lab->text.len;
    FILE *out = fopen(path, "w");
    static char buffer[1 << 20];
    size_t size = 0;

    if (copies == 0)
        copies = 1;
    if (out == NULL)
        msg_fatal("%s: %s", path, strerror(errno));
    setvbuf(out, buffer, _IOFBF, sizeof(buffer));
    for (uint64_t c = 0; c < copies; c++)
        size += write_copy(out, lab, c, copies);
    if (fclose(out) != 0)
        msg_fatal("%s: %s", path, strerror(errno));
    *size_r = size;
    return copies;
}

/* The first `copies` copies of a log of `of` copies (same times): pflogsumm's slice. */
static size_t generate_slice(const char *path, const struct lab *lab, uint64_t copies, uint64_t of)
{
    FILE *out = fopen(path, "w");
    size_t size = 0;

    if (out == NULL)
        msg_fatal("%s: %s", path, strerror(errno));
    for (uint64_t c = 0; c < copies; c++)
        size += write_copy(out, lab, c, of);
    if (fclose(out) != 0)
        msg_fatal("%s: %s", path, strerror(errno));
    return size;
}

/* Reads the whole file once so that every run finds it in the page cache. */
static void warm(const char *path)
{
    static char chunk[1 << 20];
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        msg_fatal("%s: %s", path, strerror(errno));
    while (read(fd, chunk, sizeof(chunk)) > 0)
        ;
    close(fd);
}

/* Runs argv (no shell) with stdout to a pipe (kept in out, if given) or /dev/null. */
static double run_command(char *const argv[], bool to_null, struct buf *out)
{
    posix_spawn_file_actions_t actions;
    int pipe_fd[2] = {-1, -1}, status;
    char chunk[4096];
    ssize_t n;
    pid_t pid;
    double start;

    posix_spawn_file_actions_init(&actions);
    if (to_null) {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    } else {
        if (pipe(pipe_fd) < 0)
            msg_fatal("pipe: %s", strerror(errno));
        posix_spawn_file_actions_adddup2(&actions, pipe_fd[1], 1);
        posix_spawn_file_actions_addclose(&actions, pipe_fd[0]);
        posix_spawn_file_actions_addclose(&actions, pipe_fd[1]);
    }
    start = now_s();
    if ((errno = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ)) != 0)
        msg_fatal("%s: %s", argv[0], strerror(errno));
    posix_spawn_file_actions_destroy(&actions);
    if (!to_null) {
        close(pipe_fd[1]);
        while ((n = read(pipe_fd[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && out != NULL)
                buf_append(out, chunk, (size_t)n);
        close(pipe_fd[0]);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            msg_fatal("waitpid: %s", strerror(errno));
    double elapsed = now_s() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) /* grep -c: 1 = no match */
        msg_fatal("%s exited with status %d", argv[0], status);
    return elapsed;
}

static void count_event(const struct tr_event *event, void *context)
{
    (void)event;
    (*(uint64_t *)context)++;
}

struct parse_result {
    double seconds;
    uint64_t events; /* counted by the callback */
    struct lf_stats stats;
};

/* The parser over a whole file: mmap, one lf_parser_line per line, flush. */
static struct parse_result parse_file(const char *path)
{
    struct lf_settings settings = {.format = LF_POSTFIX, .now = NOW_2026_12_01};
    struct parse_result result = {0, 0, {0}};
    struct lf_parser *parser;
    struct stat st;
    const char *data, *p, *end, *nl;
    double start = now_s();
    int fd = open(path, O_RDONLY);

    if (fd < 0 || fstat(fd, &st) < 0)
        msg_fatal("%s: %s", path, strerror(errno));
    data = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    if (data == MAP_FAILED)
        msg_fatal("mmap %s: %s", path, strerror(errno));
    if (st.st_size > 0)
        madvise((void *)data, (size_t)st.st_size, MADV_SEQUENTIAL);
    parser = lf_parser_create(&settings, count_event, &result.events);
    end = data + st.st_size;
    for (p = data; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        lf_parser_line(parser, p, (size_t)(nl - p));
    }
    lf_parser_flush(parser);
    result.seconds = now_s() - start;
    result.stats = *lf_parser_stats(parser);
    lf_parser_destroy(parser);
    if (st.st_size > 0)
        munmap((void *)data, (size_t)st.st_size);
    close(fd);
    return result;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(double), compare_double);
    return values[n / 2];
}

/* The parser's line counts; `expected`: what the lab log alone gives, times the copies. */
static void print_rejects(const char *what, const struct lf_stats *stats,
                          const struct lf_stats *one, uint64_t copies)
{
    printf("logs: %s: %llu lines, %llu of smtp/qmgr, %llu rejected", what,
           (unsigned long long)stats->lines, (unsigned long long)stats->relevant,
           (unsigned long long)stats->rejected);
    for (int r = 0; r < LF_REJECT_COUNT; r++)
        if (stats->rejected_by[r])
            printf(" %s=%llu", lf_reject_name((enum lf_reject)r),
                   (unsigned long long)stats->rejected_by[r]);
    if (one != NULL)
        printf(" (the lab log alone x %llu: %llu rejected)", (unsigned long long)copies,
               (unsigned long long)(one->rejected * copies));
    printf("\n");
}

/* -t, then ./tlsrpt (make bench runs in the build directory), then beside the bench's directory. */
static char *find_tlsrpt(const char *option, const char *argv0)
{
    char *program_dir = xstrdup(argv0), *guess;

    if (option != NULL) {
        free(program_dir);
        if (access(option, X_OK) == 0)
            return xstrdup(option);
        msg_fatal("-t %s: %s", option, strerror(errno));
    }
    if (access("tlsrpt", X_OK) == 0) {
        free(program_dir);
        return xstrdup("./tlsrpt");
    }
    guess = xasprintf("%s/../tlsrpt", dirname(program_dir));
    free(program_dir);
    if (access(guess, X_OK) == 0)
        return guess;
    msg_fatal("cannot find the built tlsrpt program: give it with -t PROGRAM");
}

/* A config of its own: state under the temporary directory; ingest asks no DNS, loopback anyway. */
static void write_config(void)
{
    struct passwd *me = getpwuid(getuid());
    FILE *f;

    /* As root, ingest says once per run that files are made as root: harmless here. */
    if (me == NULL || getuid() == 0)
        me = NULL;
    state_dir = path_join(temp_dir, "state");
    config_path = path_join(temp_dir, "tlsrptd.cf");
    if ((f = fopen(config_path, "w")) == NULL)
        msg_fatal("%s: %s", config_path, strerror(errno));
    fprintf(
        f,
        "state_directory = %s\nruntime_directory = %s/run\ndns_resolvers = 127.0.0.1:1\n"
        "organization_name = Example Sender Inc.\ncontact_info = tlsrpt-noreply@sender.example\n"
        "%s%s\n",
        state_dir, temp_dir, me ? "tlsrptd_user = " : "", me ? me->pw_name : "");
    if (fclose(f) != 0)
        msg_fatal("%s: %s", config_path, strerror(errno));
}

/* One `tlsrpt ingest` of the whole log; its "... N TLS sessions counted" line gives the events. */
static double run_ingest(const char *tlsrpt, uint64_t *events_r)
{
    char *argv[] = {(char *)tlsrpt, "-c",     config_path, "ingest", "--format",
                    "postfix",      "--year", "2026",      big_path, NULL};
    struct buf out;
    const char *counted;

    buf_init(&out);
    double seconds = run_command(argv, false, &out);
    counted = strstr(buf_cstr(&out), ": ");
    if (counted == NULL || strstr(buf_cstr(&out), "TLS sessions counted") == NULL)
        msg_fatal("%s ingest: unexpected output: %s", tlsrpt, buf_cstr(&out));
    *events_r = strtoull(counted + 2, NULL, 10);
    buf_free(&out);
    return seconds;
}

int main(int argc, char **argv)
{
    const char *lab_option = NULL, *tlsrpt_option = NULL, *tmp = getenv("TMPDIR");
    double megabytes = 300, grep_s[ROUNDS], ingest_s[ROUNDS], parse_s[ROUNDS], pflogsumm_s[ROUNDS];
    struct parse_result one, big = {0, 0, {0}};
    struct lab lab;
    char *lab_path, *tlsrpt;
    char n1[32], n2[32], n3[32];
    size_t size;
    uint64_t copies, grep_count = 0, ingest_events[ROUNDS];
    int ch;

    msg_setup("bench_logs", MSG_STDERR, 0);
    while ((ch = getopt(argc, argv, "f:s:t:")) != -1) {
        if (ch == 'f')
            lab_option = optarg;
        else if (ch == 's')
            megabytes = strtod(optarg, NULL);
        else if (ch == 't')
            tlsrpt_option = optarg;
        else
            msg_fatal("usage: bench_logs [-f LAB_LOG] [-s MB] [-t TLSRPT_PROGRAM]");
    }
    if (!(megabytes >= 1 && megabytes <= 65536))
        msg_fatal("-s: between 1 and 65536 MB");
    lab_path = find_lab_log(lab_option, argv[0]);
    tlsrpt = find_tlsrpt(tlsrpt_option, argv[0]);
    lab_load(lab_path, &lab);

    /* The events of one copy: the lab log parsed alone. */
    one = parse_file(lab_path);

    temp_dir = xasprintf("%s/bench_logs.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(temp_dir) == NULL) {
        msg_warn("mkdtemp %s: %s", temp_dir, strerror(errno));
        free(temp_dir);
        temp_dir = NULL;
        return EXIT_FAILURE;
    }
    atexit(cleanup);
    write_config();
    big_path = path_join(temp_dir, "mail.log");
    double gen_start = now_s();
    copies = generate(big_path, &lab, (uint64_t)(megabytes * 1e6), &size);
    double gen_s = now_s() - gen_start;
    double mb = (double)size / 1e6;
    warm(big_path);

    /* Interleaved rounds: a change of the machine's load hits every contender alike. */
    char *grep_argv[] = {"grep", "-c", "TLS connection", big_path, NULL};
    for (int r = 0; r < ROUNDS; r++) {
        struct buf out;
        buf_init(&out);
        grep_s[r] = run_command(grep_argv, false, &out);
        grep_count = strtoull(buf_cstr(&out), NULL, 10);
        buf_free(&out);
        ingest_s[r] = run_ingest(tlsrpt, &ingest_events[r]);
        big = parse_file(big_path);
        parse_s[r] = big.seconds;
    }
    double grep_rate = mb / median(grep_s, ROUNDS);
    double ingest_rate = mb / median(ingest_s, ROUNDS);
    double parse_rate = mb / median(parse_s, ROUNDS);

    printf("logs: %.0f MB, %.1f M lines, %s TLS sessions (%s copies of the %zu-line lab log %s, "
           "generated in %.1f s; %s 'TLS connection' lines); figures are indicative on a "
           "shared machine\n",
           mb, (double)big.stats.lines / 1e6, commas(big.events, n1), commas(copies, n2), lab.n,
           lab_path, gen_s, commas(grep_count, n3));
    printf("logs: grep -c 'TLS connection' > pipe: %.0f MB/s (baseline; median of %d, LANG=%s)\n",
           grep_rate, ROUNDS, getenv("LANG") != NULL ? getenv("LANG") : "unset");
    printf("logs: %s ingest --format postfix: %.0f MB/s = %.1f %% of grep (%.0f k lines/s, "
           "median of %d; reading, parsing and counting into a day's table)\n",
           tlsrpt, ingest_rate, 100.0 * ingest_rate / grep_rate,
           (double)big.stats.lines / median(ingest_s, ROUNDS) / 1e3, ROUNDS);
    printf("logs: (its parser alone, in this process on the mapped file: %.0f MB/s = %.1f %% of "
           "grep)\n",
           parse_rate, 100.0 * parse_rate / grep_rate);

    double pflogsumm_rate = 0;
    if (access(PFLOGSUMM, X_OK) == 0) {
        uint64_t slice_copies = copies;
        size_t slice_size = size;
        const char *what = big_path;
        if (size > PFLOGSUMM_SLICE) {
            /* Whole copies, same shapes and times: its rate carries over to the whole file. */
            slice_copies = PFLOGSUMM_SLICE / (size / copies);
            slice_path = path_join(temp_dir, "mail.log.slice");
            slice_size = generate_slice(slice_path, &lab, slice_copies, copies);
            warm(slice_path);
            what = slice_path;
        }
        char *pflogsumm_argv[] = {PFLOGSUMM, (char *)what, NULL};
        int rounds = 0;
        double spent = 0;
        while (rounds < ROUNDS && spent < 15) {
            pflogsumm_s[rounds] = run_command(pflogsumm_argv, false, NULL);
            spent += pflogsumm_s[rounds++];
        }
        pflogsumm_rate = (double)slice_size / 1e6 / median(pflogsumm_s, rounds);
        printf("logs: pflogsumm: %.1f MB/s; tlsrpt ingest is %.1fx %s (pflogsumm on the first "
               "%.0f MB, median of %d)\n",
               pflogsumm_rate,
               ingest_rate >= pflogsumm_rate ? ingest_rate / pflogsumm_rate
                                             : pflogsumm_rate / ingest_rate,
               ingest_rate >= pflogsumm_rate ? "faster" : "slower", (double)slice_size / 1e6,
               rounds);
    } else {
        printf("logs: pflogsumm: not installed, not measured (apt-get install pflogsumm)\n");
    }

    bool grep_goal = ingest_rate >= 0.20 * grep_rate;
    bool pflogsumm_goal = pflogsumm_rate == 0 || ingest_rate >= 20 * pflogsumm_rate;
    printf("logs: goal for tlsrpt ingest >= 20 %% of grep's speed and >= 20x pflogsumm: %s "
           "(%.1f %% of grep, ",
           grep_goal && pflogsumm_goal ? "met" : "NOT met", 100.0 * ingest_rate / grep_rate);
    if (pflogsumm_rate > 0)
        printf("%.1fx pflogsumm)\n", ingest_rate / pflogsumm_rate);
    else
        printf("pflogsumm not measured)\n");

    print_rejects("lab log alone", &one.stats, NULL, 1);
    print_rejects("whole log", &big.stats, &one.stats, copies);
    uint64_t expected = one.events * copies;
    bool exact = big.events == expected && big.stats.events == big.events;
    for (int r = 0; r < ROUNDS; r++)
        exact = exact && ingest_events[r] == expected;
    if (exact)
        printf("logs: correctness: %llu events per copy x %s copies = %s events, counted by "
               "tlsrpt ingest in each round and by the parser: exact\n",
               (unsigned long long)one.events, commas(copies, n1), commas(expected, n2));
    else
        printf("logs: correctness: MISMATCH: %llu events per copy x %s copies = %s expected; "
               "tlsrpt ingest counted %llu, the parser %s (its stats say %llu)\n",
               (unsigned long long)one.events, commas(copies, n1), commas(expected, n2),
               (unsigned long long)ingest_events[0], commas(big.events, n3),
               (unsigned long long)big.stats.events);
    free(lab_path);
    free(tlsrpt);
    free(lab.lines);
    buf_free(&lab.text);
    return exact ? EXIT_SUCCESS : EXIT_FAILURE;
}
