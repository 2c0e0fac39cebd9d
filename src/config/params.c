/*
 * params.c - the typed table of every tlsrptd.cf parameter: name, type,
 * default, bounds and a one-line description. Adding a parameter is one row.
 */
#include "config.h"

#include <stdlib.h>
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
    {"alert_check_interval", CFG_TIME, "60s", 1, 3600,
     "how often the daemon looks for domains to alert about"},
    {"alert_command", CFG_STRING, "", 0, 0,
     "command run (no shell; {} groups words) when a domain's failure rate today reaches "
     "alert_threshold; facts in TLSRPT_DOMAIN, TLSRPT_SESSIONS, TLSRPT_FAILURES, "
     "TLSRPT_FAILURE_RATE, TLSRPT_TOP_FAILURE, TLSRPT_DAY (empty: off)"},
    {"alert_interval", CFG_TIME, "1h", 1, 7 * DAYS,
     "alert_command runs at most once in this interval per domain"},
    {"alert_min_sessions", CFG_INT, "100", 1, 0,
     "no alert for a domain with fewer sessions today"},
    {"alert_threshold", CFG_STRING, "0.2", 0, 0,
     "failure rate (failed / all sessions today, 0 to 1) at which alert_command runs"},
    {"alert_timeout", CFG_TIME, "30s", 1, 3600,
     "an alert_command still running after this is killed"},
    {"collector_buffer_size", CFG_SIZE, "16m", 1 * MIB, 1 * GIB,
     "size of the journal file ($state_directory/collector/journal) that keeps received "
     "datagrams until they are counted; when full, datagrams are dropped and counted"},
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
    {"counter_string_space", CFG_SIZE, "3g", 1 * MIB, 4 * GIB,
     "bytes of key strings one day's table can hold (disk blocks taken as they are used)"},
    {"counter_table_entries", CFG_INT, "16777216", 1024, 16777216,
     "policy keys plus failure-detail rows one day's table can hold (it grows to that as "
     "needed, 64 bytes of disk an entry)"},
    {"delivery_concurrency", CFG_INT, "4", 1, 64,
     "processes delivering reports at the same time (each report in one of them)"},
    {"delivery_directory", CFG_PATH, "", 0, 0,
     "when set, reports are written into this directory instead of being sent"},
    {"delivery_timeout", CFG_TIME, "60s", 5, 3600,
     "time limit of one SMTP or HTTPS delivery attempt"},
    {"destination_rate_limit", CFG_INT, "60", 1, 100000,
     "deliveries per minute to one destination domain"},
    {"dkim_domain", CFG_STRING, "", 0, 0,
     "the d= domain of the DKIM signature (empty: the contact_info domain)"},
    {"dkim_key_file", CFG_PATH, "", 0, 0,
     "PEM private key (RSA or Ed25519) for DKIM; readable by tlsrptd_user only"},
    {"dkim_selector", CFG_STRING, "", 0, 0,
     "the s= selector of the DKIM signature"},
    {"dns_concurrency", CFG_INT, "64", 1, 256,
     "rua (_smtp._tls TXT) lookups in flight at once when a day's reports are built"},
    {"dns_resolvers", CFG_LIST, "", 0, 0,
     "DNS servers as host[:port]; empty means /etc/resolv.conf"},
    {"dns_timeout", CFG_TIME, "5s", 1, 60, "timeout of one DNS query"},
    {"fleet_database", CFG_STRING, "", 0, 0,
     "PostgreSQL database (libpq URI or key=value string) the hosts of a fleet push their "
     "finished days to; no password here: use a passfile (empty: no fleet)"},
    {"fleet_host_id", CFG_STRING, "", 0, 0,
     "this host's name in the fleet database (empty: the machine's host name)"},
    {"fleet_lease", CFG_TIME, "10m", 5, 1 * DAYS,
     "how long the host building a day's fleet reports holds it without renewing (each "
     "worker run renews it); then another host takes over"},
    {"fleet_push_deadline", CFG_TIME, "6h", 0, 7 * DAYS,
     "after a day's end, how long the fleet waits for every known host's push before its "
     "reports are built without the missing ones (named in a warning)"},
    {"fleet_retention", CFG_TIME, "30d", 1 * DAYS, 3660 * DAYS,
     "how long the fleet database keeps a day's pushed counts, stored reports and delivery "
     "ledger (at least counter_retention); the report workers remove older days"},
    {"https_allow_private_destinations", CFG_BOOL, "no", 0, 0,
     "allow https rua whose host is on a loopback or private address"},
    {"https_ca_file", CFG_PATH, "", 0, 0,
     "certificates trusted for https rua in addition to the system store (tests)"},
    {"log_sources", CFG_STRING, "", 0, 0,
     "mail logs to follow, e.g. postfix:file:/var/log/mail.log, sendmail:file:/var/log/maillog, "
     "postfix:journal (empty: none)"},
    {"log_supplement", CFG_BOOL, "no", 0, 0,
     "count from the logs only what libtlsrpt datagrams never carry (dane-required, "
     "dnssec-invalid): for a Postfix that also sends to the collector"},
    {"max_report_size", CFG_SIZE, "10m", 64 * KIB, 1 * GIB,
     "largest compressed report; bigger ones lose their least frequent failure details"},
    {"max_rua_per_record", CFG_INT, "5", 1, 20,
     "at most this many rua destinations of one TLSRPT record are used"},
    {"metrics_listen", CFG_STRING, "", 0, 0,
     "Prometheus metrics (GET /metrics) on this numeric IP:port, e.g. 127.0.0.1:9473 "
     "(empty: off)"},
    {"milter_dsn_action", CFG_STRING, "discard", 0, 0,
     "what tlsrpt-milter does with a bounce of report mail it matched to the outbox: discard, "
     "quarantine (held in the MTA's hold queue) or accept (delivered to the report sender too)"},
    {"milter_max_message_size", CFG_SIZE, "1m", 64 * KIB, 64 * MIB,
     "tlsrpt-milter reads at most this much of a bounce; a larger one is passed on untouched"},
    {"milter_prefetch", CFG_BOOL, "yes", 0, 0,
     "tlsrpt-milter asks tlsrptd's policy_socket about each recipient domain at RCPT TO, so the "
     "MTA-STS policy and DANE records are cached before the first delivery attempt"},
    {"milter_prefetch_queue", CFG_INT, "1000", 1, 100000,
     "recipient domains waiting to be prefetched; more are dropped and counted"},
    {"milter_socket", CFG_STRING, "inet:8460@127.0.0.1", 0, 0,
     "where tlsrpt-milter listens: unix:/PATH or inet:PORT@HOST (inet6:PORT@HOST), as "
     "Postfix's smtpd_milters and Sendmail's S= take them"},
    {"milter_socket_group", CFG_STRING, "postfix", 0, 0,
     "group that may connect to a unix milter socket (empty: the group of tlsrptd_user)"},
    {"milter_socket_mode", CFG_MODE, "0660", 0, 0, "permissions of a unix milter socket"},
    {"organization_name", CFG_STRING, "", 0, 0,
     "RFC 8460 organization-name of the reporting organization"},
    {"policy_idle_timeout", CFG_TIME, "300s", 1, 1 * DAYS,
     "a policy socket client connection idle this long is closed (Postfix's own is 100s)"},
    {"policy_max_connections", CFG_INT, "500", 1, 100000,
     "policy socket client connections open at once (one per smtp process); more are refused"},
    {"policy_prefetch_concurrency", CFG_INT, "16", 1, 256,
     "tlsrpt-milter's prefetches that need DNS or HTTPS looked up at the same time, in the "
     "background (each has a DNS resolver of its own)"},
    {"policy_prefetch_queue", CFG_INT, "10000", 1, 100000,
     "tlsrpt-milter's prefetches waiting for a background lookup; more are dropped and counted"},
    {"policy_socket", CFG_STRING, "", 0, 0,
     "MTA-STS socketmap for smtp_tls_policy_maps: an absolute path (unix) or inet:HOST:PORT, "
     "inet:[IPV6]:PORT with a numeric address (empty: off)"},
    {"policy_socket_group", CFG_STRING, "postfix", 0, 0,
     "group that may connect to a unix policy socket (empty: the group of tlsrptd_user)"},
    {"policy_socket_mode", CFG_MODE, "0660", 0, 0, "permissions of a unix policy socket"},
    {"policy_threads", CFG_INT, "16", 1, 256,
     "policy lookups that wait on DNS or HTTPS answered at the same time (cached ones are "
     "answered apart)"},
    {"policy_tlsrpt_attributes", CFG_BOOL, "no", 0, 0,
     "MTA-STS answers carry TLSRPT policy attributes, so Postfix reports its sessions under "
     "sts (Postfix >= 3.10 only: older ones refuse attributes)"},
    {"relayhost", CFG_STRING, "[127.0.0.1]:25", 0, 0,
     "SMTP server that relays report mail, [host]:port"},
    {"relayhost_password", CFG_STRING, "", 0, 0,
     "SMTP AUTH password for relayhost"},
    {"relayhost_tls", CFG_STRING, "none", 0, 0,
     "TLS to relayhost: none, may or encrypt (STARTTLS)"},
    {"relayhost_username", CFG_STRING, "", 0, 0,
     "SMTP AUTH user name for relayhost (empty: no AUTH)"},
    {"report_delay", CFG_TIME, "15m", 0, 1 * DAYS,
     "how long after UTC midnight the reports of the finished day are built"},
    {"report_envelope_sender", CFG_STRING, "", 0, 0,
     "envelope sender (MAIL FROM) of report mail (empty: the From: address)"},
    {"report_from", CFG_STRING, "", 0, 0,
     "From: of report mail (empty: noreply-tlsrpt@ the contact_info domain)"},
    {"report_spread", CFG_TIME, "4h", 0, 1 * DAYS,
     "each report is sent at a random moment within this time after it was built"},
    {"report_transport", CFG_STRING, "smtp", 0, 0,
     "how report mail leaves: smtp (to relayhost) or sendmail (sendmail_path)"},
    {"report_verp_delimiter", CFG_STRING, "+", 0, 0,
     "VERP: report mail's envelope sender gets this and a tag naming the report and "
     "destination, so bounces find them (as recipient_delimiter; empty: off)"},
    {"retry_initial", CFG_TIME, "5m", 1, 1 * DAYS,
     "first wait after a failed delivery; it doubles after every failure"},
    {"retry_window", CFG_TIME, "24h", 60, 7 * DAYS,
     "time after the first attempt during which a failed delivery is retried (RFC 8460 5.5)"},
    {"runtime_directory", CFG_PATH, "/run/tlsrptd", 0, 0, "sockets and the pid file"},
    {"send_all_success_reports", CFG_BOOL, "yes", 0, 0,
     "also report days with only successful sessions (the RFC 8460 heartbeat)"},
    {"sending_mta_ip", CFG_STRING, "", 0, 0,
     "this host's sending address, for log capture that cannot see it (Sendmail)"},
    {"sendmail_path", CFG_PATH, "/usr/sbin/sendmail", 0, 0,
     "the sendmail command for report_transport = sendmail (run without a shell)"},
    {"state_directory", CFG_PATH, "/var/lib/tlsrptd", 0, 0,
     "counter tables, outbox and checkpoints"},
    {"sts_ca_file", CFG_PATH, "", 0, 0,
     "certificates trusted for MTA-STS policy hosts in addition to the system store (tests)"},
    {"sts_cache_entries", CFG_INT, "10000", 16, 1000000,
     "MTA-STS policy domains kept in $state_directory/sts (least recently used evicted)"},
    {"sts_fetch_timeout", CFG_TIME, "10s", 1, 120,
     "total time for one MTA-STS policy fetch over HTTPS (connect included)"},
    {"sts_https_port", CFG_INT, "443", 1, 65535,
     "port of the MTA-STS policy host; for tests only, RFC 8461 says 443"},
    {"sts_testing_level", CFG_STRING, "may", 0, 0,
     "the Postfix TLS level answered for testing-mode MTA-STS domains when "
     "policy_tlsrpt_attributes = yes (use your smtp_tls_security_level, e.g. encrypt)"},
    {"suppress_after_failures", CFG_INT, "3", 1, 1000,
     "permanent failures in a row after which a destination is suppressed"},
    {"suppress_time", CFG_TIME, "7d", 1, 366 * DAYS,
     "how long an automatically suppressed destination gets no reports"},
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

