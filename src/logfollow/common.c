/*
 * common.c - the parts of the log parsers every format shares: the public
 * parser API dispatching on the format, syslog line framing (RFC 3164 and
 * RFC 3339 timestamps to UTC), event emission, stats.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lf_impl.h"
#include "logfollow.h"
#include "util.h"

int lf_format_from_name(const char *name, enum lf_format *format)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, "postfix") == 0)
        *format = LF_POSTFIX;
    else if (strcmp(name, "sendmail") == 0)
        *format = LF_SENDMAIL;
    else
        return -1;
    return 0;
}

const char *lf_reject_name(enum lf_reject reason)
{
    static const char *const names[LF_REJECT_COUNT] = {
        "bad-timestamp", "bad-address", "bad-text", "untied", "too-many",
    };
    if ((unsigned)reason >= LF_REJECT_COUNT)
        return "unknown";
    return names[reason];
}

/* ---- framing ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, size_t n, int *value)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

static bool date_ok(int year, int month, int day, int hour, int minute, int second)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > mdays[month - 1] || hour > 23 || minute > 59 || second > 60)
        return false;
    if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return false;
    return true;
}

/* "2026-11-22T08:24:30[.frac](Z|+hh:mm)": returns the length consumed, or 0. */
static size_t parse_rfc3339(const char *s, size_t len, time_t *out)
{
    int year, month, day, hour, minute, second, oh = 0, om = 0, sign = 0;
    size_t i = 19;

    if (len < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) ||
        s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != ' ') ||
        !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &minute) || s[16] != ':' ||
        !digits(s + 17, 2, &second))
        return 0;
    if (!date_ok(year, month, day, hour, minute, second))
        return 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 9)
            i++;
        if (i == start)
            return 0;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '+' ? 1 : -1;
        if (!digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) ||
            oh > 23 || om > 59)
            return 0;
        i += 6;
    } else {
        return 0;
    }
    *out = (time_t)(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                    sign * (oh * 3600 + om * 60));
    return i;
}

/*
 * The year of an RFC 3164 line in month: settings.year when set; for the
 * first line the year of `now` (the one before when the month lies ahead);
 * then the year of the line before, moved on when the month falls back by
 * half a year or more (December to January), back when it leaps ahead by
 * more (a late December line after January's).
 */
static bool rfc3164_year(struct lf_parser *parser, int month, int *year)
{
    if (parser->settings.year > 0) {
        *year = parser->settings.year;
    } else if (parser->rfc3164_year == 0) {
        time_t now = parser->settings.now != 0 ? parser->settings.now : time(NULL);
        struct tm now_tm;
        if (localtime_r(&now, &now_tm) == NULL)
            return false;
        *year = now_tm.tm_year + 1900 - (month > now_tm.tm_mon + 1);
    } else if (month - parser->rfc3164_month <= -6) {
        *year = parser->rfc3164_year + 1;
    } else if (month - parser->rfc3164_month > 6) {
        *year = parser->rfc3164_year - 1;
    } else {
        *year = parser->rfc3164_year;
    }
    return true;
}

/* The UTC time of a local time (tm_isdst -1: as mktime() decides), or -1. */
static time_t local_time(int year, int month, int day, int hour, int minute, int second)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* "Nov 22 08:24:30" (day may be space-padded): local time, year inferred. */
static size_t parse_rfc3164(struct lf_parser *parser, const char *s, size_t len, time_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int month = -1, day, hour, minute, second, year, hour_key;
    time_t t;

    if (len < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':')
        return 0;
    if (parser->last_valid && memcmp(s, parser->last_stamp, 15) == 0) {
        *out = parser->last_time;
        return 15;
    }
    for (int m = 0; m < 12; m++)
        if (memcmp(s, months + 3 * m, 3) == 0)
            month = m + 1;
    if (month < 0 || !digits(s + 7, 2, &hour) || !digits(s + 10, 2, &minute) ||
        !digits(s + 13, 2, &second))
        return 0;
    if (s[4] == ' ' ? !digits(s + 5, 1, &day) : !digits(s + 4, 2, &day))
        return 0;
    if (!rfc3164_year(parser, month, &year))
        return 0;
    if (!date_ok(year, month, day, hour, minute, second))
        return 0;
    /* An hour without a change of UTC offset: its times follow from its start. */
    hour_key = ((year * 13 + month) * 32 + day) * 24 + hour;
    if (!parser->hour_known || parser->hour_key != hour_key) {
        parser->hour_known = true;
        parser->hour_key = hour_key;
        parser->hour_start = local_time(year, month, day, hour, 0, 0);
        parser->hour_even = parser->hour_start != (time_t)-1 &&
                            local_time(year, month, day, hour, 59, 59) == parser->hour_start + 3599;
    }
    if (parser->hour_even)
        t = parser->hour_start + minute * 60 + second;
    else
        t = local_time(year, month, day, hour, minute, second);
    if (t == (time_t)-1)
        return 0;
    memcpy(parser->last_stamp, s, 15);
    parser->last_time = t;
    parser->last_valid = true;
    parser->rfc3164_year = year;
    parser->rfc3164_month = month;
    *out = t;
    return 15;
}

