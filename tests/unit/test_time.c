/*
 * test_time.c - the one parser of durations and times (cg_time.h): every
 * accepted form, the 10-year bounds on both sides, numbers too long for
 * 64 bits, junk, the wording of each error, and the plugins' duration
 * params (cg_param_duration), which must refuse what would overflow a
 * window's arithmetic and name the key.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cg_param.h"
#include "cg_plugin.h"
#include "cg_test.h"
#include "cg_time.h"

#define DAY 86400
#define MAX CG_DURATION_MAX_SECS
static const int64_t NOW = 1795305600; /* 2026-11-22T00:00:00Z */

/* dur - cg_parse_duration's code, and its value in *v */
static int dur(const char *s, int64_t *v)
{
    *v = -1;
    return cg_parse_duration(s, v);
}

static void test_duration_forms(void)
{
    int64_t v;
    CG_CHECK(dur("0", &v) == CG_TIME_OK && v == 0);
    CG_CHECK(dur("90", &v) == CG_TIME_OK && v == 90);
    CG_CHECK(dur("90s", &v) == CG_TIME_OK && v == 90);
    CG_CHECK(dur("30m", &v) == CG_TIME_OK && v == 1800);
    CG_CHECK(dur("48h", &v) == CG_TIME_OK && v == 172800);
    CG_CHECK(dur("7d", &v) == CG_TIME_OK && v == 7 * DAY);
    CG_CHECK(dur("2w", &v) == CG_TIME_OK && v == 14 * DAY);
    CG_CHECK(dur("007d", &v) == CG_TIME_OK && v == 7 * DAY);
}

