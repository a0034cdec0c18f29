/*
 * test_metrics.c - the metrics registry and its Prometheus text
 * (milter/cg_metrics.c, cg_metrics_prom.c): label values escaped, HELP
 * and TYPE before every metric, decisions by verdict, policy and
 * department with the label slots of the configuration (a reload that
 * drops a policy keeps its series, "none" for no deciding policy,
 * "unknown" past the slots), histograms cumulative with +Inf equal to the
 * count, the store's state, the reload counters, and the file written
 * atomically with mode 0644.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_metrics.h"
#include "cg_test.h"

/* a configuration of policies and departments by name (only what the
 * registry reads) */
static struct cg_config *fake_config(const char *version, const char *const *pols,
                                     const char *const *depts)
{
    struct cg_config *c = calloc(1, sizeof *c);
    cg_strlcpy(c->version, version, sizeof c->version);
    for (; pols && pols[c->n_policies]; c->n_policies++)
        ;
    c->policies = calloc(c->n_policies + 1, sizeof *c->policies);
    for (size_t i = 0; i < c->n_policies; i++)
        c->policies[i].name = (char *)pols[i];
    for (; depts && depts[c->n_departments]; c->n_departments++)
        ;
    c->departments = calloc(c->n_departments + 1, sizeof *c->departments);
    for (size_t i = 0; i < c->n_departments; i++)
        c->departments[i].name = (char *)depts[i];
    return c;
}

static void fake_free(struct cg_config *c)
{
    free(c->policies);
    free(c->departments);
    free(c);
}

/* decide - one decision of verdict by policy p (NULL none) for dept */
static void decide(int verdict, int error, const struct cg_policy *p, const char *dept, int rcpt,
                   double secs)
{
    struct cg_msg m;
    memset(&m, 0, sizeof m);
    m.department = dept;
    struct cg_decision d;
    memset(&d, 0, sizeof d);
    d.verdict = verdict;
    d.error = error;
    d.policy = p;
    cg_metrics_decided(&m, &d, rcpt, secs, 0);
}

/* render - the text now (malloc'ed) */
static char *render(void)
{
    struct cg_buf b = {0};
    cg_metrics_prom_render(&b);
    return b.s;
}

/* line_value - the value of the sample line that starts with key, or -1 */
static double line_value(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void test_escape(void)
{
    struct cg_buf b = {0};
    cg_metrics_prom_escape(&b, "a\\b\"c\nd");
    CG_CHECK_STR(b.s, "a\\\\b\\\"c\\nd");
    cg_buf_free(&b);
    struct cg_buf e = {0};
    cg_metrics_prom_escape(&e, "plain.name-1_x");
    CG_CHECK_STR(e.s, "plain.name-1_x");
    cg_buf_free(&e);
}

static void test_help_and_type_first(void)
{
    cg_metrics_init();
    char *t = render();
    /* every sample's metric family has HELP and TYPE lines before it */
    const char *fams[] = {"contactgate_build_info",         "contactgate_start_time_seconds",
                          "contactgate_config_info",        "contactgate_decisions_total",
                          "contactgate_errors_total",       "contactgate_tempfails_total",
                          "contactgate_decision_duration_seconds", "contactgate_batch_size",
                          "contactgate_store_commit_duration_seconds",
                          "contactgate_decider_queue_depth", "contactgate_store_up",
                          "contactgate_reloads_total",       "contactgate_last_reload_timestamp_seconds",
                          "contactgate_last_reload_success"};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char help[128], type[128], sample[128];
        snprintf(help, sizeof help, "# HELP %s ", fams[i]);
        snprintf(type, sizeof type, "# TYPE %s ", fams[i]);
        snprintf(sample, sizeof sample, "\n%s", fams[i]);
        const char *h = strstr(t, help), *ty = strstr(t, type), *s = strstr(t, sample);
        CG_CHECK(h != NULL);
        CG_CHECK(ty != NULL && h && ty > h);
        if (s && ty && s < ty)
            fprintf(stderr, "  a sample of %s before its TYPE line\n", fams[i]);
        CG_CHECK(!(s && ty && s < ty));
    }
    CG_CHECK_CONTAINS(t, "# TYPE contactgate_decisions_total counter\n");
    CG_CHECK_CONTAINS(t, "# TYPE contactgate_batch_size histogram\n");
    CG_CHECK_CONTAINS(t, "# TYPE contactgate_decider_queue_depth gauge\n");
    CG_CHECK_CONTAINS(t, "contactgate_build_info{version=\"" CG_VERSION "\"} 1\n");
    CG_CHECK(strstr(t, "contactgate_decisions_total{") == NULL); /* nothing yet */
    free(t);
}

