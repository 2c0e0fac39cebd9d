/*
 * report_validator.h - test helper of check_report: every report built is
 * saved gzipped under its §5.1 file name, and at the end the strict schema
 * validator of ../shared (run by node, when installed) reads them all.
 */
#ifndef TLSRPT_TESTS_REPORT_VALIDATOR_H
#define TLSRPT_TESTS_REPORT_VALIDATOR_H

#include "report.h"

/* Makes the directory reports are saved in, and finds node and the validator. */
void validator_setup(void);

/* The gzip of a report under its §5.1 file name, for validator_run(). */
void save_for_validator(const struct rpt_report *report);

/* In a test: every report saved is strictly VALID, with no notes (a note when skipped). */
void validator_run(void);

/* Removes the saved reports after a run without failures, else says where they are. */
void validator_cleanup(int failed);

#endif
