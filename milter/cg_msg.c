/*
 * cg_msg.c - building and freeing the plain message struct (cg_engine.h)
 * that the milter callbacks, contactgatectl check and the tests fill.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cg_engine.h"
#include "cg_util.h"

/* cg_msg_init - an empty message */
void cg_msg_init(struct cg_msg *m)
{
    memset(m, 0, sizeof *m);
    m->department = "unknown";
    m->dept_source = "none";
    m->category_source = "none";
}

/* cg_msg_set - replace a string field with a copy */
void cg_msg_set(char **field, const char *value)
{
    free(*field);
    *field = cg_xstrdup(value);
}

/* rcpt_free - one recipient's strings */
static void rcpt_free(struct cg_rcpt *r)
{
    free(r->raw);
    free(r->addr);
    free(r->customer);
    free(r->timezone);
}

/* cg_msg_reset_transaction - forget everything after MAIL FROM's start;
 * keep the connection (client, daemon name, auth) */
void cg_msg_reset_transaction(struct cg_msg *m)
{
    for (size_t i = 0; i < m->n_hdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    m->n_hdrs = 0;
    for (size_t i = 0; i < m->n_rcpts; i++)
        rcpt_free(&m->rcpts[i]);
    m->n_rcpts = 0;
    free(m->queue_id);
    free(m->sender);
    free(m->message_id);
    free(m->subject);
    free(m->category);
    free(m->category_claim);
    m->queue_id = m->sender = m->message_id = m->subject = NULL;
    m->category = m->category_claim = NULL;
    m->dept = NULL;
    m->department = "unknown";
    m->dept_source = "none";
    m->category_source = "none";
}

/* cg_msg_clear - free everything; the struct can be reused after init */
void cg_msg_clear(struct cg_msg *m)
{
    cg_msg_reset_transaction(m);
    free(m->hdrs);
    free(m->rcpts);
    free(m->auth_user);
    free(m->client_addr);
    free(m->daemon_name);
    cg_msg_init(m);
}

/* cg_msg_add_header - append a header (copies) */
void cg_msg_add_header(struct cg_msg *m, const char *name, const char *value)
{
    if (m->n_hdrs == m->cap_hdrs) {
        m->cap_hdrs = m->cap_hdrs ? m->cap_hdrs * 2 : 16;
        m->hdrs = cg_xrealloc(m->hdrs, m->cap_hdrs * sizeof *m->hdrs);
    }
    m->hdrs[m->n_hdrs].name = cg_xstrdup(name ? name : "");
    m->hdrs[m->n_hdrs].value = cg_xstrdup(value ? value : "");
    m->n_hdrs++;
}

/* cg_msg_header - first header by name (case-insensitive) */
const char *cg_msg_header(const struct cg_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            return m->hdrs[i].value;
    return NULL;
}

/* cg_msg_add_rcpt - append a recipient (raw form; identify later) */
struct cg_rcpt *cg_msg_add_rcpt(struct cg_msg *m, const char *raw)
{
    if (m->n_rcpts == m->cap_rcpts) {
        m->cap_rcpts = m->cap_rcpts ? m->cap_rcpts * 2 : 8;
        m->rcpts = cg_xrealloc(m->rcpts, m->cap_rcpts * sizeof *m->rcpts);
    }
    struct cg_rcpt *r = &m->rcpts[m->n_rcpts++];
    memset(r, 0, sizeof *r);
    r->raw = cg_xstrdup(raw ? raw : "");
    return r;
}
