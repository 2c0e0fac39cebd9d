/*
 * fuzz_sendmail_log.c - libFuzzer target for the Sendmail log parser (lf_parser_line
 * over a multi-line input, checkpointed half-way); see fuzz_log_lines.h.
 * Built with configure --enable-fuzzing CC=clang; run by tools/fuzz.
 */
#include "config.h"

#include "fuzz_log_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_log_lines(LF_SENDMAIL, data, size);
}
