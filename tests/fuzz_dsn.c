/*
 * fuzz_dsn.c - libFuzzer target for the DSN parser (GMime for the MIME,
 * our reader for the delivery-status fields): any bytes either fail with
 * a reason or give a DSN within the limits, with the fields every use
 * relies on. Built with --enable-fuzzing CC=clang.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dsn *dsn = NULL;
    char *error = NULL;

    if (dsn_parse((const char *)data, size, &dsn, &error) < 0) {
        if (error == NULL || dsn != NULL)
            abort();
        free(error);
        return 0;
    }
    if (dsn->reporting_mta == NULL || dsn->n_recipients == 0 ||
        dsn->n_recipients > DSN_MAX_RECIPIENTS)
        abort();
    for (size_t i = 0; i < dsn->n_recipients; i++) {
        const struct dsn_recipient *r = &dsn->recipients[i];
        if (r->final_recipient == NULL || r->action == NULL || r->status == NULL ||
            strlen(r->final_recipient) > DSN_MAX_FIELD ||
            (r->diagnostic && strlen(r->diagnostic) > DSN_MAX_FIELD))
            abort();
        if (r->status[0] != '2' && r->status[0] != '4' && r->status[0] != '5')
            abort();
    }
    const struct dsn_recipient *decisive = dsn_decisive(dsn, "tlsrpt@mail.example");
    if (decisive == NULL)
        abort();
    (void)dsn_permanent(decisive);
    dsn_free(dsn);
    return 0;
}
