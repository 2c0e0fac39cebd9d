/*
 * cmd_sts.c - `tlsrpt sts DOMAIN` (what the policy service would answer
 * Postfix and why), `tlsrpt sts cache [--json]` and `tlsrpt sts flush
 * DOMAIN`, on the policy cache in $state_directory/sts (a flush goes through
 * the running daemon, whose memory holds the cache too).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ctl.h"
#include "policy.h"

static struct pol_service *open_service(struct cli *cli)
{
    struct cfg *cfg = cli_config(cli);
    char *dir = path_join(cfg_str(cfg, "state_directory"), "sts"), *error;

    /* Files made here must stay writable by the daemon. */
    cli_become_daemon_user(cli, dir);
    free(dir);
    struct pol_service *svc = pol_service_create(cfg, &error);
    if (svc == NULL)
        msg_fatal("%s", error);
    /* ldns falls back to TCP for long answers and writes without MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);
    return svc;
}

/* Policy text and DNS data are untrusted: control bytes are shown escaped. */
static void print_escaped(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n')
            putchar('\n'); /* lines of the explanation */
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\x%02X", c);
        else
            putchar(c);
    }
}

static int explain(struct cli *cli, const char *domain)
{
    struct pol_service *svc = open_service(cli);
    struct buf reply = {0}, why = {0};

    pol_service_set_counting(svc, false); /* a look, not a delivery attempt */
    pol_query_explain(svc, domain, &reply, &why);
    print_escaped(why.data ? why.data : "", why.len);
    fputs("answer: ", stdout);
    print_escaped(reply.data, reply.len);
    putchar('\n');
    int status = strncmp(reply.data, "OK ", 3) == 0        ? 0
                 : strncmp(reply.data, "NOTFOUND", 8) == 0 ? 1
                                                           : 2;
    buf_free(&reply);
    buf_free(&why);
    pol_service_destroy(svc);
    return status;
}

struct listing {
    bool json;
    time_t now;
    struct table *table;
    json_object *array;
};

static json_object *time_or_null(time_t t)
{
    return t ? json_object_new_int64((int64_t)t) : json_object_new_null();
}

static void list_entry(void *ctx, const struct pol_cache_info *info)
{
    struct listing *l = ctx;

    if (l->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "domain", json_object_new_string(info->domain));
        json_object_object_add(o, "id", json_object_new_string(info->id));
        json_object_object_add(o, "fetched", time_or_null(info->fetched));
        json_object_object_add(o, "max_age", json_object_new_int64(info->max_age));
        json_object_object_add(o, "last_used", time_or_null(info->last_used));
        json_object_object_add(o, "last_error", json_object_new_string(info->last_error));
        json_object_object_add(o, "next_retry", time_or_null(info->next_retry));
        json_object_object_add(o, "policy", json_object_new_string(info->policy_text));
        json_object_array_add(l->array, o);
        return;
    }
    char age[32] = "-", expires[32] = "-", retry[32] = "-";
    if (info->fetched) {
        snprintf(age, sizeof(age), "%llds", (long long)(l->now - info->fetched));
        snprintf(expires, sizeof(expires), "%llds",
                 (long long)(info->fetched + info->max_age - l->now));
    }
    if (info->next_retry)
        snprintf(retry, sizeof(retry), "%llds", (long long)(info->next_retry - l->now));
    table_row(l->table, info->domain, info->id[0] ? info->id : "-", age, expires, retry,
              info->last_error[0] ? info->last_error : "-");
}

static int list_cache(struct cli *cli, bool json)
{
    struct pol_service *svc = open_service(cli);
    struct listing l = {.json = json, .now = time(NULL)};

    if (json) {
        l.array = json_object_new_array();
        pol_cache_list(svc, list_entry, &l);
        json_print(l.array, stdout);
    } else {
        l.table = table_create(6);
        table_row(l.table, "DOMAIN", "ID", "AGE", "EXPIRES IN", "RETRY IN", "LAST ERROR");
        pol_cache_list(svc, list_entry, &l);
        table_print(l.table, stdout, "");
        table_free(l.table);
    }
    pol_service_destroy(svc);
    return 0;
}

/*
 * A running daemon's service forgets the domain itself (its memory holds the
 * cache too); without one (or with the service off) the files are changed here.
 */
static int daemon_flush(struct cli *cli, const char *domain, char **error_r)
{
    struct ctl_response response;
    char *request, *error;
    int found = -2;

    if (strchr(domain, '\n') || strlen(domain) > 300)
        return -2;
    request = xasprintf("sts-flush %s", domain);
    if (ctl_call(cfg_str(cli_config(cli), "control_socket"), request, 10000, &response, &error) <
        0) {
        free(error); /* no daemon */
        free(request);
        return -2;
    }
    free(request);
    const char *flushed = ctl_response_get(&response, "flushed");
    if (response.ok && flushed != NULL)
        found = strcmp(flushed, "1") == 0;
    else if (!response.ok && strstr(response.error, "policy service is off") == NULL) {
        *error_r = xstrdup(response.error);
        found = -1;
    }
    ctl_response_free(&response);
    return found;
}

static int flush(struct cli *cli, const char *domain)
{
    char *error = NULL;
    int found = daemon_flush(cli, domain, &error);

    if (found == -2) {
        struct pol_service *svc = open_service(cli);
        found = pol_cache_flush(svc, domain, &error);
        pol_service_destroy(svc);
    }
    if (found < 0) {
        msg_error("%s", error);
        free(error);
        return 2;
    }
    printf("%s: %s\n", domain, found ? "removed from the policy cache" : "not in the policy cache");
    return found ? 0 : 1;
}

int cmd_sts(struct cli *cli, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "cache") != 0 && strcmp(argv[1], "flush") != 0 &&
        argv[1][0] != '-')
        return explain(cli, argv[1]);
    if (argc >= 2 && strcmp(argv[1], "cache") == 0 &&
        (argc == 2 || (argc == 3 && strcmp(argv[2], "--json") == 0)))
        return list_cache(cli, argc == 3);
    if (argc == 3 && strcmp(argv[1], "flush") == 0)
        return flush(cli, argv[2]);
    return cli_usage_error(cli);
}

const struct cli_command cli_command_sts = {
    .name = "sts",
    .run = cmd_sts,
    .usage = "sts DOMAIN | sts cache [--json] | sts flush DOMAIN",
    .summary = "the MTA-STS policy service's view",
};
