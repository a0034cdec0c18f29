/*
 * ctl_mta.h - the MTA's hold queue behind one small interface, for
 * contactgatectl held: list what the MTA holds, release a message, drop
 * it, deliver a released one now. Two adapters: Postfix's hold queue
 * (ctl_mta_postfix.c: postqueue, postsuper) and Sendmail's quarantine
 * (ctl_mta_sendmail.c: sendmail -bp -qQ, sendmail -qI -Q, the queue files).
 *
 * Which MTA: --mta postfix|sendmail; else --postfix-config or
 * --sendmail-config says it; else $MAIL_CONFIG (Postfix's own variable)
 * means Postfix; else detection: Postfix when its postqueue and
 * /etc/postfix/main.cf exist (Debian's postfix and sendmail packages
 * conflict, so an installed Postfix settles it), else Sendmail when
 * /etc/mail/sendmail.cf exists. Nothing found is an error that names
 * what was looked for.
 *
 * Privileges: changing a queue needs root, while contactgatectl opens the
 * store as the database's owner and gives up root for good. So before the
 * store is opened, ctl_mta_helper_start forks a helper that keeps root and
 * does one thing per request: release, drop or flush one validated queue
 * ID. The MTA's commands are run with execve (no shell), a fixed argument
 * vector and a minimal environment.
 */
#ifndef CTL_MTA_H
#define CTL_MTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cg_util.h"

/* A message the MTA holds (whoever held it). */
struct ctl_mta_msg {
    char *queue_id;
    int64_t arrival;        /* when it entered the queue; 0 unknown */
    int64_t rows_since;     /* decisions about this message are not older
                             * than this (arrival less the MTA's slack) */
    char *sender;           /* NULL unknown */
    char **rcpts;           /* as the MTA lists them (Sendmail's listing
                             * cuts long ones: no closing '>') */
    size_t n_rcpts;
    char *hold_reason;      /* the MTA's own record of why it holds the
                             * message (Sendmail's quarantine reason);
                             * NULL where it keeps none (Postfix) */
    long size;              /* bytes; -1 unknown */
    char *queue_dir;        /* Sendmail: the queue directory it is in */
    char *queue;            /* which queue (ops->queued): Postfix's queue name
                             * ("maildrop", "deferred", "hold", ...), Sendmail's
                             * "mta" or "msp" (the submission queue) */
};
struct ctl_mta_queue {
    struct ctl_mta_msg *v;
    size_t n;
};
void ctl_mta_queue_free(struct ctl_mta_queue *q);
/* ctl_mta_find - the held message with exactly this queue ID, or NULL */
const struct ctl_mta_msg *ctl_mta_find(const struct ctl_mta_queue *q, const char *qid);

/* What changes a held message (run as root, in the helper). */
enum ctl_mta_op {
    CTL_MTA_RELEASE = 'R',  /* out of hold, into the normal queue */
    CTL_MTA_DROP = 'D',     /* deleted, never delivered */
    CTL_MTA_FLUSH = 'F',    /* deliver a released message now */
};
enum ctl_mta_rc {
    CTL_MTA_DONE = 0,
    CTL_MTA_GONE,           /* not (or no longer) held */
    CTL_MTA_DENIED,         /* not privileged enough */
    CTL_MTA_BUSY,           /* the MTA is working on it: try again */
    CTL_MTA_FAILED,         /* could not run or failed: see the text */
};

/* The settings from the command line; NULL: the default. */
struct ctl_mta_opts {
    const char *mta;            /* "postfix", "sendmail" */
    const char *postfix_config; /* Postfix's configuration directory */
    const char *sendmail_config;/* sendmail.cf */
    const char *command_dir;    /* where the MTA's programs are */
};

struct ctl_mta;

