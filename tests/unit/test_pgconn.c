/*
 * test_pgconn.c - tests of core/store/cg_pgconn.c against a real server.
 *
 * Self-contained: libpq, cg_pgconn.h and a local check macro. Built and run
 * by tests/e2e/test_pg_harness.sh against its private cluster:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -DCG_WITH_LIBPQ \
 *       -o test_pgconn tests/unit/test_pgconn.c core/store/cg_pgconn.c \
 *       $(pkg-config --cflags --libs libpq)
 *
 * Without -DCG_WITH_LIBPQ (the project's generic unit-test rule, which
 * links no libpq) it builds to a stub that reports 0 tests.
 *
 * Environment:
 *   CG_TEST_PG_URI            the server (a role that may create tables)
 *   CG_TEST_PG_URI_RW_SECOND  optional: standby first, primary second,
 *                             target_session_attrs=read-write
 *   CG_TEST_PG_URI_FAILOVER   optional: primary, standby, read-write
 *   CG_TEST_PG_ACTIONS=1      the harness serves actions: the program writes
 *                             "@@ ACTION" on stdout and waits for "ok" on
 *                             stdin (pause-standby, resume-standby,
 *                             pause-primary, resume-primary, stop-primary,
 *                             start-primary, restart-primary, kill-primary,
 *                             promote-standby)
 * Output: "ok NAME", "FAIL NAME" (failed checks before it), "skip NAME:
 * why", "# measured ..." lines, then "test_pgconn: N passed, N failed".
 */
#ifndef CG_WITH_LIBPQ
#include <stdio.h>

int main(void)
{
    printf("skip test_pgconn: built without libpq (see tests/pg/Makefile.frag)\n");
    printf("test_pgconn: 0 passed, 0 failed\n");
    return 0;
}
#else

#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../../core/store/cg_pgconn.h"

static int failed_checks, passed, failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            failed_checks++;                                                   \
        }                                                                      \
    } while (0)

/* CHECK_RC(rc, want) - with the error text when it fails */
#define CHECK_RC(rc, want, err)                                                \
    do {                                                                       \
        int rc_ = (rc);                                                        \
        if (rc_ != (want)) {                                                   \
            printf("  %s:%d: rc %s, expected %s: %s\n", __FILE__, __LINE__,   \
                   cg_pgconn_rc_name(rc_), cg_pgconn_rc_name(want), (err));    \
            failed_checks++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!(a_ && b_ && strcmp(a_, b_) == 0)) {                              \
            printf("  %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,       \
                   __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");      \
            failed_checks++;                                                   \
        }                                                                      \
    } while (0)

static void run(const char *name, void (*fn)(void))
{
    int before = failed_checks;

    fn();
    if (failed_checks == before) {
        passed++;
        printf("ok %s\n", name);
    } else {
        failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

#define RUN(fn) run(#fn, fn)

static const char *uri, *uri_rw_second, *uri_failover;
static int actions;
static char real_host[256], real_port[32], real_user[128], real_db[128];

static int64_t now_ms(void) { return cg_pgconn_now_ms(); }

static void sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t) (ms / 1000);
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* action - ask the harness to do something to the cluster; 0 when done */
static int action(const char *what)
{
    char line[256];

    printf("@@ %s\n", what);
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL)
        return -1;
    return strncmp(line, "ok", 2) == 0 ? 0 : -1;
}

static struct cg_pgconn *open_uri(const char *u, int backoff_min_ms)
{
    struct cg_pgconn *c = NULL;
    struct cg_pgconn_opts o = { 0 };
    char err[512];

    o.backoff_min_ms = backoff_min_ms;
    o.backoff_max_ms = backoff_min_ms * 4;
    if (cg_pgconn_new(u, &o, &c, err, sizeof err) != 0)
        printf("  cg_pgconn_new(%s): %s\n", u, err);
    return c;
}

/* one_value - run sql (no parameters) and return a copy of row 0 col 0 */
static char *one_value(struct cg_pgconn *c, const char *sql, int *rc_r)
{
    struct cg_pgres *r = NULL;
    char err[512];
    const char *v;
    char *out = NULL;
    int rc = cg_pgconn_exec(c, now_ms() + 5000, sql, 0, NULL, &r, err, sizeof err);

    if (rc_r)
        *rc_r = rc;
    if (rc != CG_PGCONN_OK)
        printf("  %s: %s: %s\n", sql, cg_pgconn_rc_name(rc), err);
    v = cg_pgres_value(r, 0, 0, 0);
    if (v)
        out = strdup(v);
    cg_pgres_free(&r);
    return out;
}

/* --- tests ------------------------------------------------------------------ */

static void test_new_bad_conninfo(void)
{
    struct cg_pgconn *c = (struct cg_pgconn *) 1;
    char err[256] = "";

    CHECK(cg_pgconn_new("host=x nosuchoption=1", NULL, &c, err, sizeof err) == -1);
    CHECK(c == NULL);
    CHECK(strstr(err, "nosuchoption") != NULL);
    CHECK(cg_pgconn_new("postgresql://[::1", NULL, &c, err, sizeof err) == -1);
    cg_pgconn_free(&c);
    cg_pgconn_free(NULL);
    CHECK(cg_pgconn_exec(NULL, 0, "SELECT 1", 0, NULL, NULL, err, sizeof err) == CG_PGCONN_MISUSE);
}

