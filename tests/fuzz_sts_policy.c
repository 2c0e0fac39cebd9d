/*
 * fuzz_sts_policy.c - libFuzzer target for the MTA-STS policy body parser
 * (RFC 8461 §3.2): any bytes a policy host sends are either refused with an
 * error or give a policy within the grammar's bounds, and the cache file
 * made from them reads back the same. Built with --enable-fuzzing CC=clang.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pol_policy policy;
    char *error = NULL;

    if (pol_policy_parse((const char *)data, size, &policy, &error) < 0) {
        if (error == NULL || policy.n_mx != 0)
            abort();
        free(error);
        return 0;
    }
    if (policy.max_age < 0 || policy.max_age > POL_MAX_AGE_MAX || policy.n_mx > POL_MX_MAX ||
        (policy.mode != POL_MODE_NONE && policy.n_mx == 0))
        abort();
    for (size_t i = 0; i < policy.n_mx; i++)
        if (strlen(policy.mx[i]) == 0 || strlen(policy.mx[i]) > 253)
            abort();
    /* A body with a NUL is refused above, so the cache can keep it as a string. */
    if (memchr(data, 0, size) == NULL) {
        struct pol_entry entry = {0}, back;
        struct buf text = {0};
        entry.domain = xstrdup("fuzz.example");
        memcpy(entry.id, "f1", 3);
        entry.policy_text = xstrndup((const char *)data, size);
        entry.policy = policy;
        pol_entry_format(&entry, &text);
        if (pol_entry_parse(text.data, text.len, &back, &error) < 0 ||
            strcmp(back.policy_text, entry.policy_text) != 0 || back.policy.n_mx != policy.n_mx ||
            back.policy.max_age != policy.max_age)
            abort();
        pol_entry_clear(&back);
        pol_entry_clear(&entry);
        buf_free(&text);
        return 0;
    }
    abort(); /* a NUL byte must never be accepted */
}
