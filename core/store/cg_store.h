/*
 * cg_store.h - the contact history store: one interface, several backends.
 *
 * A cg_store is one connection to the history: SQLite (a file; the
 * embedded default for one relay) or PostgreSQL (several relays share one
 * history). cg_store_open() picks the backend from the `database` string:
 * a "postgresql://" or "postgres://" URI or a "key=value" conninfo is
 * PostgreSQL, anything else a SQLite file. Every other function works the
 * same on either; the engine, the plugins (through the host), the daemon
 * and contactgatectl never see SQL. The admin, compliance and report
 * queries are in cg_store_admin.h, cg_store_held.h, cg_store_report.h and
 * cg_store_sim.h, the same interface by area.
 *
 * A connection is used by one thread at a time. The daemon has one write
 * connection (the decider) and one for background maintenance;
 * contactgatectl and the tests open their own.
 *
 * Return values: 0 ok, -1 error (cg_store_errmsg says why, naming the
 * database). Lookups that may find nothing return 1 found / 0 not found /
 * -1 error. Iterators call cb for each row; a non-zero cb return stops the
 * iteration and is not an error. Strings given to a callback are valid
 * only during the call; strings in rows passed in are only read during
 * the call.
 *
 * Times are Unix seconds (UTC). Addresses and customer ids are stored as
 * given: callers normalise them (cg_addr.h) before they come here.
 */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_store cg_store;

/* The schema version this build writes; older databases are migrated
 * forward on open, newer ones refused. */
#define CG_STORE_SCHEMA_VERSION 4

/* --- open flags --------------------------------------------------------- */
#define CG_STORE_READONLY 0x01   /* never create or migrate; refuse an old schema */
/* Durability of a commit (SQLite; PostgreSQL follows the server's
 * synchronous_commit). Default: a committed transaction survives a crash
 * or kill of the process; an OS crash or power loss may lose the last
 * ones. CG_STORE_SYNC_FULL: every commit waits for an fsync. */
#define CG_STORE_SYNC_FULL 0x02
#define CG_STORE_NO_CREATE 0x04  /* the database must exist (reopening one that
                                  * went away must not start an empty one) */
/* The daemon's write connection: background maintenance (WAL checkpoints
 * on SQLite) is left to a second connection opened with
 * CG_STORE_MAINTAINER and cg_store_maintain() run by a thread of its own;
 * the write connection never pauses for it. */
#define CG_STORE_WRITER 0x08
#define CG_STORE_MAINTAINER 0x10

cg_store *cg_store_open(const char *database, int flags, char *err, size_t errlen);
/* cg_store_free - close; NULL-safe; sets *st to NULL. */
void cg_store_free(cg_store **st);
const char *cg_store_errmsg(const cg_store *st);
/* "sqlite" or "postgresql" */
const char *cg_store_backend(const cg_store *st);
/* The schema version of the database, -1 on error. */
int cg_store_schema_version(cg_store *st);

/* --- transactions --------------------------------------------------------
 * begin(immediate = 1) takes the write lock at once, which check-and-record
 * needs (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction whose
 * customers are locked with cg_store_lock_keys). rollback is safe when no
 * transaction is open. A savepoint isolates one job of a batch: rolling
 * back to it undoes that job's writes only. */
int cg_store_begin(cg_store *st, int immediate);
int cg_store_commit(cg_store *st);
int cg_store_rollback(cg_store *st);
int cg_store_savepoint(cg_store *st);
int cg_store_release(cg_store *st);
int cg_store_rollback_savepoint(cg_store *st);
/* cg_store_lock_keys - inside an immediate transaction, before its reads:
 * make the check-and-record of these keys (customer ids, "dept:NAME")
 * exclusive until the transaction ends, across every connection and
 * relay. The keys may repeat and come in any order. SQLite: nothing to do
 * (BEGIN IMMEDIATE already serialises writers). */
int cg_store_lock_keys(cg_store *st, const char *const *keys, size_t n);

