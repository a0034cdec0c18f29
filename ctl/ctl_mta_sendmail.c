/*
 * ctl_mta_sendmail.c - Sendmail's quarantine for contactgatectl held (see
 * ctl_mta.h). Checked against Debian 12's Sendmail 8.17.
 *
 * A milter's smfi_quarantine keeps the message in the queue as a
 * quarantined envelope (hfID instead of qfID) with the reason on its "q"
 * line. What is used:
 *   list     sendmail -C CF -bp -qQ -v: the quarantined messages, each
 *            with its queue directory, sender, recipients and the full
 *            "QUARANTINE: reason" (-v: without it the reason is cut).
 *            The time has no year and no seconds (local time).
 *   release  sendmail -C CF -v -qIID -qQREASON -Q: an empty -Q removes the
 *            quarantine; -qI matches the ID as a substring and -qQ the
 *            reason, so both are given, and an ID that is part of another
 *            quarantined ID with the same reason is refused. Success is
 *            "ID: Removed quarantine of ..." in what it prints (it exits 0
 *            with "No changes" when nothing matched).
 *   flush    sendmail -C CF -qIID: a queue run for it, in the background.
 *   drop     Sendmail has no command for it: the helper finds the message
 *            in the listing again, locks hfID as Sendmail does (flock,
 *            exclusive, not waiting: a queue runner that holds it means
 *            "busy, try again"), checks the q line, and removes hfID, then
 *            dfID and xfID (in the qf/, df/, xf/ subdirectories when the
 *            queue directory has them).
 * Sendmail's queue IDs carry the time they were made and are not reused,
 * so the slack for the decision rows is a day (it covers the listing's
 * minute precision and a time-zone difference).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_mta.h"

#define ROWS_SLACK 86400

/* sm_setup - CF must be a file */
static int sm_setup(struct ctl_mta *m, struct cg_buf *err)
{
    struct stat sb;
    int rc = stat(m->config, &sb);
    if (rc < 0 || !S_ISREG(sb.st_mode)) {
        cg_buf_printf(err, "Sendmail configuration %s: %s", m->config,
                      rc < 0 ? strerror(errno) : "not a file");
        return -1;
    }
    return 0;
}

/* --- the listing ------------------------------------------------------------- */

/* listed_time - "Nov 30 15:06" (local time, no year) as the latest such
 * time that is not more than a day ahead of now; 0 if it is not one */
static int64_t listed_time(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int day, hour, min;
    if (sscanf(s, "%3s %d %d:%d", mon, &day, &hour, &min) != 4 || strlen(mon) != 3)
        return 0;
    const char *p = strstr(months, mon);
    if (!p || (p - months) % 3)
        return 0;
    time_t now = time(NULL);
    struct tm lt;
    localtime_r(&now, &lt);
    for (int back = 0; back < 2; back++) {
        struct tm t = {.tm_year = lt.tm_year - back, .tm_mon = (int)((p - months) / 3),
                       .tm_mday = day, .tm_hour = hour, .tm_min = min, .tm_isdst = -1};
        time_t v = mktime(&t);
        if (v != (time_t)-1 && v <= now + 86400)
            return (int64_t)v;
    }
    return 0;
}

/* entry_line - "QID[flag] SIZE PRIORITY Mon DD HH:MM SENDER" (sendmail
 * -bp -v) as a new message; -1 if the line is not one */
static int entry_line(const char *line, const char *dir, struct ctl_mta_queue *q)
{
    size_t n = 0;
    while (isalnum((unsigned char)line[n]))
        n++;
    const char *p = line + n;
    while (*p && !isspace((unsigned char)*p))
        p++; /* '*' locked, 'X' too expensive, '-' too young, '?' lost */
    char *end;
    long size = strtol(p, &end, 10);
    if (n == 0 || end == p)
        return -1;
    p = end;
    strtol(p, &end, 10); /* priority */
    if (end == p)
        return -1;
    p = end;
    while (*p && !isupper((unsigned char)*p))
        p++;
    if (strlen(p) < 12)
        return -1;
    char when[13];
    memcpy(when, p, 12);
    when[12] = 0;
    int64_t t = listed_time(when);
    if (!t)
        return -1;
    p += 12;
    while (*p == ' ')
        p++;
    struct ctl_mta_msg *m = ctl_mta_msg_add(q);
    m->queue_id = cg_xcalloc(n + 1, 1);
    memcpy(m->queue_id, line, n);
    m->size = size;
    m->arrival = t;
    m->rows_since = t - ROWS_SLACK;
    m->queue_dir = dir ? cg_xstrdup(dir) : NULL;
    /* "<a@b>", "<>" for a bounce */
    size_t len = strlen(p);
    if (len >= 2 && p[0] == '<' && p[len - 1] == '>')
        m->sender = cg_xstrndup(p + 1, len - 2);
    else
        m->sender = cg_xstrdup(p);
    return ctl_mta_qid_ok(m->queue_id) ? 0 : -1;
}

