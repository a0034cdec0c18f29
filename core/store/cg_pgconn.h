/*
 * cg_pgconn.h - one PostgreSQL connection with deadlines of our own: the
 * libpq layer under the PostgreSQL store backend.
 *
 * It knows nothing of contactgate's schema. It connects (one host or a
 * multi-host list, URI or key=value conninfo), runs one statement or a
 * pipeline of statements with text parameters, cancels whatever overruns
 * its deadline, reports what the server said (including WARNINGs), and
 * reconnects after failures with exponential backoff.
 *
 * Threads. A cg_pgconn is used by one thread at a time; separate
 * connections are independent. A cancel is delivered from a short-lived
 * helper thread (see "Deadlines"), so link with -pthread.
 *
 * Deadlines. Every call that may do I/O takes an absolute deadline in
 * milliseconds on CLOCK_MONOTONIC: cg_pgconn_now_ms() + budget. The
 * deadline covers connecting (when the call has to), sending, the server's
 * work and the commit, including a COMMIT that waits for a synchronous
 * standby (the server's statement_timeout does not cover that wait). When
 * the deadline passes while statements are outstanding, a cancel request
 * is sent (PQcancel) and the server's answer is read for up to
 * opts.cancel_grace_ms more, so the connection stays usable; if the server
 * does not answer within the grace, the connection is dropped. So a call
 * returns at the latest cancel_grace_ms after its deadline, whatever the
 * server or the network do. One exception: libpq resolves host names with
 * a blocking getaddrinfo() when it starts a connection; give IP addresses
 * (or hostaddr=) where that matters.
 *
 * Hosts. The conninfo's hosts are tried in order, each on a connection of
 * its own, so that a host that never answers (a blackhole) costs at most
 * its own budget: connect_timeout from the conninfo (seconds; libpq's
 * rules: a value of 1 counts as 2), or else an equal share of what is left
 * of the deadline among the attempts left (two hosts, 2 s left: the first
 * gets 1 s; if it fails at once, the second gets all the rest). Either way
 * the deadline caps it. target_session_attrs is checked by libpq on each host
 * (read-write skips a standby or a server in recovery); prefer-standby is
 * two passes (standby, then any). Hosts that come from a service file
 * (service=) are not split: libpq tries them itself, bounded by the
 * deadline only.
 *
 * Failures and backoff. After a failed connect the next attempt is allowed
 * only after a delay: backoff_min_ms, doubled at each further failure up to
 * backoff_max_ms, with jitter (a random delay between half and all of it),
 * so several relays do not reconnect in step. A call made before that time
 * fails at once with CG_PGCONN_DOWN and the last error, without touching
 * the network. A successful connect resets the delay. A connection that was
 * up and then breaks (server restart, admin termination, network) is
 * noticed: an idle connection that the server closed is found before
 * anything is sent and replaced in the same call; one that breaks during a
 * call makes that call fail with CG_PGCONN_DOWN, and the next call
 * connects at once (no delay for the first attempt).
 *
 * Transactions. Statements without BEGIN in one call run in one implicit
 * transaction, committed when the call's sync is processed; a transaction
 * opened with BEGIN may span calls. If the connection is lost while such a
 * transaction is open, the server has rolled it back: the next call fails
 * with CG_PGCONN_DOWN ("lost inside a transaction") rather than running the
 * rest of it, outside any transaction, on a new connection; the call after
 * that connects. cg_pgconn_generation() changes with every new connection.
 *
 * Parameters. Statements are sent with PQsendQueryParams, parameters as
 * text ($1, $2, ...; cast in SQL where the type matters, e.g. $1::bigint).
 * A value is a NUL-terminated string passed as is, whatever it contains
 * (quotes, backslashes, semicolons, UTF-8): nothing is ever spliced into
 * SQL. A NULL pointer is SQL NULL. At most 65535 parameters per statement
 * (the protocol's limit). A value must be valid in the client encoding,
 * UTF8 unless the conninfo sets another; the server refuses it otherwise
 * (an SQL error, not a broken connection). Text cannot hold a NUL byte;
 * binary data goes hex-encoded into bytea with decode($1, 'hex').
 *
 * COPY. cg_pgconn_copy runs one COPY ... FROM STDIN with its data, on its
 * own (libpq has no COPY in pipeline mode): for bulk loads, where one
 * COPY moves as many rows as thousands of pipelined INSERTs.
 *
 * Not supported: COPY TO, LISTEN/NOTIFY, several statements in one string
 * (the extended protocol takes one).
 *
 * Results. A call's results come back as one struct cg_pgres: per
 * statement a status, rows and errors (the PGresult itself is reachable),
 * and the notices the server sent during the call. Notices belong to the
 * call, not to one statement: libpq hands a notice over as soon as it
 * parses it, which can be ahead of the result being read, and a commit's
 * notices come after the last statement's result, at the sync.
 *
 * Return values. cg_pgconn_new returns 0 or -1. The statement calls return
 * one of enum cg_pgconn_rc; everything but CG_PGCONN_OK writes a reason
 * into err (when err is not NULL). Memory: *res_r is the caller's, freed
 * with cg_pgres_free; strings a cg_pgres hands out live as long as it.
 *
 * Build: gcc -std=c11 -Wall -Wextra -Werror -pthread -c cg_pgconn.c
 *        $(pkg-config --cflags libpq); link with $(pkg-config --libs libpq).
 */
