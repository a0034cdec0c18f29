/*
 * test_addr.c - the address normaliser (core/cg_addr.c): every generated
 * spelling of a mailbox (source routes, quoting, backslash escapes,
 * comments, blanks, angle brackets, domain case, trailing dot, U-label
 * and A-label, +tags with strip_plus on and off, local-part case with
 * lowercase on and off) normalises to one key; normalising a key returns
 * it; malformed addresses are refused with their why; the envelope choice
 * between the SMTP argument and the MTA's own parse; config patterns.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_addr.h"
#include "cg_test.h"
#include "cg_util.h"

/* one mailbox and the spellings of its parts */
struct base {
    const char *words[4];     /* the local part's value, split at dots (lower case) */
    const char *domains[6];   /* spellings of the domain (each the same domain) */
    const char *key;          /* expected key, lowercase on (any +tag stripped) */
    const char *key_tag;      /* expected key with "+promo", lowercase on, strip_plus off */
};

static const struct base bases[] = {
    {{"ann"}, {"cust.example", "CUST.EXAMPLE", "Cust.Example.", "cust . example"},
     "ann@cust.example", "ann+promo@cust.example"},
    {{"john", "doe"}, {"example.com", "Example.COM."},
     "john.doe@example.com", "john.doe+promo@example.com"},
    {{"lee smith"}, {"cust.example", "CUST.example."},
     "\"lee smith\"@cust.example", "\"lee smith+promo\"@cust.example"},
    {{"o'brien", "x_y-z"}, {"mail.example.org", "MAIL.example.ORG"},
     "o'brien.x_y-z@mail.example.org", "o'brien.x_y-z+promo@mail.example.org"},
    {{"ann"}, {"bücher.example", "BÜCHER.example", "xn--bcher-kva.example", "XN--BCHER-KVA.Example.",
               "bücher.example."},
     "ann@xn--bcher-kva.example", "ann+promo@xn--bcher-kva.example"},
    {{"ann"}, {"cust\xef\xbc\x8e" "example"}, /* U+FF0E FULLWIDTH FULL STOP */
     "ann@cust.example", "ann+promo@cust.example"},
    {{"ann"}, {"[192.0.2.1]", "[192.0.2.001]", "[ 192.0.2.1 ]"},
     "ann@[192.0.2.1]", "ann+promo@[192.0.2.1]"},
    {{"ann"}, {"[IPv6:2001:db8::1]", "[ipv6:2001:DB8:0:0:0:0:0:1]", "[IPv6:2001:0db8::0001]"},
     "ann@[IPv6:2001:db8::1]", "ann+promo@[IPv6:2001:db8::1]"},
    {{"a\"b\\c"}, {"cust.example"},
     "\"a\\\"b\\\\c\"@cust.example", "\"a\\\"b\\\\c+promo\"@cust.example"},
    {{"ann", ""}, {"cust.example"}, /* "ann." : a dot-atom cannot end in a dot */
     "\"ann.\"@cust.example", "ann.+promo@cust.example"},
};

static const char *routes[] = {"", "@a.example:", "@b.example,@c.example:", "@[192.0.2.9]:",
                               "@A.Example , @b.example :", "@bücher.example:"};
static const char *wraps[] = {"%s", "<%s>", "  <%s>\t", " %s ", "< %s >"};
static const char *tags[] = {"", "+promo", "+a+b"};

/* needs_quotes - a word that cannot be an atom */
static int needs_quotes(const char *w)
{
    if (!*w)
        return 1;
    for (const char *p = w; *p; p++)
        if (strchr(" \"\\(),:;<>@[]", *p))
            return 1;
    return 0;
}

/* quote_word - "w" with '"' and '\' escaped, or every character escaped */
static void quote_word(struct cg_buf *b, const char *w, int escape_all)
{
    cg_buf_add(b, "\"");
    for (const char *p = w; *p; p++) {
        if (escape_all || *p == '"' || *p == '\\')
            cg_buf_add(b, "\\");
        cg_buf_addn(b, p, 1);
    }
    cg_buf_add(b, "\"");
}

