/*
 * cg_tz.h - calendar arithmetic in a named time zone (IANA id), thread-safe.
 *
 * Backed by ICU's calendar (libicu), which carries its own time zone data
 * and never touches the process's TZ: evaluate() runs on many threads.
 */
#ifndef CG_TZ_H
#define CG_TZ_H

#include <stdint.h>

enum cg_tz_unit { CG_TZ_DAY = 1, CG_TZ_WEEK = 2, CG_TZ_MONTH = 3 };

/* cg_tz_valid - is zone a time zone id ICU knows ("UTC", "Europe/Berlin") */
int cg_tz_valid(const char *zone);

/* cg_tz_period - the calendar day, ISO week (from Monday) or month that
 * contains t in zone: *start (its first instant, local midnight, or the
 * first valid instant after it on a DST-gap midnight) and *next (start of
 * the following period). Returns 0, or -1 for an unknown zone. */
int cg_tz_period(const char *zone, int unit, int64_t t, int64_t *start, int64_t *next);

/* cg_tz_duration_text - "5 days", "36 hours", "90 seconds": whole days, else hours, minutes */
const char *cg_tz_duration_text(int64_t secs, char *buf, size_t len);

#endif
