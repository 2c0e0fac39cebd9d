/*
 * context.c - what the daily cycle needs, taken from tlsrptd.cf once, the
 * same way for the daemon and for `tlsrpt run` / `tlsrpt report`, and
 * taking the outbox's ownership.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "scheduler.h"
#include "util.h"

/* HTTPS hosts are resolved with the same resolver as rua records (testable, pinned). */
static int resolve_with_dns(void *context, const char *host, struct sockaddr_storage *addresses,
                            size_t max, char **error_r)
{
    return dns_lookup_addresses(context, host, addresses, max, error_r);
}

/* report_from, else noreply-tlsrpt@ the submitter (the contact_info domain). */
static char *report_from(struct cfg *cfg, const char *submitter)
{
    const char *from = cfg_str(cfg, "report_from");

    return from[0] ? xstrdup(from) : xasprintf("noreply-tlsrpt@%s", submitter);
}

char *sched_report_sender(struct cfg *cfg)
{
    const char *sender = cfg_str(cfg, "report_envelope_sender");
    char *submitter, *from;

    if (sender[0] != '\0')
        return xstrdup(sender);
    submitter = rpt_submitter(cfg_str(cfg, "contact_info"));
    if (submitter == NULL && cfg_str(cfg, "report_from")[0] == '\0')
        return NULL;
    from = report_from(cfg, submitter);
    free(submitter);
    return from;
}

/*
 * VERP: the delimiter, the key (made on first use), and a check that the
 * tagged envelope sender fits a local part, so no report leaves untagged.
 */
static int verp_init(struct sched_delivery *dl, struct cfg *cfg, char **error_r)
{
    char tag[DSN_VERP_TAG_MAX], *address, *error;

    dl->verp_delimiter = cfg_str(cfg, "report_verp_delimiter");
    if (dl->verp_delimiter[0] == '\0')
        return 0;
    memset(tag, 'x', DSN_VERP_TAG_LEN);
    tag[DSN_VERP_TAG_LEN] = '\0';
    if (dsn_verp_address(dl->envelope_sender, dl->verp_delimiter, tag, &address, &error) < 0) {
        *error_r = xasprintf("%s: report_verp_delimiter: %s", cfg_path(cfg), error);
        free(error);
        return -1;
    }
    free(address);
    char *key_path = path_join(cfg_str(cfg, "state_directory"), "verp.key");
    int result = dsn_verp_key_load(key_path, true, dl->verp_key, error_r);
    free(key_path);
    return result;
}

static int delivery_init(struct sched_context *ctx, struct cfg *cfg, char **error_r)
{
    struct sched_delivery *dl = &ctx->delivery;
    char *submitter = rpt_submitter(ctx->settings.contact_info);
    const char *transport = cfg_str(cfg, "report_transport");
    const char *sender = cfg_str(cfg, "report_envelope_sender");
    const char *dkim_domain = cfg_str(cfg, "dkim_domain");
    const char *key_file = cfg_str(cfg, "dkim_key_file");

    if (strcmp(transport, "smtp") != 0 && strcmp(transport, "sendmail") != 0) {
        *error_r = xasprintf("%s: report_transport = %s: use smtp or sendmail", cfg_path(cfg),
                             transport);
        free(submitter);
        return -1;
    }
    dl->from = report_from(cfg, submitter);
    dl->envelope_sender = xstrdup(sender[0] ? sender : dl->from);
    dl->dkim_domain = xstrdup(dkim_domain[0] ? dkim_domain : submitter);
    if (verp_init(dl, cfg, error_r) < 0) {
        free(submitter);
        return -1;
    }
    dl->dkim_selector = cfg_str(cfg, "dkim_selector");
    free(submitter);
    if (key_file[0] != '\0') {
        if (dl->dkim_selector[0] == '\0') {
            *error_r = xasprintf("%s: dkim_key_file is set but dkim_selector is empty",
                                 cfg_path(cfg));
            return -1;
        }
        if ((dl->dkim_key = dlv_dkim_key_load(key_file, error_r)) == NULL)
            return -1;
    }
    int timeout = (int)cfg_time(cfg, "delivery_timeout");
    dl->smtp = (struct dlv_smtp_settings){
        .relayhost = cfg_str(cfg, "relayhost"),
        .tls_level = cfg_str(cfg, "relayhost_tls"),
        .username = cfg_str(cfg, "relayhost_username"),
        .password = cfg_str(cfg, "relayhost_password"),
        .sendmail_path = strcmp(transport, "sendmail") == 0 ? cfg_str(cfg, "sendmail_path") : NULL,
        .timeout_seconds = timeout,
    };
    const char *ca_file = cfg_str(cfg, "https_ca_file");
    dl->https = (struct dlv_https_settings){
        .ca_file = ca_file[0] ? ca_file : NULL,
        .allow_private = cfg_bool(cfg, "https_allow_private_destinations"),
        .timeout_seconds = timeout,
        .resolve = ctx->resolver ? resolve_with_dns : NULL,
        .resolve_context = ctx->resolver,
    };
    dl->retry_initial = (time_t)cfg_time(cfg, "retry_initial");
    dl->retry_window = (time_t)cfg_time(cfg, "retry_window");
    dl->suppress_after = (int)cfg_int(cfg, "suppress_after_failures");
    dl->suppress_time = (time_t)cfg_time(cfg, "suppress_time");
    dl->max_report_size = (size_t)cfg_size(cfg, "max_report_size");
    dl->rate_limit = (int)cfg_int(cfg, "destination_rate_limit");
    dl->concurrency = (int)cfg_int(cfg, "delivery_concurrency");
    dl->suppress_path = path_join(cfg_str(cfg, "state_directory"), "suppressed");
    dl->ready = true;
    return 0;
}

