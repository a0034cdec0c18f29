/*
 * cg_metrics.c - the serving process's counters (see cg_metrics.h).
 *
 * Counters, gauges and histogram buckets are C11 atomics updated with
 * relaxed order: each value is exact, a reader may see two values a few
 * decisions apart, which a scrape every few seconds cannot tell. The
 * label slots are appended under a mutex (at start and reload) and
 * published with a release store of their number, so a decision reads
 * them without a lock. The texts (last reload error, last store error)
 * sit behind a mutex that only the rare paths and the readers take.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cg_metrics.h"
#include "cg_util.h"

/* label slots: policies [0] "none", [1] "unknown", then the names;
 * departments [0] "unknown", then the names */
#define POL_NONE 0
#define POL_UNKNOWN 1
#define POL_SLOTS (CG_METRICS_NAMES + 2)
#define DEPT_UNKNOWN 0
#define DEPT_SLOTS (CG_METRICS_NAMES + 1)

struct names {
    char *v[CG_METRICS_NAMES];
    _Atomic size_t n;         /* published after v[n - 1] is written */
};

/* One histogram: its bounds, and per bucket a count. */
struct hist {
    const double *le;
    size_t n_le;
    double scale;             /* the sum is kept as an integer of 1/scale */
    _Atomic uint64_t counts[20];
    _Atomic uint64_t count;
    _Atomic uint64_t sum;
};