/* --- batches (the daemon's decider) ---------------------------------------
 * What the jobs of one batch will read: the recipients' addresses (their
 * customers are found through the customer map), the (sender, recipient)
 * pairs of their deferral episodes, and the sending departments. The
 * strings are not copied: they must outlive the batch's transaction.
 * cg_store_batch_begin opens the batch's immediate transaction and makes
 * its check-and-record exclusive for those keys across relays before any
 * read (PostgreSQL: the customers' and departments' advisory locks in
 * sorted order, then every read of the batch in the same round trip,
 * answered from memory by the calls that follow; a read outside them goes
 * to the server, after locking its key). SQLite: BEGIN IMMEDIATE. */
struct cg_store_batch {
    const char **addresses;
    size_t n_addresses, cap_addresses;
    const char **senders, **recipients; /* pairs */
    size_t n_pairs, cap_pairs;
    const char **departments;
    size_t n_departments, cap_departments;
    int64_t now;               /* the batch's time (0: now) */
};
void cg_store_batch_address(struct cg_store_batch *b, const char *address);
void cg_store_batch_episode(struct cg_store_batch *b, const char *sender, const char *recipient);
void cg_store_batch_department(struct cg_store_batch *b, const char *department);
/* cg_store_batch_merge - add the keys of `from` to `to` */
void cg_store_batch_merge(struct cg_store_batch *to, const struct cg_store_batch *from);
/* cg_store_batch_clear - forget the keys (the arrays are freed, not the strings) */
void cg_store_batch_clear(struct cg_store_batch *b);
int cg_store_batch_begin(cg_store *st, const struct cg_store_batch *b);
/* cg_store_batch_join - a job that comes while a batch runs: 0 it may
 * join the batch (SQLite: always), 1 it must wait for the next batch
 * (PostgreSQL: its locks cannot be taken out of order without risking a
 * deadlock with another relay), -1 error */
int cg_store_batch_join(cg_store *st, const struct cg_store_batch *b);
/* cg_store_wants_keys - does the backend use the keys (PostgreSQL)? When
 * not, the caller may pass empty batches. */
int cg_store_wants_keys(const cg_store *st);
/* cg_store_set_timeout - the deadline of one call to a database server,
 * connecting included, for connections opened after it (the daemon's;
 * contactgatectl's calls wait longer, the connect alone is bounded). 0:
 * the default, 5 s. SQLite: its busy wait. */
void cg_store_set_timeout(int ms);

/* --- maintenance (the daemon) ------------------------------------------- */
struct cg_store_maint {
    int again;          /* out: call cg_store_maintain again at once */
    int writer_step;    /* out: the write connection should run
                         * cg_store_writer_step() before its next batch */
};
/* cg_store_maintain - one background pass on the CG_STORE_MAINTAINER
 * connection (SQLite: a WAL checkpoint pass and its write-back). */
int cg_store_maintain(cg_store *st, struct cg_store_maint *m);
/* cg_store_writer_step - what the maintainer asked for, on the write
 * connection between two transactions (SQLite: restart the WAL). */
int cg_store_writer_step(cg_store *st);
/* cg_store_present - is the database still there? The write connection
 * checks after each commit (a stat(2) on SQLite): 1 yes, 0 the file was
 * removed or replaced since it was opened (what was committed went to a
 * file nobody will read: the caller must not acknowledge it; the message
 * says what happened), -1 error. */
int cg_store_present(cg_store *st);

/* --- customer map ------------------------------------------------------ */
/* address -> customer id and optional time zone. The strings returned are
 * malloc()ed; the caller frees them. */
int cg_store_customer_lookup(cg_store *st, const char *address, char **customer_r,
                             char **timezone_r);
/* Insert or update one mapping; *added_r = 1 when it was new. */
int cg_store_customer_put(cg_store *st, const char *address, const char *customer,
                          const char *timezone, const char *attrs_json, int *added_r);

/* --- contact history --------------------------------------------------- */
struct cg_contact_row {
    int64_t id;
    int64_t ts;
    const char *customer;
    const char *address;
    const char *department;
    const char *category;
    const char *channel;      /* "email" for mail; "sms", "call", ... */
    double weight;
    const char *message_id;
    const char *queue_id;
    const char *digest;
    const char *relay;        /* the relay that let it through (NULL: none, e.g.
                               * another channel or a released hold) */
};
/* cg_store_contact_add - record one contact, and count it in the
 * department's counters in the same transaction. The one way a contact
 * is recorded (mail let through, a released hold, another channel). */