/* local spellings: 0 plain words, 1 one quoted string, 2 each word quoted,
 * 3 one quoted string with every character escaped, 4 plain words with
 * blanks around the dots and a comment before the '@' */
#define N_LOCAL_STYLES 5

/* local_spelling - the local part in one style, with tag appended to the
 * last word and the ASCII letters upper-cased when upper; 0 if the style
 * cannot spell this local part */
static int local_spelling(struct cg_buf *b, const struct base *bs, int style, const char *tag,
                          int upper)
{
    const char *w[4];
    char *own[4] = {0};
    size_t n = 0;
    for (; n < 4 && bs->words[n]; n++)
        w[n] = bs->words[n];
    if (*tag) { /* the tag ends the local part */
        own[n - 1] = cg_xasprintf("%s%s", w[n - 1], tag);
        w[n - 1] = own[n - 1];
    }
    int ok = 1;
    if (style == 1 || style == 3) {
        struct cg_buf v = {0};
        for (size_t i = 0; i < n; i++)
            cg_buf_printf(&v, "%s%s", i ? "." : "", w[i]);
        quote_word(b, v.s, style == 3);
        cg_buf_free(&v);
    } else {
        for (size_t i = 0; i < n && ok; i++) {
            if (i)
                cg_buf_add(b, style == 4 ? " . " : ".");
            if (style == 2)
                quote_word(b, w[i], 0);
            else if (needs_quotes(w[i]))
                ok = 0; /* plain words cannot spell it */
            else
                cg_buf_add(b, w[i]);
        }
        if (style == 4)
            cg_buf_add(b, " (a comment) ");
    }
    for (size_t i = 0; i < 4; i++)
        free(own[i]);
    if (upper)
        for (size_t i = 0; i < b->len; i++)
            if (b->s[i] >= 'a' && b->s[i] <= 'z')
                b->s[i] = (char)(b->s[i] - 'a' + 'A');
    return ok;
}

/* check_variants - every spelling under flags normalises to want;
 * returns how many were tried */
static int check_variants(const struct base *bs, unsigned flags, const char *tag, int upper,
                          const char *want)
{
    int tried = 0;
    for (int style = 0; style < N_LOCAL_STYLES; style++) {
        struct cg_buf local = {0};
        if (!local_spelling(&local, bs, style, tag, upper)) {
            cg_buf_free(&local);
            continue;
        }
        for (size_t d = 0; d < 6 && bs->domains[d]; d++)
            for (size_t r = 0; r < sizeof routes / sizeof *routes; r++)
                for (size_t wr = 0; wr < sizeof wraps / sizeof *wraps; wr++) {
                    char *path = cg_xasprintf("%s%s@%s", routes[r], local.s, bs->domains[d]);
                    char *raw = cg_xasprintf(wraps[wr], path);
                    const char *why = NULL;
                    char *got = cg_addr_normalise(raw, flags, &why);
                    if ((!got || strcmp(got, want) != 0) && cg_t_failed_checks++ < 20) {
                        fprintf(stderr, "  [%s] flags %u: got %s (%s), want %s\n", raw, flags,
                                got ? got : "NULL", why ? why : "-", want);
                    }
                    free(got);
                    free(raw);
                    free(path);
                    tried++;
                }
        cg_buf_free(&local);
    }
    return tried;
}

/* test_generated_variants - one key per mailbox, under each flag set */
static void test_generated_variants(void)
{
    int tried = 0;
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        const struct base *bs = &bases[i];
        const unsigned fold = CG_ADDR_FOLD_LOCAL, strip = CG_ADDR_STRIP_PLUS;
        for (int upper = 0; upper < 2; upper++)
            for (size_t t = 0; t < sizeof tags / sizeof *tags; t++)
                tried += check_variants(bs, fold | strip, tags[t], upper, bs->key);
        for (int upper = 0; upper < 2; upper++) {
            tried += check_variants(bs, fold, "", upper, bs->key);
            tried += check_variants(bs, fold, "+promo", upper, bs->key_tag);
        }
        tried += check_variants(bs, 0, "", 0, bs->key);
        tried += check_variants(bs, strip, "+promo", 0, bs->key);
        /* lowercase off keeps the local part's case, the domain still folds */
        char *upper_key = cg_xstrdup(bs->key);
        for (char *p = upper_key; *p && *p != '@'; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        tried += check_variants(bs, 0, "", 1, upper_key);
        free(upper_key);
    }
    CG_CHECK(tried > 10000);
    fprintf(stderr, "  %d generated spellings\n", tried);
}

