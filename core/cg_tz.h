/*
 * cg_tz.h - calendar arithmetic in a named time zone (IANA id), thread-safe.
 *
 * Backed by ICU's calendar (libicu), which carries its own time zone data
 * and never touches the process's TZ: evaluate() runs on many threads.
 */
#ifndef CG_TZ_H
#define CG_TZ_H

#include <stddef.h>
#include <stdint.h>

enum cg_tz_unit { CG_TZ_DAY = 1, CG_TZ_WEEK = 2, CG_TZ_MONTH = 3 };

/* cg_tz_valid - is zone a time zone id ICU knows ("UTC", "Europe/Berlin") */
int cg_tz_valid(const char *zone);

/* cg_tz_period - the calendar day, ISO week (from Monday) or month that
 * contains t in zone: *start (its first instant, local midnight, or the
 * first valid instant after it on a DST-gap midnight) and *next (start of
 * the following period). Returns 0, or -1 for an unknown zone. */
int cg_tz_period(const char *zone, int unit, int64_t t, int64_t *start, int64_t *next);

/* cg_tz_local - the local calendar time of instant t in zone: year, month
 * (1-12), day, weekday (0 = Monday), hour, minute, second, and the UTC
 * offset in seconds at that instant. Returns 0, or -1 for an unknown zone. */
struct cg_tz_local {
    int year, month, day, weekday, hour, minute, second;
    int32_t offset_secs;
};
int cg_tz_local(const char *zone, int64_t t, struct cg_tz_local *out);

/* cg_tz_instant - the instant of local year-month-day (day may run past
 * the month's end) at minute_of_day (0..1440) in zone: a time inside a
 * spring-forward gap is the first valid instant after it, a repeated
 * autumn time its first occurrence. Returns 0, or -1 for an unknown zone. */
int cg_tz_instant(const char *zone, int year, int month, int day, int minute_of_day,
                  int64_t *t_r);

/* cg_tz_duration_text - "5 days", "36 hours", "90 seconds": whole days, else hours, minutes */
const char *cg_tz_duration_text(int64_t secs, char *buf, size_t len);

#endif
