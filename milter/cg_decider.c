/*
 * cg_decider.c - check-and-record with group commit (see cg_decider.h).
 *
 * Everything goes through the one write connection, whose page cache stays
 * warm: another SQLite connection's cache is thrown away whenever the file
 * changed since its last transaction, i.e. after nearly every commit under
 * mail load, so a separate reader re-reads its B-tree pages for each check
 * (measured: p50 38 us per envelope check on a reader against 20 us on the
 * writer, at 10 M history rows). The envelope (RCPT) check is a job like
 * the end-of-message one; one that settles nothing writes nothing and its
 * thread is released before the batch commits (see run_batch).
 *
 * Waiting: a job's thread sleeps on its job's own condition variable
 * (POSIX, with the job's own mutex: the decider's lock is not needed to
 * finish a job). A committed batch's threads are woken as a chain, each by
 * the one before it, which keeps n-1 wake-ups off the leader, whose time
 * is what every message waits for. The lead is handed to the next queued
 * job under the decider's lock (a queued job's thread cannot go away).
 * Lock order: the decider's lock, then a job's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg_decider.h"
#include "cg_log.h"
#include "cg_metrics.h"
#include "cg_util.h"

#define CG_BATCH_MAX 256
#define CG_LEAD_AGAIN 1
/* the maintenance thread: a pass this often (at once when the store asks) */
#define CG_MAINT_MS 200
/* this relay is noted in the store this often while running */
#define CG_RELAY_EVERY_SECS 60
/* a database that went away is looked for again this often */
#define CG_REOPEN_SECS 1

struct job {
    struct job *next;
    const struct cg_config *cfg;
    struct cg_msg *m;
    struct cg_rcpt *r;        /* NULL: end of message; else the envelope check of r */
    struct cg_decision *d;
    int failed;               /* its own step failed: it has the on_error decision */
    struct cg_store_batch keys; /* what it will read (a keyed store only) */
    int errored;              /* job_error gave it the on_error decision (counted) */
    int queued;               /* in the decider's queue (its lock) */
    pthread_mutex_t mu;       /* guards done and lead */
    pthread_cond_t cv;
    int done;                 /* its result is in */
    int lead;                 /* its thread is asked to lead a batch */
};

struct cg_decider {
    cg_store *st;             /* the write connection (used by the leader only) */
    cg_store *maint;          /* the maintenance thread's connection, or NULL */
    cg_store *fresh_st;       /* a reopened write connection, for the next leader */
    char *database;
    int store_flags;
    int keyed;                /* the store locks and fetches a batch's keys ahead
                               * (PostgreSQL): jobs join a running batch only
                               * when it holds their keys already */
    pthread_mutex_t lock;
    struct job *head, *tail;
    int leading;              /* a thread is running a batch */
    int stopping;
    int writer_step;          /* the leader runs cg_store_writer_step before its next batch */
    int gone;                 /* the database file went away: tempfail until it is back */
    char gone_why[512];
    pthread_t maint_thread;
    pthread_cond_t maint_cv;
    int maint_running;
    /* this relay, for the store (cg_decider_config) */
    char relay[80];
    char config_version[24];
    int64_t started;
    int relay_dirty;
};

/* job_error - a job that could not be decided: at end of message the
 * on_error decision; at RCPT no verdict (an internal error there only
 * postpones the decision to end of message) */
static void job_error(struct job *j, enum cg_metrics_cause cause, const char *why)
{
    cg_engine_error(j->cfg, j->d, why);
    j->errored = 1;
    cg_metrics_error(cause, !j->r && j->d->verdict == CG_ACT_DEFER);
    cg_log(LOG_ERR, "%s: ref=%s stage=%s verdict=%s reason=\"%s\"",
           j->m->queue_id ? j->m->queue_id : "NOQUEUE", j->d->ref, j->r ? "rcpt" : "eom",
           j->r ? "none(decided at end of message)"
           : j->d->verdict == CG_ACT_ACCEPT ? "accept(on_error)" : "tempfail", why);
    if (j->r)
        j->d->verdict = CG_ACT_ACCEPT, j->d->error = 0, j->d->smtp_code[0] = 0;
}

/* release - a job is finished: mark it and wake its thread (the waker's
 * own job is just marked) */