/* One adapter. */
struct ctl_mta_ops {
    const char *name;           /* "postfix" */
    const char *queue_name;     /* "hold queue", "quarantine" */
    const char *default_config; /* "/etc/postfix", "/etc/mail/sendmail.cf" */
    /* setup - check m->config (a directory, a file) */
    int (*setup)(struct ctl_mta *m, struct cg_buf *err);
    /* list - every message the MTA holds; -1 with the reason in err */
    int (*list)(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err);
    /* queued - every message waiting anywhere, held or not: Postfix's
     * maildrop (sendmail(1) submissions not yet taken in), incoming,
     * active, deferred and hold queues; Sendmail's queue and, when
     * submit.cf is next to sendmail.cf, its submission (MSP) queue */
    int (*queued)(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err);
    /* remove - the command an admin runs to delete message msg for good
     * (printed, not run): into text */
    void (*remove)(const struct ctl_mta *m, const struct ctl_mta_msg *msg, struct cg_buf *text);
    /* act - op on queue ID qid (validated); what the MTA said goes to text */
    enum ctl_mta_rc (*act)(struct ctl_mta *m, enum ctl_mta_op op, const char *qid,
                           struct cg_buf *text);
    /* command - what op runs, for the decision log ("postsuper -H") */
    const char *(*command)(enum ctl_mta_op op);
};
extern const struct ctl_mta_ops ctl_mta_postfix;
extern const struct ctl_mta_ops ctl_mta_sendmail;

struct ctl_mta {
    const struct ctl_mta_ops *ops;
    char *config;               /* the configuration directory or file */
    char *command_dir;          /* NULL: the usual places */
    pid_t helper_pid;           /* 0: no helper */
    int helper_to, helper_from; /* its request and reply pipes */
};

/* ctl_mta_open - choose and check the adapter (see the top of this file);
 * NULL with the reason in err */
struct ctl_mta *ctl_mta_open(const struct ctl_mta_opts *o, struct cg_buf *err);
/* ctl_mta_free - stop the helper, free; NULL-safe, sets *m to NULL */
void ctl_mta_free(struct ctl_mta **m);
/* ctl_mta_list - ops->list; ctl_mta_queued - ops->queued */
int ctl_mta_list(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err);
int ctl_mta_queued(struct ctl_mta *m, struct ctl_mta_queue *q, struct cg_buf *err);
/* ctl_mta_helper_start - fork the root helper (before root is given up) */
int ctl_mta_helper_start(struct ctl_mta *m, struct cg_buf *err);
/* ctl_mta_act - op on qid through the helper; what the MTA said in text */
enum ctl_mta_rc ctl_mta_act(struct ctl_mta *m, enum ctl_mta_op op, const char *qid,
                            struct cg_buf *text);

/* --- for the adapters ---------------------------------------------------- */
/* ctl_mta_qid_ok - a queue ID: letters and digits, 1 to 63 of them */
int ctl_mta_qid_ok(const char *s);
/* A command's outcome. */
struct ctl_mta_run {
    int code;               /* exit status; -1 killed or not run */
    struct cg_buf out;      /* stdout ("" at least, when it ran) */
    struct cg_buf err;      /* stderr (capped), or why it did not run */
};
/* ctl_mta_exec - run the MTA's program argv[0] (a bare name, found in
 * m->command_dir, else the usual command directories, else PATH) with
 * argv; stdin /dev/null, a minimal environment. 0 when it ran (see
 * r->code), -1 when it could not be started (r->err says why). */
int ctl_mta_exec(const struct ctl_mta *m, char *const argv[], struct ctl_mta_run *r);
void ctl_mta_run_free(struct ctl_mta_run *r);
/* ctl_mta_oneline - the text without trailing blanks, lines joined by
 * "; " (malloc'ed) */
char *ctl_mta_oneline(const char *s);
/* ctl_mta_msg_add - a new zeroed message at the end of q */
struct ctl_mta_msg *ctl_mta_msg_add(struct ctl_mta_queue *q);
void ctl_mta_msg_rcpt(struct ctl_mta_msg *msg, const char *addr);

#endif
