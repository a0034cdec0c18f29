/*
 * test_walbuf.c - the "contactgate" VFS (core/store/cg_walbuf.c) on a real
 * SQLite file: every commit is in the WAL file when COMMIT returns (a
 * connection of the default VFS, i.e. another process's view, sees it at
 * once), a process killed right after its commits keeps them, and
 * transactions bigger than a write piece (120 KiB) or than the buffer
 * (1 MiB), rolled back after spilling to the WAL, and WAL restarts and
 * truncations all leave a database that passes integrity_check.
 */
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg_harness.h"
#include "cg_walbuf.h"

static sqlite3 *open_db(const char *path, const char *vfs, const char *sync)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK) {
        fprintf(stderr, "  open %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    char q[128];
    snprintf(q, sizeof q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
                          "PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=5000;", sync);
    if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "  pragmas: %s\n", sqlite3_errmsg(db));
    return db;
}

static int exec(sqlite3 *db, const char *q)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  %s: %s\n", q, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

static long long one(sqlite3 *db, const char *q)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "  %s: %s\n", q, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static int integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    return ok;
}

/* insert - one transaction of n rows of `size` random bytes each */
static int insert(sqlite3 *db, int n, int size)
{
    char q[160];
    snprintf(q, sizeof q,
             "BEGIN IMMEDIATE; WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k "
             "WHERE i < %d) INSERT INTO t(b) SELECT randomblob(%d) FROM k; COMMIT;", n, size);
    return exec(db, q);
}

/* each commit, small and large, is seen by a default-VFS connection as
 * soon as COMMIT returns; totals match; the file passes integrity_check */
static void check_visible(const char *sync)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/visible-%s.db", h_tmpdir, sync);
    sqlite3 *w = open_db(path, cg_walbuf_register(), sync);
    CG_CHECK(w != NULL);
    if (!w)
        return;
    exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    sqlite3 *r = open_db(path, NULL, sync);
    CG_CHECK(r != NULL);
    /* rows x bytes: a page, a few pages, > 120 KiB (pieces), > 1 MiB (runs) */
    static const int shape[][2] = {{1, 100}, {5, 900}, {40, 4000}, {400, 3000}, {3, 50}};
    long long rows = 0, bytes = 0;
    for (int round = 0; round < 20 && r; round++) {
        const int *sh = shape[round % 5];
        CG_CHECK(insert(w, sh[0], sh[1]) == SQLITE_OK);
        rows += sh[0];
        bytes += (long long)sh[0] * sh[1];
        CG_CHECK(one(r, "SELECT count(*) FROM t") == rows);
        CG_CHECK(one(r, "SELECT sum(length(b)) FROM t") == bytes);
    }
    CG_CHECK(one(w, "SELECT count(*) FROM t") == rows);
    CG_CHECK(integrity_ok(r));
    sqlite3_close(r);
    sqlite3_close(w);
}

static void test_commits_visible_at_once(void)
{
    check_visible("NORMAL");
}

static void test_commits_visible_at_once_sync_full(void)
{
    check_visible("FULL");
}

/* a process killed (SIGKILL, no close, no checkpoint) right after its
 * commits keeps every one of them */
static void test_killed_process_keeps_commits(void)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/killed.db", h_tmpdir);
    int pipefd[2];
    CG_CHECK(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        sqlite3 *w = open_db(path, cg_walbuf_register(), "NORMAL");
        int ok = w && exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)") == SQLITE_OK;
        for (int i = 0; ok && i < 50; i++)
            ok = insert(w, 1 + i % 7, 1500) == SQLITE_OK;
        char c = ok ? 'y' : 'n';
        if (write(pipefd[1], &c, 1) != 1)
            _exit(2);
        for (;;)
            pause(); /* killed here, the connection still open */
    }
    close(pipefd[1]);
    char c = 0;
    CG_CHECK(read(pipefd[0], &c, 1) == 1 && c == 'y');
    close(pipefd[0]);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CG_CHECK(WIFSIGNALED(status));
    sqlite3 *r = open_db(path, NULL, "NORMAL");
    CG_CHECK(r != NULL);
    if (!r)
        return;
    long long want = 0;
    for (int i = 0; i < 50; i++)
        want += 1 + i % 7;
    CG_CHECK(one(r, "SELECT count(*) FROM t") == want);
    CG_CHECK(integrity_ok(r));
    sqlite3_close(r);
}

/* a transaction that spills frames to the WAL and is rolled back leaves
 * nothing; restarts and truncations of the WAL between commits are
 * safe; a reopen sees what was committed */
static void test_rollback_restart_truncate(void)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/rollback.db", h_tmpdir);
    sqlite3 *w = open_db(path, cg_walbuf_register(), "NORMAL");
    CG_CHECK(w != NULL);
    if (!w)
        return;
    exec(w, "PRAGMA cache_size=20; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    CG_CHECK(insert(w, 10, 2000) == SQLITE_OK);
    /* 300 pages into a 20-page cache: SQLite spills frames mid-transaction */
    CG_CHECK(exec(w, "BEGIN IMMEDIATE; WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 "
                     "FROM k WHERE i < 300) INSERT INTO t(b) SELECT randomblob(3500) FROM k")
             == SQLITE_OK);
    CG_CHECK(one(w, "SELECT count(*) FROM t") == 310); /* reads back spilled frames */
    CG_CHECK(exec(w, "ROLLBACK") == SQLITE_OK);
    CG_CHECK(one(w, "SELECT count(*) FROM t") == 10);
    CG_CHECK(insert(w, 5, 2000) == SQLITE_OK);
    CG_CHECK(exec(w, "PRAGMA wal_checkpoint(RESTART)") == SQLITE_OK);
    CG_CHECK(insert(w, 7, 5000) == SQLITE_OK); /* rewrites the WAL from its start */
    CG_CHECK(exec(w, "PRAGMA wal_checkpoint(TRUNCATE)") == SQLITE_OK);
    CG_CHECK(insert(w, 3, 100) == SQLITE_OK);
    sqlite3 *r = open_db(path, NULL, "NORMAL");
    CG_CHECK(r && one(r, "SELECT count(*) FROM t") == 25);
    sqlite3_close(r);
    sqlite3_close(w);
    r = open_db(path, NULL, "NORMAL");
    CG_CHECK(r && one(r, "SELECT count(*) FROM t") == 25);
    CG_CHECK(r && integrity_ok(r));
    sqlite3_close(r);
}

int main(void)
{
    h_init("test_walbuf");
    if (!cg_walbuf_register()) {
        fprintf(stderr, "the contactgate VFS could not be registered\n");
        return 1;
    }
    CG_RUN(test_commits_visible_at_once);
    CG_RUN(test_commits_visible_at_once_sync_full);
    CG_RUN(test_killed_process_keeps_commits);
    CG_RUN(test_rollback_restart_truncate);
    h_done();
    CG_DONE("test_walbuf");
}
