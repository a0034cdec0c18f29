/*
 * cg_supervise.c - the supervising process (cg_supervise.h).
 *
 * One malformed packet can crash libmilter (README "Security"), and with it
 * every session of the process. So the daemon is two processes: this small
 * supervisor, which never reads mail or the network, and the serving
 * process it forks (libmilter, the decider, the store). When the serving
 * process dies without being asked (a signal, a non-zero status, or a clean
 * stop nobody asked for, such as a SIGHUP sent to it directly: libmilter
 * takes SIGHUP as "stop"), it is started again at once; the MTA meanwhile
 * applies its milter settings (tempfail: the message is retried, nothing is
 * lost; the store is a WAL database, and an unacknowledged decision was
 * never acknowledged to the MTA). More than 5 restarts within a minute is a
 * crash loop: the next waits 10 s, doubling up to 60 s, until the process
 * has run a minute.
 *
 * Signals are received through a signalfd (blocked otherwise), so there
 * are no handlers: SIGTERM and SIGINT are passed on and the supervisor
 * exits with the serving process's status; SIGHUP and SIGUSR1 are passed
 * on as SIGUSR1 (reload), the serving process never gets a SIGHUP from
 * here. The serving process is in a process group of its own (a terminal's
 * ^C reaches the supervisor only, which passes it on), dies with the
 * supervisor (PR_SET_PDEATHSIG), and is renamed (comm "cg-serving", argv
 * "contactgate: serving") so that `pidof contactgate`, `pkill contactgate`
 * and `killall contactgate` find the supervisor alone.
 *
 * Start-up: without -f the caller's process waits on a pipe until the
 * serving process says it serves (exit 0) or the first start failed (exit
 * 1), so start-up errors reach the terminal and the exit status; the
 * supervisor and the serving process then stop writing to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_priv.h"
#include "cg_supervise.h"

#define CG_LOOP_RESTARTS 5      /* more than this many a minute: a crash loop */
#define CG_LOOP_WINDOW_SECS 60
#define CG_BACKOFF_FIRST_SECS 10
#define CG_BACKOFF_MAX_SECS 60

/* what the supervisor knows */
struct sup {
    const struct cg_supervise *s;
    int foreground;
    int report_fd;          /* to the waiting caller (no -f), until ready */
    int sigfd;
    pid_t child;
    int ready_fd;           /* from the serving process, until it is ready */
    int child_ready;
    int ever_ready;         /* some serving process got ready */
    int64_t child_started;
    int stopping;
    int exit_status;
    int64_t restarts[CG_LOOP_RESTARTS]; /* the last restarts, a ring */
    unsigned n_restarts;
    int backoff_secs;
    int64_t next_start;     /* when to start the next serving process */
};

/* now_secs - a monotonic clock in seconds */
static int64_t now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* tell_ready - write the "ready" byte to *fdp and close it; then, without
 * -f, stop writing to the terminal: stderr copies off, stdin, stdout and
 * stderr to /dev/null */
static void tell_ready(int *fdp, int foreground)
{
    char c = '1';
    if (*fdp >= 0) {
        if (write(*fdp, &c, 1) != 1) {
            /* the reader is gone (it sees the process run on, or has left) */
        }
        close(*fdp);
        *fdp = -1;
    }
    if (foreground)
        return;
    cg_log_stderr(-1);
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
}

/* set_title - rewrite argv in place (what ps and pidof read) and the
 * process name (comm) */
static void set_title(char **argv, int argc, const char *title, const char *comm)
{
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (argc < 1 || !argv[0])
        return;
    char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++)
        end = argv[i] + strlen(argv[i]) + 1;
    size_t room = (size_t)(end - start);
    memset(start, 0, room);
    snprintf(start, room, "%s", room > strlen(title) ? title : comm);
}

/* child_ready_cb - the serving process serves: tell the supervisor */
static void child_ready_cb(void *arg)
{
    struct sup *u = arg;
    tell_ready(&u->ready_fd, u->foreground);
}

/* start_child - fork a serving process */
static void start_child(struct sup *u)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        cg_log(LOG_ERR, "supervisor: pipe: %s; retrying in 1 s", strerror(errno));
        u->next_start = now_secs() + 1;
        return;
    }
    int first = !u->ever_ready && u->n_restarts == 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        cg_log(LOG_ERR, "supervisor: fork: %s; retrying in 1 s", strerror(errno));
        close(p[0]);
        close(p[1]);
        u->next_start = now_secs() + 1;
        return;
    }
    if (pid == 0) {
        cg_log_forget();
        close(p[0]);
        close(u->sigfd);
        if (u->report_fd >= 0)
            close(u->report_fd);
        if (u->s->pidfd >= 0)
            close(u->s->pidfd); /* the supervisor keeps the lock */
        sigset_t none;
        sigemptyset(&none);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        if (getppid() != parent)
            _exit(1); /* the supervisor is gone already */
        setpgid(0, 0);
        set_title(u->s->argv, u->s->argc, "contactgate: serving", "cg-serving");
        u->ready_fd = p[1];
        exit(u->s->serve(u->s->arg, first, child_ready_cb, u));
    }
    close(p[1]);
    if (u->s->forked)
        u->s->forked(u->s->arg);
    u->ready_fd = p[0];
    u->child = pid;
    u->child_ready = 0;
    u->child_started = now_secs();
    if (!first)
        cg_log(LOG_INFO, "supervisor: serving process %ld started", (long)pid);
}

/* on_ready - the serving process says it serves */
static void on_ready(struct sup *u)
{
    char c = 0;
    ssize_t n = read(u->ready_fd, &c, 1);
    if (n < 0 && errno == EINTR)
        return;
    close(u->ready_fd);
    u->ready_fd = -1;
    if (n != 1)
        return; /* it died before; SIGCHLD tells the rest */
    u->child_ready = u->ever_ready = 1;
    tell_ready(&u->report_fd, u->foreground);
}

