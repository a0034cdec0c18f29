/*
 * test_plugin_load.c - the plugin loader loads only trusted files
 * (cg_plugin.c): a symlink planted to a plugin, a group-writable file or
 * directory, a sticky world-writable directory (like /tmp) anywhere above
 * the file and a file owned by another user are refused, naming the path
 * and the reason; a good plugin loads; a second plugin is never taken for
 * one loaded earlier under the same /proc/self/fd name.
 *
 * The test builds its trees under the build directory (whose parents are
 * root's and not writable by others) and must run as root, to give a file
 * to another user.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_plugin.h"
#include "cg_test.h"

static char base[PATH_MAX];    /* build/tests/load.XXXXXX, 0700 */
static char good_src[PATH_MAX + 64];
static char freq_src[PATH_MAX + 64];

/* sh - run a shell command built like printf; 0 when it exited 0 */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd) == 0 ? 0 : -1;
}

/* load - try to load path; 1 if it loaded (and is closed again) */
static int load(const char *path, char *err, size_t errlen)
{
    err[0] = 0;
    struct cg_plugin_so *so = cg_plugin_open_path(path, NULL, err, errlen);
    int ok = so != NULL;
    cg_plugin_close(&so);
    return ok;
}

static void test_good_plugin_loads(void)
{
    char err[1024], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/good.so", base);
    CG_CHECK(sh("install -m 755 '%s' '%s'", good_src, path) == 0);
    CG_CHECK(load(path, err, sizeof err));
    CG_CHECK_STR(err, "");
}