/* dir_line - "/path (N requests)" or "/path is empty": the directory
 * (malloc'ed), else NULL */
static char *dir_line(const char *s)
{
    if (s[0] != '/')
        return NULL;
    const char *e = strstr(s, " is empty");
    if (e && !e[9])
        return cg_xstrndup(s, (size_t)(e - s));
    e = strrchr(s, '(');
    size_t len = strlen(s);
    if (e && e > s && e[-1] == ' ' && isdigit((unsigned char)e[1]) &&
        len > 9 && (!strcmp(s + len - 9, "requests)") || !strcmp(s + len - 8, "request)")))
        return cg_xstrndup(s, (size_t)(e - 1 - s));
    return NULL;
}

/* parse_listing - the quarantined messages in the text of sendmail -bp -qQ -v */
static int parse_listing(char *text, struct ctl_mta_queue *q, struct cg_buf *err)
{
    char *dir = NULL, *save = NULL;
    struct ctl_mta_msg *cur = NULL;
    int rc = 0;
    for (char *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        const char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *d;
        if (!*s || !strncmp(s, "-----Q-ID-----", 14) || !strncmp(s, "Total requests:", 15))
            continue;
        if ((d = dir_line(s))) {
            free(dir);
            dir = d;
            cur = NULL;
        } else if (s == line) {
            size_t before = q->n;
            if (entry_line(line, dir, q) < 0) {
                cg_buf_printf(err, "sendmail -bp printed a line that is not a queue entry: "
                                   "%.120s", line);
                rc = -1;
            } else {
                cur = &q->v[before];
            }
        } else if (!cur) {
            cg_buf_printf(err, "sendmail -bp printed a line outside any queue entry: %.120s",
                          line);
            rc = -1;
        } else if (!strncmp(s, "QUARANTINE: ", 12)) {
            free(cur->hold_reason);
            cur->hold_reason = cg_xstrdup(s + 12);
        } else if (*s != '(') {
            /* a recipient, "<a@b>" or bare; a long one is cut without its '>' */
            const char *b = *s == '<' ? s + 1 : s, *e = strchr(b, *s == '<' ? '>' : ' ');
            char *a = cg_xstrndup(b, e ? (size_t)(e - b) : strlen(b));
            ctl_mta_msg_rcpt(cur, a);
            free(a);
        }
        /* else a status line: "(Deferred: ...)" */
    }
    free(dir);
    return rc;
}

/* sm_listing - sendmail -C CF -bp -v (-qQ: the quarantined ones) into q,
 * each message marked as of `queue`; run as whoever runs contactgatectl
 * (root in the helper) */
static int sm_listing(struct ctl_mta *m, const char *cf, int quarantined, const char *queue,
                      struct ctl_mta_queue *q, struct cg_buf *err)
{
    char *argv[] = {"sendmail", "-C", (char *)cf, "-bp", "-v", quarantined ? "-qQ" : NULL, NULL};
    struct ctl_mta_run r;
    if (ctl_mta_exec(m, argv, &r) < 0 || r.code != 0) {
        char *e = ctl_mta_oneline(r.err.s);
        char *o = ctl_mta_oneline(r.out.s);
        cg_buf_printf(err, "sendmail -C %s -bp%s failed%s%s%s%s", cf, quarantined ? " -qQ" : "",
                      *e || *o ? ": " : "", e, *e && *o ? "; " : "", o);
        free(e);
        free(o);
        ctl_mta_run_free(&r);
        return -1;
    }
    size_t before = q->n;
    int rc = parse_listing(r.out.s, q, err);
    ctl_mta_run_free(&r);
    for (size_t i = before; i < q->n; i++)
        q->v[i].queue = cg_xstrdup(queue);
    if (rc < 0)
        ctl_mta_queue_free(q);
    return rc;
}

static int sm_list(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    return sm_listing(m, m->config, 1, "mta", q, err);
}

/* sm_queued - the MTA's queue, then the submission queue of the MSP whose
 * submit.cf is next to sendmail.cf (Debian: /etc/mail/submit.cf), where a
 * sendmail(1) submission waits while the MTA defers it */
