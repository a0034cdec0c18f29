/*
 * cg_metrics_prom.c - the metrics (cg_metrics.c) as a Prometheus textfile
 * for node_exporter's textfile collector: the text exposition format
 * 0.0.4, one "# HELP" and one "# TYPE" line per metric, label values
 * escaped, written atomically (a temporary file in the same directory,
 * renamed over the old one) by a thread of its own every metrics_interval.
 *
 * Why a textfile and no endpoint: it is what Debian admins already run
 * (prometheus-node-exporter, textfile directory
 * /var/lib/prometheus/node-exporter), and a file opens no socket, so there
 * is nothing new to secure or to keep off the network; node_exporter also
 * exports the file's modification time (node_textfile_mtime_seconds), which
 * tells a writer that stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_metrics.h"
#include "cg_util.h"

/* --- the text format ------------------------------------------------------ */

/* e - see cg_metrics.h */
void cg_metrics_prom_escape(struct cg_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\')
            cg_buf_add(b, "\\\\");
        else if (*p == '"')
            cg_buf_add(b, "\\\"");
        else if (*p == '\n')
            cg_buf_add(b, "\\n");
        else
            cg_buf_addn(b, p, 1);
    }
}

/* head - a metric's HELP and TYPE lines (the help texts are ours: no
 * backslash or newline to escape) */
static void head(struct cg_buf *b, const char *name, const char *type, const char *help)
{
    cg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label - `name="value"` escaped, after a comma unless first */
static void label(struct cg_buf *b, int first, const char *name, const char *value)
{
    cg_buf_printf(b, "%s%s=\"", first ? "" : ",", name);
    cg_metrics_prom_escape(b, value);
    cg_buf_add(b, "\"");
}

/* number - a sample value: integers as such, else enough digits */
static void number(struct cg_buf *b, double v)
{
    if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
        cg_buf_printf(b, "%lld", (long long)v);
    else
        cg_buf_printf(b, "%.9g", v);
}

/* sample - `name{k="v"} value`; key NULL: no labels */
static void sample(struct cg_buf *b, const char *name, const char *key, const char *val, double v)
{
    cg_buf_add(b, name);
    if (key) {
        cg_buf_add(b, "{");
        label(b, 1, key, val);
        cg_buf_add(b, "}");
    }
    cg_buf_add(b, " ");
    number(b, v);
    cg_buf_add(b, "\n");
}

/* histogram - the _bucket (cumulative, then +Inf), _sum and _count lines
 * of one histogram, with one label (key NULL: none) */
static void histogram(struct cg_buf *b, const char *name, const char *key, const char *val,
                      const struct cg_metrics_hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->n_le; i++) {
        cum += h->counts[i];
        cg_buf_printf(b, "%s_bucket{", name);
        if (key) {
            label(b, 1, key, val);
            cg_buf_add(b, ",");
        }
        if (i < h->n_le) {
            cg_buf_add(b, "le=\"");
            number(b, h->le[i]);
            cg_buf_add(b, "\"} ");
        } else {
            cg_buf_add(b, "le=\"+Inf\"} ");
        }
        number(b, (double)cum);
        cg_buf_add(b, "\n");
    }
    char n[128];
    snprintf(n, sizeof n, "%s_sum", name);
    sample(b, n, key, val, h->sum);
    snprintf(n, sizeof n, "%s_count", name);
    sample(b, n, key, val, (double)h->count);
}

/* decision_line - one contactgate_decisions_total sample */
static void decision_line(const char *verdict, const char *policy, const char *department,
                          uint64_t n, void *arg)
{
    struct cg_buf *b = arg;
    cg_buf_add(b, "contactgate_decisions_total{");
    label(b, 1, "verdict", verdict);
    label(b, 0, "policy", policy);
    label(b, 0, "department", department);
    cg_buf_add(b, "} ");
    number(b, (double)n);
    cg_buf_add(b, "\n");
}

