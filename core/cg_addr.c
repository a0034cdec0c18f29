/*
 * cg_addr.c - the address normaliser: an envelope address, however it is
 * spelled, to the mailbox the MTA delivers to.
 *
 * Contracts in cg_addr.h. The parser is a small RFC 5322 tokenizer (atoms,
 * quoted strings, address literals, the specials @ . , :, comments and
 * blanks skipped between tokens) and a grammar over its tokens: an
 * optional source route, a local part of words joined by dots, '@', a
 * domain or an address literal. It accepts what Postfix 3.7 and Sendmail
 * 8.17 accept and deliver as one mailbox (checked against both; README),
 * and gives one canonical spelling for it. What only one MTA reads its own
 * way (Sendmail's "ann smith" as ann.smith, Postfix's ann@@x as "ann@"@x)
 * is not guessed here: the milter has the MTA's own parse for that
 * (cg_addr_envelope).
 *
 * Unicode (ICU, already linked for time zones; the library Postfix uses
 * for the same job): UTS #46 non-transitional ToASCII for a domain with
 * U-labels, root-locale lower-casing and case folding for a local part
 * with non-ASCII letters. Both objects are created once and only read
 * afterwards, which ICU allows from any thread. Nothing here logs.
 */
#include "cg_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <unicode/ucasemap.h>
#include <unicode/uidna.h>

#include "cg_util.h"

#define WHY_CTRL "the address contains a control character"

/* --- Unicode helpers ---------------------------------------------------- */

static pthread_once_t icu_once = PTHREAD_ONCE_INIT;
static UIDNA *icu_idna;
static UCaseMap *icu_case;

/* icu_init - the shared, read-only ICU objects (NULL if ICU refuses) */
static void icu_init(void)
{
    UErrorCode e = U_ZERO_ERROR;
    icu_idna = uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_ASCII, &e);
    if (U_FAILURE(e))
        icu_idna = NULL;
    e = U_ZERO_ERROR;
    icu_case = ucasemap_open("", U_FOLD_CASE_DEFAULT, &e);
    if (U_FAILURE(e))
        icu_case = NULL;
}

/* utf8_valid - well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF) */
static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* has_8bit - any octet past ASCII */
static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* icu_case_map - lower-case (fold 0) or case-fold (fold 1) UTF-8 text;
 * a new string, or NULL when ICU cannot */
static char *icu_case_map(const char *s, size_t n, int fold)
{
    pthread_once(&icu_once, icu_init);
    if (!icu_case || n > INT32_MAX / 4)
        return NULL;
    int32_t cap = (int32_t)n * 3 + 16;
    char *out = cg_xmalloc((size_t)cap);
    UErrorCode e = U_ZERO_ERROR;
    int32_t len = fold ? ucasemap_utf8FoldCase(icu_case, out, cap, s, (int32_t)n, &e)
                       : ucasemap_utf8ToLower(icu_case, out, cap, s, (int32_t)n, &e);
    if (U_FAILURE(e) || len < 0 || len >= cap) {
        free(out);
        return NULL;
    }
    out[len] = 0;
    return out;
}

/* lower_in_place - ASCII letters to lower case */
static void lower_in_place(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (char)tolower((unsigned char)s[i]);
}

/* idna_to_ascii - a domain with U-labels to its A-label form (UTS #46
 * non-transitional, as Postfix 3.7 by default); NULL if it is not a valid
 * internationalised domain name. Without the STD3 rules UTS #46 maps some
 * characters to ones no host name has (U+02DC SMALL TILDE becomes a space
 * and a combining tilde): like Postfix, which checks the A-label form with
 * valid_hostname(), only letters, digits, '-' and '.' may come out (found
 * by tests/fuzz/fuzz_addr.c). */
static char *idna_to_ascii(const char *d, size_t n)
{
    pthread_once(&icu_once, icu_init);
    if (!icu_idna || n > 1024 || !utf8_valid((const unsigned char *)d, n))
        return NULL;
    char out[1024];
    UErrorCode e = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t len = uidna_nameToASCII_UTF8(icu_idna, d, (int32_t)n, out, sizeof out - 1, &info, &e);
    if (U_FAILURE(e) || info.errors || len <= 0 || len >= (int32_t)sizeof out)
        return NULL;
    out[len] = 0;
    for (int32_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)out[i]) && out[i] != '-' && out[i] != '.')
            return NULL;
    lower_in_place(out, (size_t)len);
    return cg_xstrdup(out);
}

