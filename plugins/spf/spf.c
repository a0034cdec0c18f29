/*
 * spf.c - contactgate policy plugin: the envelope sender's domain must
 * authorise (SPF, RFC 7208) every outbound address of the MTA, so no
 * department sends under a domain that receivers will refuse.
 *
 * params:
 *   outbound_addresses  the MTA's outbound IPv4/IPv6 addresses (required)
 *   accept              SPF results that pass (default ["pass"]; any of
 *                       pass, neutral, softfail, none)
 *   helo                HELO name given to the check (for %{h} macros)
 *   cache_ttl           how long a domain's outcome is kept (default 5m;
 *                       0: no cache); temporary errors are never kept
 *   zone                static DNS records [{"name", "type", "value"}]
 *                       (TXT, A, AAAA, MX, PTR). When given, ONLY the zone
 *                       is consulted: names not in it do not exist.
 *
 * The null sender passes. fail, softfail, neutral, none and permerror are
 * violations unless accepted; temperror (DNS failure) is CG_ERROR, so the
 * host applies on_error. The check runs with the domain alone as identity
 * (libspf2 then uses local part "postmaster"), so the outcome depends on
 * the domain only and may be cached per domain.
 *
 * libspf2 (1.2.10) notes:
 *  - Threads: one SPF_server_t is shared, read-only after init; each check
 *    has its own SPF_request_t. The zone layer only reads its records; the
 *    resolver layer keeps a per-thread res_state (res_ninit). libspf2's own
 *    DNS cache layer (SPF_DNS_CACHE) has no locking, so it is not used:
 *    this plugin caches outcomes itself under a mutex.
 *  - A record that does not compile comes back as result "(invalid)" with
 *    SPF_E_NOT_SPF, not permerror; a DNS failure of the top-level lookup
 *    as "(invalid)" with SPF_E_DNS_ERROR, not temperror. Both are mapped.
 *  - Loopback clients always "pass"; loopback outbound addresses are
 *    refused at init. SPF_dns_zone_add_str abort()s on a type it does not
 *    know, so types are checked first. SPF_server_free does not free a
 *    layer given to SPF_server_new_dns (destroy_resolver is 0).
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#include "contactgate/plugin.h"

#define MAX_ADDRS 16
#define CACHE_SLOTS 256

/* indexed by SPF_result_t */
static const char *const result_names[] = {"invalid",  "neutral", "pass",      "fail",
                                           "softfail", "none",    "temperror", "permerror"};
#define N_RESULTS (sizeof result_names / sizeof result_names[0])

struct addr {
    int af;
    struct in_addr v4;
    struct in6_addr v6;
    char text[INET6_ADDRSTRLEN];
};

struct slot {
    char domain[256];
    int64_t expires;
    int rc;
    char reason[200];
    char detail[200];
};

struct spf {
    const struct cg_host *host;
    SPF_server_t *srv;
    SPF_dns_server_t *zone; /* the "zone" layer, when given */
    const char *helo;
    struct addr addrs[MAX_ADDRS];
    size_t n_addrs;
    unsigned accept;    /* bit per SPF_result_t */
    int64_t ttl;
    pthread_mutex_t lock; /* guards cache[] only */
    struct slot cache[CACHE_SLOTS];
};

/* add_zone - the "zone" param: [{"name", "type", "value"}] */
static int add_zone(const struct cg_host *h, cg_param *arr, SPF_dns_server_t *z)
{
    static const struct { const char *name; ns_type t; } types[] = {
        {"TXT", ns_t_txt}, {"A", ns_t_a}, {"AAAA", ns_t_aaaa}, {"MX", ns_t_mx}, {"PTR", ns_t_ptr}};
    static const char *const keys[] = {"name", "type", "value", NULL};
    long n = h->param_len(arr);
    if (n < 0)
        return CG_ERROR;
    for (long i = 0; i < n; i++) {
        cg_param *e = h->param_item(arr, i);
        const char *name = NULL, *type = NULL, *value = NULL;
        if (h->param_keys(e, keys) || h->param_string(e, "name", 1, &name) ||
            h->param_string(e, "type", 1, &type) || h->param_string(e, "value", 1, &value))
            return CG_ERROR;
        if (!*name || strlen(name) > 253)
            return h->param_error(e, "name", "must be a domain name");
        size_t k = 0;
        while (k < sizeof types / sizeof types[0] && strcasecmp(types[k].name, type) != 0)
            k++;
        if (k == sizeof types / sizeof types[0])
            return h->param_error(e, "type", "\"%s\" is not one of TXT, A, AAAA, MX, PTR", type);
        unsigned char buf[sizeof(struct in6_addr)];
        if ((types[k].t == ns_t_a && inet_pton(AF_INET, value, buf) != 1) ||
            (types[k].t == ns_t_aaaa && inet_pton(AF_INET6, value, buf) != 1))
            return h->param_error(e, "value", "\"%s\" is not an IPv%c address", value,
                                  types[k].t == ns_t_a ? '4' : '6');
        if (SPF_dns_zone_add_str(z, name, types[k].t, NETDB_SUCCESS, value) != SPF_E_SUCCESS)
            return h->param_error(e, "value", "libspf2 refused \"%s\"", value);
    }
    return CG_OK;
}

