/*
 * config_capture.h - test helper of the config suites: stderr captured
 * around calls that warn, and configuration text loaded as "t.cf".
 */
#ifndef TLSRPT_TESTS_CONFIG_CAPTURE_H
#define TLSRPT_TESTS_CONFIG_CAPTURE_H

#include "cfg.h"

/* Sends stderr to a temporary file until capture_end(), which returns what was written. */
void capture_begin(void);
char *capture_end(void);

/* Loads text as "t.cf"; warnings are swallowed. */
struct cfg *load(const char *text, char **error);

#endif
