/*
 * cg_sqlite.c - the SQLite backend of the store (cg_store.h): the schema
 * and its migrations, opening, transactions, the mail path and background
 * maintenance. The admin, report, held-mail and simulate queries are in
 * cg_sqlite_<area>.c.
 *
 * The file is WAL, synchronous=NORMAL by default (what was committed
 * survives a crash of the process; CG_STORE_SYNC_FULL for a crash of the
 * machine too). Every statement on the mail path is prepared once per
 * connection and cached in s->stmt[]. Schema changes are migrations in the
 * table below: migrations[i] takes user_version i to i + 1, inside one
 * transaction, so an old database is upgraded in place on open.
 *
 * WAL checkpoints are this backend's own business. With a
 * CG_STORE_MAINTAINER connection (the daemon), the write connection never
 * checkpoints in its commits: the maintainer copies the WAL into the file
 * in passive passes and starts the write-back of what it copied. Under
 * steady mail the WAL never empties by itself (frames arrive while a pass
 * copies), so once it holds more than RESTART_FRAMES (64 MiB) the passes
 * run back to back, and when one finds fewer than CAUGHT_UP new frames
 * since the one before, the maintainer syncs the file itself and asks the
 * write connection to restart the WAL between two batches
 * (cg_store_writer_step), with almost nothing left to copy: SQLite syncs
 * the database file only in a checkpoint that copies the whole WAL, and
 * that restart flushed every page copied since the last one (28-70 ms
 * measured, a queue of a hundred messages at 2,000 a second). Only when
 * the WAL keeps growing past FORCE_FRAMES (256 MiB) is a restart asked for
 * whatever it costs. (A restart from the maintainer's own connection
 * waits for the read lock the writer holds while the writer waits for it.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg_category.h"
#include "cg_sqlite_int.h"
#include "cg_util.h"

/* How long a statement waits for a lock held by another connection, and
 * how long a restarting checkpoint waits (blocking writers meanwhile). */
#define BUSY_MS 5000
#define RESTART_BUSY_MS 50
/* the maintainer (see the top of this file) */
#define RESTART_FRAMES 16384
#define CAUGHT_UP 256
#define FORCE_FRAMES 65536

/* The schema, as migrations from an empty file. Times are Unix seconds
 * (UTC). Never edit a released step: add one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE contacts ("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  customer TEXT NOT NULL,"
    "  address TEXT,"
    "  department TEXT NOT NULL,"
    "  category TEXT NOT NULL,"
    "  channel TEXT NOT NULL DEFAULT 'email',"
    "  weight REAL NOT NULL DEFAULT 1,"
    "  message_id TEXT,"
    "  queue_id TEXT,"
    "  digest TEXT);"
    "CREATE INDEX contacts_customer_ts ON contacts(customer, ts);"
    "CREATE INDEX contacts_ts ON contacts(ts);"
    "CREATE TABLE customers ("
    "  address TEXT PRIMARY KEY,"
    "  customer TEXT NOT NULL,"
    "  timezone TEXT,"
    "  attrs TEXT) WITHOUT ROWID;"
    "CREATE INDEX customers_customer ON customers(customer);"
    "CREATE TABLE states ("
    "  customer TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  until INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT,"
    "  PRIMARY KEY (customer, state)) WITHOUT ROWID;"
    "CREATE TABLE optouts ("
    "  customer TEXT NOT NULL,"
    "  category TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  until INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT,"
    "  PRIMARY KEY (customer, category)) WITHOUT ROWID;"
    "CREATE TABLE decisions ("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  stage TEXT NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  policy TEXT,"
    "  reason TEXT,"
    "  detail TEXT,"
    "  department TEXT,"
    "  sender TEXT,"
    "  recipient TEXT,"
    "  customer TEXT,"
    "  category TEXT,"
    "  message_id TEXT,"
    "  queue_id TEXT,"
    "  config_version TEXT,"
    "  retry_after INTEGER NOT NULL DEFAULT 0,"
    "  monitor INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX decisions_ts ON decisions(ts);"
    "CREATE INDEX decisions_customer ON decisions(customer, ts);"
    "CREATE INDEX decisions_msg ON decisions(message_id, recipient);"
    "CREATE INDEX decisions_queue ON decisions(queue_id);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;",
    /* 1 -> 2: per-department volume (budgets, reports) without a scan,
     * and an audit of erasures that names no customer */
    "CREATE INDEX contacts_department_ts ON contacts(department, ts);"
    "CREATE TABLE erasures ("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  subject_hash TEXT NOT NULL,"
    "  rows INTEGER NOT NULL,"
    "  note TEXT);",
    /* 2 -> 3: department volumes from counters kept with each contact
     * (level = the bucket's length in seconds; the per-department index
     * goes: nothing on the mail path reads a department's rows any more),
     * deferral episodes (a retry linked to its first deferral at RCPT
     * time), the relay that decided, the relays and their configuration */
    "CREATE TABLE dept_counts ("
    "  department TEXT NOT NULL,"
    "  level INTEGER NOT NULL,"
    "  bucket INTEGER NOT NULL,"
    "  category TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (department, level, bucket, category)) WITHOUT ROWID;"
    "INSERT INTO dept_counts SELECT department, 60, ts - ts % 60, category, count(*)"
    "  FROM contacts GROUP BY 1, 3, 4;"
    "INSERT INTO dept_counts SELECT department, 3600, ts - ts % 3600, category, count(*)"
    "  FROM contacts GROUP BY 1, 3, 4;"
    "INSERT INTO dept_counts SELECT department, 86400, ts - ts % 86400, category, count(*)"
    "  FROM contacts GROUP BY 1, 3, 4;"
    "DROP INDEX contacts_department_ts;"
    "CREATE TABLE deferrals ("
    "  recipient TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  first_ts INTEGER NOT NULL,"
    "  first_ref TEXT NOT NULL,"
    "  last_ts INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  retry_after INTEGER NOT NULL DEFAULT 0,"
    "  message_id TEXT,"
    "  policy TEXT,"
    "  expired INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (recipient, sender)) WITHOUT ROWID;"
    "ALTER TABLE decisions ADD COLUMN episode TEXT;"
    "ALTER TABLE decisions ADD COLUMN relay TEXT;"
    "CREATE INDEX decisions_episode ON decisions(episode) WHERE episode IS NOT NULL;"
    "CREATE TABLE relays ("
    "  name TEXT PRIMARY KEY,"
    "  config_version TEXT,"
    "  software TEXT,"
    "  started INTEGER NOT NULL DEFAULT 0,"
    "  last_seen INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    /* 3 -> 4: the relay that let a contact through (reports per relay) */
    "ALTER TABLE contacts ADD COLUMN relay TEXT;",
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(N_MIGRATIONS == CG_STORE_SCHEMA_VERSION, "one migration per schema version");