/* read_addrs - "outbound_addresses" */
static int read_addrs(const struct cg_host *h, cg_param *p, struct spf *s)
{
    const char *const *list = NULL;
    size_t n = 0;
    if (h->param_strlist(p, "outbound_addresses", 1, &list, &n))
        return CG_ERROR;
    if (n == 0 || n > MAX_ADDRS)
        return h->param_error(p, "outbound_addresses", "needs 1 to %d addresses", MAX_ADDRS);
    for (size_t i = 0; i < n; i++) {
        struct addr *a = &s->addrs[i];
        if (inet_pton(AF_INET, list[i], &a->v4) == 1)
            a->af = AF_INET;
        else if (inet_pton(AF_INET6, list[i], &a->v6) == 1)
            a->af = AF_INET6;
        else
            return h->param_error(p, "outbound_addresses",
                                  "\"%s\" is not an IPv4 or IPv6 address", list[i]);
        if ((a->af == AF_INET && (ntohl(a->v4.s_addr) >> 24) == 127) ||
            (a->af == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->v6)))
            return h->param_error(p, "outbound_addresses",
                                  "\"%s\" is a loopback address (SPF always passes it)", list[i]);
        inet_ntop(a->af, a->af == AF_INET ? (void *)&a->v4 : (void *)&a->v6, a->text,
                  sizeof a->text);
    }
    s->n_addrs = n;
    return CG_OK;
}

/* spf_init - validate params, build the SPF server */
static int spf_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"outbound_addresses", "accept", "helo", "cache_ttl",
                                       "zone", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct spf *s = calloc(1, sizeof *s);
    if (!s)
        return CG_ERROR;
    pthread_mutex_init(&s->lock, NULL);
    s->host = h;
    s->ttl = 300;
    *inst_r = s;
    static const char *const def_accept[] = {"pass", NULL};
    const char *const *acc = def_accept;
    if (read_addrs(h, p, s) || h->param_strlist(p, "accept", 0, &acc, NULL) ||
        h->param_string(p, "helo", 0, &s->helo) || h->param_duration(p, "cache_ttl", 0, &s->ttl))
        return CG_ERROR;
    for (size_t i = 0; acc[i]; i++) {
        size_t r = 0;
        while (r < N_RESULTS && strcmp(result_names[r], acc[i]) != 0)
            r++;
        if (r != SPF_RESULT_PASS && r != SPF_RESULT_NEUTRAL && r != SPF_RESULT_SOFTFAIL &&
            r != SPF_RESULT_NONE)
            return h->param_error(p, "accept", "\"%s\" is not one of pass, neutral, softfail, none",
                                  acc[i]);
        s->accept |= 1u << r;
    }
    if (s->helo && !*s->helo)
        return h->param_error(p, "helo", "must not be empty");
    if (s->ttl < 0)
        return h->param_error(p, "cache_ttl", "must not be negative");
    cg_param *zone = h->param_get(p, "zone");
    if (zone) {
        if (!(s->zone = SPF_dns_zone_new(NULL, "contactgate", 0)) ||
            !(s->srv = SPF_server_new_dns(s->zone, 0)))
            return h->param_error(p, "zone", "libspf2 could not create the zone");
        if (add_zone(h, zone, s->zone))
            return CG_ERROR;
    } else if (!(s->srv = SPF_server_new(SPF_DNS_RESOLV, 0))) {
        return h->param_error(p, NULL, "libspf2 could not create a resolver");
    }
    return CG_OK;
}

/* check - one SPF check of `domain` for one address: CG_OK, CG_VIOLATION
 * or CG_ERROR; fills reason/detail unless CG_OK */
