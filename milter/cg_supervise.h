/*
 * cg_supervise.h - the supervising process: it starts the serving process
 * (libmilter, decider, store), restarts it when it dies, relays the
 * operator's signals to it and, without -f, detaches once mail is served.
 * It never touches mail. See cg_supervise.c.
 */
#ifndef CG_SUPERVISE_H
#define CG_SUPERVISE_H

struct cg_supervise {
    int foreground;         /* -f: stay attached, log to stderr */
    const char *pidfile;    /* NULL: none */
    int pidfd;              /* its locked descriptor (cg_pidfile_open), or -1 */
    char **argv;            /* main's, to retitle the serving process */
    int argc;
    /* serve - runs in the serving process and returns its exit status.
     * first: the first start (the caller's state from before the fork is
     * current); ready(ready_arg) must be called once mail is served. */
    int (*serve)(void *arg, int first, void (*ready)(void *), void *ready_arg);
    /* forked - may be NULL; runs in the supervisor after it forked a
     * serving process (to let go of what only the first one needed) */
    void (*forked)(void *arg);
    void *arg;
};

/* cg_supervise_run - without foreground: fork, the caller's process waits
 * until the serving process is ready (exit 0) or could not start (exit 1;
 * its errors went to stderr), and never returns; the supervisor, in a
 * session of its own, carries on. Then: write the pid file, start the
 * serving process, restart it within a second when it dies without being
 * asked (with a log line naming the signal or status; more than 5 restarts
 * a minute back off, 10 s doubling to 60 s), pass SIGHUP and SIGUSR1 on as
 * SIGUSR1 (reload), SIGTERM and SIGINT as themselves (stop). Returns the
 * exit status for main: the serving process's when it was asked to stop,
 * 1 when its first start failed. */
int cg_supervise_run(const struct cg_supervise *s);

#endif
