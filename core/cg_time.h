/*
 * cg_time.h - durations and times as people write them, bounded.
 *
 * The one parser of every duration and time contactgate reads: the
 * configuration (max_defer), the plugins' params (param_duration) and
 * every contactgatectl option (--since, --until, --time, --older-than,
 * --history) and import field.
 *
 *   duration  "90" or "90s", "30m", "48h", "7d", "2w": a whole number of
 *             that unit, 0 to CG_DURATION_MAX_SECS (10 years)
 *   time      "2026-11-22", "2026-11-22T10:00:00Z", "2026-11-22T10:00",
 *             "2026-11-22 10:00:00" (UTC; a date that does not exist, such
 *             as 2026-02-30, is refused), "@1700000000" (Unix time),
 *             "-7d" / "+2h" (from now); cg_parse_since also takes a bare
 *             duration, "30d", as that long ago. A time is at most 10
 *             years (CG_DURATION_MAX_SECS) before or after now.
 *
 * The parsers return 0 or a negative CG_TIME_E* code; cg_time_why() is the
 * wording of that code, which the caller puts after the option or key and
 * the value, so that every error reads the same:
 *   contactgatectl: report: --since "30x" is not a time (use 2026-11-22, ...)
 *   cfg.json: policies[0].params.window: "7x" is not a duration (e.g. ...)
 */
#ifndef CG_TIME_H
#define CG_TIME_H

#include <stddef.h>
#include <stdint.h>

/* the longest duration, and the farthest a time may be from now: 10 years
 * of 365.25 days, rounded up to whole days */
#define CG_DURATION_MAX_SECS ((int64_t)3653 * 86400)

enum cg_time_err {
    CG_TIME_OK = 0,
    CG_TIME_EDURATION = -1, /* not a duration */
    CG_TIME_ELONG = -2,     /* a duration longer than 10 years */
    CG_TIME_ETIME = -3,     /* not a time */
    CG_TIME_EFAR = -4,      /* a time more than 10 years from now */
    CG_TIME_EAGE = -5,      /* a bare duration where a time is needed */
};

/* cg_parse_duration - a duration to seconds: 0 and *secs_r, or
 * CG_TIME_EDURATION (empty, negative, no digits, unknown unit, junk) or
 * CG_TIME_ELONG (well formed but above 10 years, however many digits). */
int cg_parse_duration(const char *s, int64_t *secs_r);
/* cg_duration_check - a number of seconds given as a number (a JSON
 * integer): CG_TIME_OK, CG_TIME_EDURATION (negative) or CG_TIME_ELONG. */
int cg_duration_check(long long secs);
/* cg_parse_time - a time (absolute, @epoch, -7d or +2h) to Unix seconds:
 * 0 and *ts_r, or CG_TIME_ETIME, CG_TIME_EFAR (more than 10 years before
 * or after now, including a relative offset too long to be a duration),
 * CG_TIME_EAGE (a bare duration such as "30d": ambiguous here). */
int cg_parse_time(const char *s, int64_t now, int64_t *ts_r);
/* cg_parse_since - as cg_parse_time, and a bare duration "30d" is that
 * long before now (for the start or end of a range in the past). */
int cg_parse_since(const char *s, int64_t now, int64_t *ts_r);
/* cg_time_why - the wording of a CG_TIME_E* code, to follow `NAME "VALUE" `
 * (e.g. "is not a duration (e.g. 90s, 30m, 48h, 7d, 2w)"); "" for 0. */
const char *cg_time_why(int err);

/* cg_format_time - RFC 3339 UTC ("2026-11-22T10:00:00Z") into buf. */
const char *cg_format_time(int64_t ts, char *buf, size_t len);
/* cg_format_duration - seconds as the duration cg_parse_duration reads
 * back, in the largest unit that is exact ("2w", "36h", "90s"). */
const char *cg_format_duration(int64_t secs, char *buf, size_t len);

/* cg_now - wall clock, seconds. Tests inject time through cg_msg.now. */
int64_t cg_now(void);

#endif