static int check(const struct spf *s, const char *domain, const struct addr *a, char *reason,
                 size_t rlen, char *detail, size_t dlen)
{
    SPF_request_t *req = SPF_request_new(s->srv);
    if (!req)
        return CG_ERROR;
    SPF_response_t *resp = NULL;
    int rc = CG_ERROR;
    if ((a->af == AF_INET ? SPF_request_set_ipv4(req, a->v4) : SPF_request_set_ipv6(req, a->v6)) ||
        (s->helo && SPF_request_set_helo_dom(req, s->helo)) ||
        SPF_request_set_env_from(req, domain))
        goto out;
    SPF_errcode_t e = SPF_request_query_mailfrom(req, &resp);
    SPF_result_t r = resp ? SPF_response_result(resp) : SPF_RESULT_INVALID;
    if (r == SPF_RESULT_TEMPERROR || e == SPF_E_DNS_ERROR || e == SPF_E_NO_MEMORY) {
        s->host->log(CG_LOG_WARNING, "spf: %s for %s: temporary error (%s)", domain, a->text,
                     SPF_strerror(e));
        goto out;
    }
    if (r == SPF_RESULT_INVALID || (unsigned)r >= N_RESULTS)
        r = SPF_RESULT_PERMERROR; /* libspf2: a record that does not compile */
    if (s->accept & (1u << r)) {
        rc = CG_OK;
        goto out;
    }
    snprintf(reason, rlen, "sender domain %.100s does not authorise outbound address %s (SPF %s)",
             domain, a->text, result_names[r]);
    snprintf(detail, dlen, "spf=%s domain=%.100s ip=%s%s%.40s", result_names[r], domain, a->text,
             e ? " error=" : "", e ? SPF_strerror(e) : "");
    rc = CG_VIOLATION;
out:
    if (resp)
        SPF_response_free(resp);
    SPF_request_free(req);
    return rc;
}

/* slot_of - the cache slot of a (lower-case) domain */
static struct slot *slot_of(struct spf *s, const char *domain)
{
    uint32_t hsh = 2166136261u;
    for (const char *c = domain; *c; c++)
        hsh = (hsh ^ (unsigned char)*c) * 16777619u;
    return &s->cache[hsh % CACHE_SLOTS];
}

/* spf_evaluate - every outbound address must be authorised */
static int spf_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    struct spf *s = inst;
    if (!v->sender || !v->sender[0])
        return CG_OK; /* the null sender: bounces, no domain to check */
    const char *at = strrchr(v->sender, '@');
    char domain[256];
    size_t len = at ? strlen(at + 1) : 0;
    if (len && at[len] == '.')
        len--; /* a trailing dot */
    if (len == 0 || len > 253) {
        snprintf(out->reason, sizeof out->reason, "sender address has no valid domain");
        return CG_VIOLATION;
    }
    for (size_t i = 0; i < len; i++)
        domain[i] = (char)tolower((unsigned char)at[1 + i]);
    domain[len] = 0;
    struct slot *sl = slot_of(s, domain);
    pthread_mutex_lock(&s->lock);
    if (s->ttl > 0 && sl->expires > v->now && strcmp(sl->domain, domain) == 0) {
        int rc = sl->rc;
        snprintf(out->reason, sizeof out->reason, "%s", sl->reason);
        snprintf(out->detail, sizeof out->detail, "%s", sl->detail);
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    pthread_mutex_unlock(&s->lock);
    int rc = CG_OK; /* the checks run unlocked: DNS may be slow */
    for (size_t i = 0; i < s->n_addrs && rc == CG_OK; i++)
        rc = check(s, domain, &s->addrs[i], out->reason, sizeof out->reason, out->detail,
                   sizeof out->detail);
    if (rc == CG_ERROR || s->ttl <= 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    snprintf(sl->domain, sizeof sl->domain, "%s", domain);
    sl->expires = v->now + s->ttl;
    sl->rc = rc;
    snprintf(sl->reason, sizeof sl->reason, "%s", rc == CG_OK ? "" : out->reason);
    snprintf(sl->detail, sizeof sl->detail, "%s", rc == CG_OK ? "" : out->detail);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* spf_destroy - free the instance (also after a failed init) */
static void spf_destroy(void *inst)
{
    struct spf *s = inst;
    if (!s)
        return;
    /* SPF_server_free frees a layer given to SPF_server_new_dns only when
     * destroy_resolver is set (not in 1.2.10) */
    int owned = s->srv && s->srv->destroy_resolver;
    if (s->srv)
        SPF_server_free(s->srv);
    if (s->zone && !owned)
        SPF_dns_free(s->zone);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "spf",
    .version = "1.0",
    .init = spf_init,
    .evaluate = spf_evaluate,
    .destroy = spf_destroy,
    .flags = CG_PLUGIN_NO_HISTORY,
};
