/*
 * cg_main.c - the contactgate daemon: options, start-up, reload, stop.
 *
 *   contactgate [-c FILE] [-u USER] [-p PIDFILE] [-f] [-n] [-v]
 *
 * -c config file (default /etc/contactgate/contactgate.json), -f stay in
 * the foreground and log to stderr too, -n check the configuration and
 * plugins, print the effective policy set and exit (non-zero with a
 * precise message on any error), -v debug logging, -u drop to USER right
 * after start-up checks (required when started as root: the daemon never
 * serves mail as root), -p the pid file (default: the configuration's
 * pid_file without -f, none with -f).
 *
 * Start-up, in this order, every error on stderr and exit status 1 with no
 * process left behind: root without -u, unknown user; as root, the pid
 * file's directory is created when missing (0755, owned by USER, as the
 * systemd unit's RuntimeDirectory); the drop to USER; the configuration
 * (read as USER, as every reload will be); the pid file (opened and
 * locked: a second daemon is refused); the history file (created 0600, or
 * 0640 to database_group); then the supervisor (cg_supervise.c) starts the
 * serving process, which opens the store and the socket ("in use" is an
 * error too) and, without -f, the command returns once it serves.
 *
 * Processes: a supervisor, which holds the pid file and never touches
 * mail, and the serving process (libmilter, decider, store), restarted
 * when it dies. Signals to the supervisor: SIGHUP or SIGUSR1 reload,
 * SIGTERM/SIGINT stop. In the serving process libmilter owns
 * SIGHUP/SIGTERM (stop) and SIGINT (abort); SIGUSR1 reloads: a dedicated
 * thread waits for it (the signal is blocked everywhere else), loads and
 * validates a complete new snapshot, and swaps it in; connections that
 * started before keep the old snapshot until they end. A bad new
 * configuration is logged and the old one keeps running.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_control.h"
#include "cg_dbfile.h"
#include "cg_database.h"
#include "cg_decider.h"
#include "cg_engine.h"
#include "cg_log.h"
#include "cg_metrics.h"
#include "cg_milter.h"
#include "cg_priv.h"
#include "cg_supervise.h"
#include "cg_util.h"

#define CG_DEFAULT_CONFIG "/etc/contactgate/contactgate.json"

static char *config_path;
static char *running_database;
static cg_decider *running_dc;
static char *running_socket;
static char *running_control;
static int64_t running_timeout_secs;

/* usage - print the synopsis and exit 1 */
static void usage(void)
{
    fprintf(stderr, "usage: contactgate [-c config] [-u user] [-p pidfile] [-f] [-n] [-v]\n"
                    "  -c FILE  configuration (default " CG_DEFAULT_CONFIG ")\n"
                    "  -u USER  run as USER (required when started as root)\n"
                    "  -p FILE  pid file (default: the configuration's pid_file; with -f none)\n"
                    "  -f       stay in the foreground, log to stderr too\n"
                    "  -n       check the configuration and plugins, print the effective\n"
                    "           policy set and exit\n"
                    "  -v       debug logging\n");
    exit(1);
}

/* coverage_line - a warning about the policy set: on stderr for -n, else
 * in the log */
static void coverage_line(const char *line, void *arg)
{
    if (arg)
        fprintf(arg, "contactgate: %s\n", line);
    else
        cg_log(LOG_WARNING, "%s", line + strlen("warning: "));
}

/* absolute - path made absolute against the current directory (the
 * daemon works from /), malloc'ed */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return cg_xstrdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        cg_fatal("cannot find the current directory: %s", strerror(errno));
    return cg_xasprintf("%s/%s", cwd, path);
}

