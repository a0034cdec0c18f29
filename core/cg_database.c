/*
 * cg_database.c - the `database` setting: SQLite file or PostgreSQL
 * server (cg_database.h).
 */
#include "cg_database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_util.h"

#define KEY_CHARS "abcdefghijklmnopqrstuvwxyz_"

/* uri_scheme - the length of "postgresql://" or "postgres://", or 0 */
static size_t uri_scheme(const char *s)
{
    if (!strncmp(s, "postgresql://", 13))
        return 13;
    return strncmp(s, "postgres://", 11) ? 0 : 11;
}

/* cg_database_is_pg - a URI, or a first word of the form key=value */
int cg_database_is_pg(const char *db)
{
    if (!db)
        return 0;
    if (uri_scheme(db))
        return 1;
    size_t k = strspn(db, KEY_CHARS);
    return k > 0 && db[k + strspn(db + k, " ")] == '=';
}

/* conninfo_next - one "key = value" word of a conninfo string (the value
 * bare or single-quoted with backslash escapes): *key_r and *val_r point
 * at them, *klen_r is the key's length; returns the rest of the string,
 * or NULL at its end, with *bad_r set when a word is malformed */
static const char *conninfo_next(const char *p, const char **key_r, size_t *klen_r,
                                 const char **val_r, int *bad_r)
{
    p += strspn(p, " \t");
    if (!*p)
        return NULL;
    *key_r = p;
    *klen_r = strspn(p, KEY_CHARS);
    p += *klen_r;
    p += strspn(p, " ");
    if (!*klen_r || *p != '=') {
        *bad_r = 1;
        return NULL;
    }
    p++;
    p += strspn(p, " ");
    *val_r = p;
    if (*p != '\'')
        return p + strcspn(p, " \t");
    for (p++; *p && *p != '\''; p++)
        if (*p == '\\' && p[1])
            p++;
    if (*p != '\'') {
        *bad_r = 1;
        return NULL;
    }
    return p + 1;
}

static void mask(struct cg_buf *b, const char *db);

/* cg_database_check - the form of a path, URI or conninfo string */
const char *cg_database_check(const char *db, char *buf, size_t len)
{
    const char *why = NULL;
    for (const char *p = db; *p && !why; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            why = "contains a control character";
    size_t scheme = uri_scheme(db);
    if (!why && scheme && (!db[scheme] || strpbrk(db, " \t")))
        why = "is not a PostgreSQL URI "
              "(postgresql://[user[:password]@]host[:port]/dbname[?param=value&...])";
    if (!why && !scheme && cg_database_is_pg(db)) {
        const char *p = db, *key, *val;
        size_t klen;
        int bad = 0;
        while ((p = conninfo_next(p, &key, &klen, &val, &bad)))
            ;
        if (bad)
            why = "is not a PostgreSQL conninfo string (key=value words, e.g. "
                  "host=db1 dbname=contactgate)";
    }
    if (!why)
        return NULL;
    struct cg_buf shown = {0};
    mask(&shown, db); /* a refused value is still no place for a password */
    snprintf(buf, len, "\"%s\" %s", shown.s ? shown.s : "", why);
    cg_buf_free(&shown);
    return buf;
}

/* mask_uri - a URI's password in its user info and its parameters */
static void mask_uri(struct cg_buf *b, const char *db)
{
    const char *p = db, *auth = db + uri_scheme(db);
    const char *end = auth + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        cg_buf_addn(b, db, (size_t)(colon + 1 - db));
        cg_buf_add(b, "***");
        p = at;
    }
    for (const char *q = strchr(p, '?'); q; q = strchr(q + 1, '&'))
        if (!strncmp(q + 1, "password=", 9)) {
            cg_buf_addn(b, p, (size_t)(q + 10 - p));
            cg_buf_add(b, "***");
            p = q + 10 + strcspn(q + 10, "&");
        }
    cg_buf_add(b, p);
}

/* mask_conninfo - the value of a password word */
static void mask_conninfo(struct cg_buf *b, const char *db)
{
    const char *p = db, *key, *val, *next;
    size_t klen;
    int bad = 0;
    while ((next = conninfo_next(p, &key, &klen, &val, &bad))) {
        if (klen == 8 && !strncmp(key, "password", 8)) {
            cg_buf_addn(b, p, (size_t)(val - p));
            cg_buf_add(b, "***");
        } else {
            cg_buf_addn(b, p, (size_t)(next - p));
        }
        p = next;
    }
    if (bad) { /* a malformed rest may hold a password */
        cg_buf_addn(b, p, strspn(p, " \t"));
        cg_buf_add(b, "***");
    } else {
        cg_buf_add(b, p);
    }
}

/* mask - db with its passwords masked */
static void mask(struct cg_buf *b, const char *db)
{
    if (uri_scheme(db))
        mask_uri(b, db);
    else if (cg_database_is_pg(db))
        mask_conninfo(b, db);
    else
        cg_buf_add(b, db);
}

/* cg_database_masked - masked only */
char *cg_database_masked(const char *db)
{
    struct cg_buf b = {0};
    mask(&b, db ? db : "");
    return b.s ? b.s : cg_xstrdup("");
}

/* cg_database_text - masked, with the backend named */
char *cg_database_text(const char *db)
{
    struct cg_buf b = {0};
    mask(&b, db ? db : "");
    cg_buf_add(&b, cg_database_is_pg(db) ? " (PostgreSQL)" : " (SQLite)");
    return b.s;
}
