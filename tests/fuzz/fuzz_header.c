/*
 * fuzz_header.c - libFuzzer target: what contactgate reads from a
 * message's headers. The message model (cg_msg_add_header, cg_msg_header,
 * the Subject/Message-ID it keeps apart, cg_msg_digests), identification
 * (cg_ident_department with the trusted X-Department header,
 * cg_ident_category with X-Contact-Category and the bulk heuristics,
 * cg_ident_candidates) and the category helpers (cg_category_valid,
 * cg_category_match, cg_category_subsumes), under a fixed configuration
 * (tests/fuzz/header.json, loaded without plugins).
 *
 * Input: one selector byte (bits 0-2: the envelope sender, bits 3-4: the
 * client, trusted or not, bit 5: a body), then header lines "Name: value" (an
 * LF ends a line, the first ':' ends the name; a NUL cuts a field as C
 * does).
 *
 * Invariants: a category always comes out; a claim taken from the header
 * is a valid category the department allows; a refused claim kept for the
 * log is printable and at most 64 characters; the candidate list is
 * NULL-terminated within its bounds; a valid pattern matches what it
 * subsumes (subsumes(p, q) and match(q, c) imply match(p, c)).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_common.h"
#include "cg_category.h"
#include "cg_config.h"
#include "cg_ident.h"
#include "cg_msg.h"

#define MAX_HEADERS 64
#define MAX_CANDIDATES 8

static struct cg_config *cfg;

static const char *const senders[8] = {
    "billing@bank.example", "deals@offers.bank.example", "service@bank.example",
    "collections@bank.example", "", "someone@elsewhere.example", "x@care.bank.example",
    "marketing@bank.example",
};

/* setup - the configuration, once */
static void setup(void)
{
    fz_log_quiet("fuzz_header");
    char path[PATH_MAX], err[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/header.json", fz_srcdir());
    cfg = cg_config_load(path, CG_CONFIG_NO_PLUGINS, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "fuzz_header: %s\n", err);
        exit(1);
    }
}

/* check_category - the outcome of cg_ident_category */
static void check_category(const struct cg_msg *m)
{
    if (!m->category || !*m->category)
        fz_fail("no category (source %s)", m->category_source);
    if (!strcmp(m->category_source, "header")) {
        if (!cg_category_valid(m->category, 0))
            fz_fail("claimed category \"%s\" taken but not valid", m->category);
        int allowed = 0;
        for (size_t i = 0; m->dept && i < m->dept->n_allowed; i++)
            allowed |= cg_category_match(m->dept->allowed[i], m->category);
        if (!allowed)
            fz_fail("claimed category \"%s\" taken but department %s does not allow it",
                    m->category, m->dept ? m->dept->name : "unknown");
    }
    if (m->category_claim) {
        if (strlen(m->category_claim) > 64)
            fz_fail("refused claim kept with %zu characters", strlen(m->category_claim));
        for (const char *p = m->category_claim; *p; p++)
            if (!isgraph((unsigned char)*p))
                fz_fail("refused claim \"%s\" has an unprintable character", m->category_claim);
    }
}

/* check_candidates - the RCPT-time candidate list */
static void check_candidates(const struct cg_msg *m)
{
    const char *out[MAX_CANDIDATES + 1];
    out[MAX_CANDIDATES] = "guard";
    size_t n = cg_ident_candidates(cfg, m, out, MAX_CANDIDATES);
    if (n >= MAX_CANDIDATES || out[n] != NULL || strcmp(out[MAX_CANDIDATES], "guard"))
        fz_fail("candidate list: %zu entries, not NULL-terminated in bounds", n);
    for (size_t i = 0; i < n; i++)
        if (!out[i] || !*out[i])
            fz_fail("candidate %zu is empty", i);
}