/* reload - build and validate a new snapshot; keep the old on error */
static void reload(void)
{
    char err[1024];
    struct cg_config *cfg = cg_config_load(config_path, 0, err, sizeof err);
    if (!cfg) {
        cg_log(LOG_ERR, "reload: %s; keeping the running configuration", err);
        cg_metrics_reload(0, err);
        return;
    }
    if (strcmp(cfg->database, running_database) != 0) {
        char *now = cg_database_masked(cfg->database), *was = cg_database_masked(running_database);
        cg_log(LOG_WARNING, "reload: database changed to %s; that takes a restart, "
               "still using %s", now, was);
        free(now);
        free(was);
    }
    if (strcmp(cfg->socket, running_socket) != 0)
        cg_log(LOG_WARNING, "reload: socket changed to %s; that takes a restart, "
               "still serving on %s", cfg->socket, running_socket);
    if (strcmp(cfg->control_socket, running_control) != 0)
        cg_log(LOG_WARNING, "reload: control_socket changed to %s; that takes a restart, "
               "still answering on %s", cfg->control_socket, running_control);
    if (cfg->milter_timeout_secs != running_timeout_secs)
        cg_log(LOG_WARNING, "reload: milter_timeout changed to %llds; that takes a restart, "
               "still %llds", (long long)cfg->milter_timeout_secs,
               (long long)running_timeout_secs);
    cg_log(LOG_INFO, "reload: configuration %s loaded (version %s, %zu policies)", config_path,
           cfg->version, cfg->n_policies);
    cg_decider_config(running_dc, cfg);
    cg_engine_coverage(cfg, coverage_line, NULL);
    cg_metrics_config(cfg);
    cg_metrics_reload(1, NULL);
    cg_metrics_prom_config(cfg->metrics_file, cfg->metrics_interval_secs);
    cg_milter_config_swap(cfg);
}

/* reload_thread - wait for SIGUSR1; report suppressed log lines now and
 * then (cg_log_flush) */
static void *reload_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        struct timespec ts = {.tv_sec = 5};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGUSR1)
            reload();
        cg_log_flush(0);
    }
    return NULL;
}

/* what the serving process starts from */
struct start {
    struct cg_config *cfg; /* loaded by main; the first serving process's */
    int foreground;
};

/* serve - the serving process: store, libmilter, reload thread; returns
 * the exit status */
static int serve(void *arg, int first, void (*ready)(void *), void *ready_arg)
{
    struct start *s = arg;
    char err[1024];
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

    struct cg_config *cfg = first ? s->cfg : NULL;
    s->cfg = NULL;
    if (!cfg && !(cfg = cg_config_load(config_path, 0, err, sizeof err))) {
        cg_log(LOG_CRIT, "%s", err);
        return 1;
    }
    umask(cg_dbfile_umask(cfg->database_group));
    if (cg_dbfile_secure(cfg->database, cfg->database_group, err, sizeof err) < 0) {
        cg_log(LOG_CRIT, "%s", err);
        cg_config_unref(&cfg);
        return 1;
    }
    cg_store_set_timeout((int)cfg->database_timeout_secs * 1000);
    cg_metrics_init();
    cg_decider *dc = cg_decider_start(cfg->database,
                                      cfg->durability_power ? CG_STORE_SYNC_FULL : 0, err,
                                      sizeof err);
    /* SQLite made -wal and -shm with the file's mode; give them its group */
    if (!dc || cg_dbfile_secure(cfg->database, cfg->database_group, err, sizeof err) < 0) {
        cg_log(LOG_CRIT, "%s", err);
        cg_decider_stop(&dc);
        cg_config_unref(&cfg);
        return 1;
    }
    running_dc = dc;
    cg_decider_config(dc, cfg);
    cg_engine_coverage(cfg, coverage_line, NULL);
    running_database = cg_xstrdup(cfg->database);
    running_socket = cg_xstrdup(cfg->socket);
    running_timeout_secs = cfg->milter_timeout_secs;
    running_control = cg_xstrdup(cfg->control_socket);
    cg_metrics_config(cfg);
    cg_metrics_prom_config(cfg->metrics_file, cfg->metrics_interval_secs);
    if (cg_metrics_prom_start(err, sizeof err) < 0)
        cg_log(LOG_ERR, "%s", err);
    /* status is not mail: without its socket the daemon still serves (and
     * contactgatectl status says it is down, which alerts) */
    if (cg_control_start(cfg->control_socket, err, sizeof err) < 0)
        cg_log(LOG_ERR, "%s; contactgatectl status cannot ask this process", err);
    cg_milter_config_swap(cfg);

    pthread_t rt;
    if (pthread_create(&rt, NULL, reload_thread, &usr1) != 0) {
        cg_log(LOG_CRIT, "cannot start the reload thread");
        return 1;
    }
    pthread_detach(rt);

    struct cg_config *c = cg_milter_config_ref();
    char *shown = cg_database_masked(c->database);
    cg_log(LOG_INFO, "%s: config %s version %s, %zu policies, socket %s, database %s, mode %s",
           first ? "starting" : "restarted", config_path, c->version, c->n_policies, c->socket,
           shown, c->mode == CG_MODE_MONITOR ? "monitor" : "enforce");
    int rc = cg_milter_run(c, dc, ready, ready_arg);
    cg_config_unref(&c);
    cg_log(LOG_INFO, "stopping (%s)", rc == 0 ? "signal" : "error");
    free(shown);
    cg_control_stop();
    cg_metrics_prom_stop();
    running_dc = NULL;
    cg_decider_stop(&dc);
    cg_milter_config_swap(NULL);
    free(running_database);
    free(running_socket);
    free(running_control);
    return rc;
}