int lf_frame(struct lf_parser *parser, const char *line, size_t len, struct lf_frame *out)
{
    size_t i, n, start;

    memset(out, 0, sizeof(*out));
    n = parse_rfc3339(line, len, &out->time);
    if (n == 0)
        n = parse_rfc3164(parser, line, len, &out->time);
    if (n == 0 || n >= len || line[n] != ' ')
        return -1;
    i = n;
    while (i < len && line[i] == ' ')
        i++;
    start = i;
    while (i < len && line[i] != ' ')
        i++;
    if (i == start || i >= len)
        return -1;
    out->host = line + start;
    out->host_len = i - start;
    i++;
    start = i;
    while (i < len && line[i] != '[' && line[i] != ':' && line[i] != ' ')
        i++;
    if (i == start || i >= len || line[i] == ' ')
        return -1;
    out->program = line + start;
    out->program_len = i - start;
    out->pid = -1;
    if (line[i] == '[') {
        long pid = 0;
        size_t digits_start = ++i;
        while (i < len && line[i] >= '0' && line[i] <= '9' && i - digits_start < 10)
            pid = pid * 10 + (line[i++] - '0');
        if (i == digits_start || i >= len || line[i] != ']')
            return -1;
        out->pid = pid;
        i++;
    }
    /* "host program[pid]": on a central log server, two hosts' pids stay apart. */
    out->session_key = out->host;
    out->session_key_len = (size_t)(line + i - out->host);
    if (i >= len || line[i] != ':')
        return -1;
    i++;
    if (i < len && line[i] == ' ')
        i++;
    out->message = line + i;
    out->message_len = len - i;
    out->line = line;
    out->line_len = len;
    return 0;
}

bool lf_frame_text_ok(const struct lf_frame *frame)
{
    return tr_text_ok(frame->line, frame->line_len);
}

/* ---- parser ---- */

void lf_reject(struct lf_parser *parser, enum lf_reject reason)
{
    parser->stats.rejected++;
    if ((unsigned)reason < LF_REJECT_COUNT)
        parser->stats.rejected_by[reason]++;
}

static bool supplement_passes(const struct tr_event *event)
{
    for (size_t i = 0; i < event->n_policies; i++) {
        const struct tr_policy *policy = &event->policies[i];
        if (!policy->failed)
            continue;
        for (size_t j = 0; j < policy->n_failures; j++)
            if (policy->failures[j].result == TR_RESULT_DANE_REQUIRED ||
                policy->failures[j].result == TR_RESULT_DNSSEC_INVALID)
                return true;
    }
    return false;
}

void lf_emit(struct lf_parser *parser, const struct tr_event *event)
{
    const char *error;

    if (tr_event_check(event, &error) < 0) {
        msg_debug("log event dropped: %s", error);
        lf_reject(parser, LF_REJECT_BAD_TEXT);
        return;
    }
    if (parser->settings.supplement && !supplement_passes(event))
        return;
    parser->stats.events++;
    if (parser->emit != NULL)
        parser->emit(event, parser->context);
}

/*
 * The policy service knows what the log does not: the session's policy
 * becomes the real one. Under sts, a session the MTA did not verify (a
 * testing-mode policy is answered as opportunistic TLS) failed validation.
 */
static void apply_real_policy(struct lf_parser *parser, const struct lf_outcome *outcome,
                              struct tr_policy *policy, struct tr_failure *failure)
{
    struct lf_policy real;