/* Values with a syntax of their own, checked with the parser that uses them later. */
static const char *check_dns_server(const char *value)
{
    struct endpoint endpoint;
    const char *error;

    return endpoint_parse(value, 53, true, &endpoint, &error) < 0 ? error : NULL;
}

/* Postfix's command-line splitting, the one the daemon uses to run it. */
static const char *check_alert_command(const char *value)
{
    char *copy = xstrdup(value), *argv[64];
    const char *error = NULL;

    if (value[0] != '\0' && argv_split(copy, argv, 64, &error) >= 0 && argv[0][0] != '/')
        error = "needs an absolute path (it runs without a shell or PATH lookup)";
    free(copy);
    return error;
}

static const char *check_alert_threshold(const char *value)
{
    char *end;
    double rate = strtod(value, &end);

    if (value[0] < '0' || value[0] > '9' || *end != '\0' || !(rate > 0 && rate <= 1))
        return "a failure rate above 0 and at most 1, e.g. 0.2";
    return NULL;
}

/* Numeric address and a port: nothing is looked up, and no port is guessed. */
static const char *check_metrics_listen(const char *value)
{
    struct endpoint endpoint;
    const char *error;

    if (value[0] == '\0')
        return NULL;
    if (endpoint_parse(value, 0, true, &endpoint, &error) < 0)
        return error;
    return endpoint.port == 0 ? "a port is needed (IP:PORT)" : NULL;
}

