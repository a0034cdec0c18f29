/*
 * test_config.c - configuration loading and validation: the example
 * policy set, defaults, relative paths, includes, one bad config per rule
 * with the error it must give (file and key path named), the new keys,
 * bounded durations; and the key table agreeing with the man page
 * (contactgate.json(5): the same keys, the same defaults) and with the -n
 * printout (every key shown, nothing shown that is not a key).
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_keytab.h"
#include "cg_log.h"
#include "cg_test.h"
#include "cg_util.h"

static char tmpdir[PATH_MAX];
static char plugin_dir[PATH_MAX];
static char policy_file[PATH_MAX];

/* write - tmpdir/name with the given text; returns the path (static) */
static const char *write_file(const char *name, const char *text)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    return path;
}

static struct cg_config *load_text(const char *text, int flags, char *err, size_t errlen)
{
    const char *path = write_file("cfg.json", text);
    return cg_config_load(path, flags, err, errlen);
}

/* the retail bank example loads with its plugins; defaults are filled */
static void test_example_and_defaults(void)
{
    char text[PATH_MAX * 3], err[1024] = "";
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"%s\", \"database\": \"hist.db\", \"include\": [\"%s\"]}",
             plugin_dir, policy_file);
    struct cg_config *c = load_text(text, 0, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CG_CHECK(c->n_departments == 4);
    CG_CHECK(c->n_policies >= 5);
    CG_CHECK_STR(c->departments[0].name, "billing");
    CG_CHECK_STR(c->policies[0].name, "respect-opt-outs");
    CG_CHECK(c->policies[0].so != NULL && c->policies[0].instance != NULL);
    CG_CHECK(c->policies[0].action == CG_ACT_REJECT);
    CG_CHECK_STR(c->socket, "unix:/run/contactgate/contactgate.sock");
    CG_CHECK_STR(c->tag_header, "X-Contact-Gate");
    CG_CHECK_STR(c->category_header, "X-Contact-Category");
    CG_CHECK_STR(c->timezone, "Europe/London");
    CG_CHECK(c->mode == CG_MODE_ENFORCE && c->on_error == CG_ONERR_TEMPFAIL);
    CG_CHECK(c->durability_power == 0); /* the default: survives a crash of the process */
    /* relative paths are relative to the config file's directory */
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/hist.db", tmpdir);
    CG_CHECK_STR(c->database, want);
    CG_CHECK(strlen(c->version) == 16);
    /* the policy-level monitor mode survives; others inherit enforce */
    int monitors = 0;
    for (size_t i = 0; i < c->n_policies; i++)
        monitors += c->policies[i].mode == CG_MODE_MONITOR;
    CG_CHECK(monitors == 1);
    /* the printout names every policy */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_config_print(c, fp);
    fclose(fp);
    CG_CHECK_CONTAINS(buf, "1. respect-opt-outs: consent");
    CG_CHECK_CONTAINS(buf, "2. no-promotions-during-complaint: customer_state");
    CG_CHECK_CONTAINS(buf, "no-promotion-within-48h-after-a-bill: spacing");
    CG_CHECK_CONTAINS(buf, "promotions-3-per-week: frequency");
    free(buf);
    /* reference counting */
    struct cg_config *r = cg_config_ref(c);
    CG_CHECK(r == c && c->refs == 2);
    cg_config_unref(&r);
    CG_CHECK(r == NULL && c->refs == 1);
    cg_config_unref(&c);
    CG_CHECK(c == NULL);
}

/* a global monitor mode is inherited by policies without their own */
static void test_global_monitor(void)
{
    char text[PATH_MAX * 3], err[1024] = "";
    snprintf(text, sizeof text, "{\"mode\": \"monitor\", \"include\": [\"%s\"]}", policy_file);
    struct cg_config *c = load_text(text, CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c)
        return;
    for (size_t i = 0; i < c->n_policies; i++)
        CG_CHECK(c->policies[i].mode == CG_MODE_MONITOR);
    CG_CHECK(c->policies[0].so == NULL); /* NO_PLUGINS */
    cg_config_unref(&c);
}