/* r - see cg_metrics.h */
void cg_metrics_prom_render(struct cg_buf *b)
{
    struct cg_metrics_snap s;
    cg_metrics_snapshot(&s);

    head(b, "contactgate_build_info", "gauge", "The contactgate version that writes these metrics.");
    sample(b, "contactgate_build_info", "version", CG_VERSION, 1);
    head(b, "contactgate_start_time_seconds", "gauge",
         "When the serving process started, in seconds since the epoch.");
    sample(b, "contactgate_start_time_seconds", NULL, NULL, (double)s.started);
    head(b, "contactgate_config_info", "gauge", "The version of the configuration in use.");
    sample(b, "contactgate_config_info", "version", s.config_version, 1);

    head(b, "contactgate_decisions_total", "counter",
         "Decisions by verdict, deciding policy (none: accepted) and department: one per "
         "recipient settled at RCPT, one per message at end of message.");
    cg_metrics_each_decision(decision_line, b);
    head(b, "contactgate_errors_total", "counter",
         "Times contactgate could not decide, by cause.");
    for (int c = 0; c < CG_MC_N; c++)
        sample(b, "contactgate_errors_total", "cause", cg_metrics_cause_name(c),
               (double)s.errors[c]);
    head(b, "contactgate_tempfails_total", "counter",
         "Messages the MTA was told to try again because contactgate could not decide, by cause.");
    for (int c = 0; c < CG_MC_N; c++)
        sample(b, "contactgate_tempfails_total", "cause", cg_metrics_cause_name(c),
               (double)s.tempfails[c]);

    head(b, "contactgate_decision_duration_seconds", "histogram",
         "From a decision asked for to its answer (queueing, policies, commit), by stage.");
    histogram(b, "contactgate_decision_duration_seconds", "stage", "rcpt",
              &s.hist[CG_MH_DECISION_RCPT]);
    histogram(b, "contactgate_decision_duration_seconds", "stage", "eom",
              &s.hist[CG_MH_DECISION_EOM]);
    head(b, "contactgate_batch_size", "histogram",
         "Decisions committed together in one store transaction (group commit).");
    histogram(b, "contactgate_batch_size", NULL, NULL, &s.hist[CG_MH_BATCH]);
    head(b, "contactgate_store_commit_duration_seconds", "histogram",
         "How long the store took to commit a batch.");
    histogram(b, "contactgate_store_commit_duration_seconds", NULL, NULL, &s.hist[CG_MH_COMMIT]);
    head(b, "contactgate_decider_queue_depth", "gauge",
         "Decisions waiting for the store's write connection.");
    sample(b, "contactgate_decider_queue_depth", NULL, NULL, (double)s.queue_depth);
    head(b, "contactgate_store_up", "gauge",
         "1 when the store's last batch committed, 0 while it fails.");
    sample(b, "contactgate_store_up", NULL, NULL, s.store_state == CG_MS_OK);

    head(b, "contactgate_reloads_total", "counter", "Configuration reloads, by result.");
    sample(b, "contactgate_reloads_total", "result", "ok", (double)s.reloads_ok);
    sample(b, "contactgate_reloads_total", "result", "failed", (double)s.reloads_failed);
    head(b, "contactgate_last_reload_timestamp_seconds", "gauge",
         "When the configuration was last reloaded (0: not since start).");
    sample(b, "contactgate_last_reload_timestamp_seconds", NULL, NULL, (double)s.last_reload);
    head(b, "contactgate_last_reload_success", "gauge",
         "1 when the last reload succeeded or there was none, 0 when it failed.");
    sample(b, "contactgate_last_reload_success", NULL, NULL, !s.last_reload || s.last_reload_ok);
}

/* --- the file ------------------------------------------------------------- */