static const char *check_relayhost(const char *value)
{
    struct endpoint endpoint;
    const char *error;

    if (value[0] == '\0') /* the default relayhost */
        return NULL;
    return endpoint_parse(value, 25, false, &endpoint, &error) < 0 ? error : NULL;
}

/* A level that never lowers the site's own and cannot fail a delivery by itself. */
static const char *check_testing_level(const char *value)
{
    static const char *const levels[] = {"may", "encrypt", "dane"};

    for (size_t i = 0; i < UTIL_ARRAY_LEN(levels); i++)
        if (strcmp(value, levels[i]) == 0)
            return NULL;
    return "use may, encrypt or dane (the level Postfix applies to the domain anyway)";
}

static const char *check_milter_dsn_action(const char *value)
{
    if (strcmp(value, "discard") == 0 || strcmp(value, "quarantine") == 0 ||
        strcmp(value, "accept") == 0)
        return NULL;
    return "use discard, quarantine or accept";
}

/* libmilter's smfi_setconn syntax, limited to what we document. */
static const char *check_milter_socket(const char *value)
{
    const char *at;
    char *end;

    if (strncmp(value, "unix:/", 6) == 0 || strncmp(value, "local:/", 7) == 0)
        return NULL;
    if (strncmp(value, "inet:", 5) == 0 || strncmp(value, "inet6:", 6) == 0) {
        const char *port = strchr(value, ':') + 1;
        long number = strtol(port, &end, 10);
        at = strchr(port, '@');
        if (end != port && number > 0 && number < 65536 && (*end == '\0' || end == at))
            return NULL;
    }
    return "use unix:/PATH or inet:PORT@HOST (inet6:PORT@HOST)";
}

