/*
 * cg_test.h - a minimal unit test harness: no framework, one header.
 *
 * CG_CHECK(cond) records a failure with file:line and goes on;
 * CG_CHECK_INT(got, want) and CG_CHECK_STR(got, want) say what they got
 * and what they wanted (NULL-safe); CG_REQUIRE(cond) records a failure and
 * returns from the test (a test that cannot go on never passes quietly);
 * CG_SKIP(why) ends a test as skipped, which is reported as a skip, never
 * as a pass. Each test is a function registered in main() with
 * CG_RUN(fn). The binary prints one line per failed check, "ok NAME" /
 * "FAIL NAME" / "skip NAME: why" per test, and ends with "NAME: N passed,
 * N failed" (tests, not checks; a "NAME: N skipped" line before it when
 * some were); exit status 1 if any test failed.
 */
#ifndef CG_TEST_H
#define CG_TEST_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <stdint.h>

static int cg_t_failed_checks;
static int cg_t_passed, cg_t_failed, cg_t_skipped;
static const char *cg_t_skip_why;

#define CG_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            cg_t_failed_checks++;                                             \
        }                                                                     \
    } while (0)

/* CG_CHECK_INT(got, want) - integers equal; prints both */
#define CG_CHECK_INT(a, b)                                                    \
    do {                                                                      \
        long long cg_t_a = (long long)(a), cg_t_b = (long long)(b);           \
        if (cg_t_a != cg_t_b) {                                               \
            fprintf(stderr, "  %s:%d: %s is %lld, expected %lld\n", __FILE__, \
                    __LINE__, #a, cg_t_a, cg_t_b);                            \
            cg_t_failed_checks++;                                             \
        }                                                                     \
    } while (0)

/* CG_REQUIRE(cond) - a check the rest of the test depends on */
#define CG_REQUIRE(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: required: %s (test stops here)\n",     \
                    __FILE__, __LINE__, #cond);                               \
            cg_t_failed_checks++;                                             \
            return;                                                           \
        }                                                                     \
    } while (0)

/* CG_SKIP(why) - this test cannot run here; say why (a string literal or a
 * string that outlives the test) */
#define CG_SKIP(why)                                                          \
    do {                                                                      \
        cg_t_skip_why = (why);                                                \
        return;                                                               \
    } while (0)

#define CG_CHECK_STR(a, b)                                                    \
    do {                                                                      \
        const char *cg_t_a = (a), *cg_t_b = (b);                              \
        if (!((cg_t_a == NULL && cg_t_b == NULL) ||                           \
              (cg_t_a && cg_t_b && strcmp(cg_t_a, cg_t_b) == 0))) {           \
            fprintf(stderr, "  %s:%d: %s is \"%s\", expected \"%s\"\n",       \
                    __FILE__, __LINE__, #a, cg_t_a ? cg_t_a : "(null)",       \
                    cg_t_b ? cg_t_b : "(null)");                              \
            cg_t_failed_checks++;                                             \
        }                                                                     \
    } while (0)

/* CG_CHECK_CONTAINS(hay, needle) - hay contains needle */
#define CG_CHECK_CONTAINS(a, b)                                               \
    do {                                                                      \
        const char *cg_t_a = (a), *cg_t_b = (b);                              \
        if (!(cg_t_a && strstr(cg_t_a, cg_t_b))) {                            \
            fprintf(stderr, "  %s:%d: %s is \"%s\", expected to contain \"%s\"\n", \
                    __FILE__, __LINE__, #a, cg_t_a ? cg_t_a : "(null)", cg_t_b); \
            cg_t_failed_checks++;                                             \
        }                                                                     \
    } while (0)

/* CG_RUN_NAMED(name, fn) - run fn() as the test called name (a test run
 * once per backend, say); CG_RUN(fn) names it after the function */
#define CG_RUN_NAMED(name, fn)                                                \
    do {                                                                      \
        int cg_t_before = cg_t_failed_checks;                                 \
        cg_t_skip_why = NULL;                                                 \
        fn();                                                                 \
        if (cg_t_failed_checks == cg_t_before && cg_t_skip_why) {             \
            cg_t_skipped++;                                                   \
            printf("skip %s: %s\n", (name), cg_t_skip_why);                   \
        } else if (cg_t_failed_checks == cg_t_before) {                       \
            cg_t_passed++;                                                    \
            printf("ok %s\n", (name));                                        \
        } else {                                                              \
            cg_t_failed++;                                                    \
            printf("FAIL %s\n", (name));                                      \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)
#define CG_RUN(fn) CG_RUN_NAMED(#fn, fn)

#define CG_DONE(name)                                                         \
    do {                                                                      \
        if (cg_t_skipped)                                                     \
            printf("%s: %d skipped\n", (name), cg_t_skipped);                 \
        printf("%s: %d passed, %d failed\n", (name), cg_t_passed, cg_t_failed); \
        return cg_t_failed ? 1 : 0;                                           \
    } while (0)

#endif