static void test_params(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    const char *nasty = "it's \\ a \"test\"; DROP TABLE x; -- $1 \xc3\xb1 \xe2\x82\xac";
    const char *params[2] = { nasty, NULL };
    int rc;

    CHECK(c != NULL);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT $1::text, $2::text IS NULL, octet_length($1)",
                        2, params, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK_STR(cg_pgres_value(r, 0, 0, 0), nasty);
    CHECK_STR(cg_pgres_value(r, 0, 0, 1), "t");
    CHECK(atoi(cg_pgres_value(r, 0, 0, 2) ? cg_pgres_value(r, 0, 0, 2) : "0") == (int) strlen(nasty));
    CHECK(cg_pgres_value(r, 0, 1, 0) == NULL); /* out of range */
    CHECK(cg_pgres_value(r, 1, 0, 0) == NULL);
    CHECK(cg_pgres_raw(r, 0) != NULL && PQntuples(cg_pgres_raw(r, 0)) == 1);
    cg_pgres_free(&r);
    CHECK(r == NULL);
    /* NULL comes back as NULL */
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT $1::text", 1, params + 1, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_ntuples(r, 0) == 1 && cg_pgres_value(r, 0, 0, 0) == NULL);
    cg_pgres_free(&r);
    /* invalid UTF-8 is the server's error, the connection stays */
    params[0] = "\xff\xfe";
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT $1::text", 1, params, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK_STR(cg_pgres_sqlstate(r, 0), "22021");
    cg_pgres_free(&r);
    CHECK(cg_pgconn_generation(c) == 1);
    cg_pgconn_free(&c);
    CHECK(c == NULL);
}

static void test_sql_error(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    char *v;
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT 1/0", 0, NULL, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_ERROR);
    CHECK_STR(cg_pgres_sqlstate(r, 0), "22012");
    CHECK(strstr(err, "22012") != NULL);
    cg_pgres_free(&r);
    v = one_value(c, "SELECT 41 + 1", &rc);
    CHECK_STR(v, "42");
    free(v);
    CHECK(cg_pgconn_generation(c) == 1);
    cg_pgconn_free(&c);
}

static void test_pipeline(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    const char *p1[] = { "1", "one" }, *p2[] = { "2", "two" }, *p3[] = { "3" };
    struct cg_pgconn_stmt s[3];
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "CREATE TEMP TABLE pipe_t (id bigint PRIMARY KEY, note text)",
                        0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);

    /* three statements, one sync */
    s[0] = (struct cg_pgconn_stmt){ "INSERT INTO pipe_t VALUES ($1::bigint, $2)", 2, p1, 0 };
    s[1] = (struct cg_pgconn_stmt){ "INSERT INTO pipe_t VALUES ($1::bigint, $2)", 2, p2, 0 };
    s[2] = (struct cg_pgconn_stmt){ "SELECT id, note FROM pipe_t ORDER BY id", 0, NULL, 0 };
    rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 3, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_count(r) == 3);
    CHECK(cg_pgres_affected(r, 0) == 1 && cg_pgres_affected(r, 1) == 1);
    CHECK(cg_pgres_ntuples(r, 2) == 2 && cg_pgres_nfields(r, 2) == 2);
    CHECK_STR(cg_pgres_value(r, 2, 1, 1), "two");
    cg_pgres_free(&r);

    /* an error in the middle: the first is rolled back, the third not run */
    s[0] = (struct cg_pgconn_stmt){ "INSERT INTO pipe_t VALUES ($1::bigint, 'three')", 1, p3, 0 };
    s[1] = (struct cg_pgconn_stmt){ "INSERT INTO pipe_t VALUES ($1::bigint, $2)", 2, p1, 0 };
    s[2] = (struct cg_pgconn_stmt){ "SELECT count(*) FROM pipe_t", 0, NULL, 0 };
    rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 3, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_OK);
    CHECK(cg_pgres_status(r, 1) == CG_PGRES_ERROR);
    CHECK_STR(cg_pgres_sqlstate(r, 1), "23505");
    CHECK(cg_pgres_status(r, 2) == CG_PGRES_ABORTED);
    CHECK(strncmp(err, "statement 1: 23505", 18) == 0);
    cg_pgres_free(&r);
    {
        char *v = one_value(c, "SELECT count(*) FROM pipe_t", &rc);

        CHECK_STR(v, "2");
        free(v);
    }

    /* an explicit transaction across calls */
    s[0] = (struct cg_pgconn_stmt){ "BEGIN", 0, NULL, 0 };
    s[1] = (struct cg_pgconn_stmt){ "INSERT INTO pipe_t VALUES ($1::bigint, 'three')", 1, p3, 0 };
    rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 2, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgconn_in_transaction(c) == 1);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "COMMIT", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgconn_in_transaction(c) == 0);
    CHECK(cg_pgconn_pipeline(c, now_ms() + 5000, s, 0, &r, err, sizeof err) == CG_PGCONN_MISUSE);
    CHECK(r == NULL);
    cg_pgconn_free(&c);
}

/* statements kept prepared: the Parse goes in the same pipeline, results
 * are the statements' own; a second use runs the prepared one; a text that
 * does not parse is the statement's error and is tried again next time; a
 * new connection prepares again */
