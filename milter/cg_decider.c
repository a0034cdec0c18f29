/*
 * cg_decider.c - check-and-record with group commit (see cg_decider.h).
 *
 * Everything goes through the one write connection, whose page cache stays
 * warm: another connection's cache is thrown away by SQLite whenever the
 * file changed since its last transaction, i.e. after nearly every commit
 * under mail load, so a separate reader re-reads its B-tree pages for each
 * check (measured: p50 38 us per envelope check on a reader against 20 us
 * on the writer, at 10 M history rows). The envelope (RCPT) check is a job
 * like the end-of-message one; one that settles nothing writes nothing and
 * its thread is released before the batch commits (see run_batch).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cg_decider.h"
#include "cg_log.h"
#include "cg_util.h"

#define CG_BATCH_MAX 256
#define CG_LEAD_AGAIN 1
/* The checkpointer: a passive checkpoint every CG_CKPT_MS (never in a
 * writer's way). Under steady mail the WAL never empties by itself (frames
 * arrive while a checkpoint copies), so once it holds more than
 * CG_CKPT_RESTART_FRAMES (64 MiB) the checkpointer runs passive checkpoints
 * back to back, and when one finds fewer than CG_CKPT_CAUGHT_UP new frames
 * since the one before, asks the write connection to restart the WAL
 * before its next batch. That restart copies the frames left and syncs the
 * database file with mail waiting, so it must find almost nothing to do:
 * SQLite syncs the database file only in a checkpoint that copies the whole
 * WAL, which under steady mail is that restart, and it then flushed every
 * page the passive ones had copied since the last one (28-70 ms on the
 * benchmark machine; at 2,000 messages a second a queue of a hundred). So
 * the checkpointer starts the write-back of what each pass copied, and
 * syncs the file itself before it asks for the restart, from a descriptor
 * of its own and holding no lock. Only if the WAL keeps growing past
 * CG_CKPT_FORCE_FRAMES (256 MiB; mail arriving faster than a pass can
 * copy) is a restart asked for whatever it costs. (A restart from the
 * checkpointer's own connection waits for the read lock the writer holds
 * while it waits for the write lock, until its 50 ms run out: a 78 ms
 * stall, often for nothing.) */
#define CG_CKPT_MS 200
#define CG_CKPT_RESTART_FRAMES 16384
#define CG_CKPT_CAUGHT_UP 256
#define CG_CKPT_FORCE_FRAMES 65536

/* A job's thread sleeps on its job's own word (a futex): JOB_DONE once its
 * result is in, and the low bits count wake-ups to lead a batch. The
 * decider's lock is not needed to finish a job: finishing is one atomic
 * write, after which the finisher touches the job no more (it lives on its
 * thread's stack, gone once that thread sees JOB_DONE) but for a futex wake
 * on its address, which at worst wakes a sleeper there that loops anyway.
 * Followers of a batch are woken as a chain, each by the one before it,
 * which keeps n-1 wake-ups (a system call and, here, an interrupt to the
 * other CPU each) off the leader, whose time is what every message waits
 * for. */
#define JOB_DONE 0x80000000u

struct job {
    struct job *next;
    const struct cg_config *cfg;
    struct cg_msg *m;
    struct cg_rcpt *r;        /* NULL: end of message; else the envelope check of r */
    struct cg_decision *d;
    _Atomic unsigned word;    /* JOB_DONE | wake-ups to lead */
};

struct cg_decider {
    cg_store *st;
    char *database;
    int leading;              /* a thread is running a batch */
    pthread_t ckpt_thread;
    cg_store *ckpt;           /* the checkpointer's own connection */
    pthread_cond_t ckpt_stop;
    int ckpt_running;
    int restart_wanted;       /* the leader restarts the WAL before its next batch */
    int db_fd;                /* the checkpointer's own descriptor of the file, to sync it */
    pthread_mutex_t lock;
    struct job *head, *tail;
    int stopping;
};

/* job_error - a job that could not be decided: at end of message the
 * on_error decision; at RCPT no verdict (an internal error there only
 * postpones the decision to end of message) */
static void job_error(struct job *j, const char *why)
{
    cg_engine_error(j->cfg, j->d, why);
    cg_log(LOG_ERR, "%s: ref=%s stage=%s verdict=%s reason=\"%s\"",
           j->m->queue_id ? j->m->queue_id : "NOQUEUE", j->d->ref, j->r ? "rcpt" : "eom",
           j->r ? "none(decided at end of message)"
           : j->d->verdict == CG_ACT_ACCEPT ? "accept(on_error)" : "tempfail", why);
    if (j->r)
        j->d->verdict = CG_ACT_ACCEPT, j->d->error = 0, j->d->smtp_code[0] = 0;
}

