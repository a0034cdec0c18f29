/*
 * cg_time.c - durations and times as people write them, bounded
 * (cg_time.h).
 *
 * Nothing here overflows: digits are accumulated only up to the bound, so
 * "99999999999999999999d" is "longer than 10 years", never a wrapped
 * number, and every time is checked against now before it is returned.
 */
#include "cg_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cg_util.h"

static const struct {
    char unit;
    int64_t secs;
} units[] = {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

/* digits - a run of decimal digits; *v_r saturates above limit (then
 * *big_r is set) instead of overflowing; returns the end of the run */
static const char *digits(const char *p, int64_t limit, int64_t *v_r, int *big_r)
{
    int64_t v = 0;
    int big = 0;
    for (; isdigit((unsigned char)*p); p++)
        if (!big && (v = v * 10 + (*p - '0')) > limit)
            big = 1;
    *v_r = v;
    *big_r = big;
    return p;
}

/* cg_parse_duration - "90", "90s", "30m", "48h", "7d", "2w" to seconds */
int cg_parse_duration(const char *s, int64_t *secs_r)
{
    if (!s || !isdigit((unsigned char)*s))
        return CG_TIME_EDURATION;
    int64_t v;
    int big;
    const char *p = digits(s, CG_DURATION_MAX_SECS, &v, &big);
    int64_t mult = 0;
    if (!*p)
        mult = 1;
    else if (!p[1])
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (*p == units[i].unit)
                mult = units[i].secs;
    if (!mult)
        return CG_TIME_EDURATION;
    if (big || v > CG_DURATION_MAX_SECS / mult)
        return CG_TIME_ELONG;
    *secs_r = v * mult;
    return CG_TIME_OK;
}

/* cg_duration_check - a duration given as a number of seconds */
int cg_duration_check(long long secs)
{
    if (secs < 0)
        return CG_TIME_EDURATION;
    return secs > CG_DURATION_MAX_SECS ? CG_TIME_ELONG : CG_TIME_OK;
}

/* absolute - a calendar date and time in UTC; a date that does not
 * exist (2026-02-30, 24:00) is refused rather than normalised */
static int absolute(const char *s, int64_t *ts_r)
{
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
                                       "%Y-%m-%d %H:%M:%S",  "%Y-%m-%dT%H:%MZ",
                                       "%Y-%m-%dT%H:%M",     "%Y-%m-%d %H:%M",
                                       "%Y-%m-%d"};
    if (!isdigit((unsigned char)*s))
        return CG_TIME_ETIME;
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm, norm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, fmts[i], &tm);
        if (!end || *end)
            continue;
        norm = tm;
        time_t t = timegm(&norm); /* normalises norm: Feb 30 becomes Mar 2 */
        if (t == (time_t)-1 || norm.tm_year != tm.tm_year || norm.tm_mon != tm.tm_mon ||
            norm.tm_mday != tm.tm_mday || norm.tm_hour != tm.tm_hour ||
            norm.tm_min != tm.tm_min || norm.tm_sec != tm.tm_sec)
            return CG_TIME_ETIME;
        *ts_r = (int64_t)t;
        return CG_TIME_OK;
    }
    return CG_TIME_ETIME;
}

/* parse_time - cg_parse_time, and bare durations as ages when `ago` */
static int parse_time(const char *s, int64_t now, int ago, int64_t *ts_r)
{
    if (!s || !*s)
        return CG_TIME_ETIME;
    int64_t t, d;
    int rc;
    if (*s == '@') {
        int big;
        const char *end = digits(s + 1, now + CG_DURATION_MAX_SECS, &t, &big);
        if (end == s + 1 || *end)
            return CG_TIME_ETIME;
        if (big)
            return CG_TIME_EFAR;
    } else if (*s == '-' || *s == '+') {
        if ((rc = cg_parse_duration(s + 1, &d)) != CG_TIME_OK)
            return rc == CG_TIME_ELONG ? CG_TIME_EFAR : CG_TIME_ETIME;
        t = *s == '-' ? now - d : now + d;
    } else if ((rc = cg_parse_duration(s, &d)) != CG_TIME_EDURATION) {
        if (!ago)
            return CG_TIME_EAGE;
        if (rc == CG_TIME_ELONG)
            return CG_TIME_EFAR;
        t = now - d;
    } else if ((rc = absolute(s, &t)) != CG_TIME_OK) {
        return rc;
    }
    if (t < now - CG_DURATION_MAX_SECS || t > now + CG_DURATION_MAX_SECS)
        return CG_TIME_EFAR;
    *ts_r = t;
    return CG_TIME_OK;
}

/* cg_parse_time - absolute (UTC), @epoch or relative time */
int cg_parse_time(const char *s, int64_t now, int64_t *ts_r)
{
    return parse_time(s, now, 0, ts_r);
}

/* cg_parse_since - as cg_parse_time; "30d" is 30 days ago */
int cg_parse_since(const char *s, int64_t now, int64_t *ts_r)
{
    return parse_time(s, now, 1, ts_r);
}

/* cg_time_why - the wording of an error code */
const char *cg_time_why(int err)
{
    switch (err) {
    case CG_TIME_OK:
        return "";
    case CG_TIME_EDURATION:
        return "is not a duration (e.g. 90s, 30m, 48h, 7d, 2w)";
    case CG_TIME_ELONG:
        return "is longer than 10 years (3653d), the longest duration";
    case CG_TIME_EFAR:
        return "is more than 10 years (3653d) before or after now";
    case CG_TIME_EAGE:
        return "is a duration, not a time: -30d is 30 days ago, +30d 30 days from now";
    default:
        return "is not a time (use 2026-11-22, 2026-11-22T10:00:00Z, @UNIXTIME, -7d or +2h)";
    }
}

/* cg_format_time - RFC 3339 UTC */
const char *cg_format_time(int64_t ts, char *buf, size_t len)
{
    time_t t = (time_t)ts;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        cg_strlcpy(buf, "?", len);
    return buf;
}

/* cg_format_duration - the largest exact unit */
const char *cg_format_duration(int64_t secs, char *buf, size_t len)
{
    size_t i = 0;
    while (secs && secs % units[i].secs)
        i++;
    if (!secs)
        i = sizeof units / sizeof units[0] - 1;
    snprintf(buf, len, "%lld%c", (long long)(secs / units[i].secs), units[i].unit);
    return buf;
}

/* cg_now - wall clock seconds */
int64_t cg_now(void)
{
    return (int64_t)time(NULL);
}