/* e - see cg_metrics.h */
int cg_metrics_prom_write(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cg_xstrndup(path, (size_t)(slash - path) + 1) : cg_xstrdup("");
    char *tmp = cg_xasprintf("%s.%s.XXXXXX", dir, slash ? slash + 1 : path);
    free(dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cg_errf(err, errlen, "metrics_file %s: cannot create a file next to it: %s", path,
                strerror(errno));
        free(tmp);
        return -1;
    }
    struct cg_buf b = {0};
    cg_metrics_prom_render(&b);
    const char *why = NULL;
    for (size_t off = 0; off < b.len && !why;) {
        ssize_t n = write(fd, b.s + off, b.len - off);
        if (n < 0 && errno != EINTR)
            why = strerror(errno);
        else if (n > 0)
            off += (size_t)n;
    }
    cg_buf_free(&b);
    if (!why && fchmod(fd, 0644) < 0)
        why = strerror(errno);
    if (close(fd) < 0 && !why)
        why = strerror(errno);
    if (!why && rename(tmp, path) < 0)
        why = strerror(errno);
    if (why) {
        cg_errf(err, errlen, "metrics_file %s: %s", path, why);
        unlink(tmp);
    }
    free(tmp);
    return why ? -1 : 0;
}

/* the writer thread's state */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    char *path;               /* what to write, NULL none */
    int64_t interval_secs;
    char *written;            /* the file this process wrote last */
    int stop, running, changed;
    pthread_t thread;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* g - see cg_metrics.h */
void cg_metrics_prom_config(const char *path, int64_t interval_secs)
{
    pthread_mutex_lock(&W.lock);
    if ((path == NULL) != (W.path == NULL) || (path && strcmp(path, W.path)) ||
        interval_secs != W.interval_secs) {
        free(W.path);
        W.path = path ? cg_xstrdup(path) : NULL;
        W.interval_secs = interval_secs > 0 ? interval_secs : 15;
        W.changed = 1;
        pthread_cond_signal(&W.cv);
    }
    pthread_mutex_unlock(&W.lock);
}

/* forget_written - remove the file written last (a new path, no path, a
 * stop); lock held */
static void forget_written(const char *keep)
{
    if (W.written && (!keep || strcmp(keep, W.written))) {
        if (unlink(W.written) < 0 && errno != ENOENT)
            cg_log(LOG_WARNING, "metrics_file %s: cannot remove it: %s", W.written,
                   strerror(errno));
        free(W.written);
        W.written = NULL;
    }
}

/* writer - write the file, then every interval (at once after a change) */
static void *writer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "cg-metrics");
    pthread_mutex_lock(&W.lock);
    while (!W.stop) {
        forget_written(W.path);
        W.changed = 0;
        char *path = cg_xstrdup(W.path);
        int64_t interval = W.path ? W.interval_secs : 3600;
        pthread_mutex_unlock(&W.lock);
        if (path) {
            char err[512];
            if (cg_metrics_prom_write(path, err, sizeof err) < 0)
                cg_log(LOG_WARNING, "%s", err);
        }
        pthread_mutex_lock(&W.lock);
        if (path && !W.written)
            W.written = path;
        else
            free(path);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += interval;
        while (!W.stop && !W.changed)
            if (pthread_cond_timedwait(&W.cv, &W.lock, &ts) == ETIMEDOUT)
                break;
    }
    forget_written(NULL);
    pthread_mutex_unlock(&W.lock);
    return NULL;
}

/* t - see cg_metrics.h */
int cg_metrics_prom_start(char *err, size_t errlen)
{
    pthread_mutex_lock(&W.lock);
    W.stop = 0;
    int rc = pthread_create(&W.thread, NULL, writer, NULL);
    W.running = rc == 0;
    pthread_mutex_unlock(&W.lock);
    if (rc != 0)
        return cg_errf(err, errlen, "cannot start the metrics writer: %s", strerror(rc));
    return 0;
}

/* p - see cg_metrics.h */
void cg_metrics_prom_stop(void)
{
    pthread_mutex_lock(&W.lock);
    int running = W.running;
    W.stop = 1;
    W.running = 0;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.lock);
    if (running)
        pthread_join(W.thread, NULL);
    pthread_mutex_lock(&W.lock);
    free(W.path);
    W.path = NULL;
    pthread_mutex_unlock(&W.lock);
}