static void test_decisions_by_label(void)
{
    cg_metrics_init();
    const char *pols[] = {"caps", "quiet", "none", NULL};
    const char *depts[] = {"billing", "marketing", NULL};
    struct cg_config *c = fake_config("00000000000000aa", pols, depts);
    cg_metrics_config(c);
    decide(CG_ACT_ACCEPT, 0, NULL, "billing", 0, 0.001);
    decide(CG_ACT_ACCEPT, 0, NULL, "billing", 0, 0.001);
    decide(CG_ACT_DEFER, 0, &c->policies[0], "marketing", 1, 0.0002);
    decide(CG_ACT_DEFER, 1, &c->policies[1], "marketing", 0, 0.003); /* tempfail */
    decide(CG_ACT_ACCEPT, 0, NULL, "marketing", 1, 0.0001);          /* RCPT, nothing settled */
    decide(CG_ACT_TAG, 0, &c->policies[2], "unknown", 0, 0.002);    /* policy named "none" */
    decide(CG_ACT_REJECT, 0, &c->policies[1], "no-such-dept", 0, 7.0);
    char *t = render();
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"accept\",policy=\"none\","
                               "department=\"billing\"}"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"defer\",policy=\"caps\","
                               "department=\"marketing\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"tempfail\",policy=\"quiet\","
                               "department=\"marketing\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"tag\",policy=\"none\","
                               "department=\"unknown\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"reject\",policy=\"quiet\","
                               "department=\"unknown\"}"), 1);
    /* the RCPT check that settled nothing is no decision, but has a latency */
    CG_CHECK(strstr(t, "verdict=\"accept\",policy=\"none\",department=\"marketing\"") == NULL);
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_count{stage=\"rcpt\"}"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_count{stage=\"eom\"}"), 5);
    /* cumulative buckets, +Inf = count, the sum in seconds */
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_bucket{stage=\"eom\",le=\"0.001\"}"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_bucket{stage=\"eom\",le=\"0.0025\"}"), 3);
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_bucket{stage=\"eom\",le=\"5\"}"), 4);
    CG_CHECK_INT(line_value(t, "contactgate_decision_duration_seconds_bucket{stage=\"eom\",le=\"+Inf\"}"), 5);
    double sum = line_value(t, "contactgate_decision_duration_seconds_sum{stage=\"eom\"}");
    CG_CHECK(sum > 7.0069 && sum < 7.0071);
    CG_CHECK_CONTAINS(t, "contactgate_config_info{version=\"00000000000000aa\"} 1\n");
    free(t);

    /* a reload that drops a policy: its series stay, a new one appears */
    const char *pols2[] = {"quiet", "spacing", NULL};
    struct cg_config *c2 = fake_config("00000000000000bb", pols2, depts);
    cg_metrics_config(c2);
    decide(CG_ACT_DEFER, 0, &c2->policies[1], "billing", 0, 0.001);
    t = render();
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"defer\",policy=\"caps\","
                               "department=\"marketing\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"defer\",policy=\"spacing\","
                               "department=\"billing\"}"), 1);
    CG_CHECK_CONTAINS(t, "contactgate_config_info{version=\"00000000000000bb\"} 1\n");
    free(t);
    fake_free(c);
    fake_free(c2);
}

