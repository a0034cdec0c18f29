/*
 * ctl_mta.c - what both hold-queue adapters share (see ctl_mta.h): which
 * MTA, running its programs, the privileged helper, the message list.
 *
 * The helper is a child forked while contactgatectl is still root. It
 * reads fixed-size requests {op, queue ID} from a pipe, checks both again
 * (it trusts nothing it is sent) and answers {result, length} and the
 * MTA's text. It ends when the request pipe closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_mta.h"

#define QID_MAX 63
#define OUT_CAP (256L << 20)    /* a listing of a very large queue */
#define ERR_CAP 8192
#define TEXT_CAP (64L << 10)    /* what the helper passes back */

/* ctl_mta_qid_ok - [0-9A-Za-z]{1,63}: Postfix's short and long IDs, Sendmail's */
int ctl_mta_qid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

/* --- the message list ------------------------------------------------------ */

struct ctl_mta_msg *ctl_mta_msg_add(struct ctl_mta_queue *q)
{
    q->v = cg_xrealloc(q->v, (q->n + 1) * sizeof *q->v);
    struct ctl_mta_msg *m = &q->v[q->n++];
    memset(m, 0, sizeof *m);
    m->size = -1;
    return m;
}

void ctl_mta_msg_rcpt(struct ctl_mta_msg *msg, const char *addr)
{
    msg->rcpts = cg_xrealloc(msg->rcpts, (msg->n_rcpts + 1) * sizeof *msg->rcpts);
    msg->rcpts[msg->n_rcpts++] = cg_xstrdup(addr);
}

void ctl_mta_queue_free(struct ctl_mta_queue *q)
{
    for (size_t i = 0; i < q->n; i++) {
        struct ctl_mta_msg *m = &q->v[i];
        free(m->queue_id);
        free(m->sender);
        for (size_t k = 0; k < m->n_rcpts; k++)
            free(m->rcpts[k]);
        free(m->rcpts);
        free(m->hold_reason);
        free(m->queue_dir);
        free(m->queue);
    }
    free(q->v);
    q->v = NULL;
    q->n = 0;
}

const struct ctl_mta_msg *ctl_mta_find(const struct ctl_mta_queue *q, const char *qid)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->v[i].queue_id, qid))
            return &q->v[i];
    return NULL;
}

/* --- running the MTA's programs -------------------------------------------- */

/* find_prog - `name` in dir (when given), else the usual command
 * directories, then the absolute entries of PATH; 0 found (path in buf) */
static int find_prog(const char *dir, const char *name, char *buf, size_t len)
{
    static const char *const dirs[] = {"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin",
                                       "/usr/local/bin", "/usr/lib", NULL};
    if (dir) {
        int n = snprintf(buf, len, "%s/%s", dir, name);
        return n > 0 && (size_t)n < len && access(buf, X_OK) == 0 ? 0 : -1;
    }
    for (int i = 0; dirs[i]; i++) {
        snprintf(buf, len, "%s/%s", dirs[i], name);
        if (access(buf, X_OK) == 0)
            return 0;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 && path[0] == '/' && n + strlen(name) + 2 <= len) {
            memcpy(buf, path, n);
            snprintf(buf + n, len - n, "/%s", name);
            if (access(buf, X_OK) == 0)
                return 0;
        }
        path = end ? end + 1 : NULL;
    }
    return -1;
}

void ctl_mta_run_free(struct ctl_mta_run *r)
{
    cg_buf_free(&r->out);
    cg_buf_free(&r->err);
}

/* collect - read the child's stdout and stderr until both close */
static void collect(int fd_out, int fd_err, struct ctl_mta_run *r)
{
    struct pollfd fds[2] = {{.fd = fd_out, .events = POLLIN}, {.fd = fd_err, .events = POLLIN}};
    int open_fds = 2;
    char chunk[8192];
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            struct cg_buf *b = i == 0 ? &r->out : &r->err;
            long cap = i == 0 ? OUT_CAP : ERR_CAP;
            if ((long)b->len + n <= cap)
                cg_buf_addn(b, chunk, (size_t)n);
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
}