/* test_idempotent - a key normalises to itself, under every flag set */
static void test_idempotent(void)
{
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++)
        for (unsigned flags = 0; flags < 4; flags++) {
            const char *keys[] = {bases[i].key, bases[i].key_tag};
            for (size_t k = 0; k < 2; k++) {
                if (k == 1 && (flags & CG_ADDR_STRIP_PLUS))
                    continue;
                char *a = cg_addr_normalise(keys[k], flags, NULL);
                CG_CHECK_STR(a, keys[k]);
                char *b = a ? cg_addr_normalise(a, flags, NULL) : NULL;
                CG_CHECK_STR(b, a);
                free(a);
                free(b);
            }
        }
    const char *more[] = {"\"ann@\"@cust.example", "\"\"@cust.example", "\".ann\"@x.example",
                          "\"ann..smith\"@x.example", "ann@[tag:xyz]", "+ann@x.example",
                          "\xc3\xa4nn@x.example", "ann@xn--bcher-kva.example"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        char *a = cg_addr_normalise(more[i], 0, NULL);
        CG_CHECK_STR(a, more[i]);
        free(a);
    }
}

/* test_spellings_mtas_deliver_as_one - the forms Postfix and Sendmail
 * were seen to deliver to one mailbox (README) */
static void test_spellings_mtas_deliver_as_one(void)
{
    static const char *same[][2] = {
        {"<@a.example:ann@cust.example>", "ann@cust.example"},
        {"<\"ann\"@cust.example>", "ann@cust.example"},
        {"<ann@CUST.EXAMPLE.>", "ann@cust.example"},
        {"<\"l\\ee\"@cust.example>", "lee@cust.example"},
        {"<a\\nn@cust.example>", "ann@cust.example"},
        {"<\"lee\\ smith\"@cust.example>", "\"lee smith\"@cust.example"},
        {"<ann.@cust.example>", "\"ann.\"@cust.example"},
        {"<ann..smith@cust.example>", "\"ann..smith\"@cust.example"},
        {"<.ann@cust.example>", "\".ann\"@cust.example"},
        {"<\"ann\".\"smith\"@cust.example>", "ann.smith@cust.example"},
        {"<ann.\"smith\"@cust.example>", "ann.smith@cust.example"},
        {"<ann (comment)@cust.example>", "ann@cust.example"},
        {"<ann@cust.example(comment)>", "ann@cust.example"},
        {"<ann @ cust.example>", "ann@cust.example"},
        {"<ann . smith@cust.example>", "ann.smith@cust.example"},
        {"<\"ann@cust.example\">", "ann@cust.example"},
        {"<ann@cust.example@>", "ann@cust.example"},
        {"<\"ann+promo\"@cust.example>", "ann@cust.example"},
        {"<\"\"@cust.example>", "\"\"@cust.example"},
        {"<ann@cust_x.example>", "ann@cust_x.example"},
        {"<ann@[tag:XyZ]>", "ann@[tag:xyz]"},
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        const char *why = NULL;
        char *a = cg_addr_normalise(same[i][0], CG_ADDR_FOLD_LOCAL | CG_ADDR_STRIP_PLUS, &why);
        if (!a)
            fprintf(stderr, "  %s: %s\n", same[i][0], why);
        CG_CHECK_STR(a, same[i][1]);
        free(a);
    }
    /* the null sender */
    char *a = cg_addr_normalise("<>", CG_ADDR_NULL_OK, NULL);
    CG_CHECK_STR(a, "");
    free(a);
    a = cg_addr_normalise("  < >  ", CG_ADDR_NULL_OK | CG_ADDR_FOLD_LOCAL, NULL);
    CG_CHECK_STR(a, "");
    free(a);
    /* a tag at the very start is not a tag */
    a = cg_addr_normalise("+ann@x.example", CG_ADDR_STRIP_PLUS, NULL);
    CG_CHECK_STR(a, "+ann@x.example");
    free(a);
}

