/*
 * test_decider.c - the write path the daemon uses (cg_decider): group
 * commit led by the waiting threads, envelope (RCPT) checks as jobs on the
 * write connection, the checkpointer. A cap holds exactly when many threads
 * decide at once; a settled RCPT verdict is logged; one message after
 * another, the check at RCPT sees what was recorded before it; everything
 * is on disk after stop.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <time.h>

#include "cg_decider.h"
#include "cg_harness.h"

#define T0 1795000000LL
#define THREADS 20

static struct cg_config *cfg;
static cg_decider *dc;
static int accepted, deferred_rcpt, deferred_eom, errors;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

/* send_one - what the milter does for a one-recipient message (i names
 * its queue ID and Message-ID; now 0: decided at commit time), counted */
static void send_one(long i, const char *rcpt, int64_t now)
{
    struct cg_msg m;
    cg_msg_init(&m);
    m.sender = cg_xstrdup("deals@offers.bank.example");
    char qid[32], mid[64];
    snprintf(qid, sizeof qid, "Q%ld", i);
    snprintf(mid, sizeof mid, "<m%ld@offers.bank.example>", i);
    cg_msg_set(&m.queue_id, qid);
    struct cg_rcpt *r = cg_msg_add_rcpt(&m, rcpt);
    struct cg_decision d;
    m.now = now; /* one moment: as in the daemon, no decision sees the future */
    cg_decider_rcpt(dc, cfg, &m, r, &d);
    int kind = 0;
    if (d.error)
        kind = 3;
    else if (d.verdict >= CG_ACT_DEFER)
        kind = 1;
    else {
        cg_msg_add_header(&m, "Message-ID", mid);
        cg_msg_add_header(&m, "Subject", "offer");
        m.now = now;
        cg_decider_eom(dc, cfg, &m, &d);
        kind = d.error ? 3 : d.verdict >= CG_ACT_DEFER ? 2 : 0;
    }
    pthread_mutex_lock(&count_lock);
    if (kind == 0)
        accepted++;
    else if (kind == 1)
        deferred_rcpt++;
    else if (kind == 2)
        deferred_eom++;
    else
        errors++;
    pthread_mutex_unlock(&count_lock);
    cg_msg_clear(&m);
}

/* one_message - a thread's message to ann, at T0 */
static void *one_message(void *arg)
{
    send_one((long)arg, "ann@example.com", T0);
    return NULL;
}

static int count_cb(const struct cg_contact_row *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static int decision_cb(const struct cg_decision_row *d, void *arg)
{
    (void)d;
    (*(int *)arg)++;
    return 0;
}

/* start - the config (a cap of 3 a week for marketing) and the decider on
 * a database of its own; 0 when both are up */
static int start(const char *name, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", h_tmpdir, name);
    accepted = deferred_rcpt = deferred_eom = errors = 0;
    char text[PATH_MAX + 2048];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \"%s\",\n"
             " \"departments\": [{\"name\": \"marketing\", \"match\": {\"sender\": "
             "\"*@offers.bank.example\"}, \"default_category\": \"promotional.offer\","
             " \"allowed_categories\": [\"promotional.*\"]}],\n"
             " \"policies\": [{\"name\": \"three-a-week\", \"plugin\": \"frequency\","
             " \"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7d\"}}]}\n",
             path);
    cfg = h_config(text);
    CG_CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  config: %s\n", h_err);
        return -1;
    }
    char err[256];
    dc = cg_decider_start(path, 0, err, sizeof err);
    CG_CHECK(dc != NULL);
    if (!dc) {
        fprintf(stderr, "  decider: %s\n", err);
        cg_config_unref(&cfg);
        return -1;
    }
    return 0;
}

static int rcpt_stage_cb(const struct cg_decision_row *d, void *arg)
{
    if (d->stage && strcmp(d->stage, "rcpt") == 0)
        (*(int *)arg)++;
    return 0;
}

/* a cap of 3 with 20 threads deciding at once lets exactly 3 through, and
 * every refused one is in the decision log */
