/*
 * test_plugin_spf.c - the spf plugin (sender domain must authorise the
 * MTA's outbound addresses) through the real engine and a real store.
 * Hermetic: every policy has a "zone", so no real DNS is ever asked.
 */
#include "cg_harness.h"

#define T0 1795000000LL
#define ANN "ann@example.com"

#define DEPTS                                                                              \
    "\"departments\": ["                                                                   \
    "{\"name\": \"billing\", \"match\": {\"sender\": \"*@bank.example\"},"                 \
    " \"default_category\": \"functional.bill\"},"                                        \
    "{\"name\": \"marketing\", \"match\": {\"sender\": [\"*@*.example\", \"*\"]},"         \
    " \"default_category\": \"promotional.offer\","                                       \
    " \"allowed_categories\": [\"promotional.*\"]}]"

#define REC(n, t, v) "{\"name\": \"" n "\", \"type\": \"" t "\", \"value\": \"" v "\"}"

#define ZONE                                                                               \
    "\"zone\": ["                                                                          \
    REC("bank.example", "TXT", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all") ","      \
    REC("offers.example", "TXT", "v=spf1 ip4:198.51.100.0/24 -all") ","                   \
    REC("inc.example", "TXT", "v=spf1 include:_spf.bank.example -all") ","                \
    REC("_spf.bank.example", "TXT", "v=spf1 a:mx.bank.example -all") ","                  \
    REC("mx.bank.example", "A", "192.0.2.25") ","                                         \
    REC("nospf.example", "TXT", "google-site-verification=abc") ","                       \
    REC("soft.example", "TXT", "v=spf1 ~all") ","                                         \
    REC("half.example", "TXT", "v=spf1 ip4:192.0.2.25 -all") ","                          \
    REC("six.example", "TXT", "v=spf1 ip6:2001:db8::/32 -all") ","                        \
    REC("broken.example", "TXT", "v=spf1 ip4:300.1 -all") ","                             \
    REC("badinc.example", "TXT", "v=spf1 include:nowhere.example -all") "]"

static int quiet; /* bad-params tests expect the config error */

/* cfg_with - a config with one spf policy (action reject) */
static struct cg_config *cfg_with(const char *params)
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"spf\", \"plugin\": \"spf\", \"action\": \"reject\","
             " \"params\": %s}]}\n",
             params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

/* cfg_addrs - the standard zone with these outbound addresses and extras */
static struct cg_config *cfg_addrs(const char *addrs, const char *extra)
{
    char params[4096];
    snprintf(params, sizeof params, "{\"outbound_addresses\": [%s], " ZONE "%s}", addrs, extra);
    return cfg_with(params);
}

/* sendm - one message to ANN; the end-of-message verdict (-1: refused at RCPT) */
static int sendm(const struct cg_config *cfg, cg_store *st, const char *sender, struct h_msg *s)
{
    memset(s, 0, sizeof *s);
    s->sender = sender;
    s->rcpts[0] = ANN;
    s->now = T0;
    return h_send(cfg, st, s);
}

/* refused - refused at RCPT with a reply containing both needles */
static void refused(const struct cg_config *cfg, cg_store *st, const char *sender,
                    const char *domain, const char *addr, const char *result)
{
    struct h_msg s;
    CG_CHECK(sendm(cfg, st, sender, &s) == -1);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_REJECT);
    char want[200];
    snprintf(want, sizeof want, "sender domain %s does not authorise outbound address %s (SPF %s)",
             domain, addr, result);
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, want);
    CG_CHECK(strstr(s.rcpt_d[0].smtp_text, ANN) == NULL);
}