/* --- tokenizer ------------------------------------------------------------ */

enum tok_type { T_END, T_ATOM, T_QSTR, T_LIT, T_AT, T_DOT, T_COMMA, T_COLON };

struct tok {
    enum tok_type type;
    size_t off, len;          /* value in lex.val (ATOM, QSTR, LIT) */
    int escaped;              /* an ATOM with a backslash pair in it */
};

struct lex {
    struct tok *t;
    size_t n, cap;
    struct cg_buf val;        /* the values of the tokens, one after another */
};

/* is_ctrl - a control character (HTAB only as a blank between tokens) */
static int is_ctrl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* is_atext - RFC 5322 atext (ASCII part) */
static int is_atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* push - append a token */
static void push(struct lex *L, enum tok_type type, size_t off, int escaped)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 16;
        L->t = cg_xrealloc(L->t, L->cap * sizeof *L->t);
    }
    L->t[L->n++] = (struct tok){type, off, L->val.len - off, escaped};
    cg_buf_addn(&L->val, "", 1); /* each value ends in a NUL */
}

/* addc - append one octet to the values */
static void addc(struct lex *L, unsigned char c)
{
    char ch = (char)c;
    cg_buf_addn(&L->val, &ch, 1);
}

/* delimited - the value of a quoted string (close '"': backslash pairs)
 * or an address literal (close ']': blanks dropped) that starts at s[*i];
 * *i ends past the closing character. NULL, or why not. */
static const char *delimited(struct lex *L, const char *s, size_t n, size_t *i, char close)
{
    int quoted = close == '"';
    for ((*i)++; *i < n; (*i)++) {
        unsigned char d = (unsigned char)s[*i];
        if (d == (unsigned char)close) {
            (*i)++;
            return NULL;
        }
        if (!quoted && (d == ' ' || d == '\t'))
            continue;
        if (quoted && d == '\\' && ++(*i) < n)
            d = (unsigned char)s[*i];
        if (is_ctrl(d))
            return WHY_CTRL;
        if (!quoted && (d == '[' || d == '\\' || d >= 0x80))
            return "the address literal has a character that is not allowed in it";
        addc(L, d);
    }
    return quoted ? "the address has an unterminated quoted string"
                  : "the address has an unterminated address literal";
}

/* lex - tokens of s[0..n); NULL, or why not. Always ends with T_END. */
static const char *lex(const char *s, size_t n, struct lex *L)
{
    size_t i = 0;
    cg_buf_addn(&L->val, "", 0);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t') {
            i++;
        } else if (is_ctrl(c)) {
            return WHY_CTRL;
        } else if (c == '(') {
            int depth = 1;
            for (i++; i < n && depth; i++) {
                unsigned char d = (unsigned char)s[i];
                if (d == '\\' && ++i < n)
                    d = (unsigned char)s[i];
                else if (d == '(')
                    depth++;
                else if (d == ')')
                    depth--;
                if (is_ctrl(d) && d != '\t')
                    return WHY_CTRL;
            }
            if (depth)
                return "the address has an unterminated comment";
        } else if (c == '"' || c == '[') {
            size_t off = L->val.len;
            const char *why = delimited(L, s, n, &i, c == '"' ? '"' : ']');
            if (why)
                return why;
            push(L, c == '"' ? T_QSTR : T_LIT, off, 0);
        } else if (c == '@' || c == '.' || c == ',' || c == ':') {
            push(L, c == '@' ? T_AT : c == '.' ? T_DOT : c == ',' ? T_COMMA : T_COLON,
                 L->val.len, 0);
            i++;
        } else if (is_atext(c) || c >= 0x80 || c == '\\') {
            size_t off = L->val.len;
            int esc = 0;
            while (i < n) {
                unsigned char d = (unsigned char)s[i];
                if (d == '\\') {
                    if (i + 1 >= n)
                        return "the address ends in a backslash";
                    d = (unsigned char)s[++i];
                    if (is_ctrl(d))
                        return WHY_CTRL;
                    esc = 1;
                } else if (!is_atext(d) && d < 0x80) {
                    break;
                }
                addc(L, d);
                i++;
            }
            push(L, T_ATOM, off, esc);
        } else if (c == ')') {
            return "the address has a ')' without '('";
        } else {
            return "the address has a '<', '>', ';' or ']' outside quotes";
        }
    }
    push(L, T_END, L->val.len, 0);
    return NULL;
}

