/*
 * engine_bench.c - the engine micro-benchmark (no MTA), issue 5.
 *
 * Measures what the milter does per message, through the real decision
 * thread (cg_decider: group commit, one transaction per batch, WAL,
 * synchronous as the daemon's durability): cg_decider_rcpt for the recipient, then, unless the
 * recipient was refused, cg_decider_eom (check and record). An operation
 * is acknowledged only after the decider's COMMIT.
 *
 * For each history size N (BENCH_SIZES, default 100k,1M,10M) a database
 * of N contacts for N/10 customers over the last 60 days is pre-filled
 * once and cached in BENCH_DIR (default /var/tmp/contactgate-bench); the
 * rows a run adds are deleted afterwards, so the next run reuses it.
 * Before each run the file is read into the page cache (as a server's
 * database is after a while; this VM pages idle page cache out), and each
 * figure is the median of BENCH_ROUNDS rounds (a shared VM is noisy). The
 * queue IDs and Message-IDs are random, as Postfix's and most mailers'
 * are, so each decision-log row lands on its own index pages.
 *
 * Environment:
 *   BENCH_DIR      where the databases live (not tmpfs: fsync must be real)
 *   BENCH_SIZES    comma list, k/M suffixes: "100k,1M,10M"
 *   BENCH_OPS      measured operations single-thread (default 20000);
 *                  the multi-thread run does 5x as many (with
 *                  BENCH_DATABASE, 0: the open-loop rows only)
 *   BENCH_THREADS  default 20
 *   BENCH_POLICY   default policies/retail-bank.json
 *   BENCH_PRUNE    0: skip the retention run (default 1, largest size)
 *   BENCH_ROUNDS   rounds per size (default 3, at most 9)
 *   BENCH_PACE     ops/s offered in the paced single-thread run at the
 *                  largest size (default 2000; 0: none)
 *   BENCH_PACE_OPS ops in that run (default 10000)
 *   BENCH_PG_PACES with BENCH_DATABASE: open-loop rows at these offered
 *                  rates (ops/s over BENCH_THREADS threads, Poisson
 *                  arrivals; default "200,500,1000"; "0": none), each
 *                  BENCH_PACE_SECS long (default 10)
 *   BENCH_PRUNE_BATCH  rows per prune transaction (default 1000, as
 *                  contactgatectl prune)
 *   CONTACTGATE_PLUGIN_DIR  the plugins (engine.sh sets BUILD/plugins)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_database.h"
#include "cg_decider.h"
#include "cg_engine.h"
#include "cg_log.h"
#include "cg_store.h"
#include "cg_store_admin.h"
#include "cg_util.h"

#define FILL_VERSION 2 /* 2: schema 3, department counters filled */
#define DAY 86400LL
#define MAX_SIZES 8
#define MAX_ROUNDS 9
#define TMPFS_MAGIC_ 0x01021994

/* --- small helpers ------------------------------------------------------- */

/* bench_store_flags - the daemon's "durability": BENCH_DURABILITY=power
 * for synchronous=FULL, else the default (process: synchronous=NORMAL) */
static int bench_store_flags(void)
{
    const char *d = getenv("BENCH_DURABILITY");
    return d && strcmp(d, "power") == 0 ? CG_STORE_SYNC_FULL : 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("engine_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* pct - nearest-rank percentile of a sorted array, in microseconds */
static double pct(const uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

static long parse_count(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1e6, end++;
    if (*end)
        return -1;
    return (long)v;
}

static const char *fmt_count(long n, char *buf, size_t len)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, len, "%ldM", n / 1000000);
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, len, "%ldk", n / 1000);
    else
        snprintf(buf, len, "%ld", n);
    return buf;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    long n = parse_count(v);
    if (n < 0)
        die("%s=\"%s\" is not a positive count", name, v);
    return n;
}

/* --- raw SQLite (pre-fill and clean-up only; the bench goes through the
 * store and the decider) ------------------------------------------------- */

static void sql_exec(sqlite3 *db, const char *q)
{
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        die("SQL failed: %s\n  %.300s", msg ? msg : sqlite3_errmsg(db), q);
}

