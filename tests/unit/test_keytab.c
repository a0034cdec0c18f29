/*
 * test_keytab.c - the key-table engine (cg_keytab.h) on a table of its
 * own, one row of every type: values land in their fields, defaults fill
 * what no file set, a once-key set in two files is refused, required and
 * non-empty objects, a list's items converted, the printout (quiet rows,
 * items with their heading), the key list, and freeing (ASan: make asan).
 * Adding a key of any type is one row: each row below is one.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_keytab.h"
#include "cg_test.h"

struct item {
    char *name;
    char **tags;
    size_t n_tags;
};

struct conf {
    char *name;
    int on;
    int level;
    int64_t wait_secs;
    char **words;
    size_t n_words;
    struct cg_cidr *nets;
    size_t n_nets;
    char *inner_s;
    int64_t quiet_secs;
    struct item *items;
    size_t n_items;
    char *params;
    char **files;
    size_t n_files;
};

static const struct cg_kt_choice levels[] = {{"low", 1}, {"high", 2}, {NULL, 0}};

/* upper - a convert function: the value in capitals */
static char *upper(const char *file, const char *s)
{
    (void)file;
    char *u = strdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

/* no_x - a check function */
static const char *no_x(const char *s, char *buf, size_t len)
{
    return strchr(s, 'x') ? cg_kt_quoted(buf, len, s, "has an x") : NULL;
}

static void item_heading(FILE *fp, size_t i, const void *it)
{
    fprintf(fp, "  item %zu: %s\n", i, ((const struct item *)it)->name);
}

static const struct cg_kt_key item_keys[] = {
    {"name", CG_KT_STRING, offsetof(struct item, name), .missing = "is missing",
     .flags = CG_KT_IN_HEADING, .doc = "its name"},
    {"tags", CG_KT_STRLIST, offsetof(struct item, tags), offsetof(struct item, n_tags),
     .convert = upper, .doc = "tags, kept in capitals"},
    {NULL},
};
static const struct cg_kt_table item_table = {
    .keys = item_keys, .size = sizeof(struct item), .indent = 4, .heading = item_heading};

static const struct cg_kt_key inner_keys[] = {
    {"s", CG_KT_STRING, offsetof(struct conf, inner_s), .def = "dflt", .doc = "a string"},
    {"quiet", CG_KT_DURATION, offsetof(struct conf, quiet_secs), .flags = CG_KT_QUIET,
     .doc = "shown only when set"},
    {NULL},
};
static const struct cg_kt_table inner_table = {.keys = inner_keys, .once = 1, .indent = 2};

static const struct cg_kt_key keys[] = {
    {"name", CG_KT_STRING, offsetof(struct conf, name), .def = "anon", .check = no_x,
     .doc = "a string"},
    {"on", CG_KT_BOOL, offsetof(struct conf, on), .def = "true", .doc = "a boolean"},
    {"level", CG_KT_ENUM, offsetof(struct conf, level), .def = "low", .choices = levels,
     .hint = "(say how loud)", .doc = "an enum"},
    {"wait", CG_KT_DURATION, offsetof(struct conf, wait_secs), .def = "2h", .doc = "a duration"},
    {"words", CG_KT_STRLIST, offsetof(struct conf, words), offsetof(struct conf, n_words),
     .check = no_x, .doc = "strings"},
    {"nets", CG_KT_CIDRS, offsetof(struct conf, nets), offsetof(struct conf, n_nets),
     .doc = "CIDRs"},
    {"inner", CG_KT_OBJECT, .sub = &inner_table, .doc = "an object"},
    {"items", CG_KT_ITEMS, offsetof(struct conf, items), offsetof(struct conf, n_items),
     .sub = &item_table, .doc = "objects"},
    {"params", CG_KT_JSON, offsetof(struct conf, params), .none = "{}", .doc = "JSON"},
    {"include", CG_KT_INCLUDE, offsetof(struct conf, files), offsetof(struct conf, n_files),
     .doc = "files"},
    {NULL},
};
static const struct cg_kt_table table = {.keys = keys, .once = 1, .indent = 2};

/* include_fn - an "included file" is a JSON text in its name */
static int include_fn(struct cg_kt_loader *L, const char *path)
{
    const char *slash = strrchr(path, '/');
    json_t *doc = json_loads(slash ? slash + 1 : path, 0, NULL);
    if (!doc)
        return cg_kt_error(L, NULL, "bad include");
    const char *me = L->file;
    L->file = "inc.json";
    int rc = cg_kt_load(L, &table, doc, L->arg, "");
    L->file = me;
    json_decref(doc);
    return rc;
}

/* load - text into c; 0 or -1 with err */
static int load(const char *text, struct conf *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct cg_kt_loader L = {.err = err, .errlen = errlen, .file = "t.json",
                             .seen = json_object(), .include = include_fn, .arg = c};
    json_t *doc = json_loads(text, 0, NULL);
    int rc = doc ? cg_kt_load(&L, &table, doc, c, "") : -1;
    if (rc == 0)
        rc = cg_kt_defaults(&L, &table, c, "");
    json_decref(doc);
    json_decref(L.seen);
    return rc;
}

static void test_values_and_defaults(void)
{
    struct conf c;
    char err[512] = "";
    CG_CHECK(load("{\"level\": \"high\", \"words\": \"one\", \"nets\": [\"10.0.0.0/8\", \"::1\"],"
                  " \"inner\": {\"quiet\": 90}, \"items\": [{\"name\": \"a\", \"tags\": [\"t\", \"u\"]},"
                  " {\"name\": \"b\"}], \"params\": {\"k\": [1, 2]}}",
                  &c, err, sizeof err) == 0);
    CG_CHECK_STR(err, "");
    CG_CHECK_STR(c.name, "anon");   /* defaults */
    CG_CHECK(c.on == 1 && c.wait_secs == 7200);
    CG_CHECK_STR(c.inner_s, "dflt");
    CG_CHECK(c.level == 2);         /* values */
    CG_CHECK(c.n_words == 1 && !strcmp(c.words[0], "one") && c.words[1] == NULL);
    CG_CHECK(c.n_nets == 2 && c.nets[0].prefix == 8 && c.nets[1].prefix == 128);
    CG_CHECK(c.quiet_secs == 90);
    CG_CHECK(c.n_items == 2);
    if (c.n_items == 2) {
        CG_CHECK_STR(c.items[0].name, "a");
        CG_CHECK(c.items[0].n_tags == 2 && !strcmp(c.items[0].tags[1], "U")); /* converted */
        CG_CHECK(c.items[1].tags == NULL && c.items[1].n_tags == 0);
    }
    CG_CHECK_STR(c.params, "{\"k\":[1,2]}");
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_kt_print(fp, &table, &c);
    fclose(fp);
    CG_CHECK_STR(buf, "  name        anon\n"
                      "  on          true\n"
                      "  level       high\n"
                      "  wait        2h\n"
                      "  words       one\n"
                      "  nets        10.0.0.0/8, ::1/128\n"
                      "  inner.s     dflt\n"
                      "  inner.quiet 90s\n"
                      "  params      {\"k\":[1,2]}\n"
                      "  include     none\n"
                      "items (2)\n"
                      "  item 0: a\n"
                      "    tags T, U\n"
                      "  item 1: b\n"
                      "    tags none\n");
    free(buf);
    cg_kt_free(&table, &c);
    /* a quiet row that is not set is not shown */
    CG_CHECK(load("{}", &c, err, sizeof err) == 0);
    buf = NULL;
    fp = open_memstream(&buf, &len);
    cg_kt_print(fp, &table, &c);
    fclose(fp);
    CG_CHECK(buf && !strstr(buf, "quiet"));
    CG_CHECK_CONTAINS(buf, "  params      {}\n");
    free(buf);
    cg_kt_free(&table, &c);
}

static const char *const bad[][2] = {
    {"{\"nope\": 1}", "t.json: nope: unknown key (known here: name, on, level, wait, words, nets, "
                      "inner, items, params, include)"},
    {"{\"name\": 1}", "t.json: name: is an integer, expected a string"},
    {"{\"name\": \"\"}", "t.json: name: is empty"},
    {"{\"name\": \"xy\"}", "t.json: name: \"xy\" has an x"},
    {"{\"on\": \"yes\"}", "t.json: on: is a string, expected true or false"},
    {"{\"level\": \"mid\"}", "t.json: level: \"mid\" is not low or high (say how loud)"},
    {"{\"wait\": \"7x\"}", "t.json: wait: \"7x\" is not a duration"},
    {"{\"wait\": 315619201}", "t.json: wait: 315619201 is longer than 10 years"},
    {"{\"wait\": true}", "t.json: wait: is a boolean, expected a duration"},
    {"{\"words\": [\"a\", 2]}", "t.json: words[1]: is an integer, expected a string"},
    {"{\"words\": [\"a\", \"x\"]}", "t.json: words[1]: \"x\" has an x"},
    {"{\"nets\": [\"10.0.0.0/33\"]}", "t.json: nets[0]: \"10.0.0.0/33\" is not an IP address or CIDR"},
    {"{\"inner\": {\"s\": 5}}", "t.json: inner.s: is an integer, expected a string"},
    {"{\"items\": [{\"tags\": \"a\"}]}", "t.json: items[0].name: is missing"},
    {"{\"items\": [7]}", "t.json: items[0]: is an integer, expected an object"},
    {"{\"items\": {}}", "t.json: items: is an object, expected a list of objects"},
    {"{\"params\": []}", "t.json: params: is a list, expected an object"},
    /* set here and in an included file: refused, naming both */
    {"{\"include\": \"{\\\"name\\\": \\\"b\\\"}\", \"name\": \"a\"}",
     "t.json: name: already set in inc.json (a setting is made in one file only)"},
    {"{\"include\": \"{\\\"inner\\\": {\\\"s\\\": \\\"b\\\"}}\", \"inner\": {\"s\": \"a\"}}",
     "t.json: inner.s: already set in inc.json"},
};

/* one bad value per rule: refused with the file, key path and reason (and
 * what was read so far is freed) */
static void test_errors(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conf c;
        char err[512] = "";
        CG_CHECK(load(bad[i][0], &c, err, sizeof err) < 0);
        if (!strstr(err, bad[i][1]))
            fprintf(stderr, "  case %zu: %s\n    got: %s\n", i, bad[i][0], err);
        CG_CHECK_CONTAINS(err, bad[i][1]);
        cg_kt_free(&table, &c);
    }
}

