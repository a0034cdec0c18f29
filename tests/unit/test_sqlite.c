/*
 * test_sqlite.c - what is the SQLite backend's own: the file (WAL,
 * read-only, a newer schema refused, migrations from old files), the
 * durability pragmas, background maintenance (WAL checkpoints), waiting
 * for another connection's lock, and noticing that the file went away.
 * The interface every backend shares is tested in test_store.c.
 */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_sqlite_int.h" /* the connection, to read its pragmas */
#include "cg_store.h"
#include "cg_test.h"
#include "cg_util.h"

#define T0 1795000000LL
#define DAY 86400LL

static char tmpdir[PATH_MAX];

static int count_cb(const struct cg_contact_row *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static void add_contact(cg_store *st, const char *customer, int64_t ts)
{
    struct cg_contact_row c = {.ts = ts, .customer = customer, .department = "d",
                               .category = "x.y", .channel = "email", .weight = 1};
    CG_CHECK_INT(cg_store_contact_add(st, &c), 0);
}

/* one integer from a query on a connection of its own */
static long long query_int(const char *path, const char *q)
{
    sqlite3 *db;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

/* file store: WAL, survives reopen; read-only open sees the data; a newer
 * schema is refused, not touched; junk and missing directories are named */
static void test_open_reopen_versions(void)
{
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/h.db", tmpdir);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    CG_CHECK_STR(cg_store_backend(st), "sqlite");
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    add_contact(st, "C-1", T0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    cg_store_free(&st);

    sqlite3 *db;
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    CG_CHECK(sqlite3_step(s) == SQLITE_ROW);
    CG_CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    st = cg_store_open(path, CG_STORE_READONLY, err, sizeof err);
    CG_REQUIRE(st);
    int n = 0;
    CG_CHECK_INT(cg_store_contacts(st, "C-1", 0, INT64_MAX, count_cb, &n), 0);
    CG_CHECK_INT(n, 1);
    struct cg_contact_row c = {.ts = T0, .customer = "C-1", .department = "d", .category = "x"};
    CG_CHECK_INT(cg_store_contact_add(st, &c), -1); /* read-only really is */
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "readonly");
    CG_CHECK_CONTAINS(cg_store_errmsg(st), path); /* the message names the file */
    cg_store_free(&st);

    /* NO_CREATE: a database that is not there is not started afresh */
    char gone[PATH_MAX + 16];
    snprintf(gone, sizeof gone, "%s/never.db", tmpdir);
    st = cg_store_open(gone, CG_STORE_NO_CREATE, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK(access(gone, F_OK) != 0);

    /* a database from a newer contactgate is refused with a clear error */
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "schema version 99 is newer than this contactgate");
    CG_CHECK_INT(query_int(path, "PRAGMA user_version"), 99);

    snprintf(path, sizeof path, "%s/junk.db", tmpdir);
    FILE *fp = fopen(path, "w");
    fputs("this is not an SQLite file, just some text long enough to matter\n", fp);
    fclose(fp);
    st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "junk.db");
    st = cg_store_open("/nonexistent/dir/h.db", 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "database /nonexistent/dir/h.db");
}

/* durability: synchronous=NORMAL by default, FULL with CG_STORE_SYNC_FULL */
static void test_durability(void)
{
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/sync.db", tmpdir);
    for (int full = 0; full <= 1; full++) {
        cg_store *st = cg_store_open(path, full ? CG_STORE_SYNC_FULL : 0, err, sizeof err);
        CG_REQUIRE(st);
        sqlite3_stmt *q = NULL;
        CG_CHECK(sqlite3_prepare_v2(sq_of(st)->db, "PRAGMA synchronous", -1, &q, NULL) ==
                 SQLITE_OK);
        CG_CHECK(q && sqlite3_step(q) == SQLITE_ROW);
        CG_CHECK_INT(sqlite3_column_int(q, 0), full ? 2 : 1); /* FULL : NORMAL */
        sqlite3_finalize(q);
        cg_store_free(&st);
    }
}

/* maintenance: the writer never checkpoints in its commits; a maintainer
 * pass copies the WAL; asked for, the writer's step restarts it */
static void test_maintenance(void)
{
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/maint.db", tmpdir);
    cg_store *w = cg_store_open(path, CG_STORE_WRITER, err, sizeof err);
    CG_REQUIRE(w);
    cg_store *m = cg_store_open(path, CG_STORE_MAINTAINER, err, sizeof err);
    CG_REQUIRE(m);
    for (int i = 0; i < 50; i++)
        add_contact(w, "ann", T0);
    int frames = -1, left = -1;
    CG_CHECK_INT(cg_sqlite_checkpoint(sq_of(m), CG_SQ_CKPT_PASSIVE, &frames, &left), 0);
    CG_CHECK(frames > 0); /* no autocheckpoint: the commits were in the WAL */
    CG_CHECK_INT(left, 0);
    struct cg_store_maint mt;
    CG_CHECK_INT(cg_store_maintain(m, &mt), 0);
    CG_CHECK_INT(mt.writer_step, 0); /* a small WAL needs no restart */
    CG_CHECK_INT(cg_store_writer_step(w), 0);
    int n = 0;
    CG_CHECK_INT(cg_store_contacts(m, "ann", T0, T0 + 1, count_cb, &n), 0);
    CG_CHECK_INT(n, 50);
    cg_store_free(&m);
    cg_store_free(&w);
}

/* holder - another process's transaction: holds the write lock, commits
 * after 100 ms */
static void *holder(void *arg)
{
    sqlite3 *db = arg;
    struct timespec d = {0, 100 * 1000000L};
    nanosleep(&d, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* locks: a write lock another connection holds for a while is waited for
 * (the store's own busy handler), not an error; a restart that must not
 * wait gives up quietly while a reader holds the WAL, and the data stay */
static void test_lock_waits(void)
{
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/lock.db", tmpdir);
    cg_store *st = cg_store_open(path, CG_STORE_WRITER, err, sizeof err);
    CG_REQUIRE(st);
    sqlite3 *other = NULL;
    CG_REQUIRE(sqlite3_open(path, &other) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    pthread_t t;
    CG_CHECK(pthread_create(&t, NULL, holder, other) == 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0); /* waits about 100 ms */
    add_contact(st, "ann", T0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    pthread_join(t, NULL);
    CG_CHECK(sqlite3_exec(other, "BEGIN; SELECT count(*) FROM contacts;", NULL, NULL, NULL) ==
             SQLITE_OK);
    int frames = -1, left = -1;
    CG_CHECK_INT(cg_sqlite_checkpoint(sq_of(st), CG_SQ_CKPT_RESTART_NOW, &frames, &left), 0);
    CG_CHECK(frames > 0);
    CG_CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CG_CHECK_INT(cg_sqlite_checkpoint(sq_of(st), CG_SQ_CKPT_RESTART_NOW, &frames, &left), 0);
    CG_CHECK_INT(left, 0); /* nobody in the way: all copied */
    int n = 0;
    CG_CHECK_INT(cg_store_contacts(st, "ann", T0, T0 + 1, count_cb, &n), 0);
    CG_CHECK_INT(n, 1);
    sqlite3_close(other);
    cg_store_free(&st);
}

/* the file removed or replaced while open: cg_store_present says so,
 * naming the file */
static void test_present(void)
{
    char dir[PATH_MAX + 16], path[PATH_MAX + 32], err[1024];
    snprintf(dir, sizeof dir, "%s/gone", tmpdir);
    CG_REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/h.db", dir);
    cg_store *st = cg_store_open(path, CG_STORE_WRITER, err, sizeof err);
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_present(st), 1);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CG_CHECK_INT(system(cmd), 0);
    CG_CHECK_INT(cg_store_present(st), 0);
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "gone");
    CG_CHECK_CONTAINS(cg_store_errmsg(st), path);
    cg_store_free(&st);
    /* replaced: another file now has the name */
    CG_REQUIRE(mkdir(dir, 0700) == 0);
    st = cg_store_open(path, CG_STORE_WRITER, err, sizeof err);
    CG_REQUIRE(st);
    char other[PATH_MAX + 32];
    snprintf(other, sizeof other, "%s/other.db", dir);
    cg_store *o = cg_store_open(other, 0, err, sizeof err);
    cg_store_free(&o);
    CG_CHECK_INT(rename(other, path), 0);
    CG_CHECK_INT(cg_store_present(st), 0);
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "replaced");
    cg_store_free(&st);
}

/* a database of the first schema (checked-in dump) is migrated in place
 * on open, its data intact, its department counters built */
static void test_migrate_from_v1_fixture(void)
{
    FILE *fp = fopen("tests/fixtures/history-v1.sql", "r");
    CG_REQUIRE(fp != NULL);
    struct cg_buf sqltext = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        cg_buf_addn(&sqltext, chunk, n);
    fclose(fp);
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    sqlite3 *db;
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(db, sqltext.s, NULL, NULL, NULL) == SQLITE_OK);
    cg_buf_free(&sqltext);
    sqlite3_close(db);

    /* read-only tools refuse an old schema instead of guessing */
    cg_store *st = cg_store_open(path, CG_STORE_READONLY, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "schema version 1, expected 3");

    st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_schema_version(st), CG_STORE_SCHEMA_VERSION);
    int k = 0;
    cg_store_contacts(st, "C-1001", 0, INT64_MAX, count_cb, &k);
    CG_CHECK_INT(k, 2);
    char *cust = NULL, *tz = NULL;
    CG_CHECK_INT(cg_store_customer_lookup(st, "ann@example.com", &cust, &tz), 1);
    CG_CHECK_STR(cust, "C-1001");
    CG_CHECK_STR(tz, "Europe/London");
    free(cust);
    free(tz);
    struct cg_check_counts c;
    CG_CHECK_INT(cg_admin_check(st, &c, NULL, NULL), 0);
    CG_CHECK(c.counter_rows > 0);
    CG_CHECK_INT(c.counter_mismatches, 0);
    cg_store_free(&st);
    CG_CHECK_INT(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                 "('erasures', 'dept_counts', 'deferrals', 'relays')"), 4);
    CG_CHECK_INT(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
                                 "'contacts_department_ts'"), 0);
}

