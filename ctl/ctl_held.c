/*
 * ctl_held.c - contactgatectl held list|release|drop: the messages that
 * contactgate put in Postfix's hold queue (verdict hold), for compliance
 * review.
 *
 * The queue is read with `postqueue -j` and changed with `postsuper`, both
 * run through fork + execve with a fixed argument vector and a minimal
 * environment (no shell: a queue ID is a validated argument, never
 * text for a shell). postsuper needs root, while the store is opened as the
 * database's owner (ctl_store drops root for good so that SQLite's -wal
 * and -shm files stay usable by the daemon). So release and drop fork a
 * small helper first that keeps root and runs only postsuper -H/-d and
 * postqueue -i for a validated queue ID it is sent over a pipe; the main
 * process then opens the store.
 *
 * A release is one store transaction around the postsuper call: the
 * contact rows and the "released" decision rows are written, postsuper
 * runs, and the transaction commits only if postsuper released the
 * message (else it rolls back). The write lock is held for the few
 * milliseconds postsuper takes.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "cg_store_held.h"
#include "cg_util.h"
#include "ctl.h"

#define QID_MAX 63
#define ARRIVAL_SLACK 600  /* seconds a hold row may precede the queue file's arrival */
#define OUT_CAP (256L << 20)
#define ERR_CAP 8192

static const char *const cmd = "held";

/* qid_ok - a Postfix queue ID: [0-9A-Za-z]+ (short and long forms) */
static int qid_ok(const char *s)
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

/* find_prog - the Postfix command `name` in the usual command directories,
 * then in the absolute entries of PATH; 0 found (path in buf), -1 not */
