/*
 * cg_control.c - the control socket's thread (see cg_control.h).
 *
 * One thread polls the listening socket once a second; each second it also
 * takes a sample of the metrics' running totals (cg_metrics_snapshot) into
 * a ring, so "the last minute" is the difference between now and the
 * sample a minute old: the mail path pays nothing for it. A client is
 * served to the end (or its timeout) before the next is accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cg_control.h"
#include "cg_log.h"
#include "cg_metrics.h"
#include "cg_util.h"

/* samples kept: one a second, a little more than the window */
#define RING (CG_CONTROL_WINDOW_SECS + 5)

struct sample {
    int64_t ts;
    uint64_t verdicts[CG_MV_N];
    uint64_t errors[CG_MC_N];
};

static struct {
    pthread_mutex_t lock;     /* the ring, which cg_control_status reads */
    struct sample ring[RING];
    size_t n, next;
    int fd;                   /* the listening socket, -1 none */
    char *path;
    dev_t dev;                /* the socket file we made */
    ino_t ino;
    int stop;
    int running;
    pthread_t thread;
} C = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* --- the answer ------------------------------------------------------------ */

/* take_sample - the running totals now, into the ring */
static void take_sample(void)
{
    struct cg_metrics_snap s;
    cg_metrics_snapshot(&s);
    pthread_mutex_lock(&C.lock);
    struct sample *x = &C.ring[C.next];
    x->ts = s.now;
    memcpy(x->verdicts, s.verdicts, sizeof x->verdicts);
    memcpy(x->errors, s.errors, sizeof x->errors);
    C.next = (C.next + 1) % RING;
    if (C.n < RING)
        C.n++;
    pthread_mutex_unlock(&C.lock);
}

/* baseline - the newest sample at least a window old; none yet (the
 * process is younger than that): zeros at the start time */
static void baseline(int64_t now, int64_t started, struct sample *b)
{
    memset(b, 0, sizeof *b);
    b->ts = started;
    pthread_mutex_lock(&C.lock);
    for (size_t k = 0; k < C.n; k++) {
        const struct sample *x = &C.ring[(C.next + RING - 1 - k) % RING];
        if (x->ts <= now - CG_CONTROL_WINDOW_SECS) {
            *b = *x;
            break;
        }
    }
    pthread_mutex_unlock(&C.lock);
}

/* jtime - a time as RFC 3339, or null for 0 */
static json_t *jtime(int64_t ts)
{
    char buf[32];
    return ts ? json_string(cg_format_time(ts, buf, sizeof buf)) : json_null();
}

