/*
 * bench_null_milter.c - a milter that does nothing (every callback
 * continues, the same callbacks as tlsrpt-milter's): the baseline of bench/milter.sh, what
 * libmilter and the protocol cost before tlsrpt-milter does any work of its own.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <libmilter/mfapi.h>

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *address)
{
    (void)ctx;
    (void)host;
    (void)address;
    return SMFIS_CONTINUE;
}

/* eoh, abort, close: nothing to do either. */
static sfsistat on_step(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_envfrom(SMFICTX *ctx, char **argv)
{
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat on_header(SMFICTX *ctx, char *name, char *value)
{
    (void)ctx;
    (void)name;
    (void)value;
    return SMFIS_CONTINUE;
}

static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void)ctx;
    (void)chunk;
    (void)len;
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
    struct smfiDesc desc = {
        .xxfi_name = "null",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = SMFIF_ADDHDRS,
        .xxfi_connect = on_connect,
        .xxfi_envfrom = on_envfrom,
        .xxfi_envrcpt = on_envfrom,
        .xxfi_header = on_header,
        .xxfi_body = on_body,
        .xxfi_eoh = on_step,
        .xxfi_eom = on_step,
        .xxfi_abort = on_step,
        .xxfi_close = on_step,
    };

    if (argc != 2) {
        fprintf(stderr, "usage: bench_null_milter inet:PORT@127.0.0.1\n");
        return 2;
    }
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
        smfi_opensocket(true) != MI_SUCCESS)
        return 1;
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