#define CONTACT_COLS \
    "id, ts, customer, address, department, category, channel, weight, message_id, queue_id," \
    " digest, relay"

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_IMM] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT job",
    [S_RELEASE] = "RELEASE job",
    [S_ROLLBACK_TO] = "ROLLBACK TO job",
    [S_CUST_GET] = "SELECT customer, timezone FROM customers WHERE address = ?1",
    [S_CUST_EXISTS] = "SELECT 1 FROM customers WHERE address = ?1",
    [S_CUST_PUT] = "INSERT INTO customers(address, customer, timezone, attrs) VALUES (?1,?2,?3,?4)"
                   " ON CONFLICT(address) DO UPDATE SET customer = excluded.customer,"
                   " timezone = excluded.timezone, attrs = excluded.attrs",
    [S_CONTACT_ADD] = "INSERT INTO contacts(ts, customer, address, department, category, channel,"
                      " weight, message_id, queue_id, digest, relay)"
                      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    [S_COUNT_ADD] = "INSERT INTO dept_counts(department, level, bucket, category, n)"
                    " VALUES (?1, 60, ?2, ?5, 1), (?1, 3600, ?3, ?5, 1), (?1, 86400, ?4, ?5, 1)"
                    " ON CONFLICT(department, level, bucket, category) DO UPDATE SET n = n + 1",
    [S_CONTACTS] = "SELECT " CONTACT_COLS " FROM contacts"
                   " WHERE customer = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts DESC, id DESC",
    [S_DEPT_COUNTS] = "SELECT bucket, category, n FROM dept_counts"
                      " WHERE department = ?1 AND level = ?2 AND bucket >= ?3 AND bucket < ?4"
                      " ORDER BY bucket, category",
    [S_STATE_SET] = "INSERT OR REPLACE INTO states(customer, state, since, until, note)"
                    " VALUES (?1,?2,?3,?4,?5)",
    [S_STATE_CLEAR] = "UPDATE states SET until = ?3 WHERE customer = ?1 AND state = ?2"
                      " AND since <= ?3 AND (until = 0 OR until > ?3)",
    [S_STATES_ONE] = "SELECT customer, state, since, until, note FROM states WHERE customer = ?1"
                     " ORDER BY since DESC, state",
    [S_STATES_ONE_OPEN] = "SELECT customer, state, since, until, note FROM states"
                          " WHERE customer = ?1 AND since <= ?2 AND (until = 0 OR until > ?2)"
                          " ORDER BY since DESC, state",
    [S_STATES_ALL] = "SELECT customer, state, since, until, note FROM states"
                     " ORDER BY customer, since DESC, state",
    [S_STATES_ALL_OPEN] = "SELECT customer, state, since, until, note FROM states"
                          " WHERE since <= ?2 AND (until = 0 OR until > ?2)"
                          " ORDER BY customer, since DESC, state",
    [S_OPTOUT_SET] = "INSERT OR REPLACE INTO optouts(customer, category, since, until, note)"
                     " VALUES (?1,?2,?3,?4,?5)",
    [S_OPTOUT_DEL] = "DELETE FROM optouts WHERE customer = ?1 AND category = ?2",
    /* two lookups, not customer IN (?1, ?3): an IN list of parameters is
     * an ephemeral table SQLite builds for every run (measured: 6 times
     * the cost of the states lookup); ?3 = ?1 is looked up once */
    [S_OPTOUTS_OPEN] = "SELECT category FROM optouts WHERE customer = ?1 AND since <= ?2"
                       " AND (until = 0 OR until > ?2)"
                       " UNION ALL SELECT category FROM optouts WHERE customer = ?3 AND ?3 <> ?1"
                       " AND since <= ?2 AND (until = 0 OR until > ?2)",
    [S_DECISION_ADD] = "INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, detail,"
                       " department, sender, recipient, customer, category, message_id, queue_id,"
                       " config_version, retry_after, monitor, episode, relay)"
                       " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
                       "?19)",
    [S_EPISODE_GET] = "SELECT first_ts, first_ref, last_ts, attempts, retry_after, message_id,"
                      " policy, expired FROM deferrals WHERE recipient = ?2 AND sender = ?1",
    [S_EPISODE_PUT] = "INSERT OR REPLACE INTO deferrals(sender, recipient, first_ts, first_ref,"
                      " last_ts, attempts, retry_after, message_id, policy, expired)"
                      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [S_EPISODE_END] = "DELETE FROM deferrals WHERE recipient = ?2 AND sender = ?1",
};

static const struct cg_store_ops sqlite_ops;

/* --- helpers (cg_sqlite_int.h) -------------------------------------------- */

int cg_sqlite_fail(struct sq *s, const char *what)
{
    return cg_store_seterr(&s->base, "database %s: %s: %s", s->path, what,
                           sqlite3_errmsg(s->db));
}

sqlite3_stmt *cg_sqlite_prepare(struct sq *s, const char *q, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(s->db, q, -1, &stmt, NULL) != SQLITE_OK) {
        cg_sqlite_fail(s, what);
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

int cg_sqlite_finish(struct sq *s, sqlite3_stmt *stmt, int rc, const char *what)
{
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cg_sqlite_fail(s, what);
    sqlite3_finalize(stmt);
    return ret;
}

void cg_sqlite_bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, i);
}

