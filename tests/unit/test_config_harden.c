/*
 * test_config_harden.c - the configuration keys of the hardening work:
 * milter_clients, milter_timeout, database_group, pid_file, and an inet
 * socket without a host listening on loopback. Defaults, explicit values,
 * and errors that name the key.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_log.h"
#include "cg_test.h"

static char dir[] = "/tmp/cg-test-config-harden.XXXXXX";

/* load - write text as dir/c.json and load it without plugins */
static struct cg_config *load(const char *text, char *err, size_t errlen)
{
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/c.json", dir);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    err[0] = 0;
    return cg_config_load(path, CG_CONFIG_NO_PLUGINS, err, errlen);
}

static void cidr_text(const struct cg_cidr *c, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(c->family, c->addr, a, sizeof a);
    snprintf(buf, len, "%s/%d", a, c->prefix);
}

static void test_defaults(void)
{
    char err[1024], t[80];
    struct cg_config *c = load("{\"socket\": \"inet:10025\"}", err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c)
        return;
    CG_CHECK_STR(c->socket, "inet:10025@127.0.0.1");
    CG_CHECK(c->n_milter_clients == 2);
    cidr_text(&c->milter_clients[0], t, sizeof t);
    CG_CHECK_STR(t, "127.0.0.1/32");
    cidr_text(&c->milter_clients[1], t, sizeof t);
    CG_CHECK_STR(t, "::1/128");
    CG_CHECK(c->milter_timeout_secs == 600);
    CG_CHECK(c->database_group == NULL);
    CG_CHECK_STR(c->pid_file, "/run/contactgate/contactgate.pid");
    cg_config_unref(&c);
    c = load("{\"socket\": \"inet6:10025\"}", err, sizeof err);
    CG_CHECK(c && !strcmp(c->socket, "inet6:10025@::1"));
    cg_config_unref(&c);
    c = load("{\"socket\": \"inet:10025@0.0.0.0\"}", err, sizeof err);
    CG_CHECK(c && !strcmp(c->socket, "inet:10025@0.0.0.0"));
    cg_config_unref(&c);
    c = load("{\"socket\": \"unix:/run/x.sock\"}", err, sizeof err);
    CG_CHECK(c && !strcmp(c->socket, "unix:/run/x.sock"));
    cg_config_unref(&c);
}

static void test_values(void)
{
    char err[1024], t[80], want[sizeof dir + 32];
    struct cg_config *c = load("{\"milter_clients\": [\"10.1.0.0/16\"], \"milter_timeout\": \"2m\", "
                               "\"database_group\": \"root\", \"pid_file\": \"run/cg.pid\"}",
                               err, sizeof err);
    CG_CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CG_CHECK(c->n_milter_clients == 1);
    cidr_text(&c->milter_clients[0], t, sizeof t);
    CG_CHECK_STR(t, "10.1.0.0/16");
    CG_CHECK(c->milter_timeout_secs == 120);
    CG_CHECK_STR(c->database_group, "root");
    snprintf(want, sizeof want, "%s/run/cg.pid", dir);
    CG_CHECK_STR(c->pid_file, want);
    cg_config_unref(&c);
}

static void test_errors(void)
{
    const char *cases[][2] = {
        {"{\"milter_clients\": [\"10.1.0.0/33\"]}", "milter_clients[0]: \"10.1.0.0/33\" is not"},
        {"{\"milter_clients\": 5}", "milter_clients: is an integer, expected a list"},
        {"{\"milter_timeout\": \"forever\"}", "milter_timeout: \"forever\" is not a duration"},
        {"{\"milter_timeout\": \"0s\"}", "milter_timeout: must be longer than 0 seconds"},
        {"{\"milter_timeout\": \"2d\"}", "milter_timeout: 2d is longer than 1d, the most allowed"},
        {"{\"database_timeout\": \"11m\"}",
         "database_timeout: 11m is longer than 10m, the most allowed"},
        {"{\"database_timeout\": 0}", "database_timeout: must be longer than 0 seconds"},
        {"{\"database_group\": \"no-such-group-xyz\"}",
         "database_group: \"no-such-group-xyz\": no such group"},
        {"{\"database_group\": \"\"}", "database_group: is empty"},
        {"{\"pid_file\": 1}", "pid_file: is an integer, expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[1024];
        struct cg_config *c = load(cases[i][0], err, sizeof err);
        CG_CHECK(c == NULL);
        CG_CHECK_CONTAINS(err, cases[i][1]);
        cg_config_unref(&c);
    }
}

static void test_printed(void)
{
    char err[1024];
    struct cg_config *c = load("{\"socket\": \"inet:10025\", \"milter_timeout\": \"90s\"}", err,
                               sizeof err);
    CG_CHECK(c != NULL);
    if (!c)
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_config_print(c, fp);
    fclose(fp);
    CG_CHECK_CONTAINS(buf, "\n  socket                     inet:10025@127.0.0.1\n");
    CG_CHECK_CONTAINS(buf, "\n  milter_clients             127.0.0.1/32, ::1/128\n");
    CG_CHECK_CONTAINS(buf, "\n  milter_timeout             90s\n");
    CG_CHECK_CONTAINS(buf, "\n  database_group             none (history files 0600)\n");
    CG_CHECK_CONTAINS(buf, "\n  pid_file                   /run/contactgate/contactgate.pid\n");
    free(buf);
    cg_config_unref(&c);
}

int main(void)
{
    cg_log_open("test_config_harden", 0, 0, LOG_ERR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    CG_RUN(test_defaults);
    CG_RUN(test_values);
    CG_RUN(test_errors);
    CG_RUN(test_printed);
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    CG_DONE("test_config_harden");
}
