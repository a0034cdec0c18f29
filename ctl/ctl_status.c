/*
 * ctl_status.c - contactgatectl status: ask the running daemon how it is
 * doing, through its control socket (milter/cg_control.h: one request
 * line, one JSON answer), for people and for monitoring.
 *
 * Exit status, as monitoring plugins read it: 0 ok; 1 degraded (errors in
 * the last minute, the store reconnecting, the last reload failed); 2 down
 * (nothing answers on the socket, no answer within --timeout, the store
 * down); 3 the check could not be made (a usage error, a configuration
 * that does not load, not allowed to ask).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define ST_OK 0
#define ST_DEGRADED 1
#define ST_DOWN 2
#define ST_UNKNOWN 3
/* the longest answer read (a status is about 1 KiB) */
#define MAX_ANSWER (64 * 1024)

/* ms_left - milliseconds until the deadline (0 when past) */
static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? (int)ms : 0;
}

/* ask - "status" over the socket; the answer (malloc'ed) or NULL with
 * the reason in why and *rc_r the exit status it means */
static char *ask(const char *path, int timeout_ms, struct cg_buf *why, int *rc_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    *rc_r = ST_DOWN;
    if (strlen(path) >= sizeof sun.sun_path) {
        *rc_r = ST_UNKNOWN;
        cg_buf_printf(why, "%s: too long for a unix socket", path);
        return NULL;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
        deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        cg_buf_printf(why, "socket: %s", strerror(errno));
        return NULL;
    }
    int c;
    /* a full backlog (another client being served) is EAGAIN: try again */
    while ((c = connect(fd, (struct sockaddr *)&sun, sizeof sun)) < 0 && errno == EAGAIN &&
           ms_left(&deadline) > 0)
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    if (c < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            *rc_r = ST_UNKNOWN;
        cg_buf_printf(why, "cannot connect to %s: %s%s", path, strerror(e),
                      e == EACCES || e == EPERM ? " (ask as root or as the daemon's user)"
                      : e == ENOENT || e == ECONNREFUSED ? " (is contactgate running?)"
                                                          : "");
        close(fd);
        return NULL;
    }
    static const char req[] = "status\n";
    size_t sent = 0;
    while (sent < sizeof req - 1) {
        ssize_t n = send(fd, req + sent, sizeof req - 1 - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            break; /* it answered without reading (a refusal): read that */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || poll(&p, 1, ms_left(&deadline)) <= 0) {
            cg_buf_printf(why, "%s: the daemon took no request within %d ms", path, timeout_ms);
            close(fd);
            return NULL;
        }
    }
    shutdown(fd, SHUT_WR);
    struct cg_buf in = {0};
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            cg_buf_addn(&in, buf, (size_t)n);
            if (in.len > MAX_ANSWER) {
                cg_buf_printf(why, "%s: an answer longer than %d bytes", path, MAX_ANSWER);
                break;
            }
            continue;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET && in.len)) {
            close(fd);
            if (in.len)
                return in.s;
            cg_buf_printf(why, "%s: the daemon closed the connection without an answer", path);
            cg_buf_free(&in);
            return NULL;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if ((errno != EAGAIN && errno != EINTR) || poll(&p, 1, ms_left(&deadline)) <= 0) {
            cg_buf_printf(why, "%s: no answer within %d ms", path, timeout_ms);
            break;
        }
    }
    close(fd);
    cg_buf_free(&in);
    return NULL;
}

/* span - an uptime as "3d 4h", "2h 13m", "45s" */
static void span(int64_t secs, char *buf, size_t len)
{
    if (secs >= 86400)
        snprintf(buf, len, "%lldd %lldh", (long long)(secs / 86400), (long long)(secs % 86400 / 3600));
    else if (secs >= 3600)
        snprintf(buf, len, "%lldh %lldm", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else if (secs >= 60)
        snprintf(buf, len, "%lldm %llds", (long long)(secs / 60), (long long)(secs % 60));
    else
        snprintf(buf, len, "%llds", (long long)secs);
}

/* text - the human-readable answer */
static void text(json_t *o, const char *health)
{
    json_t *problems = json_object_get(o, "problems");
    printf("contactgate: %s", health);
    size_t k;
    json_t *p;
    json_array_foreach(problems, k, p) printf("%s%s", k ? "; " : ": ", json_string_value(p));
    printf("\n");
    char up[32];
    span(json_integer_value(json_object_get(o, "uptime_secs")), up, sizeof up);
    printf("  version %s, pid %lld, up %s (since %s)\n",
           json_string_value(json_object_get(o, "version")),
           (long long)json_integer_value(json_object_get(o, "pid")), up,
           json_string_value(json_object_get(o, "started")));
    json_t *rl = json_object_get(o, "reload");
    const char *result = json_string_value(json_object_get(rl, "result"));
    printf("  configuration %s", json_string_value(json_object_get(o, "config_version")));
    if (result && strcmp(result, "none"))
        printf(", last reload %s: %s%s%s (%lld ok, %lld failed since start)",
               json_string_value(json_object_get(rl, "last")), result,
               json_is_string(json_object_get(rl, "error")) ? ": " : "",
               json_is_string(json_object_get(rl, "error"))
                   ? json_string_value(json_object_get(rl, "error")) : "",
               (long long)json_integer_value(json_object_get(rl, "ok")),
               (long long)json_integer_value(json_object_get(rl, "failed")));
    printf("\n");
    json_t *dec = json_object_get(o, "decisions"), *rate = json_object_get(o, "per_second");
    long long total = 0;
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) total += json_integer_value(v);
    printf("  last %llds: %lld decision%s", (long long)json_integer_value(json_object_get(o, "window_secs")),
           total, total == 1 ? "" : "s");
    int first = 1;
    json_object_foreach(dec, key, v)
    {
        if (!json_integer_value(v))
            continue;
        printf("%s%s %lld (%.2f/s)", first ? ": " : ", ", key, (long long)json_integer_value(v),
               json_number_value(json_object_get(rate, key)));
        first = 0;
    }
    printf("\n  errors in the last minute: %lld", (long long)json_integer_value(json_object_get(o, "errors")));
    first = 1;
    json_object_foreach(json_object_get(o, "errors_by_cause"), key, v)
    {
        if (json_integer_value(v))
            printf("%s%s %lld", first ? " (" : ", ", key, (long long)json_integer_value(v)), first = 0;
    }
    printf("%s\n", first ? "" : ")");
    json_t *st = json_object_get(o, "store");
    printf("  store: %s", json_string_value(json_object_get(st, "state")));
    if (json_is_string(json_object_get(st, "last_error")))
        printf(", last error %s: %s", json_string_value(json_object_get(st, "last_error_time")),
               json_string_value(json_object_get(st, "last_error")));
    printf("\n  queue depth: %lld\n", (long long)json_integer_value(json_object_get(o, "queue_depth")));
}

