/*
 * cg_decider.h - the decision thread: every check-and-record goes through
 * one thread that owns the store's write connection.
 *
 * Milter threads hand it jobs and wait. The thread takes every job that is
 * waiting, runs them in order inside ONE transaction (BEGIN IMMEDIATE ...
 * COMMIT), then wakes their threads: group commit. Each
 * job sees the contacts recorded by the jobs before it, so caps hold
 * exactly under any concurrency, and nothing is acknowledged to the MTA
 * before it is durable. If the transaction fails, every job of the batch
 * gets the on_error decision and nothing of the batch is kept.
 */
#ifndef CG_DECIDER_H
#define CG_DECIDER_H

#include <stddef.h>
#include "cg_engine.h"

typedef struct cg_decider cg_decider;

/* cg_decider_start - open the store (creating/migrating it; store_flags:
 * CG_STORE_SYNC_FULL or 0) and start the thread; NULL with a message in
 * err. */
cg_decider *cg_decider_start(const char *database, int store_flags, char *err, size_t errlen);
/* cg_decider_stop - finish waiting jobs, stop the thread, close; NULL-safe */
void cg_decider_stop(cg_decider **dp);

/* cg_decider_rcpt / cg_decider_eom - run cg_engine_rcpt / cg_engine_eom in
 * the decision thread and wait for the committed result. On any internal
 * error, d holds the on_error decision (d->error = 1); they never fail. */
void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d);
void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d);

#endif