static void word_wait(_Atomic unsigned *w, unsigned seen)
{
    /* returns when *w != seen, on a signal or spuriously: callers loop */
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void word_wake(_Atomic unsigned *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* release - a job is finished: mark it and wake its thread. j may be gone
 * as soon as it is marked: read nothing of it after. */
static void release(struct job *j, const struct job *self)
{
    atomic_fetch_or_explicit(&j->word, JOB_DONE, memory_order_release);
    if (j != self) /* only compares the address */
        word_wake(&j->word);
}

/* release_chain - finish a list of decided jobs (a committed batch, or
 * envelope checks that wrote nothing): the leader's own job at once, the
 * first other one woken here, each of the rest by the one before it (see
 * finish_wait) */
static void release_chain(struct job *batch, const struct job *self)
{
    struct job **jp = &batch;
    while (*jp && *jp != self)
        jp = &(*jp)->next;
    if (*jp) { /* not yet marked: nobody else reads the links */
        struct job *mine = *jp;
        *jp = mine->next;
        mine->next = NULL; /* its thread wakes nobody */
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
    return first;
}

/* run_batch - one transaction over a batch of jobs. An envelope check that
 * settles nothing wrote nothing: it is taken out of *batchp and released
 * without waiting for the commit, with the others like it, as a chain,
 * before the leader looks for more jobs; the rest wait for the commit. Jobs queued
 * while the batch runs join it before the commit (up to CG_BATCH_MAX in
 * all): under load the batches grow instead of queueing behind each other. */
static void run_batch(cg_decider *dc, struct job **batchp, const struct job *self)
{
    size_t n = 0;
    struct job *early = NULL; /* decided envelope checks, not yet released */
    int failed = cg_store_begin(dc->st, 1) < 0;
    if (failed) {
        cg_log(LOG_ERR, "store: cannot begin a transaction: %s", cg_store_errmsg(dc->st));
        pthread_mutex_lock(&dc->lock); /* what waits gets the on_error answer now */
        *batchp = take(dc, CG_BATCH_MAX);
        pthread_mutex_unlock(&dc->lock);
    }
    for (struct job **jp = batchp; !failed;) {
        if (!*jp) {
            release_chain(early, self);
            early = NULL;
            pthread_mutex_lock(&dc->lock);
            *jp = take(dc, CG_BATCH_MAX - n);
            pthread_mutex_unlock(&dc->lock);
            if (!*jp)
                break;
        }
        struct job *j = *jp;
        n++;
        if (j->m->now == 0) /* the milter leaves it 0: decide at commit time */
            j->m->now = cg_now();
        int rc = j->r ? cg_engine_rcpt(j->cfg, dc->st, j->m, j->r, j->d)
                      : cg_engine_eom(j->cfg, dc->st, j->m, 1, j->d);
        if (rc < 0) {
            failed = 1;
        } else if (j->r && j->d->verdict < CG_ACT_DEFER) {
            *jp = j->next;
            j->next = early;
            early = j;
            continue;
        }
        jp = &j->next;
    }
    release_chain(early, self);
    if (!failed && cg_store_commit(dc->st) < 0) {
        cg_log(LOG_ERR, "store: commit failed: %s", cg_store_errmsg(dc->st));
        failed = 1;
    }
    if (failed) {
        cg_store_rollback(dc->st);
        for (struct job *j = *batchp; j; j = j->next)
            job_error(j, "contact history unavailable");
    }
}

/* checkpointer_main - WAL checkpoints away from the write path, so no
 * commit waits for the copy and its fsync */
static void *checkpointer_main(void *arg)
{
    cg_decider *dc = arg;
    int last = 0; /* frames in the WAL when the pass before this began, if back to back */
    pthread_setname_np(pthread_self(), "cg-checkpoint"); /* for top -H, perf */
    pthread_mutex_lock(&dc->lock);
    while (!dc->stopping) {
        if (!last) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += CG_CKPT_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&dc->ckpt_stop, &dc->lock, &ts);
            if (dc->stopping)
                break;
        }
        pthread_mutex_unlock(&dc->lock);
        int frames = 0, left = 0, before = last, ok = 1;
        last = 0;
        /* frames: the WAL's size when this pass began; left: what it could
         * not copy (a reader's older snapshot) */
        if (cg_store_checkpoint(dc->ckpt, CG_CKPT_PASSIVE, &frames, &left) < 0) {
            cg_log(LOG_WARNING, "store: checkpoint: %s", cg_store_errmsg(dc->ckpt));
            ok = 0;
        } else if (frames > 0 && dc->db_fd >= 0) {
            /* start writing back what this pass copied, without waiting */
            sync_file_range(dc->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        }
        if (ok && frames > CG_CKPT_RESTART_FRAMES) {
            int fresh = before && frames >= before ? frames - before : frames;
            if ((before && fresh < CG_CKPT_CAUGHT_UP && !left) || frames > CG_CKPT_FORCE_FRAMES) {
                /* the restart's sync, done here while mail flows */
                if (dc->db_fd >= 0 && fdatasync(dc->db_fd) != 0)
                    cg_log(LOG_WARNING, "store: fdatasync %s: %s", dc->database, strerror(errno));
                pthread_mutex_lock(&dc->lock);
                dc->restart_wanted = 1;
                pthread_mutex_unlock(&dc->lock);
            } else if (!left) {
                last = frames; /* copy on at once: the next pass has less to do */
            }
        }
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
    pthread_mutex_init(&dc->lock, NULL);
    pthread_cond_init(&dc->ckpt_stop, NULL);
    /* the write connection's commits never checkpoint; a thread of its own
     * does (if it cannot start, SQLite's automatic checkpoints stay on) */
    char cerr[256];
    dc->ckpt = cg_store_open(database, store_flags, cerr, sizeof cerr);
    dc->db_fd = open(database, O_RDONLY | O_CLOEXEC); /* -1: SQLite's syncs only */
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
    if (dc->db_fd >= 0)
        close(dc->db_fd);
    cg_store_free(&dc->st);
    pthread_mutex_destroy(&dc->lock);
    pthread_cond_destroy(&dc->ckpt_stop);
    free(dc->database);
    free(dc);
    *dp = NULL;
}

/* finish_wait - a follower's job is done: wake the next one of its batch
 * (the leader set the links before marking any job of the batch) */
static void finish_wait(struct job *j)
{
    if (j->next)
        release(j->next, j);
}

/* submit - queue a job and wait for its committed result. There is no
 * thread of its own: the first waiting thread that finds nobody running a
 * batch takes every queued job (its own and the others') and runs them in
 * one transaction, then wakes their threads and hands over to the next
 * waiting one (leader and followers, the group commit of databases). A
 * lone message therefore costs no thread switch at all. */
static void submit(cg_decider *dc, struct job *j)
{
    atomic_init(&j->word, 0);
    j->next = NULL;
    pthread_mutex_lock(&dc->lock);
    if (dc->stopping) {
        pthread_mutex_unlock(&dc->lock);
        job_error(j, "contactgate is stopping");
        return;
    }
    if (dc->tail)
        dc->tail->next = j;
    else
        dc->head = j;
    dc->tail = j;
    for (;;) {
        unsigned w = atomic_load_explicit(&j->word, memory_order_acquire);
        if (w & JOB_DONE)
            break;
        if (dc->leading) {
            pthread_mutex_unlock(&dc->lock);
            word_wait(&j->word, w);
            if (atomic_load_explicit(&j->word, memory_order_acquire) & JOB_DONE) {
                finish_wait(j);
                return;
            }
            pthread_mutex_lock(&dc->lock);
            continue;
        }
        /* lead: a batch of what is queued (more may join it); then, if
         * jobs are waiting already, CG_LEAD_AGAIN more before handing
         * over (a hand-over is a wake-up, and the next batch starts only
         * when the woken thread runs) */
        dc->leading = 1;
        for (int round = 0;; round++) {
            struct job *batch = NULL;
            int restart = dc->restart_wanted;
            dc->restart_wanted = 0;
            pthread_mutex_unlock(&dc->lock);

            if (restart && cg_store_checkpoint(dc->st, CG_CKPT_RESTART_NOW, NULL, NULL) < 0)
                cg_log(LOG_WARNING, "store: checkpoint: %s", cg_store_errmsg(dc->st));

            run_batch(dc, &batch, j);

            pthread_mutex_lock(&dc->lock);
            int again = dc->head && round < CG_LEAD_AGAIN;
            struct job *next = NULL;
            if (!again) {
                dc->leading = 0;
                next = dc->head;
                if (next) /* queued, so not done: its thread is there to lead */
                    atomic_fetch_add_explicit(&next->word, 1, memory_order_relaxed);
            }
            pthread_mutex_unlock(&dc->lock);
            if (next)
                word_wake(&next->word);
            release_chain(batch, j);
            pthread_mutex_lock(&dc->lock);
            if (!again)
                break;
        }
    }
    pthread_mutex_unlock(&dc->lock);
    finish_wait(j);
}

/* decide - a job for m, and its syslog line written here, in the session's
 * thread, not by the leader while every other decision waits (a syslog
 * daemon that is slow to read /dev/log would hold them all up) */
static void decide(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d)
{
    struct job j = {.cfg = cfg, .m = m, .r = r, .d = d};
    int later = m->log_later;
    m->log_later = 1;
    submit(dc, &j);
    m->log_later = later;
    cg_engine_syslog(cfg, m, d);
}

/* cg_decider_rcpt - the envelope check as a job; released before the
 * commit unless it settled a verdict (whose log row is committed first) */
void cg_decider_rcpt(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                     struct cg_rcpt *r, struct cg_decision *d)
{
    decide(dc, cfg, m, r, d);
}

/* cg_decider_eom - end-of-message check-and-record, as a job */
void cg_decider_eom(cg_decider *dc, const struct cg_config *cfg, struct cg_msg *m,
                    struct cg_decision *d)
{
    decide(dc, cfg, m, NULL, d);
}
