/*
 * fuzz_addr.c - libFuzzer target: the address helpers every envelope goes
 * through. cg_addr_normalise (MAIL FROM and RCPT TO as the MTA hands them
 * over, and every address of an import), the sender globs (cg_glob_match)
 * and the client CIDRs (cg_cidr_parse / cg_cidr_match).
 *
 * Input: one flag byte, then the text. Bit 0 fold_local, bit 1
 * strip_plus, bit 2 allow_null. A NUL in the text splits it in two: the
 * first part is the address (and a glob pattern and CIDR), the second the
 * text the pattern and CIDR are matched against.
 *
 * Invariants besides the sanitizers: a refusal says why; a normalised
 * address is at most 254 octets, has no blank or control character
 * outside a quoted local part, a non-empty local part and domain, a
 * lower-case domain (an address literal may keep its "IPv6:" tag), and
 * normalising it again gives it back unchanged
 * (the customer map stores normalised addresses and RCPT TO is
 * normalised before the lookup: the two must meet). A glob matches its
 * own text; a parsed CIDR contains its own address.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fz_common.h"
#include "cg_addr.h" /* the normaliser */
#include "cg_util.h" /* globs, CIDRs */

#define ADDR_MAX CG_ADDR_MAX /* octets of a whole address */

/* normalise - the function under test (flags: 1 fold the local part, 2
 * strip +tag, 4 the null sender is ""). CG_FUZZ_SELFTEST=1 puts a broken
 * one in its place (it returns the input as it is), which the invariants
 * must catch: tests/e2e/test_fuzz_smoke.sh checks that they do. */
static char *normalise(const char *raw, unsigned flags, const char **why)
{
    static int selftest = -1;
    if (selftest < 0)
        selftest = getenv("CG_FUZZ_SELFTEST") != NULL;
    if (selftest && raw)
        return cg_xstrdup(raw);
    return cg_addr_normalise(raw, flags & (CG_ADDR_FOLD_LOCAL | CG_ADDR_STRIP_PLUS | CG_ADDR_NULL_OK), why);
}

/* check_normalised - what a normalised address must look like */
static void check_normalised(const char *in, const char *a, unsigned flags)
{
    size_t len = strlen(a);
    if (len > ADDR_MAX)
        fz_fail("normalised \"%s\" is longer than %d octets", a, ADDR_MAX);
    if (!len) {
        if (!(flags & 4))
            fz_fail("empty address from \"%s\" without the null sender allowed", in);
        return;
    }
    size_t qend = 0;
    if (a[0] == '"') {
        for (qend = 1; qend < len && a[qend] != '"'; qend++)
            if (a[qend] == '\\' && qend + 1 < len)
                qend++;
        if (qend >= len)
            fz_fail("normalised \"%s\": quoted local part not closed", a);
    }
    for (size_t i = qend; i < len; i++)
        if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f)
            fz_fail("normalised \"%s\" has a blank or control character at %zu", a, i);
    const char *at = strrchr(a, '@');
    if (!at || at == a || at < a + qend)
        fz_fail("normalised \"%s\" has no local part before '@'", a);
    if (!at[1])
        fz_fail("normalised \"%s\" has no domain", a);
    for (const char *p = at + 1; at[1] != '[' && *p; p++) /* "[IPv6:..." keeps its tag */
        if (isupper((unsigned char)*p))
            fz_fail("normalised \"%s\": domain not lower case", a);
    if (flags & 1)
        for (const char *p = a; p < at; p++)
            if (isupper((unsigned char)*p))
                fz_fail("normalised \"%s\": local part not folded", a);
    const char *why = NULL;
    char *again = normalise(a, flags, &why);
    if (!again)
        fz_fail("normalised \"%s\" (from \"%s\") is refused when normalised again: %s", a, in,
                why ? why : "(no reason)");
    if (strcmp(again, a) != 0)
        fz_fail("normalising is not idempotent: \"%s\" -> \"%s\" -> \"%s\"", in, a, again);
    free(again);
}

/* check_cidr - a parsed net contains its own address */
static void check_cidr(const char *s, const char *other)
{
    struct cg_cidr c;
    if (cg_cidr_parse(s, &c) < 0) {
        (void)cg_cidr_match(&c, other); /* c is zeroed or partial: must not matter */
        return;
    }
    if (c.family != AF_INET && c.family != AF_INET6)
        fz_fail("cidr \"%s\": family %d", s, c.family);
    if (c.prefix < 0 || c.prefix > (c.family == AF_INET ? 32 : 128))
        fz_fail("cidr \"%s\": prefix %d", s, c.prefix);
    char *addr = cg_xstrdup(s);
    char *slash = strchr(addr, '/');
    if (slash)
        *slash = 0;
    if (cg_cidr_match(&c, addr) != 1)
        fz_fail("cidr \"%s\" does not contain its own address \"%s\"", s, addr);
    free(addr);
    (void)cg_cidr_match(&c, other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 7;
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    const uint8_t *nul = memchr(text, 0, n);
    char *first = fz_strndup(text, n);
    char *second = nul ? fz_strndup(nul + 1, n - (size_t)(nul + 1 - text)) : cg_xstrdup("");

    const char *why = NULL;
    char *a = normalise(first, flags, &why);
    if (a)
        check_normalised(first, a, flags);
    else if (!why || !*why)
        fz_fail("\"%s\" refused without a reason", first);

    /* sender globs: the pattern matches its own text, "*" matches all */
    if (cg_glob_match(first, first) != 1)
        fz_fail("glob \"%s\" does not match itself", first);
    if (cg_glob_match("*", second) != 1)
        fz_fail("glob \"*\" does not match \"%s\"", second);
    (void)cg_glob_match(first, second);
    if (a)
        (void)cg_glob_match(second, a);

    check_cidr(first, second);

    free(a);
    free(first);
    free(second);
    return 0;
}