static void test_prepared(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    const char *p1[] = { "41" }, *p2[] = { "42" };
    struct cg_pgconn_stmt s[3];
    int rc;

    for (int round = 0; round < 2; round++) {
        s[0] = (struct cg_pgconn_stmt){ "SELECT $1::int + 1", 1, p1, 1 };
        s[1] = (struct cg_pgconn_stmt){ "SELECT $1::int + 1", 1, p2, 1 };
        s[2] = (struct cg_pgconn_stmt){ "SELECT $1::int * 2", 1, p2, 0 };
        rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 3, &r, err, sizeof err);
        CHECK_RC(rc, CG_PGCONN_OK, err);
        CHECK(cg_pgres_count(r) == 3);
        CHECK_STR(cg_pgres_value(r, 0, 0, 0), "42");
        CHECK_STR(cg_pgres_value(r, 1, 0, 0), "43");
        CHECK_STR(cg_pgres_value(r, 2, 0, 0), "84");
        cg_pgres_free(&r);
    }
    {
        char *v = one_value(c, "SELECT count(*) FROM pg_prepared_statements", &rc);
        CHECK_STR(v, "1");
        free(v);
    }
    for (int round = 0; round < 2; round++) {
        s[0] = (struct cg_pgconn_stmt){ "SELEC $1::int", 1, p1, 1 };
        rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 1, &r, err, sizeof err);
        CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
        CHECK(cg_pgres_count(r) == 1 && cg_pgres_status(r, 0) == CG_PGRES_ERROR);
        CHECK_STR(cg_pgres_sqlstate(r, 0), "42601");
        cg_pgres_free(&r);
    }
    cg_pgconn_disconnect(c);
    s[0] = (struct cg_pgconn_stmt){ "SELECT $1::int + 1", 1, p1, 1 };
    rc = cg_pgconn_pipeline(c, now_ms() + 5000, s, 1, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK_STR(cg_pgres_value(r, 0, 0, 0), "42");
    cg_pgres_free(&r);
    cg_pgconn_free(&c);
}

static void test_notices(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    const struct cg_pgnotice *n;
    char err[512];
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "DO $$BEGIN RAISE WARNING 'cg-test-warning %', 42 "
                        "USING DETAIL = 'some detail'; RAISE NOTICE 'cg-test-notice'; END$$",
                        0, NULL, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_nnotices(r) == 2);
    n = cg_pgres_notice(r, 0);
    CHECK(n != NULL);
    if (n) {
        CHECK_STR(n->severity, "WARNING");
        CHECK_STR(n->sqlstate, "01000");
        CHECK_STR(n->message, "cg-test-warning 42");
        CHECK_STR(n->detail, "some detail");
    }
    n = cg_pgres_notice(r, 1);
    CHECK(n && strcmp(n->severity, "NOTICE") == 0 && strcmp(n->detail, "") == 0);
    CHECK(cg_pgres_notice(r, 2) == NULL);
    CHECK(!cg_pgres_syncrep_cancelled(r));
    cg_pgres_free(&r);
    /* the next call starts with none */
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT 1", 0, NULL, &r, err, sizeof err);
    CHECK(rc == CG_PGCONN_OK && cg_pgres_nnotices(r) == 0);
    cg_pgres_free(&r);
    /* more than fit: counted */
    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "DO $$BEGIN FOR i IN 1..40 LOOP RAISE WARNING 'w%', i; END LOOP; END$$",
                        0, NULL, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_nnotices(r) == CG_PGCONN_MAX_NOTICES);
    CHECK(cg_pgres_notices_dropped(r) == 40 - CG_PGCONN_MAX_NOTICES);
    CHECK_STR(cg_pgres_notice(r, 0) ? cg_pgres_notice(r, 0)->message : NULL, "w1");
    cg_pgres_free(&r);
    cg_pgconn_free(&c);
}

static void test_statement_deadline(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    struct cg_pgconn_stmt s[3];
    char err[512];
    int64_t t0, el;
    char *v;
    int rc;

    v = one_value(c, "SELECT 1", &rc); /* connected */
    free(v);
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 500, "SELECT pg_sleep(5)", 0, NULL, &r, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(el >= 490 && el < 500 + 1000);
    CHECK(cg_pgres_deadline_hit(r));
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_ERROR);
    CHECK_STR(cg_pgres_sqlstate(r, 0), "57014");
    printf("# measured: SELECT pg_sleep(5) with a 500 ms deadline returned timeout after %lld ms (%s)\n",
           (long long) el, err);
    cg_pgres_free(&r);
    CHECK(cg_pgconn_connected(c));
    v = one_value(c, "SELECT 'still usable'", &rc);
    CHECK_STR(v, "still usable");
    free(v);
    CHECK(cg_pgconn_generation(c) == 1);

    /* in a pipeline: done, cancelled, not run */
    s[0] = (struct cg_pgconn_stmt){ "SELECT 1", 0, NULL, 0 };
    s[1] = (struct cg_pgconn_stmt){ "SELECT pg_sleep(5)", 0, NULL, 0 };
    s[2] = (struct cg_pgconn_stmt){ "SELECT 3", 0, NULL, 0 };
    t0 = now_ms();
    rc = cg_pgconn_pipeline(c, t0 + 300, s, 3, &r, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(el < 300 + 1000);
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_OK);
    CHECK(cg_pgres_status(r, 1) == CG_PGRES_ERROR);
    CHECK(cg_pgres_status(r, 2) == CG_PGRES_ABORTED);
    cg_pgres_free(&r);
    v = one_value(c, "SELECT 'usable again'", &rc);
    CHECK_STR(v, "usable again");
    free(v);
    /* a deadline already past: nothing is sent */
    rc = cg_pgconn_exec(c, now_ms() - 1, "SELECT 1", 0, NULL, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(r == NULL);
    cg_pgconn_free(&c);
}

/* COPY ... FROM STDIN: text with every escape and NULL arrives as sent,
 * rows counted; no rows; several pieces; a row the server refuses names
 * its line and the connection stays (an explicit transaction is aborted,
 * as after any error); a COPY into nothing; no SQL */