static int64_t sql_int(sqlite3 *db, const char *q, int64_t dflt)
{
    sqlite3_stmt *s;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void remove_db(const char *path)
{
    char p[2 * PATH_MAX];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* fresh_db - path made anew with the real schema (cg_store_open), then
 * opened directly for a bulk fill */
static sqlite3 *fresh_db(const char *path)
{
    char err[512];
    remove_db(path);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    if (!st)
        die("%s", err);
    cg_store_free(&st);
    sqlite3 *db = raw_open(path);
    if (!db)
        die("cannot open %s", path);
    return db;
}

/* cleanup - forget what a run added: contacts beyond the pre-fill,
 * every decision; empty the WAL */
static void cleanup(const char *path, long n)
{
    sqlite3 *db = raw_open(path);
    if (!db)
        die("cannot open %s", path);
    char q[128];
    snprintf(q, sizeof q, "DELETE FROM contacts WHERE id > %ld", n);
    sql_exec(db, "BEGIN IMMEDIATE");
    sql_exec(db, q);
    sql_exec(db, "DELETE FROM decisions");
    sql_exec(db, "COMMIT");
    sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
}

/* cache_valid - a pre-filled file of n rows, younger than a day */
static int cache_valid(const char *path, long n)
{
    if (access(path, F_OK) != 0)
        return 0;
    sqlite3 *db = raw_open(path);
    if (!db)
        return 0;
    sqlite3_stmt *s;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'bench_fill'", -1, &s, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) {
            long rows = 0, ver = 0;
            long long t0 = 0;
            const char *v = (const char *)sqlite3_column_text(s, 0);
            if (v && sscanf(v, "v=%ld rows=%ld t=%lld", &ver, &rows, &t0) == 3 &&
                ver == FILL_VERSION && rows == n && (int64_t)time(NULL) - t0 < DAY)
                ok = 1;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    if (!ok)
        return 0;
    cleanup(path, n);
    db = raw_open(path);
    ok = db && sql_int(db, "SELECT count(*) FROM contacts", -1) == n &&
         sql_int(db, "SELECT max(id) FROM contacts", -1) == n;
    sqlite3_close(db);
    return ok;
}

/* fill_counters - the department counters of the contacts loaded in bulk,
 * as cg_store_contact_add would have kept them (a transaction is open) */
static void fill_counters(sqlite3 *db)
{
    static const int levels[] = {60, 3600, 86400};
    sql_exec(db, "DELETE FROM dept_counts");
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        char *q = cg_xasprintf("INSERT INTO dept_counts(department, level, bucket, category, n)"
                               " SELECT department, %d, ts - ts %% %d, category, count(*)"
                               " FROM contacts GROUP BY 1, 3, 4", levels[i], levels[i]);
        sql_exec(db, q);
        free(q);
    }
}

/* prefill - the real schema (cg_store_open), then N contacts in one
 * INSERT ... SELECT over a recursive CTE, in one transaction. The contact
 * indexes are dropped for the load and re-created from their own SQL
 * (a sort instead of 10 M random B-tree inserts), then ANALYZE.
 *
 * Data: customers C%08d (N/10), each with the address u%08d@example.net
 * in the customer map; contacts at increasing times over the last 60 days
 * for random customers: 60 % marketing promotional.offer, 20 % billing
 * functional.bill, 15 % service functional.service, 5 % collections
 * functional.debt. 1 % of customers have an open complaint state, 1 % an
 * opt-out of promotional.*. */
static void prefill(const char *path, long n)
{
    sqlite3 *db = fresh_db(path);
    sql_exec(db, "PRAGMA journal_mode = DELETE");
    sql_exec(db, "PRAGMA journal_mode = OFF");
    sql_exec(db, "PRAGMA synchronous = OFF");
    sql_exec(db, "PRAGMA cache_size = -1048576");
    sql_exec(db, "PRAGMA temp_store = FILE");
    sql_exec(db, "PRAGMA threads = 4");

    /* the contact indexes, as the schema defines them */
    char *idx_sql[16];
    size_t n_idx = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                               " AND tbl_name = 'contacts' AND sql IS NOT NULL", -1, &s,
                           NULL) != SQLITE_OK)
        die("schema: %s", sqlite3_errmsg(db));
    char *drops[16];
    while (sqlite3_step(s) == SQLITE_ROW && n_idx < 16) {
        drops[n_idx] = cg_xasprintf("DROP INDEX \"%s\"", (const char *)sqlite3_column_text(s, 0));
        idx_sql[n_idx++] = cg_xstrdup((const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    for (size_t i = 0; i < n_idx; i++) {
        sql_exec(db, drops[i]);
        free(drops[i]);
    }

    long c = n / 10 > 0 ? n / 10 : 1;
    int64_t t_end = (int64_t)time(NULL), t0 = t_end - 60 * DAY;
    char *q;
    sql_exec(db, "BEGIN");
    q = cg_xasprintf(
        "INSERT INTO customers(address, customer, timezone, attrs)"
        " WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < %ld)"
        " SELECT printf('u%%08d@example.net', i), printf('C%%08d', i), NULL, NULL FROM k",
        c);
    sql_exec(db, q);
    free(q);
    q = cg_xasprintf(
        "INSERT INTO contacts(id, ts, customer, address, department, category, channel, weight,"
        " message_id, queue_id, digest)"
        " WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %ld),"
        " r(i, k, d) AS (SELECT i, abs(random() %% %ld), abs(random() %% 100) FROM s)"
        " SELECT i + 1, %lld + (i * %lld) / %ld, printf('C%%08d', k), printf('u%%08d@example.net', k),"
        "  CASE WHEN d < 60 THEN 'marketing' WHEN d < 80 THEN 'billing'"
        "       WHEN d < 95 THEN 'service' ELSE 'collections' END,"
        "  CASE WHEN d < 60 THEN 'promotional.offer' WHEN d < 80 THEN 'functional.bill'"
        "       WHEN d < 95 THEN 'functional.service' ELSE 'functional.debt' END,"
        "  'email', 1.0, printf('<p%%d@bank.example>', i), printf('P%%X', i), NULL FROM r",
        n, c, (long long)t0, (long long)(60 * DAY), n);
    sql_exec(db, q);
    free(q);
    q = cg_xasprintf("INSERT INTO states(customer, state, since, until, note)"
                     " SELECT customer, 'complaint', %lld, 0, 'bench' FROM customers"
                     " WHERE CAST(substr(customer, 2) AS INTEGER) %% 100 = 7",
                     (long long)t0);
    sql_exec(db, q);
    free(q);
    q = cg_xasprintf("INSERT INTO optouts(customer, category, since, until, note)"
                     " SELECT customer, 'promotional.*', %lld, 0, 'bench' FROM customers"
                     " WHERE CAST(substr(customer, 2) AS INTEGER) %% 100 = 13",
                     (long long)t0);
    sql_exec(db, q);
    free(q);
    fill_counters(db);
    sql_exec(db, "COMMIT");
    for (size_t i = 0; i < n_idx; i++) {
        sql_exec(db, idx_sql[i]);
        free(idx_sql[i]);
    }
    sql_exec(db, "ANALYZE");
    q = cg_xasprintf("INSERT OR REPLACE INTO meta(key, value) VALUES ('bench_fill',"
                     " 'v=%d rows=%ld t=%lld')", FILL_VERSION, n, (long long)t_end);
    sql_exec(db, q);
    free(q);
    sql_exec(db, "PRAGMA journal_mode = WAL");
    sqlite3_close(db);
    fsync_path(path);
}

/* copy_file - path to dst, fsync'ed (the prune works on a copy) */
static void copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0)
        die("copy %s -> %s: %s", src, dst, strerror(errno));
    static char buf[1 << 20];
    ssize_t k;
    while ((k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k)
            die("copy: %s", strerror(errno));
    if (k < 0 || fsync(out) != 0)
        die("copy: %s", strerror(errno));
    close(in);
    close(out);
}

/* resident - the share of a file in the page cache (mincore), 0..1 */
static double resident(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    long pg = sysconf(_SC_PAGESIZE);
    size_t n = ((size_t)sb.st_size + (size_t)pg - 1) / (size_t)pg, in = 0;
    unsigned char *v = cg_xcalloc(n, 1);
    if (mincore(p, (size_t)sb.st_size, v) == 0)
        for (size_t i = 0; i < n; i++)
            in += v[i] & 1;
    free(v);
    munmap(p, (size_t)sb.st_size);
    return (double)in / (double)n;
}

/* warm - read the whole file so that it is in the page cache, as a
 * server's database is after a while; returns the share that was
 * resident before. (Some VMs page out idle page cache proactively: the
 * figures would then measure the disk, not contactgate.) */
static double warm(const char *path)
{
    double before = resident(path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return before;
    static char buf[1 << 20];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    return before;
}

/* --- the workload -------------------------------------------------------- */

struct counts {
    long accepted, tagged, held;       /* at end of message */
    long rcpt_deferred, rcpt_rejected; /* refused at RCPT (no end of message) */
    long eom_deferred, eom_rejected;
    long errors;
};

struct bench {
    cg_decider *dc;
    const struct cg_config *cfg;
    long customers;
    int only_marketing;   /* every op from marketing (the department runs) */
    pthread_barrier_t start;
    atomic_int stop;      /* open-ended runs: stop now */
    atomic_int recording; /* open-ended runs: latencies count now */
    int poisson;          /* paced runs: random (exponential) gaps of mean
                           * pace_ns, each thread's own, instead of a fixed
                           * spacing that starts with every thread at once */
};

struct lat {
    uint64_t *v;
    size_t n, cap;
};

static void lat_push(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = cg_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = ns;
}

struct worker {
    pthread_t th;
    struct bench *b;
    int id;
    uint64_t rng;
    unsigned long seq;
    long warm, ops;       /* ops < 0: until b->stop */
    struct lat lat, lat_rcpt, lat_eom; /* per op; its RCPT check; its end of message */
    uint64_t pace_ns;     /* > 0: one op every pace_ns, latency from its slot */
    struct counts ct;
    uint64_t t_first, t_last; /* recorded window (open-ended runs) */
};

/* one_message - what the milter does for a one-recipient message */
static void one_message(struct worker *w, struct counts *ct, int rec)
{
    static const char *const senders[] = {"marketing@bank.example", "billing@bank.example",
                                          "service@bank.example"};
    struct bench *b = w->b;
    uint64_t r = rng_next(&w->rng);
    long k = (long)(r % (uint64_t)b->customers);
    unsigned pick = (unsigned)((r >> 40) % 10); /* 80 % marketing, 10 % billing, 10 % service */
    const char *sender = senders[pick < 8 || b->only_marketing ? 0 : pick == 8 ? 1 : 2];
    char buf[128];

    struct cg_msg m;
    cg_msg_init(&m);
    m.sender = cg_xstrdup(sender);
    cg_msg_set(&m.client_addr, "192.0.2.10");
    cg_msg_set(&m.daemon_name, "MTA");
    /* queue IDs and Message-IDs as they come: in no order (Postfix's short
     * queue IDs are microseconds and an inode number; most mailers' IDs
     * are random), so each lands on its own page of their indexes */
    uint64_t qr = rng_next(&w->rng);
    snprintf(buf, sizeof buf, "%011llX", (unsigned long long)(qr >> 20));
    w->seq++;
    cg_msg_set(&m.queue_id, buf);
    snprintf(buf, sizeof buf, "<u%08ld@example.net>", k);
    struct cg_rcpt *rc = cg_msg_add_rcpt(&m, buf);
    struct cg_decision d;
    m.now = 0;
    uint64_t ta = now_ns();
    cg_decider_rcpt(b->dc, b->cfg, &m, rc, &d);
    if (rec)
        lat_push(&w->lat_rcpt, now_ns() - ta);
    if (d.error)
        ct->errors++;
    if (d.verdict == CG_ACT_DEFER || d.verdict == CG_ACT_REJECT) {
        rc->refused = 1;
        if (d.verdict == CG_ACT_DEFER)
            ct->rcpt_deferred++;
        else
            ct->rcpt_rejected++;
        cg_msg_clear(&m);
        return; /* the only recipient was refused: no DATA, no end of message */
    }
    cg_msg_add_header(&m, "From", sender);
    snprintf(buf, sizeof buf, "u%08ld@example.net", k);
    cg_msg_add_header(&m, "To", buf);
    cg_msg_add_header(&m, "Subject", pick < 8 ? "Your offer this week" : "Your account");
    snprintf(buf, sizeof buf, "<%016llx.%lu@bank.example>",
             (unsigned long long)rng_next(&w->rng), w->seq);
    cg_msg_add_header(&m, "Message-ID", buf);
    cg_msg_add_header(&m, "Date", "Mon, 1 Jan 2024 10:00:00 +0000");
    if (b->cfg->needs_body) {
        static const char body[] = "Dear customer,\r\nthis is a benchmark message.\r\n";
        cg_msg_add_body(&m, (const unsigned char *)body, sizeof body - 1);
    }
    m.now = 0;
    ta = now_ns();
    cg_decider_eom(b->dc, b->cfg, &m, &d);
    if (rec)
        lat_push(&w->lat_eom, now_ns() - ta);
    if (d.error)
        ct->errors++;
    switch (d.verdict) {
    case CG_ACT_ACCEPT: ct->accepted++; break;
    case CG_ACT_TAG: ct->tagged++; break;
    case CG_ACT_HOLD: ct->held++; break;
    case CG_ACT_DEFER: ct->eom_deferred++; break;
    default: ct->eom_rejected++; break;
    }
    cg_msg_clear(&m);
}

/* gap_ns - a random gap to the next op, exponential with mean pace_ns:
 * the threads together are a Poisson stream of arrivals, as independent
 * SMTP sessions are */
static uint64_t gap_ns(struct worker *w)
{
    double u = (double)((rng_next(&w->rng) >> 11) + 1) / 9007199254740993.0; /* (0, 1] */
    return (uint64_t)(-log(u) * (double)w->pace_ns);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct counts scratch = {0};
    pthread_setname_np(pthread_self(), "bench-worker");
    if (w->pace_ns)
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the slot, not 50 us later */
    for (long i = 0; i < w->warm; i++)
        one_message(w, &scratch, 0);
    if (w->ops >= 0) {
        pthread_barrier_wait(&w->b->start);
        uint64_t slot = now_ns();
        for (long i = 0; i < w->ops; i++) {
            uint64_t t0 = now_ns();
            if (w->pace_ns) {
                /* an open loop: an op that starts late because the one
                 * before was slow counts from its slot (the wait is part of
                 * its latency); one that slept until its slot, from when it
                 * woke (the kernel's wake-up delay is not contactgate's) */
                slot += w->b->poisson ? gap_ns(w) : w->pace_ns;
                if (slot > t0) {
                    struct timespec ts = {(time_t)(slot / 1000000000ull),
                                          (long)(slot % 1000000000ull)};
                    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                    t0 = now_ns();
                } else {
                    t0 = slot;
                }
            }
            one_message(w, &w->ct, 1);
            lat_push(&w->lat, now_ns() - t0);
        }
        return NULL;
    }
    while (!atomic_load(&w->b->stop)) {
        int rec = atomic_load(&w->b->recording);
        uint64_t t0 = now_ns();
        one_message(w, rec ? &w->ct : &scratch, rec);
        uint64_t t1 = now_ns();
        if (rec && atomic_load(&w->b->recording)) {
            if (!w->t_first)
                w->t_first = t0;
            w->t_last = t1;
            lat_push(&w->lat, t1 - t0);
        }
    }
    return NULL;
}

struct result {
    long ops;
    double secs, ops_per_s, p50, p99, max;
    double rcpt_p50, rcpt_p99, eom_p50, eom_p99; /* the two decider calls of an op */
    double rcpt_max, eom_max;
    double dec_p50, dec_p99, dec_max; /* every decision, either call */
    double cpu_us;            /* process CPU (user + system) per op, us */
    double cores;             /* CPU seconds per second: cores kept busy */
    struct counts ct;
};

/* pooled - every worker's values of one kind, sorted (malloc'ed) */
static uint64_t *pooled(struct worker *ws, int nt, size_t off, size_t *n_r)
{
    size_t total = 0;
    for (int i = 0; i < nt; i++)
        total += ((struct lat *)((char *)&ws[i] + off))->n;
    uint64_t *all = cg_xcalloc(total ? total : 1, sizeof *all);
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        struct lat *l = (struct lat *)((char *)&ws[i] + off);
        memcpy(all + k, l->v, l->n * sizeof *all);
        k += l->n;
        free(l->v);
        l->v = NULL;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    *n_r = total;
    return all;
}

static void merge(struct worker *ws, int nt, struct result *res, double secs)
{
    memset(res, 0, sizeof *res);
    for (int i = 0; i < nt; i++) {
        struct counts *a = &res->ct, *c = &ws[i].ct;
        a->accepted += c->accepted, a->tagged += c->tagged, a->held += c->held;
        a->rcpt_deferred += c->rcpt_deferred, a->rcpt_rejected += c->rcpt_rejected;
        a->eom_deferred += c->eom_deferred, a->eom_rejected += c->eom_rejected;
        a->errors += c->errors;
    }
    size_t total, n;
    uint64_t *all = pooled(ws, nt, offsetof(struct worker, lat), &total);
    res->ops = (long)total;
    res->secs = secs;
    res->ops_per_s = secs > 0 ? (double)total / secs : 0;
    res->p50 = pct(all, total, 0.50);
    res->p99 = pct(all, total, 0.99);
    res->max = total ? (double)all[total - 1] / 1000.0 : 0;
    free(all);
    size_t m;
    all = pooled(ws, nt, offsetof(struct worker, lat_rcpt), &n);
    uint64_t *eom = pooled(ws, nt, offsetof(struct worker, lat_eom), &m);
    res->rcpt_p50 = pct(all, n, 0.50);
    res->rcpt_p99 = pct(all, n, 0.99);
    res->rcpt_max = pct(all, n, 1);
    res->eom_p50 = pct(eom, m, 0.50);
    res->eom_p99 = pct(eom, m, 0.99);
    res->eom_max = pct(eom, m, 1);
    all = cg_xrealloc(all, (n + m + 1) * sizeof *all);
    memcpy(all + n, eom, m * sizeof *eom);
    qsort(all, n + m, sizeof *all, cmp_u64);
    res->dec_p50 = pct(all, n + m, 0.50);
    res->dec_p99 = pct(all, n + m, 0.99);
    res->dec_max = pct(all, n + m, 1);
    free(eom);
    free(all);
}

static struct worker *workers_new(struct bench *b, int nt, long warm, long ops, uint64_t seed)
{
    struct worker *ws = cg_xcalloc((size_t)nt, sizeof *ws);
    for (int i = 0; i < nt; i++) {
        ws[i].b = b;
        ws[i].id = i;
        ws[i].rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i * 7919 + 1;
        ws[i].warm = warm / nt;
        ws[i].ops = ops < 0 ? -1 : ops / nt + (i < ops % nt);
    }
    return ws;
}

/* cpu_secs - this process's user + system CPU time */
static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* run_fixed - nt threads, a fixed number of measured operations */
static void run_fixed(struct bench *b, int nt, long warm, long ops, uint64_t seed,
                      uint64_t pace_ns, struct result *res)
{
    struct worker *ws = workers_new(b, nt, warm, ops, seed);
    for (int i = 0; i < nt; i++)
        ws[i].pace_ns = pace_ns;
    pthread_barrier_init(&b->start, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++)
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create failed");
    pthread_barrier_wait(&b->start);
    uint64_t t0 = now_ns();
    double c0 = cpu_secs();
    for (int i = 0; i < nt; i++)
        pthread_join(ws[i].th, NULL);
    uint64_t t1 = now_ns();
    double c1 = cpu_secs();
    pthread_barrier_destroy(&b->start);
    merge(ws, nt, res, (double)(t1 - t0) / 1e9);
    res->cpu_us = res->ops ? (c1 - c0) * 1e6 / (double)res->ops : 0;
    res->cores = res->secs > 0 ? (c1 - c0) / res->secs : 0;
    free(ws);
}

/* --- diagnostics --------------------------------------------------------- */

/* fsync_probe - this disk's durable-append latency: 4 KiB write +
 * fdatasync, as a WAL commit does (p50, p99 in us) */
static void fsync_probe(const char *dir, double *p50, double *p99)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fsync-probe.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("%s: %s", path, strerror(errno));
    enum { N = 300 };
    static char blk[4096];
    uint64_t v[N];
    memset(blk, 'x', sizeof blk);
    for (int i = 0; i < N; i++) {
        uint64_t t0 = now_ns();
        if (write(fd, blk, sizeof blk) != (ssize_t)sizeof blk || fdatasync(fd) != 0)
            die("fsync probe: %s", strerror(errno));
        v[i] = now_ns() - t0;
    }
    close(fd);
    unlink(path);
    qsort(v, N, sizeof *v, cmp_u64);
    *p50 = pct(v, N, 0.5);
    *p99 = pct(v, N, 0.99);
}

/* breakdown - single thread, no decider: the same message through the
 * engine on a store of our own, timing the engine (queries, inserts) and
 * the COMMITs separately */
struct breakdown {
    double eng_p50, eng_p99, commit_p50, commit_p99, commit_max;
};

static void run_breakdown(const char *path, const struct cg_config *cfg, long customers,
                          long ops, struct breakdown *bd)
{
    char err[512];
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    if (!st)
        die("%s", err);
    uint64_t *eng = cg_xcalloc((size_t)ops, sizeof *eng), *com = cg_xcalloc((size_t)ops, sizeof *com);
    size_t n_com = 0;
    uint64_t rng = 12345;
    for (long i = 0; i < ops; i++) {
        long k = (long)(rng_next(&rng) % (uint64_t)customers);
        char buf[64];
        struct cg_msg m;
        cg_msg_init(&m);
        m.sender = cg_xstrdup("marketing@bank.example");
        cg_msg_set(&m.client_addr, "192.0.2.10");
        snprintf(buf, sizeof buf, "D%09lX", i);
        cg_msg_set(&m.queue_id, buf);
        snprintf(buf, sizeof buf, "<u%08ld@example.net>", k);
        struct cg_rcpt *r = cg_msg_add_rcpt(&m, buf);
        struct cg_decision d;
        uint64_t t0 = now_ns();
        cg_store_begin(st, 1);
        m.now = cg_now();
        cg_engine_rcpt(cfg, st, &m, r, &d);
        uint64_t t1 = now_ns();
        cg_store_commit(st);
        uint64_t t2 = now_ns(), t3 = t2, t4 = t2;
        if (d.verdict < CG_ACT_DEFER) {
            cg_msg_add_header(&m, "Subject", "Your offer this week");
            snprintf(buf, sizeof buf, "<%s@bank.example>", m.queue_id);
            cg_msg_add_header(&m, "Message-ID", buf);
            t2 = now_ns();
            cg_store_begin(st, 1);
            cg_engine_eom(cfg, st, &m, 1, &d);
            t3 = now_ns();
            cg_store_commit(st);
            t4 = now_ns();
            com[n_com++] = t4 - t3;
        }
        eng[i] = (t1 - t0) + (t3 - t2);
        cg_msg_clear(&m);
    }
    cg_store_free(&st);
    qsort(eng, (size_t)ops, sizeof *eng, cmp_u64);
    qsort(com, n_com, sizeof *com, cmp_u64);
    bd->eng_p50 = pct(eng, (size_t)ops, 0.5);
    bd->eng_p99 = pct(eng, (size_t)ops, 0.99);
    bd->commit_p50 = pct(com, n_com, 0.5);
    bd->commit_p99 = pct(com, n_com, 0.99);
    bd->commit_max = n_com ? (double)com[n_com - 1] / 1000.0 : 0;
    free(eng);
    free(com);
}

/* --- machine description ------------------------------------------------- */

static void read_line(const char *path, char *buf, size_t len)
{
    buf[0] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    if (fgets(buf, (int)len, fp))
        buf[strcspn(buf, "\n")] = 0;
    fclose(fp);
}

static void describe_machine(const char *dir)
{
    char cpu[256] = "unknown", line[512];
    long mem_kb = 0;
    FILE *fp = fopen("/proc/cpuinfo", "r");
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            cg_strlcpy(cpu, strchr(line, ':') + 2, sizeof cpu);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (fp)
        fclose(fp);
    fp = fopen("/proc/meminfo", "r");
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "MemTotal: %ld kB", &mem_kb) == 1)
            break;
    if (fp)
        fclose(fp);

    /* the block device under dir */
    char disk[160] = "unknown";
    struct stat sb;
    struct statfs fs;
    if (statfs(dir, &fs) == 0 && (unsigned long)fs.f_type == TMPFS_MAGIC_) {
        snprintf(disk, sizeof disk, "tmpfs (fsync is free here: figures are NOT durable-disk figures)");
    } else if (stat(dir, &sb) == 0) {
        char sys[PATH_MAX], real[PATH_MAX], p[PATH_MAX + 32], rot[16], model[128];
        snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u", major(sb.st_dev), minor(sb.st_dev));
        if (realpath(sys, real)) {
            snprintf(p, sizeof p, "%s/partition", real);
            if (access(p, F_OK) == 0) {
                char *slash = strrchr(real, '/');
                if (slash)
                    *slash = 0;
            }
            const char *name = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
            snprintf(p, sizeof p, "%s/queue/rotational", real);
            read_line(p, rot, sizeof rot);
            snprintf(p, sizeof p, "%s/device/model", real);
            read_line(p, model, sizeof model);
            snprintf(disk, sizeof disk, "%.40s%s%.60s (%s, rotational=%.4s as reported)", name,
                     model[0] ? " " : "", model,
                     !strncmp(name, "vd", 2) ? "virtio block device" :
                     !strncmp(name, "nvme", 4) ? "NVMe" : "block device",
                     rot[0] ? rot : "?");
        }
    }
    printf("machine: %ld CPUs (nproc), %s, %.1f GiB RAM\n", sysconf(_SC_NPROCESSORS_ONLN), cpu,
           (double)mem_kb / 1048576.0);
    printf("disk:    %s on %s\n", dir, disk);
    printf("SQLite:  %s, WAL, synchronous=%s (the store's own settings; BENCH_DURABILITY=%s)\n",
           sqlite3_libversion(), bench_store_flags() ? "FULL" : "NORMAL",
           bench_store_flags() ? "power" : "process");
}