/* corruption is named by the integrity check */
static int problem_cb(const char *p, void *arg)
{
    struct cg_buf *b = arg;
    cg_buf_printf(b, "%s\n", p);
    return 0;
}

static void test_check_finds_corruption(void)
{
    char path[PATH_MAX + 16], err[1024];
    snprintf(path, sizeof path, "%s/corrupt.db", tmpdir);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    for (int i = 0; i < 3000; i++) {
        char cust[48];
        snprintf(cust, sizeof cust, "customer-%06d@example.com", i);
        add_contact(st, cust, T0 - i);
    }
    CG_CHECK_INT(cg_store_commit(st), 0);
    struct cg_check_counts n;
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.contacts, 3000);
    CG_CHECK_INT(cg_sqlite_checkpoint(sq_of(st), CG_SQ_CKPT_TRUNCATE, NULL, NULL), 0);
    cg_store_free(&st);
    /* garbage in a middle page */
    FILE *fp = fopen(path, "r+b");
    CG_REQUIRE(fp);
    fseek(fp, 4096L * 20 + 100, SEEK_SET);
    for (int i = 0; i < 2000; i++)
        fputc(0x5a, fp);
    fclose(fp);
    st = cg_store_open(path, 0, err, sizeof err);
    if (!st) { /* the damage may already stop the open: then it names the file */
        CG_CHECK_CONTAINS(err, path);
        return;
    }
    struct cg_buf probs = {0};
    int rc = cg_admin_check(st, &n, problem_cb, &probs);
    CG_CHECK(rc != 0);
    if (rc == 1)
        CG_CHECK(probs.s != NULL);
    else
        CG_CHECK_CONTAINS(cg_store_errmsg(st), path);
    cg_buf_free(&probs);
    cg_store_free(&st);
}

int main(void)
{
    cg_log_open("test_sqlite", 0, 0, LOG_ERR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-test-sqlite.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    CG_RUN(test_open_reopen_versions);
    CG_RUN(test_durability);
    CG_RUN(test_maintenance);
    CG_RUN(test_lock_waits);
    CG_RUN(test_present);
    CG_RUN(test_migrate_from_v1_fixture);
    CG_RUN(test_check_finds_corruption);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CG_DONE("test_sqlite");
}