    memset(&real, 0, sizeof(real));
    if (!parser->settings.policy_lookup(parser->settings.policy_context, outcome->domain,
                                        outcome->receiving_mx_hostname, outcome->policy_type,
                                        &real))
        return;
    if (real.type != TR_POLICY_STS && real.type != TR_POLICY_TLSA)
        return;
    policy->type = real.type;
    policy->domain = real.domain;
    policy->strings = real.strings;
    policy->n_strings = real.n_strings;
    policy->mx_hosts = real.mx_hosts;
    policy->n_mx_hosts = real.n_mx_hosts;
    if (real.type == TR_POLICY_STS && !outcome->failed && outcome->unverified) {
        failure->result = outcome->unverified_result;
        failure->failure_reason_code = outcome->failure_reason_code;
        failure->sending_mta_ip = outcome->sending_mta_ip;
        failure->receiving_mx_hostname = outcome->receiving_mx_hostname;
        failure->receiving_mx_helo = outcome->receiving_mx_helo;
        failure->receiving_ip = outcome->receiving_ip;
        policy->failed = true;
        policy->failures = failure;
        policy->n_failures = 1;
    }
}

void lf_emit_outcome(struct lf_parser *parser, const struct lf_outcome *outcome)
{
    struct tr_failure failure;
    struct tr_policy policy;
    struct tr_event event;

    memset(&failure, 0, sizeof(failure));
    memset(&policy, 0, sizeof(policy));
    memset(&event, 0, sizeof(event));
    policy.type = outcome->policy_type;
    policy.domain = outcome->policy_domain;
    policy.failed = outcome->failed;
    if (outcome->failed) {
        failure.result = outcome->result;
        failure.sending_mta_ip = outcome->sending_mta_ip;
        failure.receiving_mx_hostname = outcome->receiving_mx_hostname;
        failure.receiving_mx_helo = outcome->receiving_mx_helo;
        failure.receiving_ip = outcome->receiving_ip;
        failure.additional_information = outcome->additional_information;
        failure.failure_reason_code = outcome->failure_reason_code;
        policy.failures = &failure;
        policy.n_failures = 1;
    }
    if (parser->settings.policy_lookup != NULL)
        apply_real_policy(parser, outcome, &policy, &failure);
    event.time = outcome->time;
    event.domain = outcome->domain;
    event.policies = &policy;
    event.n_policies = 1;
    lf_emit(parser, &event);
}

/* ---- addresses ---- */

/* A host name into host (normalized); false when it is not a valid name. */
bool lf_host_name(const char *s, size_t len, char host[LF_HOST_SIZE])
{
    const char *error;

    if (len == 0 || len >= LF_HOST_SIZE)
        return false;
    memcpy(host, s, len);
    host[len] = '\0';
    return tr_domain_normalize(host, &error) == 0;
}

bool lf_ip_address(const char *s, size_t len, char ip[LF_IP_SIZE])
{
    unsigned char addr[16];

    if (len == 0 || len >= LF_IP_SIZE)
        return false;
    memcpy(ip, s, len);
    ip[len] = '\0';
    if (strncasecmp(ip, "ipv6:", 5) == 0)
        memmove(ip, ip + 5, strlen(ip + 5) + 1);
    return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
}

/* "HOST[IP]" with optional ":PORT"; returns the end, or NULL. */
const char *lf_host_address(const char *s, char host[LF_HOST_SIZE], char ip[LF_IP_SIZE])
{
    const char *open = strchr(s, '['), *close;

    if (open == NULL || memchr(s, ' ', (size_t)(open - s)) != NULL)
        return NULL;
    close = strchr(open, ']');
    if (close == NULL || !lf_host_name(s, (size_t)(open - s), host) ||
        !lf_ip_address(open + 1, (size_t)(close - open - 1), ip))
        return NULL;
    close++;
    if (*close == ':' && close[1] >= '0' && close[1] <= '9')
        for (close++; *close >= '0' && *close <= '9'; close++)
            ;
    return close;
}

void lf_copy(char *out, size_t size, const char *text)
{
    size_t len = strnlen(text, size - 1);

    memcpy(out, text, len);
    out[len] = '\0';
}

char *lf_printable(const char *text, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < size; i++)
        out[n++] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    out[n] = '\0';
    return out;
}

