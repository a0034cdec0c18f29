/*
 * fz_common.h - what the libFuzzer targets (tests/fuzz/fuzz_*.c) share:
 * an invariant that fails loudly, bounded string copies of the input, a
 * private temp directory removed at exit, and where the source tree and
 * the fuzz build are.
 *
 * Header-only (static functions), as tests/unit/cg_harness.h, so every
 * target stays one .c file. An invariant that does not hold calls
 * fz_fail(), which prints what and aborts: libFuzzer then reports a crash
 * and keeps the input as an artifact, exactly as for a sanitizer finding.
 */
#ifndef FZ_COMMON_H
#define FZ_COMMON_H

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_util.h"

/* Set by the Makefile; CG_FUZZ_SRCDIR / CG_FUZZ_BUILDDIR in the
 * environment override them (a binary copied elsewhere). */
#ifndef CG_FUZZ_SRCDIR
#define CG_FUZZ_SRCDIR "."
#endif
#ifndef CG_FUZZ_BUILDDIR
#define CG_FUZZ_BUILDDIR "build-fuzz"
#endif

static char fz_tmp[PATH_MAX];

/* fz_fail - an invariant of the code under test does not hold: say which
 * and abort (libFuzzer saves the input) */
__attribute__((unused, noreturn, format(printf, 1, 2))) static void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz invariant violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* fz_strndup - the input bytes as the C string a caller would see: up to
 * n bytes, cut at the first NUL, always terminated (malloc'ed) */
__attribute__((unused)) static char *fz_strndup(const uint8_t *p, size_t n)
{
    return cg_xstrndup((const char *)p, n);
}

/* fz_srcdir, fz_builddir - the source tree and the fuzz build */
__attribute__((unused)) static const char *fz_srcdir(void)
{
    const char *e = getenv("CG_FUZZ_SRCDIR");
    return e && *e ? e : CG_FUZZ_SRCDIR;
}

__attribute__((unused)) static const char *fz_builddir(void)
{
    const char *e = getenv("CG_FUZZ_BUILDDIR");
    return e && *e ? e : CG_FUZZ_BUILDDIR;
}

/* fz_rm_one - nftw callback: remove a file or an emptied directory */
__attribute__((unused)) static int fz_rm_one(const char *path, const struct stat *st, int type,
                                             struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* fz_tmp_remove - atexit: the temp directory and everything in it */
__attribute__((unused)) static void fz_tmp_remove(void)
{
    if (fz_tmp[0])
        nftw(fz_tmp, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    fz_tmp[0] = 0;
}

/* fz_tmpdir - a private directory for this process, removed at a normal
 * exit (a crash leaves it, with the input that caused it) */
__attribute__((unused)) static const char *fz_tmpdir(const char *name)
{
    if (fz_tmp[0])
        return fz_tmp;
    const char *base = getenv("TMPDIR");
    snprintf(fz_tmp, sizeof fz_tmp, "%s/cg-%s.XXXXXX", base && *base ? base : "/tmp", name);
    if (!mkdtemp(fz_tmp)) {
        perror(fz_tmp);
        exit(1);
    }
    atexit(fz_tmp_remove);
    return fz_tmp;
}

/* fz_log_quiet - format every log line (the formatting is under test too)
 * but print none, unless CG_FUZZ_VERBOSE is set */
__attribute__((unused)) static void fz_log_quiet(const char *name)
{
    cg_log_open(name, 0, getenv("CG_FUZZ_VERBOSE") != NULL, LOG_DEBUG);
}

/* fz_write - replace the file at path with n bytes */
__attribute__((unused)) static void fz_write(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "w");
    if (!fp || (n && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
}

#endif