/* --- main ----------------------------------------------------------------- */

static const char *pf(double v, double target, int below)
{
    return (below ? v < target : v >= target) ? "PASS" : "MISS";
}

static void print_header(void)
{
    printf("%-6s %-6s %3s %8s %9s %8s %8s %9s %7s %5s  %6s %6s %6s %6s\n", "rows", "cust", "thr",
           "ops", "ops/s", "p50 us", "p99 us", "max us", "cpu/op", "cores", "accept", "defer",
           "reject", "@rcpt");
    fflush(stdout);
}

static void print_row(const char *rows, long customers, int nt, const struct result *r)
{
    char c[32];
    double ops = (double)(r->ops ? r->ops : 1);
    long refused = r->ct.rcpt_deferred + r->ct.rcpt_rejected;
    printf("%-6s %-6s %3d %8ld %9.0f %8.0f %8.0f %9.0f %4.0f us %5.2f  %5.1f%% %5.1f%% %5.1f%% %5.1f%%%s\n",
           rows, fmt_count(customers, c, sizeof c), nt, r->ops, r->ops_per_s, r->p50, r->p99,
           r->max, r->cpu_us, r->cores, 100.0 * (double)(r->ct.accepted + r->ct.tagged) / ops,
           100.0 * (double)(r->ct.rcpt_deferred + r->ct.eom_deferred) / ops,
           100.0 * (double)(r->ct.rcpt_rejected + r->ct.eom_rejected) / ops,
           100.0 * (double)refused / ops, r->ct.errors ? "  ERRORS" : "");
    fflush(stdout);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median_of - each figure's median over the rounds (the counts are the
 * first round's: every round runs the same seeded mix) */
static void median_of(const struct result *rk, int n, struct result *out)
{
    *out = rk[0];
#define MEDIAN(field)                                                                          \
    do {                                                                                       \
        double v[MAX_ROUNDS];                                                                  \
        for (int k = 0; k < n; k++)                                                            \
            v[k] = rk[k].field;                                                                \
        qsort(v, (size_t)n, sizeof *v, cmp_dbl);                                               \
        out->field = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;                         \
    } while (0)
    MEDIAN(secs);
    MEDIAN(ops_per_s);
    MEDIAN(p50);
    MEDIAN(p99);
    MEDIAN(max);
    MEDIAN(cpu_us);
    MEDIAN(cores);
    MEDIAN(rcpt_p50);
    MEDIAN(rcpt_p99);
    MEDIAN(eom_p50);
    MEDIAN(eom_p99);
    MEDIAN(rcpt_max);
    MEDIAN(eom_max);
    MEDIAN(dec_p50);
    MEDIAN(dec_p99);
    MEDIAN(dec_max);
#undef MEDIAN
}

/* --- department volume and a stalling plugin (issue 13) --------------------- */

/* prefill_dept - n_cust customers in the map and `total` contacts to
 * random ones of them: `volume` from the marketing department in the last
 * 23 hours, the rest from billing 2 to 60 days ago (the same history size
 * whatever the department's volume), and the department counters of them
 * all */
static void prefill_dept(const char *path, long volume, long total, long n_cust)
{
    sqlite3 *db = fresh_db(path);
    sql_exec(db, "PRAGMA synchronous = OFF");
    sql_exec(db, "PRAGMA cache_size = -262144");
    int64_t now = (int64_t)time(NULL);
    sql_exec(db, "BEGIN");
    char *q = cg_xasprintf(
        "INSERT INTO customers(address, customer, timezone, attrs)"
        " WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < %ld)"
        " SELECT printf('u%%08d@example.net', i), printf('C%%08d', i), NULL, NULL FROM k", n_cust);
    sql_exec(db, q);
    free(q);
    if (total < volume)
        total = volume;
    q = cg_xasprintf(
        "INSERT INTO contacts(ts, customer, address, department, category, channel, weight)"
        " WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %ld),"
        " r(i, k) AS (SELECT i, abs(random() %% %ld) FROM s)"
        " SELECT CASE WHEN i < %ld THEN %lld + (i * %lld) / %ld"
        "        ELSE %lld + abs(random() %% %lld) END,"
        "  printf('C%%08d', k), printf('u%%08d@example.net', k),"
        "  CASE WHEN i < %ld THEN 'marketing' ELSE 'billing' END,"
        "  CASE WHEN i < %ld THEN 'promotional.offer' ELSE 'functional.bill' END, 'email', 1.0"
        " FROM r",
        total, n_cust, volume, (long long)(now - 23 * 3600), (long long)(23 * 3600 - 120), volume,
        (long long)(now - 60 * DAY), (long long)(58 * DAY), volume, volume);
    sql_exec(db, q);
    free(q);
    fill_counters(db);
    sql_exec(db, "COMMIT");
    sql_exec(db, "ANALYZE");
    sql_exec(db, "PRAGMA journal_mode = WAL");
    sqlite3_close(db);
    fsync_path(path);
}

/* write_config - a configuration file: the policy set `include`d (an
 * absolute path) plus one more policy (JSON text) */
static void write_config(const char *path, const char *plugin_dir, const char *database,
                         const char *include, const char *policy_json)
{
    char abs_inc[PATH_MAX];
    if (!realpath(include, abs_inc))
        die("%s: %s", include, strerror(errno));
    FILE *fp = fopen(path, "w");
    if (!fp)
        die("%s: %s", path, strerror(errno));
    fprintf(fp, "{\"plugin_dir\": \"%s\", \"database\": \"%s\", \"include\": [\"%s\"],"
                " \"policies\": [%s]}\n", plugin_dir, database, abs_inc, policy_json);
    fclose(fp);
}

static void run_dept_volumes(const char *dir, const char *build, const char *list, long ops1,
                             int rounds)
{
    enum { N_CUST = 100000 };
    char plugdir[PATH_MAX], *tmp = cg_xstrdup(list);
    if (!realpath(getenv("CONTACTGATE_PLUGIN_DIR"), plugdir))
        snprintf(plugdir, sizeof plugdir, "%s/plugins", build);
    printf("\ndepartment volume: one op as above (retail-bank.json plus a budget of 10,000,000 a"
           " day for\nmarketing, never reached), from marketing, 1 thread, %ld ops, medians of %d"
           " rounds;\nthe budget reads the department's counters, not its contacts:\n",
           ops1 / 2, rounds);
    printf("(every database holds the same history: %s contacts, the department's last day and"
           " older ones)\n", "the largest volume listed");
    printf("%-22s %10s %10s %10s %10s\n", "marketing's last day", "ops/s", "p50", "p99",
           "CPU/op");
    long biggest = 0;
    char *t2 = cg_xstrdup(list);
    for (char *save, *tok = strtok_r(t2, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (parse_count(tok) > biggest)
            biggest = parse_count(tok);
    free(t2);
    double base = 0, last = 0;
    char first_s[32] = "", last_s[32] = "";
    for (char *save, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v = parse_count(tok);
        char path[PATH_MAX + 64], cpath[PATH_MAX + 64], err[1024], vs[32];
        fmt_count(v, vs, sizeof vs);
        snprintf(path, sizeof path, "%s/dept-%s.db", dir, vs);
        snprintf(cpath, sizeof cpath, "%s/dept-%s.json", dir, vs);
        prefill_dept(path, v, biggest, N_CUST);
        write_config(cpath, plugdir, path, "policies/retail-bank.json",
                     "{\"name\": \"marketing-budget\", \"plugin\": \"department_budget\","
                     " \"applies_to\": {\"departments\": [\"marketing\"]}, \"action\": \"defer\","
                     " \"params\": {\"limit\": 10000000, \"window\": \"1d\"}}");
        struct cg_config *cfg = cg_config_load(cpath, 0, err, sizeof err);
        if (!cfg)
            die("%s", err);
        struct result rk[MAX_ROUNDS], r;
        for (int k = 0; k < rounds; k++) {
            struct bench b = {.cfg = cfg, .customers = N_CUST, .only_marketing = 1};
            warm(path);
            b.dc = cg_decider_start(path, bench_store_flags(), err, sizeof err);
            if (!b.dc)
                die("%s", err);
            run_fixed(&b, 1, ops1 / 20, ops1 / 2, 11 + (uint64_t)k, 0, &rk[k]);
            cg_decider_stop(&b.dc);
        }
        median_of(rk, rounds, &r);
        printf("%-22s %10.0f %7.0f us %7.0f us %7.0f us\n", vs, r.ops_per_s, r.p50, r.p99, r.cpu_us);
        if (!base) {
            base = r.cpu_us;
            cg_strlcpy(first_s, vs, sizeof first_s);
        }
        last = r.cpu_us;
        cg_strlcpy(last_s, vs, sizeof last_s);
        cg_config_unref(&cfg);
        remove_db(path);
        unlink(cpath);
    }
    free(tmp);
    if (base > 0)
        printf("  cost per decision at %s / at %s: %.2fx (target <= 1.5x: %s)\n", last_s, first_s,
               last / base, last / base <= 1.5 ? "PASS" : "MISS");
    fflush(stdout);
}

/* the staller: a message to the customer the slow test plugin waits 2 s
 * for, started once a second while the others are measured */
struct staller {
    struct bench *b;
    atomic_int stop;
    int started;
};

static void *stall_one(void *arg)
{
    struct bench *b = arg;
    struct cg_msg m;
    cg_msg_init(&m);
    m.sender = cg_xstrdup("marketing@bank.example");
    cg_msg_set(&m.queue_id, "STALL");
    struct cg_rcpt *rc = cg_msg_add_rcpt(&m, "slow@example.com");
    struct cg_decision d;
    cg_decider_rcpt(b->dc, b->cfg, &m, rc, &d);
    if (d.verdict < CG_ACT_DEFER) {
        cg_msg_add_header(&m, "Subject", "stall");
        cg_decider_eom(b->dc, b->cfg, &m, &d);
    }
    cg_msg_clear(&m);
    return NULL;
}

static void *staller_main(void *arg)
{
    struct staller *s = arg;
    pthread_t th[64];
    int n = 0;
    while (!atomic_load(&s->stop) && n < 64) {
        if (pthread_create(&th[n], NULL, stall_one, s->b) == 0)
            n++;
        struct timespec one = {1, 0};
        nanosleep(&one, NULL);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    s->started = n;
    return NULL;
}

static void run_stall(const char *dir, const char *build, const char *policy, long pace,
                      int rounds)
{
    /* the real plugins and the slow test plugin, copied into one directory
     * of the build tree (plugins load only from directories no one else
     * can write: not from under /var/tmp) */
    char pdir[PATH_MAX + 32], cpath[PATH_MAX + 32], path[PATH_MAX + 32], err[1024];
    char cmd[8 * PATH_MAX], absb[PATH_MAX];
    if (!realpath(build, absb))
        die("%s: %s", build, strerror(errno));
    snprintf(pdir, sizeof pdir, "%s/bench/plugins-stall", absb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s'/plugins/*.so"
             " '%s'/tests/plugins/slow.so '%s'/ && chmod 755 '%s' '%s'/*.so", pdir, pdir, build,
             build, pdir, pdir, pdir);
    if (system(cmd) != 0) {
        printf("\nstall: skipped (%s/tests/plugins/slow.so missing: make it)\n", build);
        return;
    }
    snprintf(path, sizeof path, "%s/stall.db", dir);
    snprintf(cpath, sizeof cpath, "%s/stall.json", dir);
    prefill_dept(path, 10000, 10000, 100000);
    write_config(cpath, pdir, path, policy,
                 "{\"name\": \"slow-lookup\", \"plugin\": \"slow\", \"action\": \"reject\"}");
    struct cg_config *cfg = cg_config_load(cpath, 0, err, sizeof err);
    if (!cfg)
        die("%s", err);
    long ops = pace * 10;
    printf("\na plugin that blocks (CG_PLUGIN_NO_HISTORY, 2 s for one customer, started once a"
           " second):\nthe other messages, 1 thread at %ld ops/s offered for %ld ops, medians of"
           " %d rounds\n", pace, ops, rounds);
    printf("%-26s %10s %10s %10s\n", "", "p50", "p99", "max");
    /* the rounds alternate, no stall then stalls, so that the machine's
     * drift over the run falls on both alike */
    struct result base = {0}, with = {0}, rk[2][MAX_ROUNDS];
    int started = 0;
    for (int k = 0; k < rounds; k++)
        for (int stalled = 0; stalled <= 1; stalled++) {
            struct bench b = {.cfg = cfg, .customers = 100000, .only_marketing = 1};
            warm(path);
            b.dc = cg_decider_start(path, bench_store_flags(), err, sizeof err);
            if (!b.dc)
                die("%s", err);
            struct staller s = {.b = &b};
            atomic_init(&s.stop, 0);
            pthread_t st;
            if (stalled && pthread_create(&st, NULL, staller_main, &s) != 0)
                die("pthread_create failed");
            run_fixed(&b, 1, pace / 10, ops, 31 + (uint64_t)k, 1000000000ull / (uint64_t)pace,
                      &rk[stalled][k]);
            if (stalled) {
                atomic_store(&s.stop, 1);
                pthread_join(st, NULL);
                started += s.started;
            }
            cg_decider_stop(&b.dc);
        }
    median_of(rk[0], rounds, &base);
    median_of(rk[1], rounds, &with);
    char label[64];
    snprintf(label, sizeof label, "with %d stalls", started);
    printf("%-26s %7.0f us %7.0f us %7.0f us\n", "no stall", base.p50, base.p99, base.max);
    printf("%-26s %7.0f us %7.0f us %7.0f us\n", label, with.p50, with.p99, with.max);
    printf("  rounds' p99, no stall / stalls:");
    for (int k = 0; k < rounds; k++)
        printf(" %.0f/%.0f", rk[0][k].p99, rk[1][k].p99);
    printf(" us\n");
    printf("  p99 with the stalls / without: %.2fx (target: unchanged within noise)\n",
           base.p99 > 0 ? with.p99 / base.p99 : 0);
    cg_config_unref(&cfg);
    remove_db(path);
    unlink(cpath);
    fflush(stdout);
}

/* print_rounds - the rounds' single-thread p99 and threaded ops/s */
static void print_rounds(const struct result *r1k, const struct result *rnk, int rounds, int nt)
{
    printf("  rounds: 1 thread p99");
    for (int k = 0; k < rounds; k++)
        printf(" %.0f", r1k[k].p99);
    printf(" us; %d threads ops/s", nt);
    for (int k = 0; k < rounds; k++)
        printf(" %.0f", rnk[k].ops_per_s);
}

/* run_open_loop - BENCH_PG_PACES: at each offered rate, nt threads (the
 * SMTP sessions) each start an op at Poisson arrivals of rate/nt a second,
 * whether the one before was quick or not (an op that starts late counts
 * from its arrival), for BENCH_PACE_SECS; the latency of each decision
 * (a decider call: the RCPT check or the end of message) and of each op */
static void run_open_loop(const char *db, struct bench *b, int nt, int rounds)
{
    const char *list = getenv("BENCH_PG_PACES") ? getenv("BENCH_PG_PACES") : "200,500,1000";
    long secs = env_long("BENCH_PACE_SECS", 10);
    if (!*list || !strcmp(list, "0"))
        return;
    printf("\nopen loop: %d threads, Poisson arrivals at the offered rate, %ld s a round, %d"
           " rounds, medians (us)\n", nt, secs, rounds);
    printf("%8s %8s %26s %26s %26s %20s\n", "offered", "ops/s", "decision p50/p99/max",
           "RCPT p50/p99/max", "end of msg p50/p99/max", "op p50/p99/max");
    char *tmp = cg_xstrdup(list), err[1024];
    for (char *save, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long rate = parse_count(tok);
        if (rate < 1)
            die("BENCH_PG_PACES: \"%s\" is not a rate", tok);
        struct result rk[MAX_ROUNDS], r;
        for (int k = 0; k < rounds; k++) {
            b->dc = cg_decider_start(db, 0, err, sizeof err);
            if (!b->dc)
                die("%s", err);
            b->poisson = 1;
            run_fixed(b, nt, rate, rate * secs, 300 + (uint64_t)k,
                      (uint64_t)(1e9 * nt / (double)rate), &rk[k]);
            b->poisson = 0;
            cg_decider_stop(&b->dc);
        }
        median_of(rk, rounds, &r);
        char d[40], rc[40], e[40], o[40];
        snprintf(d, sizeof d, "%.0f/%.0f/%.0f", r.dec_p50, r.dec_p99, r.dec_max);
        snprintf(rc, sizeof rc, "%.0f/%.0f/%.0f", r.rcpt_p50, r.rcpt_p99, r.rcpt_max);
        snprintf(e, sizeof e, "%.0f/%.0f/%.0f", r.eom_p50, r.eom_p99, r.eom_max);
        snprintf(o, sizeof o, "%.0f/%.0f/%.0f", r.p50, r.p99, r.max);
        printf("%8ld %8.0f %26s %26s %26s %20s%s\n", rate, r.ops_per_s, d, rc, e, o,
               r.ct.errors ? "  ERRORS" : "");
        printf("         (rounds: decision p99");
        for (int k = 0; k < rounds; k++)
            printf(" %.0f", rk[k].dec_p99);
        printf(" us)\n");
        fflush(stdout);
    }
    free(tmp);
}

/* run_database - BENCH_DATABASE: the same rounds against a database
 * filled by the caller (bench/engine_pg.sh fills PostgreSQL with the
 * layout of prefill()), BENCH_CUSTOMERS customers; nothing is cleaned up
 * between rounds (the history grows by the ops run) */
static void run_database(const char *db, const struct cg_config *cfg, long ops1, long opsn,
                         int nt, int rounds)
{
    long customers = env_long("BENCH_CUSTOMERS", 10000);
    long rows = env_long("BENCH_ROWS", customers * 10);
    struct result r1k[MAX_ROUNDS], rnk[MAX_ROUNDS], r1, rn;
    struct bench b = {.cfg = cfg, .customers = customers};
    char err[1024], label[32];
    /* the open loop first: on the history as filled (the closed loop's
     * hundreds of thousands of ops push many customers over their caps) */
    run_open_loop(db, &b, nt, rounds);
    if (ops1 <= 0)
        return; /* BENCH_OPS=0: the open loop only */
    printf("\nclosed loop: each thread starts its next op when its last is done\n");
    print_header();
    for (int k = 0; k < rounds; k++)
        for (int kind = 0; kind < 2; kind++) {
            b.dc = cg_decider_start(db, 0, err, sizeof err);
            if (!b.dc)
                die("%s", err);
            if (kind == 0)
                run_fixed(&b, 1, ops1 / 10, ops1, 1 + (uint64_t)k, 0, &r1k[k]);
            else
                run_fixed(&b, nt, opsn / 10, opsn, 100 + (uint64_t)k, 0, &rnk[k]);
            cg_decider_stop(&b.dc);
        }
    median_of(r1k, rounds, &r1);
    median_of(rnk, rounds, &rn);
    fmt_count(rows, label, sizeof label);
    print_row(label, customers, 1, &r1);
    print_row(label, customers, nt, &rn);
    print_rounds(r1k, rnk, rounds, nt);
    printf(", p99");
    for (int k = 0; k < rounds; k++)
        printf(" %.0f", rnk[k].p99);
    printf(" us\n");
    /* each decision (decider call) apart: the RCPT check, the end of message */
    printf("  per decision, p50/p99: 1 thread RCPT %.0f/%.0f us, end of message %.0f/%.0f us;"
           " %d threads RCPT %.0f/%.0f us, end of message %.0f/%.0f us\n", r1.rcpt_p50,
           r1.rcpt_p99, r1.eom_p50, r1.eom_p99, nt, rn.rcpt_p50, rn.rcpt_p99, rn.eom_p50,
           rn.eom_p99);
}

int main(int argc, char **argv)
{
    cg_log_open("engine_bench", 0, 1, LOG_ERR);
    const char *build = argc > 1 ? argv[1] : "build";
    char plugdir[PATH_MAX + 16];
    if (!getenv("CONTACTGATE_PLUGIN_DIR")) {
        snprintf(plugdir, sizeof plugdir, "%s/plugins", build);
        setenv("CONTACTGATE_PLUGIN_DIR", plugdir, 1);
    }
    const char *dir = getenv("BENCH_DIR") && *getenv("BENCH_DIR") ? getenv("BENCH_DIR")
                                                                  : "/var/tmp/contactgate-bench";
    const char *policy = getenv("BENCH_POLICY") && *getenv("BENCH_POLICY")
                             ? getenv("BENCH_POLICY") : "policies/retail-bank.json";
    const char *sizes_s = getenv("BENCH_SIZES") && *getenv("BENCH_SIZES") ? getenv("BENCH_SIZES")
                                                                         : "100k,1M,10M";
    long ops1 = getenv("BENCH_OPS") && !strcmp(getenv("BENCH_OPS"), "0")
                    ? 0 : env_long("BENCH_OPS", 20000), opsn = 5 * ops1;
    int nt = (int)env_long("BENCH_THREADS", 20);
    int do_prune = !getenv("BENCH_PRUNE") || strcmp(getenv("BENCH_PRUNE"), "0") != 0;
    int prune_batch = (int)env_long("BENCH_PRUNE_BATCH", 1000); /* contactgatectl's default */
    int rounds = (int)env_long("BENCH_ROUNDS", 3);
    if (rounds > MAX_ROUNDS)
        die("BENCH_ROUNDS: at most %d", MAX_ROUNDS);
    long pace = getenv("BENCH_PACE") && strcmp(getenv("BENCH_PACE"), "0") == 0
                    ? 0 : env_long("BENCH_PACE", 2000);
    long pace_ops = env_long("BENCH_PACE_OPS", 10000);

    long sizes[MAX_SIZES];
    int n_sizes = 0;
    char *tmp = cg_xstrdup(sizes_s);
    for (char *save, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v = parse_count(tok);
        if (v < 10 || n_sizes == MAX_SIZES)
            die("BENCH_SIZES: \"%s\" (at most %d sizes of at least 10 rows)", tok, MAX_SIZES);
        sizes[n_sizes++] = v;
    }
    free(tmp);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die("%s: %s", dir, strerror(errno));

    char err[1024];
    struct cg_config *cfg = cg_config_load(policy, 0, err, sizeof err);
    if (!cfg)
        die("%s", err);

    const char *external = getenv("BENCH_DATABASE");
    if (external && *external) {
        char *shown = cg_database_masked(external);
        printf("contactgate engine micro-benchmark (no MTA) on %s\n", shown);
        free(shown);
        printf("policy:  %s (%zu policies); one op = cg_decider_rcpt, then cg_decider_eom unless\n"
               "         refused at RCPT, each acknowledged after the decider's COMMIT\n",
               policy, cfg->n_policies);
        printf("ops:     %ld measured single-thread, %ld with %d threads, after a warm-up; %d"
               " rounds, medians shown\n", ops1, opsn, nt, rounds);
        double f50, f99;
        fsync_probe(dir, &f50, &f99);
        printf("fsync:   4 KiB append + fdatasync in %s: p50 %.0f us, p99 %.0f us (a COMMIT"
               " waits for one)\n", dir, f50, f99);
        run_database(external, cfg, ops1, opsn, nt, rounds);
        cg_config_unref(&cfg);
        return 0;
    }
    if (!ops1)
        die("BENCH_OPS=0 is for BENCH_DATABASE runs (the open loop alone)");
    printf("contactgate engine micro-benchmark (no MTA)\n");
    describe_machine(dir);
    double f50, f99;
    fsync_probe(dir, &f50, &f99);
    printf("fsync:   4 KiB append + fdatasync on this disk: p50 %.0f us, p99 %.0f us\n", f50, f99);
    printf("policy:  %s (%zu policies); one op = cg_decider_rcpt, then cg_decider_eom unless\n"
           "         refused at RCPT, each acknowledged after the decider's COMMIT\n",
           policy, cfg->n_policies);
    printf("ops:     %ld measured single-thread, %ld with %d threads, after a warm-up; %d rounds,"
           " medians shown\n", ops1, opsn, nt, rounds);
    printf("cpu/op:  the process's CPU time per op; cores: CPU seconds per second of the run\n\n");
    print_header();

    struct result r1[MAX_SIZES], rn[MAX_SIZES], r1k[MAX_ROUNDS], rnk[MAX_ROUNDS], rpk[MAX_ROUNDS];
    struct result rpace = {0};
    struct breakdown bd[MAX_SIZES];
    double fill_secs[MAX_SIZES], resident_min[MAX_SIZES];
    int filled[MAX_SIZES];
    int big = 0, small = 0;
    for (int i = 1; i < n_sizes; i++) {
        if (sizes[i] > sizes[big])
            big = i;
        if (sizes[i] < sizes[small])
            small = i;
    }
    for (int i = 0; i < n_sizes; i++) {
        long n = sizes[i], customers = n / 10 > 0 ? n / 10 : 1;
        char path[PATH_MAX], rows[32];
        fmt_count(n, rows, sizeof rows);
        snprintf(path, sizeof path, "%s/prefill-%s.db", dir, rows);
        uint64_t t0 = now_ns();
        filled[i] = 0;
        if (!cache_valid(path, n)) {
            fprintf(stderr, "engine_bench: pre-filling %s with %ld contacts ...\n", path, n);
            prefill(path, n);
            filled[i] = 1;
        }
        fill_secs[i] = (double)(now_ns() - t0) / 1e9;

        /* rounds: 1 thread, nt threads (and the paced run at the largest
         * size), each on a fresh decider over the same pre-filled file */
        resident_min[i] = 1;
        struct bench b = {.cfg = cfg, .customers = customers};
        for (int k = 0; k < rounds; k++) {
            for (int kind = 0; kind < 3; kind++) {
                if (kind == 2 && (i != big || !pace))
                    continue;
                double res = warm(path);
                if (res < resident_min[i])
                    resident_min[i] = res;
                b.dc = cg_decider_start(path, bench_store_flags(), err, sizeof err);
                if (!b.dc)
                    die("%s", err);
                if (kind == 0)
                    run_fixed(&b, 1, ops1 / 10, ops1, 1 + (uint64_t)i, 0, &r1k[k]);
                else if (kind == 1)
                    run_fixed(&b, nt, opsn / 10, opsn, 100 + (uint64_t)i, 0, &rnk[k]);
                else
                    run_fixed(&b, 1, pace / 10, pace_ops, 7 + (uint64_t)i,
                              1000000000ull / (uint64_t)pace, &rpk[k]);
                cg_decider_stop(&b.dc);
                cleanup(path, n);
            }
        }
        median_of(r1k, rounds, &r1[i]);
        median_of(rnk, rounds, &rn[i]);
        print_row(rows, customers, 1, &r1[i]);
        print_row(rows, customers, nt, &rn[i]);
        if (i == big) {
            print_rounds(r1k, rnk, rounds, nt);
            printf("\n");
            if (pace) {
                median_of(rpk, rounds, &rpace);
                printf("  paced: 1 thread at %ld ops/s offered (a busy server), p50 %.0f us, p99 %.0f"
                       " us, max %.0f us (rounds: p99", pace, rpace.p50, rpace.p99, rpace.max);
                for (int k = 0; k < rounds; k++)
                    printf(" %.0f", rpk[k].p99);
                printf(")\n");
            }
            fflush(stdout);
        }

        run_breakdown(path, cfg, customers, ops1 / 4 > 0 ? ops1 / 4 : 1, &bd[i]);
        cleanup(path, n);
    }

    printf("\nwhere the time goes, 1 thread: the decider's two calls (medians of the rounds), and"
           " the engine\ncalled directly in BEGIN IMMEDIATE/COMMIT without the decider:\n");
    printf("%-6s %16s %16s %16s %16s %10s %10s\n", "rows", "RCPT p50/p99", "EOM p50/p99",
           "engine p50/p99", "COMMIT p50/p99", "resident", "pre-fill");
    for (int i = 0; i < n_sizes; i++) {
        char rows[32], a[32], c[32], e[32], f[32];
        snprintf(e, sizeof e, "%.0f/%.0f us", r1[i].rcpt_p50, r1[i].rcpt_p99);
        snprintf(f, sizeof f, "%.0f/%.0f us", r1[i].eom_p50, r1[i].eom_p99);
        snprintf(a, sizeof a, "%.0f/%.0f us", bd[i].eng_p50, bd[i].eng_p99);
        snprintf(c, sizeof c, "%.0f/%.0f us", bd[i].commit_p50, bd[i].commit_p99);
        printf("%-6s %16s %16s %16s %16s %9.0f%% %6.1f s%s\n", fmt_count(sizes[i], rows, sizeof rows),
               e, f, a, c, 100 * resident_min[i], fill_secs[i], filled[i] ? " (built)" : " (cached)");
    }
    printf("(resident: the least share of the database in the page cache before a run; each run"
           " reads it in first)\n");
    fflush(stdout);

    /* retention: prune a copy of the largest file while nt threads decide */
    struct result rp = {0};
    struct cg_prune_counts pc = {0};
    double prune_secs = 0;
    int prune_ok = 0;
    if (do_prune) {
        char src[PATH_MAX], work[PATH_MAX], rows[32];
        snprintf(src, sizeof src, "%s/prefill-%s.db", dir, fmt_count(sizes[big], rows, sizeof rows));
        snprintf(work, sizeof work, "%s/prune-work.db", dir);
        remove_db(work);
        copy_file(src, work);
        struct bench b = {.cfg = cfg, .customers = sizes[big] / 10 > 0 ? sizes[big] / 10 : 1};
        b.dc = cg_decider_start(work, bench_store_flags(), err, sizeof err);
        if (!b.dc)
            die("%s", err);
        cg_store *pst = cg_store_open(work, 0, err, sizeof err);
        if (!pst)
            die("%s", err);
        struct worker *ws = workers_new(&b, nt, opsn / 10, -1, 999);
        for (int i = 0; i < nt; i++)
            if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
                die("pthread_create failed");
        sleep(2); /* warm-up: every thread is deciding */
        atomic_store(&b.recording, 1);
        uint64_t t0 = now_ns();
        double c0 = cpu_secs();
        prune_ok = cg_admin_prune(pst, (int64_t)time(NULL) - 30 * DAY, prune_batch, 0, &pc) == 0;
        uint64_t t1 = now_ns();
        double c1 = cpu_secs();
        atomic_store(&b.recording, 0);
        atomic_store(&b.stop, 1);
        for (int i = 0; i < nt; i++)
            pthread_join(ws[i].th, NULL);
        if (!prune_ok)
            fprintf(stderr, "engine_bench: prune failed: %s\n", cg_store_errmsg(pst));
        cg_store_free(&pst);
        cg_decider_stop(&b.dc);
        prune_secs = (double)(t1 - t0) / 1e9;
        merge(ws, nt, &rp, prune_secs);
        rp.cpu_us = rp.ops ? (c1 - c0) * 1e6 / (double)rp.ops : 0; /* the prune's CPU included */
        rp.cores = prune_secs > 0 ? (c1 - c0) / prune_secs : 0;
        free(ws);
        remove_db(work);
        printf("\nretention at %s rows (a copy): prune of contacts older than 30 days, batches of"
               " %d, on a second connection, while %d threads decide\n", rows, prune_batch, nt);
        printf("  prune: %s, %lld contacts + %lld decisions in %lld transactions, %.1f s\n",
               prune_ok ? "done" : "FAILED", (long long)pc.contacts, (long long)pc.decisions,
               (long long)pc.batches, prune_secs);
        print_header();
        print_row(rows, b.customers, nt, &rp);
    }

    /* department volume: the cost of a decision with a department budget
     * when the department sent 10k, 100k, 1M messages in the last day */
    const char *dept_s = getenv("BENCH_DEPT") ? getenv("BENCH_DEPT") : "10k,100k,1M";
    if (*dept_s && strcmp(dept_s, "0") != 0)
        run_dept_volumes(dir, build, dept_s, ops1, rounds);
    /* a plugin that stalls 2 s once a second: the others' latency */
    if (!getenv("BENCH_STALL") || strcmp(getenv("BENCH_STALL"), "0") != 0)
        run_stall(dir, build, policy, pace ? pace : 1000, rounds);

    /* targets (figures, not a test) */
    char bs[32], ss[32];
    fmt_count(sizes[big], bs, sizeof bs);
    fmt_count(sizes[small], ss, sizeof ss);
    printf("\ntargets (issue 5), at %s rows, medians of %d rounds:\n", bs, rounds);
    printf("  p99 check-and-record < 200 us     1 thread %8.0f us  %s   %d threads %8.0f us  %s\n",
           r1[big].p99, pf(r1[big].p99, 200, 1), nt, rn[big].p99, pf(rn[big].p99, 200, 1));
    printf("  >= 20,000 durable ops/s, %d thr   %8.0f ops/s  %s\n", nt, rn[big].ops_per_s,
           pf(rn[big].ops_per_s, 20000, 0));
    double growth = r1[small].p50 > 0 ? r1[big].p50 / r1[small].p50 : 0;
    double growth_eng = bd[small].eng_p50 > 0 ? bd[big].eng_p50 / bd[small].eng_p50 : 0;
    printf("  growth p50(%s)/p50(%s) <= 2x    1 thread %5.2fx  %s   (engine only %.2fx)\n", bs, ss,
           growth, pf(growth, 2.0 + 1e-9, 1), growth_eng);
    if (do_prune)
        printf("  during prune (not a target)       %d threads p99 %.0f us, %.0f ops/s, max %.0f us\n",
               nt, rp.p99, rp.ops_per_s, rp.max);
    cg_config_unref(&cfg);
    return 0;
}
