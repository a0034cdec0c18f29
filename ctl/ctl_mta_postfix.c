/*
 * ctl_mta_postfix.c - Postfix's hold queue for contactgatectl held (see
 * ctl_mta.h).
 *
 * A milter's quarantine puts the message in the hold queue: `postqueue -c
 * DIR -j` lists it (queue_name "hold"); `postsuper -c DIR -H ID` releases
 * it into the deferred queue and `postqueue -c DIR -i ID` delivers it now;
 * `postsuper -c DIR -d ID hold` deletes it, only while it is still held.
 * postsuper needs root; postqueue -j does not for the system instance.
 *
 * Postfix keeps no reason for a milter hold (cleanup logs only "milter
 * triggers HOLD action"), so a message's hold_reason is NULL: the reason
 * shown is the decision log's. Postfix reuses short queue IDs (they come
 * from inode numbers), so a decision counts for a held message only if it
 * is not older than the message's arrival less a little slack.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_mta.h"

#define ARRIVAL_SLACK 600 /* seconds a hold decision may precede the queue file's arrival */

/* pf_setup - DIR must be a directory */
static int pf_setup(struct ctl_mta *m, struct cg_buf *err)
{
    struct stat sb;
    int rc = stat(m->config, &sb);
    if (rc < 0 || !S_ISDIR(sb.st_mode)) {
        cg_buf_printf(err, "Postfix configuration directory %s: %s", m->config,
                      rc < 0 ? strerror(errno) : "not a directory");
        return -1;
    }
    return 0;
}

/* pf_message - one line of postqueue -j as a message (held only, or any);
 * 0 when it is not taken */
static int pf_message(json_t *o, struct ctl_mta_queue *q, int held_only)
{
    const char *qn = json_string_value(json_object_get(o, "queue_name"));
    const char *qid = json_string_value(json_object_get(o, "queue_id"));
    if (!qn || (held_only && strcmp(qn, "hold")) || !qid || !ctl_mta_qid_ok(qid))
        return 0;
    struct ctl_mta_msg *m = ctl_mta_msg_add(q);
    m->queue_id = cg_xstrdup(qid);
    m->queue = cg_xstrdup(qn);
    m->arrival = (int64_t)json_integer_value(json_object_get(o, "arrival_time"));
    m->rows_since = m->arrival > ARRIVAL_SLACK ? m->arrival - ARRIVAL_SLACK : 0;
    const char *s = json_string_value(json_object_get(o, "sender"));
    m->sender = s ? cg_xstrdup(s) : NULL;
    json_t *size = json_object_get(o, "message_size");
    m->size = json_is_integer(size) ? (long)json_integer_value(size) : -1;
    size_t k;
    json_t *rv;
    json_array_foreach(json_object_get(o, "recipients"), k, rv)
    {
        const char *a = json_string_value(json_object_get(rv, "address"));
        if (a)
            ctl_mta_msg_rcpt(m, a);
    }
    return 1;
}

/* pf_listing - postqueue -j: the held messages, or all */
static int pf_listing(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err,
                      int held_only)
{
    char *argv[] = {"postqueue", "-c", m->config, "-j", NULL};
    struct ctl_mta_run r;
    if (ctl_mta_exec(m, argv, &r) < 0 || r.code != 0) {
        char *e = ctl_mta_oneline(r.err.s);
        int eperm = strstr(e, "ermission denied") || strstr(e, "bad command startup");
        cg_buf_printf(err, "postqueue -c %s -j failed%s%s%s", m->config, *e ? ": " : "", e,
                      eperm ? " (reading another Postfix instance's queue needs root, or the "
                              "directory in alternate_config_directories)" : "");
        free(e);
        ctl_mta_run_free(&r);
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(r.out.s, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!json_is_object(o)) {
            cg_buf_printf(err, "postqueue -j printed a line that is not a JSON object: %.80s",
                          line);
            rc = -1;
        } else {
            pf_message(o, q, held_only);
        }
        json_decref(o);
    }
    ctl_mta_run_free(&r);
    if (rc < 0)
        ctl_mta_queue_free(q);
    return rc;
}

static int pf_list(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    return pf_listing(m, q, err, 1);
}

static int pf_queued(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err)
{
    return pf_listing(m, q, err, 0);
}

/* pf_remove - postsuper -d names the queue: the maildrop is not among the
 * ones it looks in by default */
static void pf_remove(const struct ctl_mta *m, const struct ctl_mta_msg *msg, struct cg_buf *text)
{
    cg_buf_printf(text, "postsuper -c %s -d %s %s", m->config, msg->queue_id,
                  msg->queue ? msg->queue : "");
}

/* postsuper_says - postsuper's summary ("Released from hold: 1 message",
 * "Deleted: 1 message") shows it acted on the message */
static int postsuper_says(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    return p && atoi(p + strlen(key)) >= 1;
}

static enum ctl_mta_rc pf_act(struct ctl_mta *m, enum ctl_mta_op op, const char *qid,
                              struct cg_buf *text)
{
    char *argv[8] = {0};
    int k = 0;
    argv[k++] = op == CTL_MTA_FLUSH ? "postqueue" : "postsuper";
    argv[k++] = "-c";
    argv[k++] = m->config;
    argv[k++] = op == CTL_MTA_RELEASE ? "-H" : op == CTL_MTA_DROP ? "-d" : "-i";
    argv[k++] = (char *)qid;
    if (op == CTL_MTA_DROP)
        argv[k++] = "hold"; /* only while it is held */
    struct ctl_mta_run r;
    int ran = ctl_mta_exec(m, argv, &r) == 0;
    /* postsuper reports on stderr, postqueue -i on stderr too */
    char *said = ctl_mta_oneline(r.err.s);
    char *out = ctl_mta_oneline(r.out.s);
    cg_buf_add(text, said);
    if (*out)
        cg_buf_printf(text, "%s%s", *said ? "; " : "", out);
    free(said);
    free(out);
    enum ctl_mta_rc rc;
    if (!ran)
        rc = CTL_MTA_FAILED;
    else if (text->s && (strstr(text->s, "reserved for the superuser") ||
                         strstr(text->s, "ermission denied")))
        rc = CTL_MTA_DENIED;
    else if (r.code != 0)
        rc = CTL_MTA_FAILED;
    else if (op == CTL_MTA_FLUSH)
        rc = CTL_MTA_DONE;
    else
        rc = postsuper_says(text->s, op == CTL_MTA_RELEASE ? "Released from hold: " : "Deleted: ")
                 ? CTL_MTA_DONE : CTL_MTA_GONE;
    ctl_mta_run_free(&r);
    return rc;
}

static const char *pf_command(enum ctl_mta_op op)
{
    return op == CTL_MTA_RELEASE ? "postsuper -H" : op == CTL_MTA_DROP ? "postsuper -d"
                                                                        : "postqueue -i";
}

const struct ctl_mta_ops ctl_mta_postfix = {
    .name = "postfix",
    .queue_name = "hold queue",
    .default_config = "/etc/postfix",
    .setup = pf_setup,
    .list = pf_list,
    .queued = pf_queued,
    .remove = pf_remove,
    .act = pf_act,
    .command = pf_command,
};
