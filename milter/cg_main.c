/*
 * cg_main.c - the contactgate daemon: options, start-up, reload, stop.
 *
 *   contactgate [-c FILE] [-u USER] [-p PIDFILE] [-f] [-n] [-v]
 *
 * -c config file (default /etc/contactgate/contactgate.json), -f stay in
 * the foreground and log to stderr too, -n check the configuration and
 * plugins, print the effective policy set and exit (non-zero with a
 * precise message on any error), -v debug logging, -u drop to USER right
 * after reading the configuration (required when started as root: the
 * daemon never serves mail as root), -p write the pid file (after the
 * drop, so its directory must be writable by USER).
 *
 * Signals: libmilter owns SIGHUP/SIGTERM (stop) and SIGINT (abort).
 * SIGUSR1 reloads: a dedicated thread waits for it (the signal is blocked
 * everywhere else), loads and validates a complete new snapshot, and swaps
 * it in; connections that started before keep the old snapshot until they
 * end. A bad new configuration is logged and the old one keeps running.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_decider.h"
#include "cg_log.h"
#include "cg_milter.h"
#include "cg_priv.h"
#include "cg_util.h"

#define CG_DEFAULT_CONFIG "/etc/contactgate/contactgate.json"

static const char *config_path = CG_DEFAULT_CONFIG;
static char *running_database;
static cg_decider *running_dc;

/* usage - print the synopsis and exit 1 */
static void usage(void)
{
    fprintf(stderr, "usage: contactgate [-c config] [-u user] [-p pidfile] [-f] [-n] [-v]\n"
                    "  -c FILE  configuration (default " CG_DEFAULT_CONFIG ")\n"
                    "  -u USER  run as USER (required when started as root)\n"
                    "  -p FILE  write the process id to FILE\n"
                    "  -f       stay in the foreground, log to stderr too\n"
                    "  -n       check the configuration and plugins, print the effective\n"
                    "           policy set and exit\n"
                    "  -v       debug logging\n");
    exit(1);
}

/* reload - build and validate a new snapshot; keep the old on error */
static void reload(void)
{
    char err[1024];
    struct cg_config *cfg = cg_config_load(config_path, 0, err, sizeof err);
    if (!cfg) {
        cg_log(LOG_ERR, "reload: %s; keeping the running configuration", err);
        return;
    }
    if (strcmp(cfg->database, running_database) != 0)
        cg_log(LOG_WARNING, "reload: database changed to %s; that takes a restart, "
               "still using %s", cfg->database, running_database);
    cg_log(LOG_INFO, "reload: configuration %s loaded (version %s, %zu policies)", config_path,
           cfg->version, cfg->n_policies);
    cg_decider_config(running_dc, cfg);
    cg_milter_config_swap(cfg);
}

/* reload_thread - wait for SIGUSR1 */
static void *reload_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) == 0 && sig == SIGUSR1)
            reload();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int foreground = 0, check = 0, verbose = 0, ch;
    const char *user = NULL, *pidfile = NULL;
    while ((ch = getopt(argc, argv, "c:u:p:fnvh")) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'u': user = optarg; break;
        case 'p': pidfile = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': check = 1; break;
        case 'v': verbose = 1; break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();

    char err[1024];
    if (check) {
        cg_log_open("contactgate", 0, 1, verbose ? LOG_DEBUG : LOG_INFO);
        struct cg_config *cfg = cg_config_load(config_path, 0, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "contactgate: %s\n", err);
            return 1;
        }
        cg_config_print(cfg, stdout);
        cg_config_unref(&cfg);
        return 0;
    }

    cg_log_open("contactgate", 1, foreground, verbose ? LOG_DEBUG : LOG_INFO);
    if (geteuid() == 0 && !user)
        cg_fatal("refusing to run as root: give -u USER, the unprivileged user to run as");
    if (user && cg_priv_drop(user, err, sizeof err) < 0)
        cg_fatal("%s", err);
    /* the configuration is read as USER, as every reload will be */
    struct cg_config *cfg = cg_config_load(config_path, 0, err, sizeof err);
    if (!cfg)
        cg_fatal("%s", err);
    running_database = cg_xstrdup(cfg->database);

    if (!foreground && daemon(0, 0) < 0)
        cg_fatal("cannot detach: %s", strerror(errno));
    if (pidfile && cg_pidfile_write(pidfile, err, sizeof err) < 0)
        cg_fatal("%s", err);

    /* Block every signal we wait for before any thread exists, so that
     * each is taken by the one thread that sigwait()s for it: SIGUSR1 by
     * the reload thread, SIGTERM/SIGHUP/SIGINT by libmilter's signal
     * thread (a stop that finishes the connections in progress). Left
     * unblocked in the checkpointer thread, a SIGTERM would kill the process
     * on the spot. */
    static sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigset_t all = usr1;
    sigaddset(&all, SIGTERM);
    sigaddset(&all, SIGHUP);
    sigaddset(&all, SIGINT);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal(SIGPIPE, SIG_IGN);

    cg_store_set_timeout(cfg->database_timeout_secs * 1000);
    cg_decider *dc = cg_decider_start(cfg->database,
                                      cfg->durability_power ? CG_STORE_SYNC_FULL : 0, err,
                                      sizeof err);
    if (!dc)
        cg_fatal("%s", err);
    running_dc = dc;
    cg_decider_config(dc, cfg);
    cg_milter_config_swap(cfg);

    pthread_t rt;
    if (pthread_create(&rt, NULL, reload_thread, &usr1) != 0)
        cg_fatal("cannot start the reload thread");
    pthread_detach(rt);

    /* a unix socket must not be world-reachable: group (the MTA) only */
    umask(007);
    struct cg_config *c = cg_milter_config_ref();
    char *sock = cg_xstrdup(c->socket);
    cg_log(LOG_INFO, "starting: config %s version %s, %zu policies, socket %s, database %s, mode %s",
           config_path, c->version, c->n_policies, sock, c->database,
           c->mode == CG_MODE_MONITOR ? "monitor" : "enforce");
    cg_config_unref(&c);

    int rc = cg_milter_run(sock, dc, 0);
    cg_log(LOG_INFO, "stopping (%s)", rc == 0 ? "signal" : "error");
    cg_decider_stop(&dc);
    cg_milter_config_swap(NULL);
    if (pidfile)
        unlink(pidfile);
    free(sock);
    free(running_database);
    return rc;
}