static const double le_decision[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
static const double le_batch[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const double le_commit[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                   0.01,    0.025,  0.05,    0.1,    0.25,  1};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(N_OF(le_decision) < 20 && N_OF(le_batch) < 20 && N_OF(le_commit) < 20,
               "a histogram has at most 19 bounds (struct cg_metrics_hist)");

static struct {
    int64_t started;
    struct names policies, departments;
    _Atomic uint64_t decisions[CG_MV_N][POL_SLOTS][DEPT_SLOTS];
    _Atomic uint64_t verdicts[CG_MV_N];
    _Atomic uint64_t errors[CG_MC_N];
    _Atomic uint64_t tempfails[CG_MC_N];
    _Atomic long queue;
    struct hist hist[CG_MH_N];
    _Atomic int store_failing;
    _Atomic int64_t store_failing_since;
    /* behind `lock`: the names being added, and the texts */
    pthread_mutex_t lock;
    char config_version[24];
    uint64_t reloads_ok, reloads_failed;
    int64_t last_reload;
    int last_reload_ok;
    char last_reload_error[256];
    char store_last_error[256];
    int64_t store_last_error_ts;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const verdict_names[CG_MV_N] = {"accept", "tag",    "hold",
                                                   "defer",  "reject", "tempfail"};
static const char *const cause_names[CG_MC_N] = {"store", "plugin", "stopping", "hold"};
static const char *const state_names[] = {"ok", "reconnecting", "down"};

/* cg_metrics_verdict_name - "accept" ... "tempfail" */
const char *cg_metrics_verdict_name(int v)
{
    return v >= 0 && v < CG_MV_N ? verdict_names[v] : "?";
}

/* cg_metrics_cause_name - "store" ... "hold" */
const char *cg_metrics_cause_name(int c)
{
    return c >= 0 && c < CG_MC_N ? cause_names[c] : "?";
}

/* cg_metrics_store_state_name - "ok", "reconnecting", "down" */
const char *cg_metrics_store_state_name(int s)
{
    return s >= CG_MS_OK && s <= CG_MS_DOWN ? state_names[s] : "?";
}

/* hist_set - a histogram's bounds */
static void hist_set(struct hist *h, const double *le, size_t n, double scale)
{
    h->le = le;
    h->n_le = n;
    h->scale = scale;
}

/* names_free - forget every name (init) */
static void names_free(struct names *t)
{
    size_t n = atomic_load(&t->n);
    for (size_t i = 0; i < n; i++) {
        free(t->v[i]);
        t->v[i] = NULL;
    }
    atomic_store(&t->n, 0);
}

/* t - see cg_metrics.h */
void cg_metrics_init(void)
{
    pthread_mutex_lock(&R.lock);
    names_free(&R.policies);
    names_free(&R.departments);
    memset((void *)R.decisions, 0, sizeof R.decisions);
    memset((void *)R.verdicts, 0, sizeof R.verdicts);
    memset((void *)R.errors, 0, sizeof R.errors);
    memset((void *)R.tempfails, 0, sizeof R.tempfails);
    atomic_store(&R.queue, 0);
    memset((void *)R.hist, 0, sizeof R.hist);
    hist_set(&R.hist[CG_MH_DECISION_RCPT], le_decision, N_OF(le_decision), 1e9);
    hist_set(&R.hist[CG_MH_DECISION_EOM], le_decision, N_OF(le_decision), 1e9);
    hist_set(&R.hist[CG_MH_BATCH], le_batch, N_OF(le_batch), 1);
    hist_set(&R.hist[CG_MH_COMMIT], le_commit, N_OF(le_commit), 1e9);
    atomic_store(&R.store_failing, 0);
    atomic_store(&R.store_failing_since, 0);
    R.started = cg_now();
    R.config_version[0] = 0;
    R.reloads_ok = R.reloads_failed = 0;
    R.last_reload = 0;
    R.last_reload_ok = 0;
    R.last_reload_error[0] = 0;
    R.store_last_error[0] = 0;
    R.store_last_error_ts = 0;
    pthread_mutex_unlock(&R.lock);
}

/* slot - the index of name among t's names, or -1 (no lock: the names
 * published so far never change) */
static long slot(struct names *t, const char *name)
{
    size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(t->v[i], name) == 0)
            return (long)i;
    return -1;
}

/* name_add - give name a slot if it has none and one is left (lock held) */
static void name_add(struct names *t, const char *name)
{
    size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    if (slot(t, name) >= 0 || n == CG_METRICS_NAMES)
        return;
    t->v[n] = cg_xstrdup(name);
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
}

/* g - see cg_metrics.h */
void cg_metrics_config(const struct cg_config *cfg)
{
    pthread_mutex_lock(&R.lock);
    cg_strlcpy(R.config_version, cfg->version, sizeof R.config_version);
    /* a policy named like a reserved label counts under that label */
    for (size_t i = 0; i < cfg->n_policies; i++)
        if (strcmp(cfg->policies[i].name, "none") && strcmp(cfg->policies[i].name, "unknown"))
            name_add(&R.policies, cfg->policies[i].name);
    for (size_t i = 0; i < cfg->n_departments; i++)
        name_add(&R.departments, cfg->departments[i].name);
    pthread_mutex_unlock(&R.lock);
}

/* observe - one value into a histogram */
static void observe(struct hist *h, double v)
{
    size_t b = 0;
    while (b < h->n_le && v > h->le[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    uint64_t units = v > 0 ? (uint64_t)(v * h->scale + 0.5) : 0;
    atomic_fetch_add_explicit(&h->sum, units, memory_order_relaxed);
}

/* add - one to a counter */
static void add(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* d - see cg_metrics.h */
void cg_metrics_decided(const struct cg_msg *m, const struct cg_decision *d, int rcpt, double secs,
                        int plugin_error)
{
    observe(&R.hist[rcpt ? CG_MH_DECISION_RCPT : CG_MH_DECISION_EOM], secs);
    if (rcpt && d->verdict < CG_ACT_DEFER)
        return; /* nothing settled at RCPT: decided at end of message */
    int v = d->error && d->verdict == CG_ACT_DEFER ? CG_MV_TEMPFAIL
            : d->verdict == CG_ACT_TAG             ? CG_MV_TAG
            : d->verdict == CG_ACT_HOLD            ? CG_MV_HOLD
            : d->verdict == CG_ACT_DEFER           ? CG_MV_DEFER
            : d->verdict == CG_ACT_REJECT          ? CG_MV_REJECT
                                                   : CG_MV_ACCEPT;
    long p = POL_NONE;
    if (d->policy) {
        long s = slot(&R.policies, d->policy->name);
        p = s >= 0 ? s + 2 : strcmp(d->policy->name, "none") ? POL_UNKNOWN : POL_NONE;
    }
    long ds = slot(&R.departments, m->department);
    long dp = ds < 0 ? DEPT_UNKNOWN : ds + 1;
    add(&R.decisions[v][p][dp]);
    add(&R.verdicts[v]);
    if (plugin_error)
        cg_metrics_error(CG_MC_PLUGIN, v == CG_MV_TEMPFAIL);
}

/* r - see cg_metrics.h */
void cg_metrics_error(enum cg_metrics_cause cause, int tempfail)
{
    if ((int)cause < 0 || cause >= CG_MC_N)
        return;
    add(&R.errors[cause]);
    if (tempfail)
        add(&R.tempfails[cause]);
}

/* h - see cg_metrics.h */
void cg_metrics_batch(size_t n, double commit_secs)
{
    observe(&R.hist[CG_MH_BATCH], (double)n);
    observe(&R.hist[CG_MH_COMMIT], commit_secs);
}

/* e - see cg_metrics.h */
void cg_metrics_store(int ok, const char *why)
{
    if (ok) {
        /* the common case writes nothing */
        if (atomic_load_explicit(&R.store_failing, memory_order_relaxed))
            atomic_store(&R.store_failing, 0);
        return;
    }
    int64_t now = cg_now();
    int expected = 0;
    if (atomic_compare_exchange_strong(&R.store_failing, &expected, 1))
        atomic_store(&R.store_failing_since, now);
    pthread_mutex_lock(&R.lock);
    cg_strlcpy(R.store_last_error, why && *why ? why : "store error", sizeof R.store_last_error);
    R.store_last_error_ts = now;
    pthread_mutex_unlock(&R.lock);
}

/* e - see cg_metrics.h */
void cg_metrics_queue(long delta)
{
    atomic_fetch_add_explicit(&R.queue, delta, memory_order_relaxed);
}

/* d - see cg_metrics.h */
void cg_metrics_reload(int ok, const char *why)
{
    pthread_mutex_lock(&R.lock);
    if (ok)
        R.reloads_ok++;
    else
        R.reloads_failed++;
    R.last_reload = cg_now();
    R.last_reload_ok = ok;
    cg_strlcpy(R.last_reload_error, ok || !why ? "" : why, sizeof R.last_reload_error);
    pthread_mutex_unlock(&R.lock);
}

/* hist_read - a histogram as read now */
static void hist_read(const struct hist *h, struct cg_metrics_hist *o)
{
    o->le = h->le;
    o->n_le = h->n_le;
    for (size_t b = 0; b <= h->n_le; b++)
        o->counts[b] = atomic_load_explicit(&h->counts[b], memory_order_relaxed);
    o->count = atomic_load_explicit(&h->count, memory_order_relaxed);
    o->sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->scale;
}

/* t - see cg_metrics.h */
void cg_metrics_snapshot(struct cg_metrics_snap *s)
{
    memset(s, 0, sizeof *s);
    s->now = cg_now();
    for (int v = 0; v < CG_MV_N; v++)
        s->verdicts[v] = atomic_load_explicit(&R.verdicts[v], memory_order_relaxed);
    for (int c = 0; c < CG_MC_N; c++) {
        s->errors[c] = atomic_load_explicit(&R.errors[c], memory_order_relaxed);
        s->tempfails[c] = atomic_load_explicit(&R.tempfails[c], memory_order_relaxed);
    }
    s->queue_depth = atomic_load_explicit(&R.queue, memory_order_relaxed);
    for (int h = 0; h < CG_MH_N; h++)
        hist_read(&R.hist[h], &s->hist[h]);
    int failing = atomic_load(&R.store_failing);
    s->store_failing_since = failing ? atomic_load(&R.store_failing_since) : 0;
    s->store_state = !failing ? CG_MS_OK
                     : s->now - s->store_failing_since < CG_METRICS_DOWN_SECS ? CG_MS_RECONNECTING
                                                                             : CG_MS_DOWN;
    pthread_mutex_lock(&R.lock);
    s->started = R.started;
    cg_strlcpy(s->config_version, R.config_version, sizeof s->config_version);
    s->reloads_ok = R.reloads_ok;
    s->reloads_failed = R.reloads_failed;
    s->last_reload = R.last_reload;
    s->last_reload_ok = R.last_reload_ok;
    cg_strlcpy(s->last_reload_error, R.last_reload_error, sizeof s->last_reload_error);
    cg_strlcpy(s->store_last_error, R.store_last_error, sizeof s->store_last_error);
    s->store_last_error_ts = R.store_last_error_ts;
    pthread_mutex_unlock(&R.lock);
}

/* n - see cg_metrics.h */
void cg_metrics_each_decision(void (*fn)(const char *verdict, const char *policy,
                                         const char *department, uint64_t n, void *arg),
                              void *arg)
{
    size_t np = atomic_load_explicit(&R.policies.n, memory_order_acquire);
    size_t nd = atomic_load_explicit(&R.departments.n, memory_order_acquire);
    for (int v = 0; v < CG_MV_N; v++)
        for (size_t p = 0; p < np + 2; p++)
            for (size_t d = 0; d < nd + 1; d++) {
                uint64_t n = atomic_load_explicit(&R.decisions[v][p][d], memory_order_relaxed);
                if (!n)
                    continue;
                const char *pol = p == POL_NONE      ? "none"
                                  : p == POL_UNKNOWN ? "unknown"
                                                     : R.policies.v[p - 2];
                const char *dept = d == DEPT_UNKNOWN ? "unknown" : R.departments.v[d - 1];
                fn(verdict_names[v], pol, dept, n, arg);
            }
}
