/*
 * report_validator.c - test helper of check_report: every report built is
 * saved gzipped under its §5.1 file name, and at the end the strict schema
 * validator of ../shared (run by node, when installed) reads them all.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "util.h"
#include "report_validator.h"

#ifndef REPORT_SOURCE_DIR
#define REPORT_SOURCE_DIR "."
#endif

/* Reports saved for the validator (one directory each), and the validator. */
static char *saved_dir;
static char *validators_dir;
static char *validator_js;
static char *schema_json;

/* Runs argv with stdout and stderr into *output; the exit status, or -1. */
static int run_program(char *const argv[], struct buf *output)
{
    int pipe_fd[2], status;
    char chunk[4096];
    ssize_t got;
    pid_t pid;

    if (pipe(pipe_fd) < 0 || (pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        dup2(pipe_fd[1], 1);
        dup2(pipe_fd[1], 2);
        close(pipe_fd[0]);
        close(pipe_fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipe_fd[1]);
    while ((got = read(pipe_fd[0], chunk, sizeof(chunk))) > 0)
        buf_append(output, chunk, (size_t)got);
    close(pipe_fd[0]);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

void save_for_validator(const struct rpt_report *report)
{
    struct buf gz = {NULL, 0, 0};
    char *error = NULL, *dir = path_join(saved_dir, "report.XXXXXX"), *path;

    ck_assert_int_eq(rpt_gzip(report->json, report->json_len, &gz, &error), 0);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    path = path_join(dir, report->file_name);
    ck_assert_int_eq(file_write_atomic(path, gz.data, gz.len, 0644, &error), 0);
    free(path);
    free(dir);
    buf_free(&gz);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The strict validator over every report saved so far. */
void validator_run(void)
{
    char **files = NULL;
    size_t n = 0;
    struct dirent *entry;
    DIR *top, *sub;
    struct buf output = {NULL, 0, 0};

    if (validator_js == NULL) {
        printf("check_report: note: node or %s missing; the strict schema checks were skipped\n",
               validators_dir);
        return;
    }
    ck_assert_ptr_nonnull(top = opendir(saved_dir));
    while ((entry = readdir(top)) != NULL) {
        if (strncmp(entry->d_name, "report.", 7) != 0)
            continue;
        char *dir = path_join(saved_dir, entry->d_name);
        ck_assert_ptr_nonnull(sub = opendir(dir));
        struct dirent *file;
        while ((file = readdir(sub)) != NULL) {
            if (strstr(file->d_name, ".json.gz") == NULL)
                continue;
            files = xreallocarray(files, n + 1, sizeof(*files));
            files[n++] = path_join(dir, file->d_name);
        }
        closedir(sub);
        free(dir);
    }
    closedir(top);
    qsort(files, n, sizeof(*files), compare_strings);
    ck_assert_uint_ge(n, 60);

    char **argv = xcalloc(n + 4, sizeof(*argv));
    argv[0] = "node";
    argv[1] = validator_js;
    argv[2] = schema_json;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = files[i];
    int status = run_program(argv, &output);
    const char *text = buf_cstr(&output);
    size_t valid = 0;
    for (const char *p = text; (p = strstr(p, "VALID  ")) != NULL; p++)
        valid++;
    if (status != 0 || valid != n || strstr(text, "note:") != NULL)
        printf("%s", text);
    ck_assert_msg(status == 0, "the strict validator failed (exit %d)", status);
    ck_assert_msg(valid == n, "%zu of %zu reports VALID", valid, n);
    ck_assert_msg(strstr(text, "note:") == NULL, "the validator has notes on our reports");
    printf("check_report: strict schema: %zu reports VALID, no notes\n", n);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(argv);
    buf_free(&output);
}

/* The validator of ../shared (top_srcdir from the test harness, else the build's source dir). */
static void find_validator(void)
{
    const char *top = getenv("top_srcdir");
    char *shared = validators_dir =
        xasprintf("%s/../shared/validators", top != NULL && *top ? top : REPORT_SOURCE_DIR);
    char *js = path_join(shared, "validate.js"),
         *schema = path_join(shared, "tlsrpt-report.strict.schema.json");
    char *const version[] = {"node", "--version", NULL};
    struct buf output = {NULL, 0, 0};

    if (access(js, R_OK) == 0 && access(schema, R_OK) == 0 && run_program(version, &output) == 0) {
        validator_js = js;
        schema_json = schema;
    } else {
        free(js);
        free(schema);
    }
    buf_free(&output);
}

void validator_setup(void)
{
    const char *tmp = getenv("TMPDIR");

    saved_dir = xasprintf("%s/check_report.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(saved_dir) == NULL)
        msg_fatal("mkdtemp %s: %m", saved_dir);
    find_validator();
}

void validator_cleanup(int failed)
{
    if (failed == 0)
        (void)dir_remove_tree(saved_dir);
    else
        printf("check_report: the reports are kept in %s\n", saved_dir);
    free(saved_dir);
    free(validators_dir);
    free(validator_js);
    free(schema_json);
}
