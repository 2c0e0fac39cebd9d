/*
 * parse.c - a DSN from the bytes of a message: GMime finds the
 * multipart/report and its message/delivery-status part (and the returned
 * headers, for their TLS-Report-Domain); fields.c reads the status fields.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "dsn.h"
#include "dsn_impl.h"
#include "util.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_start(void)
{
    g_mime_init();
}

void dsn_free(struct dsn *dsn)
{
    if (dsn == NULL)
        return;
    for (size_t i = 0; i < dsn->n_recipients; i++)
        dsn_recipient_free(&dsn->recipients[i]);
    free(dsn->recipients);
    free(dsn->reporting_mta);
    free(dsn->original_envelope_id);
    free(dsn->returned_report_domain);
    free(dsn->addressed_to);
    free(dsn);
}

/* A leaf part's content, transfer encoding undone; NULL when over max bytes. */
static GByteArray *part_content(GMimeObject *object, size_t max, bool *too_big)
{
    GMimeDataWrapper *wrapper = g_mime_part_get_content(GMIME_PART(object));
    GMimeStream *out = g_mime_stream_mem_new();
    GByteArray *bytes = NULL;

    *too_big = false;
    if (wrapper != NULL) {
        g_mime_data_wrapper_write_to_stream(wrapper, out);
        GByteArray *all = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
        if (all->len > max) {
            *too_big = true;
        } else {
            bytes = g_byte_array_sized_new(all->len + 1);
            g_byte_array_append(bytes, all->data, all->len);
        }
    }
    g_object_unref(out);
    return bytes;
}

/* TLS-Report-Domain of returned headers (text/rfc822-headers), when there is one. */
static char *returned_domain_from_headers(const guint8 *data, size_t len)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)data, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
    char *domain = NULL;

    if (message != NULL) {
        const char *value = g_mime_object_get_header(GMIME_OBJECT(message), "TLS-Report-Domain");
        if (value && strlen(value) < 256)
            domain = xstrdup(value);
        g_object_unref(message);
    }
    g_object_unref(parser);
    g_object_unref(stream);
    return domain;
}

static bool is_status_part(GMimeContentType *type)
{
    return g_mime_content_type_is_type(type, "message", "delivery-status") ||
           g_mime_content_type_is_type(type, "message", "global-delivery-status");
}

/* The parts of the report: the status (exactly one) and the returned content. */
static int walk_report(GMimeMultipart *report, struct dsn *dsn, char **error_r)
{
    int n_status = 0, count = g_mime_multipart_get_count(report);

    for (int i = 0; i < count; i++) {
        GMimeObject *part = g_mime_multipart_get_part(report, i);
        GMimeContentType *type = g_mime_object_get_content_type(part);
        bool too_big;
        if (type != NULL && is_status_part(type)) {
            if (n_status++ > 0) {
                *error_r = xstrdup("more than one delivery-status part");
                return -1;
            }
            if (!GMIME_IS_PART(part)) {
                *error_r = xstrdup("the delivery-status part has no content");
                return -1;
            }
            GByteArray *content = part_content(part, DSN_MAX_STATUS_PART, &too_big);
            if (content == NULL) {
                *error_r = too_big ? xasprintf("the delivery-status part is larger than %d bytes",
                                               DSN_MAX_STATUS_PART)
                                   : xstrdup("the delivery-status part has no content");
                return -1;
            }
            int result = dsn_fields_parse((const char *)content->data, content->len, dsn, error_r);
            g_byte_array_unref(content);
            if (result < 0)
                return -1;
        } else if (dsn->returned_report_domain == NULL && GMIME_IS_MESSAGE_PART(part)) {
            GMimeMessage *returned = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
            const char *value =
                returned ? g_mime_object_get_header(GMIME_OBJECT(returned), "TLS-Report-Domain")
                         : NULL;
            if (value && strlen(value) < 256)
                dsn->returned_report_domain = xstrdup(value);
        } else if (dsn->returned_report_domain == NULL && type != NULL && GMIME_IS_PART(part) &&
                   g_mime_content_type_is_type(type, "text", "rfc822-headers")) {
            GByteArray *content = part_content(part, DSN_MAX_STATUS_PART, &too_big);
            if (content != NULL) {
                dsn->returned_report_domain =
                    returned_domain_from_headers(content->data, content->len);
                g_byte_array_unref(content);
            }
        }
    }
    if (n_status == 0) {
        *error_r = xstrdup("not a DSN: the multipart/report has no message/delivery-status part");
        return -1;
    }
    return 0;
}