static const char *const bad[][2] = {
    {"{\"sockett\": \"unix:/x\"}", "cfg.json: sockett: unknown key"},
    {"{\"socket\": 25}", "cfg.json: socket: is an integer, expected a string"},
    {"{\"socket\": \"inet:99999@127.0.0.1\"}", "socket: \"inet:99999@127.0.0.1\": expected inet:PORT@HOST"},
    {"{\"socket\": \"unix:relative.sock\"}", "socket: \"unix:relative.sock\": a unix socket needs an absolute path"},
    {"{\"socket\": \"tcp:25\"}", "expected unix:/path or inet:PORT@HOST"},
    {"{\"mode\": \"audit\"}", "mode: \"audit\" is not enforce or monitor"},
    {"{\"on_error\": \"reject\"}", "on_error: \"reject\" is not tempfail or accept"},
    {"{\"durability\": \"disk\"}", "durability: \"disk\" is not process or power"},
    {"{\"durability\": true}", "durability"},
    {"{\"timezone\": \"Mars/Olympus\"}", "timezone: \"Mars/Olympus\" is not a time zone"},
    {"{\"timezone\": \"../../etc/passwd\"}", "is not a time zone"},
    {"{\"trusted_clients\": [\"10.0.0.0/33\"]}", "trusted_clients[0]: \"10.0.0.0/33\" is not an IP address or CIDR"},
    {"{\"classify\": {\"heuristics\": \"yes\"}}", "classify.heuristics: is a string, expected true or false"},
    {"{\"classify\": {\"bulk_category\": \"Promo!\"}}", "classify.bulk_category: \"Promo!\" is not a category"},
    {"{\"recipients\": {\"exempt\": [\"a b@x\"]}}", "recipients.exempt[0]: \"a b@x\" contains a blank"},
    {"{\"recipients\": {\"strip\": true}}", "recipients.strip: unknown key"},
    {"{\"departments\": [{\"name\": \"x\", \"match\": {\"sender\": [\"x@y\"]}}]}", "departments[0].default_category: is missing"},
    {"{\"departments\": [{\"name\": \"x\", \"default_category\": \"functional.a\"}]}", "departments[0].match: is missing or empty"},
    {"{\"departments\": [{\"name\": \"x\", \"match\": {\"client_addr\": [\"300.1.1.1\"]}, \"default_category\": \"functional.a\"}]}", "departments[0].match.client_addr[0]: \"300.1.1.1\" is not an IP address or CIDR"},
    {"{\"departments\": [{\"name\": \"x\", \"match\": {\"sender\": \"a@b\"}, \"default_category\": \"promotional.a\", \"allowed_categories\": [\"functional.*\"]}]}", "departments[0].default_category: \"promotional.a\" is not within allowed_categories"},
    {"{\"departments\": [{\"name\": \"x\", \"match\": {\"sender\": \"a@b\"}, \"default_category\": \"functional.a\"}, {\"name\": \"x\", \"match\": {\"sender\": \"c@b\"}, \"default_category\": \"functional.a\"}]}", "departments[1].name: department \"x\" is defined twice"},
    {"{\"departments\": [{\"name\": \"unknown\", \"match\": {\"sender\": \"a@b\"}, \"default_category\": \"functional.a\"}]}", "\"unknown\" is reserved"},
    {"{\"departments\": [{\"name\": \"x\", \"match\": {\"sender\": [\"a@b\", 7]}, \"default_category\": \"functional.a\"}]}", "departments[0].match.sender[1]: is an integer, expected a string"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\"}]}", "policies[0].action: is missing"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", \"action\": \"accept\"}]}", "policies[0].action: \"accept\" is not one of tag, hold, defer, reject"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"../evil\", \"action\": \"tag\"}]}", "policies[0].plugin: \"../evil\" is not a plugin name"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", \"action\": \"tag\", \"applies_to\": {\"departments\": [\"sales\"]}}]}", "policies[0].applies_to.departments[0]: no department \"sales\" is defined"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", \"action\": \"tag\", \"applies_to\": {\"categories\": [\"promo*\"]}}]}", "policies[0].applies_to.categories[0]: \"promo*\" is not a category pattern"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"f\", \"action\": \"tag\"}, {\"name\": \"p\", \"plugin\": \"f\", \"action\": \"tag\"}]}", "policies[1].name: policy \"p\" is defined twice"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", \"action\": \"tag\", \"mode\": \"dry\"}]}", "policies[0].mode: \"dry\" is not enforce or monitor"},
    {"{\"policies\": {\"name\": \"p\"}}", "policies: is an object, expected a list"},
    {"{\"include\": [\"does-not-exist.json\"]}", "does-not-exist.json: cannot open"},
    {"{\"socket\": \"unix:/a\",\n \"socket\": \"unix:/b\"}", "cfg.json: line 2 column"},
    {"{\"socket\": \"unix:/a\",\n  }", "cfg.json: line 2"},
    {"[1, 2]", "the configuration must be a JSON object"},
    {"{\"tag_header\": \"X Bad\"}", "tag_header: \"X Bad\" is not a header name"},
    {"{\"classify\": {\"unknown_category\": \"Misc\"}}", "classify.unknown_category: \"Misc\" is not a category"},
    {"{\"tag_policy_names\": \"yes\"}", "tag_policy_names: is a string, expected true or false"},
    {"{\"relay\": \"mx 1\"}", "relay: \"mx 1\" is not a relay name (1 to 64 characters"},
    {"{\"relay\": \"a1234567890123456789012345678901234567890123456789012345678901234\"}", "relay: \"a12345"},
    {"{\"relay\": \"\"}", "relay: is empty"},
    {"{\"database\": \"postgresql://\"}", "database: \"postgresql://\" is not a PostgreSQL URI"},
    {"{\"database\": \"host=db1 'unterminated\"}", "database: \"host=db1 ***\" is not a PostgreSQL conninfo string"},
    {"{\"database\": \"postgres://cg:hunter2@db 1/x\"}", "database: \"postgres://cg:***@db 1/x\" is not a PostgreSQL URI"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"f\", \"action\": \"defer\", \"max_defer\": \"3654d\"}]}", "policies[0].max_defer: \"3654d\" is longer than 10 years"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"f\", \"action\": \"defer\", \"max_defer\": 0}]}", "policies[0].max_defer: must be longer than 0 seconds"},
    {"{\"policies\": [{\"name\": \"p\", \"plugin\": \"f\", \"action\": \"defer\", \"max_defer\": \"9223372036854775807s\"}]}", "policies[0].max_defer: \"9223372036854775807s\" is longer than 10 years"},
    {"", "cfg.json: line"},
};