/* describe - "was killed by signal 11 (SIGSEGV: Segmentation fault)" */
static void describe(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, len, "was killed by signal %d (SIG%s: %s)%s", sig, abbrev ? abbrev : "?",
                 strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "");
    } else if (WEXITSTATUS(status)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, len, "stopped without being asked to (status 0; a SIGHUP sent to it "
                 "rather than to the supervisor?)");
    }
}

/* on_child_exit - the serving process ended: done, or start another */
static int on_child_exit(struct sup *u, int status)
{
    int64_t now = now_secs();
    long pid = (long)u->child;
    u->child = 0;
    if (u->ready_fd >= 0)
        on_ready(u); /* a "ready" it wrote before it ended; else end of file */
    if (u->stopping) {
        u->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 1;
    }
    char what[200];
    describe(status, what, sizeof what);
    if (!u->ever_ready) {
        /* the first start failed: its own error is on stderr and in the log */
        cg_log(LOG_ERR, "serving process %ld %s before it served; not starting", pid, what);
        u->exit_status = 1;
        return 1;
    }
    if (now - u->child_started >= CG_LOOP_WINDOW_SECS)
        u->backoff_secs = 0; /* it ran a while: no loop */
    u->restarts[u->n_restarts++ % CG_LOOP_RESTARTS] = now;
    int64_t oldest = u->restarts[u->n_restarts % CG_LOOP_RESTARTS];
    int delay = 0;
    if (u->n_restarts >= CG_LOOP_RESTARTS && now - oldest < CG_LOOP_WINDOW_SECS) {
        u->backoff_secs = u->backoff_secs ? u->backoff_secs * 2 : CG_BACKOFF_FIRST_SECS;
        if (u->backoff_secs > CG_BACKOFF_MAX_SECS)
            u->backoff_secs = CG_BACKOFF_MAX_SECS;
        delay = u->backoff_secs;
    }
    if (delay)
        cg_log_bounded(LOG_CRIT, "serving process %ld %s; crash loop: %d restarts in the last %d s, "
               "next start in %d s", pid, what, CG_LOOP_RESTARTS, CG_LOOP_WINDOW_SECS, delay);
    else
        cg_log_bounded(LOG_CRIT, "serving process %ld %s; restarting it", pid, what);
    u->next_start = now + delay;
    return 0;
}

/* on_signal - one signal from the signalfd; 1 when the supervisor is done */
static int on_signal(struct sup *u, int sig)
{
    switch (sig) {
    case SIGCHLD:
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0)
                return 0;
            if (pid == u->child && on_child_exit(u, status))
                return 1;
        }
    case SIGTERM:
    case SIGINT:
        if (!u->stopping)
            cg_log(LOG_INFO, "supervisor: %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        u->stopping = 1;
        if (!u->child)
            return 1;
        kill(u->child, sig);
        return 0;
    case SIGHUP:
    case SIGUSR1:
        if (u->child && u->child_ready) {
            cg_log(LOG_INFO, "supervisor: %s: asking serving process %ld to reload",
                   sig == SIGHUP ? "SIGHUP" : "SIGUSR1", (long)u->child);
            kill(u->child, SIGUSR1);
        } else {
            cg_log(LOG_INFO, "supervisor: %s: no serving process yet; the next one reads "
                   "the configuration as it is", sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
        }
        return 0;
    }
    return 0;
}

/* detach - fork; the caller's side waits for the first serving process
 * and exits; returns the descriptor the supervisor reports on */
static int detach(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        cg_fatal("cannot detach: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        cg_fatal("cannot detach: fork: %s", strerror(errno));
    if (pid > 0) {
        close(p[1]);
        char c = 0;
        ssize_t n;
        while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 && c == '1' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    if (chdir("/") < 0) {
        /* stays where it was started; paths are absolute */
    }
    return p[1];
}

/* cg_supervise_run - see cg_supervise.h */
int cg_supervise_run(const struct cg_supervise *s)
{
    struct sup u = {.s = s, .foreground = s->foreground, .report_fd = -1, .ready_fd = -1};
    if (!s->foreground)
        u.report_fd = detach();
    if (s->pidfd >= 0 && cg_pidfile_store(s->pidfd, getpid()) < 0)
        cg_fatal("pid file %s: %s", s->pidfile, strerror(errno));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    u.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (u.sigfd < 0)
        cg_fatal("signalfd: %s", strerror(errno));
    u.next_start = now_secs();
    for (;;) {
        if (!u.child && !u.stopping && now_secs() >= u.next_start)
            start_child(&u);
        struct pollfd pf[2] = {{.fd = u.sigfd, .events = POLLIN},
                               {.fd = u.ready_fd, .events = POLLIN}};
        /* wake up now and then to report suppressed log lines */
        int timeout_ms = 5000;
        if (!u.child) {
            int64_t wait = u.next_start - now_secs();
            timeout_ms = wait <= 0 ? 0 : wait < 5 ? (int)(wait * 1000) : 5000;
        }
        cg_log_flush(0);
        int n = poll(pf, u.ready_fd >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno != EINTR)
            cg_fatal("supervisor: poll: %s", strerror(errno));
        if (n <= 0)
            continue;
        if (u.ready_fd >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
            on_ready(&u);
        if (pf[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(u.sigfd, &si, sizeof si) == (ssize_t)sizeof si && on_signal(&u, (int)si.ssi_signo))
                break;
        }
    }
    if (s->pidfd >= 0)
        cg_pidfile_remove(s->pidfile, s->pidfd);
    if (u.report_fd >= 0)
        close(u.report_fd);
    return u.exit_status;
}