void cg_sqlite_bind_named_int(sqlite3_stmt *stmt, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(stmt, name);
    if (i > 0)
        sqlite3_bind_int64(stmt, i, v);
}

void cg_sqlite_bind_named_text(sqlite3_stmt *stmt, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(stmt, name);
    if (i > 0)
        cg_sqlite_bind_text(stmt, i, v);
}

sqlite3_stmt *cg_sqlite_stmt(struct sq *s, int i)
{
    sqlite3_stmt *stmt = s->stmt[i];
    if (!stmt) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
            SQLITE_OK) {
            cg_sqlite_fail(s, "prepare");
            return NULL;
        }
        s->stmt[i] = stmt;
    }
    return stmt;
}

void cg_sqlite_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

int cg_sqlite_exec(struct sq *s, const char *q, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK) {
        cg_store_seterr(&s->base, "database %s: %s: %s", s->path, what,
                        msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int cg_sqlite_run(struct sq *s, const char *q, const char *key, const char *what,
                  int64_t *changes_r)
{
    sqlite3_stmt *stmt = cg_sqlite_prepare(s, q, what);
    if (!stmt)
        return -1;
    if (key)
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        cg_sqlite_fail(s, what);
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_finalize(stmt);
    if (changes_r)
        *changes_r = sqlite3_changes64(s->db);
    return 0;
}

int cg_sqlite_count(struct sq *s, const char *q, int bind, int64_t v, int64_t *r)
{
    sqlite3_stmt *stmt = cg_sqlite_prepare(s, q, "count");
    if (!stmt)
        return -1;
    if (bind)
        sqlite3_bind_int64(stmt, 1, v);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        cg_sqlite_fail(s, "count");
        sqlite3_finalize(stmt);
        return -1;
    }
    *r = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
}

/* step_done - run a cached statement that returns no rows */
static int step_done(struct sq *s, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        cg_store_seterr(&s->base, "database %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
        cg_sqlite_done(stmt);
        return -1;
    }
    cg_sqlite_done(stmt);
    return 0;
}

/* simple - a cached statement without parameters or rows */
static int simple(struct sq *s, int i, const char *what)
{
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, i);
    return stmt ? step_done(s, stmt, what) : -1;
}

/* busy_wait - SQLite's busy handler: wait for another connection's lock
 * in fine steps. (sqlite3_busy_timeout sleeps 1, 2, 5, 10, 15, 20, 25 ...
 * ms in turn, so a lock held for 2 ms costs a waiter 3 ms, one held for
 * 20 ms costs 33.) 50 us steps for the first 2 ms, then 0.5 ms steps up
 * to 20 ms, then 5 ms. */
static int busy_wait(void *arg, int count)
{
    struct sq *s = arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (count == 0)
        s->busy_since_us = now;
    int64_t waited = now - s->busy_since_us;
    if (waited >= s->busy_limit_us)
        return 0;
    int64_t step = waited < 2000 ? 50 : waited < 20000 ? 500 : 5000;
    if (step > s->busy_limit_us - waited)
        step = s->busy_limit_us - waited;
    struct timespec d = {(time_t)(step / 1000000), (long)(step % 1000000) * 1000};
    nanosleep(&d, NULL);
    return 1;
}

/* busy_limit - how long this connection's statements wait for a lock */
static void busy_limit(struct sq *s, int ms)
{
    s->busy_limit_us = (int64_t)ms * 1000;
}

int cg_sqlite_checkpoint(struct sq *s, int mode, int *frames_r, int *left_r)
{
    int log = 0, done = 0;
    /* a restart blocks writers while it waits for the readers to leave the
     * WAL: never for longer than a moment (mail is being decided), and not
     * at all when it is the writer's own */
    if (mode != CG_SQ_CKPT_PASSIVE)
        busy_limit(s, mode == CG_SQ_CKPT_RESTART_NOW ? 0 : RESTART_BUSY_MS);
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL,
                                       mode == CG_SQ_CKPT_TRUNCATE  ? SQLITE_CHECKPOINT_TRUNCATE
                                       : mode == CG_SQ_CKPT_PASSIVE ? SQLITE_CHECKPOINT_PASSIVE
                                                                    : SQLITE_CHECKPOINT_RESTART,
                                       &log, &done);
    if (mode != CG_SQ_CKPT_PASSIVE)
        busy_limit(s, BUSY_MS);
    if (frames_r)
        *frames_r = log;
    if (left_r)
        *left_r = log > done ? log - done : 0;
    if (rc == SQLITE_BUSY)
        return 0; /* readers or a writer were in the way: next time */
    return rc == SQLITE_OK ? 0 : cg_sqlite_fail(s, "checkpoint");
}

/* --- schema ----------------------------------------------------------------- */

static int sq_schema_version(cg_store *st)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return cg_sqlite_fail(s, "user_version");
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* migrate - bring the schema to CG_STORE_SCHEMA_VERSION, one step per
 * transaction */
static int migrate(struct sq *s)
{
    for (;;) {
        if (cg_sqlite_exec(s, "BEGIN IMMEDIATE", "migration") < 0)
            return -1;
        int v = sq_schema_version(&s->base);
        if (v < 0) {
            cg_sqlite_exec(s, "ROLLBACK", "migration");
            return -1;
        }
        if (v > (int)N_MIGRATIONS) {
            cg_sqlite_exec(s, "ROLLBACK", "migration");
            return cg_store_seterr(&s->base, "database %s: schema version %d is newer than this "
                                   "contactgate (%d): refusing to touch it", s->path, v,
                                   (int)N_MIGRATIONS);
        }
        if (v == (int)N_MIGRATIONS)
            return cg_sqlite_exec(s, "COMMIT", "migration");
        char what[64];
        snprintf(what, sizeof what, "migration %d -> %d", v, v + 1);
        char *bump = cg_xasprintf("PRAGMA user_version = %d", v + 1);
        int rc = cg_sqlite_exec(s, migrations[v], what);
        if (rc == 0)
            rc = cg_sqlite_exec(s, bump, what);
        free(bump);
        if (rc < 0) {
            char keep[sizeof s->base.err];
            memcpy(keep, s->base.err, sizeof keep);
            cg_sqlite_exec(s, "ROLLBACK", "migration");
            memcpy(s->base.err, keep, sizeof keep);
            return -1;
        }
        if (cg_sqlite_exec(s, "COMMIT", what) < 0)
            return -1;
    }
}

