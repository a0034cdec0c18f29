/*
 * cg_metrics.h - what the serving process counts about itself: decisions
 * by verdict, policy and department, errors and tempfails by cause,
 * decision latency, batch size, store commit latency, the decider's queue
 * depth, the configuration and its reloads, the store's state. Read by the
 * Prometheus textfile writer (cg_metrics_prom.c) and the control socket
 * (cg_control.c).
 *
 * The hot path costs a few relaxed atomic additions per decision, no lock:
 * counters are C11 atomics in static arrays. Policy and department labels
 * come from the configuration: each name gets a slot the first time a
 * configuration names it (at start and every reload) and keeps it for the
 * life of the process, so a counter never goes back and a series never
 * vanishes while the process runs (Prometheus would read a reset). A
 * reload that removes a policy leaves its series as they are: they stop
 * growing and are gone after the next restart. At most CG_METRICS_NAMES
 * names of each kind; a name past that, or one no configuration named,
 * counts as "unknown" (mail of no department is department "unknown"
 * anyway); a decision without a deciding policy (accept) has policy
 * "none". So a metric has at most (CG_METRICS_NAMES + 2) values per label.
 *
 * One registry per process; cg_metrics_init() starts it afresh.
 */
#ifndef CG_METRICS_H
#define CG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cg_config.h"
#include "cg_engine.h"
#include "cg_msg.h"

/* what contactgate calls itself in build_info and the status answer */
#ifndef CG_VERSION
#define CG_VERSION "3.0"
#endif

/* names of policies (and of departments) a process can label separately */
#define CG_METRICS_NAMES 64

/* the verdict label of a decision: the decision log's words */
enum cg_metrics_verdict {
    CG_MV_ACCEPT,
    CG_MV_TAG,
    CG_MV_HOLD,
    CG_MV_DEFER,
    CG_MV_REJECT,
    CG_MV_TEMPFAIL, /* an internal error given on_error=tempfail */
    CG_MV_N
};

/* why contactgate could not decide */
enum cg_metrics_cause {
    CG_MC_STORE,    /* the contact history was unavailable (begin, commit,
                       a statement, the database file gone) */
    CG_MC_PLUGIN,   /* a policy's plugin could not decide */
    CG_MC_STOPPING, /* the daemon was stopping */
    CG_MC_HOLD,     /* the MTA refused to quarantine a held message */
    CG_MC_N
};

/* the store as the decider last saw it */
enum cg_metrics_store_state {
    CG_MS_OK,           /* the last batch committed */
    CG_MS_RECONNECTING, /* failing for less than CG_METRICS_DOWN_SECS: the
                           decider retries (reopens a database that went away) */
    CG_MS_DOWN,         /* failing for CG_METRICS_DOWN_SECS or longer */
};
#define CG_METRICS_DOWN_SECS 60

/* cg_metrics_init - a fresh registry (process start, tests): every count
 * zero, no names, the start time now */
void cg_metrics_init(void);
/* cg_metrics_config - the configuration now in use (start, each reload):
 * its version, and slots for its policies' and departments' names */
void cg_metrics_config(const struct cg_config *cfg);

/* --- the decider's hooks (cheap: atomics only) --------------------------- */
/* cg_metrics_decided - a decision at RCPT (rcpt = 1: counted when it
 * settled a verdict; every check's latency) or end of message, secs after
 * it was asked for; plugin_error: d is the on_error answer to a plugin's
 * failure, or a policy that could not decide was skipped under
 * on_error=accept (a store failure is counted by cg_metrics_error) */
void cg_metrics_decided(const struct cg_msg *m, const struct cg_decision *d, int rcpt, double secs,
                        int plugin_error);
/* cg_metrics_error - an internal error of `cause`; tempfail: the MTA was
 * told 4xx because of it */
void cg_metrics_error(enum cg_metrics_cause cause, int tempfail);
/* cg_metrics_batch - a batch of n jobs was committed, its commit took
 * commit_secs */
void cg_metrics_batch(size_t n, double commit_secs);
/* cg_metrics_store - the store works (ok: a batch committed, a database
 * that went away was reopened) or failed (why) */
void cg_metrics_store(int ok, const char *why);
/* cg_metrics_queue - jobs queued (+) or taken by a batch (-) */
void cg_metrics_queue(long delta);

/* --- the configuration -------------------------------------------------- */
/* cg_metrics_reload - a reload's result: ok, or why it failed */
void cg_metrics_reload(int ok, const char *why);

/* --- reading ------------------------------------------------------------ */
/* One histogram as read. */
struct cg_metrics_hist {
    const double *le;         /* upper bounds, ascending; +Inf is implied */
    size_t n_le;
    uint64_t counts[20];      /* per bucket, not cumulative; [n_le]: above the last */
    uint64_t count;
    double sum;
};
enum { CG_MH_DECISION_RCPT, CG_MH_DECISION_EOM, CG_MH_BATCH, CG_MH_COMMIT, CG_MH_N };

/* Everything, read at one moment (each value on its own: no lock holds
 * the hot path back while it is read). */
struct cg_metrics_snap {
    int64_t now;
    int64_t started;
    char config_version[24];
    uint64_t verdicts[CG_MV_N];   /* decisions by verdict, every label */
    uint64_t errors[CG_MC_N];
    uint64_t tempfails[CG_MC_N];
    long queue_depth;
    struct cg_metrics_hist hist[CG_MH_N];
    uint64_t reloads_ok, reloads_failed;
    int64_t last_reload;          /* 0: none since start */
    int last_reload_ok;
    char last_reload_error[256];
    int store_state;              /* enum cg_metrics_store_state */
    int64_t store_failing_since;  /* 0 when ok */
    char store_last_error[256];   /* "" none since start */
    int64_t store_last_error_ts;
};
void cg_metrics_snapshot(struct cg_metrics_snap *s);

/* cg_metrics_each_decision - fn for every non-zero decision counter, with
 * its labels (valid during the call) */
void cg_metrics_each_decision(void (*fn)(const char *verdict, const char *policy,
                                         const char *department, uint64_t n, void *arg),
                              void *arg);
/* the label words */
const char *cg_metrics_verdict_name(int v);
const char *cg_metrics_cause_name(int c);
const char *cg_metrics_store_state_name(int s);

/* --- the Prometheus textfile (cg_metrics_prom.c) -------------------------
 * The text exposition format 0.0.4, for node_exporter's textfile collector
 * (Debian's prometheus-node-exporter reads *.prom files in
 * /var/lib/prometheus/node-exporter). */
/* cg_metrics_prom_escape - s as a label value: \ " and newline escaped */
void cg_metrics_prom_escape(struct cg_buf *b, const char *s);
/* cg_metrics_prom_render - every metric with its HELP and TYPE lines */
void cg_metrics_prom_render(struct cg_buf *b);
/* cg_metrics_prom_write - render into path atomically: a temporary file
 * in the same directory (.NAME.XXXXXX, which the collector skips), mode
 * 0644, renamed over path. 0, or -1 with the reason in err. */
int cg_metrics_prom_write(const char *path, char *err, size_t errlen);
/* The writer: a thread that writes the file every interval while a path
 * is set (cg_metrics_prom_config, at start and every reload: a new path
 * or interval applies at once; NULL: none, and the file it wrote is
 * removed); a stop removes its file too, so that a stopped daemon's
 * metrics go absent instead of standing still. */
void cg_metrics_prom_config(const char *path, int64_t interval_secs);
int cg_metrics_prom_start(char *err, size_t errlen);
void cg_metrics_prom_stop(void);

#endif