static void test_duration_bounds(void)
{
    int64_t v;
    CG_CHECK(MAX == 3653LL * DAY);
    CG_CHECK(dur("3653d", &v) == CG_TIME_OK && v == MAX);
    CG_CHECK(dur("315619200", &v) == CG_TIME_OK && v == MAX);
    CG_CHECK(dur("315619201", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("3654d", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("521w", &v) == CG_TIME_OK && v == 521 * 7 * DAY);
    CG_CHECK(dur("522w", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("87673h", &v) == CG_TIME_ELONG);
    /* more digits than 64 bits hold: too long, never a wrapped number */
    CG_CHECK(dur("9223372036854775807", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("9223372036854775808s", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("99999999999999999999d", &v) == CG_TIME_ELONG);
    CG_CHECK(dur("999999999999999w", &v) == CG_TIME_ELONG);
    CG_CHECK(v == -1); /* untouched on error */
    CG_CHECK(cg_duration_check(0) == CG_TIME_OK);
    CG_CHECK(cg_duration_check(MAX) == CG_TIME_OK);
    CG_CHECK(cg_duration_check(MAX + 1) == CG_TIME_ELONG);
    CG_CHECK(cg_duration_check(LLONG_MAX) == CG_TIME_ELONG);
    CG_CHECK(cg_duration_check(-1) == CG_TIME_EDURATION);
    CG_CHECK(cg_duration_check(LLONG_MIN) == CG_TIME_EDURATION);
}

static void test_duration_junk(void)
{
    static const char *const junk[] = {"", "7x", "-5s", "+5s", "5dd", "d", " 5s", "5s ",
                                       "5 s", "1.5h", "0x10", "5S", "5D", "1e3", "5s5"};
    int64_t v;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int rc = dur(junk[i], &v);
        if (rc != CG_TIME_EDURATION)
            fprintf(stderr, "  \"%s\": %d\n", junk[i], rc);
        CG_CHECK(rc == CG_TIME_EDURATION);
    }
    CG_CHECK(cg_parse_duration(NULL, &v) == CG_TIME_EDURATION);
}

/* tm - cg_parse_time's code, and its value in *t */
static int tm(const char *s, int64_t *t)
{
    *t = -1;
    return cg_parse_time(s, NOW, t);
}

static void test_time_forms(void)
{
    int64_t t;
    CG_CHECK(tm("2026-11-22", &t) == CG_TIME_OK && t == NOW);
    CG_CHECK(tm("2026-11-22T10:00:00Z", &t) == CG_TIME_OK && t == NOW + 36000);
    CG_CHECK(tm("2026-11-22T10:00:05", &t) == CG_TIME_OK && t == NOW + 36005);
    CG_CHECK(tm("2026-11-22 10:00:05", &t) == CG_TIME_OK && t == NOW + 36005);
    CG_CHECK(tm("2026-11-22T10:30Z", &t) == CG_TIME_OK && t == NOW + 37800);
    CG_CHECK(tm("2026-11-22T10:30", &t) == CG_TIME_OK && t == NOW + 37800);
    CG_CHECK(tm("2026-11-22 10:30", &t) == CG_TIME_OK && t == NOW + 37800);
    CG_CHECK(tm("2024-02-29", &t) == CG_TIME_OK && t == 1709164800); /* a leap day */
    CG_CHECK(tm("@1700000000", &t) == CG_TIME_OK && t == 1700000000);
    CG_CHECK(tm("-7d", &t) == CG_TIME_OK && t == NOW - 7 * DAY);
    CG_CHECK(tm("+2h", &t) == CG_TIME_OK && t == NOW + 7200);
    CG_CHECK(tm("-0s", &t) == CG_TIME_OK && t == NOW);
    CG_CHECK(tm("+90", &t) == CG_TIME_OK && t == NOW + 90);
    /* a bare duration is ambiguous where a time is wanted ... */
    CG_CHECK(tm("30d", &t) == CG_TIME_EAGE);
    CG_CHECK(tm("90", &t) == CG_TIME_EAGE);
    /* ... and an age where a range in the past starts or ends */
    CG_CHECK(cg_parse_since("30d", NOW, &t) == CG_TIME_OK && t == NOW - 30 * DAY);
    CG_CHECK(cg_parse_since("2026-11-01", NOW, &t) == CG_TIME_OK && t == NOW - 21 * DAY);
    CG_CHECK(cg_parse_since("-1d", NOW, &t) == CG_TIME_OK && t == NOW - DAY);
    CG_CHECK(cg_parse_since("+1d", NOW, &t) == CG_TIME_OK && t == NOW + DAY);
}

static void test_time_bounds(void)
{
    int64_t t;
    /* 2036-11-22 is 3653 days after 2026-11-22 (2028, 2032, 2036 leap) */
    CG_CHECK(tm("2036-11-22", &t) == CG_TIME_OK && t == NOW + MAX);
    CG_CHECK(tm("2036-11-22T00:00:01Z", &t) == CG_TIME_EFAR);
    /* 2016-11-21 is 3653 days before it (2020, 2024 leap) */
    CG_CHECK(tm("2016-11-21", &t) == CG_TIME_OK && t == NOW - MAX);
    CG_CHECK(tm("2016-11-20T23:59:59Z", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("+3653d", &t) == CG_TIME_OK && t == NOW + MAX);
    CG_CHECK(tm("-3653d", &t) == CG_TIME_OK && t == NOW - MAX);
    CG_CHECK(tm("+3654d", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("-3654d", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("-99999999999999d", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("+9223372036854775807", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("@0", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("@99999999999999999999999999", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("9999-12-31", &t) == CG_TIME_EFAR);
    CG_CHECK(tm("1970-01-01", &t) == CG_TIME_EFAR);
    CG_CHECK(cg_parse_since("3654d", NOW, &t) == CG_TIME_EFAR);
    CG_CHECK(cg_parse_since("99999999999999999999d", NOW, &t) == CG_TIME_EFAR);
}

static void test_time_junk(void)
{
    static const char *const junk[] = {"", "yesterday", "2026-13-45", "2026-02-30",
                                       "2026-11-31", "2026-11-22T24:00", "2026-11-22T10:60",
                                       "2026-11-22x", "2026-11-22T", "26-11-22x", "@", "@-5",
                                       "@12a", "@ 5", "--7d", "-7x", "+", "-", "+-1d",
                                       "2026/11/22", "now"};
    int64_t t;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int rc = tm(junk[i], &t);
        if (rc != CG_TIME_ETIME)
            fprintf(stderr, "  \"%s\": %d\n", junk[i], rc);
        CG_CHECK(rc == CG_TIME_ETIME);
        CG_CHECK(cg_parse_since(junk[i], NOW, &t) == CG_TIME_ETIME);
    }
    CG_CHECK(cg_parse_time(NULL, NOW, &t) == CG_TIME_ETIME);
}

/* one wording per error, which a caller puts after NAME "VALUE" */
static void test_wording(void)
{
    CG_CHECK_STR(cg_time_why(CG_TIME_OK), "");
    CG_CHECK_CONTAINS(cg_time_why(CG_TIME_EDURATION), "is not a duration (e.g. 90s, 30m");
    CG_CHECK_CONTAINS(cg_time_why(CG_TIME_ELONG), "is longer than 10 years");
    CG_CHECK_CONTAINS(cg_time_why(CG_TIME_ETIME), "is not a time (use 2026-11-22");
    CG_CHECK_CONTAINS(cg_time_why(CG_TIME_EFAR), "is more than 10 years");
    CG_CHECK_CONTAINS(cg_time_why(CG_TIME_EAGE), "-30d is 30 days ago");
}

static void test_format(void)
{
    char b[32];
    CG_CHECK_STR(cg_format_duration(0, b, sizeof b), "0s");
    CG_CHECK_STR(cg_format_duration(90, b, sizeof b), "90s");
    CG_CHECK_STR(cg_format_duration(5400, b, sizeof b), "90m");
    CG_CHECK_STR(cg_format_duration(36 * 3600, b, sizeof b), "36h");
    CG_CHECK_STR(cg_format_duration(2 * DAY, b, sizeof b), "2d");
    CG_CHECK_STR(cg_format_duration(14 * DAY, b, sizeof b), "2w");
    CG_CHECK_STR(cg_format_duration(MAX, b, sizeof b), "3653d");
    /* what it writes reads back */
    static const int64_t some[] = {1, 59, 61, 3599, 3601, 86399, 86401, 8 * DAY, MAX};
    for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
        int64_t v;
        CG_CHECK(dur(cg_format_duration(some[i], b, sizeof b), &v) == 0 && v == some[i]);
    }
    CG_CHECK_STR(cg_format_time(NOW, b, sizeof b), "2026-11-22T00:00:00Z");
}

/* param - cg_param_duration on {"window": json}; its error in err */
static int param(const char *json, int64_t *v, char *err, size_t errlen)
{
    struct cg_param_arena *arena = NULL;
    struct cg_param_init pi = {.arena = &arena, .err = err, .errlen = errlen};
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cg_param *root = cg_param_root(&pi, j, "cfg.json: policies[0].params");
    int rc = cg_param_duration(root, "window", 1, v);
    json_decref(j);
    cg_param_arena_free(&arena);
    return rc;
}

/* the plugins' durations: bounded, refused naming the key */
static void test_param_duration(void)
{
    char err[512] = "";
    int64_t v = 0;
    CG_CHECK(param("{\"window\": \"7d\"}", &v, err, sizeof err) == CG_OK && v == 7 * DAY);
    CG_CHECK(param("{\"window\": 3600}", &v, err, sizeof err) == CG_OK && v == 3600);
    CG_CHECK(param("{\"window\": \"3653d\"}", &v, err, sizeof err) == CG_OK && v == MAX);
    CG_CHECK(param("{\"window\": \"9223372036854775807s\"}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_STR(err, "cfg.json: policies[0].params.window: \"9223372036854775807s\" is longer "
                      "than 10 years (3653d), the longest duration");
    CG_CHECK(param("{\"window\": 9223372036854775807}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_CONTAINS(err, "params.window: 9223372036854775807 is longer than 10 years");
    CG_CHECK(param("{\"window\": \"3654d\"}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_CONTAINS(err, "params.window: \"3654d\" is longer than 10 years");
    CG_CHECK(param("{\"window\": -5}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_CONTAINS(err, "params.window: -5 is not a duration");
    CG_CHECK(param("{\"window\": \"7x\"}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_CONTAINS(err, "params.window: \"7x\" is not a duration");
    CG_CHECK(param("{\"window\": 1.5}", &v, err, sizeof err) == CG_ERROR);
    CG_CHECK_CONTAINS(err, "params.window: 1.5 is not a duration");
}

int main(void)
{
    CG_RUN(test_duration_forms);
    CG_RUN(test_duration_bounds);
    CG_RUN(test_duration_junk);
    CG_RUN(test_time_forms);
    CG_RUN(test_time_bounds);
    CG_RUN(test_time_junk);
    CG_RUN(test_wording);
    CG_RUN(test_format);
    CG_RUN(test_param_duration);
    CG_DONE("test_time");
}