int ctl_mta_exec(const struct ctl_mta *m, char *const argv[], struct ctl_mta_run *r)
{
    memset(r, 0, sizeof r[0]);
    r->code = -1;
    char path[1024];
    if (find_prog(m->command_dir, argv[0], path, sizeof path) < 0) {
        if (m->command_dir)
            cg_buf_printf(&r->err, "%s/%s: not found or not executable", m->command_dir, argv[0]);
        else
            cg_buf_printf(&r->err, "%s not found (is %s installed?)", argv[0], m->ops->name);
        return -1;
    }
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0) {
        cg_buf_printf(&r->err, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        cg_buf_printf(&r->err, "pipe: %s", strerror(errno));
        close(po[0]), close(po[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cg_buf_printf(&r->err, "fork: %s", strerror(errno));
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return -1;
    }
    if (pid == 0) {
        /* a minimal environment: nothing of the caller's reaches the MTA */
        char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execve(path, argv, envp);
        dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    collect(po[0], pe[0], r);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return cg_buf_printf(&r->err, "waitpid: %s", strerror(errno)), -1;
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    cg_buf_add(&r->err, "");
    cg_buf_add(&r->out, "");
    return 0;
}

char *ctl_mta_oneline(const char *s)
{
    char *t = cg_xstrdup(s ? s : "");
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\r'))
        t[--n] = 0;
    struct cg_buf b = {0};
    for (char *p = t; *p; p++) {
        if (*p == '\n')
            cg_buf_add(&b, "; ");
        else if (*p != '\r')
            cg_buf_addn(&b, p, 1);
    }
    free(t);
    return b.s ? b.s : cg_xstrdup("");
}

/* --- which MTA ------------------------------------------------------------- */

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* detect - the adapter for this host, or NULL (err says what was looked for) */
static const struct ctl_mta_ops *detect(const struct ctl_mta_opts *o, struct cg_buf *err)
{
    if (o->mta) {
        if (!strcmp(o->mta, "postfix"))
            return &ctl_mta_postfix;
        if (!strcmp(o->mta, "sendmail"))
            return &ctl_mta_sendmail;
        cg_buf_printf(err, "--mta \"%s\": postfix or sendmail", o->mta);
        return NULL;
    }
    if (o->postfix_config && o->sendmail_config) {
        cg_buf_add(err, "--postfix-config and --sendmail-config: give one (or --mta)");
        return NULL;
    }
    if (o->postfix_config)
        return &ctl_mta_postfix;
    if (o->sendmail_config)
        return &ctl_mta_sendmail;
    const char *mc = getenv("MAIL_CONFIG");
    if (mc && *mc)
        return &ctl_mta_postfix;
    char path[1024];
    if (is_file("/etc/postfix/main.cf") &&
        find_prog(o->command_dir, "postqueue", path, sizeof path) == 0)
        return &ctl_mta_postfix;
    if (is_file("/etc/mail/sendmail.cf"))
        return &ctl_mta_sendmail;
    cg_buf_add(err, "no MTA found (neither Postfix: postqueue and /etc/postfix/main.cf, nor "
                    "Sendmail: /etc/mail/sendmail.cf); say which with --mta postfix|sendmail "
                    "and --postfix-config DIR or --sendmail-config FILE");
    return NULL;
}

struct ctl_mta *ctl_mta_open(const struct ctl_mta_opts *o, struct cg_buf *err)
{
    if (o->command_dir && o->command_dir[0] != '/') {
        cg_buf_printf(err, "--command-dir \"%s\": an absolute directory", o->command_dir);
        return NULL;
    }
    const struct ctl_mta_ops *ops = detect(o, err);
    if (!ops)
        return NULL;
    const char *config = ops == &ctl_mta_postfix ? o->postfix_config : o->sendmail_config;
    if (ops == &ctl_mta_postfix && !config) {
        const char *mc = getenv("MAIL_CONFIG");
        config = mc && *mc ? mc : NULL;
    }
    if (config && !*config) {
        cg_buf_printf(err, "the %s configuration is empty", ops->name);
        return NULL;
    }
    struct ctl_mta *m = cg_xcalloc(1, sizeof *m);
    m->ops = ops;
    m->config = cg_xstrdup(config ? config : ops->default_config);
    m->command_dir = o->command_dir ? cg_xstrdup(o->command_dir) : NULL;
    if (ops->setup(m, err) < 0)
        ctl_mta_free(&m);
    return m;
}

int ctl_mta_list(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    memset(q, 0, sizeof *q);
    return m->ops->list(m, q, err);
}

int ctl_mta_queued(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    memset(q, 0, sizeof *q);
    return m->ops->queued(m, q, err);
}

/* --- the root helper --------------------------------------------------------- */

struct req {
    char op;
    char qid[QID_MAX + 1];
};
struct rep {
    int rc;                 /* enum ctl_mta_rc */
    size_t len;             /* text that follows */
};

/* xfer_all - write (out) or read exactly len bytes; -1 on error or EOF */
static int xfer_all(int fd, void *buf, size_t len, int out)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = out ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* helper_loop - the helper's life: one action per request */
static void helper_loop(struct ctl_mta *m, int in, int out)
{
    struct req q;
    while (xfer_all(in, &q, sizeof q, 0) == 0) {
        q.qid[QID_MAX] = 0;
        struct cg_buf text = {0};
        struct rep p = {.rc = CTL_MTA_FAILED};
        if (!ctl_mta_qid_ok(q.qid) ||
            (q.op != CTL_MTA_RELEASE && q.op != CTL_MTA_DROP && q.op != CTL_MTA_FLUSH))
            cg_buf_add(&text, "bad request");
        else
            p.rc = (int)m->ops->act(m, (enum ctl_mta_op)q.op, q.qid, &text);
        p.len = text.len;
        if (p.len > TEXT_CAP)
            p.len = TEXT_CAP;
        if (xfer_all(out, &p, sizeof p, 1) < 0 || (p.len && xfer_all(out, text.s, p.len, 1) < 0))
            _exit(1);
        cg_buf_free(&text);
    }
    _exit(0);
}

int ctl_mta_helper_start(struct ctl_mta *m, struct cg_buf *err)
{
    if (m->helper_pid > 0)
        return 0;
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) < 0) {
        cg_buf_printf(err, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(b, O_CLOEXEC) < 0) {
        cg_buf_printf(err, "pipe: %s", strerror(errno));
        close(a[0]), close(a[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cg_buf_printf(err, "fork: %s", strerror(errno));
        close(a[0]), close(a[1]), close(b[0]), close(b[1]);
        return -1;
    }
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        helper_loop(m, a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    m->helper_pid = pid;
    m->helper_to = a[1];
    m->helper_from = b[0];
    return 0;
}

enum ctl_mta_rc ctl_mta_act(struct ctl_mta *m, enum ctl_mta_op op, const char *qid,
                            struct cg_buf *text)
{
    struct req q = {.op = (char)op};
    if (m->helper_pid <= 0 || !ctl_mta_qid_ok(qid)) {
        cg_buf_add(text, m->helper_pid <= 0 ? "no privileged helper" : "bad queue ID");
        return CTL_MTA_FAILED;
    }
    cg_strlcpy(q.qid, qid, sizeof q.qid);
    struct rep p;
    if (xfer_all(m->helper_to, &q, sizeof q, 1) < 0 ||
        xfer_all(m->helper_from, &p, sizeof p, 0) < 0) {
        cg_buf_add(text, "the privileged helper is gone");
        return CTL_MTA_FAILED;
    }
    if (p.len > TEXT_CAP || p.rc < CTL_MTA_DONE || p.rc > CTL_MTA_FAILED) {
        cg_buf_add(text, "the privileged helper misbehaved");
        return CTL_MTA_FAILED;
    }
    char *t = cg_xcalloc(p.len + 1, 1);
    if (p.len && xfer_all(m->helper_from, t, p.len, 0) < 0) {
        free(t);
        cg_buf_add(text, "the privileged helper is gone");
        return CTL_MTA_FAILED;
    }
    cg_buf_add(text, t);
    free(t);
    return (enum ctl_mta_rc)p.rc;
}

void ctl_mta_free(struct ctl_mta **mp)
{
    struct ctl_mta *m = mp ? *mp : NULL;
    if (!m)
        return;
    if (m->helper_pid > 0) {
        close(m->helper_to);
        close(m->helper_from);
        while (waitpid(m->helper_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    free(m->config);
    free(m->command_dir);
    free(m);
    *mp = NULL;
}