/* --- opening ------------------------------------------------------------------ */

static void sq_close(cg_store *st)
{
    struct sq *s = sq_of(st);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    if (s->db_fd >= 0)
        close(s->db_fd);
    for (size_t i = 0; i < sizeof s->ep_strings / sizeof s->ep_strings[0]; i++)
        free(s->ep_strings[i]);
    free(s->path);
    cg_store_base_free(st);
    free(s);
}

/* identify - remember which file is open (for cg_store_present) */
static void identify(struct sq *s)
{
    struct stat sb;
    if (strcmp(s->path, ":memory:") != 0 && stat(s->path, &sb) == 0) {
        s->dev = sb.st_dev;
        s->ino = sb.st_ino;
    }
}

/* sq_global - SQLite's process-wide settings, before its first use: no
 * memory statistics (nothing reads them, and keeping them takes a global
 * mutex on every allocation of every connection) */
static void sq_global(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* SQLITE_MISUSE if too late: harmless */
}

cg_store *cg_sqlite_open(const char *path, int flags, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sq_global);
    struct sq *s = cg_xcalloc(1, sizeof *s);
    cg_store_base_init(&s->base, &sqlite_ops, path);
    s->path = cg_xstrdup(path);
    s->db_fd = -1;
    s->writer = !!(flags & CG_STORE_WRITER);
    int ro = flags & CG_STORE_READONLY;
    int oflags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (!ro && !(flags & CG_STORE_NO_CREATE))
        oflags |= SQLITE_OPEN_CREATE;
    oflags |= SQLITE_OPEN_NOMUTEX; /* one thread per connection at a time */
    if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
        cg_errf(err, errlen, "database %s: %s", path,
                s->db ? sqlite3_errmsg(s->db) : "cannot allocate");
        sq_close(&s->base);
        return NULL;
    }
    sqlite3_extended_result_codes(s->db, 1);
    busy_limit(s, BUSY_MS);
    sqlite3_busy_handler(s->db, busy_wait, s);
    int rc = 0;
    if (!ro) {
        rc = cg_sqlite_exec(s, "PRAGMA journal_mode = WAL", "journal_mode");
        if (rc == 0)
            rc = cg_sqlite_exec(s, flags & CG_STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                              : "PRAGMA synchronous = NORMAL",
                                "synchronous");
        if (rc == 0)
            rc = migrate(s);
    } else {
        int v = sq_schema_version(&s->base);
        if (v != CG_STORE_SCHEMA_VERSION)
            rc = cg_store_seterr(&s->base,
                                 v < 0 ? "database %s: cannot read the schema version"
                                       : "database %s: schema version %d, expected %d (start "
                                         "contactgate once to migrate)",
                                 path, v, CG_STORE_SCHEMA_VERSION);
    }
    if (rc == 0)
        rc = cg_sqlite_exec(s, "PRAGMA foreign_keys = ON", "foreign_keys");
    /* the write connection never checkpoints in its commits: the
     * maintainer does (see the top of this file) */
    if (rc == 0 && s->writer && sqlite3_wal_autocheckpoint(s->db, 0) != SQLITE_OK)
        rc = cg_sqlite_fail(s, "autocheckpoint");
    if (rc == 0 && (flags & CG_STORE_MAINTAINER))
        s->db_fd = open(path, O_RDONLY | O_CLOEXEC); /* -1: SQLite's syncs only */
    if (rc < 0) {
        cg_strlcpy(err, s->base.err, errlen);
        sq_close(&s->base);
        return NULL;
    }
    identify(s);
    return &s->base;
}

/* --- transactions ------------------------------------------------------------ */

static int sq_begin(cg_store *st, int immediate)
{
    return simple(sq_of(st), immediate ? S_BEGIN_IMM : S_BEGIN, "begin");
}

static int sq_commit(cg_store *st)
{
    return simple(sq_of(st), S_COMMIT, "commit");
}

static int sq_rollback(cg_store *st)
{
    struct sq *s = sq_of(st);
    if (sqlite3_get_autocommit(s->db))
        return 0;
    return simple(s, S_ROLLBACK, "rollback");
}

static int sq_savepoint(cg_store *st)
{
    return simple(sq_of(st), S_SAVEPOINT, "savepoint");
}

static int sq_release(cg_store *st)
{
    return simple(sq_of(st), S_RELEASE, "release savepoint");
}

static int sq_rollback_savepoint(cg_store *st)
{
    struct sq *s = sq_of(st);
    /* ROLLBACK TO keeps the savepoint open: release it as well */
    if (simple(s, S_ROLLBACK_TO, "rollback to savepoint") < 0)
        return -1;
    return simple(s, S_RELEASE, "release savepoint");
}

static int sq_lock_keys(cg_store *st, const char *const *keys, size_t n)
{
    (void)st; /* BEGIN IMMEDIATE holds the one write lock */
    (void)keys;
    (void)n;
    return 0;
}

static int sq_batch_begin(cg_store *st, const struct cg_store_batch *b)
{
    (void)b; /* one writer at a time: nothing to lock or fetch ahead */
    return sq_begin(st, 1);
}

static int sq_batch_join(cg_store *st, const struct cg_store_batch *b)
{
    (void)st;
    (void)b;
    return 0;
}

/* --- maintenance ----------------------------------------------------------- */