/* check_patterns - the category helpers on two strings from the input */
static void check_patterns(const char *a, const char *b)
{
    int va = cg_category_valid(a, 0), pa = cg_category_valid(a, 1);
    int vb = cg_category_valid(b, 0), pb = cg_category_valid(b, 1);
    if (va && !pa)
        fz_fail("\"%s\" is a valid name but not a valid pattern", a);
    if (va && !cg_category_match(a, a))
        fz_fail("\"%s\" does not match itself", a);
    if (pa && !cg_category_subsumes(a, a))
        fz_fail("pattern \"%s\" does not subsume itself", a);
    if (vb && !cg_category_match("*", b))
        fz_fail("\"*\" does not match \"%s\"", b);
    (void)cg_category_match(a, b);
    (void)cg_category_match(b, a);
    /* subsumes(outer, inner) and match(inner, c) => match(outer, c) */
    static const char *const names[] = {"promotional", "promotional.offer", "promotional.offer.x",
                                        "functional.bill", "functional", "a", "a.b", "a.b.c"};
    if (pa && pb && cg_category_subsumes(a, b))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (cg_category_match(b, names[i]) && !cg_category_match(a, names[i]))
                fz_fail("\"%s\" subsumes \"%s\", which matches \"%s\", but does not match it", a,
                        b, names[i]);
    (void)cg_category_subsumes(b, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        setup();
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    struct cg_msg m;
    cg_msg_init(&m);
    m.sender = cg_xstrdup(senders[sel & 7]);
    static const char *const clients[4] = {"127.0.0.1", "198.51.100.7", "192.0.2.7", "::1"};
    cg_msg_set(&m.client_addr, clients[(sel >> 3) & 3]);
    char *prev = cg_xstrdup("");
    char *names[MAX_HEADERS];
    size_t n_names = 0;
    for (size_t pos = 1; pos < size && m.n_hdrs < MAX_HEADERS;) {
        const uint8_t *line = data + pos;
        const uint8_t *lf = memchr(line, '\n', size - pos);
        size_t len = lf ? (size_t)(lf - line) : size - pos;
        pos += len + 1;
        const uint8_t *colon = memchr(line, ':', len);
        size_t nlen = colon ? (size_t)(colon - line) : len;
        char *name = fz_strndup(line, nlen);
        char *value = colon ? fz_strndup(colon + 1, len - nlen - 1) : NULL;
        cg_msg_add_header(&m, name, value);
        const char *v = cg_msg_header(&m, name);
        if (!v)
            fz_fail("header \"%s\" added but not found", name);
        check_patterns(value ? value : name, prev);
        free(prev);
        prev = cg_xstrdup(value ? value : "");
        names[n_names++] = name;
        free(value);
    }
    if (m.n_hdrs && m.message_id && !cg_msg_header(&m, "Message-ID"))
        fz_fail("a Message-ID kept apart but not among the headers");

    int settled = 0;
    cg_ident_department(cfg, &m, 0, &settled);
    if (!m.department || !m.dept_source)
        fz_fail("no department after the envelope");
    check_candidates(&m);
    cg_ident_department(cfg, &m, 1, NULL);
    if (settled && strcmp(m.dept_source, "header") == 0)
        fz_fail("settled at RCPT, then changed by the header to %s", m.department);
    cg_ident_category(cfg, &m);
    check_category(&m);
    /* the same headers under every department and none */
    for (size_t i = 0; i <= cfg->n_departments; i++) {
        m.dept = i < cfg->n_departments ? &cfg->departments[i] : NULL;
        cg_ident_category(cfg, &m);
        check_category(&m);
        check_candidates(&m);
    }

    if (sel & 32) {
        cg_msg_add_body(&m, data, size);
        char body[17], content[17];
        if (!cg_msg_digests(&m, body, content) || strlen(body) != 16 || strlen(content) != 16)
            fz_fail("digests of a message with a body: \"%s\" \"%s\"", body, content);
    }
    cg_msg_reset_transaction(&m);
    if (m.n_hdrs || m.category || m.subject || m.message_id)
        fz_fail("reset_transaction left the message's headers or category");
    cg_msg_clear(&m);
    free(prev);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    return 0;
}