/* forked - in the supervisor: the serving process has its own copy of
 * the first snapshot; the supervisor needs none (it never touches mail) */
static void forked(void *arg)
{
    struct start *s = arg;
    cg_config_unref(&s->cfg);
}

int main(int argc, char **argv)
{
    int foreground = 0, check = 0, verbose = 0, ch;
    const char *user = NULL, *pidarg = NULL, *cfgarg = CG_DEFAULT_CONFIG;
    while ((ch = getopt(argc, argv, "c:u:p:fnvh")) != -1) {
        switch (ch) {
        case 'c': cfgarg = optarg; break;
        case 'u': user = optarg; break;
        case 'p': pidarg = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': check = 1; break;
        case 'v': verbose = 1; break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    /* nothing the daemon creates is readable by others, whatever the
     * caller's umask (the socket and the pid file get their modes
     * explicitly) */
    umask(077);
    config_path = absolute(cfgarg);

    char err[1024];
    if (check) {
        cg_log_open("contactgate", 0, 1, verbose ? LOG_DEBUG : LOG_INFO);
        struct cg_config *cfg = cg_config_load(config_path, 0, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "contactgate: %s\n", err);
            return 1;
        }
        cg_config_print(cfg, stdout);
        cg_engine_coverage(cfg, coverage_line, stderr);
        cg_config_unref(&cfg);
        return 0;
    }

    /* until the daemon serves, errors go to stderr too (only they, without
     * -f); the supervisor stops that once it has detached */
    cg_log_open("contactgate", 1, 1, verbose ? LOG_DEBUG : LOG_INFO);
    if (!foreground)
        cg_log_stderr(LOG_WARNING);
    if (geteuid() == 0 && !user)
        cg_fatal("refusing to run as root: give -u USER, the unprivileged user to run as");
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (user && cg_priv_lookup(user, &uid, &gid, err, sizeof err) < 0)
        cg_fatal("%s", err);

    char *pidfile = pidarg ? absolute(pidarg) : NULL;
    if (geteuid() == 0 && !pidfile && !foreground) {
        /* the configured pid file's directory may have to be made as root */
        struct cg_config *pre = cg_config_load(config_path, CG_CONFIG_NO_PLUGINS, err, sizeof err);
        if (!pre)
            cg_fatal("%s", err);
        pidfile = cg_xstrdup(pre->pid_file);
        cg_config_unref(&pre);
    }
    if (geteuid() == 0 && pidfile && cg_pidfile_dir(pidfile, uid, gid, err, sizeof err) < 0)
        cg_fatal("%s", err);
    if (user && cg_priv_drop(user, err, sizeof err) < 0)
        cg_fatal("%s", err);

    /* the configuration is read as USER, as every reload will be */
    struct start s = {.foreground = foreground};
    s.cfg = cg_config_load(config_path, 0, err, sizeof err);
    if (!s.cfg)
        cg_fatal("%s", err);
    if (!pidfile && !foreground)
        pidfile = cg_xstrdup(s.cfg->pid_file);
    int pidfd = -1;
    if (pidfile && (cg_pidfile_dir(pidfile, uid, gid, err, sizeof err) < 0 ||
                    (pidfd = cg_pidfile_open(pidfile, err, sizeof err)) < 0))
        cg_fatal("%s", err);
    umask(cg_dbfile_umask(s.cfg->database_group));
    if (cg_dbfile_secure(s.cfg->database, s.cfg->database_group, err, sizeof err) < 0) {
        if (pidfd >= 0)
            cg_pidfile_remove(pidfile, pidfd);
        cg_fatal("%s", err);
    }

    struct cg_supervise sup = {
        .foreground = foreground,
        .pidfile = pidfile,
        .pidfd = pidfd,
        .argv = argv,
        .argc = argc,
        .serve = serve,
        .forked = forked,
        .arg = &s,
    };
    int rc = cg_supervise_run(&sup);
    cg_config_unref(&s.cfg);
    free(pidfile);
    free(config_path);
    return rc;
}