static void test_copy(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    static const char rows[] =
        "1\ttab\\there\t\\N\n"
        "2\tback\\\\slash \\\\N new\\nline cr\\r\t\n"
        "3\tcaf\xc3\xa9 \xe2\x82\xac \"'\t\\\\.\n";
    char *v;
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "CREATE TEMP TABLE copy_t (id bigint PRIMARY KEY, a text, b text)",
                        0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", rows, strlen(rows), &r,
                        err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_count(r) == 1 && cg_pgres_status(r, 0) == CG_PGRES_OK);
    CHECK(cg_pgres_affected(r, 0) == 3);
    cg_pgres_free(&r);
    v = one_value(c, "SELECT string_agg(id || '=' || a || '|' || coalesce(b, 'NULL'), ';' "
                  "ORDER BY id) FROM copy_t", &rc);
    CHECK_STR(v, "1=tab\there|NULL;2=back\\slash \\N new\nline cr\r|;"
                 "3=caf\xc3\xa9 \xe2\x82\xac \"'|\\.");
    free(v);
    /* nothing to copy */
    rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", "", 0, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_affected(r, 0) == 0);
    cg_pgres_free(&r);
    /* 200,000 rows, about 6 MB: many pieces */
    {
        size_t cap = 200000 * 40, len = 0;
        char *big = malloc(cap);

        CHECK(big != NULL);
        for (int i = 0; big && i < 200000; i++)
            len += (size_t) snprintf(big + len, cap - len, "%d\trow %d of many\t\\N\n", 100 + i, i);
        rc = cg_pgconn_copy(c, now_ms() + 20000, "COPY copy_t FROM STDIN", big, len, &r, err,
                            sizeof err);
        CHECK_RC(rc, CG_PGCONN_OK, err);
        CHECK(cg_pgres_affected(r, 0) == 200000);
        cg_pgres_free(&r);
        free(big);
        v = one_value(c, "SELECT count(*) || ' ' || max(a) FROM copy_t WHERE id >= 100", &rc);
        CHECK_STR(v, "200000 row 99999 of many");
        free(v);
    }
    /* a bad row: the server's error with its line; nothing of it stays */
    {
        static const char bad[] = "7\tfine\t\\N\nseven\tbad\t\\N\n";

        rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", bad, strlen(bad), &r,
                            err, sizeof err);
    }
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK_STR(cg_pgres_sqlstate(r, 0), "22P02");
    CHECK(strstr(err, "COPY: 22P02") != NULL && strstr(err, "line 2") != NULL);
    printf("# a refused COPY row: %s\n", err);
    cg_pgres_free(&r);
    v = one_value(c, "SELECT count(*) FROM copy_t WHERE id = 7", &rc);
    CHECK_STR(v, "0");
    free(v);
    /* inside a transaction: aborted by the error, usable after ROLLBACK */
    rc = cg_pgconn_exec(c, now_ms() + 5000, "BEGIN", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", "8\ta\tb\n", 6, NULL, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgconn_in_transaction(c) == 1);
    rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", "8\ta\tb\n", 6, NULL, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK(strstr(err, "23505") != NULL);
    CHECK(cg_pgconn_in_transaction(c) == 1);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "ROLLBACK", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgconn_in_transaction(c) == 0);
    v = one_value(c, "SELECT count(*) FROM copy_t WHERE id = 8", &rc);
    CHECK_STR(v, "0");
    free(v);
    /* no such table; a statement that is no COPY; no SQL */
    rc = cg_pgconn_copy(c, now_ms() + 5000, "COPY no_such_t FROM STDIN", "1\n", 2, &r, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_SQL_ERROR, err);
    CHECK_STR(cg_pgres_sqlstate(r, 0), "42P01");
    cg_pgres_free(&r);
    rc = cg_pgconn_copy(c, now_ms() + 5000, "SELECT 1", "", 0, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK_STR(cg_pgres_value(r, 0, 0, 0), "1");
    cg_pgres_free(&r);
    CHECK(cg_pgconn_copy(c, now_ms() + 5000, NULL, "", 0, &r, err, sizeof err) == CG_PGCONN_MISUSE);
    CHECK(cg_pgconn_copy(c, now_ms() + 5000, "COPY copy_t FROM STDIN", NULL, 3, &r, err,
                         sizeof err) == CG_PGCONN_MISUSE);
    CHECK(r == NULL);
    CHECK(cg_pgconn_copy(NULL, now_ms() + 5000, "COPY copy_t FROM STDIN", "", 0, &r, err,
                         sizeof err) == CG_PGCONN_MISUSE);
    /* a pipeline after all of it */
    v = one_value(c, "SELECT 'still usable'", &rc);
    CHECK_STR(v, "still usable");
    free(v);
    CHECK(cg_pgconn_generation(c) == 1);
    cg_pgconn_free(&c);
}

/* COPY past its deadline: waiting for a lock before the data (a cancel
 * ends it), and with the server reading the data slower than it comes (a
 * trigger sleeps per row: the socket fills; the cancel and a CopyFail end
 * it); each TIMEOUT within the grace, the connection kept */