/* items of every file are appended; include is read first */
static void test_include_and_items(void)
{
    struct conf c;
    char err[512] = "";
    CG_CHECK(load("{\"items\": [{\"name\": \"mine\"}], \"include\": "
                  "\"{\\\"items\\\": [{\\\"name\\\": \\\"theirs\\\"}]}\"}",
                  &c, err, sizeof err) == 0);
    CG_CHECK(c.n_items == 2);
    if (c.n_items == 2) {
        CG_CHECK_STR(c.items[0].name, "theirs");
        CG_CHECK_STR(c.items[1].name, "mine");
    }
    CG_CHECK(c.n_files == 1);
    cg_kt_free(&table, &c);
}

static void count_key(const struct cg_kt_info *k, void *arg)
{
    struct cg_buf *b = arg;
    cg_buf_printf(b, "%s|%s|%s|%d%d%d\n", k->path, k->type, k->def ? k->def : "-", k->required,
                  k->in_heading, k->items);
}

/* every row, with its path, type and default */
static void test_walk(void)
{
    struct cg_buf b = {0};
    cg_kt_walk(&table, count_key, &b);
    CG_CHECK_STR(b.s, "name|string|anon|000\n"
                      "on|boolean|true|000\n"
                      "level|low or high|low|000\n"
                      "wait|duration|2h|000\n"
                      "words|list of strings|-|000\n"
                      "nets|list of CIDRs|-|000\n"
                      "inner|object|-|000\n"
                      "inner.s|string|dflt|000\n"
                      "inner.quiet|duration|-|000\n"
                      "items|list of objects|-|001\n"
                      "items[].name|string|-|110\n"
                      "items[].tags|list of strings|-|000\n"
                      "params|object|-|000\n"
                      "include|list of files|-|000\n");
    cg_buf_free(&b);
}

int main(void)
{
    CG_RUN(test_values_and_defaults);
    CG_RUN(test_errors);
    CG_RUN(test_include_and_items);
    CG_RUN(test_walk);
    CG_DONE("test_keytab");
}