static int sm_queued(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    if (sm_listing(m, m->config, 0, "mta", q, err) < 0)
        return -1;
    const char *slash = strrchr(m->config, '/');
    char *submit = cg_xasprintf("%.*ssubmit.cf", slash ? (int)(slash - m->config + 1) : 0,
                                m->config);
    struct stat sb;
    int rc = stat(submit, &sb) == 0 ? sm_listing(m, submit, 0, "msp", q, err) : 0;
    free(submit);
    return rc;
}

/* sm_remove - Sendmail has no delete command: the queue files go */
static void sm_remove(const struct ctl_mta *m, const struct ctl_mta_msg *msg, struct cg_buf *text)
{
    (void)m;
    const char *d = msg->queue_dir ? msg->queue_dir : "QUEUE-DIRECTORY";
    cg_buf_printf(text, "rm %s/qf%s %s/df%s (while no queue run has it; the qf/ and df/ "
                  "subdirectories if the queue has them)", d, msg->queue_id, d, msg->queue_id);
}

/* --- release, flush ------------------------------------------------------------ */

/* denied - the text says the caller lacks the privilege */
static int denied(const char *t)
{
    return t && (strstr(t, "ermission denied") || strstr(t, "not permitted") ||
                 strstr(t, "must be root"));
}

/* sm_release - remove the quarantine of exactly one listed message */
static enum ctl_mta_rc sm_release(struct ctl_mta *m, const struct ctl_mta_queue *q,
                                  const struct ctl_mta_msg *msg, struct cg_buf *text)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct ctl_mta_msg *o = &q->v[i];
        if (o != msg && strstr(o->queue_id, msg->queue_id) &&
            (!msg->hold_reason || (o->hold_reason && strstr(o->hold_reason, msg->hold_reason)))) {
            cg_buf_printf(text, "sendmail -qI%s would also match quarantined message %s; "
                                "release it with sendmail -qI -Q by hand",
                          msg->queue_id, o->queue_id);
            return CTL_MTA_FAILED;
        }
    }
    struct cg_buf qi = {0}, qq = {0};
    cg_buf_printf(&qi, "-qI%s", msg->queue_id);
    cg_buf_printf(&qq, "-qQ%s", msg->hold_reason ? msg->hold_reason : "");
    char *argv[] = {"sendmail", "-C", m->config, "-v", qi.s, qq.s, "-Q", NULL};
    struct ctl_mta_run r;
    int ran = ctl_mta_exec(m, argv, &r) == 0;
    cg_buf_free(&qi);
    cg_buf_free(&qq);
    enum ctl_mta_rc rc = CTL_MTA_FAILED;
    int mine = 0;
    char *save = NULL;
    for (char *l = ran ? strtok_r(r.out.s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        const char *c = strstr(l, ": Removed quarantine");
        if (!c)
            continue;
        if ((size_t)(c - l) == strlen(msg->queue_id) && !strncmp(l, msg->queue_id, (size_t)(c - l)))
            mine = 1;
        else
            cg_buf_printf(text, "%salso released: %.*s", text->len ? "; " : "", (int)(c - l), l);
    }
    char *e = ctl_mta_oneline(r.err.s);
    if (mine)
        rc = CTL_MTA_DONE;
    else if (denied(e))
        rc = CTL_MTA_DENIED;
    else if (ran && r.code == 0)
        rc = CTL_MTA_GONE; /* "No changes": not quarantined any more */
    if (rc != CTL_MTA_DONE && *e)
        cg_buf_printf(text, "%s%s", text->len ? "; " : "", e);
    free(e);
    ctl_mta_run_free(&r);
    return rc;
}

/* sm_flush - a background queue run for this message */
static enum ctl_mta_rc sm_flush(struct ctl_mta *m, const char *qid, struct cg_buf *text)
{
    struct cg_buf qi = {0};
    cg_buf_printf(&qi, "-qI%s", qid);
    char *argv[] = {"sendmail", "-C", m->config, qi.s, NULL};
    struct ctl_mta_run r;
    int ran = ctl_mta_exec(m, argv, &r) == 0;
    cg_buf_free(&qi);
    char *e = ctl_mta_oneline(r.err.s);
    cg_buf_add(text, e);
    free(e);
    enum ctl_mta_rc rc = ran && r.code == 0 ? CTL_MTA_DONE : CTL_MTA_FAILED;
    ctl_mta_run_free(&r);
    return rc;
}

/* --- drop ------------------------------------------------------------------------ */