int cg_store_contact_add(cg_store *st, const struct cg_contact_row *c);
typedef int (*cg_store_contact_cb)(const struct cg_contact_row *c, void *arg);
/* Contacts of one customer with since <= ts < until, newest first. */
int cg_store_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                      cg_store_contact_cb cb, void *arg);
/* Every contact with since <= ts < until (0, 0: all), oldest first: for
 * copies and replays, never on the mail path. */
int cg_store_contacts_all(cg_store *st, int64_t since, int64_t until, cg_store_contact_cb cb,
                          void *arg);

/* --- department counters ------------------------------------------------
 * Every recorded contact is also counted per department and category in
 * buckets of a minute, an hour and a day (in the contact's transaction),
 * so a department's volume over a window is read from at most a few
 * hundred counter rows, whatever the volume. */
#define CG_COUNT_MINUTE 60
#define CG_COUNT_HOUR 3600
#define CG_COUNT_DAY 86400
struct cg_count_bucket {
    int64_t start, end;       /* the bucket covers start <= ts < end */
    const char *category;
    int64_t n;                /* contacts of that category in it */
};
typedef int (*cg_store_bucket_cb)(const struct cg_count_bucket *b, void *arg);
/* cg_store_dept_counts - the department's buckets covering [since, until),
 * oldest first (one call per category and bucket). The first bucket
 * may start before `since` and the last end after `until`: a window edge
 * is rounded outwards to the minute, so a count is never too low (a limit
 * is never passed) and a time derived from a bucket's end is never early. */
int cg_store_dept_counts(cg_store *st, const char *department, int64_t since, int64_t until,
                         cg_store_bucket_cb cb, void *arg);
/* The spans of one level that cover a window (shared by the backends):
 * fills at most CG_COUNT_MAX_SPANS, returns how many. */
#define CG_COUNT_MAX_SPANS 5
struct cg_count_span {
    int64_t level;            /* CG_COUNT_MINUTE, _HOUR or _DAY */
    int64_t from, to;         /* bucket starts from <= b < to */
};
size_t cg_store_count_spans(int64_t since, int64_t until,
                            struct cg_count_span out[CG_COUNT_MAX_SPANS]);
/* The start of the bucket of `level` that holds ts. */
int64_t cg_store_bucket_of(int64_t ts, int64_t level);

/* --- customer states --------------------------------------------------- */
struct cg_state_row {
    const char *customer;
    const char *state;
    int64_t since;
    int64_t until;            /* 0 = open-ended */
    const char *note;
};
/* Set (insert or replace) a state. */
int cg_store_state_set(cg_store *st, const struct cg_state_row *s);
/* Clear a state; returns 1 if one was cleared, 0 if none was open. */
int cg_store_state_clear(cg_store *st, const char *customer, const char *state);
typedef int (*cg_store_state_cb)(const struct cg_state_row *s, void *arg);
/* States of `customer` (NULL: every customer). now > 0: only states open at
 * `now` (since <= now and (until = 0 or until > now)); now == 0: all. */
int cg_store_states(cg_store *st, const char *customer, int64_t now,
                    cg_store_state_cb cb, void *arg);

/* --- opt-outs -------------------------------------------------------- */
/* category is a category pattern; "*" is the global suppression. */
struct cg_optout_row {
    const char *customer;
    const char *category;
    int64_t since;
    int64_t until;            /* 0 = open-ended */
    const char *note;
};
int cg_store_optout_set(cg_store *st, const struct cg_optout_row *o);
int cg_store_optout_remove(cg_store *st, const char *customer, const char *category);
/* *r = 1 when an opt-out open at `now`, of the customer or of the
 * address (NULL: the customer's only), matches `category`. */
int cg_store_opted_out(cg_store *st, const char *customer, const char *address,
                       const char *category, int64_t now, int *r);