/* One address, without blanks or <>; NULL when empty or implausibly long. */
static char *bare_address(const char *text)
{
    if (text == NULL)
        return NULL;
    text += strspn(text, " \t<");
    size_t len = strcspn(text, " \t>\r\n");
    return len > 0 && len < 512 ? xstrndup(text, len) : NULL;
}

/* Whom the DSN was delivered to, as the delivering MTA wrote it. */
static char *addressed_to(GMimeMessage *message)
{
    static const char *const headers[] = {"X-Original-To", "Delivered-To"};
    char *address;

    for (size_t i = 0; i < UTIL_ARRAY_LEN(headers); i++)
        if ((address = bare_address(g_mime_object_get_header(GMIME_OBJECT(message), headers[i]))))
            return address;
    InternetAddressList *to = g_mime_message_get_to(message);
    InternetAddress *first = to && internet_address_list_length(to) > 0
                                 ? internet_address_list_get_address(to, 0)
                                 : NULL;
    if (first && INTERNET_ADDRESS_IS_MAILBOX(first))
        return bare_address(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(first)));
    return NULL;
}

int dsn_parse(const char *message, size_t len, struct dsn **dsn_r, char **error_r)
{
    struct dsn *dsn = xcalloc(1, sizeof(*dsn));
    int result = -1;

    pthread_once(&gmime_once, gmime_start);
    *dsn_r = NULL;
    if (len > DSN_MAX_MESSAGE) {
        /* The status part comes before the returned message: the start is enough. */
        dsn->truncated = true;
        len = DSN_MAX_MESSAGE;
    }
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(message, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *parsed = g_mime_parser_construct_message(parser, NULL);
    GMimeObject *body = parsed ? g_mime_message_get_mime_part(parsed) : NULL;
    GMimeContentType *type = body ? g_mime_object_get_content_type(body) : NULL;

    if (parsed == NULL) {
        *error_r = xstrdup("not a mail message (no header could be read)");
    } else if (body == NULL || type == NULL) {
        *error_r = xstrdup("not a DSN: the message has no MIME body");
    } else if (!g_mime_content_type_is_type(type, "multipart", "report") ||
               !GMIME_IS_MULTIPART(body)) {
        char *name = g_mime_content_type_get_mime_type(type);
        *error_r =
            xasprintf("not a DSN: the message is %.64s, not multipart/report", name ? name : "?");
        g_free(name);
    } else {
        const char *report_type = g_mime_content_type_get_parameter(type, "report-type");
        if (report_type != NULL && strcasecmp(report_type, "delivery-status") != 0 &&
            strcasecmp(report_type, "global-delivery-status") != 0)
            *error_r = xasprintf("not a DSN: a multipart/report of report-type %.64s", report_type);
        else
            result = walk_report(GMIME_MULTIPART(body), dsn, error_r);
        if (result == 0)
            dsn->addressed_to = addressed_to(parsed);
    }
    if (parsed)
        g_object_unref(parsed);
    g_object_unref(parser);
    g_object_unref(stream);
    if (result < 0) {
        dsn_free(dsn);
        return -1;
    }
    *dsn_r = dsn;
    return 0;
}

static bool recipient_is(const struct dsn_recipient *r, const char *mailbox)
{
    return (r->final_recipient && strcasecmp(r->final_recipient, mailbox) == 0) ||
           (r->original_recipient && strcasecmp(r->original_recipient, mailbox) == 0);
}

const struct dsn_recipient *dsn_decisive(const struct dsn *dsn, const char *mailbox)
{
    static const char *const order[] = {"failed", "delayed", NULL};
    bool any_named = false;

    for (size_t i = 0; mailbox && i < dsn->n_recipients; i++)
        any_named |= recipient_is(&dsn->recipients[i], mailbox);
    for (size_t k = 0; k < UTIL_ARRAY_LEN(order); k++) {
        for (size_t i = 0; i < dsn->n_recipients; i++) {
            const struct dsn_recipient *r = &dsn->recipients[i];
            if (any_named && !recipient_is(r, mailbox))
                continue;
            if (order[k] == NULL || strcmp(r->action, order[k]) == 0)
                return r;
        }
    }
    return NULL;
}

bool dsn_permanent(const struct dsn_recipient *r)
{
    return strcmp(r->action, "failed") == 0 && r->status[0] == '5';
}
