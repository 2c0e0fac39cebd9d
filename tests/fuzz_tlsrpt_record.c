/*
 * fuzz_tlsrpt_record.c - libFuzzer target for the TLSRPT TXT record grammar
 * (dns_tlsrpt_parse): any text either fails with a reason or gives 1 to
 * max_rua destinations, each mailto: or https:, none twice.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "util.h"

#define FUZZ_MAX_RUA 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const struct dns_tlsrpt_record *record)
{
    if (record->text == NULL || record->n_rua < 1 || record->n_rua > FUZZ_MAX_RUA)
        abort();
    for (size_t i = 0; i < record->n_rua; i++) {
        const struct dns_rua *rua = &record->rua[i];
        const char *prefix = rua->scheme == DNS_RUA_MAILTO ? "mailto:" : "https:";
        if (strncmp(rua->uri, prefix, strlen(prefix)) != 0 || rua->target == NULL ||
            rua->target[0] == '\0')
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(record->rua[j].uri, rua->uri) == 0)
                abort();
    }
    for (size_t i = 0; i < record->n_notes; i++)
        if (record->notes[i] == NULL || record->notes[i][0] == '\0')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_tlsrpt_record record;
    char *text = xmalloc(size + 1), *error = NULL;

    memcpy(text, data, size);
    text[size] = '\0';
    memset(&record, 0, sizeof(record));
    if (dns_tlsrpt_parse(text, FUZZ_MAX_RUA, &record, &error) == 0) {
        check_record(&record);
        dns_tlsrpt_record_free(&record);
    } else if (error == NULL || error[0] == '\0') {
        abort();
    }
    free(error);
    free(text);
    return 0;
}