#ifndef CG_PGCONN_H
#define CG_PGCONN_H

#include <stddef.h>
#include <stdint.h>

struct pg_result; /* libpq's PGresult (libpq-fe.h) */

/* What a statement call ended with, mildest first. */
enum cg_pgconn_rc {
    CG_PGCONN_OK = 0,          /* everything ran; the sync (commit) completed */
    CG_PGCONN_SQL_ERROR,       /* the server refused a statement; its
                                * status says which; the statements after it
                                * are CG_PGRES_ABORTED; an implicit transaction
                                * was rolled back; an explicit one is aborted
                                * (send ROLLBACK). The connection is fine. */
    CG_PGCONN_NOT_REPLICATED,  /* the statements succeeded and committed on
                                * this server, but its wait for synchronous
                                * replication was cancelled (by someone else:
                                * see cg_pgres_syncrep_cancelled): a failover
                                * may lose this commit. Treat as a failure. */
    CG_PGCONN_TIMEOUT,         /* the deadline passed. If anything had been
                                * sent, a cancel was; the outcome is unknown:
                                * the statements may have committed (a COMMIT
                                * cancelled while waiting for a synchronous
                                * standby has committed locally). The
                                * connection is kept when the server answered
                                * the cancel in time, else dropped. */
    CG_PGCONN_DOWN,            /* no usable connection: connect failed, the
                                * backoff delay is running, or the connection
                                * broke during the call (then the outcome of
                                * what was sent is unknown) */
    CG_PGCONN_MISUSE           /* bad arguments (or out of memory); nothing sent */
};

/* Status of one statement in a cg_pgres. */
enum cg_pgres_status {
    CG_PGRES_OK = 0,  /* command or query succeeded */
    CG_PGRES_ERROR,   /* the server refused it (sqlstate, message) */
    CG_PGRES_ABORTED, /* not run: an earlier statement of the pipeline failed */
    CG_PGRES_MISSING  /* no result: the call ended first (timeout, broken) */
};

/* Options; a zero field takes the default. */
struct cg_pgconn_opts {
    int backoff_min_ms;           /* first delay after a failed connect: 100 */
    int backoff_max_ms;           /* longest delay: 10000 */
    int cancel_grace_ms;          /* after a deadline, for the cancel: 1000 */
    const char *application_name; /* fallback_application_name: "contactgate" */
};

