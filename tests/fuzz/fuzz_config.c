/*
 * fuzz_config.c - libFuzzer target: the configuration loader
 * (cg_config_load) on a file with the fuzzer's bytes, as a careless or
 * hostile admin could write it.
 *
 * Every input is loaded twice when it can be: first validated without
 * plugins (CG_CONFIG_NO_PLUGINS, what `contactgate -n` does before the
 * plugins), and if that passes, again with the plugins of the fuzz build
 * (build-fuzz/plugins, instrumented too), so each plugin's init() sees
 * the fuzzed params. Plugins are loaded only from that directory: a
 * config naming another plugin_dir is validated without them (the
 * fuzzer is not to dlopen whatever system library it can name). The
 * shipped policy sets (policies/) lie next to the file, for "include".
 * Every
 * loaded snapshot is printed (`contactgate -n`) to /dev/null and freed.
 *
 * The plugins are opened once at start-up and kept open, so the
 * loader's dlopen/dlclose of every iteration only counts references
 * (libFuzzer's coverage tables see each plugin once).
 *
 * Invariants: a refusal comes with a message; a loaded snapshot has every
 * default filled in and a 16-digit version.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_common.h"
#include "cg_config.h"

static char path[PATH_MAX + 16];
static char plugin_dir[PATH_MAX];
static FILE *devnull;

/* copy_policies - the shipped policy sets next to the fuzzed file, so
 * that "include": ["retail-bank.json"] finds them */
static void copy_policies(const char *tmp)
{
    static const char *const sets[] = {"retail-bank.json", "b2b-software.json",
                                       "rollout-monitor.json"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char from[PATH_MAX + 64], to[PATH_MAX + 64];
        snprintf(from, sizeof from, "%s/policies/%s", fz_srcdir(), sets[i]);
        snprintf(to, sizeof to, "%s/%s", tmp, sets[i]);
        FILE *in = fopen(from, "r");
        struct cg_buf b = {0};
        char chunk[4096];
        size_t n;
        while (in && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
            cg_buf_addn(&b, chunk, n);
        if (in)
            fclose(in);
        fz_write(to, (const uint8_t *)(b.s ? b.s : ""), b.len);
        cg_buf_free(&b);
    }
}

/* setup - temp dir (with the policy sets), plugin dir, plugins held open */
static void setup(void)
{
    fz_log_quiet("fuzz_config");
    const char *tmp = fz_tmpdir("fuzz_config");
    snprintf(path, sizeof path, "%s/contactgate.json", tmp);
    copy_policies(tmp);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/plugins", fz_builddir());
    if (!realpath(dir, plugin_dir)) {
        fprintf(stderr, "fuzz_config: %s: no plugins (run make fuzz-build)\n", dir);
        exit(1);
    }
    setenv("CONTACTGATE_PLUGIN_DIR", plugin_dir, 1);
    DIR *d = opendir(plugin_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".so"))
            continue;
        char so[PATH_MAX + 256];
        snprintf(so, sizeof so, "%s/%s", plugin_dir, e->d_name);
        if (!dlopen(so, RTLD_NOW | RTLD_LOCAL))
            fprintf(stderr, "fuzz_config: %s: %s\n", so, dlerror());
    }
    if (d)
        closedir(d);
    devnull = fopen("/dev/null", "w");
}

/* check_loaded - what every snapshot has */
static void check_loaded(struct cg_config *c)
{
    if (!c->socket || !c->database || !c->plugin_dir || !c->timezone || !c->tag_header ||
        !c->category_header || !c->department_header || !c->bulk_category)
        fz_fail("a loaded configuration lacks a default");
    if (strlen(c->version) != 16)
        fz_fail("version \"%s\"", c->version);
    for (size_t i = 0; i < c->n_departments; i++)
        if (!c->departments[i].name || !c->departments[i].default_category)
            fz_fail("department %zu without a name or default category", i);
    for (size_t i = 0; i < c->n_policies; i++)
        if (c->policies[i].action <= CG_ACT_ACCEPT || c->policies[i].action > CG_ACT_REJECT)
            fz_fail("policy %zu with action %d", i, c->policies[i].action);
    cg_config_print(c, devnull);
}

/* load - one load; 1 when it succeeded */
static int load(int flags, char **plugin_dir_r)
{
    char err[1024];
    err[0] = 0;
    struct cg_config *c = cg_config_load(path, flags, err, sizeof err);
    if (!c) {
        if (!err[0])
            fz_fail("configuration refused without a message");
        return 0;
    }
    check_loaded(c);
    if (plugin_dir_r)
        *plugin_dir_r = cg_xstrdup(c->plugin_dir);
    struct cg_config *ref = cg_config_ref(c);
    cg_config_unref(&c);
    if (c)
        fz_fail("unref did not clear the pointer");
    cg_config_unref(&ref);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull)
        setup();
    fz_write(path, data, size);
    char *dir = NULL;
    if (load(CG_CONFIG_NO_PLUGINS, &dir) && strcmp(dir, plugin_dir) == 0)
        load(0, NULL);
    free(dir);
    return 0;
}