static int sq_maintain(cg_store *st, struct cg_store_maint *m)
{
    struct sq *s = sq_of(st);
    int frames = 0, left = 0, before = s->maint_last;
    m->again = m->writer_step = 0;
    s->maint_last = 0;
    /* frames: the WAL's size when this pass began; left: what it could not
     * copy (a reader's older snapshot) */
    if (cg_sqlite_checkpoint(s, CG_SQ_CKPT_PASSIVE, &frames, &left) < 0)
        return -1;
    if (frames > 0 && s->db_fd >= 0) /* start writing back what this pass copied */
        sync_file_range(s->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (frames <= RESTART_FRAMES)
        return 0;
    int fresh = before && frames >= before ? frames - before : frames;
    if ((before && fresh < CAUGHT_UP && !left) || frames > FORCE_FRAMES) {
        /* the restart's sync, done here while mail flows */
        if (s->db_fd >= 0 && fdatasync(s->db_fd) != 0)
            return cg_store_seterr(st, "database %s: fdatasync: %s", s->path, strerror(errno));
        m->writer_step = 1;
    } else if (!left) {
        s->maint_last = frames; /* copy on at once: the next pass has less to do */
        m->again = 1;
    }
    return 0;
}

static int sq_writer_step(cg_store *st)
{
    return cg_sqlite_checkpoint(sq_of(st), CG_SQ_CKPT_RESTART_NOW, NULL, NULL);
}

static int sq_present(cg_store *st)
{
    struct sq *s = sq_of(st);
    if (!s->ino)
        return 1; /* :memory:, or never identified */
    struct stat sb;
    if (stat(s->path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            cg_store_seterr(st, "database %s: the file is gone (removed or its directory "
                            "moved while contactgate was running)", s->path);
            return 0;
        }
        return cg_store_seterr(st, "database %s: stat: %s", s->path, strerror(errno));
    }
    if (sb.st_dev != s->dev || sb.st_ino != s->ino) {
        cg_store_seterr(st, "database %s: the file was replaced while contactgate was "
                        "running (another file now has its name)", s->path);
        return 0;
    }
    return 1;
}

/* --- customer map ------------------------------------------------------ */

static int sq_customer_lookup(cg_store *st, const char *address, char **customer_r,
                              char **timezone_r)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_CUST_GET);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, address);
    int rc = sqlite3_step(stmt), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (customer_r)
            *customer_r = cg_xstrdup(cg_sqlite_col_text(stmt, 0));
        if (timezone_r)
            *timezone_r = cg_xstrdup(cg_sqlite_col_text(stmt, 1));
    } else if (rc != SQLITE_DONE) {
        cg_sqlite_fail(s, "customer lookup");
        cg_sqlite_done(stmt);
        return -1;
    }
    cg_sqlite_done(stmt);
    return found;
}

static int sq_customer_put(cg_store *st, const char *address, const char *customer,
                           const char *timezone, const char *attrs_json, int *added_r)
{
    struct sq *s = sq_of(st);
    if (added_r) {
        sqlite3_stmt *e = cg_sqlite_stmt(s, S_CUST_EXISTS);
        if (!e)
            return -1;
        cg_sqlite_bind_text(e, 1, address);
        int rc = sqlite3_step(e);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            cg_sqlite_fail(s, "customer lookup");
            cg_sqlite_done(e);
            return -1;
        }
        cg_sqlite_done(e);
        *added_r = rc == SQLITE_DONE;
    }
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_CUST_PUT);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, address);
    cg_sqlite_bind_text(stmt, 2, customer);
    cg_sqlite_bind_text(stmt, 3, timezone);
    cg_sqlite_bind_text(stmt, 4, attrs_json);
    return step_done(s, stmt, "customer put");
}

/* --- contacts and counters ------------------------------------------------- */

static int sq_contact_add(cg_store *st, const struct cg_contact_row *c)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_CONTACT_ADD);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, c->ts);
    cg_sqlite_bind_text(stmt, 2, c->customer);
    cg_sqlite_bind_text(stmt, 3, c->address);
    cg_sqlite_bind_text(stmt, 4, c->department);
    cg_sqlite_bind_text(stmt, 5, c->category);
    cg_sqlite_bind_text(stmt, 6, c->channel ? c->channel : "email");
    sqlite3_bind_double(stmt, 7, c->weight);
    cg_sqlite_bind_text(stmt, 8, c->message_id);
    cg_sqlite_bind_text(stmt, 9, c->queue_id);
    cg_sqlite_bind_text(stmt, 10, c->digest);
    cg_sqlite_bind_text(stmt, 11, c->relay);
    if (step_done(s, stmt, "contact add") < 0)
        return -1;
    /* the department's counters, in the same transaction */
    if (!(stmt = cg_sqlite_stmt(s, S_COUNT_ADD)))
        return -1;
    cg_sqlite_bind_text(stmt, 1, c->department);
    sqlite3_bind_int64(stmt, 2, cg_store_bucket_of(c->ts, CG_COUNT_MINUTE));
    sqlite3_bind_int64(stmt, 3, cg_store_bucket_of(c->ts, CG_COUNT_HOUR));
    sqlite3_bind_int64(stmt, 4, cg_store_bucket_of(c->ts, CG_COUNT_DAY));
    cg_sqlite_bind_text(stmt, 5, c->category);
    return step_done(s, stmt, "department counters");
}

/* contact_rows - step a statement of CONTACT_COLS rows into cb */
static int contact_rows(struct sq *s, sqlite3_stmt *stmt, cg_store_contact_cb cb, void *arg)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cg_contact_row c = {
            .id = sqlite3_column_int64(stmt, 0),
            .ts = sqlite3_column_int64(stmt, 1),
            .customer = cg_sqlite_col_text(stmt, 2),
            .address = cg_sqlite_col_text(stmt, 3),
            .department = cg_sqlite_col_text(stmt, 4),
            .category = cg_sqlite_col_text(stmt, 5),
            .channel = cg_sqlite_col_text(stmt, 6),
            .weight = sqlite3_column_double(stmt, 7),
            .message_id = cg_sqlite_col_text(stmt, 8),
            .queue_id = cg_sqlite_col_text(stmt, 9),
            .digest = cg_sqlite_col_text(stmt, 10),
            .relay = cg_sqlite_col_text(stmt, 11),
        };
        if (cb(&c, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return rc == SQLITE_DONE ? 0 : cg_sqlite_fail(s, "contacts");
}

static int sq_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                       cg_store_contact_cb cb, void *arg)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_CONTACTS);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, customer);
    sqlite3_bind_int64(stmt, 2, since);
    sqlite3_bind_int64(stmt, 3, until);
    int rc = contact_rows(s, stmt, cb, arg);
    cg_sqlite_done(stmt);
    return rc;
}