static void test_names_are_bounded(void)
{
    cg_metrics_init();
    static char names[CG_METRICS_NAMES + 10][16];
    const char *pols[CG_METRICS_NAMES + 11];
    for (int i = 0; i < CG_METRICS_NAMES + 10; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        pols[i] = names[i];
    }
    pols[CG_METRICS_NAMES + 10] = NULL;
    struct cg_config *c = fake_config("00000000000000cc", pols, NULL);
    cg_metrics_config(c);
    for (size_t i = 0; i < c->n_policies; i++)
        decide(CG_ACT_DEFER, 0, &c->policies[i], "x", 0, 0.001);
    char *t = render();
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"defer\",policy=\"p0\","
                               "department=\"unknown\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_decisions_total{verdict=\"defer\",policy=\"unknown\","
                               "department=\"unknown\"}"), 10);
    int series = 0;
    for (const char *p = strstr(t, "\ncontactgate_decisions_total{"); p;
         p = strstr(p + 1, "\ncontactgate_decisions_total{"))
        series++;
    CG_CHECK_INT(series, CG_METRICS_NAMES + 1);
    free(t);
    fake_free(c);
}

static void test_errors_store_reload(void)
{
    cg_metrics_init();
    cg_metrics_error(CG_MC_STORE, 1);
    cg_metrics_error(CG_MC_STORE, 0);
    cg_metrics_error(CG_MC_HOLD, 1);
    cg_metrics_batch(3, 0.0002);
    cg_metrics_batch(1, 0.0001);
    cg_metrics_queue(5);
    cg_metrics_queue(-3);
    cg_metrics_store(0, "database x: disk full");
    cg_metrics_reload(1, NULL);
    cg_metrics_reload(0, "cfg.json: mode: \"strict\" is not enforce or monitor");
    char *t = render();
    CG_CHECK_INT(line_value(t, "contactgate_errors_total{cause=\"store\"}"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_tempfails_total{cause=\"store\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_tempfails_total{cause=\"hold\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_tempfails_total{cause=\"plugin\"}"), 0);
    CG_CHECK_INT(line_value(t, "contactgate_batch_size_sum"), 4);
    CG_CHECK_INT(line_value(t, "contactgate_batch_size_bucket{le=\"2\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_batch_size_bucket{le=\"4\"}"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_store_commit_duration_seconds_count"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_decider_queue_depth"), 2);
    CG_CHECK_INT(line_value(t, "contactgate_store_up"), 0);
    CG_CHECK_INT(line_value(t, "contactgate_reloads_total{result=\"ok\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_reloads_total{result=\"failed\"}"), 1);
    CG_CHECK_INT(line_value(t, "contactgate_last_reload_success"), 0);
    free(t);
    struct cg_metrics_snap s;
    cg_metrics_snapshot(&s);
    CG_CHECK_INT(s.store_state, CG_MS_RECONNECTING);
    CG_CHECK_STR(s.store_last_error, "database x: disk full");
    CG_CHECK_CONTAINS(s.last_reload_error, "is not enforce or monitor");
    cg_metrics_store(1, NULL);
    cg_metrics_snapshot(&s);
    CG_CHECK_INT(s.store_state, CG_MS_OK);
    CG_CHECK_STR(s.store_last_error, "database x: disk full"); /* kept for status */
}

static void test_file(void)
{
    cg_metrics_init();
    char dir[] = "/tmp/cg-test-metrics.XXXXXX";
    CG_REQUIRE(mkdtemp(dir) != NULL);
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/contactgate.prom", dir);
    mode_t old = umask(077);
    CG_CHECK_INT(cg_metrics_prom_write(path, err, sizeof err), 0);
    umask(old);
    struct stat sb;
    CG_REQUIRE(stat(path, &sb) == 0);
    CG_CHECK_INT(sb.st_mode & 07777, 0644);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = contactgate.prom", dir);
    CG_CHECK_INT(system(cmd), 0); /* no temporary file left */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.prom", dir);
    CG_CHECK_INT(cg_metrics_prom_write(bad, err, sizeof err), -1);
    CG_CHECK_CONTAINS(err, "no/such/dir/x.prom");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    CG_RUN(test_escape);
    CG_RUN(test_help_and_type_first);
    CG_RUN(test_decisions_by_label);
    CG_RUN(test_names_are_bounded);
    CG_RUN(test_errors_store_reload);
    CG_RUN(test_file);
    CG_DONE("test_metrics");
}