/* failed - "down" or "unknown" without an answer: the line, or JSON */
static int failed(struct ctl *c, int rc, const char *why)
{
    const char *health = rc == ST_DOWN ? "down" : "unknown";
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "health", json_string(health));
        json_t *p = json_array();
        json_array_append_new(p, json_string(why));
        json_object_set_new(o, "problems", p);
        ctl_json_print(o);
    } else {
        printf("contactgate: %s: %s\n", health, why);
    }
    return rc;
}

/* status_run - `contactgatectl status` */
static int status_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "status";
    const char *sock = NULL, *timeout_s = NULL;
    const struct ctl_opt opts[] = {
        {"--socket", &sock, NULL}, {"--timeout", &timeout_s, NULL}, {NULL, NULL, NULL}};
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return ST_UNKNOWN;
    int64_t timeout = 5;
    if (timeout_s && ctl_duration_arg(cmd, "--timeout", timeout_s, 1, &timeout) != CTL_OK)
        return ST_UNKNOWN;
    if (timeout > 300)
        return ctl_err(ST_UNKNOWN, cmd, "--timeout \"%s\" is more than 300s", timeout_s);
    if (!sock) {
        struct cg_config *cfg = ctl_config(c);
        if (!cfg)
            return ctl_err(ST_UNKNOWN, cmd, "the socket is the configuration's control_socket: "
                           "fix the configuration, or give --socket");
        sock = cfg->control_socket;
    }
    struct cg_buf why = {0};
    int rc;
    char *answer = ask(sock, (int)timeout * 1000, &why, &rc);
    if (!answer) {
        rc = failed(c, rc, why.s);
        cg_buf_free(&why);
        return rc;
    }
    json_error_t je;
    json_t *o = json_loads(answer, 0, &je);
    free(answer);
    const char *health = o ? json_string_value(json_object_get(o, "health")) : NULL;
    if (!health) {
        const char *e = o ? json_string_value(json_object_get(o, "error")) : NULL;
        cg_buf_printf(&why, "%s: %s%s", sock, e ? "the daemon refused: " : "not a status answer",
                      e ? e : "");
        json_decref(o);
        rc = failed(c, e ? ST_UNKNOWN : ST_DOWN, why.s);
        cg_buf_free(&why);
        return rc;
    }
    rc = !strcmp(health, "ok") ? ST_OK : !strcmp(health, "degraded") ? ST_DEGRADED : ST_DOWN;
    if (c->json)
        ctl_json_print(json_incref(o));
    else
        text(o, health);
    json_decref(o);
    return rc;
}

const struct ctl_cmd ctl_cmd_status = {
    .name = "status",
    .synopsis = "how the running daemon is doing; exit status for monitoring",
    .help = "SYNOPSIS\n"
            "  contactgatectl [-c FILE] [--json] status [--socket PATH] [--timeout DURATION]\n\n"
            "DESCRIPTION\n"
            "  Asks the running daemon through its control socket (--socket, else the\n"
            "  configuration's control_socket, default\n"
            "  /run/contactgate/control/control.sock; only root and the daemon's user\n"
            "  may ask) and prints: its health and why, version, process id and\n"
            "  uptime, configuration version and last reload, decisions and decisions\n"
            "  per second by verdict over the last minute, errors in the last minute\n"
            "  by cause, the store's state (ok, reconnecting, down) and last error,\n"
            "  and how many decisions wait for the store. --json prints the daemon's\n"
            "  answer as it is. --timeout: how long to wait for the answer (default\n"
            "  5s, at most 300s).\n\n"
            "  Health: degraded when anything failed in the last minute, the store is\n"
            "  reconnecting (it failed less than a minute ago and is retried) or the\n"
            "  last reload failed; down when the store has failed for a minute or\n"
            "  more, or nothing answers.\n\n"
            "EXIT STATUS\n"
            "  0 ok, 1 degraded, 2 down (no daemon answers, no answer in time, the\n"
            "  store down), 3 the check could not be made (usage, a configuration\n"
            "  that does not load, not allowed to ask)\n\n"
            "EXAMPLES\n"
            "  contactgatectl status\n"
            "  contactgatectl --json status --timeout 2s\n",
    .run = status_run,
};
CTL_REGISTER(ctl_cmd_status)