static int sq_contacts_all(cg_store *st, int64_t since, int64_t until, cg_store_contact_cb cb,
                           void *arg)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_prepare(
        s, "SELECT " CONTACT_COLS " FROM contacts WHERE ?3 OR (ts >= ?1 AND ts < ?2)"
           " ORDER BY ts, id", "contacts");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, since);
    sqlite3_bind_int64(stmt, 2, until);
    sqlite3_bind_int(stmt, 3, since == 0 && until == 0);
    int rc = contact_rows(s, stmt, cb, arg);
    sqlite3_finalize(stmt);
    return rc;
}

static int sq_dept_counts(cg_store *st, const char *department, int64_t since, int64_t until,
                          cg_store_bucket_cb cb, void *arg)
{
    struct sq *s = sq_of(st);
    struct cg_count_span span[CG_COUNT_MAX_SPANS];
    size_t n = cg_store_count_spans(since, until, span);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_DEPT_COUNTS);
    if (!stmt)
        return -1;
    int stop = 0;
    for (size_t i = 0; i < n && !stop; i++) {
        cg_sqlite_bind_text(stmt, 1, department);
        sqlite3_bind_int64(stmt, 2, span[i].level);
        sqlite3_bind_int64(stmt, 3, span[i].from);
        sqlite3_bind_int64(stmt, 4, span[i].to);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            int64_t b = sqlite3_column_int64(stmt, 0);
            struct cg_count_bucket k = {
                .start = b,
                .end = b + span[i].level,
                .category = cg_sqlite_col_text(stmt, 1),
                .n = sqlite3_column_int64(stmt, 2),
            };
            if (cb(&k, arg)) {
                stop = 1;
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc != SQLITE_DONE) {
            cg_sqlite_fail(s, "department counters");
            cg_sqlite_done(stmt);
            return -1;
        }
        cg_sqlite_done(stmt);
    }
    return 0;
}

int cg_sqlite_counts_subtract(struct sq *s, const char *doomed, const char *key, int64_t v)
{
    static const int64_t levels[] = {CG_COUNT_MINUTE, CG_COUNT_HOUR, CG_COUNT_DAY};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        char *q = cg_xasprintf(
            "INSERT INTO dept_counts(department, level, bucket, category, n)"
            " SELECT department, %lld, ts - ts %% %lld, category, -count(*) FROM (%s)"
            " GROUP BY 1, 3, 4 ON CONFLICT(department, level, bucket, category)"
            " DO UPDATE SET n = n + excluded.n",
            (long long)levels[i], (long long)levels[i], doomed);
        sqlite3_stmt *stmt = cg_sqlite_prepare(s, q, "department counters");
        free(q);
        if (!stmt)
            return -1;
        if (key)
            sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(stmt) >= 2)
            sqlite3_bind_int64(stmt, 2, v);
        if (cg_sqlite_finish(s, stmt, sqlite3_step(stmt), "department counters") < 0)
            return -1;
    }
    return cg_sqlite_run(s, "DELETE FROM dept_counts WHERE n <= 0", NULL, "department counters",
                         NULL);
}

/* --- states -------------------------------------------------------------- */

static int sq_state_set(cg_store *st, const struct cg_state_row *r)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_STATE_SET);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, r->customer);
    cg_sqlite_bind_text(stmt, 2, r->state);
    sqlite3_bind_int64(stmt, 3, r->since);
    sqlite3_bind_int64(stmt, 4, r->until);
    cg_sqlite_bind_text(stmt, 5, r->note);
    return step_done(s, stmt, "state set");
}

static int sq_state_clear(cg_store *st, const char *customer, const char *state)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_STATE_CLEAR);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, customer);
    cg_sqlite_bind_text(stmt, 2, state);
    sqlite3_bind_int64(stmt, 3, cg_now());
    if (step_done(s, stmt, "state clear") < 0)
        return -1;
    return sqlite3_changes(s->db) > 0;
}

static int sq_states(cg_store *st, const char *customer, int64_t now, cg_store_state_cb cb,
                     void *arg)
{
    struct sq *s = sq_of(st);
    int i = customer ? (now ? S_STATES_ONE_OPEN : S_STATES_ONE)
                     : (now ? S_STATES_ALL_OPEN : S_STATES_ALL);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, i);
    if (!stmt)
        return -1;
    if (customer)
        cg_sqlite_bind_text(stmt, 1, customer);
    if (now)
        sqlite3_bind_int64(stmt, 2, now);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cg_state_row r = {
            .customer = cg_sqlite_col_text(stmt, 0),
            .state = cg_sqlite_col_text(stmt, 1),
            .since = sqlite3_column_int64(stmt, 2),
            .until = sqlite3_column_int64(stmt, 3),
            .note = cg_sqlite_col_text(stmt, 4),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        cg_sqlite_fail(s, "states");
    cg_sqlite_done(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- opt-outs ------------------------------------------------------------ */

static int sq_optout_set(cg_store *st, const struct cg_optout_row *o)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_OPTOUT_SET);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, o->customer);
    cg_sqlite_bind_text(stmt, 2, o->category);
    sqlite3_bind_int64(stmt, 3, o->since);
    sqlite3_bind_int64(stmt, 4, o->until);
    cg_sqlite_bind_text(stmt, 5, o->note);
    return step_done(s, stmt, "opt-out set");
}

