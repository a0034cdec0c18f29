/*
 * cg_tz.c - calendar arithmetic in a time zone through ICU's ucal API.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "cg_tz.h"

/* Opening an ICU calendar (and checking its zone) costs far more than
 * using it, and evaluate() asks for the same zones for every message. The
 * calendars are not thread-safe, and the threads that ask are libmilter's,
 * one per MTA connection, which come and go with every SMTP session: so
 * idle calendars wait in one small pool of the process, each borrowed by
 * one caller at a time (cal_get) and given back (cal_put). */
#define CAL_POOL 32
struct cal_slot {
    char zone[80];
    UCalendar *cal;
};
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cal_slot pool[CAL_POOL];
static size_t n_pool;

/* open_cal - a new ICU calendar in zone; NULL for a zone ICU does not know */
static UCalendar *open_cal(const char *zone)
{
    UChar id[80];
    if (!zone || !*zone || strlen(zone) >= sizeof id / sizeof id[0])
        return NULL;
    u_uastrcpy(id, zone);
    UErrorCode st = U_ZERO_ERROR;
    UBool sys = 0;
    UChar canon[80];
    ucal_getCanonicalTimeZoneID(id, -1, canon, 80, &sys, &st);
    if (U_FAILURE(st) || !sys)
        return NULL;
    st = U_ZERO_ERROR;
    UCalendar *c = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        if (c)
            ucal_close(c);
        return NULL;
    }
    return c;
}

/* cal_get - a calendar in zone, the caller's alone until cal_put, reset to
 * the default attributes; NULL for an unknown zone */
static UCalendar *cal_get(const char *zone)
{
    if (!zone || strlen(zone) >= sizeof pool[0].zone)
        return NULL;
    UCalendar *c = NULL;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = n_pool; i-- > 0;)
        if (strcmp(pool[i].zone, zone) == 0) {
            c = pool[i].cal;
            pool[i] = pool[--n_pool];
            break;
        }
    pthread_mutex_unlock(&pool_lock);
    if (!c && !(c = open_cal(zone)))
        return NULL;
    ucal_setAttribute(c, UCAL_LENIENT, 1);
    ucal_setAttribute(c, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_LAST);
    ucal_setAttribute(c, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_LAST);
    return c;
}

/* cal_put - give a calendar of cal_get back (the oldest idle one goes when
 * the pool is full); NULL-safe */
static void cal_put(const char *zone, UCalendar *c)
{
    if (!c)
        return;
    UCalendar *drop = NULL;
    pthread_mutex_lock(&pool_lock);
    if (n_pool == CAL_POOL) {
        drop = pool[0].cal;
        memmove(&pool[0], &pool[1], (CAL_POOL - 1) * sizeof pool[0]);
        n_pool--;
    }
    snprintf(pool[n_pool].zone, sizeof pool[n_pool].zone, "%s", zone);
    pool[n_pool++].cal = c;
    pthread_mutex_unlock(&pool_lock);
    if (drop)
        ucal_close(drop);
}

int cg_tz_valid(const char *zone)
{
    UCalendar *c = cal_get(zone);
    cal_put(zone, c);
    return c != NULL;
}

/* to_midnight - move the calendar to the start of its local day */
static void to_midnight(UCalendar *c)
{
    ucal_set(c, UCAL_HOUR_OF_DAY, 0);
    ucal_set(c, UCAL_MINUTE, 0);
    ucal_set(c, UCAL_SECOND, 0);
    ucal_set(c, UCAL_MILLISECOND, 0);
}

int cg_tz_period(const char *zone, int unit, int64_t t, int64_t *start, int64_t *next)
{
    UCalendar *c = cal_get(zone);
    if (!c)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(c, (UDate)t * 1000.0, &st);
    to_midnight(c);
    if (unit == CG_TZ_MONTH) {
        ucal_set(c, UCAL_DATE, 1);
    } else if (unit == CG_TZ_WEEK) {
        int dow = ucal_get(c, UCAL_DAY_OF_WEEK, &st); /* 1 = Sunday */
        ucal_add(c, UCAL_DATE, -((dow + 5) % 7), &st);
        to_midnight(c);
    }
    UDate s = ucal_getMillis(c, &st);
    ucal_add(c, unit == CG_TZ_MONTH ? UCAL_MONTH : UCAL_DATE, unit == CG_TZ_WEEK ? 7 : 1, &st);
    to_midnight(c);
    UDate n = ucal_getMillis(c, &st);
    cal_put(zone, c);
    if (U_FAILURE(st))
        return -1;
    *start = (int64_t)(s / 1000.0);
    *next = (int64_t)(n / 1000.0);
    return 0;
}

int cg_tz_local(const char *zone, int64_t t, struct cg_tz_local *out)
{
    UCalendar *c = cal_get(zone);
    if (!c)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(c, (UDate)t * 1000.0, &st);
    out->year = ucal_get(c, UCAL_YEAR, &st);
    out->month = ucal_get(c, UCAL_MONTH, &st) + 1;
    out->day = ucal_get(c, UCAL_DATE, &st);
    out->weekday = (ucal_get(c, UCAL_DAY_OF_WEEK, &st) + 5) % 7; /* ICU: Sunday is 1 */
    out->hour = ucal_get(c, UCAL_HOUR_OF_DAY, &st);
    out->minute = ucal_get(c, UCAL_MINUTE, &st);
    out->second = ucal_get(c, UCAL_SECOND, &st);
    out->offset_secs = (ucal_get(c, UCAL_ZONE_OFFSET, &st) + ucal_get(c, UCAL_DST_OFFSET, &st)) /
                       1000;
    cal_put(zone, c);
    return U_FAILURE(st) ? -1 : 0;
}

int cg_tz_instant(const char *zone, int year, int month, int day, int minute_of_day,
                  int64_t *t_r)
{
    UCalendar *c = cal_get(zone);
    if (!c)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setAttribute(c, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
    ucal_setAttribute(c, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
    ucal_clear(c);
    ucal_setDateTime(c, year, month - 1, day, minute_of_day / 60, minute_of_day % 60, 0, &st);
    UDate ms = ucal_getMillis(c, &st);
    cal_put(zone, c);
    if (U_FAILURE(st))
        return -1;
    *t_r = (int64_t)(ms / 1000.0);
    return 0;
}

const char *cg_tz_duration_text(int64_t secs, char *buf, size_t len)
{
    static const struct {
        int64_t n;
        const char *name;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (secs >= units[i].n && secs % units[i].n == 0) {
            long long k = secs / units[i].n;
            snprintf(buf, len, "%lld %s%s", k, units[i].name, k == 1 ? "" : "s");
            return buf;
        }
    snprintf(buf, len, "%lld second%s", (long long)secs, secs == 1 ? "" : "s");
    return buf;
}
