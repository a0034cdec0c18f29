/*
 * cg_test.h - a minimal unit test harness: no framework, one header.
 *
 * CG_CHECK(cond) records a failure with file:line and goes on;
 * CG_CHECK_STR(a, b) compares strings (NULL-safe). Each test is a
 * function registered in main() with CG_RUN(fn). The binary prints one
 * line per failed check, "ok NAME" / "FAIL NAME" per test, and ends with
 * "NAME: N passed, N failed" (tests, not checks); exit status 1 if any
 * test failed.
 */
#ifndef CG_TEST_H
#define CG_TEST_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int cg_t_failed_checks;
static int cg_t_passed, cg_t_failed;

#define CG_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            cg_t_failed_checks++;                                             \
        }                                                                     \
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

#define CG_RUN(fn)                                                            \
    do {                                                                      \
        int cg_t_before = cg_t_failed_checks;                                 \
        fn();                                                                 \
        if (cg_t_failed_checks == cg_t_before) {                              \
            cg_t_passed++;                                                    \
            printf("ok %s\n", #fn);                                           \
        } else {                                                              \
            cg_t_failed++;                                                    \
            printf("FAIL %s\n", #fn);                                         \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

#define CG_DONE(name)                                                         \
    do {                                                                      \
        printf("%s: %d passed, %d failed\n", (name), cg_t_passed, cg_t_failed); \
        return cg_t_failed ? 1 : 0;                                           \
    } while (0)

#endif
