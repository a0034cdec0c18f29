/*
 * cg_ident.c - identification: which department sends, who the customer
 * is, which category the message has.
 *
 * Department: the first configured department any of whose match rules
 * fits wins (SPEC). Rules: envelope sender glob, SASL login, client CIDR,
 * {daemon_name}, and the X-Department header, which counts only when the
 * SMTP client is in trusted_clients. No match: department "unknown".
 *
 * Category: X-Contact-Category when the department's allowed_categories
 * permit the value (a refused claim is kept for the decision log), else
 * the heuristics (List-Unsubscribe, Precedence: bulk|list|junk imply
 * promotional mail: the department default when that is promotional,
 * else classify.bulk_category), else the department default. Mail of no
 * department (sender unknown) cannot claim a category and gets
 * classify.unknown_category (promotional by default: unclassified mail is
 * held to the strictest family's rules).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cg_addr.h"
#include "cg_category.h"
#include "cg_ident.h"
#include "cg_log.h"
#include "cg_util.h"

/* list_has - exact (case-insensitive) membership */
static int list_has(char **list, size_t n, const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* client_trusted - may this client select a department by header? */
static int client_trusted(const struct cg_config *cfg, const char *addr)
{
    for (size_t i = 0; i < cfg->n_trusted_clients; i++)
        if (cg_cidr_match(&cfg->trusted_clients[i], addr))
            return 1;
    return 0;
}

/* trim_dup - copy without surrounding blanks */
static char *trim_dup(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return cg_xstrndup(s, n);
}

/* dept_envelope_match - the envelope rules of one department */
static const char *dept_envelope_match(const struct cg_department *d, const struct cg_msg *m)
{
    for (size_t k = 0; k < d->n_senders; k++)
        if (m->sender && cg_glob_match(d->senders[k], m->sender))
            return "sender";
    if (list_has(d->auth_users, d->n_auth_users, m->auth_user))
        return "auth_user";
    for (size_t k = 0; k < d->n_clients; k++)
        if (cg_cidr_match(&d->clients[k], m->client_addr))
            return "client_addr";
    if (list_has(d->daemon_names, d->n_daemon_names, m->daemon_name))
        return "daemon_name";
    return NULL;
}

/* cg_ident_department - see cg_ident.h. The envelope decides first
 * (sender, auth_user, client_addr, daemon_name; first department in file
 * order). The trusted X-Department header only names the department of
 * mail the envelope does not identify (a shared CRM or mailing host): it
 * never overrides the envelope, so an envelope-identified message is
 * settled at RCPT time. */
void cg_ident_department(const struct cg_config *cfg, struct cg_msg *m, int use_headers,
                         int *settled_r)
{
    int settled = 1;
    m->dept = NULL;
    m->department = "unknown";
    m->dept_source = "none";
    if (m->force_department) {
        /* a replayed contact: the department it was recorded under */
        for (size_t i = 0; i < cfg->n_departments && !m->dept; i++)
            if (strcmp(cfg->departments[i].name, m->force_department) == 0) {
                m->dept = &cfg->departments[i];
                m->department = m->dept->name;
                m->dept_source = "recorded";
            }
        if (settled_r)
            *settled_r = 1;
        return;
    }
    for (size_t i = 0; i < cfg->n_departments && !m->dept; i++) {
        const char *why = dept_envelope_match(&cfg->departments[i], m);
        if (why) {
            m->dept = &cfg->departments[i];
            m->department = m->dept->name;
            m->dept_source = why;
        }
    }
    int trusted = !m->dept && m->client_addr && client_trusted(cfg, m->client_addr);
    if (trusted && !use_headers) {
        /* a header could still select a department */
        for (size_t i = 0; i < cfg->n_departments && settled; i++)
            if (cfg->departments[i].n_header_values)
                settled = 0;
    } else if (trusted) {
        const char *h = cg_msg_header(m, cfg->department_header);
        char *hval = h ? trim_dup(h) : NULL;
        for (size_t i = 0; hval && i < cfg->n_departments && !m->dept; i++) {
            const struct cg_department *d = &cfg->departments[i];
            if (list_has(d->header_values, d->n_header_values, hval)) {
                m->dept = d;
                m->department = d->name;
                m->dept_source = "header";
            }
        }
        free(hval);
    }
    if (settled_r)
        *settled_r = settled;
}

/* department_mailbox - is addr matched by some department's sender
 * patterns (one of our own mailboxes)? */
static int department_mailbox(const struct cg_config *cfg, const char *addr)
{
    for (size_t i = 0; i < cfg->n_departments; i++)
        for (size_t k = 0; k < cfg->departments[i].n_senders; k++)
            if (cg_glob_match(cfg->departments[i].senders[k], addr))
                return 1;
    return 0;
}

/* cg_ident_addr_flags - see cg_ident.h */
unsigned cg_ident_addr_flags(const struct cg_config *cfg)
{
    return (cfg->fold_local ? CG_ADDR_FOLD_LOCAL : 0) | (cfg->strip_plus ? CG_ADDR_STRIP_PLUS : 0);
}

/* where_of - who sent it, for a line written before the MTA has a queue
 * ID (Postfix assigns one only once the first recipient is accepted):
 * "4666EA72338", or "NOQUEUE: from=<sender> client=<addr>" as in
 * Postfix's own RCPT-stage lines */
static const char *where_of(const struct cg_msg *m, char *buf, size_t len)
{
    if (m && m->queue_id)
        return m->queue_id;
    char s[120];
    snprintf(buf, len, "NOQUEUE: from=<%s> client=%s",
             cg_addr_printable(m ? m->sender : NULL, s, sizeof s),
             m && m->client_addr ? m->client_addr : "unknown");
    return buf;
}

/* shown - an envelope argument for a log line: printable, bounded, in <> */
static const char *shown(const char *arg, char *buf, size_t len)
{
    char tmp[120];
    cg_addr_printable(arg ? arg : "", tmp, sizeof tmp);
    snprintf(buf, len, tmp[0] == '<' ? "%s" : "<%s>", tmp);
    return buf;
}

/* cg_ident_rcpt_address - see cg_ident.h */
void cg_ident_rcpt_address(const struct cg_config *cfg, const struct cg_msg *m,
                           struct cg_rcpt *r, const char *mta)
{
    const char *why = NULL;
    enum cg_addr_source src;
    char raw[130], where[300];
    free(r->addr);
    r->addr = cg_addr_envelope(r->raw, mta, cg_ident_addr_flags(cfg), &why, &src);
    if (src == CG_ADDR_FROM_ARG || (m && m->quiet))
        return;
    shown(r->raw, raw, sizeof raw);
    if (!r->addr)
        cg_log(LOG_NOTICE, "%s: recipient %s: %s; not a customer", where_of(m, where, sizeof where),
               raw, why ? why : "empty");
    else if (src == CG_ADDR_FROM_MTA)
        cg_log(LOG_INFO, "%s: recipient %s: %s; the MTA's own form <%s> is the customer address",
               where_of(m, where, sizeof where), raw, why, r->addr);
    else
        cg_log(LOG_NOTICE, "%s: recipient %s cannot be parsed (%s); it is decided as its "
               "own customer <%s>", where_of(m, where, sizeof where), raw, why, r->addr);
}

/* cg_ident_sender - see cg_ident.h */
char *cg_ident_sender(const struct cg_msg *m, const char *arg, const char *mta)
{
    const char *why = NULL;
    enum cg_addr_source src;
    char raw[130], where[300];
    char *s = cg_addr_envelope(arg, mta, CG_ADDR_FOLD_LOCAL | CG_ADDR_NULL_OK, &why, &src);
    if (!s)
        s = cg_xstrdup("");
    if (src == CG_ADDR_FROM_ARG || (m && m->quiet))
        return s;
    shown(arg, raw, sizeof raw);
    /* the sender is what is being read: the line names the client */
    if (m && m->queue_id)
        snprintf(where, sizeof where, "%s", m->queue_id);
    else
        snprintf(where, sizeof where, "NOQUEUE: client=%s",
                 m && m->client_addr ? m->client_addr : "unknown");
    if (src == CG_ADDR_FROM_MTA)
        cg_log(LOG_INFO, "%s: sender %s: %s; the MTA's own form <%s> is matched", where, raw,
               why, s);
    else
        cg_log(LOG_NOTICE, "%s: sender %s cannot be parsed (%s); it is matched as <%s>", where,
               raw, why, s);
    return s;
}

/* cg_ident_customer - see cg_ident.h */
int cg_ident_customer(cg_store *st, const char *addr, char **cust_r, char **tz_r)
{
    *cust_r = NULL;
    if (tz_r)
        *tz_r = NULL;
    int found = st ? cg_store_customer_lookup(st, addr, cust_r, tz_r) : 0;
    if (found < 0)
        return -1;
    if (!found)
        *cust_r = cg_xstrdup(addr);
    return found;
}

/* cg_ident_recipient - see cg_ident.h */
int cg_ident_recipient(const struct cg_config *cfg, cg_store *st, const struct cg_msg *m,
                       struct cg_rcpt *r)
{
    if (!r->addr) /* the milter sets it at RCPT, with the MTA's own form */
        cg_ident_rcpt_address(cfg, m, r, NULL);
    if (!r->addr)
        return 0;
    r->exempt = 0;
    for (size_t i = 0; i < cfg->n_exempt && !r->exempt; i++)
        if (cg_glob_match(cfg->exempt[i], r->addr))
            r->exempt = 1;
    if (!r->exempt && m && m->sender && !*m->sender && department_mailbox(cfg, r->addr))
        r->exempt = 1;
    free(r->customer);
    free(r->timezone);
    r->customer = r->timezone = NULL;
    r->looked_up = 0;
    if (r->exempt || !st) {
        r->customer = cg_xstrdup(r->addr);
        return 0;
    }
    if (cg_ident_customer(st, r->addr, &r->customer, &r->timezone) < 0) {
        char where[300];
        cg_log(LOG_ERR, "%s: store: customer map lookup of <%s>: %s",
               where_of(m, where, sizeof where), r->addr, cg_store_errmsg(st));
        return -1;
    }
    r->looked_up = 1;
    return 0;
}

/* dept_allows - does the department permit this category */
static int dept_allows(const struct cg_department *d, const char *cat)
{
    for (size_t i = 0; d && i < d->n_allowed; i++)
        if (cg_category_match(d->allowed[i], cat))
            return 1;
    return 0;
}

/* looks_bulk - the header heuristics */
static int looks_bulk(const struct cg_msg *m)
{
    if (cg_msg_header(m, "List-Unsubscribe") || cg_msg_header(m, "List-Id"))
        return 1;
    const char *p = cg_msg_header(m, "Precedence");
    if (p) {
        char *v = trim_dup(p);
        int bulk = !strcasecmp(v, "bulk") || !strcasecmp(v, "list") || !strcasecmp(v, "junk");
        free(v);
        return bulk;
    }
    return 0;
}

/* heuristic_category - what the heuristics imply for this department */
static const char *heuristic_category(const struct cg_config *cfg, const struct cg_msg *m)
{
    if (m->dept && cg_category_match("promotional.*", m->dept->default_category))
        return m->dept->default_category;
    return cfg->bulk_category;
}

/* cg_ident_category - see cg_ident.h */
void cg_ident_category(const struct cg_config *cfg, struct cg_msg *m)
{
    free(m->category);
    free(m->category_claim);
    m->category = m->category_claim = NULL;
    if (m->force_category) {
        m->category = cg_xstrdup(m->force_category);
        m->category_source = "recorded";
        return;
    }
    const char *h = cg_msg_header(m, cfg->category_header);
    if (h) {
        char *claim = trim_dup(h);
        for (char *c = claim; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (cg_category_valid(claim, 0) && dept_allows(m->dept, claim)) {
            m->category = claim;
            m->category_source = "header";
            return;
        }
        /* keep a printable, bounded copy of the refused claim for the log */
        if (strlen(claim) > 64)
            claim[64] = 0;
        for (char *c = claim; *c; c++)
            if (!isgraph((unsigned char)*c))
                *c = '?';
        m->category_claim = claim;
    }
    if (cfg->heuristics && looks_bulk(m)) {
        m->category = cg_xstrdup(heuristic_category(cfg, m));
        m->category_source = "heuristic";
        return;
    }
    m->category = cg_xstrdup(m->dept ? m->dept->default_category : cfg->unknown_category);
    m->category_source = m->dept ? "default" : "none";
}

/* cg_ident_candidates - every category the message could still get */
size_t cg_ident_candidates(const struct cg_config *cfg, const struct cg_msg *m,
                           const char **out, size_t max)
{
    size_t n = 0;
    int overflow = 0;
#define ADD(c)                                                                \
    do {                                                                      \
        int dup_ = 0;                                                         \
        for (size_t k_ = 0; k_ < n; k_++)                                     \
            if (strcmp(out[k_], (c)) == 0)                                    \
                dup_ = 1;                                                     \
        if (!dup_ && n + 1 < max)                                             \
            out[n++] = (c);                                                   \
        else if (!dup_)                                                       \
            overflow = 1;                                                     \
    } while (0)
    ADD(m->dept ? m->dept->default_category : cfg->unknown_category);
    for (size_t i = 0; m->dept && i < m->dept->n_allowed; i++)
        ADD(m->dept->allowed[i]);
    if (cfg->heuristics)
        ADD(heuristic_category(cfg, m));
#undef ADD
    if (overflow && max >= 2) /* too many to list: anything is possible */
        out[0] = "*", n = 1;
    out[n] = NULL;
    return n;
}
