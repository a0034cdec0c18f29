/*
 * ctl_progress.h - progress of a long contactgatectl command (prune,
 * simulate, customers import, store copy) on a terminal: one line on
 * stderr, rewritten with \r at most CTL_PROGRESS_EVERY_MS apart, with what
 * is done, of how much, and the rate; the last state stays on its line
 * when the command ends. When stderr is not a terminal (cron, a pipe, a
 * file) nothing at all is written, so cron mails nothing.
 *
 *   struct ctl_progress *p = ctl_progress_start("prune", "rows");
 *   for (...) ctl_progress(p, done, total);   // total 0: unknown
 *   ctl_progress_end(&p);
 *
 * Every function takes NULL (a command may skip the start when it wants
 * no progress).
 */
#ifndef CTL_PROGRESS_H
#define CTL_PROGRESS_H

#include <stdint.h>

#define CTL_PROGRESS_EVERY_MS 250

struct ctl_progress;

/* ctl_progress_start - `what` (the command, shown first) counts `unit`s
 * ("rows", "messages"); both strings must outlive the progress */
struct ctl_progress *ctl_progress_start(const char *what, const char *unit);
/* ctl_progress - done units of total (0: not known) */
void ctl_progress(struct ctl_progress *p, int64_t done, int64_t total);
/* ctl_progress_part - done units, which are `part` (0 to 1) of the work,
 * when the whole is not counted in units (simulate: its time range, an
 * import: the bytes of its file) */
void ctl_progress_part(struct ctl_progress *p, int64_t done, double part);
/* ctl_progress_end - the final line stays (if any was shown); frees and
 * sets *p to NULL */
void ctl_progress_end(struct ctl_progress **p);

#endif