/* queue_file - DIR/SUB/PFXID when DIR/SUB is a directory, else DIR/PFXID */
static char *queue_file(const char *dir, const char *sub, const char *pfx, const char *qid)
{
    struct cg_buf b = {0};
    struct stat sb;
    cg_buf_printf(&b, "%s/%s", dir, sub);
    int has_sub = stat(b.s, &sb) == 0 && S_ISDIR(sb.st_mode);
    cg_buf_free(&b);
    if (has_sub)
        cg_buf_printf(&b, "%s/%s/%s%s", dir, sub, pfx, qid);
    else
        cg_buf_printf(&b, "%s/%s%s", dir, pfx, qid);
    return b.s;
}

/* quarantined - the envelope open on fd has a "q" (quarantine reason) line */
static int quarantined(int fd)
{
    FILE *f = fdopen(dup(fd), "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0)
        found = line[0] == 'q';
    free(line);
    fclose(f);
    return found;
}

/* sm_drop - remove the quarantined envelope and its data file */
static enum ctl_mta_rc sm_drop(const struct ctl_mta_msg *msg, struct cg_buf *text)
{
    if (!msg->queue_dir || msg->queue_dir[0] != '/') {
        cg_buf_printf(text, "the listing names no queue directory for %s", msg->queue_id);
        return CTL_MTA_FAILED;
    }
    char *hf = queue_file(msg->queue_dir, "qf", "hf", msg->queue_id);
    enum ctl_mta_rc rc = CTL_MTA_FAILED;
    struct stat sb;
    int fd = open(hf, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? CTL_MTA_GONE : errno == EACCES ? CTL_MTA_DENIED : CTL_MTA_FAILED;
        cg_buf_printf(text, "%s: %s", hf, strerror(errno));
    } else if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        cg_buf_printf(text, "%s: not a queue file", hf);
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? CTL_MTA_BUSY : CTL_MTA_FAILED;
        cg_buf_printf(text, "%s: %s", hf, errno == EWOULDBLOCK ? "Sendmail is working on it "
                                                                 "(locked)" : strerror(errno));
    } else if (!quarantined(fd)) {
        rc = CTL_MTA_GONE;
        cg_buf_printf(text, "%s: no longer quarantined", hf);
    } else if (unlink(hf) < 0) {
        rc = errno == EACCES || errno == EPERM ? CTL_MTA_DENIED : CTL_MTA_FAILED;
        cg_buf_printf(text, "%s: %s", hf, strerror(errno));
    } else {
        /* the envelope is gone, so is the message; then its data and transcript */
        rc = CTL_MTA_DONE;
        cg_buf_printf(text, "removed %s", hf);
        static const char *const other[] = {"df", "xf"};
        for (size_t i = 0; i < 2; i++) {
            char *f = queue_file(msg->queue_dir, other[i], other[i], msg->queue_id);
            if (unlink(f) == 0)
                cg_buf_printf(text, ", %s", f);
            else if (errno != ENOENT)
                cg_buf_printf(text, "; warning: %s: %s (remove it by hand)", f, strerror(errno));
            free(f);
        }
    }
    if (fd >= 0)
        close(fd); /* and the lock */
    free(hf);
    return rc;
}

static enum ctl_mta_rc sm_act(struct ctl_mta *m, enum ctl_mta_op op, const char *qid,
                              struct cg_buf *text)
{
    if (op == CTL_MTA_FLUSH)
        return sm_flush(m, qid, text);
    /* find it again: the helper takes nothing but the queue ID on trust */
    struct ctl_mta_queue q = {0};
    struct cg_buf err = {0};
    if (sm_list(m, &q, &err) < 0) {
        cg_buf_add(text, err.s ? err.s : "sendmail -bp -qQ failed");
        cg_buf_free(&err);
        return denied(text->s) ? CTL_MTA_DENIED : CTL_MTA_FAILED;
    }
    const struct ctl_mta_msg *msg = ctl_mta_find(&q, qid);
    enum ctl_mta_rc rc;
    if (!msg) {
        cg_buf_printf(text, "%s is not in the quarantine", qid);
        rc = CTL_MTA_GONE;
    } else {
        rc = op == CTL_MTA_RELEASE ? sm_release(m, &q, msg, text) : sm_drop(msg, text);
    }
    ctl_mta_queue_free(&q);
    return rc;
}

static const char *sm_command(enum ctl_mta_op op)
{
    return op == CTL_MTA_RELEASE ? "sendmail -qI -qQ -Q"
           : op == CTL_MTA_DROP  ? "removal of the quarantined queue files"
                                 : "sendmail -qI";
}

const struct ctl_mta_ops ctl_mta_sendmail = {
    .name = "sendmail",
    .queue_name = "quarantine",
    .default_config = "/etc/mail/sendmail.cf",
    .setup = sm_setup,
    .list = sm_list,
    .queued = sm_queued,
    .remove = sm_remove,
    .act = sm_act,
    .command = sm_command,
};