int sched_context_init(struct sched_context *ctx, struct cfg *cfg, bool open_spool, bool with_dns,
                       char **error_r)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->settings.organization_name = cfg_str(cfg, "organization_name");
    ctx->settings.contact_info = cfg_str(cfg, "contact_info");
    char *why;
    if (rpt_check_settings(&ctx->settings, &why) < 0) {
        *error_r = xasprintf("%s: %s", cfg_path(cfg), why);
        free(why);
        return -1;
    }
    const char *state = cfg_str(cfg, "state_directory");
    ctx->counters_dir = path_join(state, "counters");
    ctx->send_all_success_reports = cfg_bool(cfg, "send_all_success_reports");
    ctx->max_rua = (size_t)cfg_int(cfg, "max_rua_per_record");
    ctx->report_spread = (time_t)cfg_time(cfg, "report_spread");
    if (open_spool) {
        char *outbox = path_join(state, "outbox");
        ctx->spool = spool_open(outbox, error_r);
        free(outbox);
        if (ctx->spool == NULL) {
            sched_context_free(ctx);
            return -1;
        }
    }
    if (with_dns) {
        ctx->resolver = dns_resolver_create(cfg_list(cfg, "dns_resolvers"),
                                            (int)cfg_time(cfg, "dns_timeout") * 1000, error_r);
        if (ctx->resolver == NULL) {
            sched_context_free(ctx);
            return -1;
        }
    }
    if (open_spool && delivery_init(ctx, cfg, error_r) < 0) {
        sched_context_free(ctx);
        return -1;
    }
    return 0;
}

void sched_context_free(struct sched_context *ctx)
{
    free(ctx->counters_dir);
    spool_close(ctx->spool);
    if (ctx->resolver)
        dns_resolver_destroy(ctx->resolver);
    if (ctx->delivery.dkim_key)
        dlv_dkim_key_free(ctx->delivery.dkim_key);
    free(ctx->delivery.from);
    free(ctx->delivery.envelope_sender);
    free(ctx->delivery.dkim_domain);
    free(ctx->delivery.suppress_path);
    memset(ctx, 0, sizeof(*ctx));
}

int sched_own_outbox(struct sched_context *ctx, char **error_r)
{
    bool busy;
    int fd = spool_lock_outbox(ctx->spool, false, &busy, error_r);

    if (fd < 0 && busy) {
        free(*error_r);
        msg_info("the outbox is in use by another process (a delivery pass): waiting for it");
        fd = spool_lock_outbox(ctx->spool, true, &busy, error_r);
    }
    return fd;
}
