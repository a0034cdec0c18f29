/*
 * cg_harness.h - drive the real engine from a unit test: a config written
 * from text, a real SQLite store, messages sent through the same RCPT and
 * end-of-message steps the milter uses, at an injected time.
 *
 * Header-only (static functions) so each test binary stays one .c file.
 *
 *   h_init("test_x")               find the build dir and a temp dir
 *   cfg = h_config(text)           "@PLUGINS@" -> build/plugins,
 *                                  "@TESTPLUGINS@" -> build/tests/plugins,
 *                                  "@TMP@" -> the temp dir; NULL + message
 *                                  on error
 *   st = h_store()                 a fresh :memory: store
 *   v = h_send(cfg, st, &s)        one message; returns the end-of-message
 *                                  verdict, or -1 when every recipient was
 *                                  refused at RCPT (see s.rcpt_d[])
 *   h_done()                       remove the temp dir
 */
#ifndef CG_HARNESS_H
#define CG_HARNESS_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_engine.h"
#include "cg_log.h"
#include "cg_store.h"
#include "cg_test.h"
#include "cg_util.h"

#define H_MAX_RCPTS 8
#define H_MAX_HEADERS 8

static char h_tmpdir[PATH_MAX];
static char h_build[PATH_MAX];
static char h_plugins[PATH_MAX + 16];
static char h_test_plugins[PATH_MAX + 32];
static char h_err[1024];

/* h_init - call first from main(); exits when the build is not found */
__attribute__((unused)) static void h_init(const char *name)
{
    cg_log_open(name, 0, 0, LOG_ERR);
    const char *b = getenv("CG_BUILD_DIR") ? getenv("CG_BUILD_DIR") : "build";
    if (!realpath(b, h_build)) {
        fprintf(stderr, "%s: build dir %s not found (run make first)\n", name, b);
        exit(1);
    }
    snprintf(h_plugins, sizeof h_plugins, "%s/plugins", h_build);
    snprintf(h_test_plugins, sizeof h_test_plugins, "%s/tests/plugins", h_build);
    snprintf(h_tmpdir, sizeof h_tmpdir, "/tmp/cg-%s.XXXXXX", name);
    if (!mkdtemp(h_tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

__attribute__((unused)) static void h_done(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", h_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", h_tmpdir);
}

/* h_subst - text with @PLUGINS@ and @TMP@ replaced (malloc'ed) */
__attribute__((unused)) static char *h_subst(const char *text)
{
    struct cg_buf b = {0};
    for (const char *p = text; *p;) {
        if (!strncmp(p, "@PLUGINS@", 9)) {
            cg_buf_add(&b, h_plugins);
            p += 9;
        } else if (!strncmp(p, "@TESTPLUGINS@", 13)) {
            cg_buf_add(&b, h_test_plugins);
            p += 13;
        } else if (!strncmp(p, "@TMP@", 5)) {
            cg_buf_add(&b, h_tmpdir);
            p += 5;
        } else {
            cg_buf_addn(&b, p++, 1);
        }
    }
    return b.s ? b.s : cg_xstrdup("");
}

/* h_config - write the text to a file and load it with plugins; on error
 * returns NULL and leaves the message in h_err (tests of bad params check
 * it) */
__attribute__((unused)) static struct cg_config *h_config(const char *text)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.json", h_tmpdir);
    char *t = h_subst(text);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        free(t);
        cg_errf(h_err, sizeof h_err, "cannot write %s", path);
        return NULL;
    }
    fputs(t, fp);
    fclose(fp);
    free(t);
    h_err[0] = 0;
    return cg_config_load(path, 0, h_err, sizeof h_err);
}

/* h_store - a fresh :memory: store; NULL is a failed check */
__attribute__((unused)) static cg_store *h_store(void)
{
    char err[256];
    cg_store *st = cg_store_open(":memory:", 0, err, sizeof err);
    if (!st)
        fprintf(stderr, "  store: %s\n", err);
    CG_CHECK(st != NULL);
    return st;
}

/* One message to send. */
struct h_msg {
    const char *sender;
    const char *rcpts[H_MAX_RCPTS];   /* NULL-terminated */
    const char *headers[H_MAX_HEADERS][2]; /* {name, value}, {NULL} ends */
    const char *subject;               /* default "hello" */
    const char *message_id;            /* default "<m@test>" */
    const char *body;                  /* NULL: no body (as when no plugin
                                          wants it) */
    int64_t now;
    /* results */
    struct cg_decision rcpt_d[H_MAX_RCPTS];
    struct cg_decision eom_d;
};

