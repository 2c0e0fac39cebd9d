/*
 * store.c - the text form of one cached MTA-STS domain, as written to
 * $state_directory/sts/DOMAIN (atomically) and read back at start-up:
 * "key value" lines, then "policy LENGTH" and the policy's bytes.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_impl.h"
#include "util.h"

#define FORMAT_LINE "tlsrptd-sts 1"
#define ERROR_MAX 300

void pol_entry_clear(struct pol_entry *entry)
{
    free(entry->domain);
    free(entry->policy_text);
    free(entry->last_error);
    pol_policy_free(&entry->policy);
    entry->domain = entry->policy_text = entry->last_error = NULL;
}

void pol_entry_format(const struct pol_entry *entry, struct buf *out)
{
    const char *text = entry->policy_text ? entry->policy_text : "";

    buf_printf(out, FORMAT_LINE "\ndomain %s\nid %s\nfetched %lld\nlast_used %lld\n", entry->domain,
               entry->id[0] ? entry->id : "-", (long long)entry->fetched,
               (long long)entry->last_used);
    buf_printf(out, "failure %s\nfailed_id %s\nnext_retry %lld\nretry_delay %ld\n",
               pol_failure_name(entry->failure), entry->failed_id[0] ? entry->failed_id : "-",
               (long long)entry->next_retry, entry->retry_delay);
    buf_printf(out, "error %s\npolicy %zu\n", entry->last_error ? entry->last_error : "-",
               strlen(text));
    buf_puts(out, text);
}

static int number(const char *value, long long *out)
{
    char *end;
    long long v = strtoll(value, &end, 10);

    if (*value == '\0' || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int copy_id(const char *value, char id[POL_ID_MAX + 1])
{
    size_t len = strlen(value);

    if (strcmp(value, "-") == 0) {
        id[0] = '\0';
        return 0;
    }
    if (len == 0 || len > POL_ID_MAX)
        return -1;
    memcpy(id, value, len + 1);
    return 0;
}

/* One "key value" header line; -1 when it is not what the format allows. */
static int header_line(struct pol_entry *entry, const char *key, const char *value)
{
    long long n;

    if (strcmp(key, "domain") == 0) {
        free(entry->domain);
        entry->domain = xstrdup(value);
    } else if (strcmp(key, "id") == 0) {
        return copy_id(value, entry->id);
    } else if (strcmp(key, "failed_id") == 0) {
        return copy_id(value, entry->failed_id);
    } else if (strcmp(key, "failure") == 0) {
        return pol_failure_from_name(value, &entry->failure);
    } else if (strcmp(key, "error") == 0) {
        free(entry->last_error);
        entry->last_error = strcmp(value, "-") == 0 ? NULL : xstrndup(value, ERROR_MAX);
    } else if (number(value, &n) < 0) {
        return -1;
    } else if (strcmp(key, "fetched") == 0) {
        entry->fetched = (time_t)n;
    } else if (strcmp(key, "last_used") == 0) {
        entry->last_used = (time_t)n;
    } else if (strcmp(key, "next_retry") == 0) {
        entry->next_retry = (time_t)n;
    } else if (strcmp(key, "retry_delay") == 0) {
        entry->retry_delay = (long)n;
    } else {
        return -1;
    }
    return 0;
}

int pol_entry_parse(const char *text, size_t len, struct pol_entry *entry, char **error_r)
{
    size_t pos = 0, line = 0;
    char *error = NULL;

    memset(entry, 0, sizeof(*entry));
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL)
            break;
        char *l = xstrndup(text + pos, (size_t)(nl - (text + pos)));
        pos = (size_t)(nl - text) + 1;
        line++;
        if (line == 1) {
            bool ok = strcmp(l, FORMAT_LINE) == 0;
            free(l);
            if (!ok) {
                *error_r = xstrdup("not a policy cache file (first line)");
                goto fail;
            }
            continue;
        }
        char *space = strchr(l, ' ');
        if (space == NULL) {
            free(l);
            break;
        }
        *space = '\0';
        if (strcmp(l, "policy") == 0) {
            long long size;
            if (number(space + 1, &size) < 0 || (size_t)size != len - pos || size > POL_BODY_MAX) {
                free(l);
                break;
            }
            free(l);
            if (entry->domain == NULL)
                break;
            if (size > 0) {
                entry->policy_text = xstrndup(text + pos, (size_t)size);
                if (pol_policy_parse(text + pos, (size_t)size, &entry->policy, &error) < 0) {
                    *error_r = xasprintf("line %zu: cached policy: %s", line + 1, error);
                    free(error);
                    goto fail;
                }
                if (entry->id[0] == '\0')
                    break;
            }
            return 0;
        }
        int status = header_line(entry, l, space + 1);
        free(l);
        if (status < 0) {
            *error_r = xasprintf("line %zu: bad line", line);
            goto fail;
        }
    }
    *error_r = xasprintf("line %zu: truncated or damaged", line);
fail:
    pol_entry_clear(entry);
    return -1;
}
