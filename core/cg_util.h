/*
 * cg_util.h - small string, pattern and CIDR helpers shared by the
 * daemon, contactgatectl, plugins' host side and the tests.
 *
 * Nothing here allocates behind the caller's back except the cg_x* family,
 * which aborts on out-of-memory (start-up and CLI only; the mail path uses
 * them too, like Postfix's mymalloc: an OOM is not a recoverable state).
 */
#ifndef CG_UTIL_H
#define CG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include "cg_time.h" /* durations and times: most users of this header need them */

/* cg_xmalloc etc. - allocate or die (panic: out of memory). */
void *cg_xmalloc(size_t n);
void *cg_xcalloc(size_t n, size_t m);
void *cg_xrealloc(void *p, size_t n);
char *cg_xstrdup(const char *s);          /* NULL in, NULL out */
char *cg_xstrndup(const char *s, size_t n);
char *cg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cg_strlcpy - copy with truncation; returns strlen(src). */
size_t cg_strlcpy(char *dst, const char *src, size_t size);
/* cg_errf - format an error into err[errlen] (NULL-safe); returns -1. */
int cg_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cg_glob_match - case-insensitive shell-style '*' and '?' match (for
 * sender patterns like "*@offers.corp.example"). */
int cg_glob_match(const char *pattern, const char *text);

/* CIDR. A net is IPv4 or IPv6 with a prefix length. */
struct cg_cidr {
    int family;               /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};
int cg_cidr_parse(const char *s, struct cg_cidr *c);        /* 0 or -1 */
int cg_cidr_match(const struct cg_cidr *c, const char *ip); /* 1 match */

/* cg_fnv64 - FNV-1a, for config versions (not for security). */
uint64_t cg_fnv64(const void *data, size_t len, uint64_t seed);
#define CG_FNV64_SEED 0xcbf29ce484222325ULL

/* cg_ref_new - a short unique reference for a decision, e.g.
 * "CG5F3A2B1C00A7": shown to the department and logged for compliance. */
void cg_ref_new(char *buf, size_t len);

/* String buffer, grows as needed. */
struct cg_buf {
    char *s;
    size_t len, cap;
};
void cg_buf_add(struct cg_buf *b, const char *s);
void cg_buf_addn(struct cg_buf *b, const char *s, size_t n);
void cg_buf_printf(struct cg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_buf_free(struct cg_buf *b);

#endif
