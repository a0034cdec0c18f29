/*
 * ctl_reload.c - contactgatectl reload (and `config reload`): ask the
 * running daemon to reload its configuration.
 *
 * The daemon is found through its pid file: --pid-file, else the
 * configuration's pid_file (default /run/contactgate/contactgate.pid, as
 * the daemon and the systemd unit use it). The daemon holds a lock on that
 * file for as long as it runs, so a file nobody holds is stale (a crash, a
 * reboot) and its pid, which may now be anybody's, is not signalled. The
 * signal is SIGUSR1 to the supervising process, which passes it on to the
 * serving process; the daemon loads and validates the new configuration
 * and keeps the old one if anything is wrong (it logs which).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ctl.h"

/* daemon_pid - the pid in a pid file the daemon holds; 0 with the error
 * printed */
static long daemon_pid(const char *cmd, const char *pidfile)
{
    int fd = open(pidfile, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        ctl_err(CTL_USAGE, cmd, "%s: %s (is contactgate running?)", pidfile, strerror(errno));
        return 0;
    }
    char buf[32] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char *end;
    long pid = strtol(buf, &end, 10);
    int stale = flock(fd, LOCK_SH | LOCK_NB) == 0;
    close(fd);
    if (pid <= 1 || (*end && *end != '\n')) {
        ctl_err(CTL_USAGE, cmd, "%s: does not hold a process id", pidfile);
        return 0;
    }
    if (stale) {
        ctl_err(CTL_USAGE, cmd, "%s: no contactgate holds it (a stale pid file: process %ld "
                "is not signalled)", pidfile, pid);
        return 0;
    }
    return pid;
}

/* ctl_reload - signal the daemon to reload */
int ctl_reload(struct ctl *c, const char *cmd, int argc, char **argv)
{
    const char *pidfile = NULL;
    const struct ctl_opt opts[] = {{"--pid-file", &pidfile, NULL}, {NULL, NULL, NULL}};
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    if (!pidfile) {
        struct cg_config *cfg = ctl_config(c);
        if (!cfg)
            return ctl_err(CTL_USAGE, cmd, "the pid file is the configuration's pid_file: "
                           "fix the configuration, or give --pid-file");
        pidfile = cfg->pid_file;
    }
    long pid = daemon_pid(cmd, pidfile);
    if (!pid)
        return CTL_USAGE;
    if (kill((pid_t)pid, SIGUSR1) < 0)
        return ctl_err(CTL_USAGE, cmd, "process %ld: %s%s", pid, strerror(errno),
                       errno == EPERM ? " (run it as root or as the daemon's user)" : "");
    printf("reload requested (SIGUSR1 to %ld); contactgate logs whether the new "
           "configuration was taken or refused\n", pid);
    return CTL_OK;
}

/* reload_run - `contactgatectl reload` */
static int reload_run(struct ctl *c, int argc, char **argv)
{
    return ctl_reload(c, "reload", argc, argv);
}

const struct ctl_cmd ctl_cmd_reload = {
    .name = "reload",
    .synopsis = "ask the running daemon to reload its configuration",
    .help = "SYNOPSIS\n"
            "  contactgatectl [-c FILE] reload [--pid-file FILE]\n"
            "  contactgatectl [-c FILE] config reload [--pid-file FILE]\n\n"
            "DESCRIPTION\n"
            "  Sends SIGUSR1 to the contactgate named in its pid file: --pid-file, else\n"
            "  the configuration's pid_file (default /run/contactgate/contactgate.pid,\n"
            "  as the shipped systemd unit runs it). A pid file no running contactgate\n"
            "  holds is stale and refused. The daemon validates the new configuration\n"
            "  completely and keeps the old one if anything is wrong; run `config\n"
            "  check` first to see errors. Same as `systemctl reload contactgate` or\n"
            "  SIGHUP to the daemon.\n\n"
            "EXIT STATUS\n  0 signal sent, 1 no such daemon\n",
    .run = reload_run,
};
CTL_REGISTER(ctl_cmd_reload)