static void release(struct job *j, const struct job *self)
{
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    if (j != self)
        pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* release_chain - finish a list of decided jobs (a committed batch, or
 * envelope checks that wrote nothing): the leader's own job at once, the
 * first other one woken here, each of the rest by the one before it (see
 * wait_done) */
static void release_chain(struct job *batch, const struct job *self)
{
    struct job **jp = &batch;
    while (*jp && *jp != self)
        jp = &(*jp)->next;
    if (*jp) { /* the leader's own: out of the chain */
        struct job *mine = *jp;
        *jp = mine->next;
        mine->next = NULL;
        release(mine, self);
    }
    if (batch)
        release(batch, self);
}

/* take - up to max queued jobs off the queue, in order (lock held) */
static struct job *take(cg_decider *dc, size_t max)
{
    struct job *first = dc->head, *last = first;
    if (!first || !max)
        return NULL;
    for (size_t n = 1; last->next && n < max; n++)
        last = last->next;
    dc->head = last->next;
    if (!dc->head)
        dc->tail = NULL;
    last->next = NULL;
    long n = 0;
    for (struct job *j = first; j; j = j->next, n++)
        j->queued = 0;
    cg_metrics_queue(-n);
    return first;
}

/* take_more - queued jobs that may join the running batch, in order, up
 * to max (lock held): with a keyed store only those whose keys the batch
 * holds (a check in memory), stopping at the first that may not (it
 * leads the next batch) */
static struct job *take_more(cg_decider *dc, size_t max)
{
    if (!dc->keyed)
        return take(dc, max);
    size_t n = 0;
    for (struct job *j = dc->head; j && n < max; j = j->next, n++)
        if (cg_store_batch_join(dc->st, &j->keys) != 0)
            break;
    return take(dc, n);
}

/* begin_batch - the batch's transaction; with a keyed store the jobs are
 * taken first and their keys locked and fetched with the BEGIN */
static int begin_batch(cg_decider *dc, struct job **batchp)
{
    if (!dc->keyed)
        return cg_store_begin(dc->st, 1);
    pthread_mutex_lock(&dc->lock);
    *batchp = take(dc, CG_BATCH_MAX);
    pthread_mutex_unlock(&dc->lock);
    struct cg_store_batch keys = {0};
    for (struct job *j = *batchp; j; j = j->next)
        cg_store_batch_merge(&keys, &j->keys);
    keys.now = cg_now();
    int rc = cg_store_batch_begin(dc->st, &keys);
    cg_store_batch_clear(&keys);
    return rc;
}

/* fail_all - every job of a list gets the on_error decision */
static void fail_all(struct job *list, const char *why)
{
    for (struct job *j = list; j; j = j->next)
        if (!j->failed)
            job_error(j, CG_MC_STORE, why);
}

/* run_job - one job in a savepoint of its own: a job whose step fails is
 * rolled back alone and gets the on_error decision; -1 only when the
 * transaction itself is lost */
static int run_job(cg_decider *dc, struct job *j)
{
    if (j->m->now == 0) /* the milter leaves it 0: decide at commit time */
        j->m->now = cg_now();
    if (cg_store_savepoint(dc->st) < 0) {
        cg_log(LOG_ERR, "%s", cg_store_errmsg(dc->st));
        return -1;
    }
    int rc = j->r ? cg_engine_rcpt(j->cfg, dc->st, j->m, j->r, j->d)
                  : cg_engine_eom(j->cfg, dc->st, j->m, 1, j->d);
    if (rc == 0)
        return cg_store_release(dc->st) < 0 ? -1 : 0;
    /* the engine logged the store's error */
    if (cg_store_rollback_savepoint(dc->st) < 0) {
        cg_log(LOG_ERR, "%s", cg_store_errmsg(dc->st));
        return -1;
    }
    job_error(j, CG_MC_STORE, "contact history unavailable");
    j->failed = 1;
    return 0;
}

/* run_batch - one transaction over a batch of jobs. An envelope check that
 * settles nothing wrote nothing: it is taken out of *batchp and released
 * without waiting for the commit, with the others like it, as a chain,
 * before the leader looks for more jobs; the rest wait for the commit.
 * Jobs queued while the batch runs join it before the commit (up to
 * CG_BATCH_MAX in all): under load the batches grow instead of queueing
 * behind each other. */
static void run_batch(cg_decider *dc, struct job **batchp, const struct job *self)
{
    size_t n = 0;
    struct job *early = NULL; /* decided envelope checks, not yet released */
    const char *lost = NULL;  /* why the whole batch failed */
    if (dc->gone)
        lost = dc->gone_why;
    else if (begin_batch(dc, batchp) < 0) {
        cg_log(LOG_ERR, "store: cannot begin a transaction: %s", cg_store_errmsg(dc->st));
        lost = "contact history unavailable";
    }
    if (lost && !*batchp) { /* what waits gets the on_error answer now */
        pthread_mutex_lock(&dc->lock);
        *batchp = take(dc, CG_BATCH_MAX);
        pthread_mutex_unlock(&dc->lock);
    }
    for (struct job **jp = batchp; !lost;) {
        if (!*jp) {
            release_chain(early, self);
            early = NULL;
            pthread_mutex_lock(&dc->lock);
            *jp = take_more(dc, CG_BATCH_MAX - n);
            pthread_mutex_unlock(&dc->lock);
            if (!*jp)
                break;
        }
        struct job *j = *jp;
        n++;
        if (run_job(dc, j) < 0) {
            lost = "contact history unavailable";
        } else if (j->r && !j->failed && j->d->verdict < CG_ACT_DEFER) {
            *jp = j->next;
            j->next = early;
            early = j;
            continue;
        }
        jp = &j->next;
    }
    release_chain(early, self);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!lost && cg_store_commit(dc->st) < 0) {
        cg_log(LOG_ERR, "store: commit failed: %s", cg_store_errmsg(dc->st));
        lost = "contact history unavailable";
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* what was committed to a file nobody will read again must not be
     * acknowledged: the MTA retries it once the database is back */
    if (!lost && cg_store_present(dc->st) != 1) {
        pthread_mutex_lock(&dc->lock);
        if (!dc->gone) {
            dc->gone = 1;
            snprintf(dc->gone_why, sizeof dc->gone_why, "%s", cg_store_errmsg(dc->st));
            cg_log(LOG_ERR, "store: %s: mail is tempfailed until it is back (checked every "
                   "%d s)", dc->gone_why, CG_REOPEN_SECS);
        }
        pthread_mutex_unlock(&dc->lock);
        lost = dc->gone_why;
    }
    if (lost) {
        cg_store_rollback(dc->st);
        fail_all(*batchp, lost);
        cg_metrics_store(0, lost == dc->gone_why || !dc->st ? lost : cg_store_errmsg(dc->st));
    } else {
        cg_metrics_batch(n, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
        cg_metrics_store(1, NULL);
    }
}

/* --- maintenance ------------------------------------------------------------- */

/* note_relay - this relay and its configuration, in the store */
static void note_relay(cg_decider *dc, int64_t now)
{
    pthread_mutex_lock(&dc->lock);
    struct cg_relay_row r = {
        .name = dc->relay,
        .config_version = dc->config_version,
        .software = CG_VERSION,
        .started = dc->relay_dirty ? dc->started : 0,
        .last_seen = now,
    };
    char name[sizeof dc->relay], version[sizeof dc->config_version];
    memcpy(name, dc->relay, sizeof name);
    memcpy(version, dc->config_version, sizeof version);
    r.name = name;
    r.config_version = version;
    dc->relay_dirty = 0;
    pthread_mutex_unlock(&dc->lock);
    if (!name[0])
        return;
    if (cg_store_relay_seen(dc->maint, &r) < 0)
        cg_log(LOG_WARNING, "store: cannot note this relay: %s", cg_store_errmsg(dc->maint));
}

/* reopen - the database is back (or not): new connections for the writer
 * (taken by the next leader) and for maintenance */
static void reopen(cg_decider *dc)
{
    struct stat sb;
    if (stat(dc->database, &sb) != 0)
        return; /* still gone */
    char err[512];
    cg_store *w = cg_store_open(dc->database, dc->store_flags | CG_STORE_NO_CREATE |
                                                  CG_STORE_WRITER, err, sizeof err);
    if (!w) {
        cg_log(LOG_ERR, "store: %s: cannot reopen: %s", dc->database, err);
        return;
    }
    cg_store *m = cg_store_open(dc->database, dc->store_flags | CG_STORE_NO_CREATE |
                                                  CG_STORE_MAINTAINER, err, sizeof err);
    pthread_mutex_lock(&dc->lock);
    cg_store_free(&dc->fresh_st);
    dc->fresh_st = w;
    pthread_mutex_unlock(&dc->lock);
    if (m) {
        cg_store_free(&dc->maint);
        dc->maint = m;
    }
    cg_log(LOG_INFO, "store: database %s is back: deciding mail again", dc->database);
    cg_metrics_store(1, NULL);
}

/* maint_main - background maintenance on a connection of its own, so no
 * commit waits for it (SQLite: WAL checkpoints and their syncs) */
static void *maint_main(void *arg)
{
    cg_decider *dc = arg;
    int again = 0;
    int64_t next_relay = 0, next_reopen = 0;
    pthread_setname_np(pthread_self(), "cg-maintain"); /* for top -H, perf */
    pthread_mutex_lock(&dc->lock);
    while (!dc->stopping) {
        if (!again) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += CG_MAINT_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&dc->maint_cv, &dc->lock, &ts);
            if (dc->stopping)
                break;
        }
        int gone = dc->gone && !dc->fresh_st;
        pthread_mutex_unlock(&dc->lock);
        int64_t now = cg_now();
        again = 0;
        if (gone) {
            if (now >= next_reopen) {
                next_reopen = now + CG_REOPEN_SECS;
                reopen(dc);
            }
        } else {
            struct cg_store_maint m = {0};
            if (cg_store_maintain(dc->maint, &m) < 0)
                cg_log(LOG_WARNING, "store: maintenance: %s", cg_store_errmsg(dc->maint));
            again = m.again;
            if (m.writer_step) {
                pthread_mutex_lock(&dc->lock);
                dc->writer_step = 1;
                pthread_mutex_unlock(&dc->lock);
            }
            if (now >= next_relay || dc->relay_dirty) {
                next_relay = now + CG_RELAY_EVERY_SECS;
                note_relay(dc, now);
            }
        }
        pthread_mutex_lock(&dc->lock);
    }
    pthread_mutex_unlock(&dc->lock);
    return NULL;
}

