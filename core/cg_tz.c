/*
 * cg_tz.c - calendar periods in a time zone through ICU's ucal API.
 */
#include <stdio.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "cg_tz.h"

/* open_cal - an ICU calendar in zone; NULL for a zone ICU does not know */
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

int cg_tz_valid(const char *zone)
{
    UCalendar *c = open_cal(zone);
    if (c)
        ucal_close(c);
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
    UCalendar *c = open_cal(zone);
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
    ucal_close(c);
    if (U_FAILURE(st))
        return -1;
    *start = (int64_t)(s / 1000.0);
    *next = (int64_t)(n / 1000.0);
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