static void test_symlink_refused(void)
{
    char err[1024], path[PATH_MAX + 64], target[PATH_MAX + 64];
    snprintf(target, sizeof target, "%s/good.so", base);
    snprintf(path, sizeof path, "%s/planted.so", base);
    CG_CHECK(symlink(target, path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "planted.so: is a symbolic link: refusing to load it");
}

static void test_writable_file_refused(void)
{
    char err[1024], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/gw.so", base);
    CG_CHECK(sh("install -m 775 '%s' '%s'", good_src, path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "gw.so: the file is writable by group (mode 0775)");
    chmod(path, 0757);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "gw.so: the file is writable by others (mode 0757)");
}

static void test_group_writable_dir_refused(void)
{
    char err[1024], dir[PATH_MAX + 64], path[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/gwdir", base);
    snprintf(path, sizeof path, "%s/p.so", dir);
    CG_CHECK(sh("mkdir '%s' && chmod 775 '%s' && install -m 755 '%s' '%s'", dir, dir, good_src,
                path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "directory %s is writable by group (mode 0775): refusing", dir);
    CG_CHECK_CONTAINS(err, want);
    chmod(dir, 0755);
    CG_CHECK(load(path, err, sizeof err));
}

static void test_sticky_dir_refused(void)
{
    char err[1024], dir[PATH_MAX + 64], path[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/sticky", base);
    snprintf(path, sizeof path, "%s/p.so", dir);
    CG_CHECK(sh("mkdir '%s' && chmod 1777 '%s' && install -m 755 '%s' '%s'", dir, dir, good_src,
                path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "sticky is world-writable with the sticky bit (mode 1777)");
}

static void test_any_parent_checked(void)
{
    /* base/up (group-writable) / mid (fine) / p.so: the grandparent counts */
    char err[1024], dir[PATH_MAX + 64], path[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/up/mid", base);
    snprintf(path, sizeof path, "%s/p.so", dir);
    CG_CHECK(sh("mkdir -p '%s' && chmod 755 '%s' && chmod 2775 '%s/up' && install -m 755 '%s' '%s'",
                dir, dir, base, good_src, path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "/up is writable by group (mode 2775)");
    /* and /tmp itself, above a private directory of ours */
    char tmp[] = "/tmp/cg-load.XXXXXX";
    CG_CHECK(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof path, "%s/p.so", tmp);
    CG_CHECK(sh("install -m 755 '%s' '%s'", good_src, path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "directory /tmp is world-writable with the sticky bit");
    sh("rm -rf '%s'", tmp);
}

static void test_other_owner_refused(void)
{
    char err[1024], path[PATH_MAX + 128];
    if (geteuid() != 0) {
        fprintf(stderr, "  (not root: the other-owner case is not run)\n");
        return;
    }
    snprintf(path, sizeof path, "%s/theirs.so", base);
    CG_CHECK(sh("install -m 755 -o nobody '%s' '%s'", good_src, path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "theirs.so: the file is owned by uid 65534, not by root or the "
                           "running user (uid 0)");
    /* a directory of another user */
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/theirdir", base);
    snprintf(path, sizeof path, "%s/p.so", dir);
    CG_CHECK(sh("install -d -m 755 -o nobody '%s' && install -m 755 '%s' '%s'", dir, good_src,
                path) == 0);
    CG_CHECK(!load(path, err, sizeof err));
    CG_CHECK_CONTAINS(err, "theirdir is owned by uid 65534");
}

static void test_names_not_confused(void)
{
    /* load one plugin and keep it; a second one, whose descriptor may get
     * the number the first was opened under, is still itself */
    char err[1024], p1[PATH_MAX + 64], p2[PATH_MAX + 64];
    snprintf(p1, sizeof p1, "%s/good.so", base);
    snprintf(p2, sizeof p2, "%s/freq.so", base);
    CG_CHECK(sh("install -m 755 '%s' '%s'", freq_src, p2) == 0);
    struct cg_plugin_so *a = cg_plugin_open_path(p1, NULL, err, sizeof err);
    struct cg_plugin_so *b = cg_plugin_open_path(p2, NULL, err, sizeof err);
    CG_CHECK(a && b);
    if (a && b) {
        CG_CHECK_STR(a->desc->name, "thirdparty");
        CG_CHECK_STR(b->desc->name, "frequency");
    }
    cg_plugin_close(&b);
    cg_plugin_close(&a);

    /* a reload: the same plugin loaded again while the old snapshot holds
     * it (under another descriptor number: the dynamic linker then knows
     * the object by both names), then another plugin */
    a = cg_plugin_open_path(p1, NULL, err, sizeof err);
    int hold = open("/dev/null", O_RDONLY);
    struct cg_plugin_so *a2 = cg_plugin_open_path(p1, NULL, err, sizeof err);
    close(hold);
    b = cg_plugin_open_path(p2, NULL, err, sizeof err);
    CG_CHECK(a && a2 && b);
    if (a && a2 && b) {
        CG_CHECK_STR(a2->desc->name, "thirdparty");
        CG_CHECK_STR(b->desc->name, "frequency");
    }
    cg_plugin_close(&b);
    cg_plugin_close(&a2);
    cg_plugin_close(&a);
}

int main(void)
{
    cg_log_open("test_plugin_load", 0, 0, LOG_ERR);
    const char *build = getenv("CG_BUILD_DIR") ? getenv("CG_BUILD_DIR") : "build";
    char rp[PATH_MAX];
    if (!realpath(build, rp)) {
        fprintf(stderr, "test_plugin_load: build dir %s not found\n", build);
        return 1;
    }
    snprintf(good_src, sizeof good_src, "%.*s/tests/plugins/thirdparty.so", PATH_MAX - 40, rp);
    snprintf(freq_src, sizeof freq_src, "%.*s/plugins/frequency.so", PATH_MAX - 40, rp);
    snprintf(base, sizeof base, "%.*s/tests/load.XXXXXX", PATH_MAX - 40, rp);
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    CG_RUN(test_good_plugin_loads);
    CG_RUN(test_symlink_refused);
    CG_RUN(test_writable_file_refused);
    CG_RUN(test_group_writable_dir_refused);
    CG_RUN(test_sticky_dir_refused);
    CG_RUN(test_any_parent_checked);
    CG_RUN(test_other_owner_refused);
    CG_RUN(test_names_not_confused);
    sh("rm -rf '%s'", base);
    CG_DONE("test_plugin_load");
}