cg_decider *cg_decider_start(const char *database, int store_flags, char *err, size_t errlen)
{
    cg_store *st = cg_store_open(database, store_flags | CG_STORE_WRITER, err, errlen);
    if (!st)
        return NULL;
    cg_decider *dc = cg_xcalloc(1, sizeof *dc);
    dc->st = st;
    dc->keyed = cg_store_wants_keys(st);
    dc->database = cg_xstrdup(database);
    dc->store_flags = store_flags;
    dc->started = cg_now();
    pthread_mutex_init(&dc->lock, NULL);
    pthread_cond_init(&dc->maint_cv, NULL);
    char merr[512];
    dc->maint = cg_store_open(database, store_flags | CG_STORE_MAINTAINER, merr, sizeof merr);
    if (!dc->maint) {
        cg_errf(err, errlen, "%s", merr);
        cg_decider_stop(&dc);
        return NULL;
    }
    if (pthread_create(&dc->maint_thread, NULL, maint_main, dc) != 0) {
        cg_errf(err, errlen, "cannot start the maintenance thread: %s", strerror(errno));
        cg_decider_stop(&dc);
        return NULL;
    }
    dc->maint_running = 1;
    return dc;
}

void cg_decider_config(cg_decider *dc, const struct cg_config *cfg)
{
    pthread_mutex_lock(&dc->lock);
    cg_strlcpy(dc->relay, cfg->relay ? cfg->relay : "", sizeof dc->relay);
    cg_strlcpy(dc->config_version, cfg->version, sizeof dc->config_version);
    dc->relay_dirty = 1;
    pthread_cond_signal(&dc->maint_cv);
    pthread_mutex_unlock(&dc->lock);
}

