/*
 * cg_log.h - logging: syslog (facility mail) and, in the foreground or in
 * tools, stderr.
 *
 * Severity taxonomy (as in Postfix): info for decisions and state
 * changes, warning for things an admin should fix but that do not stop
 * mail, error for failures handled by on_error, fatal only at start-up.
 * Decision lines are one "key=value" line starting with the queue ID.
 */
#ifndef CG_LOG_H
#define CG_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* cg_log_open - to_syslog: openlog(ident, LOG_PID, LOG_MAIL);
 * to_stderr: copy every line to stderr. min_level: lines above it are
 * dropped (LOG_INFO normally, LOG_DEBUG with -v). */
void cg_log_open(const char *ident, int to_syslog, int to_stderr, int min_level);
void cg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_vlog(int level, const char *fmt, va_list ap);
/* cg_fatal - log and exit(1); start-up only, never once mail flows. */
void cg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