/* cg_control_status - see cg_control.h */
json_t *cg_control_status(void)
{
    struct cg_metrics_snap s;
    cg_metrics_snapshot(&s);
    struct sample b;
    baseline(s.now, s.started, &b);
    int64_t window = s.now - b.ts;
    if (window < 1)
        window = 1;

    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(CG_VERSION));
    json_object_set_new(o, "pid", json_integer(getpid()));
    json_object_set_new(o, "config_version", json_string(s.config_version));
    json_object_set_new(o, "started", jtime(s.started));
    json_object_set_new(o, "uptime_secs", json_integer(s.now - s.started));
    json_object_set_new(o, "window_secs", json_integer(window));
    json_t *dec = json_object(), *rate = json_object();
    for (int v = 0; v < CG_MV_N; v++) {
        uint64_t n = s.verdicts[v] - b.verdicts[v];
        json_object_set_new(dec, cg_metrics_verdict_name(v), json_integer((json_int_t)n));
        json_object_set_new(rate, cg_metrics_verdict_name(v), json_real((double)n / window));
    }
    json_object_set_new(o, "decisions", dec);
    json_object_set_new(o, "per_second", rate);
    uint64_t errors = 0;
    json_t *by = json_object();
    for (int c = 0; c < CG_MC_N; c++) {
        uint64_t n = s.errors[c] - b.errors[c];
        errors += n;
        json_object_set_new(by, cg_metrics_cause_name(c), json_integer((json_int_t)n));
    }
    json_object_set_new(o, "errors", json_integer((json_int_t)errors));
    json_object_set_new(o, "errors_by_cause", by);

    json_t *st = json_object();
    json_object_set_new(st, "state", json_string(cg_metrics_store_state_name(s.store_state)));
    json_object_set_new(st, "failing_since", jtime(s.store_failing_since));
    json_object_set_new(st, "last_error", s.store_last_error[0] ? json_string(s.store_last_error)
                                                                : json_null());
    json_object_set_new(st, "last_error_time", jtime(s.store_last_error_ts));
    json_object_set_new(o, "store", st);
    json_object_set_new(o, "queue_depth", json_integer(s.queue_depth));

    json_t *rl = json_object();
    json_object_set_new(rl, "last", jtime(s.last_reload));
    json_object_set_new(rl, "result", json_string(!s.last_reload    ? "none"
                                                  : s.last_reload_ok ? "ok"
                                                                     : "failed"));
    json_object_set_new(rl, "error", s.last_reload_error[0] ? json_string(s.last_reload_error)
                                                            : json_null());
    json_object_set_new(rl, "ok", json_integer((json_int_t)s.reloads_ok));
    json_object_set_new(rl, "failed", json_integer((json_int_t)s.reloads_failed));
    json_object_set_new(o, "reload", rl);

    /* health: what monitoring acts on */
    json_t *problems = json_array();
    const char *health = "ok";
    char line[400];
    if (s.store_state == CG_MS_DOWN) {
        health = "down";
        snprintf(line, sizeof line, "store down since %s: %s",
                 cg_format_time(s.store_failing_since, (char[32]){0}, 32), s.store_last_error);
        json_array_append_new(problems, json_string(line));
    } else if (s.store_state == CG_MS_RECONNECTING) {
        health = "degraded";
        snprintf(line, sizeof line, "store reconnecting: %s", s.store_last_error);
        json_array_append_new(problems, json_string(line));
    }
    if (errors) {
        if (strcmp(health, "down"))
            health = "degraded";
        snprintf(line, sizeof line, "%llu error%s in the last minute",
                 (unsigned long long)errors, errors == 1 ? "" : "s");
        json_array_append_new(problems, json_string(line));
    }
    if (s.last_reload && !s.last_reload_ok) {
        if (strcmp(health, "down"))
            health = "degraded";
        snprintf(line, sizeof line, "the last reload failed: %s", s.last_reload_error);
        json_array_append_new(problems, json_string(line));
    }
    json_object_set_new(o, "health", json_string(health));
    json_object_set_new(o, "problems", problems);
    return o;
}

/* --- one client ------------------------------------------------------------ */

/* wait_fd - poll fd for events until the deadline; 1 ready, 0 timed out
 * or failed */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (deadline->tv_sec - now.tv_sec) * 1000 +
                  (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)ms);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 0;
    }
}

/* send_all - the whole text before the deadline; 0 or -1 */
static int send_all(int fd, const char *s, size_t len, const struct timespec *deadline)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n > 0) {
            s += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        } else if (!wait_fd(fd, POLLOUT, deadline)) {
            return -1;
        }
    }
    return 0;
}

/* answer - one JSON line to the client */
static void answer(int fd, json_t *o, const struct timespec *deadline)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    struct cg_buf b = {0};
    cg_buf_add(&b, text);
    cg_buf_add(&b, "\n");
    free(text);
    send_all(fd, b.s, b.len, deadline);
    cg_buf_free(&b);
}

/* refuse - {"error": why} */
static void refuse(int fd, const char *why, const struct timespec *deadline)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(why));
    answer(fd, o, deadline);
}

/* read_request - one line, at most CG_CONTROL_MAX_REQUEST bytes, before
 * the deadline; NULL (and why) on anything else */
static char *read_request(int fd, const struct timespec *deadline, const char **why)
{
    char buf[CG_CONTROL_MAX_REQUEST + 1];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n > 0) {
            len += (size_t)n;
            char *nl = memchr(buf, '\n', len);
            if (nl) {
                *nl = 0;
                if (nl > buf && nl[-1] == '\r')
                    nl[-1] = 0;
                return cg_xstrdup(buf);
            }
            if (len == sizeof buf - 1) {
                *why = "request too long";
                return NULL;
            }
        } else if (n == 0) { /* the client shut its side down: what it sent is the line */
            buf[len] = 0;
            if (len)
                return cg_xstrdup(buf);
            *why = "no request";
            return NULL;
        } else if (errno != EAGAIN && errno != EINTR) {
            *why = "read error";
            return NULL;
        } else if (!wait_fd(fd, POLLIN, deadline)) {
            *why = "no request within the time allowed";
            return NULL;
        }
    }
}