static void test_pass_and_fail(void)
{
    struct cg_config *cfg = cfg_addrs("\"192.0.2.25\"", "");
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    struct h_msg s;
    CG_CHECK(sendm(cfg, st, "billing@bank.example", &s) == CG_ACT_ACCEPT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, "Billing@BANK.Example", &s) == CG_ACT_ACCEPT);
    refused(cfg, st, "deals@offers.example", "offers.example", "192.0.2.25", "fail");
    /* include: to another name in the zone, and a: there */
    CG_CHECK(sendm(cfg, st, "news@inc.example", &s) == CG_ACT_ACCEPT);
    /* the null sender has nothing to check */
    CG_CHECK(sendm(cfg, st, "", &s) == CG_ACT_ACCEPT);
    /* a second message is decided the same (from the cache) */
    refused(cfg, st, "other@offers.example", "offers.example", "192.0.2.25", "fail");
    CG_CHECK(sendm(cfg, st, "billing@bank.example", &s) == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_none(void)
{
    struct cg_config *def = cfg_addrs("\"192.0.2.25\"", "");
    struct cg_config *acc = cfg_addrs("\"192.0.2.25\"", ", \"accept\": [\"pass\", \"none\"]");
    cg_store *st = h_store();
    CG_CHECK(def && acc && st);
    if (!def || !acc || !st)
        goto out;
    struct h_msg s;
    /* TXT but no SPF record, and a name not in the zone at all */
    refused(def, st, "a@nospf.example", "nospf.example", "192.0.2.25", "none");
    refused(def, st, "a@missing.example", "missing.example", "192.0.2.25", "none");
    CG_CHECK(sendm(acc, st, "a@nospf.example", &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(acc, st, "a@missing.example", &s) == CG_ACT_ACCEPT);
    /* accepting none does not accept fail */
    refused(acc, st, "deals@offers.example", "offers.example", "192.0.2.25", "fail");
out:
    cg_store_free(&st);
    cg_config_unref(&def);
    cg_config_unref(&acc);
}

static void test_softfail(void)
{
    struct cg_config *def = cfg_addrs("\"192.0.2.25\"", "");
    struct cg_config *acc = cfg_addrs("\"192.0.2.25\"", ", \"accept\": [\"pass\", \"softfail\"]");
    cg_store *st = h_store();
    CG_CHECK(def && acc && st);
    if (!def || !acc || !st)
        goto out;
    struct h_msg s;
    refused(def, st, "a@soft.example", "soft.example", "192.0.2.25", "softfail");
    CG_CHECK(sendm(acc, st, "a@soft.example", &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(acc, st, "a@bank.example", &s) == CG_ACT_ACCEPT);
    refused(acc, st, "deals@offers.example", "offers.example", "192.0.2.25", "fail");
out:
    cg_store_free(&st);
    cg_config_unref(&def);
    cg_config_unref(&acc);
}

static void test_two_addresses_and_ipv6(void)
{
    struct cg_config *two = cfg_addrs("\"192.0.2.25\", \"192.0.2.26\"", "");
    struct cg_config *six = cfg_addrs("\"2001:db8::25\"", "");
    struct cg_config *both = cfg_addrs("\"192.0.2.25\", \"2001:DB8:0::25\"", "");
    cg_store *st = h_store();
    CG_CHECK(two && six && both && st);
    if (!two || !six || !both || !st)
        goto out;
    struct h_msg s;
    refused(two, st, "a@half.example", "half.example", "192.0.2.26", "fail");
    CG_CHECK(sendm(two, st, "a@bank.example", &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(six, st, "a@six.example", &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(six, st, "a@bank.example", &s) == CG_ACT_ACCEPT);
    refused(six, st, "a@half.example", "half.example", "2001:db8::25", "fail");
    /* the address is named in its canonical form */
    refused(both, st, "a@half.example", "half.example", "2001:db8::25", "fail");
    refused(both, st, "a@six.example", "six.example", "192.0.2.25", "fail");
    CG_CHECK(sendm(both, st, "a@bank.example", &s) == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&two);
    cg_config_unref(&six);
    cg_config_unref(&both);
}

/* permerror is a violation even when everything else is accepted */
static void test_permerror_and_no_domain(void)
{
    struct cg_config *cfg = cfg_addrs(
        "\"192.0.2.25\"", ", \"accept\": [\"pass\", \"neutral\", \"softfail\", \"none\"],"
                          " \"helo\": \"mta.bank.example\", \"cache_ttl\": \"0\"");
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    struct h_msg s;
    refused(cfg, st, "a@broken.example", "broken.example", "192.0.2.25", "permerror");
    refused(cfg, st, "a@badinc.example", "badinc.example", "192.0.2.25", "permerror");
    CG_CHECK(sendm(cfg, st, "postmaster", &s) == -1);
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, "sender address has no valid domain");
    CG_CHECK(sendm(cfg, st, "a@bank.example", &s) == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* bad_params - the config is refused and the error names the key */
static void bad_params(const char *params, const char *key)
{
    quiet = 1;
    h_refused_param(cfg_with(params), key);
    quiet = 0;
}

#define Z1 ", \"zone\": [" REC("bank.example", "TXT", "v=spf1 -all")

static void test_bad_params(void)
{
    bad_params("{\"outbound_addresses\": [\"192.0.2.25\"], \"acept\": [\"pass\"]}", "acept");
    bad_params("{\"outbound_addresses\": [\"999.1.1.1\"]}", "outbound_addresses");
    bad_params("{\"outbound_addresses\": [\"192.0.2.25\", 7]}", "outbound_addresses");
    bad_params("{\"outbound_addresses\": []}", "outbound_addresses");
    bad_params("{\"outbound_addresses\": [\"127.0.0.1\"]}", "outbound_addresses");
    bad_params("{\"accept\": [\"pass\"]}", "outbound_addresses");
    bad_params("{\"outbound_addresses\": \"::1\"}", "outbound_addresses");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\", \"accept\": [\"bogus\"]}", "accept");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\", \"accept\": \"fail\"}", "accept");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\", \"helo\": 5}", "helo");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\", \"cache_ttl\": \"5x\"}", "cache_ttl");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\", \"zone\": {}}", "zone");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\"" Z1 ", " REC("x.example", "CNAME", "y") "]}",
               "zone[1].type");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\"" Z1 ", " REC("x.example", "A", "1.2.3") "]}",
               "zone[1].value");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\"" Z1 ", " REC("x.example", "AAAA", "1.2.3.4") "]}",
               "zone[1].value");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\"" Z1 ", {\"name\": \"x.example\","
               " \"type\": \"TXT\"}]}",
               "zone[1].value");
    bad_params("{\"outbound_addresses\": \"192.0.2.25\"" Z1 ", {\"name\": \"x.example\","
               " \"type\": \"TXT\", \"value\": \"v=spf1\", \"ttl\": 5}]}",
               "zone[1].ttl");
    /* and the good ones load */
    struct cg_config *cfg = cfg_with("{\"outbound_addresses\": \"2001:db8::25\", \"accept\": "
                                     "\"neutral\", \"cache_ttl\": \"1h\"" Z1 ", "
                                     REC("mx.bank.example", "mx", "10 mx2.bank.example") "]}");
    CG_CHECK(cfg != NULL);
    cg_config_unref(&cfg);
}

int main(void)
{
    h_init("test_plugin_spf");
    CG_RUN(test_pass_and_fail);
    CG_RUN(test_none);
    CG_RUN(test_softfail);
    CG_RUN(test_two_addresses_and_ipv6);
    CG_RUN(test_permerror_and_no_domain);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_spf");
}