/* every rule, one bad config each: refused with the file and key path */
static void test_bad_configs(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024] = "";
        struct cg_config *c = load_text(bad[i][0], CG_CONFIG_NO_PLUGINS, err, sizeof err);
        CG_CHECK(c == NULL);
        if (!strstr(err, bad[i][1]))
            fprintf(stderr, "  case %zu: %s\n    got: %s\n", i, bad[i][0], err);
        CG_CHECK_CONTAINS(err, bad[i][1]);
        cg_config_unref(&c);
    }
}

/* includes: relative to the including file; a scalar set twice is an
 * error; a cycle is an error; errors name the included file */
static void test_includes(void)
{
    char err[1024] = "";
    write_file("a.json", "{\"timezone\": \"UTC\", \"include\": [\"b.json\"]}");
    write_file("b.json", "{\"timezone\": \"Europe/Paris\"}");
    struct cg_config *c = load_text("{\"include\": [\"a.json\"]}", CG_CONFIG_NO_PLUGINS, err,
                                    sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "a.json: timezone: already set in");
    CG_CHECK_CONTAINS(err, "b.json");
    write_file("loop.json", "{\"include\": [\"cfg.json\"]}");
    c = load_text("{\"include\": [\"loop.json\"]}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "included twice (or in a cycle)");
    write_file("d.json", "{\"departments\": [{\"name\": \"d\", \"match\": {\"sender\": \"*@d\"}, "
                         "\"default_category\": \"functional.d\", \"bogus\": 1}]}");
    c = load_text("{\"include\": [\"d.json\"]}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "d.json: departments[0].bogus: unknown key");
    /* departments from includes come first, then the file's own */
    write_file("e.json", "{\"departments\": [{\"name\": \"e\", \"match\": {\"sender\": \"*@e\"}, "
                         "\"default_category\": \"functional.e\"}]}");
    c = load_text("{\"include\": \"e.json\", \"departments\": [{\"name\": \"f\", \"match\": "
                  "{\"auth_user\": \"f\"}, \"default_category\": \"functional.f\"}]}",
                  CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (c) {
        CG_CHECK(c->n_departments == 2);
        CG_CHECK_STR(c->departments[0].name, "e");
        CG_CHECK_STR(c->departments[1].name, "f");
    }
    cg_config_unref(&c);
    /* the version changes when any file read changes */
    write_file("e.json", "{}");
    char v1[17];
    c = load_text("{\"include\": \"e.json\"}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c)
        return;
    memcpy(v1, c->version, sizeof v1);
    cg_config_unref(&c);
    write_file("e.json", "{ }");
    c = load_text("{\"include\": \"e.json\"}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c && strcmp(c->version, v1) != 0);
    cg_config_unref(&c);
}

/* only regular files of at most 16 MiB are read: an include of
 * /dev/zero ran out of memory (abort), one of a FIFO blocked forever, a
 * huge file was read whole (found by tests/fuzz/fuzz_config.c). The
 * alarm turns a hang back into a failure. */
static void test_special_files(void)
{
    static const char *const cases[][2] = {
        {"{\"include\": [\"/dev/zero\"]}", "/dev/zero: not a regular file"},
        {"{\"include\": [\"fifo.json\"]}", "fifo.json: not a regular file"},
        {"{\"include\": [\".\"]}", "/.: not a regular file"},
        {"{\"include\": [\"big.json\"]}", "big.json: larger than 16 MiB"},
    };
    char err[1024] = "", fifo[PATH_MAX + 16], big[PATH_MAX + 16];
    snprintf(fifo, sizeof fifo, "%s/fifo.json", tmpdir);
    CG_CHECK(mkfifo(fifo, 0600) == 0);
    snprintf(big, sizeof big, "%s/big.json", tmpdir);
    CG_CHECK(truncate(write_file("big.json", "{}"), 16 * 1024 * 1024 + 1) == 0);
    alarm(30);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cg_config *c = load_text(cases[i][0], CG_CONFIG_NO_PLUGINS, err, sizeof err);
        CG_CHECK(c == NULL);
        CG_CHECK_CONTAINS(err, cases[i][1]);
        cg_config_unref(&c);
    }
    struct cg_config *c = cg_config_load("/dev/null", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "/dev/null: not a regular file");
    cg_config_unref(&c);
    alarm(0);
    unlink(fifo);
    unlink(big);
}

/* plugin errors at load: unknown plugin, bad params (key path inside
 * params, with the file name) */
static void test_plugin_errors(void)
{
    char text[PATH_MAX * 3], err[1024] = "";
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"%s\", \"policies\": [{\"name\": \"p\", \"plugin\": \"nosuch\", "
             "\"action\": \"tag\"}]}", plugin_dir);
    struct cg_config *c = load_text(text, 0, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "cfg.json: policies[0].plugin: ");
    CG_CHECK_CONTAINS(err, "nosuch.so");
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"%s\", \"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", "
             "\"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7x\"}}]}",
             plugin_dir);
    c = load_text(text, 0, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "cfg.json: policies[0].params.window: \"7x\" is not a duration");
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"%s\", \"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\", "
             "\"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7d\", \"x\": 1}}]}",
             plugin_dir);
    c = load_text(text, 0, err, sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "policies[0].params.x: unknown key");
}

/* the new keys: defaults, values, and a PostgreSQL database is no path */
static void test_new_keys(void)
{
    char err[1024] = "";
    struct cg_config *c = load_text("{}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c)
        return;
    CG_CHECK_STR(c->unknown_category, "promotional.unclassified");
    CG_CHECK(c->tag_policy_names == 0);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] = 0;
    if (strlen(host) > 64)
        host[64] = 0;
    CG_CHECK_STR(c->relay, *host ? host : "localhost");
    CG_CHECK(c->database_is_pg == 0);
    CG_CHECK_STR(c->database, "/var/lib/contactgate/history.db");
    cg_config_unref(&c);

    c = load_text("{\"classify\": {\"unknown_category\": \"functional.misc\"}, \"tag_policy_names\": "
                  "true, \"relay\": \"mx-1.corp_2\", \"database\": \"postgresql://cg:hunter2@db1,db2/"
                  "contactgate?target_session_attrs=read-write\"}",
                  CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CG_CHECK_STR(c->unknown_category, "functional.misc");
    CG_CHECK(c->tag_policy_names == 1);
    CG_CHECK_STR(c->relay, "mx-1.corp_2");
    CG_CHECK(c->database_is_pg == 1);
    CG_CHECK_STR(c->database, "postgresql://cg:hunter2@db1,db2/contactgate?target_session_attrs="
                              "read-write");
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_config_print(c, fp);
    fclose(fp);
    CG_CHECK_CONTAINS(buf, "database                   postgresql://cg:***@db1,db2/contactgate?"
                           "target_session_attrs=read-write (PostgreSQL)\n");
    CG_CHECK(strstr(buf, "hunter2") == NULL);
    CG_CHECK_CONTAINS(buf, "relay                      mx-1.corp_2\n");
    CG_CHECK_CONTAINS(buf, "tag_policy_names           true\n");
    CG_CHECK_CONTAINS(buf, "classify.unknown_category  functional.misc\n");
    free(buf);
    cg_config_unref(&c);

    /* a conninfo string is PostgreSQL too, and its password is masked */
    c = load_text("{\"database\": \"host=db1 dbname=contactgate password='se cret' user=cg\"}",
                  CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c && c->database_is_pg == 1);
    CG_CHECK(c && strcmp(c->database, "host=db1 dbname=contactgate password='se cret' user=cg") == 0);
    buf = NULL;
    fp = open_memstream(&buf, &len);
    if (c)
        cg_config_print(c, fp);
    fclose(fp);
    CG_CHECK_CONTAINS(buf, "host=db1 dbname=contactgate password=*** user=cg (PostgreSQL)");
    free(buf);
    cg_config_unref(&c);

    /* a SQLite file with a '=' in a directory name is still a file */
    c = load_text("{\"database\": \"/srv/a=b/history.db\"}", CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c && c->database_is_pg == 0);
    cg_config_unref(&c);

    /* set in two files: refused like any scalar */
    write_file("r.json", "{\"relay\": \"mx2\"}");
    c = load_text("{\"relay\": \"mx1\", \"include\": \"r.json\"}", CG_CONFIG_NO_PLUGINS, err,
                  sizeof err);
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(err, "cfg.json: relay: already set in");
}

/* a plugin's window longer than 10 years is refused at load, naming the
 * key (2^63 seconds used to pass and overflow now - window) */
static void test_window_bound(void)
{
    char text[PATH_MAX * 3], err[1024] = "";
    static const char *const plugins[][2] = {
        {"frequency", "\"limit\": 3, \"window\": \"9223372036854775807s\""},
        {"spacing", "\"after\": \"functional.bill\", \"within\": \"9223372036854775807s\""},
        {"frequency", "\"limit\": 3, \"window\": 9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof plugins / sizeof plugins[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"plugin_dir\": \"%s\", \"policies\": [{\"name\": \"p\", \"plugin\": \"%s\", "
                 "\"action\": \"defer\", \"params\": {%s}}]}",
                 plugin_dir, plugins[i][0], plugins[i][1]);
        struct cg_config *c = load_text(text, 0, err, sizeof err);
        CG_CHECK(c == NULL);
        CG_CHECK_CONTAINS(err, "cfg.json: policies[0].params.");
        CG_CHECK_CONTAINS(err, "9223372036854775807");
        CG_CHECK_CONTAINS(err, "is longer than 10 years");
        cg_config_unref(&c);
    }
}

/* --- the key table, the man page and the printout agree ------------------- */

struct keyset {
    char *path[256];
    const char *def[256];
    int in_heading[256], items[256], object[256];
    size_t n;
};

static void collect_key(const struct cg_kt_info *k, void *arg)
{
    struct keyset *ks = arg;
    if (ks->n >= 256)
        return;
    ks->path[ks->n] = strdup(k->path);
    ks->def[ks->n] = k->def;
    ks->in_heading[ks->n] = k->in_heading;
    ks->items[ks->n] = k->items;
    ks->object[ks->n] = strcmp(k->type, "object") == 0;
    ks->n++;
}

static int keyset_has(const struct keyset *ks, const char *path)
{
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->path[i], path))
            return 1;
    return 0;
}