/* One statement of a pipeline. params[0..nparams-1] are $1..$n; a NULL
 * element is SQL NULL; params may be NULL when nparams is 0. prepare: keep
 * the statement prepared on the connection (named, keyed by its text, at
 * most CG_PGCONN_MAX_PREPARED of them), so that the server parses and plans
 * it once per connection: the first use sends the Parse in the same
 * pipeline (no extra round trip); a new connection prepares again. For
 * the statements of the hot path, whose text is fixed. */
struct cg_pgconn_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
    int prepare;
};
#define CG_PGCONN_MAX_PREPARED 64

/* A notice (NOTICE, WARNING, ...) the server sent during a call. */
struct cg_pgnotice {
    const char *severity; /* not localised: "WARNING", "NOTICE", ... */
    const char *sqlstate; /* "" when absent */
    const char *message;  /* primary message */
    const char *detail;   /* "" when absent */
};

#define CG_PGCONN_MAX_NOTICES 32 /* notices kept per call; the rest are counted */

struct cg_pgconn;
struct cg_pgres;

/* cg_pgconn_now_ms - CLOCK_MONOTONIC in milliseconds: the clock of every
 * deadline. */
int64_t cg_pgconn_now_ms(void);

/* cg_pgconn_new - check conninfo (a URI or key=value string, as libpq takes
 * it; it may list several hosts) and make a connection object. No I/O:
 * the first call connects. opts may be NULL (defaults). Returns 0 and sets
 * *conn_r, or -1 (bad conninfo, out of memory) with err set and *conn_r
 * NULL. */
int cg_pgconn_new(const char *conninfo, const struct cg_pgconn_opts *opts,
                  struct cg_pgconn **conn_r, char *err, size_t errlen);

/* cg_pgconn_free - close and free; NULL-safe (also *connp NULL); sets
 * *connp to NULL. A cancel still under way finishes on its own. */
void cg_pgconn_free(struct cg_pgconn **connp);

/* cg_pgconn_connect - make sure there is a connection, connecting if need
 * be (subject to the backoff delay). CG_PGCONN_OK, CG_PGCONN_DOWN, or
 * CG_PGCONN_TIMEOUT when the deadline had passed before any attempt. The
 * statement calls do this themselves; it is for start-up checks. */
int cg_pgconn_connect(struct cg_pgconn *c, int64_t deadline_ms, char *err, size_t errlen);

/* cg_pgconn_disconnect - close the connection now (if any); the next call
 * connects at once. Safe on a closed connection. */
void cg_pgconn_disconnect(struct cg_pgconn *c);

/* cg_pgconn_exec - run one statement; see cg_pgconn_pipeline. */
int cg_pgconn_exec(struct cg_pgconn *c, int64_t deadline_ms, const char *sql,
                   int nparams, const char *const *params,
                   struct cg_pgres **res_r, char *err, size_t errlen);

/* cg_pgconn_pipeline - send stmts[0..n-1] in one pipeline with one sync at
 * the end (one round trip), read their n results and the sync. Returns an
 * enum cg_pgconn_rc. When res_r is not NULL, *res_r is set: to the results
 * when anything was sent (also on TIMEOUT and on a DOWN that broke the
 * call half-way: the statements that completed are there), else to NULL.
 * n must be at least 1. */
int cg_pgconn_pipeline(struct cg_pgconn *c, int64_t deadline_ms,
                       const struct cg_pgconn_stmt *stmts, int n,
                       struct cg_pgres **res_r, char *err, size_t errlen);

/* cg_pgconn_copy - run sql, one COPY ... FROM STDIN statement, sending it
 * data[0..len-1] in the format the statement names (text format: fields
 * separated by tabs, rows ended by "\n", \N for NULL, and a backslash,
 * tab, newline or carriage return inside a field escaped as \\, \t, \n,
 * \r; the bytes must be valid in the client encoding). Not in a pipeline;
 * on the connection's open transaction, else in one implicit transaction
 * of its own. The deadline covers it all as for cg_pgconn_pipeline:
 * connecting, the statement, the data (however slowly the server takes it)
 * and the answer; past it, a cancel and, if the server still waits for
 * data, a CopyFail, then the grace to read the answer. Returns an enum
 * cg_pgconn_rc; a refused statement or row is CG_PGCONN_SQL_ERROR, the
 * server's CONTEXT (which names the line and column) in err. *res_r, when
 * anything was sent, has one statement: the COPY (cg_pgres_affected: the
 * rows copied). len may be 0 (no rows). */
