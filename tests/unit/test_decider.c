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
#include <sys/stat.h>
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

/* mixed_message - thread 0 writes to bad@, the others each to a customer
 * of their own (test_failing_job_alone) */
static void *mixed_message(void *arg)
{
    long i = (long)arg;
    char rcpt[64];
    if (i == 0)
        snprintf(rcpt, sizeof rcpt, "bad@example.com");
    else
        snprintf(rcpt, sizeof rcpt, "m%ld@example.com", i);
    send_one(i, rcpt, 0);
    return NULL;
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

/* elapsed_ms - since t0 */
static int64_t elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static atomic_llong slow_done_ms;
static struct timespec slow_t0;

static void *slow_message(void *arg)
{
    (void)arg;
    send_one(999, "slow@example.com", 0);
    atomic_store(&slow_done_ms, elapsed_ms(&slow_t0));
    return NULL;
}

/* issue 13.2: a plugin that reads no history runs in the session's own
 * thread before the decision is queued: its 2 s for one customer delay
 * nobody else (timing figures are bench/'s; here only the order and a
 * generous bound) */
static void test_slow_plugin_stalls_only_its_message(void)
{
    char path[PATH_MAX + 64], err[256];
    snprintf(path, sizeof path, "%s/slow.db", h_tmpdir);
    char text[PATH_MAX + 1024];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@TESTPLUGINS@\", \"database\": \"%s\",\n"
             " \"departments\": [{\"name\": \"marketing\", \"match\": {\"sender\": "
             "\"*@offers.bank.example\"}, \"default_category\": \"promotional.offer\"}],\n"
             " \"policies\": [{\"name\": \"slow-lookup\", \"plugin\": \"slow\","
             " \"action\": \"reject\"}]}\n", path);
    cfg = h_config(text);
    if (!cfg)
        fprintf(stderr, "  config: %s\n", h_err);
    CG_REQUIRE(cfg);
    CG_REQUIRE((dc = cg_decider_start(path, 0, err, sizeof err)) != NULL);
    accepted = deferred_rcpt = deferred_eom = errors = 0;
    atomic_store(&slow_done_ms, 0);
    clock_gettime(CLOCK_MONOTONIC, &slow_t0);
    pthread_t t;
    CG_REQUIRE(pthread_create(&t, NULL, slow_message, NULL) == 0);
    struct timespec ms100 = {0, 100 * 1000000L};
    nanosleep(&ms100, NULL); /* the slow one is in its plugin now */
    int64_t worst = 0;
    for (long i = 0; i < 10; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, "fast%ld@example.com", i);
        send_one(i, rcpt, 0);
        int64_t ms = elapsed_ms(&t0);
        if (ms > worst)
            worst = ms;
    }
    int64_t fast_done = elapsed_ms(&slow_t0);
    int64_t slow_still_running = atomic_load(&slow_done_ms) == 0;
    pthread_join(t, NULL);
    cg_decider_stop(&dc);
    CG_CHECK(slow_still_running);        /* every other message finished first */
    CG_CHECK(fast_done < 2000);
    CG_CHECK(worst < 1000);              /* generous: none waited for the 2 s */
    CG_CHECK(atomic_load(&slow_done_ms) >= 2000);
    CG_CHECK_INT(accepted, 11);
    CG_CHECK_INT(errors, 0);
    cg_config_unref(&cfg);
}

/* issue 14.4: one job that fails (here a trigger refuses its decision
 * row) is rolled back alone and tempfailed; the other jobs of its batches
 * are decided and kept */
static void test_failing_job_alone(void)
{
    char path[PATH_MAX + 16], err[256];
    if (start("onefails.db", path, sizeof path) < 0)
        return;
    /* bad@ is at the cap (a deferral, so a decision row) and its rows fail */
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    for (int i = 0; i < 3; i++)
        h_contact(st, "bad@example.com", "marketing", "promotional.offer", NULL, cg_now() - 10, NULL);
    cg_store_free(&st);
    sqlite3 *db;
    CG_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    CG_REQUIRE(sqlite3_exec(db, "CREATE TRIGGER fail_bad BEFORE INSERT ON decisions"
                                " WHEN NEW.recipient = 'bad@example.com'"
                                " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                            NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CG_CHECK(pthread_create(&t[i], NULL, mixed_message, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cg_decider_stop(&dc);
    CG_CHECK_INT(errors, 1);
    CG_CHECK_INT(accepted, THREADS - 1);
    st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    for (long i = 1; i < THREADS; i++) {
        char rcpt[64];
        int n = 0;
        snprintf(rcpt, sizeof rcpt, "m%ld@example.com", i);
        CG_CHECK(cg_store_contacts(st, rcpt, 0, INT64_MAX, count_cb, &n) == 0);
        CG_CHECK_INT(n, 1);
    }
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* issue 14.3: the database removed while running: nothing is acknowledged
 * (tempfail) until it is back, then mail is decided again without a
 * restart */
static void test_database_gone_and_back(void)
{
    char dir[PATH_MAX + 16], away[PATH_MAX + 32], path[PATH_MAX + 48], err[256];
    snprintf(dir, sizeof dir, "%s/gone", h_tmpdir);
    snprintf(away, sizeof away, "%s/gone.away", h_tmpdir);
    CG_REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/h.db", dir);
    char text[PATH_MAX + 1024];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \"%s\",\n"
             " \"policies\": [{\"name\": \"three-a-week\", \"plugin\": \"frequency\","
             " \"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7d\"}}]}\n", path);
    cfg = h_config(text);
    CG_REQUIRE(cfg);
    CG_REQUIRE((dc = cg_decider_start(path, 0, err, sizeof err)) != NULL);
    accepted = deferred_rcpt = deferred_eom = errors = 0;
    send_one(1, "a1@example.com", 0);
    CG_CHECK_INT(accepted, 1);
    CG_REQUIRE(rename(dir, away) == 0); /* the directory moved away while running */
    send_one(2, "a2@example.com", 0);
    send_one(3, "a3@example.com", 0);
    CG_CHECK_INT(errors, 2);            /* tempfailed, never acknowledged */
    CG_CHECK_INT(accepted, 1);
    CG_REQUIRE(rename(away, dir) == 0); /* it is back */
    for (int i = 0; i < 50 && accepted < 2; i++) { /* reopened within a few seconds */
        struct timespec ms100 = {0, 100 * 1000000L};
        nanosleep(&ms100, NULL);
        send_one(10 + i, "a4@example.com", 0);
    }
    CG_CHECK_INT(accepted, 2);
    cg_decider_stop(&dc);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(st);
    int n = 0;
    cg_store_contacts(st, "a2@example.com", 0, INT64_MAX, count_cb, &n);
    CG_CHECK_INT(n, 0); /* nothing of the tempfailed messages */
    n = 0;
    cg_store_contacts(st, "a4@example.com", 0, INT64_MAX, count_cb, &n);
    CG_CHECK_INT(n, 1);
    cg_store_free(&st);
    cg_config_unref(&cfg);
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
    CG_RUN(test_slow_plugin_stalls_only_its_message);
    CG_RUN(test_failing_job_alone);
    CG_RUN(test_database_gone_and_back);
    CG_RUN(test_start_error);
    h_done();
    CG_DONE("test_decider");
}
