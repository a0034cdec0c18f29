/*
 * cg_log.h - logging: syslog (facility mail) and, in the foreground or in
 * tools, stderr.
 *
 * Severity taxonomy (as in Postfix): info for decisions and state
 * changes, warning for things an admin should fix but that do not stop
 * mail, error for failures handled by on_error, fatal only at start-up.
 * Decision lines are one "key=value" line starting with the queue ID.
 *
 * No floods: warnings and worse are rate-limited at the root, here. Lines
 * are keyed by their template (the format string) and their text with
 * every word that holds a digit left out (queue IDs, references, counts,
 * addresses), so "the same error for another message" is one key and a
 * different error is another. The first line of a key is always logged;
 * further lines of that key within the interval (10 s) are counted, not
 * logged, and once the interval is over one line reports them:
 *   store: commit failed: database or disk is full (repeated 2,829 times in the last 10 s)
 * carrying the text of the last one suppressed. Info and debug lines (one
 * per decision, by design) are never limited. A count still pending when
 * the process exits is logged at exit (atexit, and by cg_fatal).
 */
#ifndef CG_LOG_H
#define CG_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* cg_log_open - to_syslog: openlog(ident, LOG_PID, LOG_MAIL);
 * to_stderr: copy every line to stderr. min_level: lines above it are
 * dropped (LOG_INFO normally, LOG_DEBUG with -v). */
void cg_log_open(const char *ident, int to_syslog, int to_stderr, int min_level);
/* cg_log_stderr - copy to stderr only the lines at max_level or more
 * severe (LOG_WARNING: warnings and errors; -1: none, e.g. once a daemon
 * has detached); safe while other threads log. */
void cg_log_stderr(int max_level);
void cg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_vlog(int level, const char *fmt, va_list ap);
/* cg_log_bounded - a line whose rate its caller bounds already, logged
 * every time, past the limiter: the supervisor's restart lines (at most 5
 * a minute, then one per back-off) must each be seen. */
void cg_log_bounded(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cg_fatal - log and exit(1); start-up only, never once mail flows. */
void cg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* cg_log_flush - report the counts of suppressed lines whose interval is
 * over (all of them with force). Cheap when nothing is pending; a daemon
 * calls it now and then so that a count is reported even when the errors
 * stop and nothing else is logged. */
void cg_log_flush(int force);
/* cg_log_forget - in a child right after fork(): drop the counts the
 * parent owes (the parent reports them, not both). */
void cg_log_forget(void);
/* cg_log_limit_interval - the rate limiter's interval in milliseconds
 * (default 10000; tests). 0 turns the limiter off. */
void cg_log_limit_interval(long ms);

#endif