static void test_copy_deadline(void)
{
    struct cg_pgconn *c = open_uri(uri, 100), *locker = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    int64_t t0, el;
    char *v;
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000, "DROP TABLE IF EXISTS copy_slow", 0, NULL, NULL,
                        err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "CREATE TABLE copy_slow (id bigint, note text)", 0,
                        NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    /* a lock held elsewhere */
    rc = cg_pgconn_exec(locker, now_ms() + 5000, "BEGIN", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    rc = cg_pgconn_exec(locker, now_ms() + 5000, "LOCK TABLE copy_slow", 0, NULL, NULL, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    t0 = now_ms();
    rc = cg_pgconn_copy(c, t0 + 500, "COPY copy_slow FROM STDIN", "1\tx\n", 4, &r, err,
                        sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(cg_pgres_deadline_hit(r));
    CHECK_STR(cg_pgres_sqlstate(r, 0), "57014");
    CHECK(el >= 490 && el < 500 + 1000 + 1000);
    printf("# measured: COPY waiting for a lock, 500 ms deadline: timeout after %lld ms (%s)\n",
           (long long) el, err);
    cg_pgres_free(&r);
    rc = cg_pgconn_exec(locker, now_ms() + 5000, "ROLLBACK", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    v = one_value(c, "SELECT 'usable after a cancelled COPY'", &rc);
    CHECK_STR(v, "usable after a cancelled COPY");
    free(v);
    /* the server slower than the data */
    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END$$", 0, NULL, NULL, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    rc = cg_pgconn_exec(c, now_ms() + 5000,
                        "CREATE TRIGGER slow BEFORE INSERT ON copy_slow FOR EACH ROW "
                        "EXECUTE FUNCTION pg_temp.slow()", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    {
        size_t cap = 200000 * 80, len = 0;
        char *big = malloc(cap);

        CHECK(big != NULL);
        for (int i = 0; big && i < 200000; i++)
            len += (size_t) snprintf(big + len, cap - len,
                                     "%d\ta row the server takes its time over, %d\n", i, i);
        t0 = now_ms();
        rc = cg_pgconn_copy(c, t0 + 1000, "COPY copy_slow FROM STDIN", big, len, &r, err,
                            sizeof err);
        el = now_ms() - t0;
        free(big);
    }
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(cg_pgres_deadline_hit(r));
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_ERROR);
    CHECK(el >= 990 && el < 1000 + 1000 + 1000);
    printf("# measured: COPY of 15 MB into a table that takes 20 rows a second, 1000 ms "
           "deadline: timeout after %lld ms (%s: %s)\n", (long long) el,
           cg_pgres_sqlstate(r, 0), cg_pgres_errmsg(r, 0));
    cg_pgres_free(&r);
    CHECK(cg_pgconn_connected(c));
    v = one_value(c, "SELECT count(*) FROM copy_slow", &rc);
    CHECK_STR(v, "0");
    free(v);
    CHECK(cg_pgconn_generation(c) == 1);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "DROP TABLE copy_slow", 0, NULL, NULL, err,
                        sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    cg_pgconn_free(&locker);
    cg_pgconn_free(&c);
}

/* blackhole - a listening socket on 127.0.0.1 that never accepts: the
 * kernel completes a handshake or two, then nothing ever answers */
static int blackhole(int *port_r)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) != 0 || listen(fd, 0) != 0 ||
        getsockname(fd, (struct sockaddr *) &a, &len) != 0) {
        perror("blackhole");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port_r = ntohs(a.sin_port);
    return fd;
}

static void test_connect_deadline_and_backoff(void)
{
    int port = 0, fd = blackhole(&port);
    char ci[256], err[512];
    struct cg_pgconn *c;
    int64_t t0, el;
    int rc;

    CHECK(fd >= 0);
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=x dbname=x", port);
    c = open_uri(ci, 2000);
    CHECK(c != NULL);
    t0 = now_ms();
    rc = cg_pgconn_connect(c, t0 + 700, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(el >= 690 && el < 1000);
    CHECK(strstr(err, "timeout") != NULL);
    printf("# measured: connect to a blackhole with a 700 ms deadline: down after %lld ms (%s)\n",
           (long long) el, err);
    /* within the backoff delay: fails at once, with the last error */
    CHECK(cg_pgconn_retry_in_ms(c) > 0);
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 5000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(el < 50);
    CHECK(strstr(err, "not connecting for another") != NULL && strstr(err, "timeout") != NULL);
    printf("# measured: a call within the backoff delay failed after %lld ms: %s\n",
           (long long) el, err);
    cg_pgconn_free(&c);
    close(fd);
}

static void test_multihost_blackhole_first(void)
{
    int port = 0, fd = blackhole(&port);
    char u[1024], err[512];
    struct cg_pgconn *c;
    int64_t t0, el;
    int rc;

    CHECK(fd >= 0);
    /* a URI; the blackhole first, the real server second; 2 s per host */
    snprintf(u, sizeof u, "postgresql://%s@127.0.0.1:%d,%s:%s/%s?connect_timeout=2",
             real_user, port, real_host, real_port, real_db);
    c = open_uri(u, 100);
    CHECK(c != NULL);
    t0 = now_ms();
    rc = cg_pgconn_connect(c, t0 + 6000, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(el >= 1990 && el < 3500);
    CHECK_STR(cg_pgconn_port(c), real_port);
    printf("# measured: blackhole first, server second, connect_timeout=2: connected after %lld ms\n",
           (long long) el);
    cg_pgconn_free(&c);
    /* an overall deadline shorter than the per-host budget wins */
    c = open_uri(u, 100);
    t0 = now_ms();
    rc = cg_pgconn_connect(c, t0 + 800, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(el < 1200);
    cg_pgconn_free(&c);
    /* no connect_timeout: the first host gets half of the 2 s deadline */
    snprintf(u, sizeof u, "postgresql://%s@127.0.0.1:%d,%s:%s/%s",
             real_user, port, real_host, real_port, real_db);
    c = open_uri(u, 100);
    t0 = now_ms();
    rc = cg_pgconn_connect(c, t0 + 2000, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(el >= 990 && el < 1800);
    printf("# measured: blackhole first, no connect_timeout, 2 s deadline: connected after %lld ms\n",
           (long long) el);
    cg_pgconn_free(&c);
    close(fd);
}

static void test_read_write_second(void)
{
    struct cg_pgconn *c;
    char *v;
    int rc;

    if (uri_rw_second == NULL) {
        printf("skip test_read_write_second: CG_TEST_PG_URI_RW_SECOND not set\n");
        return;
    }
    c = open_uri(uri_rw_second, 100);
    v = one_value(c, "SELECT pg_is_in_recovery()::text || ' ' || inet_server_port()", &rc);
    CHECK_RC(rc, CG_PGCONN_OK, "");
    CHECK(v != NULL && strncmp(v, "false ", 6) == 0);
    CHECK_STR(cg_pgconn_port(c), real_port);
    free(v);
    cg_pgconn_free(&c);
}

static void test_terminated_mid_call(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    char *v;
    int rc;

    v = one_value(c, "SELECT 1", &rc);
    free(v);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT pg_terminate_backend(pg_backend_pid())",
                        0, NULL, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(!cg_pgconn_connected(c));
    printf("# measured: backend terminated during the call: %s\n", err);
    cg_pgres_free(&r);
    /* the next call connects at once (no backoff for the first attempt) */
    v = one_value(c, "SELECT 'back'", &rc);
    CHECK_STR(v, "back");
    free(v);
    CHECK(cg_pgconn_generation(c) == 2);
    cg_pgconn_free(&c);
}

/* wait_gone - until backend pid has left pg_stat_activity (2 s at most) */
static void wait_gone(struct cg_pgconn *c2, const char *pid)
{
    const char *p[1] = { pid };

    for (int i = 0; i < 200; i++) {
        struct cg_pgres *r = NULL;
        char err[256];
        int rc = cg_pgconn_exec(c2, now_ms() + 2000,
                                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
                                1, p, &r, err, sizeof err);
        int gone = rc == CG_PGCONN_OK && strcmp(cg_pgres_value(r, 0, 0, 0), "0") == 0;

        cg_pgres_free(&r);
        if (gone)
            return;
        sleep_ms(10);
    }
}

static void test_lost_inside_transaction(void)
{
    struct cg_pgconn *c = open_uri(uri, 100), *c2 = open_uri(uri, 100);
    char err[512];
    char *pid, *v;
    const char *p[1];
    int rc;

    rc = cg_pgconn_exec(c, now_ms() + 5000, "BEGIN", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    pid = one_value(c, "SELECT pg_backend_pid()", &rc);
    CHECK(pid != NULL && cg_pgconn_in_transaction(c));
    p[0] = pid ? pid : "0";
    rc = cg_pgconn_exec(c2, now_ms() + 5000, "SELECT pg_terminate_backend($1::int)", 1, p,
                        NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    wait_gone(c2, p[0]);
    rc = cg_pgconn_exec(c, now_ms() + 5000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(strstr(err, "inside a transaction") != NULL);
    printf("# measured: connection terminated inside a transaction: %s\n", err);
    v = one_value(c, "SELECT 'new connection'", &rc);
    CHECK_STR(v, "new connection");
    CHECK(cg_pgconn_generation(c) == 2);
    free(v);
    free(pid);
    cg_pgconn_free(&c);
    cg_pgconn_free(&c2);
}

/* --- with the harness: synchronous standby, restarts, failover --------------- */

static void setup_table(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    char err[512];
    int rc = cg_pgconn_exec(c, now_ms() + 5000,
                            "CREATE TABLE IF NOT EXISTS pgconn_t (id bigint PRIMARY KEY, note text)",
                            0, NULL, NULL, err, sizeof err);

    CHECK_RC(rc, CG_PGCONN_OK, err);
    cg_pgconn_free(&c);
}

struct canceller {
    char pid[32];
    int delay_ms;
};

static void *cancel_later(void *arg)
{
    struct canceller *k = arg;
    struct cg_pgconn *c = open_uri(uri, 100);
    const char *p[1] = { k->pid };
    char err[256];

    sleep_ms(k->delay_ms);
    cg_pgconn_exec(c, now_ms() + 3000, "SELECT pg_cancel_backend($1::int)", 1, p, NULL, err,
                   sizeof err);
    cg_pgconn_free(&c);
    return NULL;
}

static void test_hung_standby(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    const struct cg_pgnotice *n;
    const char *p[1];
    char err[512];
    char *v, *pid;
    int64_t t0, el;
    int rc;

    setup_table();
    pid = one_value(c, "SELECT pg_backend_pid()", &rc);
    CHECK(action("pause-standby") == 0);

    /* our deadline ends the wait; the row committed locally all the same */
    p[0] = "1001";
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 500, "INSERT INTO pgconn_t VALUES ($1::bigint, 'hung standby')",
                        1, p, &r, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(el >= 490 && el < 500 + 1000);
    CHECK(cg_pgres_status(r, 0) == CG_PGRES_OK); /* the INSERT's result came before the commit */
    CHECK(cg_pgres_syncrep_cancelled(r));
    n = cg_pgres_notice(r, 0);
    CHECK(n != NULL);
    if (n) {
        CHECK_STR(n->severity, "WARNING");
        CHECK_STR(n->message, "canceling wait for synchronous replication due to user request");
        CHECK(strstr(n->detail, "committed locally") != NULL);
        printf("# measured: INSERT with a 500 ms deadline, standby stopped: %s after %lld ms; "
               "notice %s %s: %s / %s\n", cg_pgconn_rc_name(rc), (long long) el,
               n->severity, n->sqlstate, n->message, n->detail);
    }
    cg_pgres_free(&r);
    v = one_value(c, "SELECT count(*) FROM pgconn_t WHERE id = 1001", &rc);
    CHECK_STR(v, "1"); /* visible on the primary: committed locally */
    free(v);

    /* the server's statement_timeout does not end the wait: our deadline does */
    rc = cg_pgconn_exec(c, now_ms() + 2000, "SET statement_timeout = '200ms'", 0, NULL, NULL,
                        err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    p[0] = "1002";
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 1500, "INSERT INTO pgconn_t VALUES ($1::bigint, 'timeout 200ms')",
                        1, p, &r, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(el >= 1490);
    CHECK(cg_pgres_syncrep_cancelled(r));
    printf("# measured: with statement_timeout = 200ms the commit still waited until our "
           "1500 ms deadline (%lld ms)\n", (long long) el);
    cg_pgres_free(&r);
    rc = cg_pgconn_exec(c, now_ms() + 2000, "RESET statement_timeout", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);

    /* someone else cancels the wait: libpq says success, we say not replicated */
    {
        struct canceller k;
        pthread_t t;

        snprintf(k.pid, sizeof k.pid, "%s", pid ? pid : "0");
        k.delay_ms = 300;
        CHECK(pthread_create(&t, NULL, cancel_later, &k) == 0);
        p[0] = "1003";
        t0 = now_ms();
        rc = cg_pgconn_exec(c, t0 + 5000, "INSERT INTO pgconn_t VALUES ($1::bigint, 'cancelled')",
                            1, p, &r, err, sizeof err);
        el = now_ms() - t0;
        pthread_join(t, NULL);
        CHECK_RC(rc, CG_PGCONN_NOT_REPLICATED, err);
        CHECK(!cg_pgres_deadline_hit(r) && cg_pgres_syncrep_cancelled(r));
        CHECK(PQresultStatus(cg_pgres_raw(r, 0)) == PGRES_COMMAND_OK);
        printf("# measured: wait cancelled by another session after %lld ms: %s (%s)\n",
               (long long) el, cg_pgconn_rc_name(rc), err);
        cg_pgres_free(&r);
    }
    CHECK(action("resume-standby") == 0);
    /* and commits are synchronous again */
    p[0] = "1004";
    rc = cg_pgconn_exec(c, now_ms() + 5000, "INSERT INTO pgconn_t VALUES ($1::bigint, 'resumed')",
                        1, p, &r, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    CHECK(cg_pgres_nnotices(r) == 0);
    cg_pgres_free(&r);
    free(pid);
    cg_pgconn_free(&c);
}

static void test_server_hangs(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    struct cg_pgres *r = NULL;
    char err[512];
    char *v;
    int64_t t0, el;
    int rc;

    v = one_value(c, "SELECT 1", &rc);
    free(v);
    /* every process of the server stopped: the kernel still accepts TCP
     * connections (so PQcancel connects, sends, and waits forever for an
     * answer), nothing else happens */
    CHECK(action("pause-primary") == 0);
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 500, "SELECT 1", 0, NULL, &r, err, sizeof err);
    el = now_ms() - t0;
    CHECK(action("resume-primary") == 0);
    CHECK_RC(rc, CG_PGCONN_TIMEOUT, err);
    CHECK(el >= 500 + 1000 - 10 && el < 500 + 1000 + 300); /* deadline + cancel grace */
    CHECK(strstr(err, "connection dropped") != NULL);
    CHECK(!cg_pgconn_connected(c));
    printf("# measured: server stopped (SIGSTOP) during a call with a 500 ms deadline: %s after "
           "%lld ms: %s\n", cg_pgconn_rc_name(rc), (long long) el, err);
    cg_pgres_free(&r);
    v = one_value(c, "SELECT 'reconnected'", &rc);
    CHECK_STR(v, "reconnected");
    CHECK(cg_pgconn_generation(c) == 2);
    free(v);
    cg_pgconn_free(&c);
}

static void test_restart(void)
{
    struct cg_pgconn *c = open_uri(uri, 100);
    char *v;
    int rc;
    int64_t t0;

    v = one_value(c, "SELECT 1", &rc);
    free(v);
    CHECK(cg_pgconn_generation(c) == 1);
    CHECK(action("restart-primary") == 0);
    /* the idle connection was closed by the restart: found before sending,
     * replaced in the same call */
    t0 = now_ms();
    v = one_value(c, "SELECT 'after restart'", &rc);
    CHECK_RC(rc, CG_PGCONN_OK, "");
    CHECK_STR(v, "after restart");
    CHECK(cg_pgconn_generation(c) == 2);
    printf("# measured: first call after a restart reconnected and ran in %lld ms\n",
           (long long) (now_ms() - t0));
    free(v);
    cg_pgconn_free(&c);
}

static void test_down_and_backoff(void)
{
    struct cg_pgconn *c = open_uri(uri, 1500);
    char err[512];
    char *v;
    int rc;
    int64_t t0, el, wait;

    v = one_value(c, "SELECT 1", &rc);
    free(v);
    CHECK(action("stop-primary") == 0);
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 2000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(el < 1000);
    printf("# measured: server stopped: down after %lld ms: %s\n", (long long) el, err);
    t0 = now_ms();
    rc = cg_pgconn_exec(c, t0 + 2000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    el = now_ms() - t0;
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(el < 50);
    CHECK(strstr(err, "not connecting for another") != NULL);
    wait = cg_pgconn_retry_in_ms(c);
    CHECK(wait > 0 && wait <= 1500);
    CHECK(action("start-primary") == 0);
    sleep_ms(cg_pgconn_retry_in_ms(c) + 10);
    v = one_value(c, "SELECT 'resumed'", &rc);
    CHECK_STR(v, "resumed");
    CHECK(cg_pgconn_retry_in_ms(c) == 0);
    free(v);
    cg_pgconn_free(&c);
}

static void test_failover(void)
{
    struct cg_pgconn *c;
    char err[512], id[32];
    const char *p[1] = { id };
    char *v;
    int rc, acked = 0;
    int64_t t0, t_first = 0;

    if (uri_failover == NULL) {
        printf("skip test_failover: CG_TEST_PG_URI_FAILOVER not set\n");
        return;
    }
    setup_table();
    c = open_uri(uri_failover, 200);
    for (int i = 1; i <= 50; i++) {
        snprintf(id, sizeof id, "%d", 2000 + i);
        rc = cg_pgconn_exec(c, now_ms() + 3000, "INSERT INTO pgconn_t VALUES ($1::bigint, 'acked')",
                            1, p, NULL, err, sizeof err);
        acked += rc == CG_PGCONN_OK;
    }
    CHECK(acked == 50);
    CHECK(action("kill-primary") == 0);
    rc = cg_pgconn_exec(c, now_ms() + 3000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    /* the standby is still read-only: skipped by target_session_attrs */
    sleep_ms(cg_pgconn_retry_in_ms(c) + 10);
    rc = cg_pgconn_exec(c, now_ms() + 3000, "SELECT 1", 0, NULL, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_DOWN, err);
    CHECK(strstr(err, "read-only") != NULL);
    printf("# measured: primary killed, standby not promoted: %s\n", err);
    CHECK(action("promote-standby") == 0);
    t0 = now_ms();
    for (int i = 0; i < 100; i++) {
        v = one_value(c, "SELECT count(*) FROM pgconn_t WHERE id > 2000 AND id <= 2050", &rc);
        if (rc == CG_PGCONN_OK) {
            t_first = now_ms() - t0;
            CHECK_STR(v, "50");
            free(v);
            break;
        }
        free(v);
        sleep_ms(cg_pgconn_retry_in_ms(c) + 10);
    }
    CHECK(rc == CG_PGCONN_OK);
    CHECK(cg_pgconn_port(c) != NULL && strcmp(cg_pgconn_port(c), real_port) != 0);
    snprintf(id, sizeof id, "%d", 3000);
    rc = cg_pgconn_exec(c, now_ms() + 3000, "INSERT INTO pgconn_t VALUES ($1::bigint, 'new primary')",
                        1, p, NULL, err, sizeof err);
    CHECK_RC(rc, CG_PGCONN_OK, err);
    printf("# measured: after promotion the failover URI reached the new primary (port %s) in "
           "%lld ms; 50 of 50 acknowledged rows there\n", cg_pgconn_port(c) ? cg_pgconn_port(c) : "?",
           (long long) t_first);
    cg_pgconn_free(&c);
}

/* real_server - host, port, user, database of CG_TEST_PG_URI */
static int real_server(void)
{
    char *perr = NULL;
    PQconninfoOption *o = PQconninfoParse(uri, &perr), *p;

    if (o == NULL) {
        printf("CG_TEST_PG_URI: %s\n", perr ? perr : "cannot parse");
        PQfreemem(perr);
        return -1;
    }
    for (p = o; p->keyword; p++) {
        if (p->val == NULL)
            continue;
        if (strcmp(p->keyword, "host") == 0)
            snprintf(real_host, sizeof real_host, "%s", p->val);
        else if (strcmp(p->keyword, "port") == 0)
            snprintf(real_port, sizeof real_port, "%s", p->val);
        else if (strcmp(p->keyword, "user") == 0)
            snprintf(real_user, sizeof real_user, "%s", p->val);
        else if (strcmp(p->keyword, "dbname") == 0)
            snprintf(real_db, sizeof real_db, "%s", p->val);
    }
    PQconninfoFree(o);
    return real_host[0] && real_port[0] ? 0 : -1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    uri = getenv("CG_TEST_PG_URI");
    uri_rw_second = getenv("CG_TEST_PG_URI_RW_SECOND");
    uri_failover = getenv("CG_TEST_PG_URI_FAILOVER");
    actions = getenv("CG_TEST_PG_ACTIONS") && strcmp(getenv("CG_TEST_PG_ACTIONS"), "1") == 0;
    if (uri == NULL || *uri == '\0') {
        printf("skip test_pgconn: CG_TEST_PG_URI not set\n");
        printf("test_pgconn: 0 passed, 0 failed\n");
        return 0;
    }
    if (real_server() != 0) {
        printf("CG_TEST_PG_URI needs a host and a port\n");
        printf("test_pgconn: 0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_new_bad_conninfo);
    RUN(test_params);
    RUN(test_sql_error);
    RUN(test_pipeline);
    RUN(test_prepared);
    RUN(test_notices);
    RUN(test_statement_deadline);
    RUN(test_copy);
    RUN(test_copy_deadline);
    RUN(test_connect_deadline_and_backoff);
    RUN(test_multihost_blackhole_first);
    RUN(test_read_write_second);
    RUN(test_terminated_mid_call);
    RUN(test_lost_inside_transaction);
    if (actions) {
        RUN(test_hung_standby);
        RUN(test_server_hangs);
        RUN(test_restart);
        RUN(test_down_and_backoff);
        RUN(test_failover);
    } else {
        printf("skip test_hung_standby, test_server_hangs, test_restart, test_down_and_backoff, test_failover: "
               "CG_TEST_PG_ACTIONS not set\n");
    }
    printf("test_pgconn: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
#endif /* CG_WITH_LIBPQ */