/* tval - a token's value */
static const char *tval(const struct lex *L, const struct tok *t)
{
    return L->val.s + t->off;
}

/* --- grammar --------------------------------------------------------------- */

/* the parts of a parsed address */
struct parts {
    struct cg_buf local;      /* the local part's value (unquoted) */
    struct cg_buf domain;     /* canonical domain or [literal] */
};

/* skip_domain - a domain or literal at t[*i] (for a source route) */
static int skip_domain(const struct lex *L, size_t *i)
{
    if (L->t[*i].type == T_LIT) {
        (*i)++;
        return 0;
    }
    for (;;) {
        if (L->t[*i].type != T_ATOM)
            return -1;
        (*i)++;
        if (L->t[*i].type != T_DOT)
            return 0;
        (*i)++;
    }
}

/* ipv4_canon - dotted quad (leading zeros allowed, as Postfix) to canonical */
static int ipv4_canon(const char *s, char *out, size_t len)
{
    unsigned v[4];
    for (int k = 0; k < 4; k++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        unsigned x = 0;
        int digits = 0;
        while (isdigit((unsigned char)*s) && digits < 4) {
            x = x * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (x > 255 || isdigit((unsigned char)*s))
            return -1;
        v[k] = x;
        if (k < 3 && *s++ != '.')
            return -1;
    }
    if (*s)
        return -1;
    snprintf(out, len, "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
    return 0;
}

/* literal_canon - an address literal's content to its one form */
static const char *literal_canon(const char *lit, struct cg_buf *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strncasecmp(lit, "IPv6:", 5) == 0) {
        unsigned char a[16];
        if (inet_pton(AF_INET6, lit + 5, a) != 1 || !inet_ntop(AF_INET6, a, buf, sizeof buf))
            return "the address literal is not a valid IPv6 address";
        cg_buf_printf(out, "[IPv6:%s]", buf);
        return NULL;
    }
    if (ipv4_canon(lit, buf, sizeof buf) == 0) {
        cg_buf_printf(out, "[%s]", buf);
        return NULL;
    }
    /* RFC 5321 General-address-literal: Standardized-tag ":" dcontent */
    const char *colon = strchr(lit, ':');
    if (!colon || colon == lit)
        return "the address literal is neither an IPv4 nor an IPv6 address";
    for (const char *p = lit; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return "the address literal has a malformed tag";
    size_t start = out->len;
    cg_buf_printf(out, "[%s]", lit);
    lower_in_place(out->s + start, out->len - start);
    return NULL;
}

/* domain_canon - the labels t[*i].. to the canonical domain */
static const char *domain_canon(struct lex *L, size_t *i, struct cg_buf *out)
{
    struct tok *t = L->t;
    if (t[*i].type == T_LIT) {
        const char *why = literal_canon(tval(L, &t[*i]), out);
        (*i)++;
        return why;
    }
    if (t[*i].type == T_END || t[*i].type == T_AT)
        return "the address has an empty domain";
    int eight = 0;
    for (;;) {
        if (t[*i].type != T_ATOM)
            return "the domain has an empty label";
        if (t[*i].escaped)
            return "the domain has a backslash in it";
        const char *v = tval(L, &t[*i]);
        for (size_t k = 0; k < t[*i].len; k++) {
            unsigned char c = (unsigned char)v[k];
            if (c >= 0x80)
                eight = 1;
            else if (!isalnum(c) && c != '-' && c != '_')
                return "the domain has a character that is not allowed in a host name";
        }
        cg_buf_addn(out, v, t[*i].len);
        (*i)++;
        if (t[*i].type != T_DOT)
            break;
        (*i)++;
        /* one trailing dot is the root: dropped */
        if (t[*i].type == T_END || (t[*i].type == T_AT && t[*i + 1].type == T_END))
            break;
        cg_buf_addn(out, ".", 1);
    }
    if (eight) {
        char *a = idna_to_ascii(out->s, out->len);
        if (!a)
            return "the domain is not a valid internationalised domain name (IDNA)";
        out->len = 0;
        cg_buf_add(out, a);
        free(a);
    } else {
        lower_in_place(out->s, out->len);
    }
    size_t label = 0;
    for (size_t k = 0; k <= out->len; k++) {
        if (k == out->len || out->s[k] == '.') {
            if (label > 63)
                return "the domain has a label longer than 63 characters";
            label = 0;
        } else {
            label++;
        }
    }
    return NULL;
}

/* parse - s[0..n) (inside any <>) into its parts; NULL or why not */
static const char *parse(const char *s, size_t n, struct parts *P, int depth)
{
    struct lex L = {0};
    const char *why = lex(s, n, &L);
    size_t i = 0;
    struct tok *t = L.t; /* set by lex, also on error */
    if (why)
        goto out;
    if (t[0].type == T_END) {
        why = "the address is empty";
        goto out;
    }
    /* source route: "@a.example,@b.example:" */
    if (t[i].type == T_AT) {
        size_t hops = 0;
        while (t[i].type == T_AT) {
            i++;
            hops++;
            if (skip_domain(&L, &i) < 0) {
                why = "the source route has a malformed domain";
                goto out;
            }
            while (t[i].type == T_COMMA)
                i++;
        }
        if (t[i].type != T_COLON) {
            why = hops == 1 && t[i].type == T_END ? "the address has an empty local part"
                                                   : "the source route does not end in ':'";
            goto out;
        }
        i++;
    }
    /* local part: words (atoms, quoted strings) and dots */
    size_t start = i;
    int last_word = 0;
    for (; t[i].type == T_ATOM || t[i].type == T_QSTR || t[i].type == T_DOT; i++) {
        if (t[i].type == T_DOT) {
            cg_buf_addn(&P->local, ".", 1);
            last_word = 0;
            continue;
        }
        if (last_word) {
            why = "the local part has two words without a dot between them";
            goto out;
        }
        cg_buf_addn(&P->local, tval(&L, &t[i]), t[i].len);
        last_word = 1;
    }
    if (t[i].type == T_END) {
        /* <"ann@cust.example">: Postfix and Sendmail read the inside */
        if (depth == 0 && i == start + 1 && t[start].type == T_QSTR &&
            memchr(tval(&L, &t[start]), '@', t[start].len)) {
            char *inner = cg_xstrndup(tval(&L, &t[start]), t[start].len);
            P->local.len = 0;
            why = parse(inner, strlen(inner), P, depth + 1);
            free(inner);
            goto out;
        }
        why = i == start ? "the address is empty" : "the address has no '@domain'";
        goto out;
    }
    if (t[i].type != T_AT) {
        why = "the local part has a character that is not allowed outside quotes";
        goto out;
    }
    if (i == start) {
        why = "the address has an empty local part";
        goto out;
    }
    i++;
    if ((why = domain_canon(&L, &i, &P->domain)))
        goto out;
    /* "ann@x@": Postfix drops the empty domain after the last '@' */
    if (t[i].type == T_AT && t[i + 1].type == T_END)
        i++;
    if (t[i].type != T_END)
        why = "the address has something after the domain";
out:
    free(L.t);
    cg_buf_free(&L.val);
    return why;
}

/* --- canonical form --------------------------------------------------------- */

/* dot_atom - is the value a dot-atom (no quotes needed)? */
static int dot_atom(const char *v, size_t n)
{
    if (n == 0 || v[0] == '.' || v[n - 1] == '.')
        return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)v[k];
        if (c == '.' ? v[k + 1] == '.' : !(is_atext(c) || c >= 0x80))
            return 0;
    }
    return 1;
}

