/*
 * cg_decider.c - check-and-record with group commit (see cg_decider.h).
 *
 * The envelope (RCPT) check only reads: it runs in the caller's thread on
 * a connection from a small pool of readers (WAL readers never wait for
 * the writer), and only a settled verdict's decision-log row is queued as
 * a job. The end-of-message check-and-record always runs as a job, inside
 * a batch's one transaction on the write connection, so caps are exact.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg_decider.h"
#include "cg_log.h"
#include "cg_util.h"

#define CG_BATCH_MAX 256
#define CG_READERS 4
/* The checkpointer: a passive checkpoint every CG_CKPT_MS; when the WAL has
 * grown past CG_CKPT_RESTART_FRAMES (about 64 MiB) despite them (readers
 * always in the way, a long prune), one that waits so the WAL starts over. */
#define CG_CKPT_MS 200
#define CG_CKPT_RESTART_FRAMES 16384

struct job {
    struct job *next;
    const struct cg_config *cfg;
    struct cg_msg *m;
    struct cg_rcpt *r;        /* NULL: end of message; else log a settled RCPT verdict */
    struct cg_decision *d;
    int done;
    pthread_cond_t cond;      /* the waiting thread's own: no thundering herd */
};

struct cg_decider {
    cg_store *st;
    char *database;
    int store_flags;
    int leading;              /* a thread is running a batch */
    pthread_t ckpt_thread;
    cg_store *ckpt;           /* the checkpointer's own connection */
    pthread_cond_t ckpt_stop;
    int ckpt_running;
    pthread_mutex_t lock;
    struct job *head, *tail;
    int stopping;
    /* readers for the RCPT check: free ones are stacked in idle[] */
    pthread_mutex_t rlock;
    pthread_cond_t rfree;     /* a reader was returned */
    cg_store *idle[CG_READERS];
    size_t n_idle, n_open;
};

/* run_batch - one transaction over a batch of jobs */
static void run_batch(cg_decider *dc, struct job *batch)
{
    int failed = cg_store_begin(dc->st, 1) < 0;
    if (failed)
        cg_log(LOG_ERR, "store: cannot begin a transaction: %s", cg_store_errmsg(dc->st));
    for (struct job *j = batch; j && !failed; j = j->next) {
        if (j->m->now == 0) /* the milter leaves it 0: decide at commit time */
            j->m->now = cg_now();
        int rc = j->r ? cg_engine_rcpt_log(j->cfg, dc->st, j->m, j->r, j->d)
                      : cg_engine_eom(j->cfg, dc->st, j->m, 1, j->d);
        if (rc < 0)
            failed = 1;
    }
    if (!failed && cg_store_commit(dc->st) < 0) {
        cg_log(LOG_ERR, "store: commit failed: %s", cg_store_errmsg(dc->st));
        failed = 1;
    }
    if (failed) {
        cg_store_rollback(dc->st);
        for (struct job *j = batch; j; j = j->next) {
            cg_engine_error(j->cfg, j->d, "contact history unavailable");
            cg_log(LOG_ERR, "%s: ref=%s stage=%s verdict=%s reason=\"contact history unavailable\"",
                   j->m->queue_id ? j->m->queue_id : "NOQUEUE", j->d->ref, j->r ? "rcpt" : "eom",
                   j->d->verdict == CG_ACT_ACCEPT ? "accept(on_error)" : "tempfail");
            if (j->r) /* at RCPT an internal error only postpones to end of message */
                j->d->verdict = CG_ACT_ACCEPT, j->d->error = 0, j->d->smtp_code[0] = 0;
        }
    }
}

/* checkpointer_main - WAL checkpoints away from the write path, so no
 * commit waits for the copy and its fsync */
