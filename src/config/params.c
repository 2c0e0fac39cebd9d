/*
 * params.c - the typed table of every tlsrptd.cf parameter: name, type,
 * default, bounds and a one-line description. Adding a parameter is one row.
 */
#include "config.h"

#include <string.h>

#include "cfg.h"
#include "cfg_impl.h"
#include "util.h"

#ifndef DEF_TLSRPTD_USER
#define DEF_TLSRPTD_USER "tlsrpt"
#endif

/* Units for bounds, so that rows read like the values users write. */
#define KIB (1024LL)
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)
#define DAYS (24LL * 60 * 60)

/*
 * Keep the rows sorted by name (strcmp order): lookups use binary search and
 * the listings rely on it; tests/check_config.c checks it. Bounds: max 0 means
 * no upper bound.
 */
const struct cfg_param cfg_params[] = {
    {"collector_buffer_size", CFG_SIZE, "16m", 1 * MIB, 1 * GIB,
     "memory (resident) that buffers received datagrams until they are counted"},
    {"collector_log_interval", CFG_TIME, "60s", 1, 1 * DAYS,
     "at most one logged sample per kind of rejected datagram in this interval"},
    {"collector_max_datagram_size", CFG_SIZE, "64k", 1 * KIB, 1 * MIB,
     "larger datagrams are rejected as too-large"},
    {"collector_socket", CFG_PATH, "$runtime_directory/collector.sock", 0, 0,
     "unix datagram socket for Postfix's libtlsrpt (smtp_tlsrpt_socket_name)"},
    {"collector_socket_group", CFG_STRING, "postfix", 0, 0,
     "group that may send to the collector socket (empty: the group of tlsrptd_user)"},
    {"collector_socket_mode", CFG_MODE, "0660", 0, 0, "permissions of the collector socket"},
    {"contact_info", CFG_STRING, "", 0, 0,
     "RFC 8460 contact-info: the addr-spec receivers may write to about reports"},
    {"control_socket", CFG_PATH, "$runtime_directory/control.sock", 0, 0,
     "unix stream socket for the tlsrpt command"},
    {"counter_retention", CFG_TIME, "14d", 1 * DAYS, 366 * DAYS,
     "how long a day's counter table is kept after its reports were built"},
    {"counter_string_space", CFG_SIZE, "16m", 1 * MIB, 4 * GIB,
     "bytes reserved on disk in each day's table for key strings"},
    {"counter_table_entries", CFG_INT, "65536", 1024, 16777216,
     "policy keys plus failure-detail rows one day's table can hold (32 bytes each, x2)"},
    {"delivery_directory", CFG_PATH, "", 0, 0,
     "when set, reports are written into this directory instead of being sent"},
    {"dns_resolvers", CFG_LIST, "", 0, 0,
     "DNS servers as host[:port]; empty means /etc/resolv.conf"},
    {"dns_timeout", CFG_TIME, "5s", 1, 60, "timeout of one DNS query"},
    {"max_rua_per_record", CFG_INT, "5", 1, 20,
     "at most this many rua destinations of one TLSRPT record are used"},
    {"organization_name", CFG_STRING, "", 0, 0,
     "RFC 8460 organization-name of the reporting organization"},
    {"report_delay", CFG_TIME, "15m", 0, 1 * DAYS,
     "how long after UTC midnight the reports of the finished day are built"},
    {"report_spread", CFG_TIME, "4h", 0, 1 * DAYS,
     "each report is sent at a random moment within this time after it was built"},
    {"runtime_directory", CFG_PATH, "/run/tlsrptd", 0, 0, "sockets and the pid file"},
    {"send_all_success_reports", CFG_BOOL, "yes", 0, 0,
     "also report days with only successful sessions (the RFC 8460 heartbeat)"},
    {"state_directory", CFG_PATH, "/var/lib/tlsrptd", 0, 0,
     "counter tables, outbox and checkpoints"},
    {"syslog_facility", CFG_STRING, "mail", 0, 0, "syslog facility of the daemon's messages"},
    {"syslog_name", CFG_STRING, "tlsrptd", 0, 0, "syslog identifier of the daemon's messages"},
    {"tlsrptd_user", CFG_STRING, DEF_TLSRPTD_USER, 0, 0,
     "unprivileged user the daemon runs as after binding its sockets"},
    {"verbose", CFG_INT, "0", 0, 3, "extra debug logging"},
};

const size_t cfg_param_count = UTIL_ARRAY_LEN(cfg_params);

/* Compares a length-bounded name (as found inside a value) with a table name. */
static int compare_name_len(const char *name, size_t len, const char *table_name)
{
    int order = strncmp(name, table_name, len);

    if (order != 0)
        return order;
    return table_name[len] == '\0' ? 0 : -1;
}

const struct cfg_param *cfg_param_find_len(const char *name, size_t len)
{
    size_t low = 0;
    size_t high = cfg_param_count;

    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = compare_name_len(name, len, cfg_params[middle].name);

        if (order == 0)
            return &cfg_params[middle];
        if (order < 0)
            high = middle;
        else
            low = middle + 1;
    }
    return NULL;
}

const struct cfg_param *cfg_param_find(const char *name)
{
    return cfg_param_find_len(name, strlen(name));
}

const char *cfg_type_name(enum cfg_type type)
{
    switch (type) {
    case CFG_STRING:
        return "string";
    case CFG_INT:
        return "integer";
    case CFG_BOOL:
        return "boolean";
    case CFG_TIME:
        return "time";
    case CFG_SIZE:
        return "size";
    case CFG_LIST:
        return "list";
    case CFG_PATH:
        return "path";
    case CFG_MODE:
        return "mode";
    }
    msg_panic("cfg_type_name: bad type %d", (int)type);
}