static int sq_optout_remove(cg_store *st, const char *customer, const char *category)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_OPTOUT_DEL);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, customer);
    cg_sqlite_bind_text(stmt, 2, category);
    if (step_done(s, stmt, "opt-out remove") < 0)
        return -1;
    return sqlite3_changes(s->db) > 0;
}

static int sq_opted_out(cg_store *st, const char *customer, const char *address,
                        const char *category, int64_t now, int *r)
{
    struct sq *s = sq_of(st);
    *r = 0;
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_OPTOUTS_OPEN); /* both keys in one statement */
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, customer);
    sqlite3_bind_int64(stmt, 2, now);
    cg_sqlite_bind_text(stmt, 3, address ? address : customer);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *pat = cg_sqlite_col_text(stmt, 0);
        if (pat && cg_category_match(pat, category)) {
            *r = 1;
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        cg_sqlite_fail(s, "opt-outs");
    cg_sqlite_done(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- decision log -------------------------------------------------------- */

int cg_sqlite_decision_rows(struct sq *s, sqlite3_stmt *stmt, cg_store_decision_cb cb,
                            void *arg, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cg_decision_row d = {
            .id = sqlite3_column_int64(stmt, 0),
            .ts = sqlite3_column_int64(stmt, 1),
            .ref = cg_sqlite_col_text(stmt, 2),
            .stage = cg_sqlite_col_text(stmt, 3),
            .verdict = cg_sqlite_col_text(stmt, 4),
            .policy = cg_sqlite_col_text(stmt, 5),
            .reason = cg_sqlite_col_text(stmt, 6),
            .detail = cg_sqlite_col_text(stmt, 7),
            .department = cg_sqlite_col_text(stmt, 8),
            .sender = cg_sqlite_col_text(stmt, 9),
            .recipient = cg_sqlite_col_text(stmt, 10),
            .customer = cg_sqlite_col_text(stmt, 11),
            .category = cg_sqlite_col_text(stmt, 12),
            .message_id = cg_sqlite_col_text(stmt, 13),
            .queue_id = cg_sqlite_col_text(stmt, 14),
            .config_version = cg_sqlite_col_text(stmt, 15),
            .retry_after = sqlite3_column_int64(stmt, 16),
            .monitor = sqlite3_column_int(stmt, 17),
            .episode = cg_sqlite_col_text(stmt, 18),
            .relay = cg_sqlite_col_text(stmt, 19),
        };
        if (cb(&d, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(s, stmt, rc, what);
}

static int sq_decision_add(cg_store *st, const struct cg_decision_row *d)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_DECISION_ADD);
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, d->ts);
    cg_sqlite_bind_text(stmt, 2, d->ref);
    cg_sqlite_bind_text(stmt, 3, d->stage);
    cg_sqlite_bind_text(stmt, 4, d->verdict);
    cg_sqlite_bind_text(stmt, 5, d->policy);
    cg_sqlite_bind_text(stmt, 6, d->reason);
    cg_sqlite_bind_text(stmt, 7, d->detail);
    cg_sqlite_bind_text(stmt, 8, d->department);
    cg_sqlite_bind_text(stmt, 9, d->sender);
    cg_sqlite_bind_text(stmt, 10, d->recipient);
    cg_sqlite_bind_text(stmt, 11, d->customer);
    cg_sqlite_bind_text(stmt, 12, d->category);
    cg_sqlite_bind_text(stmt, 13, d->message_id);
    cg_sqlite_bind_text(stmt, 14, d->queue_id);
    cg_sqlite_bind_text(stmt, 15, d->config_version);
    sqlite3_bind_int64(stmt, 16, d->retry_after);
    sqlite3_bind_int(stmt, 17, d->monitor);
    cg_sqlite_bind_text(stmt, 18, d->episode);
    cg_sqlite_bind_text(stmt, 19, d->relay);
    return step_done(s, stmt, "decision add");
}

static int sq_decisions(cg_store *st, const struct cg_decision_filter *f,
                        cg_store_decision_cb cb, void *arg)
{
    struct sq *s = sq_of(st);
    static const struct cg_decision_filter none;
    if (!f)
        f = &none;
    struct cg_buf q = {0};
    cg_buf_add(&q, "SELECT " CG_SQ_DECISION_COLS " FROM decisions WHERE 1");
    /* the parameter numbers are fixed; unused ones are simply not bound */
    if (f->verdict)
        cg_buf_add(&q, " AND verdict = ?1");
    if (f->department)
        cg_buf_add(&q, " AND department = ?2");
    if (f->policy)
        cg_buf_add(&q, " AND policy = ?3");
    if (f->customer)
        cg_buf_add(&q, " AND customer = ?4");
    if (f->queue_id)
        cg_buf_add(&q, " AND queue_id = ?5");
    if (f->since)
        cg_buf_add(&q, " AND ts >= ?6");
    if (f->until)
        cg_buf_add(&q, " AND ts < ?7");
    if (f->relay)
        cg_buf_add(&q, " AND relay = ?8");
    cg_buf_add(&q, f->oldest_first ? " ORDER BY ts, id" : " ORDER BY ts DESC, id DESC");
    if (f->limit > 0)
        cg_buf_printf(&q, " LIMIT %ld", f->limit);
    sqlite3_stmt *stmt = cg_sqlite_prepare(s, q.s, "decisions");
    cg_buf_free(&q);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, f->verdict);
    cg_sqlite_bind_text(stmt, 2, f->department);
    cg_sqlite_bind_text(stmt, 3, f->policy);
    cg_sqlite_bind_text(stmt, 4, f->customer);
    cg_sqlite_bind_text(stmt, 5, f->queue_id);
    sqlite3_bind_int64(stmt, 6, f->since);
    sqlite3_bind_int64(stmt, 7, f->until);
    cg_sqlite_bind_text(stmt, 8, f->relay);
    return cg_sqlite_decision_rows(s, stmt, cb, arg, "decisions");
}

/* --- deferral episodes ---------------------------------------------------- */