static void *checkpointer_main(void *arg)
{
    cg_decider *dc = arg;
    pthread_mutex_lock(&dc->lock);
    while (!dc->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CG_CKPT_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&dc->ckpt_stop, &dc->lock, &ts);
        if (dc->stopping)
            break;
        pthread_mutex_unlock(&dc->lock);
        int frames = 0;
        if (cg_store_checkpoint(dc->ckpt, 0, &frames) < 0)
            cg_log(LOG_WARNING, "store: checkpoint: %s", cg_store_errmsg(dc->ckpt));
        else if (frames > CG_CKPT_RESTART_FRAMES &&
                 cg_store_checkpoint(dc->ckpt, 1, &frames) < 0)
            cg_log(LOG_WARNING, "store: checkpoint: %s", cg_store_errmsg(dc->ckpt));
        pthread_mutex_lock(&dc->lock);
    }
    pthread_mutex_unlock(&dc->lock);
    return NULL;
}

/* cg_decider_start - open the store and start the thread */
cg_decider *cg_decider_start(const char *database, int store_flags, char *err, size_t errlen)
{
    cg_store *st = cg_store_open(database, store_flags, err, errlen);
    if (!st)
        return NULL;
    cg_decider *dc = cg_xcalloc(1, sizeof *dc);
    dc->st = st;
    dc->database = cg_xstrdup(database);
    dc->store_flags = store_flags;
    pthread_mutex_init(&dc->lock, NULL);
    pthread_mutex_init(&dc->rlock, NULL);
    pthread_cond_init(&dc->rfree, NULL);
    pthread_cond_init(&dc->ckpt_stop, NULL);
    /* the readers now, not under the first burst of mail (opening one
     * checks the schema, which briefly takes the write lock) */
    for (int i = 0; i < CG_READERS; i++) {
        char rerr[256];
        cg_store *r = cg_store_open(database, store_flags, rerr, sizeof rerr);
        if (!r)
            break; /* opened on demand later */
        dc->idle[dc->n_idle++] = r;
        dc->n_open++;
    }
    /* the write connection's commits never checkpoint; a thread of its own
     * does (if it cannot start, SQLite's automatic checkpoints stay on) */
    char cerr[256];
    dc->ckpt = cg_store_open(database, store_flags, cerr, sizeof cerr);
    if (dc->ckpt && pthread_create(&dc->ckpt_thread, NULL, checkpointer_main, dc) == 0) {
        dc->ckpt_running = 1;
        cg_store_autocheckpoint(st, 0);
    } else {
        cg_store_free(&dc->ckpt);
    }
    return dc;
}

/* cg_decider_stop - drain, stop, close */
void cg_decider_stop(cg_decider **dp)
{
    cg_decider *dc = dp ? *dp : NULL;
    if (!dc)
        return;
    pthread_mutex_lock(&dc->lock);
    dc->stopping = 1;
    pthread_cond_broadcast(&dc->ckpt_stop);
    /* jobs already queued are finished by their own threads */
    while (dc->leading || dc->head) {
        pthread_mutex_unlock(&dc->lock);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        pthread_mutex_lock(&dc->lock);
    }
    pthread_mutex_unlock(&dc->lock);
    if (dc->ckpt_running)
        pthread_join(dc->ckpt_thread, NULL);
    cg_store_free(&dc->ckpt);
    cg_store_free(&dc->st);
    for (size_t i = 0; i < dc->n_idle; i++)
        cg_store_free(&dc->idle[i]);
    pthread_mutex_destroy(&dc->lock);
    pthread_mutex_destroy(&dc->rlock);
    pthread_cond_destroy(&dc->rfree);
    pthread_cond_destroy(&dc->ckpt_stop);
    free(dc->database);
    free(dc);
    *dp = NULL;
}

/* submit - queue a job and wait for its committed result. There is no
 * thread of its own: the first waiting thread that finds nobody running a
 * batch takes every queued job (its own and the others') and runs them in
 * one transaction, then wakes their threads and hands over to the next
 * waiting one (leader and followers, the group commit of databases). A
 * lone message therefore costs no thread switch at all. */