static void keyset_free(struct keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->path[i]);
}

/* plain - man source without font escapes; \- is -, \e is a backslash */
static void plain(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'f' && p[2]) {
            p += 2;
        } else if (p[0] == '\\' && (p[1] == '-' || p[1] == 'e')) {
            *o++ = p[1] == '-' ? '-' : '\\';
            p++;
        } else if (p[0] == '\\' && p[1] == '&') {
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
}

/* man_entries - the .TP/.B entries of the KEYS section: names[i] and the
 * text of each entry (until the next .TP or .SH), in plain text */
static size_t man_entries(char **names, char **texts, size_t max)
{
    FILE *fp = fopen("man/contactgate.json.5", "r");
    if (!fp)
        return 0;
    char line[1024];
    int in_keys = 0, after_tp = 0;
    size_t n = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, ".SH", 3)) {
            in_keys = !strcmp(line, ".SH KEYS");
            continue;
        }
        if (!in_keys)
            continue;
        if (!strcmp(line, ".TP")) {
            after_tp = 1;
            continue;
        }
        if (after_tp && !strncmp(line, ".B ", 3) && n < max) {
            plain(line);
            names[n] = strdup(line + 3);
            texts[n++] = strdup("");
        } else if (n > 0) {
            char *t = texts[n - 1];
            plain(line);
            /* a macro line's arguments are text too: ".BR a , b" */
            const char *body = line[0] == '.' ? line + strcspn(line, " ") : line;
            size_t tl = strlen(t);
            texts[n - 1] = realloc(t, tl + strlen(body) + 2);
            snprintf(texts[n - 1] + tl, strlen(body) + 2, "%s ", body);
        }
        after_tp = 0;
    }
    fclose(fp);
    return n;
}

