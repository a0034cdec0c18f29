/*
 * cg_store.c - the contact history store on SQLite (see cg_store.h).
 *
 * Every statement on the mail path is prepared once per connection and
 * cached in st->stmt[]; the decision listing, which has optional filters,
 * is built per call (it is a CLI path). Schema changes are migrations in
 * the table below: migrations[i] takes user_version i to i + 1, inside one
 * transaction, so an old database is upgraded in place on open.
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg_store.h"
#include "cg_store_int.h"
#include "cg_walbuf.h"
#include "cg_util.h"

/* How long a statement waits for a lock held by another connection, and
 * how long a restarting checkpoint waits (blocking writers meanwhile). */
#define CG_STORE_BUSY_MS 5000
#define CG_STORE_RESTART_BUSY_MS 50

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
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

enum {
    S_BEGIN,
    S_BEGIN_IMM,
    S_COMMIT,
    S_ROLLBACK,
    S_CUST_GET,
    S_CUST_EXISTS,
    S_CUST_PUT,
    S_CONTACT_ADD,
    S_CONTACTS,
    S_DEPT_CONTACTS,
    S_FIRST_DEFER,
    S_STATE_SET,
    S_STATE_CLEAR,
    S_STATES_ONE,
    S_STATES_ONE_OPEN,
    S_STATES_ALL,
    S_STATES_ALL_OPEN,
    S_OPTOUT_SET,
    S_OPTOUT_DEL,
    S_OPTOUTS_OPEN,
    S_DECISION_ADD,
    S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_IMM] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_CUST_GET] = "SELECT customer, timezone FROM customers WHERE address = ?1",
    [S_CUST_EXISTS] = "SELECT 1 FROM customers WHERE address = ?1",
    [S_CUST_PUT] = "INSERT INTO customers(address, customer, timezone, attrs) VALUES (?1,?2,?3,?4)"
                   " ON CONFLICT(address) DO UPDATE SET customer = excluded.customer,"
                   " timezone = excluded.timezone, attrs = excluded.attrs",
    [S_CONTACT_ADD] = "INSERT INTO contacts(ts, customer, address, department, category, channel,"
                      " weight, message_id, queue_id, digest) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [S_CONTACTS] = "SELECT id, ts, customer, address, department, category, channel, weight,"
                   " message_id, queue_id, digest FROM contacts"
                   " WHERE customer = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts DESC, id DESC",
    [S_DEPT_CONTACTS] = "SELECT id, ts, customer, address, department, category, channel, weight,"
                        " message_id, queue_id, digest FROM contacts"
                        " WHERE department = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts DESC, id DESC",
    [S_FIRST_DEFER] = "SELECT min(ts) FROM decisions WHERE message_id = ?1 AND recipient = ?2"
                      " AND verdict = 'defer' AND monitor = 0",
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
    [S_OPTOUTS_OPEN] = "SELECT category FROM optouts WHERE customer IN (?1, ?3) AND since <= ?2"
                       " AND (until = 0 OR until > ?2)",
    [S_DECISION_ADD] = "INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, detail,"
                       " department, sender, recipient, customer, category, message_id, queue_id,"
                       " config_version, retry_after, monitor)"
                       " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
};

struct cg_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char err[512];
    int64_t busy_since_us;    /* this wait for a lock began (monotonic) */
    int64_t busy_limit_us;    /* give up after this long */
};

/* busy_wait - SQLite's busy handler: wait for another connection's lock
 * in fine steps. (sqlite3_busy_timeout sleeps 1, 2, 5, 10, 15, 20, 25 ...
 * ms in turn, so a lock held for 2 ms costs a waiter 3 ms, one held for
 * 20 ms costs 33.) 50 us steps for the first 2 ms, then 0.5 ms steps up
 * to 20 ms, then 5 ms. */
static int busy_wait(void *arg, int count)
{
    cg_store *st = arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (count == 0)
        st->busy_since_us = now;
    int64_t waited = now - st->busy_since_us;
    if (waited >= st->busy_limit_us)
        return 0;
    int64_t step = waited < 2000 ? 50 : waited < 20000 ? 500 : 5000;
    if (step > st->busy_limit_us - waited)
        step = st->busy_limit_us - waited;
    struct timespec d = {(time_t)(step / 1000000), (long)(step % 1000000) * 1000};
    nanosleep(&d, NULL);
    return 1;
}

/* busy_limit - how long this connection's statements wait for a lock
 * (busy_wait is its busy handler from cg_store_open on) */
static void busy_limit(cg_store *st, int ms)
{
    st->busy_limit_us = (int64_t)ms * 1000;
}

