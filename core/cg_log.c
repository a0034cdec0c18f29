/*
 * cg_log.c - syslog and stderr logging, with the rate limiter for warnings
 * and errors. Contracts in cg_log.h.
 *
 * The limiter: a small open-addressed table of keys (CG_LOG_SLOTS), each
 * with the start of its current interval, the number of lines suppressed
 * in it and the text of the last one. A slot is never emptied once used
 * (so probe chains stay intact); when a new key finds no free slot, the
 * oldest slot that owes no report is given to it (its old key, should it
 * come back, is simply logged again). When every slot owes a report, a
 * line is logged unlimited: the limiter never drops what it cannot count.
 * Everything it does happens under one mutex, taken only for warnings and
 * worse; the lines themselves are written outside it.
 */
#include <paths.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg_log.h"

#define CG_LOG_LINE 2048
#define CG_LOG_SLOTS 64

static int log_syslog;
static _Atomic int log_stderr = LOG_DEBUG; /* most verbose level copied; -1 none */
static int log_min = LOG_INFO;
static const char *log_ident = "contactgate";

struct lim_slot {
    uint64_t key;           /* 0: never used */
    int level;
    int64_t start_ms;       /* start of the current interval; 0: none open */
    uint64_t suppressed;    /* lines not logged in it */
    char last[CG_LOG_LINE]; /* the last of them */
};

static pthread_mutex_t lim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lim_slot lim_slots[CG_LOG_SLOTS];
static _Atomic long lim_interval_ms = 10000;
static _Atomic int lim_pending;          /* slots with suppressed > 0 */
static _Atomic int64_t lim_next_due_ms;  /* earliest end of a pending interval */
static int lim_atexit;

/* cg_level_name - Postfix-style prefix for stderr lines */
static const char *cg_level_name(int level)
{
    switch (level) {
    case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: return "fatal: ";
    case LOG_ERR: return "error: ";
    case LOG_WARNING: return "warning: ";
    case LOG_DEBUG: return "debug: ";
    default: return "";
    }
}

static int64_t mono_ms(void);

/* syslog_there - is there a syslog daemon's socket (_PATH_LOG)? Looked at
 * once every 10 s. Without one, glibc's syslog() makes, connects and
 * closes a socket for every line in vain (three system calls per
 * decision: a container, or the test and bench harnesses) */
static int syslog_there(void)
{
    static _Atomic int64_t next_ms;
    static _Atomic int there = 1;
    int64_t now = mono_ms();
    if (now >= atomic_load(&next_ms)) {
        atomic_store(&next_ms, now + 10000);
        atomic_store(&there, access(_PATH_LOG, W_OK) == 0);
    }
    return atomic_load(&there);
}

/* emit - write one finished line to the destinations: syslog, unless the
 * line goes to stderr and no syslog daemon is there to take it */
static void emit(int level, const char *line)
{
    if (log_syslog && (level > log_stderr || syslog_there()))
        syslog(level, "%s%s", level <= LOG_ERR || level == LOG_WARNING ? cg_level_name(level) : "",
               line);
    if (level <= log_stderr) {
        char ts[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm);
        fprintf(stderr, "%s %s: %s%s\n", ts, log_ident, cg_level_name(level), line);
    }
}

/* mono_ms - a monotonic clock in milliseconds (never 0) */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* line_key - the template's address and the words of the text that hold
 * no digit (FNV-1a); never 0 */
static uint64_t line_key(const char *fmt, const char *line)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)fmt;
    h *= 1099511628211ULL;
    const char *p = line;
    while (*p) {
        const char *w = p;
        while (*p && !strchr(" \t=:;,\"'<>()[]", *p))
            p++;
        int digit = 0;
        for (const char *q = w; q < p; q++)
            if (*q >= '0' && *q <= '9')
                digit = 1;
        if (!digit)
            for (const char *q = w; q < p; q++)
                h = (h ^ (unsigned char)*q) * 1099511628211ULL;
        if (*p) /* the separator itself is part of the shape */
            h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
    }
    return h ? h : 1;
}

/* group_thousands - 2829 -> "2,829" */
static void group_thousands(uint64_t n, char *buf, size_t len)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 2 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
}

/* summary - the report of a slot's suppressed lines; resets the count
 * (lim_lock held) */
static void summary(struct lim_slot *s, int64_t now, char *out, size_t len)
{
    char count[40];
    group_thousands(s->suppressed, count, sizeof count);
    long long secs = (now - s->start_ms + 999) / 1000;
    snprintf(out, len, "%s (repeated %s time%s in the last %lld s)", s->last, count,
             s->suppressed == 1 ? "" : "s", secs > 0 ? secs : 1);
    s->suppressed = 0;
    lim_pending--;
}

/* note_due - remember when the earliest pending report is due */
static void note_due(int64_t due)
{
    int64_t cur = lim_next_due_ms;
    if (cur == 0 || due < cur)
        lim_next_due_ms = due;
}

/* limit - 1: log the line (after *report_r, when set, at *report_level_r);
 * 0: counted instead */