static int sq_episode_get(cg_store *st, const char *sender, const char *recipient,
                          struct cg_episode *e)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_EPISODE_GET);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, sender);
    cg_sqlite_bind_text(stmt, 2, recipient);
    int rc = sqlite3_step(stmt), found = 0;
    if (rc == SQLITE_ROW) {
        const char *v[5] = {sender, recipient, cg_sqlite_col_text(stmt, 1),
                            cg_sqlite_col_text(stmt, 5), cg_sqlite_col_text(stmt, 6)};
        for (size_t i = 0; i < 5; i++) { /* copy first: an argument may be an old one */
            char *old = s->ep_strings[i];
            s->ep_strings[i] = cg_xstrdup(v[i]);
            free(old);
        }
        *e = (struct cg_episode){
            .sender = s->ep_strings[0],
            .recipient = s->ep_strings[1],
            .first_ts = sqlite3_column_int64(stmt, 0),
            .first_ref = s->ep_strings[2],
            .last_ts = sqlite3_column_int64(stmt, 2),
            .attempts = sqlite3_column_int64(stmt, 3),
            .retry_after = sqlite3_column_int64(stmt, 4),
            .message_id = s->ep_strings[3],
            .policy = s->ep_strings[4],
            .expired = sqlite3_column_int(stmt, 7),
        };
        found = 1;
    } else if (rc != SQLITE_DONE) {
        cg_sqlite_fail(s, "deferral episode");
        found = -1;
    }
    cg_sqlite_done(stmt);
    return found;
}

static int sq_episode_put(cg_store *st, const struct cg_episode *e)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_EPISODE_PUT);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, e->sender);
    cg_sqlite_bind_text(stmt, 2, e->recipient);
    sqlite3_bind_int64(stmt, 3, e->first_ts);
    cg_sqlite_bind_text(stmt, 4, e->first_ref);
    sqlite3_bind_int64(stmt, 5, e->last_ts);
    sqlite3_bind_int64(stmt, 6, e->attempts);
    sqlite3_bind_int64(stmt, 7, e->retry_after);
    cg_sqlite_bind_text(stmt, 8, e->message_id);
    cg_sqlite_bind_text(stmt, 9, e->policy);
    sqlite3_bind_int(stmt, 10, e->expired);
    return step_done(s, stmt, "deferral episode");
}

static int sq_episode_end(cg_store *st, const char *sender, const char *recipient)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_stmt(s, S_EPISODE_END);
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, sender);
    cg_sqlite_bind_text(stmt, 2, recipient);
    return step_done(s, stmt, "deferral episode");
}

/* --- relays ------------------------------------------------------------------ */

static int sq_relay_seen(cg_store *st, const struct cg_relay_row *r)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_prepare(
        s, "INSERT INTO relays(name, config_version, software, started, last_seen)"
           " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET"
           " config_version = excluded.config_version, software = excluded.software,"
           " started = CASE WHEN excluded.started > 0 THEN excluded.started ELSE started END,"
           " last_seen = excluded.last_seen", "relay");
    if (!stmt)
        return -1;
    cg_sqlite_bind_text(stmt, 1, r->name);
    cg_sqlite_bind_text(stmt, 2, r->config_version);
    cg_sqlite_bind_text(stmt, 3, r->software);
    sqlite3_bind_int64(stmt, 4, r->started);
    sqlite3_bind_int64(stmt, 5, r->last_seen);
    return cg_sqlite_finish(s, stmt, sqlite3_step(stmt), "relay");
}

static int sq_relays(cg_store *st, cg_store_relay_cb cb, void *arg)
{
    struct sq *s = sq_of(st);
    sqlite3_stmt *stmt = cg_sqlite_prepare(
        s, "SELECT name, config_version, software, started, last_seen FROM relays ORDER BY name",
        "relays");
    if (!stmt)
        return -1;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cg_relay_row r = {
            .name = cg_sqlite_col_text(stmt, 0),
            .config_version = cg_sqlite_col_text(stmt, 1),
            .software = cg_sqlite_col_text(stmt, 2),
            .started = sqlite3_column_int64(stmt, 3),
            .last_seen = sqlite3_column_int64(stmt, 4),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(s, stmt, rc, "relays");
}

static const struct cg_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_savepoint = sq_rollback_savepoint,
    .lock_keys = sq_lock_keys,
    .batch_begin = sq_batch_begin,
    .batch_join = sq_batch_join,
    .wants_keys = 0,
    .maintain = sq_maintain,
    .writer_step = sq_writer_step,
    .present = sq_present,
    .customer_lookup = sq_customer_lookup,
    .customer_put = sq_customer_put,
    .contact_add = sq_contact_add,
    .contacts = sq_contacts,
    .contacts_all = sq_contacts_all,
    .dept_counts = sq_dept_counts,
    .state_set = sq_state_set,
    .state_clear = sq_state_clear,
    .states = sq_states,
    .optout_set = sq_optout_set,
    .optout_remove = sq_optout_remove,
    .opted_out = sq_opted_out,
    .decision_add = sq_decision_add,
    .decisions = sq_decisions,
    .episode_get = sq_episode_get,
    .episode_put = sq_episode_put,
    .episode_end = sq_episode_end,
    .relay_seen = sq_relay_seen,
    .relays = sq_relays,
    .customers = cg_sqlite_customers,
    .customer_count = cg_sqlite_customer_count,
    .bulk = cg_sqlite_bulk,
    .optouts = cg_sqlite_optouts,
    .prune = cg_sqlite_prune,
    .forget = cg_sqlite_forget,
    .erasures = cg_sqlite_erasures,
    .erasure_add = cg_sqlite_erasure_add,
    .check = cg_sqlite_check,
    .held_rows = cg_sqlite_held_rows,
    .held_outcome = cg_sqlite_held_outcome,
    .lifecycle = cg_sqlite_lifecycle,
    .report_counts = cg_sqlite_report_counts,
    .report_reasons = cg_sqlite_report_reasons,
    .report_histogram = cg_sqlite_report_histogram,
    .report_held_outcomes = cg_sqlite_report_held_outcomes,
    .sim_events = cg_sqlite_sim_events,
};
