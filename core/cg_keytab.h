/*
 * cg_keytab.h - key tables: JSON objects read into C structs, one row per
 * key.
 *
 * A row says everything about one key: its name, type, default, the field
 * of the struct it fills (offsetof), its validator and one line of
 * documentation. The same rows drive loading (unknown keys, types,
 * required keys, defaults, a scalar set in two files), the printout of
 * the effective values, freeing, and the list of keys for documentation
 * and tests. A nested object is a table of its own filling the same
 * struct; a list of objects is a table whose items are an array of its
 * own struct. The configuration (cg_config.c) is the user.
 *
 * Errors name the file and the key path, "FILE: policies[2].action:
 * "x" is not one of tag, hold, defer, reject", in L->err; the first error
 * stops the load.
 */
#ifndef CG_KEYTAB_H
#define CG_KEYTAB_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "cg_util.h"

enum cg_kt_type {
    CG_KT_STRING,   /* char *: a non-empty string (.check, then .convert) */
    CG_KT_BOOL,     /* int: true or false */
    CG_KT_ENUM,     /* int: the value of one of .choices */
    CG_KT_DURATION, /* int64_t seconds: "90s" ... "2w" or a number (cg_time.h) */
    CG_KT_STRLIST,  /* char ** (NULL-terminated; NULL when absent) + size_t
                       count; a single string is a list of one */
    CG_KT_CIDRS,    /* struct cg_cidr * + size_t count; "x" is ["x"]; each
                       item an address or CIDR */
    CG_KT_OBJECT,   /* an object whose keys (.sub) fill the same struct */
    CG_KT_ITEMS,    /* a list of objects: an array of .sub's struct + count;
                       every file's items are appended */
    CG_KT_JSON,     /* an object kept as compact JSON text (char *), e.g. a
                       plugin's params, which the plugin validates */
    CG_KT_INCLUDE,  /* further files, read (L->include) before this object's
                       other keys; their paths go to char ** + count */
    CG_KT_NTYPES
};

/* flags of a row */
#define CG_KT_NONEMPTY 0x01   /* OBJECT: {} is refused like an absent one */
#define CG_KT_POSITIVE 0x02   /* DURATION: 0 is refused */
#define CG_KT_IN_HEADING 0x04 /* printed in its item's heading line */
#define CG_KT_QUIET 0x08      /* printed only when set (ENUM: not its default) */

struct cg_kt_choice {
    const char *name;
    int value;
};

struct cg_kt_loader;
struct cg_kt_table;

/* cg_kt_check_fn - NULL when s is good, else the message that follows
 * "PATH: " (in buf, or a constant); cg_kt_quoted() writes `"s" what`. */
typedef const char *(*cg_kt_check_fn)(const char *s, char *buf, size_t len);

struct cg_kt_key {
    const char *name;
    enum cg_kt_type type;
    size_t off;                   /* the field, in the table's struct */
    size_t n_off;                 /* lists and items: their count */
    const char *def;              /* the default as written in a file; with
                                     def_fn (or an ENUM default that is no
                                     choice), how the documentation says it */
    const char *(*def_fn)(void);  /* a default known only at load */
    cg_kt_check_fn check;         /* STRING, and each item of STRLIST */
    /* STRING, each item of STRLIST: what is kept of a checked value (file:
     * the file it is in; not applied to a default); NULL: a copy */
    char *(*convert)(const char *file, const char *s);
    void (*show)(struct cg_buf *b, const char *s);      /* STRING: the printout */
    const struct cg_kt_choice *choices; /* ENUM, ended by a NULL name */
    const char *hint;             /* appended to a bad ENUM value's message */
    const struct cg_kt_table *sub; /* OBJECT, ITEMS */
    const char *missing;          /* required: the message when it is absent */
    const char *none;             /* the printout of an unset value ("none") */
    int64_t max_secs;             /* DURATION: the longest allowed (0: 10 years) */
    int flags;
    const char *doc;              /* one line: what the key is */
};

struct cg_kt_table {
    const struct cg_kt_key *keys; /* ended by a NULL name */
    int once;                     /* a key is set in one file only, and its
                                     default applies (cg_kt_defaults) once
                                     every file is read; otherwise defaults
                                     apply when the object is read */
    int indent;                   /* printout: spaces before a key line */
    /* ITEMS only */
    const char *note;             /* printout: after "NAME (COUNT" in its heading */
    size_t size;                  /* the item struct */
    void (*init)(void *item);     /* before the item's keys */
    int (*done)(struct cg_kt_loader *L, json_t *obj, void *item, const char *path);
    void (*heading)(FILE *fp, size_t i, const void *item);
};

/* The state of one load, for every file it reads. */
struct cg_kt_loader {
    char *err;
    size_t errlen;
    const char *file;             /* the file being read, for messages */
    json_t *seen;                 /* once-keys set so far: path -> file */
    int (*include)(struct cg_kt_loader *L, const char *path); /* INCLUDE */
    void *arg;                    /* the user's own state */
};

/* cg_kt_error - "FILE: PATH: message" (PATH may be NULL) into L->err;
 * returns -1 */
int cg_kt_error(struct cg_kt_loader *L, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* cg_kt_quoted - `"s" what` into buf, for a check function */
const char *cg_kt_quoted(char *buf, size_t len, const char *s, const char *what);
/* cg_kt_path - "path.name" ("name" when path is empty); malloc'ed */
char *cg_kt_path(const char *path, const char *name);
/* cg_kt_path_in - the file name p relative to the directory of file (an
 * absolute p as it is); malloc'ed. A convert function for paths. */
char *cg_kt_path_in(const char *file, const char *p);

/* cg_kt_load - obj's keys into base: unknown keys and wrong types are
 * refused, includes read first, then every row in table order. */
int cg_kt_load(struct cg_kt_loader *L, const struct cg_kt_table *t, json_t *obj, void *base,
               const char *path);
/* cg_kt_defaults - after every file: the defaults of a once-table's keys
 * that no file set. */
int cg_kt_defaults(struct cg_kt_loader *L, const struct cg_kt_table *t, void *base,
                   const char *path);
/* cg_kt_free - every value the rows hold in base (the fields are left
 * dangling: free base next). */
void cg_kt_free(const struct cg_kt_table *t, void *base);
/* cg_kt_print - one "path value" line per key (nested objects flattened),
 * then each list of objects: its title, and per item its heading and
 * lines. */
void cg_kt_print(FILE *fp, const struct cg_kt_table *t, const void *base);

/* One row, as cg_kt_walk shows it. */
struct cg_kt_info {
    const char *path;             /* "classify.bulk_category", "policies[].name" */
    const char *type;             /* "string", "enforce or monitor", ... */
    const char *def;              /* the documented default, or NULL */
    const char *doc;
    int required, in_heading, items;
};
/* cg_kt_walk - fn for every row, depth first, in table order */
void cg_kt_walk(const struct cg_kt_table *t, void (*fn)(const struct cg_kt_info *ki, void *arg),
                void *arg);

#endif