/* --- decision log ---------------------------------------------------- */
struct cg_decision_row {
    int64_t id;
    int64_t ts;
    const char *ref;            /* reference shown to the sender */
    const char *stage;          /* "rcpt", "eom", "release" */
    const char *verdict;        /* "tag", "defer", "reject", "hold", "accept", ... */
    const char *policy;         /* deciding policy, or NULL */
    const char *reason;
    const char *detail;         /* every violation: "pol1=defer:reason; ..." */
    const char *department;
    const char *sender;
    const char *recipient;
    const char *customer;
    const char *category;
    const char *message_id;
    const char *queue_id;
    const char *config_version;
    int64_t retry_after;        /* 0 if none */
    int monitor;                /* 1 if only monitored (not enforced) */
    const char *episode;        /* the deferral episode the row belongs to
                                 * (the reference of its first deferral), or NULL */
    const char *relay;          /* the relay that decided, or NULL */
};
int cg_store_decision_add(cg_store *st, const struct cg_decision_row *d);
struct cg_decision_filter {
    const char *verdict;      /* NULL = any */
    const char *department;
    const char *policy;
    const char *customer;
    const char *queue_id;
    const char *relay;
    int64_t since;            /* 0 = unbounded */
    int64_t until;            /* 0 = unbounded */
    long limit;               /* 0 = no limit */
    int oldest_first;         /* oldest first instead (copies keep the log's order) */
};
typedef int (*cg_store_decision_cb)(const struct cg_decision_row *d, void *arg);
/* Matching decisions, newest first (f->oldest_first: oldest first). */
int cg_store_decisions(cg_store *st, const struct cg_decision_filter *f,
                       cg_store_decision_cb cb, void *arg);

/* --- deferral episodes ---------------------------------------------------
 * A message the MTA retries keeps its envelope: an episode is the run of
 * deferrals of one (sender, recipient) until the mail is let through,
 * refused or held (or the episode goes stale), so a retry is linked to
 * its first deferral at RCPT time already, when there is no Message-ID. */
/* Episodes whose last deferral is this long past its retry-after (or,
 * without one, its time) are stale: a new deferral starts afresh (the
 * engine) and prune removes them (every backend). */
#define CG_EPISODE_STALE_SECS (5 * 86400)
struct cg_episode {
    const char *sender;       /* normalised envelope sender ("" null sender) */
    const char *recipient;    /* normalised recipient address */
    int64_t first_ts;         /* first deferral */
    const char *first_ref;    /* its reference: the episode's name */
    int64_t last_ts;          /* latest deferral */
    int64_t attempts;         /* deferrals so far */
    int64_t retry_after;      /* given with the latest deferral (0: none) */
    const char *message_id;   /* once known (a deferral at end of message) */
    const char *policy;       /* the policy of the latest deferral */
    int expired;              /* its max_defer passed while other recipients of the
                               * message were still fine: the verdict (enum
                               * cg_action) the next attempt gets at RCPT; 0 none */
};
/* The open episode of (sender, recipient): 1 and *e filled (its strings
 * valid until the next call on st), 0 none, -1 error. */
int cg_store_episode_get(cg_store *st, const char *sender, const char *recipient,
                         struct cg_episode *e);
/* Insert or replace the episode of (e->sender, e->recipient). */
int cg_store_episode_put(cg_store *st, const struct cg_episode *e);
/* End the episode of (sender, recipient), if any. */
int cg_store_episode_end(cg_store *st, const char *sender, const char *recipient);

/* --- relays ------------------------------------------------------------ */
struct cg_relay_row {
    const char *name;
    const char *config_version;
    const char *software;     /* contactgate version */
    int64_t started;
    int64_t last_seen;
};
/* Note that `name` runs `config_version` (at start, reload and now and
 * then while running). */
int cg_store_relay_seen(cg_store *st, const struct cg_relay_row *r);
typedef int (*cg_store_relay_cb)(const struct cg_relay_row *r, void *arg);
int cg_store_relays(cg_store *st, cg_store_relay_cb cb, void *arg);

#endif