/* local_out - the value, quoted only when it must be */
static void local_out(struct cg_buf *b, const char *v, size_t n)
{
    if (dot_atom(v, n)) {
        cg_buf_addn(b, v, n);
        return;
    }
    cg_buf_addn(b, "\"", 1);
    for (size_t k = 0; k < n; k++) {
        if (v[k] == '"' || v[k] == '\\')
            cg_buf_addn(b, "\\", 1);
        cg_buf_addn(b, v + k, 1);
    }
    cg_buf_addn(b, "\"", 1);
}

/* trim - s without surrounding blanks (and line ends) */
static const char *trim(const char *s, size_t *n_r)
{
    size_t n = strlen(s);
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    *n_r = n;
    return s;
}

/* fold_local - recipients.lowercase on the local part's value */
static void fold_local(struct cg_buf *v)
{
    if (has_8bit(v->s, v->len)) {
        char *low = icu_case_map(v->s, v->len, 0);
        if (low) {
            v->len = 0;
            cg_buf_add(v, low);
            free(low);
            return;
        }
    }
    lower_in_place(v->s, v->len);
}

/* normalise - cg_addr_normalise; when the address parses but is over a
 * length limit and over_r is given, *over_r is its canonical form anyway
 * (what cg_addr_fallback then bounds) */