/* h_send - RCPT for every recipient, then end of message (recorded),
 * each in a transaction like the decider's; a failed step of the engine
 * or the store is a failed check (the verdict is then -2) */
__attribute__((unused)) static int h_send(const struct cg_config *cfg, cg_store *st, struct h_msg *s)
{
    struct cg_msg m;
    cg_msg_init(&m);
    m.now = s->now;
    m.sender = cg_xstrdup(s->sender ? s->sender : "");
    cg_msg_set(&m.client_addr, "192.0.2.10");
    cg_msg_set(&m.queue_id, "4ABC123");
    int left = 0;
    for (size_t i = 0; i < H_MAX_RCPTS && s->rcpts[i]; i++) {
        struct cg_rcpt *r = cg_msg_add_rcpt(&m, s->rcpts[i]);
        CG_CHECK_INT(cg_store_begin(st, 1), 0);
        CG_CHECK_INT(cg_engine_rcpt(cfg, st, &m, r, &s->rcpt_d[i]), 0);
        CG_CHECK_INT(cg_store_commit(st), 0);
        r = &m.rcpts[i];
        if (s->rcpt_d[i].verdict >= CG_ACT_DEFER)
            r->refused = 1;
        else
            left++;
    }
    for (size_t i = 0; i < H_MAX_HEADERS && s->headers[i][0]; i++)
        cg_msg_add_header(&m, s->headers[i][0], s->headers[i][1]);
    cg_msg_add_header(&m, "Subject", s->subject ? s->subject : "hello");
    cg_msg_set(&m.message_id, s->message_id ? s->message_id : "<m@test>");
    if (s->body)
        cg_msg_add_body(&m, (const unsigned char *)s->body, strlen(s->body));
    int verdict = -1;
    memset(&s->eom_d, 0, sizeof s->eom_d);
    if (left) {
        CG_CHECK_INT(cg_store_begin(st, 1), 0);
        int rc = cg_engine_eom(cfg, st, &m, 1, &s->eom_d);
        CG_CHECK_INT(rc, 0);
        CG_CHECK_INT(cg_store_commit(st), 0);
        verdict = rc == 0 ? s->eom_d.verdict : -2;
    }
    cg_msg_clear(&m);
    return verdict;
}

/* h_simple - one recipient, no headers: the verdict (-1: refused at RCPT,
 * then *rcpt_verdict says how) */
__attribute__((unused)) static int h_simple(const struct cg_config *cfg, cg_store *st, const char *sender,
                    const char *rcpt, int64_t now, const char *category, int *rcpt_verdict)
{
    struct h_msg s = {.sender = sender, .rcpts = {rcpt}, .now = now};
    if (category) {
        s.headers[0][0] = "X-Contact-Category";
        s.headers[0][1] = category;
    }
    int v = h_send(cfg, st, &s);
    if (rcpt_verdict)
        *rcpt_verdict = s.rcpt_d[0].verdict;
    return v;
}

/* h_refused - the config was refused and the error contains `want`;
 * frees cfg if it was wrongly loaded. h_refused_param: the error names
 * policies[0].params.KEY (KEY may go on: "windows[0].from: \"25:00\""). */
__attribute__((unused)) static void h_refused(struct cg_config *cfg, const char *want)
{
    CG_CHECK(cfg == NULL);
    CG_CHECK_CONTAINS(h_err, want);
    cg_config_unref(&cfg);
}

__attribute__((unused)) static void h_refused_param(struct cg_config *cfg, const char *key)
{
    char want[256];
    snprintf(want, sizeof want, "policies[0].params.%s", key);
    h_refused(cfg, want);
}

/* h_contact - one contact in the history (another channel, or mail sent
 * before the test); weight 1, no digest unless given */
__attribute__((unused)) static void h_contact(cg_store *st, const char *customer, const char *dept,
                                              const char *category, const char *channel,
                                              int64_t ts, const char *digest)
{
    struct cg_contact_row c = {.ts = ts, .customer = customer, .address = customer,
                               .department = dept, .category = category,
                               .channel = channel ? channel : "email", .weight = 1,
                               .digest = digest};
    if (cg_store_contact_add(st, &c) != 0)
        fprintf(stderr, "  contact_add: %s\n", cg_store_errmsg(st));
}

/* h_result - the verdict of a sent message, wherever it was decided
 * (RCPT or end of message), and its retry-after */
__attribute__((unused)) static int h_result(const struct h_msg *s, int v, int64_t *retry_r)
{
    const struct cg_decision *d = v == -1 ? &s->rcpt_d[0] : &s->eom_d;
    if (retry_r)
        *retry_r = d->retry_after;
    return d->verdict;
}

#endif
