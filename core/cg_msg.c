/*
 * cg_msg.c - building and freeing the plain message struct (cg_msg.h)
 * that the milter callbacks, contactgatectl check and the tests fill.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cg_msg.h"
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
    free(r->pre);
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
    free(m->force_department);
    free(m->force_category);
    free(m->force_digest);
    m->force_department = m->force_category = m->force_digest = NULL;
    m->queue_id = m->sender = m->message_id = m->subject = NULL;
    m->has_body = 0;
    m->body_hash = 0;
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

/* cg_msg_add_header - append a header (copies); the first Message-ID and
 * Subject are kept apart for the log and the content digest */
void cg_msg_add_header(struct cg_msg *m, const char *name, const char *value)
{
    if (m->n_hdrs == m->cap_hdrs) {
        m->cap_hdrs = m->cap_hdrs ? m->cap_hdrs * 2 : 16;
        m->hdrs = cg_xrealloc(m->hdrs, m->cap_hdrs * sizeof *m->hdrs);
    }
    m->hdrs[m->n_hdrs].name = cg_xstrdup(name ? name : "");
    m->hdrs[m->n_hdrs].value = cg_xstrdup(value ? value : "");
    m->n_hdrs++;
    if (!name || !value)
        return;
    if (!m->message_id && strcasecmp(name, "Message-ID") == 0)
        cg_msg_set(&m->message_id, value);
    else if (!m->subject && strcasecmp(name, "Subject") == 0)
        cg_msg_set(&m->subject, value);
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

void cg_msg_add_body(struct cg_msg *m, const unsigned char *p, size_t n)
{
    if (!m->has_body) {
        m->has_body = 1;
        m->body_hash = CG_FNV64_SEED;
    }
    uint64_t h = m->body_hash;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    m->body_hash = h;
}

/* subject_norm - lower case, runs of blanks as one, no "Re:"/"Fwd:" */
static void subject_norm(const char *s, struct cg_buf *b)
{
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!strncasecmp(s, "re:", 3))
            s += 3;
        else if (!strncasecmp(s, "fwd:", 4))
            s += 4;
        else if (!strncasecmp(s, "fw:", 3))
            s += 3;
        else
            break;
    }
    int blank = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            blank = 1;
            continue;
        }
        if (blank && b->len)
            cg_buf_add(b, " ");
        blank = 0;
        char c = (char)tolower((unsigned char)*s);
        cg_buf_addn(b, &c, 1);
    }
}

int cg_msg_digests(const struct cg_msg *m, char body_hex[17], char content_hex[17])
{
    if (!m->has_body)
        return 0;
    snprintf(body_hex, 17, "%016llx", (unsigned long long)m->body_hash);
    struct cg_buf b = {0};
    subject_norm(m->subject ? m->subject : "", &b);
    uint64_t h = cg_fnv64(b.s ? b.s : "", b.len, CG_FNV64_SEED);
    h = cg_fnv64("\n", 1, h);
    h = cg_fnv64(body_hex, 16, h);
    cg_buf_free(&b);
    snprintf(content_hex, 17, "%016llx", (unsigned long long)h);
    return 1;
}