static void submit(cg_decider *dc, struct job *j)
{
    pthread_cond_init(&j->cond, NULL);
    pthread_mutex_lock(&dc->lock);
    if (dc->stopping) {
        pthread_mutex_unlock(&dc->lock);
        pthread_cond_destroy(&j->cond);
        cg_engine_error(j->cfg, j->d, "contactgate is stopping");
        return;
    }
    if (dc->tail)
        dc->tail->next = j;
    else
        dc->head = j;
    dc->tail = j;
    while (!j->done) {
        if (dc->leading) {
            pthread_cond_wait(&j->cond, &dc->lock);
            continue;
        }
        /* lead: take up to CG_BATCH_MAX jobs */
        dc->leading = 1;
        struct job *batch = dc->head, *last = batch;
        size_t n = 1;
        while (last->next && n < CG_BATCH_MAX) {
            last = last->next;
            n++;
        }
        dc->head = last->next;
        if (!dc->head)
            dc->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&dc->lock);

        run_batch(dc, batch);

        pthread_mutex_lock(&dc->lock);
        for (struct job *b = batch; b;) {
            struct job *next = b->next; /* b may be gone once done is seen */
            b->done = 1;
            if (b != j)
                pthread_cond_signal(&b->cond);
            b = next;
        }
        dc->leading = 0;
        if (dc->head) /* the next waiting thread leads the next batch */
            pthread_cond_signal(&dc->head->cond);
    }
    pthread_mutex_unlock(&dc->lock);
    pthread_cond_destroy(&j->cond);
}

/* reader_take - a read connection: an idle one, a new one while fewer
 * than CG_READERS are open, else wait for one. NULL when none can be
 * opened (the caller then leaves the decision to end of message). */
static cg_store *reader_take(cg_decider *dc)
{
    pthread_mutex_lock(&dc->rlock);
    while (!dc->n_idle && dc->n_open >= CG_READERS)
        pthread_cond_wait(&dc->rfree, &dc->rlock);
    if (dc->n_idle) {
        cg_store *st = dc->idle[--dc->n_idle];
        pthread_mutex_unlock(&dc->rlock);
        return st;
    }
    dc->n_open++;
    pthread_mutex_unlock(&dc->rlock);
    char err[256];
    cg_store *st = cg_store_open(dc->database, dc->store_flags, err, sizeof err);
    if (!st) {
        cg_log(LOG_WARNING, "store: cannot open a reader: %s", err);
        pthread_mutex_lock(&dc->rlock);
        dc->n_open--;
        pthread_cond_signal(&dc->rfree);
        pthread_mutex_unlock(&dc->rlock);
    }
    return st;
}

static void reader_put(cg_decider *dc, cg_store *st)
{
    pthread_mutex_lock(&dc->rlock);
    dc->idle[dc->n_idle++] = st;
    pthread_cond_signal(&dc->rfree);
    pthread_mutex_unlock(&dc->rlock);
}

/* cg_decider_rcpt - the envelope check on a reader in this thread; a
 * settled verdict's log row is committed as a job */
void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d)
{
    if (m->now == 0)
        m->now = cg_now();
    cg_store *st = reader_take(dc);
    int rc = -1;
    if (st) {
        rc = cg_engine_rcpt_decide(cfg, st, m, r, d);
        reader_put(dc, st);
    }
    if (rc < 0) {
        if (st)
            cg_log(LOG_WARNING, "store: envelope check failed: %s; deciding at end of message",
                   cg_store_errmsg(st));
        /* an internal error at RCPT only postpones the decision */
        memset(d, 0, sizeof *d);
        d->verdict = CG_ACT_ACCEPT;
        return;
    }
    if (d->verdict < CG_ACT_DEFER)
        return;
    struct job j = {.cfg = cfg, .m = m, .r = r, .d = d};
    submit(dc, &j);
}

/* cg_decider_eom - end-of-message check-and-record, as a job */
void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d)
{
    struct job j = {.cfg = cfg, .m = m, .d = d};
    submit(dc, &j);
}