static char *normalise(const char *raw, unsigned flags, const char **why, char **over_r)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (over_r)
        *over_r = NULL;
    if (!raw) {
        *why = "no address";
        return NULL;
    }
    size_t n;
    const char *s = trim(raw, &n);
    if (n && s[0] == '<') {
        if (s[n - 1] != '>') {
            *why = "the address has a '<' without '>'";
            return NULL;
        }
        s++;
        n -= 2;
    }
    size_t k;
    for (k = 0; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
        ;
    if (k == n) {
        if (flags & CG_ADDR_NULL_OK)
            return cg_xstrdup("");
        *why = "the address is empty";
        return NULL;
    }
    struct parts P = {{0}, {0}};
    cg_buf_addn(&P.local, "", 0);
    cg_buf_addn(&P.domain, "", 0);
    struct cg_buf out = {0};
    const char *limit = NULL;
    *why = parse(s, n, &P, 0);
    if (!*why && has_8bit(P.local.s, P.local.len) &&
        !utf8_valid((const unsigned char *)P.local.s, P.local.len))
        *why = "the local part is not valid UTF-8";
    if (!*why) {
        /* the limits apply to the mailbox itself, before any folding */
        local_out(&out, P.local.s, P.local.len);
        if (out.len > CG_ADDR_LOCAL_MAX)
            limit = "the local part is longer than 64 characters";
        else if (out.len + 1 + P.domain.len > CG_ADDR_MAX)
            limit = "the address is longer than 254 characters";
    }
    if (*why || (limit && !over_r)) {
        *why = *why ? *why : limit;
        cg_buf_free(&P.local);
        cg_buf_free(&P.domain);
        cg_buf_free(&out);
        return NULL;
    }
    if (flags & CG_ADDR_FOLD_LOCAL)
        fold_local(&P.local);
    if (flags & CG_ADDR_STRIP_PLUS) {
        const char *plus = P.local.len > 1 ? memchr(P.local.s + 1, '+', P.local.len - 1) : NULL;
        if (plus)
            P.local.len = (size_t)(plus - P.local.s);
    }
    out.len = 0;
    local_out(&out, P.local.s, P.local.len);
    cg_buf_addn(&out, "@", 1);
    cg_buf_addn(&out, P.domain.s, P.domain.len);
    cg_buf_free(&P.local);
    cg_buf_free(&P.domain);
    if (limit) {
        *why = limit;
        *over_r = out.s;
        return NULL;
    }
    return out.s;
}

/* cg_addr_normalise - see cg_addr.h */
char *cg_addr_normalise(const char *raw, unsigned flags, const char **why)
{
    return normalise(raw, flags, why, NULL);
}

/* cg_addr_fallback - see cg_addr.h */
char *cg_addr_fallback(const char *raw)
{
    size_t n;
    const char *s = trim(raw ? raw : "", &n);
    while (n && (*s == '<' || *s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == '>' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!n)
        return NULL;
    int utf8 = utf8_valid((const unsigned char *)s, n);
    if (n > CG_ADDR_MAX) {
        n = CG_ADDR_MAX;
        while (utf8 && n && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
    }
    char *out = cg_xstrndup(s, n);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)out[k];
        if (is_ctrl(c) || (c >= 0x80 && !utf8))
            out[k] = '?';
        else
            out[k] = (char)tolower(c);
    }
    return out;
}

