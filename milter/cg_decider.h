/*
 * cg_decider.h - every check-and-record goes through one write connection,
 * with group commit.
 *
 * Milter threads queue their jobs (the envelope check of a recipient, the
 * end-of-message check-and-record) and wait. The first waiting thread
 * that finds no batch running takes every queued job and runs them in
 * order inside ONE transaction (the store's immediate transaction; each
 * job in a savepoint of its own), then (after one more batch if jobs are
 * waiting) hands the lead to the next waiting one and wakes the threads of
 * its batch, each of which wakes the next (leader and followers). Each job
 * sees the contacts recorded by the jobs before it, so caps hold exactly
 * under any concurrency, and nothing is acknowledged to the MTA before it
 * is committed. A job that fails is rolled back to its savepoint and gets
 * the on_error decision alone; if the commit fails (or the database file
 * turned out to be gone), every job of the batch gets it and nothing of
 * the batch is kept. An envelope check that settles nothing wrote
 * nothing: its thread is released before the commit, with the others
 * like it, as soon as the leader looks for more jobs.
 *
 * Before a job is queued, its session thread runs the policies whose
 * plugins read no history (cg_engine_prepare): whatever they wait for
 * (DNS), no other message waits for it.
 *
 * A thread of the decider's own does the store's background maintenance
 * (SQLite: WAL checkpoints) on a second connection, notes this relay and
 * its configuration in the store, and, when the database file went away,
 * reopens it once it is back (mail is tempfailed meanwhile, with a log
 * line that says why).
 */
#ifndef CG_DECIDER_H
#define CG_DECIDER_H

#include <stddef.h>
#include "cg_engine.h"

typedef struct cg_decider cg_decider;

/* cg_decider_start - open the store (creating/migrating it; store_flags:
 * CG_STORE_SYNC_FULL or 0) and start the maintenance thread; NULL with a
 * message in err. */
cg_decider *cg_decider_start(const char *database, int store_flags, char *err, size_t errlen);
/* cg_decider_stop - let queued jobs finish, stop the maintenance thread,
 * close; NULL-safe */
void cg_decider_stop(cg_decider **dp);
/* cg_decider_config - the configuration now in use (at start and after
 * each reload): noted in the store for `contactgatectl relays` */
void cg_decider_config(cg_decider *dc, const struct cg_config *cfg);

/* cg_decider_rcpt - the envelope check as a job; a settled verdict's log
 * row is committed with its batch before the thread is released.
 * cg_decider_eom - the check-and-record as a job; waits for the commit.
 * On any internal error, d holds the on_error decision (d->error = 1) (at
 * RCPT: no verdict, decided at end of message); they never fail. */
void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d);
void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d);

#endif
