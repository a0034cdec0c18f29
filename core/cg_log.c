/*
 * cg_log.c - syslog and stderr logging. Contracts in cg_log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg_log.h"

static int log_syslog;
static int log_stderr = 1;
static int log_min = LOG_INFO;
static const char *log_ident = "contactgate";

/* cg_log_open - choose destinations */
void cg_log_open(const char *ident, int to_syslog, int to_stderr, int min_level)
{
    log_ident = ident;
    log_syslog = to_syslog;
    log_stderr = to_stderr;
    log_min = min_level;
    if (to_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

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

/* cg_vlog - log one line */
void cg_vlog(int level, const char *fmt, va_list ap)
{
    if (level > log_min)
        return;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (log_syslog)
        syslog(level, "%s%s", level <= LOG_ERR || level == LOG_WARNING ? cg_level_name(level) : "",
               line);
    if (log_stderr) {
        char ts[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm);
        fprintf(stderr, "%s %s: %s%s\n", ts, log_ident, cg_level_name(level), line);
    }
}

/* cg_log - log one line */
void cg_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_vlog(level, fmt, ap);
    va_end(ap);
}

/* cg_fatal - start-up failure: log and exit 1 */
void cg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_vlog(LOG_CRIT, fmt, ap);
    va_end(ap);
    exit(1);
}