/* cg_addr_key - see cg_addr.h */
char *cg_addr_key(const char *raw, unsigned flags, const char **why)
{
    char *over = NULL;
    char *a = normalise(raw, flags, why, &over);
    if (!a) {
        a = cg_addr_fallback(over ? over : raw);
        free(over);
    }
    return a;
}

/* same_mailbox - equal up to case (Unicode case folding where needed) */
static int same_mailbox(const char *a, const char *b)
{
    if (strcasecmp(a, b) == 0)
        return 1;
    if (!has_8bit(a, strlen(a)) && !has_8bit(b, strlen(b)))
        return 0;
    char *fa = icu_case_map(a, strlen(a), 1), *fb = icu_case_map(b, strlen(b), 1);
    int same = fa && fb && strcmp(fa, fb) == 0;
    free(fa);
    free(fb);
    return same;
}

/* cg_addr_envelope - see cg_addr.h */
char *cg_addr_envelope(const char *arg, const char *mta, unsigned flags, const char **why,
                       enum cg_addr_source *src_r)
{
    const char *dummy, *why_arg = NULL, *why_mta = NULL;
    enum cg_addr_source src_dummy;
    if (!why)
        why = &dummy;
    if (!src_r)
        src_r = &src_dummy;
    char *a_over = NULL, *m_over = NULL, *key;
    char *a = normalise(arg ? arg : "", flags, &why_arg, &a_over);
    char *m = mta && *mta ? normalise(mta, flags & ~CG_ADDR_NULL_OK, &why_mta, &m_over) : NULL;
    if (a && (!m || same_mailbox(a, m))) {
        free(m);
        *why = NULL;
        *src_r = CG_ADDR_FROM_ARG;
        key = a;
    } else if (m) {
        *why = a ? "the MTA resolved it to another mailbox" : why_arg;
        free(a);
        *src_r = CG_ADDR_FROM_MTA;
        key = m;
    } else {
        /* an over-long mailbox is still one key however it is spelled */
        *why = why_arg;
        *src_r = CG_ADDR_FROM_RAW;
        key = cg_addr_fallback(a_over ? a_over : m_over ? m_over : arg);
    }
    free(a_over);
    free(m_over);
    return key;
}

/* cg_addr_pattern - see cg_addr.h */
char *cg_addr_pattern(const char *p)
{
    if (!strpbrk(p, "*?")) {
        char *a = cg_addr_normalise(p, 0, NULL);
        return a && *a ? a : (free(a), cg_xstrdup(p));
    }
    const char *at = strrchr(p, '@');
    if (!at)
        return cg_xstrdup(p);
    struct cg_buf b = {0};
    cg_buf_addn(&b, p, (size_t)(at + 1 - p));
    const char *d = at + 1;
    size_t dn = strlen(d);
    if (dn > 1 && d[dn - 1] == '.')
        dn--;
    while (dn) {
        const char *dot = memchr(d, '.', dn);
        size_t ln = dot ? (size_t)(dot - d) : dn;
        char *label = cg_xstrndup(d, ln);
        char *a = NULL;
        if (has_8bit(label, ln) && !strpbrk(label, "*?"))
            a = idna_to_ascii(label, ln);
        if (!a)
            lower_in_place(label, ln);
        cg_buf_add(&b, a ? a : label);
        free(a);
        free(label);
        if (!dot)
            break;
        cg_buf_addn(&b, ".", 1);
        dn -= ln + 1;
        d = dot + 1;
    }
    if (!b.s)
        cg_buf_addn(&b, "", 0);
    return b.s;
}

/* cg_addr_pattern_list - cg_addr_pattern in place */
void cg_addr_pattern_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        char *p = cg_addr_pattern(list[i]);
        free(list[i]);
        list[i] = p;
    }
}

/* cg_addr_domain - the domain part of an address */
const char *cg_addr_domain(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at ? at + 1 : "";
}

/* cg_addr_printable - bounded printable copy for a log line */
const char *cg_addr_printable(const char *s, char *buf, size_t len)
{
    if (!len)
        return "";
    size_t n = 0;
    for (; s && s[n] && n + 1 < len; n++)
        buf[n] = is_ctrl((unsigned char)s[n]) ? '?' : s[n];
    buf[n] = 0;
    if (s && s[n] && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}