static int limit(int level, const char *fmt, const char *line, char *report, size_t reportlen,
                 int *report_level_r)
{
    long interval = lim_interval_ms;
    if (interval <= 0)
        return 1;
    uint64_t key = line_key(fmt, line);
    int64_t now = mono_ms();
    int logit = 1;
    pthread_mutex_lock(&lim_lock);
    struct lim_slot *slot = NULL, *reuse = NULL;
    for (size_t i = 0; i < CG_LOG_SLOTS && !slot; i++) {
        struct lim_slot *s = &lim_slots[(key + i) % CG_LOG_SLOTS];
        if (s->key == key || s->key == 0)
            slot = s;
        else if (s->suppressed == 0 && (!reuse || s->start_ms < reuse->start_ms))
            reuse = s; /* owes no report: the oldest such is reused */
    }
    if (!slot && reuse) {
        slot = reuse;
        slot->start_ms = 0;
    }
    if (slot && slot->key != key) {
        slot->key = key;
        slot->start_ms = 0;
        slot->suppressed = 0;
    }
    if (!slot) {
        /* every slot busy: log unlimited */
    } else if (slot->start_ms && now - slot->start_ms < interval) {
        if (slot->suppressed++ == 0) {
            lim_pending++;
            note_due(slot->start_ms + interval);
        }
        slot->level = level;
        snprintf(slot->last, sizeof slot->last, "%s", line);
        logit = 0;
    } else {
        if (slot->suppressed) {
            summary(slot, now, report, reportlen);
            *report_level_r = slot->level;
        }
        slot->start_ms = now;
        slot->level = level;
    }
    pthread_mutex_unlock(&lim_lock);
    return logit;
}

/* cg_log_flush - report what is due (everything with force) */
void cg_log_flush(int force)
{
    if (lim_pending == 0)
        return;
    int64_t now = mono_ms();
    if (!force && now < lim_next_due_ms)
        return;
    long interval = lim_interval_ms;
    for (;;) {
        char report[CG_LOG_LINE + 96];
        int level = -1;
        int64_t due = 0;
        pthread_mutex_lock(&lim_lock);
        for (size_t i = 0; i < CG_LOG_SLOTS; i++) {
            struct lim_slot *s = &lim_slots[i];
            if (!s->suppressed)
                continue;
            if (force || now - s->start_ms >= interval) {
                if (level < 0) {
                    level = s->level;
                    summary(s, now, report, sizeof report);
                    s->start_ms = 0; /* the next line of this key is logged */
                    continue;
                }
            }
            if (!due || s->start_ms + interval < due)
                due = s->start_ms + interval;
        }
        lim_next_due_ms = due;
        pthread_mutex_unlock(&lim_lock);
        if (level < 0)
            return;
        emit(level, report);
    }
}

/* flush_at_exit - the counts still pending when the process ends */
static void flush_at_exit(void)
{
    cg_log_flush(1);
}

/* cg_log_open - choose destinations */
void cg_log_open(const char *ident, int to_syslog, int to_stderr, int min_level)
{
    log_ident = ident;
    log_syslog = to_syslog;
    log_stderr = to_stderr ? LOG_DEBUG : -1;
    log_min = min_level;
    if (to_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    if (!lim_atexit) {
        lim_atexit = 1;
        atexit(flush_at_exit);
    }
}

/* cg_log_stderr - which lines stderr gets */
void cg_log_stderr(int max_level)
{
    log_stderr = max_level;
}

/* cg_log_forget - forget what the parent owes (after fork) */
void cg_log_forget(void)
{
    pthread_mutex_lock(&lim_lock);
    for (size_t i = 0; i < CG_LOG_SLOTS; i++)
        lim_slots[i].suppressed = 0;
    lim_pending = 0;
    lim_next_due_ms = 0;
    pthread_mutex_unlock(&lim_lock);
}

/* cg_log_limit_interval - set the limiter's interval */
void cg_log_limit_interval(long ms)
{
    lim_interval_ms = ms;
}

/* vlog - log one line, through the limiter unless bounded */
static void vlog(int level, int bounded, const char *fmt, va_list ap)
{
    if (level > log_min)
        return;
    char line[CG_LOG_LINE];
    vsnprintf(line, sizeof line, fmt, ap);
    if (lim_pending)
        cg_log_flush(0);
    if (level <= LOG_WARNING && !bounded) {
        char report[CG_LOG_LINE + 96];
        int report_level = -1;
        if (!limit(level, fmt, line, report, sizeof report, &report_level))
            return;
        if (report_level >= 0)
            emit(report_level, report);
    }
    emit(level, line);
}

/* cg_vlog - log one line */
void cg_vlog(int level, const char *fmt, va_list ap)
{
    vlog(level, 0, fmt, ap);
}

/* cg_log - log one line */
void cg_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, 0, fmt, ap);
    va_end(ap);
}

/* cg_log_bounded - log one line past the limiter */
void cg_log_bounded(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, 1, fmt, ap);
    va_end(ap);
}

/* cg_fatal - start-up failure: log and exit 1 */
void cg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_vlog(LOG_CRIT, fmt, ap);
    va_end(ap);
    cg_log_flush(1);
    exit(1);
}
