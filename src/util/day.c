/*
 * day.c - UTC day arithmetic. Reports cover whole UTC days (RFC 8460 §4.1),
 * so a day is an integer count since 1970-01-01 and its text is YYYY-MM-DD.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define SECONDS_PER_DAY 86400

int day_from_time(time_t t)
{
    /* Floor division, so instants before the epoch land on the right day. */
    time_t day = t / SECONDS_PER_DAY;
    if (t % SECONDS_PER_DAY < 0)
        day--;
    return (int)day;
}

time_t day_start(int day)
{
    return (time_t)day * SECONDS_PER_DAY;
}

void day_format(int day, char out[DAY_TEXT_SIZE])
{
    time_t t = day_start(day);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, DAY_TEXT_SIZE, "%Y-%m-%d", &tm) == 0)
        snprintf(out, DAY_TEXT_SIZE, "?");
}

int day_parse(const char *text, int *day, const char **error_r)
{
    struct tm tm;
    char check[DAY_TEXT_SIZE];

    memset(&tm, 0, sizeof(tm));
    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-') {
        *error_r = "not a date of the form YYYY-MM-DD";
        return -1;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9')) {
            *error_r = "not a date of the form YYYY-MM-DD";
            return -1;
        }
    }
    if (sscanf(text, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
        *error_r = "not a date of the form YYYY-MM-DD";
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    /* timegm normalizes 2026-02-30 into March: a round trip catches it. */
    *day = day_from_time(t);
    day_format(*day, check);
    if (strcmp(check, text) != 0) {
        *error_r = "no such calendar date";
        return -1;
    }
    return 0;
}

int day_today(void)
{
    return day_from_time(time(NULL));
}

int64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