bool lf_own_sender(const struct lf_parser *parser, const char *address, size_t len)
{
    const char *sender = parser->settings.report_sender;
    const char *delimiter = parser->settings.report_verp_delimiter;

    if (sender == NULL || sender[0] == '\0')
        return false;
    if (sender[0] == '<')
        sender++;
    size_t sender_len = strcspn(sender, ">");
    if (len == sender_len && strncasecmp(address, sender, len) == 0)
        return true;
    if (delimiter == NULL || delimiter[0] == '\0')
        return false;
    /* LOCAL DELIMITER TAG @DOMAIN: a tag of one or more characters, no '@' in it. */
    const char *at = memchr(sender, '@', sender_len);
    size_t local = at ? (size_t)(at - sender) : sender_len, domain = sender_len - local;
    size_t dlen = strlen(delimiter);
    if (len <= local + dlen + domain || strncasecmp(address, sender, local) != 0 ||
        strncmp(address + local, delimiter, dlen) != 0 ||
        strncasecmp(address + len - domain, sender + local, domain) != 0)
        return false;
    return memchr(address + local + dlen, '@', len - local - dlen - domain) == NULL;
}

struct lf_parser *lf_parser_create(const struct lf_settings *settings, lf_event_fn *emit,
                                   void *context)
{
    struct lf_parser *parser = xcalloc(1, sizeof(*parser));

    parser->settings = *settings;
    if (settings->report_sender != NULL)
        parser->settings.report_sender = xstrdup(settings->report_sender);
    if (settings->sending_mta_ip != NULL)
        parser->settings.sending_mta_ip = xstrdup(settings->sending_mta_ip);
    if (settings->report_verp_delimiter != NULL)
        parser->settings.report_verp_delimiter = xstrdup(settings->report_verp_delimiter);
    parser->emit = emit;
    parser->context = context;
    switch (settings->format) {
    case LF_POSTFIX:
        parser->format_state = lf_postfix_create(parser);
        break;
    case LF_SENDMAIL:
        parser->format_state = lf_sendmail_create(parser);
        break;
    }
    return parser;
}

void lf_parser_destroy(struct lf_parser *parser)
{
    if (parser == NULL)
        return;
    switch (parser->settings.format) {
    case LF_POSTFIX:
        lf_postfix_destroy(parser->format_state);
        break;
    case LF_SENDMAIL:
        lf_sendmail_destroy(parser->format_state);
        break;
    }
    free((char *)parser->settings.report_sender);
    free((char *)parser->settings.sending_mta_ip);
    free((char *)parser->settings.report_verp_delimiter);
    free(parser);
}

void lf_parser_line(struct lf_parser *parser, const char *line, size_t len)
{
    struct lf_frame frame;

    parser->stats.lines++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0)
        return;
    if (len > LF_MAX_LINE) {
        lf_reject(parser, LF_REJECT_BAD_TEXT);
        return;
    }
    if (lf_frame(parser, line, len, &frame) < 0) {
        lf_reject(parser, LF_REJECT_BAD_TIMESTAMP);
        return;
    }
    parser->log_time = frame.time;
    switch (parser->settings.format) {
    case LF_POSTFIX:
        lf_postfix_expire(parser);
        lf_postfix_line(parser, &frame);
        break;
    case LF_SENDMAIL:
        lf_sendmail_expire(parser);
        lf_sendmail_line(parser, &frame);
        break;
    }
}

void lf_parser_flush(struct lf_parser *parser)
{
    switch (parser->settings.format) {
    case LF_POSTFIX:
        lf_postfix_flush(parser);
        break;
    case LF_SENDMAIL:
        lf_sendmail_flush(parser);
        break;
    }
}

bool lf_parser_own_mail(struct lf_parser *parser, const char *queue_id)
{
    size_t len = strlen(queue_id);
    struct lf_table *reports = parser->settings.format == LF_POSTFIX ? lf_postfix_reports(parser)
                                                                     : lf_sendmail_reports(parser);
    time_t now = time(NULL);

    if (reports == NULL || !lf_queue_id_ok(queue_id))
        return false;
    if (lf_table_get(reports, queue_id, len) == NULL)
        /* Live: the wall clock, or the log's when ahead, so the next line keeps it. */
        lf_table_put_touched(reports, queue_id, len, parser->format_state,
                             parser->log_time > now ? parser->log_time : now);
    return true;
}

bool lf_queue_id_ok(const char *queue_id)
{
    size_t len = strlen(queue_id);

    if (len == 0 || len > LF_MAX_QUEUE_ID)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)queue_id[i]))
            return false;
    return true;
}

const struct lf_stats *lf_parser_stats(const struct lf_parser *parser)
{
    return &parser->stats;
}
