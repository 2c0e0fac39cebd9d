/*
 * context.c - what the daily cycle needs, taken from tlsrptd.cf once, the
 * same way for the daemon and for `tlsrpt run` / `tlsrpt report`.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "scheduler.h"
#include "util.h"

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
    return 0;
}

void sched_context_free(struct sched_context *ctx)
{
    free(ctx->counters_dir);
    spool_close(ctx->spool);
    if (ctx->resolver)
        dns_resolver_destroy(ctx->resolver);
    memset(ctx, 0, sizeof(*ctx));
}