/* serve_client - check the peer, read its request, answer, close */
static void serve_client(int fd)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += CG_CONTROL_TIMEOUT_MS / 1000;
    deadline.tv_nsec += (CG_CONTROL_TIMEOUT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
        deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        cg_log(LOG_WARNING, "control socket: cannot tell who connected: %s", strerror(errno));
        close(fd);
        return;
    }
    if (cred.uid != 0 && cred.uid != geteuid()) {
        cg_log(LOG_WARNING, "control socket: refused a client of uid %ld (pid %ld): neither root "
               "nor the daemon's user", (long)cred.uid, (long)cred.pid);
        refuse(fd, "permission denied: only root and the daemon's user may ask", &deadline);
        close(fd);
        return;
    }
    const char *why = NULL;
    char *req = read_request(fd, &deadline, &why);
    if (!req)
        refuse(fd, why, &deadline);
    else if (strcmp(req, "status") == 0)
        answer(fd, cg_control_status(), &deadline);
    else
        refuse(fd, "unknown request (the one request is: status)", &deadline);
    free(req);
    close(fd);
}

/* control_main - accept clients; a sample every second */
static void *control_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "cg-control");
    int64_t last = 0;
    for (;;) {
        pthread_mutex_lock(&C.lock);
        int stop = C.stop;
        pthread_mutex_unlock(&C.lock);
        if (stop)
            break;
        int64_t now = cg_now();
        if (now != last) {
            take_sample();
            last = now;
        }
        struct pollfd p = {.fd = C.fd, .events = POLLIN};
        if (poll(&p, 1, 250) <= 0)
            continue;
        int fd = accept4(C.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            serve_client(fd);
    }
    return NULL;
}

/* --- the socket -------------------------------------------------------------- */

/* make_dir - the socket's directory: made 0700 when missing; an existing
 * one of ours that others may enter is tightened (with a warning) */
static int make_dir(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char *dir = cg_xstrndup(path, (size_t)(slash - path));
    struct stat sb;
    int rc = 0;
    if (lstat(dir, &sb) < 0) {
        if (errno != ENOENT || mkdir(dir, 0700) < 0)
            rc = cg_errf(err, errlen, "control_socket %s: cannot make its directory %s: %s",
                         path, dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = cg_errf(err, errlen, "control_socket %s: %s is not a directory", path, dir);
    } else if (sb.st_uid == geteuid() && (sb.st_mode & 077)) {
        if (chmod(dir, 0700) == 0)
            cg_log(LOG_WARNING, "control_socket: directory %s was mode %o; made 0700", dir,
                   (unsigned)(sb.st_mode & 07777));
    }
    free(dir);
    return rc;
}

/* t - see cg_control.h */
int cg_control_start(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path)
        return cg_errf(err, errlen, "control_socket %s: too long for a unix socket", path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (make_dir(path, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cg_errf(err, errlen, "control_socket %s: %s", path, strerror(errno));
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            close(fd);
            return cg_errf(err, errlen, "control_socket %s: exists and is not a socket", path);
        }
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
            close(fd);
            return cg_errf(err, errlen, "control_socket %s: in use (another contactgate "
                           "answers on it)", path);
        }
        close(fd);
        unlink(path); /* a stale one: its process is gone */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return cg_errf(err, errlen, "control_socket %s: %s", path, strerror(errno));
    }
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0 || lstat(path, &sb) < 0) {
        cg_errf(err, errlen, "control_socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    C.fd = fd;
    C.path = cg_xstrdup(path);
    C.dev = sb.st_dev;
    C.ino = sb.st_ino;
    C.stop = 0;
    C.n = C.next = 0;
    take_sample();
    if ((rc = pthread_create(&C.thread, NULL, control_main, NULL)) != 0) {
        cg_errf(err, errlen, "control_socket: cannot start its thread: %s", strerror(rc));
        cg_control_stop();
        return -1;
    }
    C.running = 1;
    return 0;
}

/* p - see cg_control.h */
void cg_control_stop(void)
{
    pthread_mutex_lock(&C.lock);
    C.stop = 1;
    pthread_mutex_unlock(&C.lock);
    if (C.running)
        pthread_join(C.thread, NULL);
    C.running = 0;
    if (C.fd >= 0)
        close(C.fd);
    C.fd = -1;
    struct stat sb;
    /* remove it only if it is still the one we made */
    if (C.path && lstat(C.path, &sb) == 0 && sb.st_dev == C.dev && sb.st_ino == C.ino)
        unlink(C.path);
    free(C.path);
    C.path = NULL;
}