static void test_cap_exact_under_concurrency(void)
{
    char path[PATH_MAX + 16], err[256];
    if (start("history.db", path, sizeof path) < 0)
        return;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CG_CHECK(pthread_create(&t[i], NULL, one_message, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cg_decider_stop(&dc);
    CG_CHECK(dc == NULL);
    CG_CHECK(errors == 0);
    CG_CHECK(accepted == 3);
    CG_CHECK(accepted + deferred_rcpt + deferred_eom == THREADS);
    /* what was acknowledged is on disk, read through a new connection */
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st != NULL);
    if (st) {
        int n = 0;
        CG_CHECK(cg_store_contacts(st, "ann@example.com", T0 - 1, T0 + 100, count_cb, &n) == 0);
        CG_CHECK(n == 3);
        struct cg_decision_filter f = {.verdict = "defer"};
        int nd = 0;
        CG_CHECK(cg_store_decisions(st, &f, decision_cb, &nd) == 0);
        CG_CHECK(nd == THREADS - 3);
        cg_store_free(&st);
    }
    cg_config_unref(&cfg);
}

/* one message after another: the fourth is refused at RCPT already (the
 * envelope check sees the three contacts committed before it) and its
 * refusal is in the decision log as an RCPT decision */
static void test_rcpt_sees_recorded(void)
{
    char path[PATH_MAX + 16], err[256];
    if (start("sequential.db", path, sizeof path) < 0)
        return;
    for (long i = 0; i < 4; i++)
        one_message((void *)i);
    cg_decider_stop(&dc);
    CG_CHECK(accepted == 3);
    CG_CHECK(deferred_rcpt == 1);
    CG_CHECK(deferred_eom == 0);
    CG_CHECK(errors == 0);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st != NULL);
    if (st) {
        struct cg_decision_filter f = {.verdict = "defer", .queue_id = "Q3"};
        int nd = 0;
        CG_CHECK(cg_store_decisions(st, &f, rcpt_stage_cb, &nd) == 0);
        CG_CHECK(nd == 1);
        cg_store_free(&st);
    }
    cg_config_unref(&cfg);
}

/* wal_frames - the frames in path's WAL now: mxFrame of the WAL-index
 * header at the start of the -shm file (SQLite's file format, section
 * "WAL-Index Format"), read without taking part (a checkpoint of the test's
 * own would let the WAL start over by itself) */
static int wal_frames(const char *path)
{
    char shm[PATH_MAX + 32];
    snprintf(shm, sizeof shm, "%s-shm", path);
    uint32_t mx = 0;
    FILE *fp = fopen(shm, "rb");
    if (!fp)
        return -1;
    int ok = fseek(fp, 16, SEEK_SET) == 0 && fread(&mx, sizeof mx, 1, fp) == 1;
    fclose(fp);
    return ok ? (int)mx : -1;
}

static atomic_int load_stop;

/* load - messages back to back, to customers of their own (no cap) */
static void *load(void *arg)
{
    long base = (long)arg * 1000000;
    for (long k = base; !atomic_load(&load_stop); k++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, "c%ld@example.com", k);
        send_one(k, rcpt, 0);
    }
    return NULL;
}

/* the WAL does not grow without bound while mail keeps flowing: once past
 * 16,384 frames the checkpointer catches up and the write connection
 * starts it over (a restart is asked for at 65,536 at the latest), while
 * the mail goes on */
static void test_wal_restarts(void)
{
    char path[PATH_MAX + 16];
    if (start("wal.db", path, sizeof path) < 0)
        return;
    enum { LOADERS = 4 };
    pthread_t t[LOADERS];
    atomic_store(&load_stop, 0);
    for (long i = 0; i < LOADERS; i++)
        CG_CHECK(pthread_create(&t[i], NULL, load, (void *)i) == 0);
    int peak = 0, now = 0, restarted = 0;
    for (int tick = 0; tick < 3000 && !restarted; tick++) { /* 30 s at most */
        struct timespec ms10 = {0, 10 * 1000000L};
        nanosleep(&ms10, NULL);
        now = wal_frames(path);
        if (now > peak)
            peak = now;
        restarted = peak > 16384 && now >= 0 && now < peak / 2;
    }
    atomic_store(&load_stop, 1);
    for (int i = 0; i < LOADERS; i++)
        pthread_join(t[i], NULL);
    cg_decider_stop(&dc);
    CG_CHECK(peak > 16384);
    CG_CHECK(restarted);
    /* asked for at 65,536 whatever it costs; frames go on arriving until
     * the write connection's next batch finds no reader in the way */
    CG_CHECK(peak <= 2 * 65536);
    CG_CHECK(errors == 0);
    cg_config_unref(&cfg);
    if (getenv("CG_TEST_VERBOSE") || !restarted || peak > 2 * 65536)
        fprintf(stderr, "  WAL frames: peak %d, last %d\n", peak, now);
}

/* a database that cannot be opened is a clear error, not a crash */
static void test_start_error(void)
{
    char err[256] = "";
    cg_decider *bad = cg_decider_start("/nonexistent/dir/h.db", 0, err, sizeof err);
    CG_CHECK(bad == NULL);
    CG_CHECK_CONTAINS(err, "/nonexistent/dir/h.db");
    cg_decider_stop(&bad); /* NULL-safe */
}

int main(void)
{
    h_init("test_decider");
    CG_RUN(test_cap_exact_under_concurrency);
    CG_RUN(test_rcpt_sees_recorded);
    CG_RUN(test_wal_restarts);
    CG_RUN(test_start_error);
    h_done();
    CG_DONE("test_decider");
}