/* test_malformed - refused, with a why that says what is wrong */
static void test_malformed(void)
{
    char long_local[80], long_label[80], long_addr[300];
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@x.example");
    strcpy(long_label, "ann@");
    memset(long_label + 4, 'b', 64);
    strcpy(long_label + 68, ".example");
    strcpy(long_addr, "ann@");
    for (int i = 0; i < 25; i++)
        strcat(long_addr, "abcdefghi.");
    strcat(long_addr, "example");
    static const char *uvalid_local = "\xc3@x.example";
    struct {
        const char *raw;
        const char *why;
    } bad[] = {
        {"", "empty"},
        {"<>", "empty"},
        {"   ", "empty"},
        {"no-at-sign", "no '@domain'"},
        {"@example.com", "empty local part"},
        {"a@", "empty domain"},
        {"a b@example.com", "two words without a dot"},
        {"a\r\n@example.com", "control character"},
        {"\"a\tb\"@example.com", "control character"},
        {"ann@exa\x01mple.com", "control character"},
        {"\"lee smith@example.com", "unterminated quoted string"},
        {"ann(note@x.example", "unterminated comment"},
        {"ann)@x.example", "')' without '('"},
        {"<ann@x.example", "'<' without '>'"},
        {"Ann <ann@x.example>", "'<', '>'"},
        {"ann@x.example;", "'<', '>', ';'"},
        {"ann@cust..example", "empty label"},
        {"ann@.example", "empty label"},
        {"ann@cust.example..", "empty label"},
        {"ann@x.example y", "something after the domain"},
        {"ann@b@cust.example", "something after the domain"},
        {"ann@@cust.example", "empty domain"},
        {"ann@exa$mple.com", "not allowed in a host name"},
        {"ann@exa\\mple.com", "backslash"},
        {"ann@[300.1.1.1]", "neither an IPv4 nor an IPv6"},
        {"ann@[IPv6:zz::1]", "not a valid IPv6"},
        {"ann@[1.2.3.4", "unterminated address literal"},
        {"ann@b\xc3\xbc\xff.example", "IDNA"},
        {"ann@-b\xc3\xbc.example", "IDNA"},
        /* UTS #46 maps U+02DC to a space and U+0303: no host name (fuzz_addr) */
        {"ann@e\xcb\x9cr.example", "IDNA"},
        {"\"||@e\xcb\x9cR\"", "IDNA"},
        {"@a.example ann@x.example", "source route does not end in ':'"},
        {"@a..example:ann@x.example", "source route has a malformed domain"},
        {"ann,bob@x.example", "not allowed outside quotes"},
        {"ann\\", "ends in a backslash"},
        {long_local, "local part is longer than 64"},
        {long_label, "label longer than 63"},
        {long_addr, "longer than 254"},
        {uvalid_local, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why = NULL;
        char *a = cg_addr_normalise(bad[i].raw, CG_ADDR_FOLD_LOCAL, &why);
        if (a)
            fprintf(stderr, "  [%s] should be refused, got %s\n", bad[i].raw, a);
        CG_CHECK(a == NULL);
        CG_CHECK_CONTAINS(why, bad[i].why);
        free(a);
    }
    /* NULL in */
    const char *why = NULL;
    CG_CHECK(cg_addr_normalise(NULL, 0, &why) == NULL && why);
    /* exactly at the limits is fine */
    long_local[64] = 0;
    char *at64 = cg_xasprintf("%s@x.example", long_local);
    char *a = cg_addr_normalise(at64, 0, &why);
    CG_CHECK_STR(a, at64);
    free(a);
    free(at64);
}

/* test_fallback - the key of what cannot be parsed */
static void test_fallback(void)
{
    char *f = cg_addr_fallback("  <Ann@@Cust.Example>  ");
    CG_CHECK_STR(f, "ann@@cust.example");
    free(f);
    f = cg_addr_fallback("a\x01" "b@x");
    CG_CHECK_STR(f, "a?b@x");
    free(f);
    CG_CHECK(cg_addr_fallback(" <> ") == NULL);
    CG_CHECK(cg_addr_fallback(NULL) == NULL);
    char big[600];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    f = cg_addr_fallback(big);
    CG_CHECK(f && strlen(f) == CG_ADDR_MAX && f[0] == 'a');
    free(f);
    /* never cut inside a UTF-8 sequence; invalid UTF-8 becomes '?' */
    struct cg_buf b = {0};
    cg_buf_add(&b, "a");
    for (int i = 0; i < 200; i++)
        cg_buf_add(&b, "\xc3\xa4");
    f = cg_addr_fallback(b.s);
    CG_CHECK(f && strlen(f) == CG_ADDR_MAX - 1);
    free(f);
    cg_buf_free(&b);
    f = cg_addr_fallback("\xff@x");
    CG_CHECK_STR(f, "?@x");
    free(f);
    const char *why = NULL;
    f = cg_addr_key("<A B@X>", CG_ADDR_FOLD_LOCAL, &why);
    CG_CHECK_STR(f, "a b@x");
    CG_CHECK_CONTAINS(why, "two words");
    free(f);
    /* a mailbox over a length limit (Postfix and Sendmail deliver a 70
     * character local part) is still one key however it is spelled */
    char l70[71];
    memset(l70, 'A', 70);
    l70[70] = 0;
    char *s1 = cg_xasprintf("<@a.example:\"%s\"@Cust.Example.>", l70);
    char *s2 = cg_xasprintf("%s@cust.example", l70);
    f = cg_addr_key(s1, CG_ADDR_FOLD_LOCAL, &why);
    CG_CHECK_CONTAINS(why, "longer than 64");
    char *g = cg_addr_key(s2, CG_ADDR_FOLD_LOCAL, &why);
    CG_CHECK_STR(f, g);
    CG_CHECK(f && f[0] == 'a' && strlen(f) == 70 + strlen("@cust.example"));
    free(g);
    enum cg_addr_source src;
    g = cg_addr_envelope(s1, s2, CG_ADDR_FOLD_LOCAL, &why, &src);
    CG_CHECK_STR(g, f);
    CG_CHECK(src == CG_ADDR_FROM_RAW);
    free(g);
    free(f);
    free(s1);
    free(s2);
    f = cg_addr_key("<Ann@X.Example.>", CG_ADDR_FOLD_LOCAL, &why);
    CG_CHECK_STR(f, "ann@x.example");
    CG_CHECK(why == NULL);
    free(f);
}

/* test_envelope - the SMTP argument against the MTA's own parse */
static void test_envelope(void)
{
    const unsigned fold = CG_ADDR_FOLD_LOCAL;
    static const struct {
        const char *arg, *mta;
        unsigned flags;
        const char *want;
        enum cg_addr_source src;
        const char *why;
    } cases[] = {
        /* both agree: the argument */
        {"<@a.example:\"ann\"@CUST.example.>", "ann@cust.example", fold, "ann@cust.example",
         CG_ADDR_FROM_ARG, NULL},
        /* Postfix lower-cases its macro: with lowercase off the case stays */
        {"<Ann@Cust.Example>", "ann@cust.example", 0, "Ann@cust.example", CG_ADDR_FROM_ARG, NULL},
        {"<\xc3\x84nn@x.example>", "\xc3\xa4nn@x.example", 0, "\xc3\x84nn@x.example",
         CG_ADDR_FROM_ARG, NULL},
        /* Sendmail keeps the quotes in its macro: still the same mailbox */
        {"<\"ann\"@cust.example>", "\"ann\"@cust.example", fold, "ann@cust.example",
         CG_ADDR_FROM_ARG, NULL},
        /* the MTA resolved a '%' path (Sendmail): its mailbox */
        {"<ann%cust.example@localhost>", "ann@cust.example", fold, "ann@cust.example",
         CG_ADDR_FROM_MTA, "resolved it to another mailbox"},
        /* the argument does not parse, the MTA's form does */
        {"<ann smith@cust.example>", "ann.smith@cust.example", fold, "ann.smith@cust.example",
         CG_ADDR_FROM_MTA, "two words"},
        {"<postmaster>", "postmaster@test.example", fold, "postmaster@test.example",
         CG_ADDR_FROM_MTA, "no '@domain'"},
        {"<ann@@cust.example>", "\"ann@\"@cust.example", fold, "\"ann@\"@cust.example",
         CG_ADDR_FROM_MTA, "empty domain"},
        /* neither: the raw form, lower-cased */
        {"<Ann Smith@Cust.Example>", NULL, fold, "ann smith@cust.example", CG_ADDR_FROM_RAW,
         "two words"},
        {"<Ann Smith@Cust.Example>", "also bad", fold, "ann smith@cust.example",
         CG_ADDR_FROM_RAW, "two words"},
        /* the null sender; an empty recipient */
        {"<>", NULL, fold | CG_ADDR_NULL_OK, "", CG_ADDR_FROM_ARG, NULL},
        {"<>", "", fold, NULL, CG_ADDR_FROM_RAW, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = NULL;
        enum cg_addr_source src = -1;
        char *a = cg_addr_envelope(cases[i].arg, cases[i].mta, cases[i].flags, &why, &src);
        CG_CHECK_STR(a, cases[i].want);
        CG_CHECK(src == cases[i].src);
        if (cases[i].why)
            CG_CHECK_CONTAINS(why, cases[i].why);
        else
            CG_CHECK(why == NULL);
        free(a);
    }
    CG_CHECK(cg_addr_envelope(NULL, NULL, fold, NULL, NULL) == NULL);
}

/* test_patterns - configured globs in the normalised form */
static void test_patterns(void)
{
    static const char *p[][2] = {
        {"*@Offers.Corp.Example", "*@offers.corp.example"},
        {"*@Offers.Corp.Example.", "*@offers.corp.example"},
        {"*@B\xc3\x9c" "CHER.example", "*@xn--bcher-kva.example"},
        {"qa-?@Bank.Example", "qa-?@bank.example"},
        {"QA-*@*.Example", "QA-*@*.example"},
        {"\"qa\"@Bank.Example.", "qa@bank.example"},
        {"Billing@Bank.Example", "Billing@bank.example"},
        {"*", "*"},
        {"not an address", "not an address"},
    };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        char *a = cg_addr_pattern(p[i][0]);
        CG_CHECK_STR(a, p[i][1]);
        free(a);
    }
    char *list[] = {cg_xstrdup("*@Bücher.Example"), cg_xstrdup("ann@X.example.")};
    cg_addr_pattern_list(list, 2);
    CG_CHECK_STR(list[0], "*@xn--bcher-kva.example");
    CG_CHECK_STR(list[1], "ann@x.example");
    char *addr = cg_addr_normalise("<@a.example:\"ann\"@B\xc3\x9c" "CHER.example.>",
                                   CG_ADDR_FOLD_LOCAL, NULL);
    CG_CHECK(addr && cg_glob_match(list[0], addr));
    free(addr);
    free(list[0]);
    free(list[1]);
}

/* test_small - cg_addr_domain, cg_addr_printable */
static void test_small(void)
{
    CG_CHECK_STR(cg_addr_domain("a@b.example"), "b.example");
    CG_CHECK_STR(cg_addr_domain("\"a@b\"@c.example"), "c.example");
    CG_CHECK_STR(cg_addr_domain("nothing"), "");
    CG_CHECK_STR(cg_addr_domain(NULL), "");
    char buf[8];
    CG_CHECK_STR(cg_addr_printable("a\nb", buf, sizeof buf), "a?b");
    CG_CHECK_STR(cg_addr_printable("abcdefghijk", buf, sizeof buf), "abcd...");
    CG_CHECK_STR(cg_addr_printable(NULL, buf, sizeof buf), "");
}

int main(void)
{
    CG_RUN(test_generated_variants);
    CG_RUN(test_idempotent);
    CG_RUN(test_spellings_mtas_deliver_as_one);
    CG_RUN(test_malformed);
    CG_RUN(test_fallback);
    CG_RUN(test_envelope);
    CG_RUN(test_patterns);
    CG_RUN(test_small);
    CG_DONE("test_addr");
}
