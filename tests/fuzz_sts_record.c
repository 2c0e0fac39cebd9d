/*
 * fuzz_sts_record.c - libFuzzer target for the `_mta-sts` TXT record parser
 * (RFC 8461 §3.1): any record text either fails with an error or gives an
 * id of 1-32 letters and digits. Built with --enable-fuzzing CC=clang.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[POL_ID_MAX + 1];
    char *error = NULL;

    if (pol_record_parse((const char *)data, size, id, &error) < 0) {
        if (error == NULL)
            abort();
        free(error);
        return 0;
    }
    size_t len = strlen(id);
    if (len == 0 || len > POL_ID_MAX || size < 7 || memcmp(data, "v=STSv1", 7) != 0)
        abort();
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9')))
            abort();
    return 0;
}
