/*
 * cg_util.c - small string, pattern and CIDR helpers (addresses: cg_addr.c,
 * times: cg_time.c).
 *
 * Contracts are in cg_util.h. Nothing here logs; errors are returned.
 */
#include "cg_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* cg_oom - out of memory is a panic, as in Postfix's mymalloc */
static void cg_oom(size_t n)
{
    fprintf(stderr, "contactgate: panic: out of memory allocating %zu bytes\n", n);
    abort();
}

/* cg_xmalloc - malloc or die */
void *cg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        cg_oom(n);
    return p;
}

/* cg_xcalloc - calloc or die */
void *cg_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        cg_oom(n * m);
    return p;
}

/* cg_xrealloc - realloc or die */
void *cg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        cg_oom(n);
    return q;
}

/* cg_xstrdup - strdup or die; NULL in, NULL out */
char *cg_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = cg_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* cg_xstrndup - copy at most n bytes, always terminated */
char *cg_xstrndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = cg_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* xvasprintf - formatted allocation or die; its length in *n_r */
static char *xvasprintf(size_t *n_r, const char *fmt, va_list ap)
{
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    if (n < 0)
        cg_oom(strlen(fmt));
    *n_r = (size_t)n;
    return p;
}

/* cg_xasprintf - formatted allocation or die */
char *cg_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n;
    char *p = xvasprintf(&n, fmt, ap);
    va_end(ap);
    return p;
}

/* cg_strlcpy - bounded copy; returns strlen(src) */
size_t cg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = 0;
    }
    return len;
}

/* cg_errf - format into an error buffer; always returns -1 */
int cg_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* cg_glob_match - case-insensitive '*' and '?' */
int cg_glob_match(const char *p, const char *t)
{
    const char *star = NULL, *mark = NULL;
    while (*t) {
        if (*p == '*') {
            star = p++;
            mark = t;
        } else if (*p == '?' || (*p && tolower((unsigned char)*p) == tolower((unsigned char)*t))) {
            p++;
            t++;
        } else if (star) {
            p = star + 1;
            t = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

/* cg_cidr_parse - "10.0.0.0/8", "::1", "192.0.2.1" */
int cg_cidr_parse(const char *s, struct cg_cidr *c)
{
    char buf[64];
    if (!s || strlen(s) >= sizeof buf)
        return -1;
    cg_strlcpy(buf, s, sizeof buf);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        if (prefix < 0)
            prefix = 32;
        if (prefix > 32)
            return -1;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        if (prefix < 0)
            prefix = 128;
        if (prefix > 128)
            return -1;
    } else {
        return -1;
    }
    c->prefix = (int)prefix;
    return 0;
}

/* cg_cidr_match - does textual address ip fall in c? IPv4-mapped IPv6
 * addresses ("::ffff:10.1.2.3", as Sendmail may report them) match IPv4
 * nets. Postfix may also hand "IPv6:..." forms; that prefix is skipped. */
int cg_cidr_match(const struct cg_cidr *c, const char *ip)
{
    unsigned char a[16];
    if (!ip)
        return 0;
    if (strncasecmp(ip, "IPv6:", 5) == 0)
        ip += 5;
    size_t n;
    if (inet_pton(AF_INET, ip, a) == 1) {
        if (c->family != AF_INET)
            return 0;
        n = 4;
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->family == AF_INET && memcmp(a, mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            n = 4;
        } else if (c->family == AF_INET6) {
            n = 16;
        } else {
            return 0;
        }
    } else {
        return 0;
    }
    (void)n;
    int bits = c->prefix;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a[i] & mask) != (c->addr[i] & mask))
            return 0;
    }
    return 1;
}

/* cg_fnv64 - FNV-1a 64 */
uint64_t cg_fnv64(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* the pid in references: looked up once per process (a forked child's
 * own is looked up again: ref_forked), not by a system call per decision */
static _Atomic pid_t ref_pid;

static void ref_forked(void)
{
    ref_pid = 0;
}

static void ref_atfork(void)
{
    pthread_atfork(NULL, NULL, ref_forked);
}

/* cg_ref_new - unique reference: time, pid and a per-process counter, in
 * Postfix-queue-ID-like upper-case hex: "CG" + 8 time + 4 pid + 4 counter. */
void cg_ref_new(char *buf, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned counter;
    pthread_once(&once, ref_atfork);
    pid_t pid = ref_pid;
    if (!pid)
        ref_pid = pid = getpid();
    pthread_mutex_lock(&lock);
    unsigned c = ++counter;
    pthread_mutex_unlock(&lock);
    snprintf(buf, len, "CG%08X%04X%04X", (unsigned)time(NULL), (unsigned)pid & 0xffff,
             c & 0xffff);
}

/* cg_buf_addn - append n bytes */
void cg_buf_addn(struct cg_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = cg_xrealloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

/* cg_buf_add - append a string */
void cg_buf_add(struct cg_buf *b, const char *s)
{
    cg_buf_addn(b, s, strlen(s));
}

/* cg_buf_printf - append formatted text */
void cg_buf_printf(struct cg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n;
    char *p = xvasprintf(&n, fmt, ap);
    va_end(ap);
    cg_buf_addn(b, p, n);
    free(p);
}

/* cg_buf_free - release; the buffer is reusable (empty) afterwards */
void cg_buf_free(struct cg_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