/* One to four of the characters MTAs use as recipient_delimiter, or nothing. */
static const char *check_verp_delimiter(const char *value)
{
    size_t len = strlen(value);

    return len <= 4 && strspn(value, "+-=_.") == len
               ? NULL
               : "use up to 4 of + - = _ . (as the MTA's recipient_delimiter), or nothing";
}

static const struct {
    const char *name;
    const char *(*check)(const char *value);
} syntax_checks[] = {
    {"alert_command", check_alert_command},
    {"alert_threshold", check_alert_threshold},
    {"dns_resolvers", check_dns_server},
    {"metrics_listen", check_metrics_listen},
    {"milter_dsn_action", check_milter_dsn_action},
    {"milter_socket", check_milter_socket},
    {"relayhost", check_relayhost},
    {"report_verp_delimiter", check_verp_delimiter},
    {"sts_testing_level", check_testing_level},
};

/* noreply-tlsrpt@ the domain of an address (contact_info), lower-cased as reports have it. */
static char *derive_noreply_address(const char *address)
{
    const char *at = strrchr(address, '@');

    if (at == NULL || at[1] == '\0')
        return NULL;
    char *derived = xasprintf("noreply-tlsrpt@%s", at + 1);
    for (char *p = derived; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return derived;
}

static const struct cfg_derived derived_defaults[] = {
    {"report_from", "contact_info", derive_noreply_address},
};

const struct cfg_derived *cfg_derived_find(const struct cfg_param *param)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(derived_defaults); i++)
        if (strcmp(param->name, derived_defaults[i].name) == 0)
            return &derived_defaults[i];
    return NULL;
}

const char *cfg_check_syntax(const struct cfg_param *param, const char *value)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(syntax_checks); i++)
        if (strcmp(param->name, syntax_checks[i].name) == 0)
            return syntax_checks[i].check(value);
    return NULL;
}
