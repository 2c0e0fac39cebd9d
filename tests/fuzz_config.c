/*
 * fuzz_config.c - libFuzzer target for tlsrptd.cf: any text either fails
 * to load with "NAME:LINE: reason" or gives a configuration whose every
 * parameter can be looked up ($name expansion included) without a panic.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every getter of the parameter's type: they "cannot fail" once loaded. */
static void look_up(struct cfg *cfg, const struct cfg_param *param)
{
    const char *const *items;

    if (cfg_str(cfg, param->name) == NULL)
        abort();
    switch (param->type) {
    case CFG_INT:
        (void)cfg_int(cfg, param->name);
        break;
    case CFG_BOOL:
        (void)cfg_bool(cfg, param->name);
        break;
    case CFG_TIME:
        (void)cfg_time(cfg, param->name);
        break;
    case CFG_SIZE:
        (void)cfg_size(cfg, param->name);
        break;
    case CFG_MODE:
        (void)cfg_mode(cfg, param->name);
        break;
    case CFG_LIST:
        for (items = cfg_list(cfg, param->name); *items; items++)
            if ((*items)[0] == '\0')
                abort();
        break;
    case CFG_PATH:
    case CFG_STRING:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1), *error = NULL;
    struct cfg *cfg;
    FILE *sink;

    msg_setup("fuzz", 0, 0);
    memcpy(text, data, size);
    text[size] = '\0';
    cfg = cfg_load_string(text, "fuzz.cf", &error);
    if (cfg == NULL) {
        if (error == NULL || strncmp(error, "fuzz.cf", 7) != 0)
            abort();
        free(error);
        free(text);
        return 0;
    }
    for (size_t i = 0; i < cfg_param_count; i++)
        look_up(cfg, &cfg_params[i]);
    /* What `tlsrpt conf` prints, raw and expanded. */
    if ((sink = fopen("/dev/null", "w")) != NULL) {
        cfg_print(cfg, sink, CFG_PRINT_NONDEFAULT, false, NULL);
        cfg_print(cfg, sink, CFG_PRINT_ALL, true, NULL);
        fclose(sink);
    }
    cfg_free(cfg);
    free(text);
    return 0;
}
