/*
 * cg_decider.c - the decision thread with group commit (see cg_decider.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cg_decider.h"
#include "cg_log.h"
#include "cg_util.h"

#define CG_BATCH_MAX 256

struct job {
    struct job *next;
    const struct cg_config *cfg;
    struct cg_msg *m;
    struct cg_rcpt *r;        /* NULL: end of message */
    struct cg_decision *d;
    int done;
};

struct cg_decider {
    cg_store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* jobs are waiting */
    pthread_cond_t finished;  /* some job is done */
    struct job *head, *tail;
    int stopping;
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
        int rc = j->r ? cg_engine_rcpt(j->cfg, dc->st, j->m, j->r, j->d)
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
                j->d->verdict = CG_ACT_ACCEPT, j->d->error = 0;
        }
    }
}

/* decider_main - the thread */
static void *decider_main(void *arg)
{
    cg_decider *dc = arg;
    pthread_mutex_lock(&dc->lock);
    for (;;) {
        while (!dc->head && !dc->stopping)
            pthread_cond_wait(&dc->work, &dc->lock);
        if (!dc->head && dc->stopping)
            break;
        /* take up to CG_BATCH_MAX jobs */
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
        for (struct job *j = batch; j;) {
            struct job *next = j->next; /* j may be freed once done is seen */
            j->done = 1;
            j = next;
        }
        pthread_cond_broadcast(&dc->finished);
    }
    pthread_mutex_unlock(&dc->lock);
    return NULL;
}

/* cg_decider_start - open the store and start the thread */
cg_decider *cg_decider_start(const char *database, char *err, size_t errlen)
{
    cg_store *st = cg_store_open(database, 0, err, errlen);
    if (!st)
        return NULL;
    cg_decider *dc = cg_xcalloc(1, sizeof *dc);
    dc->st = st;
    pthread_mutex_init(&dc->lock, NULL);
    pthread_cond_init(&dc->work, NULL);
    pthread_cond_init(&dc->finished, NULL);
    if (pthread_create(&dc->thread, NULL, decider_main, dc) != 0) {
        cg_errf(err, errlen, "cannot start the decision thread");
        cg_store_free(&dc->st);
        free(dc);
        return NULL;
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
    pthread_cond_broadcast(&dc->work);
    pthread_mutex_unlock(&dc->lock);
    pthread_join(dc->thread, NULL);
    cg_store_free(&dc->st);
    pthread_mutex_destroy(&dc->lock);
    pthread_cond_destroy(&dc->work);
    pthread_cond_destroy(&dc->finished);
    free(dc);
    *dp = NULL;
}

/* submit - queue a job and wait for its committed result */
static void submit(cg_decider *dc, struct job *j)
{
    pthread_mutex_lock(&dc->lock);
    if (dc->stopping) {
        pthread_mutex_unlock(&dc->lock);
        cg_engine_error(j->cfg, j->d, "contactgate is stopping");
        return;
    }
    if (dc->tail)
        dc->tail->next = j;
    else
        dc->head = j;
    dc->tail = j;
    pthread_cond_signal(&dc->work);
    while (!j->done)
        pthread_cond_wait(&dc->finished, &dc->lock);
    pthread_mutex_unlock(&dc->lock);
}

/* cg_decider_rcpt - envelope decision in the decision thread */
void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d)
{
    struct job j = {.cfg = cfg, .m = m, .r = r, .d = d};
    submit(dc, &j);
}

/* cg_decider_eom - end-of-message check-and-record in the decision thread */
void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d)
{
    struct job j = {.cfg = cfg, .m = m, .d = d};
    submit(dc, &j);
}
