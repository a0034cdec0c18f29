/*
 * cg_csv.c - the CSV record reader of the bulk imports (see cg_csv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_csv.h"
#include "cg_util.h"

void cg_csv_init(struct cg_csv *c, FILE *fp)
{
    memset(c, 0, sizeof *c);
    c->fp = fp;
    c->next_line = 1;
}

void cg_csv_free(struct cg_csv *c)
{
    free(c->rec);
    free(c->tmp);
    free(c->field);
    memset(c, 0, sizeof *c);
}

/* utf8_ok - well-formed UTF-8 (no overlong forms, no surrogates) */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n;
        unsigned cp;
        if ((*s & 0xe0) == 0xc0)
            n = 1, cp = *s & 0x1f;
        else if ((*s & 0xf0) == 0xe0)
            n = 2, cp = *s & 0x0f;
        else if ((*s & 0xf8) == 0xf0)
            n = 3, cp = *s & 0x07;
        else
            return 0;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* rec_add - append n bytes to the record buffer */
static void rec_add(struct cg_csv *c, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > c->rec_cap) {
        size_t cap = c->rec_cap ? c->rec_cap : 256;
        while (cap < *len + n + 1)
            cap *= 2;
        c->rec = cg_xrealloc(c->rec, cap);
        c->rec_cap = cap;
    }
    memcpy(c->rec + *len, s, n);
    *len += n;
    c->rec[*len] = 0;
}

/* read_record - the next record's raw text (quoted newlines kept):
 * 1, 0 at end of file, -1 unterminated quote */
static int read_record(struct cg_csv *c)
{
    size_t len = 0;
    int quotes = 0;
    c->line = c->next_line;
    for (;;) {
        ssize_t k = getline(&c->tmp, &c->tmp_cap, c->fp);
        if (k < 0) {
            if (len == 0)
                return 0;
            return quotes ? -1 : 1;
        }
        c->next_line++;
        const char *p = c->tmp;
        if (c->line == 1 && len == 0 && k >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
            p += 3, k -= 3; /* byte-order mark */
        for (ssize_t i = 0; i < k; i++)
            quotes ^= p[i] == '"';
        rec_add(c, &len, p, (size_t)k);
        if (!quotes) {
            while (len && (c->rec[len - 1] == '\n' || c->rec[len - 1] == '\r'))
                c->rec[--len] = 0;
            return 1;
        }
    }
}

int cg_csv_next(struct cg_csv *c, const char **why)
{
    for (;;) {
        int r = read_record(c);
        if (r <= 0) {
            if (r < 0)
                *why = "a quoted field is not closed before the end of the file";
            return r;
        }
        const char *b = c->rec;
        while (*b == ' ' || *b == '\t')
            b++;
        if (*b)
            break; /* not a blank line */
    }
    char *r = c->rec, *w = c->rec;
    c->n = 0;
    for (;;) {
        while (*r == ' ' || *r == '\t')
            r++;
        char *start = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else if (!*r) {
                    *why = "a quoted field is not closed";
                    return -1;
                } else {
                    *w++ = *r++;
                }
            }
            while (*r == ' ' || *r == '\t')
                r++;
            if (*r && *r != ',') {
                *why = "text after the closing quote of a field";
                return -1;
            }
        } else {
            while (*r && *r != ',') {
                if (*r == '"') {
                    *why = "a quote inside an unquoted field (quote the whole field)";
                    return -1;
                }
                *w++ = *r++;
            }
            while (w > start && (w[-1] == ' ' || w[-1] == '\t'))
                w--;
        }
        char end = *r; /* *w = 0 below may overwrite it when w == r */
        *w++ = 0;
        if (c->n + 1 >= c->field_cap) {
            c->field_cap = c->field_cap ? c->field_cap * 2 : 16;
            c->field = cg_xrealloc(c->field, c->field_cap * sizeof *c->field);
        }
        c->field[c->n++] = start;
        if (!utf8_ok((const unsigned char *)start)) {
            *why = "not valid UTF-8 text";
            return -1;
        }
        if (end != ',')
            break;
        r++;
    }
    c->field[c->n] = NULL;
    return 1;
}
