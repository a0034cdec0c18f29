/*
 * fuzz_milter.c - libFuzzer target: the milter protocol as a hostile or
 * broken MTA could speak it, against contactgate's real callbacks
 * (milter/cg_milter.c, linked as it is built for the daemon), a real
 * decider and SQLite store (a temp file, started afresh every 20,000
 * inputs so that it does not grow for hours), and a real policy set
 * (tests/fuzz/milter.json: policies/retail-bank.json plus a content, a
 * budget and a tag rule, with the plugins of the fuzz build).
 *
 * libmilter is not linked: tests/fuzz/fz_libmilter.c is the libmilter
 * the callbacks see, and its engine decodes the input as the byte stream
 * an MTA writes (see there, also for the invariants it checks). At set-up
 * cg_milter_run() is called as the daemon calls it; it registers the
 * callbacks and returns. Each input is one milter connection, and after a
 * QUIT with bytes left another (8 at most).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fz_common.h"
#include "fz_libmilter.h"
#include "cg_config.h"
#include "cg_decider.h"
#include "cg_milter.h"

#define MAX_CONNECTIONS 8      /* per input */
#define RESTART_EVERY 20000    /* inputs: then a fresh history file */

static cg_decider *dc;
static char dbpath[PATH_MAX];
static char sockspec[PATH_MAX + 16];
static unsigned long inputs;

/* --- set-up -------------------------------------------------------------- */

static void start_decider(void)
{
    char err[1024];
    dc = cg_decider_start(dbpath, 0, err, sizeof err);
    if (!dc) {
        fprintf(stderr, "fuzz_milter: %s\n", err);
        exit(1);
    }
    fz_milter_forget();
    fz_milter_close(); /* a restart: cg_milter_run refuses a socket someone serves on */
    struct cg_config *cfg = cg_milter_config_ref();
    int rc = cg_milter_run(cfg, dc, NULL, NULL);
    cg_config_unref(&cfg);
    if (rc != 0 || !fz_milter_registered()) {
        fprintf(stderr, "fuzz_milter: cg_milter_run did not register the filter\n");
        exit(1);
    }
}

static void remove_history(void)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s%s", dbpath, ext[i]);
        unlink(p);
    }
}

static void teardown(void)
{
    cg_decider_stop(&dc);
    cg_milter_config_swap(NULL);
    fz_milter_close();
}

static void setup(void)
{
    fz_log_quiet("fuzz_milter");
    const char *tmp = fz_tmpdir("fuzz_milter");
    snprintf(dbpath, sizeof dbpath, "%s/history.db", tmp);
    snprintf(sockspec, sizeof sockspec, "unix:%s/milter.sock", tmp);
    fz_milter_socket(sockspec);
    char dir[PATH_MAX + 16], plugins[PATH_MAX], path[PATH_MAX + 32], err[1024];
    snprintf(dir, sizeof dir, "%s/plugins", fz_builddir());
    if (!realpath(dir, plugins)) {
        fprintf(stderr, "fuzz_milter: %s: no plugins (run make fuzz-build)\n", dir);
        exit(1);
    }
    setenv("CONTACTGATE_PLUGIN_DIR", plugins, 1);
    snprintf(path, sizeof path, "%s/tests/fuzz/milter.json", fz_srcdir());
    struct cg_config *cfg = cg_config_load(path, 0, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "fuzz_milter: %s\n", err);
        exit(1);
    }
    free(cfg->socket); /* the harness's own socket, whatever milter.json says */
    cfg->socket = cg_xstrdup(sockspec);
    cg_milter_config_swap(cfg);
    start_decider();
    atexit(teardown); /* runs before fz_tmpdir's removal (registered later) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dc)
        setup();
    size_t pos = 0;
    for (int n = 0; n < MAX_CONNECTIONS && pos < size; n++)
        if (!fz_milter_connection(data, size, &pos))
            break;
    if (++inputs % RESTART_EVERY == 0) {
        /* a history that grows for hours slows every input down */
        cg_decider_stop(&dc);
        remove_history();
        start_decider();
    }
    return 0;
}
