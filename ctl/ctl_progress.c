/*
 * ctl_progress.c - a progress line on a terminal (see ctl_progress.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg_util.h"
#include "ctl_progress.h"

struct ctl_progress {
    const char *what, *unit;
    int tty;                  /* stderr is a terminal: show anything at all */
    double t0, shown_at;      /* seconds (monotonic): start, last line */
    int64_t done;
    int64_t total;            /* 0: not known */
    double part;              /* < 0: not known (see total) */
    size_t width;             /* of the line on the screen, to blank its rest */
    int shown;
};

/* now_secs - the monotonic clock in seconds */
static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* grouped - n with thousands separators ("1,234,567") */
static const char *grouped(int64_t n, char *buf, size_t len)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
    size_t nd = strlen(digits), o = 0;
    if (n < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < nd && o + 2 < len; i++) {
        if (i && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* show - write the line now */
static void show(struct ctl_progress *p, int final)
{
    double t = now_secs(), secs = t - p->t0;
    char d[32], tot[32], r[32];
    struct cg_buf b = {0};
    cg_buf_printf(&b, "\r%s: %s", p->what, grouped(p->done, d, sizeof d));
    if (p->total > 0)
        cg_buf_printf(&b, " of %s", grouped(p->total, tot, sizeof tot));
    cg_buf_printf(&b, " %s", p->unit);
    double part = p->total > 0 ? (double)p->done / (double)p->total : p->part;
    if (part >= 0)
        cg_buf_printf(&b, " (%d%%)", (int)(100 * (part > 1 ? 1 : part)));
    if (secs > 0.05)
        cg_buf_printf(&b, ", %s %s/s", grouped((int64_t)(p->done / secs), r, sizeof r), p->unit);
    if (final)
        cg_buf_printf(&b, ", done in %.1f s", secs);
    size_t width = b.len - 1;
    for (size_t k = width; k < p->width; k++) /* blank what the last line had more */
        cg_buf_add(&b, " ");
    p->width = width;
    if (final)
        cg_buf_add(&b, "\n");
    fputs(b.s, stderr);
    fflush(stderr);
    cg_buf_free(&b);
    p->shown_at = t;
    p->shown = 1;
}

/* ctl_progress_start - see ctl_progress.h */
struct ctl_progress *ctl_progress_start(const char *what, const char *unit)
{
    struct ctl_progress *p = cg_xcalloc(1, sizeof *p);
    p->what = what;
    p->unit = unit;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = now_secs();
    p->part = -1;
    return p;
}

/* update - new figures; a line when the last is old enough */
static void update(struct ctl_progress *p, int64_t done, int64_t total, double part)
{
    if (!p)
        return;
    p->done = done;
    p->total = total;
    p->part = part;
    if (!p->tty)
        return;
    double t = now_secs();
    if (!p->shown || t - p->shown_at >= CTL_PROGRESS_EVERY_MS / 1000.0)
        show(p, 0);
}

/* s - see ctl_progress.h */
void ctl_progress(struct ctl_progress *p, int64_t done, int64_t total)
{
    update(p, done, total, -1);
}

/* t - see ctl_progress.h */
void ctl_progress_part(struct ctl_progress *p, int64_t done, double part)
{
    update(p, done, 0, part < 0 ? 0 : part);
}

/* d - see ctl_progress.h */
void ctl_progress_end(struct ctl_progress **pp)
{
    struct ctl_progress *p = pp ? *pp : NULL;
    if (!p)
        return;
    if (p->tty && (p->shown || p->done))
        show(p, 1);
    free(p);
    *pp = NULL;
}