/* fail - remember the SQLite error for cg_store_errmsg; returns -1 */
static int fail(cg_store *st, const char *what)
{
    snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errmsg(st->db));
    return -1;
}

sqlite3 *cg_store_sqlite(cg_store *st)
{
    return st->db;
}

int cg_store_fail(cg_store *st, const char *what)
{
    return fail(st, what);
}

int cg_store_failf(cg_store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return -1;
}

sqlite3_stmt *cg_store_prepare(cg_store *st, const char *q, const char *what)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, q, -1, &s, NULL) != SQLITE_OK) {
        fail(st, what);
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

int cg_store_finish(cg_store *st, sqlite3_stmt *s, int rc, const char *what)
{
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = fail(st, what);
    sqlite3_finalize(s);
    return ret;
}

void cg_store_bind_named_int(sqlite3_stmt *s, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(s, name);
    if (i > 0)
        sqlite3_bind_int64(s, i, v);
}

void cg_store_bind_named_text(sqlite3_stmt *s, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(s, name);
    if (i > 0)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* prep - the cached statement `i`, reset and unbound, or NULL */
static sqlite3_stmt *prep(cg_store *st, int i)
{
    sqlite3_stmt *s = st->stmt[i];
    if (!s) {
        if (sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            fail(st, "prepare");
            return NULL;
        }
        st->stmt[i] = s;
    }
    return s;
}

/* done - reset a statement after use so it holds no locks */
static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* step_done - run a statement that returns no rows */
static int step_done(cg_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    done(s);
    if (rc != SQLITE_DONE) {
        snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

static int exec(cg_store *st, const char *q, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, q, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(st->err, sizeof st->err, "%s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int cg_store_schema_version(cg_store *st)
{
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return fail(st, "user_version");
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* migrate - bring the schema to CG_STORE_SCHEMA_VERSION, one step per
 * transaction */
static int migrate(cg_store *st)
{
    for (;;) {
        if (exec(st, "BEGIN IMMEDIATE", "migration") < 0)
            return -1;
        int v = cg_store_schema_version(st);
        if (v < 0) {
            exec(st, "ROLLBACK", "migration");
            return -1;
        }
        if (v > (int)N_MIGRATIONS) {
            exec(st, "ROLLBACK", "migration");
            snprintf(st->err, sizeof st->err,
                     "schema version %d is newer than this contactgate (%d): refusing to touch it",
                     v, (int)N_MIGRATIONS);
            return -1;
        }
        if (v == (int)N_MIGRATIONS)
            return exec(st, "COMMIT", "migration");
        char what[64];
        snprintf(what, sizeof what, "migration %d -> %d", v, v + 1);
        char *bump = cg_xasprintf("PRAGMA user_version = %d", v + 1);
        int rc = exec(st, migrations[v], what);
        if (rc == 0)
            rc = exec(st, bump, what);
        free(bump);
        if (rc < 0) {
            char keep[sizeof st->err];
            memcpy(keep, st->err, sizeof keep);
            exec(st, "ROLLBACK", "migration");
            memcpy(st->err, keep, sizeof keep);
            return -1;
        }
        if (exec(st, "COMMIT", what) < 0)
            return -1;
    }
}

int cg_store_autocheckpoint(cg_store *st, int pages)
{
    return sqlite3_wal_autocheckpoint(st->db, pages) == SQLITE_OK ? 0
                                                                  : cg_store_fail(st, "autocheckpoint");
}

int cg_store_checkpoint(cg_store *st, int mode, int *frames_r, int *left_r)
{
    int log = 0, done = 0;
    /* a restart blocks writers while it waits for the readers to leave the
     * WAL: never for longer than a moment (mail is being decided), and not
     * at all when it is the writer's own */
    if (mode != CG_CKPT_PASSIVE)
        busy_limit(st, mode == CG_CKPT_RESTART_NOW ? 0 : CG_STORE_RESTART_BUSY_MS);
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL,
                                       mode == CG_CKPT_TRUNCATE  ? SQLITE_CHECKPOINT_TRUNCATE
                                       : mode == CG_CKPT_PASSIVE ? SQLITE_CHECKPOINT_PASSIVE
                                                                 : SQLITE_CHECKPOINT_RESTART,
                                       &log, &done);
    if (mode != CG_CKPT_PASSIVE)
        busy_limit(st, CG_STORE_BUSY_MS);
    if (frames_r)
        *frames_r = log;
    if (left_r)
        *left_r = log > done ? log - done : 0;
    if (rc == SQLITE_BUSY)
        return 0; /* readers or a writer were in the way: next time */
    return rc == SQLITE_OK ? 0 : cg_store_fail(st, "checkpoint");
}

cg_store *cg_store_open(const char *path, int flags, char *err, size_t errlen)
{
    cg_store *st = cg_xcalloc(1, sizeof *st);
    int ro = flags & CG_STORE_READONLY;
    int oflags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    oflags |= SQLITE_OPEN_NOMUTEX; /* one thread per connection at a time */
    /* the default VFS but for WAL writes (cg_walbuf.h) */
    if (sqlite3_open_v2(path, &st->db, oflags, cg_walbuf_register()) != SQLITE_OK) {
        cg_errf(err, errlen, "database %s: %s", path,
                st->db ? sqlite3_errmsg(st->db) : "cannot allocate");
        cg_store_free(&st);
        return NULL;
    }
    sqlite3_extended_result_codes(st->db, 1);
    busy_limit(st, CG_STORE_BUSY_MS);
    sqlite3_busy_handler(st->db, busy_wait, st);
    int rc = 0;
    if (!ro) {
        rc = exec(st, "PRAGMA journal_mode = WAL", "journal_mode");
        if (rc == 0)
            rc = exec(st, flags & CG_STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                     : "PRAGMA synchronous = NORMAL",
                      "synchronous");
        if (rc == 0)
            rc = migrate(st);
    } else {
        int v = cg_store_schema_version(st);
        if (v != CG_STORE_SCHEMA_VERSION) {
            snprintf(st->err, sizeof st->err,
                     v < 0 ? "cannot read the schema version"
                           : "schema version %d, expected %d (start contactgate once to migrate)",
                     v, CG_STORE_SCHEMA_VERSION);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = exec(st, "PRAGMA foreign_keys = ON", "foreign_keys");
    if (rc < 0) {
        cg_errf(err, errlen, "database %s: %s", path, st->err);
        cg_store_free(&st);
        return NULL;
    }
    return st;
}

void cg_store_free(cg_store **stp)
{
    cg_store *st = *stp;
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
    *stp = NULL;
}

const char *cg_store_errmsg(const cg_store *st)
{
    return st && st->err[0] ? st->err : "no error";
}

static int simple(cg_store *st, int i, const char *what)
{
    sqlite3_stmt *s = prep(st, i);
    return s ? step_done(st, s, what) : -1;
}

int cg_store_begin(cg_store *st, int immediate)
{
    return simple(st, immediate ? S_BEGIN_IMM : S_BEGIN, "begin");
}

int cg_store_commit(cg_store *st)
{
    return simple(st, S_COMMIT, "commit");
}

int cg_store_rollback(cg_store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return 0;
    return simple(st, S_ROLLBACK, "rollback");
}

/* --- customer map ------------------------------------------------------ */

int cg_store_customer_lookup(cg_store *st, const char *address, char **customer_r,
                             char **timezone_r)
{
    sqlite3_stmt *s = prep(st, S_CUST_GET);
    if (!s)
        return -1;
    bind_text(s, 1, address);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (customer_r)
            *customer_r = cg_xstrdup(cg_store_col_text(s, 0));
        if (timezone_r)
            *timezone_r = cg_xstrdup(cg_store_col_text(s, 1));
    } else if (rc != SQLITE_DONE) {
        done(s);
        return fail(st, "customer lookup");
    }
    done(s);
    return found;
}

int cg_store_customer_put(cg_store *st, const char *address, const char *customer,
                          const char *timezone, const char *attrs_json, int *added_r)
{
    if (added_r) {
        sqlite3_stmt *e = prep(st, S_CUST_EXISTS);
        if (!e)
            return -1;
        bind_text(e, 1, address);
        int rc = sqlite3_step(e);
        done(e);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail(st, "customer lookup");
        *added_r = rc == SQLITE_DONE;
    }
    sqlite3_stmt *s = prep(st, S_CUST_PUT);
    if (!s)
        return -1;
    bind_text(s, 1, address);
    bind_text(s, 2, customer);
    bind_text(s, 3, timezone);
    bind_text(s, 4, attrs_json);
    return step_done(st, s, "customer put");
}

/* --- contacts ------------------------------------------------------------ */

int cg_store_contact_add(cg_store *st, const struct cg_contact_row *c)
{
    sqlite3_stmt *s = prep(st, S_CONTACT_ADD);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, c->ts);
    bind_text(s, 2, c->customer);
    bind_text(s, 3, c->address);
    bind_text(s, 4, c->department);
    bind_text(s, 5, c->category);
    bind_text(s, 6, c->channel ? c->channel : "email");
    sqlite3_bind_double(s, 7, c->weight);
    bind_text(s, 8, c->message_id);
    bind_text(s, 9, c->queue_id);
    bind_text(s, 10, c->digest);
    return step_done(st, s, "contact add");
}

/* contacts_by - the contact iterators, by customer or by department */
static int contacts_by(cg_store *st, int which, const char *key, int64_t since, int64_t until,
                       cg_store_contact_cb cb, void *arg)
{
    sqlite3_stmt *s = prep(st, which);
    if (!s)
        return -1;
    bind_text(s, 1, key);
    sqlite3_bind_int64(s, 2, since);
    sqlite3_bind_int64(s, 3, until);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_contact_row c = {
            .id = sqlite3_column_int64(s, 0),
            .ts = sqlite3_column_int64(s, 1),
            .customer = cg_store_col_text(s, 2),
            .address = cg_store_col_text(s, 3),
            .department = cg_store_col_text(s, 4),
            .category = cg_store_col_text(s, 5),
            .channel = cg_store_col_text(s, 6),
            .weight = sqlite3_column_double(s, 7),
            .message_id = cg_store_col_text(s, 8),
            .queue_id = cg_store_col_text(s, 9),
            .digest = cg_store_col_text(s, 10),
        };
        if (cb(&c, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    done(s);
    if (rc != SQLITE_DONE)
        return fail(st, "contacts");
    return 0;
}

int cg_store_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                      cg_store_contact_cb cb, void *arg)
{
    return contacts_by(st, S_CONTACTS, customer, since, until, cb, arg);
}

int cg_store_department_contacts(cg_store *st, const char *department, int64_t since,
                                 int64_t until, cg_store_contact_cb cb, void *arg)
{
    return contacts_by(st, S_DEPT_CONTACTS, department, since, until, cb, arg);
}

int cg_store_first_deferral(cg_store *st, const char *message_id, const char *recipient,
                            int64_t *ts_r)
{
    sqlite3_stmt *s = prep(st, S_FIRST_DEFER);
    if (!s)
        return -1;
    bind_text(s, 1, message_id);
    bind_text(s, 2, recipient);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        *ts_r = sqlite3_column_int64(s, 0);
        found = 1;
    }
    done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(st, "first deferral");
    return found;
}

/* --- states -------------------------------------------------------------- */

int cg_store_state_set(cg_store *st, const struct cg_state_row *r)
{
    sqlite3_stmt *s = prep(st, S_STATE_SET);
    if (!s)
        return -1;
    bind_text(s, 1, r->customer);
    bind_text(s, 2, r->state);
    sqlite3_bind_int64(s, 3, r->since);
    sqlite3_bind_int64(s, 4, r->until);
    bind_text(s, 5, r->note);
    return step_done(st, s, "state set");
}

int cg_store_state_clear(cg_store *st, const char *customer, const char *state)
{
    sqlite3_stmt *s = prep(st, S_STATE_CLEAR);
    if (!s)
        return -1;
    bind_text(s, 1, customer);
    bind_text(s, 2, state);
    sqlite3_bind_int64(s, 3, cg_now());
    if (step_done(st, s, "state clear") < 0)
        return -1;
    return sqlite3_changes(st->db) > 0;
}

int cg_store_states(cg_store *st, const char *customer, int64_t now, cg_store_state_cb cb,
                    void *arg)
{
    int i = customer ? (now ? S_STATES_ONE_OPEN : S_STATES_ONE)
                     : (now ? S_STATES_ALL_OPEN : S_STATES_ALL);
    sqlite3_stmt *s = prep(st, i);
    if (!s)
        return -1;
    if (customer)
        bind_text(s, 1, customer);
    if (now)
        sqlite3_bind_int64(s, 2, now);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_state_row r = {
            .customer = cg_store_col_text(s, 0),
            .state = cg_store_col_text(s, 1),
            .since = sqlite3_column_int64(s, 2),
            .until = sqlite3_column_int64(s, 3),
            .note = cg_store_col_text(s, 4),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    done(s);
    return rc == SQLITE_DONE ? 0 : fail(st, "states");
}

/* --- opt-outs ------------------------------------------------------------ */

int cg_store_optout_set(cg_store *st, const struct cg_optout_row *o)
{
    sqlite3_stmt *s = prep(st, S_OPTOUT_SET);
    if (!s)
        return -1;
    bind_text(s, 1, o->customer);
    bind_text(s, 2, o->category);
    sqlite3_bind_int64(s, 3, o->since);
    sqlite3_bind_int64(s, 4, o->until);
    bind_text(s, 5, o->note);
    return step_done(st, s, "opt-out set");
}

int cg_store_optout_remove(cg_store *st, const char *customer, const char *category)
{
    sqlite3_stmt *s = prep(st, S_OPTOUT_DEL);
    if (!s)
        return -1;
    bind_text(s, 1, customer);
    bind_text(s, 2, category);
    if (step_done(st, s, "opt-out remove") < 0)
        return -1;
    return sqlite3_changes(st->db) > 0;
}

int cg_store_opted_out(cg_store *st, const char *customer, const char *address,
                       const char *category, int64_t now, int *r)
{
    *r = 0;
    sqlite3_stmt *s = prep(st, S_OPTOUTS_OPEN); /* both keys in one statement */
    if (!s)
        return -1;
    bind_text(s, 1, customer);
    sqlite3_bind_int64(s, 2, now);
    bind_text(s, 3, address ? address : customer);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *pat = cg_store_col_text(s, 0);
        if (pat && cg_category_match(pat, category)) {
            *r = 1;
            rc = SQLITE_DONE;
            break;
        }
    }
    done(s);
    return rc == SQLITE_DONE ? 0 : fail(st, "opt-outs");
}

/* --- decision log -------------------------------------------------------- */

/* decision_row - the row at s, in the order of CG_STORE_DECISION_COLS */
static void decision_row(sqlite3_stmt *s, struct cg_decision_row *d)
{
    *d = (struct cg_decision_row){
        .id = sqlite3_column_int64(s, 0),
        .ts = sqlite3_column_int64(s, 1),
        .ref = cg_store_col_text(s, 2),
        .stage = cg_store_col_text(s, 3),
        .verdict = cg_store_col_text(s, 4),
        .policy = cg_store_col_text(s, 5),
        .reason = cg_store_col_text(s, 6),
        .detail = cg_store_col_text(s, 7),
        .department = cg_store_col_text(s, 8),
        .sender = cg_store_col_text(s, 9),
        .recipient = cg_store_col_text(s, 10),
        .customer = cg_store_col_text(s, 11),
        .category = cg_store_col_text(s, 12),
        .message_id = cg_store_col_text(s, 13),
        .queue_id = cg_store_col_text(s, 14),
        .config_version = cg_store_col_text(s, 15),
        .retry_after = sqlite3_column_int64(s, 16),
        .monitor = sqlite3_column_int(s, 17),
    };
}

int cg_store_decision_rows(cg_store *st, sqlite3_stmt *s, cg_store_decision_cb cb, void *arg,
                           const char *what)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_decision_row d;
        decision_row(s, &d);
        if (cb(&d, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_store_finish(st, s, rc, what);
}

int cg_store_decision_add(cg_store *st, const struct cg_decision_row *d)
{
    sqlite3_stmt *s = prep(st, S_DECISION_ADD);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, d->ts);
    bind_text(s, 2, d->ref);
    bind_text(s, 3, d->stage);
    bind_text(s, 4, d->verdict);
    bind_text(s, 5, d->policy);
    bind_text(s, 6, d->reason);
    bind_text(s, 7, d->detail);
    bind_text(s, 8, d->department);
    bind_text(s, 9, d->sender);
    bind_text(s, 10, d->recipient);
    bind_text(s, 11, d->customer);
    bind_text(s, 12, d->category);
    bind_text(s, 13, d->message_id);
    bind_text(s, 14, d->queue_id);
    bind_text(s, 15, d->config_version);
    sqlite3_bind_int64(s, 16, d->retry_after);
    sqlite3_bind_int(s, 17, d->monitor);
    return step_done(st, s, "decision add");
}

int cg_store_decisions(cg_store *st, const struct cg_decision_filter *f,
                       cg_store_decision_cb cb, void *arg)
{
    static const struct cg_decision_filter none;
    if (!f)
        f = &none;
    struct cg_buf q = {0};
    cg_buf_add(&q, "SELECT " CG_STORE_DECISION_COLS " FROM decisions WHERE 1");
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
    cg_buf_add(&q, " ORDER BY ts DESC, id DESC");
    if (f->limit > 0)
        cg_buf_printf(&q, " LIMIT %ld", f->limit);
    sqlite3_stmt *s = cg_store_prepare(st, q.s, "decisions");
    cg_buf_free(&q);
    if (!s)
        return -1;
    bind_text(s, 1, f->verdict);
    bind_text(s, 2, f->department);
    bind_text(s, 3, f->policy);
    bind_text(s, 4, f->customer);
    bind_text(s, 5, f->queue_id);
    sqlite3_bind_int64(s, 6, f->since);
    sqlite3_bind_int64(s, 7, f->until);
    return cg_store_decision_rows(st, s, cb, arg, "decisions");
}