int cg_pgconn_copy(struct cg_pgconn *c, int64_t deadline_ms, const char *sql,
                   const char *data, size_t len, struct cg_pgres **res_r,
                   char *err, size_t errlen);

/* State, for logs and tests. generation counts connections made (0: none
 * yet). retry_in_ms: 0 when a connect may be tried now, else how long the
 * backoff delay still runs. host/port: of the current connection, NULL
 * when there is none. in_transaction: the last call left a transaction
 * open (idle or aborted in a BEGIN block). */
uint64_t cg_pgconn_generation(const struct cg_pgconn *c);
int cg_pgconn_connected(const struct cg_pgconn *c);
int64_t cg_pgconn_retry_in_ms(const struct cg_pgconn *c);
const char *cg_pgconn_host(const struct cg_pgconn *c);
const char *cg_pgconn_port(const struct cg_pgconn *c);
int cg_pgconn_in_transaction(const struct cg_pgconn *c);
/* cg_pgconn_rc_name - "ok", "sql-error", "not-replicated", "timeout",
 * "down", "misuse" */
const char *cg_pgconn_rc_name(int rc);

/* --- results ------------------------------------------------------------ */
/* Accessors are NULL-safe and range-checked: a NULL r, a statement index
 * out of range, or a row/column out of range give 0, NULL, -1 or
 * CG_PGRES_MISSING as the type suggests. */
int cg_pgres_count(const struct cg_pgres *r);                  /* statements */
int cg_pgres_status(const struct cg_pgres *r, int i);          /* enum cg_pgres_status */
const char *cg_pgres_sqlstate(const struct cg_pgres *r, int i); /* "" when none */
const char *cg_pgres_errmsg(const struct cg_pgres *r, int i);   /* "" when none */
int cg_pgres_ntuples(const struct cg_pgres *r, int i);
int cg_pgres_nfields(const struct cg_pgres *r, int i);
/* cg_pgres_value - text of a field; NULL for SQL NULL (or out of range) */
const char *cg_pgres_value(const struct cg_pgres *r, int i, int row, int col);
/* cg_pgres_affected - rows affected (INSERT/UPDATE/DELETE/SELECT...), -1
 * when the command reports none */
int64_t cg_pgres_affected(const struct cg_pgres *r, int i);
/* cg_pgres_raw - the PGresult of statement i, owned by r (do not PQclear) */
struct pg_result *cg_pgres_raw(const struct cg_pgres *r, int i);

int cg_pgres_nnotices(const struct cg_pgres *r);
const struct cg_pgnotice *cg_pgres_notice(const struct cg_pgres *r, int k);
int cg_pgres_notices_dropped(const struct cg_pgres *r);
/* cg_pgres_syncrep_cancelled - a notice said the server stopped waiting
 * for synchronous replication ("canceling wait for synchronous
 * replication ...", "canceling the wait ..."): the transaction committed on
 * that server and may be missing on the standby. Matched on the message
 * text, which is English only when the server's lc_messages is (C or en);
 * the SQLSTATE is the generic 01000. A call whose deadline passed returns
 * CG_PGCONN_TIMEOUT whatever the language. */
int cg_pgres_syncrep_cancelled(const struct cg_pgres *r);
/* cg_pgres_deadline_hit - the call's deadline passed and a cancel was sent */
int cg_pgres_deadline_hit(const struct cg_pgres *r);

/* cg_pgres_free - NULL-safe (also *rp NULL); sets *rp to NULL */
void cg_pgres_free(struct cg_pgres **rp);

#endif /* CG_PGCONN_H */