/* every key of the table is in contactgate.json(5) with its default, and
 * every key the man page lists is in the table */
static void test_keys_in_man_page(void)
{
    struct keyset ks = {0};
    cg_config_keys(collect_key, &ks);
    CG_CHECK(ks.n > 40);
    char *names[256], *texts[256];
    size_t n = man_entries(names, texts, 256);
    CG_CHECK(n > 40);
    for (size_t i = 0; i < ks.n; i++) {
        size_t k = 0;
        while (k < n && strcmp(names[k], ks.path[i]))
            k++;
        if (k == n) {
            fprintf(stderr, "  key %s is not in man/contactgate.json.5\n", ks.path[i]);
            CG_CHECK(k < n);
            continue;
        }
        if (ks.def[i]) {
            char want[300];
            snprintf(want, sizeof want, "Default: %s", ks.def[i]);
            /* the man page may break the line after "Default:" */
            char *d = strstr(texts[k], "Default:");
            int ok = d && strstr(d, ks.def[i]);
            if (!ok)
                fprintf(stderr, "  %s: the man page does not say \"%s\": %s\n", ks.path[i], want,
                        texts[k]);
            CG_CHECK(ok);
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (!keyset_has(&ks, names[k]))
            fprintf(stderr, "  the man page lists %s, which is not a key\n", names[k]);
        CG_CHECK(keyset_has(&ks, names[k]));
        free(names[k]);
        free(texts[k]);
    }
    keyset_free(&ks);
}

/* a configuration that sets every key */
static const char *const every_key =
    "{\"socket\": \"inet:10025@127.0.0.1\", \"database\": \"h.db\", \"plugin_dir\": \"/nowhere\","
    " \"mode\": \"monitor\", \"on_error\": \"accept\", \"durability\": \"power\","
    " \"timezone\": \"Europe/Paris\", \"tag_header\": \"X-Gate\", \"tag_policy_names\": true,"
    " \"relay\": \"mx1\", \"trusted_clients\": [\"10.0.0.0/8\"], \"include\": \"inc.json\","
    " \"classify\": {\"category_header\": \"X-Cat\", \"department_header\": \"X-Dept\","
    "   \"heuristics\": false, \"bulk_category\": \"promotional.mass\","
    "   \"unknown_category\": \"functional.misc\"},"
    " \"recipients\": {\"lowercase\": false, \"strip_plus\": true, \"exempt\": [\"*@corp\"]},"
    " \"departments\": [{\"name\": \"billing\", \"match\": {\"sender\": \"b@corp\","
    "   \"auth_user\": \"bill\", \"client_addr\": \"10.1.0.0/16\", \"daemon_name\": \"submit\","
    "   \"header\": \"billing\"}, \"default_category\": \"functional.bill\","
    "   \"allowed_categories\": [\"functional.*\"]}],"
    " \"policies\": [{\"name\": \"cap\", \"plugin\": \"frequency\", \"applies_to\":"
    "   {\"departments\": [\"billing\"], \"categories\": [\"functional.*\"]},"
    "   \"action\": \"defer\", \"mode\": \"enforce\", \"params\": {\"limit\": 1, \"window\": \"1d\"},"
    "   \"max_defer\": \"2d\", \"on_expiry\": \"hold\"}]}";

/* label_of - the key a printout line shows, by its indentation in its
 * section: "" when the line is no key line */
static const char *label_of(const char *line, const char *section, char *buf, size_t len)
{
    size_t ind = strspn(line, " ");
    size_t want = !*section ? 2 : !strcmp(section, "departments") ? 4 : 5;
    if (ind != want || !line[ind])
        return "";
    size_t n = strcspn(line + ind, " ");
    if (*section)
        snprintf(buf, len, "%s[].%.*s", section, (int)n, line + ind);
    else
        snprintf(buf, len, "%.*s", (int)n, line + ind);
    return buf;
}

/* contactgate -n shows every key of the table, and shows no line that is
 * not a key: each setting as a "key value" line, each department and
 * policy under its heading */
static void test_keys_in_printout(void)
{
    char err[1024] = "";
    write_file("inc.json", "{}");
    struct cg_config *c = load_text(every_key, CG_CONFIG_NO_PLUGINS, err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_config_print(c, fp);
    fclose(fp);
    cg_config_unref(&c);
    struct keyset ks = {0}, shown = {0};
    cg_config_keys(collect_key, &ks);
    /* the lines, section by section */
    char section[32] = "";
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char lb[300];
        if (!strncmp(line, "departments (", 13) || !strncmp(line, "policies (", 10)) {
            snprintf(section, sizeof section, "%.*s", (int)strcspn(line, " "), line);
            shown.path[shown.n++] = strdup(section);
            continue;
        }
        const char *label = label_of(line, section, lb, sizeof lb);
        if (!*label)
            continue;
        if (!keyset_has(&ks, label))
            fprintf(stderr, "  -n shows \"%s\", which is not a key: %s\n", label, line);
        CG_CHECK(keyset_has(&ks, label));
        if (shown.n < 256)
            shown.path[shown.n++] = strdup(label);
    }
    for (size_t i = 0; i < ks.n; i++) {
        if (ks.in_heading[i] || ks.object[i])
            continue; /* in the item's heading; an object's keys are lines */
        if (!keyset_has(&shown, ks.path[i]))
            fprintf(stderr, "  -n does not show %s\n", ks.path[i]);
        CG_CHECK(keyset_has(&shown, ks.path[i]));
    }
    /* and the values are the file's, not the defaults */
    CG_CHECK(buf != NULL);
    keyset_free(&ks);
    keyset_free(&shown);
    free(buf);
}

int main(void)
{
    cg_log_open("test_config", 0, 0, LOG_ERR);
    const char *build = getenv("CG_BUILD_DIR") ? getenv("CG_BUILD_DIR") : "build";
    char rp[PATH_MAX];
    if (!realpath(build, rp) || !realpath("policies/retail-bank.json", policy_file)) {
        fprintf(stderr, "test_config: run from the source tree after make\n");
        return 1;
    }
    snprintf(plugin_dir, sizeof plugin_dir, "%.*s/plugins", PATH_MAX - 16, rp);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-test-config.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    CG_RUN(test_example_and_defaults);
    CG_RUN(test_global_monitor);
    CG_RUN(test_bad_configs);
    CG_RUN(test_includes);
    CG_RUN(test_plugin_errors);
    CG_RUN(test_new_keys);
    CG_RUN(test_window_bound);
    CG_RUN(test_keys_in_man_page);
    CG_RUN(test_keys_in_printout);
    CG_RUN(test_special_files);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CG_DONE("test_config");
}