void cg_decider_stop(cg_decider **dp)
{
    cg_decider *dc = dp ? *dp : NULL;
    if (!dc)
        return;
    pthread_mutex_lock(&dc->lock);
    dc->stopping = 1;
    pthread_cond_broadcast(&dc->maint_cv);
    /* jobs already queued are finished by their own threads */
    while (dc->leading || dc->head) {
        pthread_mutex_unlock(&dc->lock);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        pthread_mutex_lock(&dc->lock);
    }
    pthread_mutex_unlock(&dc->lock);
    if (dc->maint_running)
        pthread_join(dc->maint_thread, NULL);
    cg_store_free(&dc->maint);
    cg_store_free(&dc->fresh_st);
    cg_store_free(&dc->st);
    pthread_mutex_destroy(&dc->lock);
    pthread_cond_destroy(&dc->maint_cv);
    free(dc->database);
    free(dc);
    *dp = NULL;
}

/* --- submitting and waiting -------------------------------------------------- */

/* wait_job - sleep until the job is done (1) or its thread is asked to
 * lead (0) */
static int wait_job(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    while (!j->done && !j->lead)
        pthread_cond_wait(&j->cv, &j->mu);
    int done = j->done;
    j->lead = 0;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* job_done - is the job's result in */
static int job_done(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    int done = j->done;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* wait_done - a follower's job is done: wake the next one of its batch
 * (the leader set the links before releasing any job of the batch) */
static void wait_done(struct job *j)
{
    if (j->next)
        release(j->next, j);
}

/* hand_over - ask the thread of the first queued job to lead (lock held:
 * a queued job's thread is waiting, it cannot go away) */
static void hand_over(cg_decider *dc)
{
    struct job *next = dc->head;
    if (!next)
        return;
    pthread_mutex_lock(&next->mu);
    next->lead = 1;
    pthread_cond_signal(&next->cv);
    pthread_mutex_unlock(&next->mu);
}

/* lead - run batches of what is queued (lock held on entry and exit):
 * one, and CG_LEAD_AGAIN more if jobs are waiting already (a hand-over is
 * a wake-up, and the next batch starts only when the woken thread runs) */
static void lead(cg_decider *dc, struct job *self)
{
    dc->leading = 1;
    for (int round = 0;; round++) {
        struct job *batch = NULL;
        int step = dc->writer_step;
        dc->writer_step = 0;
        if (dc->fresh_st) { /* the database is back: its new connection */
            cg_store_free(&dc->st);
            dc->st = dc->fresh_st;
            dc->fresh_st = NULL;
            dc->gone = 0;
        }
        pthread_mutex_unlock(&dc->lock);
        if (step && cg_store_writer_step(dc->st) < 0)
            cg_log(LOG_WARNING, "store: %s", cg_store_errmsg(dc->st));
        run_batch(dc, &batch, self);
        pthread_mutex_lock(&dc->lock);
        int again = dc->head && round < CG_LEAD_AGAIN;
        if (!again) {
            dc->leading = 0;
            hand_over(dc);
        }
        pthread_mutex_unlock(&dc->lock);
        release_chain(batch, self);
        pthread_mutex_lock(&dc->lock);
        if (!again)
            return;
    }
}

/* submit - queue a job and wait for its committed result. There is no
 * thread of its own: the first waiting thread that finds nobody running a
 * batch takes every queued job (its own and the others') and runs them in
 * one transaction, then wakes their threads and hands over to the next
 * waiting one (leader and followers, the group commit of databases). A
 * lone message therefore costs no thread switch at all. */
static void submit(cg_decider *dc, struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&dc->lock);
    if (dc->stopping) {
        pthread_mutex_unlock(&dc->lock);
        job_error(j, CG_MC_STOPPING, "contactgate is stopping");
        return;
    }
    cg_metrics_queue(1);
    if (dc->tail)
        dc->tail->next = j;
    else
        dc->head = j;
    dc->tail = j;
    j->queued = 1;
    while (!job_done(j)) {
        /* a batch runs, or has taken this job and is about to release it */
        if (dc->leading || !j->queued) {
            pthread_mutex_unlock(&dc->lock);
            if (wait_job(j)) {
                wait_done(j);
                return;
            }
            pthread_mutex_lock(&dc->lock);
            continue;
        }
        lead(dc, j);
    }
    pthread_mutex_unlock(&dc->lock);
    wait_done(j);
}

/* decide - a job for m, and its syslog line written here, in the session's
 * thread, not by the leader while every other decision waits (a syslog
 * daemon that is slow to read /dev/log would hold them all up) */
static void decide(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* what may block (DNS) runs here, before the job is queued */
    cg_engine_prepare(cfg, m, r, r ? CG_STAGE_RCPT : CG_STAGE_EOM);
    struct job j = {.cfg = cfg, .m = m, .r = r, .d = d};
    if (dc->keyed)
        cg_engine_keys(cfg, m, r, r ? CG_STAGE_RCPT : CG_STAGE_EOM, &j.keys);
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    int later = m->log_later;
    m->log_later = 1;
    submit(dc, &j);
    m->log_later = later;
    cg_store_batch_clear(&j.keys);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cg_metrics_decided(m, d, r != NULL,
                       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                       !r && (d->error || d->errors_accepted) && !j.errored);
    cg_engine_syslog(cfg, m, d);
}

void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d)
{
    decide(dc, cfg, m, r, d);
}

void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d)
{
    decide(dc, cfg, m, NULL, d);
}
