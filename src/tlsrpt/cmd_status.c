/*
 * cmd_status.c - `tlsrpt status`: asks the running daemon over the control
 * socket (uptime, inputs, events counted, rejects, table fill) and prints
 * it as a table for people or as JSON for scripts. The DSN counters come
 * from the state directory, so they are shown with or without the daemon.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "scheduler.h"

/* Digits-only values become JSON numbers, so scripts can compare them. */
static json_object *json_value(const char *value)
{
    size_t len = strlen(value);

    if (len > 0 && len < 19 && strspn(value, "0123456789") == len)
        return json_object_new_int64(strtoll(value, NULL, 10));
    return json_object_new_string(value);
}

/* "counters.day" becomes {"counters": {"day": ...}}. */
static void json_put_dotted(json_object *root, const char *name, const char *value)
{
    const char *dot = strchr(name, '.');

    if (dot == NULL) {
        json_object_object_add(root, name, json_value(value));
        return;
    }
    char *head = xstrndup(name, (size_t)(dot - name));
    json_object *child;
    if (!json_object_object_get_ex(root, head, &child)) {
        child = json_object_new_object();
        json_object_object_add(root, head, child);
    }
    /* A name that is also a value ("a" and "a.b") keeps its full name. */
    if (json_object_is_type(child, json_type_object))
        json_put_dotted(child, dot + 1, value);
    else
        json_object_object_add(root, name, json_value(value));
    free(head);
}

/* Bounces of report mail seen (`tlsrpt dsn`, the milter): dsn.* lines. */
static void add_dsn_counters(struct cli *cli, struct ctl_response *response)
{
    struct sched_dsn_counters c;
    char *error;

    if (sched_dsn_counters_read(cli_config(cli), &c, &error) < 0) {
        msg_warn("%s", error);
        free(error);
        return;
    }
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {{"dsn.matched", c.matched},
                {"dsn.unmatched", c.unmatched},
                {"dsn.suppressions", c.suppressions}};
    response->attrs = xreallocarray(response->attrs, response->n_attrs + UTIL_ARRAY_LEN(rows),
                                    sizeof(*response->attrs));
    for (size_t i = 0; i < UTIL_ARRAY_LEN(rows); i++)
        response->attrs[response->n_attrs++] = (struct ctl_attr){
            .name = xstrdup(rows[i].name),
            .value = xasprintf("%llu", (unsigned long long)rows[i].value)};
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_response response;
    bool json = false;
    char *error;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli->config_option = optarg;
            break;
        case 'j':
            json = true;
            break;
        default:
            fprintf(stderr, "usage: tlsrpt status [--json]\n");
            return 2;
        }
    }
    const char *socket_path = cfg_str(cli_config(cli), "control_socket");
    int status = 0;
    if (ctl_call(socket_path, "status", 5000, &response, &error) < 0) {
        msg_error("%s", error);
        free(error);
        memset(&response, 0, sizeof(response));
        status = 1; /* the DSN counters are still shown */
    } else if (!response.ok) {
        msg_error("daemon: %s", response.error);
        ctl_response_free(&response);
        return 1;
    }
    add_dsn_counters(cli, &response);
    if (json) {
        json_object *root = json_object_new_object();
        for (size_t i = 0; i < response.n_attrs; i++)
            json_put_dotted(root, response.attrs[i].name, response.attrs[i].value);
        json_print(root, stdout);
    } else {
        struct table *table = table_create(2);
        for (size_t i = 0; i < response.n_attrs; i++)
            table_row(table, response.attrs[i].name, response.attrs[i].value);
        table_print(table, stdout, "");
        table_free(table);
    }
    ctl_response_free(&response);
    return status;
}