static int find_prog(const char *name, char *buf, size_t len)
{
    static const char *const dirs[] = {"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin",
                                       "/usr/local/bin", NULL};
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

/* --- running a Postfix command ------------------------------------------ */

struct run_result {
    int code;                 /* exit status; -1 killed or not run */
    struct cg_buf out;        /* stdout */
    struct cg_buf err;        /* stderr (capped) */
};

static void run_result_free(struct run_result *r)
{
    cg_buf_free(&r->out);
    cg_buf_free(&r->err);
}

/* run_prog - run argv[0] (a Postfix command name) with argv through
 * execve, stdin /dev/null, stdout and stderr captured. 0 when it ran (see
 * r->code), -1 when it could not be started (message in r->err). */
static int run_prog(char *const argv[], struct run_result *r)
{
    memset(r, 0, sizeof *r);
    r->code = -1;
    char path[512];
    if (find_prog(argv[0], path, sizeof path) < 0) {
        cg_buf_printf(&r->err, "%s not found (is Postfix installed?)", argv[0]);
        return -1;
    }
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0) {
        cg_buf_printf(&r->err, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        cg_buf_printf(&r->err, "pipe: %s", strerror(errno));
        close(po[0]);
        close(po[1]);
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
        /* a minimal environment: nothing of the caller's reaches Postfix */
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
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
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
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return cg_buf_printf(&r->err, "waitpid: %s", strerror(errno)), -1;
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (!r->err.s)
        cg_buf_add(&r->err, "");
    if (!r->out.s)
        cg_buf_add(&r->out, "");
    return 0;
}

/* trim - the text without trailing blanks and newlines, lines joined by "; " */
static char *trim(const char *s)
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

/* --- the root helper for release and drop -------------------------------- */

struct req {
    char op;                  /* 'H' release, 'D' delete from hold, 'I' deliver now */
    char qid[QID_MAX + 1];
};
struct rep {
    int ran;                  /* 0: could not run */
    int code;
    size_t len;               /* text that follows (stderr, then stdout) */
};

struct helper {
    pid_t pid;
    int to, from;             /* request and reply pipes */
};

/* helper_loop - the helper's life: one postsuper/postqueue per request */
static void helper_loop(const char *pfdir, int in, int out)
{
    struct req q;
    for (;;) {
        ssize_t n = read(in, &q, sizeof q);
        if (n != (ssize_t)sizeof q)
            _exit(0);
        q.qid[QID_MAX] = 0;
        struct rep p = {0};
        struct run_result r;
        memset(&r, 0, sizeof r);
        if (!qid_ok(q.qid) || (q.op != 'H' && q.op != 'D' && q.op != 'I')) {
            cg_buf_add(&r.err, "bad request");
        } else {
            char *argv[8] = {0};
            int k = 0;
            argv[k++] = q.op == 'I' ? "postqueue" : "postsuper";
            argv[k++] = "-c";
            argv[k++] = (char *)pfdir;
            argv[k++] = q.op == 'H' ? "-H" : q.op == 'D' ? "-d" : "-i";
            argv[k++] = q.qid;
            if (q.op == 'D')
                argv[k++] = "hold";
            p.ran = run_prog(argv, &r) == 0;
            p.code = r.code;
        }
        struct cg_buf all = {0};
        cg_buf_add(&all, r.err.s ? r.err.s : "");
        cg_buf_add(&all, r.out.s ? r.out.s : "");
        run_result_free(&r);
        p.len = all.len;
        if (write(out, &p, sizeof p) != (ssize_t)sizeof p ||
            (all.len && write(out, all.s, all.len) != (ssize_t)all.len))
            _exit(1);
        cg_buf_free(&all);
    }
}

/* helper_start - fork the helper (while still root) */
static int helper_start(struct helper *h, const char *pfdir)
{
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(b, O_CLOEXEC) < 0) {
        close(a[0]), close(a[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(a[0]), close(a[1]), close(b[0]), close(b[1]);
        return -1;
    }
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        helper_loop(pfdir, a[0], b[1]);
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    h->pid = pid;
    h->to = a[1];
    h->from = b[0];
    return 0;
}

static void helper_stop(struct helper *h)
{
    if (h->pid <= 0)
        return;
    close(h->to);
    close(h->from);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    h->pid = 0;
}

/* read_all - exactly len bytes */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* helper_call - run op on qid as root; r->code as for run_prog; r->err has
 * the command's output. -1 when it could not run. */
static int helper_call(struct helper *h, char op, const char *qid, struct run_result *r)
{
    memset(r, 0, sizeof *r);
    r->code = -1;
    struct req q = {.op = op};
    cg_strlcpy(q.qid, qid, sizeof q.qid);
    struct rep p;
    if (write(h->to, &q, sizeof q) != (ssize_t)sizeof q || read_all(h->from, &p, sizeof p) < 0) {
        cg_buf_add(&r->err, "the privileged helper is gone");
        return -1;
    }
    if (p.len > ERR_CAP * 2)
        return cg_buf_add(&r->err, "the privileged helper misbehaved"), -1;
    char *t = cg_xcalloc(p.len + 1, 1);
    if (p.len && read_all(h->from, t, p.len) < 0) {
        free(t);
        cg_buf_add(&r->err, "the privileged helper is gone");
        return -1;
    }
    cg_buf_add(&r->err, t);
    free(t);
    r->code = p.code;
    return p.ran ? 0 : -1;
}

/* --- the hold queue ------------------------------------------------------- */

/* postfix_dir - --postfix-config, else $MAIL_CONFIG, else /etc/postfix */
static const char *postfix_dir(const char *opt)
{
    if (opt)
        return opt;
    const char *e = getenv("MAIL_CONFIG");
    return e && *e ? e : "/etc/postfix";
}

/* read_hold_queue - the messages in Postfix's hold queue (JSON objects of
 * postqueue -j). NULL on error (printed; *rc_r set). */
static json_t *read_hold_queue(const char *pfdir, int *rc_r)
{
    char *argv[] = {"postqueue", "-c", (char *)pfdir, "-j", NULL};
    struct run_result r;
    if (run_prog(argv, &r) < 0 || r.code != 0) {
        char *e = trim(r.err.s);
        int eperm = strstr(e, "permission denied") || strstr(e, "Permission denied") ||
                    strstr(e, "bad command startup");
        *rc_r = ctl_err(CTL_USAGE, cmd, "postqueue -c %s -j failed%s%s%s", pfdir, *e ? ": " : "",
                        e, eperm ? " (reading another Postfix instance's queue needs root, or "
                                   "the directory in alternate_config_directories)" : "");
        free(e);
        run_result_free(&r);
        return NULL;
    }
    json_t *held = json_array();
    char *save = NULL;
    for (char *line = strtok_r(r.out.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            *rc_r = ctl_err(CTL_USAGE, cmd, "postqueue -j printed a line that is not a JSON "
                            "object: %.80s", line);
            json_decref(held);
            run_result_free(&r);
            return NULL;
        }
        const char *qn = json_string_value(json_object_get(o, "queue_name"));
        const char *qid = json_string_value(json_object_get(o, "queue_id"));
        if (qn && !strcmp(qn, "hold") && qid && qid_ok(qid))
            json_array_append_new(held, o);
        else
            json_decref(o);
    }
    run_result_free(&r);
    return held;
}

/* queue_entry - the held message with this ID, or NULL */
static json_t *queue_entry(json_t *held, const char *qid)
{
    size_t i;
    json_t *o;
    json_array_foreach(held, i, o)
    {
        const char *id = json_string_value(json_object_get(o, "queue_id"));
        if (id && !strcmp(id, qid))
            return o;
    }
    return NULL;
}

/* --- the hold decisions of one message ----------------------------------- */

struct hrow {
    char *ref, *policy, *reason, *department, *sender, *recipient, *customer, *category,
        *message_id, *queue_id, *config_version;
    int64_t ts;
};
struct hrows {
    struct hrow *v;
    size_t n;
};

static int hrow_cb(const struct cg_decision_row *d, void *arg)
{
    struct hrows *h = arg;
    h->v = cg_xrealloc(h->v, (h->n + 1) * sizeof *h->v);
    struct hrow *r = &h->v[h->n++];
    r->ref = cg_xstrdup(d->ref);
    r->policy = cg_xstrdup(d->policy);
    r->reason = cg_xstrdup(d->reason);
    r->department = cg_xstrdup(d->department);
    r->sender = cg_xstrdup(d->sender);
    r->recipient = cg_xstrdup(d->recipient);
    r->customer = cg_xstrdup(d->customer);
    r->category = cg_xstrdup(d->category);
    r->message_id = cg_xstrdup(d->message_id);
    r->queue_id = cg_xstrdup(d->queue_id);
    r->config_version = cg_xstrdup(d->config_version);
    r->ts = d->ts;
    return 0;
}

static void hrows_free(struct hrows *h)
{
    for (size_t i = 0; i < h->n; i++) {
        struct hrow *r = &h->v[i];
        free(r->ref), free(r->policy), free(r->reason), free(r->department), free(r->sender);
        free(r->recipient), free(r->customer), free(r->category), free(r->message_id);
        free(r->queue_id), free(r->config_version);
    }
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

/* load_rows - the hold rows of the queued message `e`; -1 store error */
static int load_rows(cg_store *st, json_t *e, struct hrows *h)
{
    const char *qid = json_string_value(json_object_get(e, "queue_id"));
    json_int_t arrival = json_integer_value(json_object_get(e, "arrival_time"));
    int64_t since = arrival > ARRIVAL_SLACK ? (int64_t)arrival - ARRIVAL_SLACK : 0;
    return cg_held_rows(st, qid, since, hrow_cb, h);
}

/* --- held list ----------------------------------------------------------- */

static int held_list(struct ctl *c, const char *pfdir)
{
    int rc = CTL_OK;
    json_t *held = read_hold_queue(pfdir, &rc);
    if (!held)
        return rc;
    cg_store *st = ctl_store(c);
    if (!st) {
        json_decref(held);
        return CTL_STORE;
    }
    json_t *out = json_array();
    size_t others = 0, i;
    json_t *e;
    json_array_foreach(held, i, e)
    {
        struct hrows h = {0};
        if (load_rows(st, e, &h) < 0) {
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
            hrows_free(&h);
            break;
        }
        if (h.n == 0) {
            others++;
            continue;
        }
        char when[32];
        json_int_t arrival = json_integer_value(json_object_get(e, "arrival_time"));
        json_t *o = json_object(), *rcpts = json_array(), *custs = json_array();
        size_t k;
        json_t *rv;
        json_array_foreach(json_object_get(e, "recipients"), k, rv)
        {
            const char *a = json_string_value(json_object_get(rv, "address"));
            if (a)
                json_array_append_new(rcpts, json_string(a));
        }
        for (size_t r = 0; r < h.n; r++) {
            int seen = 0;
            for (size_t q = 0; q < json_array_size(custs) && h.v[r].customer; q++)
                seen |= !strcmp(json_string_value(json_array_get(custs, q)), h.v[r].customer);
            if (!seen && h.v[r].customer)
                json_array_append_new(custs, json_string(h.v[r].customer));
        }
        const char *sender = json_string_value(json_object_get(e, "sender"));
        json_object_set_new(o, "queue_id", json_string(h.v[0].queue_id));
        json_object_set_new(o, "arrival", json_string(cg_format_time(arrival, when, sizeof when)));
        json_object_set_new(o, "arrival_ts", json_integer(arrival));
        json_object_set_new(o, "sender", ctl_jstr(sender ? sender : h.v[0].sender));
        json_object_set_new(o, "recipients", rcpts);
        json_object_set_new(o, "customers", custs);
        json_object_set_new(o, "department", ctl_jstr(h.v[0].department));
        json_object_set_new(o, "category", ctl_jstr(h.v[0].category));
        json_object_set_new(o, "policy", ctl_jstr(h.v[0].policy));
        json_object_set_new(o, "reason", ctl_jstr(h.v[0].reason));
        json_object_set_new(o, "ref", ctl_jstr(h.v[0].ref));
        json_object_set_new(o, "message_id", ctl_jstr(h.v[0].message_id));
        json_object_set_new(o, "size", json_integer(
                                           json_integer_value(json_object_get(e, "message_size"))));
        json_array_append_new(out, o);
        hrows_free(&h);
    }
    json_decref(held);
    if (rc != CTL_OK) {
        json_decref(out);
        return rc;
    }
    if (c->json) {
        ctl_json_print(out);
        return rc;
    }
    size_t n = json_array_size(out);
    if (n)
        printf("%-12s %-20s %-26s %-26s %-12s %-28s %-18s %s\n", "QUEUE ID", "ARRIVAL", "SENDER",
               "RECIPIENTS", "DEPT", "POLICY", "REF", "REASON");
    json_array_foreach(out, i, e)
    {
        struct cg_buf r = {0};
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(e, "recipients"), k, a)
            cg_buf_printf(&r, "%s%s", k ? "," : "", json_string_value(a));
#define S(k) (json_string_value(json_object_get(e, k)) ? json_string_value(json_object_get(e, k)) : "-")
        printf("%-12s %-20s %-26s %-26s %-12s %-28s %-18s %s\n", S("queue_id"), S("arrival"),
               S("sender"), r.s ? r.s : "-", S("department"), S("policy"), S("ref"), S("reason"));
#undef S
        cg_buf_free(&r);
    }
    if (!n)
        printf("no messages held by contactgate\n");
    if (others)
        printf("(%zu other message%s in the hold queue %s not held by contactgate)\n", others,
               others == 1 ? "" : "s", others == 1 ? "was" : "were");
    json_decref(out);
    return rc;
}

/* --- held release / drop --------------------------------------------------- */

/* admin_name - who: $SUDO_USER, $USER, or the uid */
static void admin_name(char *buf, size_t len)
{
    const char *n = getenv("SUDO_USER");
    if (!n || !*n)
        n = getenv("USER");
    if (n && *n && strlen(n) < 64) {
        snprintf(buf, len, "%s", n);
        return;
    }
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %ld", (long)getuid());
}

/* postsuper_says - postsuper's summary ("Released from hold: 1 message",
 * "Deleted: 1 message") shows it acted on the message */
static int postsuper_says(const char *text, int release)
{
    const char *key = release ? "Released from hold: " : "Deleted: ";
    const char *p = text ? strstr(text, key) : NULL;
    return p && atoi(p + strlen(key)) >= 1;
}

/* act_one - release or drop one held message; the result goes to `res` */
static int act_one(struct ctl *c, struct helper *hp, cg_store *st, json_t *entry, int release,
                   const char *admin, const char *why, json_t *res)
{
    const char *qid = json_string_value(json_object_get(entry, "queue_id"));
    struct hrows h = {0};
    if (load_rows(st, entry, &h) < 0)
        return hrows_free(&h), ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    if (h.n == 0)
        return ctl_err(CTL_USAGE, cmd, "%s is in the hold queue but was not held by contactgate "
                       "(no hold decision for it); use postsuper for it", qid);
    const char *before = NULL;
    int had = cg_held_outcome(st, qid, h.v[0].ref, &before);
    if (had < 0) {
        hrows_free(&h);
        return ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    }
    int rc = CTL_OK;
    char reason[700];
    if (release)
        snprintf(reason, sizeof reason, "released by %s", admin);
    else
        snprintf(reason, sizeof reason, "dropped by %s%s%s", admin, why ? ": " : "",
                 why ? why : "");
    if (cg_store_begin(st, 1) < 0) {
        hrows_free(&h);
        return ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    }
    size_t contacts = 0;
    int failed = 0;
    for (size_t i = 0; i < h.n && !failed; i++) {
        const struct hrow *r = &h.v[i];
        /* one contact per customer; none twice for the same hold */
        int first = r->customer != NULL;
        for (size_t k = 0; k < i && first; k++)
            if (h.v[k].customer && !strcmp(h.v[k].customer, r->customer))
                first = 0;
        if (release && first && !(had == 1 && !strcmp(before, "released"))) {
            struct cg_contact_row ct = {
                .ts = c->now,
                .customer = r->customer,
                .address = r->recipient,
                .department = r->department,
                .category = r->category,
                .channel = "email",
                .weight = 1.0,
                .message_id = r->message_id,
                .queue_id = r->queue_id,
            };
            if (cg_store_contact_add(st, &ct) < 0)
                failed = 1;
            contacts++;
        }
        struct cg_decision_row d = {
            .ts = c->now,
            .ref = r->ref,
            .stage = "admin",
            .verdict = release ? "released" : "dropped",
            .policy = r->policy,
            .reason = reason,
            .detail = release ? "postsuper -H" : "postsuper -d",
            .department = r->department,
            .sender = r->sender,
            .recipient = r->recipient,
            .customer = r->customer,
            .category = r->category,
            .message_id = r->message_id,
            .queue_id = r->queue_id,
            .config_version = r->config_version,
        };
        if (!failed && cg_store_decision_add(st, &d) < 0)
            failed = 1;
    }
    if (failed) {
        rc = ctl_err(CTL_STORE, cmd, "%s: %s (nothing changed)", qid, cg_store_errmsg(st));
        cg_store_rollback(st);
        hrows_free(&h);
        return rc;
    }
    struct run_result r;
    int ran = helper_call(hp, release ? 'H' : 'D', qid, &r) == 0;
    char *text = trim(r.err.s);
    if (!ran || r.code != 0 || !postsuper_says(text, release)) {
        cg_store_rollback(st);
        if (strstr(text, "reserved for the superuser") || strstr(text, "ermission denied"))
            rc = ctl_err(CTL_USAGE, cmd, "postsuper for %s: permission denied: %s must run as "
                         "root (sudo contactgatectl held ...)%s%s", qid, "postsuper",
                         *text ? ": " : "", text);
        else if (ran && r.code == 0)
            rc = ctl_err(CTL_USAGE, cmd, "postsuper %s %s: the message was not %s (no longer in "
                         "the hold queue?)%s%s", release ? "-H" : "-d", qid,
                         release ? "released" : "deleted", *text ? ": " : "", text);
        else
            rc = ctl_err(CTL_USAGE, cmd, "postsuper %s %s failed%s%s", release ? "-H" : "-d",
                         qid, *text ? ": " : "", text[0] ? text : "");
        free(text);
        run_result_free(&r);
        hrows_free(&h);
        return rc;
    }
    free(text);
    run_result_free(&r);
    if (cg_store_commit(st) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s was %s but the record of it could not be written: %s",
                     qid, release ? "released" : "deleted", cg_store_errmsg(st));
        cg_store_rollback(st);
        hrows_free(&h);
        return rc;
    }
    if (release) {
        /* deliver now rather than at the next deferred-queue scan */
        if (helper_call(hp, 'I', qid, &r) < 0 || r.code != 0) {
            char *t = trim(r.err.s);
            fprintf(stderr, "contactgatectl: held: warning: postqueue -i %s: %s (the message is "
                    "released and goes out at the next queue run)\n", qid, *t ? t : "failed");
            free(t);
        }
        run_result_free(&r);
    }
    json_t *o = json_object();
    json_object_set_new(o, "queue_id", json_string(qid));
    json_object_set_new(o, "ref", ctl_jstr(h.v[0].ref));
    json_object_set_new(o, "result", json_string(release ? "released" : "dropped"));
    json_object_set_new(o, "policy", ctl_jstr(h.v[0].policy));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "contacts_recorded", json_integer((json_int_t)contacts));
    json_array_append_new(res, o);
    if (!c->json) {
        if (release)
            printf("released %s (ref %s, %s): %zu contact%s recorded%s\n", qid, h.v[0].ref,
                   h.v[0].policy ? h.v[0].policy : "-", contacts, contacts == 1 ? "" : "s",
                   had == 1 && !strcmp(before, "released") ? " (already recorded by an "
                                                              "earlier release)" : "");
        else
            printf("dropped %s (ref %s, %s)\n", qid, h.v[0].ref,
                   h.v[0].policy ? h.v[0].policy : "-");
    }
    hrows_free(&h);
    return rc;
}

static int held_act(struct ctl *c, const char *pfdir, int release, int all, char **ids,
                    int n_ids, const char *why)
{
    const char *sub = release ? "release" : "drop";
    if (all == (n_ids > 0))
        return ctl_err(CTL_USAGE, cmd, "usage: held %s QUEUEID...|--all%s", sub,
                       release ? "" : " [--reason TEXT]");
    for (int i = 0; i < n_ids; i++)
        if (!qid_ok(ids[i]))
            return ctl_err(CTL_USAGE, cmd, "\"%s\" is not a queue ID (letters and digits only)",
                           ids[i]);
    if (why && strlen(why) > 500)
        return ctl_err(CTL_USAGE, cmd, "--reason is longer than 500 characters");
    if (geteuid() != 0)
        return ctl_err(CTL_USAGE, cmd, "%s needs root: postsuper, which changes the hold queue, "
                       "runs only as the superuser (try sudo)", sub);
    char admin[80];
    admin_name(admin, sizeof admin);
    int rc = CTL_OK;
    json_t *held = read_hold_queue(pfdir, &rc);
    if (!held)
        return rc;
    /* the targets, checked before anything changes */
    json_t *targets = json_array();
    if (all) {
        json_array_extend(targets, held);
    } else {
        for (int i = 0; i < n_ids; i++) {
            json_t *e = queue_entry(held, ids[i]);
            if (!e) {
                rc = ctl_err(CTL_USAGE, cmd, "%s is not in the hold queue of %s", ids[i], pfdir);
                continue;
            }
            json_array_append(targets, e);
        }
    }
    json_decref(held);
    if (rc != CTL_OK) {
        json_decref(targets);
        return rc;
    }
    struct helper hp = {0};
    if (json_array_size(targets) && helper_start(&hp, pfdir) < 0) {
        json_decref(targets);
        return ctl_err(CTL_USAGE, cmd, "cannot start the postsuper helper: %s", strerror(errno));
    }
    cg_store *st = ctl_store(c);
    if (!st) {
        helper_stop(&hp);
        json_decref(targets);
        return CTL_STORE;
    }
    json_t *res = json_array();
    size_t i, skipped = 0;
    json_t *e;
    json_array_foreach(targets, i, e)
    {
        if (all) {
            struct hrows h = {0};
            if (load_rows(st, e, &h) < 0) {
                rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
                break;
            }
            size_t n = h.n;
            hrows_free(&h);
            if (n == 0) {
                skipped++;
                continue;
            }
        }
        int r = act_one(c, &hp, st, e, release, admin, why, res);
        if (r > rc)
            rc = r;
        if (r == CTL_STORE)
            break;
    }
    helper_stop(&hp);
    json_decref(targets);
    if (c->json)
        ctl_json_print(res);
    else {
        if (all && json_array_size(res) == 0 && rc == CTL_OK)
            printf("no messages held by contactgate\n");
        if (skipped)
            printf("(%zu other message%s in the hold queue left alone: not held by contactgate)\n",
                   skipped, skipped == 1 ? "" : "s");
        json_decref(res);
    }
    return rc;
}

static int held_run(struct ctl *c, int argc, char **argv)
{
    if (argc < 1)
        return ctl_err(CTL_USAGE, cmd, "needs list, release or drop (see --help)");
    const char *sub = argv[0], *pfopt = NULL, *why = NULL;
    int all = 0, n_ids = 0;
    char **ids = cg_xcalloc((size_t)argc, sizeof *ids);
    const struct ctl_opt opts[] = {
        {"--postfix-config", &pfopt, NULL},
        {"--all", NULL, &all},
        {strcmp(sub, "drop") ? NULL : "--reason", &why, NULL}, /* drop only */
        {NULL, NULL, NULL},
    };
    int rc = ctl_args(cmd, argc - 1, argv + 1, opts, ids, argc, &n_ids);
    if (rc == CTL_OK && pfopt && !*pfopt)
        rc = ctl_err(CTL_USAGE, cmd, "--postfix-config needs a directory");
    if (rc == CTL_OK) {
        const char *pfdir = postfix_dir(pfopt);
        struct stat sb;
        int st_rc = stat(pfdir, &sb);
        if (st_rc < 0 || !S_ISDIR(sb.st_mode))
            rc = ctl_err(CTL_USAGE, cmd, "Postfix configuration directory %s: %s", pfdir,
                         st_rc < 0 ? strerror(errno) : "not a directory");
        else if (!strcmp(sub, "list")) {
            if (n_ids || all)
                rc = ctl_err(CTL_USAGE, cmd, "usage: held list [--postfix-config DIR] [--json]");
            else
                rc = held_list(c, pfdir);
        } else if (!strcmp(sub, "release") || !strcmp(sub, "drop")) {
            rc = held_act(c, pfdir, sub[0] == 'r', all, ids, n_ids, why);
        } else {
            rc = ctl_err(CTL_USAGE, cmd, "unknown subcommand \"%s\" (list, release, drop)", sub);
        }
    }
    free(ids);
    return rc;
}

const struct ctl_cmd ctl_cmd_held = {
    .name = "held",
    .synopsis = "list, release or drop the messages contactgate put in the hold queue",
    .help =
        "NAME\n"
        "  contactgatectl held - list, release or drop the messages contactgate held\n\n"
        "SYNOPSIS\n"
        "  contactgatectl held list [--postfix-config DIR] [--json]\n"
        "  contactgatectl held release QUEUEID...|--all [--postfix-config DIR] [--json]\n"
        "  contactgatectl held drop QUEUEID...|--all [--reason TEXT] [--postfix-config DIR]\n"
        "                      [--json]\n\n"
        "DESCRIPTION\n"
        "  A message whose verdict is hold is accepted into Postfix's hold queue\n"
        "  for compliance review (a milter quarantine). These commands work on\n"
        "  the messages that contactgate held: a message in the hold queue whose\n"
        "  queue ID has a hold decision in the decision log (recorded at or after\n"
        "  its arrival, as queue IDs are reused). Other held messages are left\n"
        "  alone.\n\n"
        "  list shows each one: queue ID, arrival, sender, recipients, department,\n"
        "  policy, reason and reference. It runs postqueue -c DIR -j.\n\n"
        "  release runs postsuper -c DIR -H QUEUEID, then postqueue -i QUEUEID so\n"
        "  that it goes out now, and records the contact: one contact per customer\n"
        "  of the held message (department and category of the hold decision,\n"
        "  channel email, time now, Message-ID, queue ID), and one decision row\n"
        "  per recipient with verdict \"released\", stage \"admin\", the hold's\n"
        "  reference and reason \"released by ADMIN\" (ADMIN is $SUDO_USER, else\n"
        "  $USER, else the user of the uid). The rows are written in one\n"
        "  transaction that commits only if postsuper released the message.\n\n"
        "  drop runs postsuper -c DIR -d QUEUEID hold (the message is deleted and\n"
        "  never delivered) and writes \"dropped\" decision rows, with reason\n"
        "  \"dropped by ADMIN[: TEXT]\". No contact is recorded.\n\n"
        "  DIR is --postfix-config, else $MAIL_CONFIG, else /etc/postfix. The\n"
        "  Postfix commands are run directly (no shell) with a minimal\n"
        "  environment; a QUEUEID is letters and digits only. release and drop\n"
        "  need root, as postsuper does.\n\n"
        "EXIT STATUS\n"
        "  0 ok; 1 usage error, a QUEUEID that is not in the hold queue or was not\n"
        "  held by contactgate, not root, or a failing postqueue/postsuper (its\n"
        "  message is shown); 2 store error\n\n"
        "EXAMPLES\n"
        "  contactgatectl held list\n"
        "  sudo contactgatectl held release 4XbQ2V1kz3\n"
        "  sudo contactgatectl held drop 4XbQ2V1kz3 --reason \"customer deceased, "
        "letter sent\"\n"
        "  sudo contactgatectl held release --all --postfix-config /etc/postfix-out\n",
    .run = held_run,
};
CTL_REGISTER(ctl_cmd_held)
