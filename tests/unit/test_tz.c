/*
 * test_tz.c - calendar arithmetic in time zones (cg_tz.h): DST days of 23
 * and 25 hours, weeks from Monday, months, local times and instants in a
 * spring-forward gap; and the calendar pool: many threads at once, each
 * asking for several zones, get exactly what one thread alone gets, also
 * with more zones in use than the pool keeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cg_test.h"
#include "cg_tz.h"

#define HOUR 3600
/* 2026-03-29 00:00 in Europe/Berlin (CET, UTC+1): the spring-forward day */
static const int64_t BERLIN_SPRING = 1774738800;
/* 2026-10-25 00:00 in Europe/Berlin (CEST, UTC+2): the fall-back day */
static const int64_t BERLIN_FALL = 1792879200;

static void test_days(void)
{
    int64_t s, n;
    CG_REQUIRE(cg_tz_period("Europe/Berlin", CG_TZ_DAY, BERLIN_SPRING + 12 * HOUR, &s, &n) == 0);
    CG_CHECK_INT(s, BERLIN_SPRING);
    CG_CHECK_INT(n - s, 23 * HOUR);
    CG_REQUIRE(cg_tz_period("Europe/Berlin", CG_TZ_DAY, BERLIN_FALL + 12 * HOUR, &s, &n) == 0);
    CG_CHECK_INT(s, BERLIN_FALL);
    CG_CHECK_INT(n - s, 25 * HOUR);
    CG_CHECK(cg_tz_period("Mars/Olympus_Mons", CG_TZ_DAY, BERLIN_FALL, &s, &n) < 0);
    CG_CHECK(!cg_tz_valid("Mars/Olympus_Mons"));
    CG_CHECK(cg_tz_valid("America/New_York"));
}

static void test_week_month(void)
{
    int64_t s, n;
    /* Sunday 2026-03-29 belongs to the week from Monday 2026-03-23 */
    CG_REQUIRE(cg_tz_period("Europe/Berlin", CG_TZ_WEEK, BERLIN_SPRING + 12 * HOUR, &s, &n) == 0);
    CG_CHECK_INT(s, BERLIN_SPRING - 6 * 24 * HOUR);
    CG_CHECK_INT(n, BERLIN_SPRING + 23 * HOUR);
    CG_REQUIRE(cg_tz_period("Europe/Berlin", CG_TZ_MONTH, BERLIN_SPRING, &s, &n) == 0);
    struct cg_tz_local l;
    CG_REQUIRE(cg_tz_local("Europe/Berlin", s, &l) == 0);
    CG_CHECK(l.year == 2026 && l.month == 3 && l.day == 1 && l.hour == 0);
    CG_REQUIRE(cg_tz_local("Europe/Berlin", n, &l) == 0);
    CG_CHECK(l.year == 2026 && l.month == 4 && l.day == 1 && l.hour == 0);
}

static void test_local_instant(void)
{
    struct cg_tz_local l;
    CG_REQUIRE(cg_tz_local("Europe/Berlin", BERLIN_SPRING + 3 * HOUR, &l) == 0);
    CG_CHECK_INT(l.hour, 4); /* 02:00 CET does not exist: 03:00 UTC+1 is 04:00 CEST */
    CG_CHECK_INT(l.offset_secs, 2 * HOUR);
    CG_CHECK_INT(l.weekday, 6); /* Sunday */
    int64_t t;
    /* 02:30 on the spring-forward day is in the gap: the end of the gap */
    CG_REQUIRE(cg_tz_instant("Europe/Berlin", 2026, 3, 29, 2 * 60 + 30, &t) == 0);
    CG_CHECK_INT(t, BERLIN_SPRING + 2 * HOUR);
    CG_REQUIRE(cg_tz_instant("Asia/Tokyo", 2026, 3, 29, 0, &t) == 0);
    CG_CHECK_INT(t, BERLIN_SPRING + HOUR - 9 * HOUR);
}

/* the pool under threads: each thread asks for zones in its own order and
 * compares with what the main thread got alone */
static const char *const zones[] = {
    "Europe/Berlin",     "America/New_York", "Asia/Tokyo",      "Australia/Sydney",
    "Europe/London",     "America/Sao_Paulo", "Asia/Kolkata",   "Pacific/Auckland",
    "Africa/Cairo",      "America/Chicago",  "Europe/Paris",    "Asia/Shanghai",
    "America/Denver",    "Europe/Madrid",    "Asia/Dubai",      "America/Los_Angeles",
    "Europe/Rome",       "Asia/Singapore",   "Europe/Moscow",   "America/Toronto",
    "Europe/Warsaw",     "Asia/Seoul",       "Africa/Lagos",    "America/Mexico_City",
    "Europe/Athens",     "Asia/Jakarta",     "Europe/Helsinki", "America/Bogota",
    "Europe/Lisbon",     "Asia/Manila",      "Europe/Vienna",   "America/Lima",
    "Europe/Prague",     "Asia/Bangkok",     "Europe/Dublin",   "America/Halifax",
    "Europe/Stockholm",  "Asia/Karachi",     "Europe/Oslo",     "America/Anchorage",
};
#define N_ZONES (sizeof zones / sizeof zones[0])
#define N_THREADS 8
#define ROUNDS 300
static int64_t want_start[N_ZONES], want_next[N_ZONES];

static void *worker(void *arg)
{
    long id = (long)arg, bad = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (size_t k = 0; k < N_ZONES; k++) {
            size_t z = (k * 7 + (size_t)id * 13 + (size_t)r) % N_ZONES;
            int64_t s = 0, n = 0;
            if (cg_tz_period(zones[z], CG_TZ_DAY, BERLIN_FALL + 12 * HOUR, &s, &n) < 0 ||
                s != want_start[z] || n != want_next[z])
                bad++;
        }
    return (void *)bad;
}

static void test_threads(void)
{
    for (size_t z = 0; z < N_ZONES; z++)
        CG_REQUIRE(cg_tz_period(zones[z], CG_TZ_DAY, BERLIN_FALL + 12 * HOUR, &want_start[z],
                                &want_next[z]) == 0);
    /* the zones differ, so a calendar handed to two callers would show */
    CG_CHECK(want_start[0] != want_start[2]);
    pthread_t th[N_THREADS];
    for (long i = 0; i < N_THREADS; i++)
        CG_REQUIRE(pthread_create(&th[i], NULL, worker, (void *)i) == 0);
    long bad = 0;
    for (int i = 0; i < N_THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    CG_CHECK_INT(bad, 0);
}

int main(void)
{
    CG_RUN(test_days);
    CG_RUN(test_week_month);
    CG_RUN(test_local_instant);
    CG_RUN(test_threads);
    CG_DONE("test_tz");
}
