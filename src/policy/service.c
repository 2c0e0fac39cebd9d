/*
 * service.c - the policy service object behind the socketmap: parameters,
 * the answer for one next-hop domain, refresh and statistics.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "policy.h"
#include "util.h"

struct pol_service {
    char *dir;
};

struct pol_service *pol_service_create(struct cfg *cfg, char **error_r)
{
    struct pol_service *svc = xcalloc(1, sizeof(*svc));

    svc->dir = path_join(cfg_str(cfg, "state_directory"), "sts");
    if (dir_make(svc->dir, 0750, error_r) < 0) {
        pol_service_destroy(svc);
        return NULL;
    }
    return svc;
}

void pol_service_destroy(struct pol_service *svc)
{
    if (svc == NULL)
        return;
    free(svc->dir);
    free(svc);
}

void pol_query_explain(struct pol_service *svc, const char *domain, struct buf *reply,
                       struct buf *why)
{
    (void)svc;
    (void)domain;
    (void)why;
    buf_puts(reply, "NOTFOUND ");
}

void pol_query(struct pol_service *svc, const char *domain, struct buf *reply)
{
    pol_query_explain(svc, domain, reply, NULL);
}

void pol_refresh_due(struct pol_service *svc, time_t now)
{
    (void)svc;
    (void)now;
}

void pol_stats(struct pol_service *svc, void (*emit)(void *ctx, const char *name, const char *value),
               void *ctx)
{
    (void)svc;
    emit(ctx, "sts.lookups", "0");
}

void pol_cache_list(struct pol_service *svc, void (*fn)(void *ctx, const struct pol_cache_info *info),
                    void *ctx)
{
    (void)svc;
    (void)fn;
    (void)ctx;
}

int pol_cache_flush(struct pol_service *svc, const char *domain, char **error_r)
{
    (void)svc;
    (void)domain;
    (void)error_r;
    return 0;
}
