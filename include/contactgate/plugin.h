/*
 * contactgate/plugin.h - the public, versioned ABI for contactgate policy plugins.
 *
 * This is the only header a policy plugin includes. It has no dependency on
 * libmilter, SQLite or any JSON library: the host (the contactgate daemon,
 * contactgatectl and the unit tests, which all run the same engine) hands a
 * plugin everything through the tables below.
 *
 * A plugin is a shared object NAME.so that exports exactly one symbol,
 * `cg_plugin_descriptor`, of type `const struct cg_plugin`. Everything else
 * in the plugin should be static. The loader refuses a file that is not
 * owned by root or by the daemon's user, or that is group- or
 * world-writable, then dlopen()s it with RTLD_NOW|RTLD_LOCAL, checks
 * abi_version and struct_size, and calls init() once per policy that uses
 * the plugin, with that policy's "params" object.
 *
 * Compatibility rules (same as SQLite's sqlite3_api_routines):
 *  - CG_PLUGIN_ABI_VERSION changes only when an existing member changes
 *    meaning or position. Tables only ever grow at the end.
 *  - Every table starts with its struct_size. A plugin compiled against an
 *    older header sees a smaller struct_size from a newer host and must not
 *    read members past it; the host does the same for plugins.
 *
 * Threading: evaluate() may be called from several threads at once with the
 * same instance. Instance state must be read-only after init() returns.
 *
 * Time is always Unix seconds (int64_t). Durations are seconds, named _secs.
 */
#ifndef CONTACTGATE_PLUGIN_H
#define CONTACTGATE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CG_PLUGIN_ABI_VERSION 1

/* The symbol every plugin exports. */
#define CG_PLUGIN_SYMBOL "cg_plugin_descriptor"

/* Log levels for cg_host.log (syslog severities). */
#define CG_LOG_ERR 3
#define CG_LOG_WARNING 4
#define CG_LOG_INFO 6
#define CG_LOG_DEBUG 7

/* Return codes of evaluate() and of host queries. */
#define CG_OK 0         /* query succeeded / policy passes */
#define CG_VIOLATION 1  /* evaluate(): the policy is violated */
#define CG_ERROR (-1)   /* could not decide: the host applies on_error */

/* When evaluate() is called. */
#define CG_STAGE_RCPT 1 /* envelope only: category not known yet */
#define CG_STAGE_EOM 2  /* end of message: headers and category known */
#define CG_STAGE_CHECK 3 /* reserved */

/* Opaque handles. */
typedef struct cg_param cg_param;       /* one node of a policy's params */
typedef struct cg_query_ctx cg_query_ctx; /* host side of one evaluation */

/*
 * The read-only view of one message for one customer.
 *
 * At CG_STAGE_RCPT the category is not known: `category` is NULL and
 * `categories` lists every category (or category pattern, e.g.
 * "promotional.*") the message could still end up with. A policy must then
 * report a violation only if it holds for every one of them (use
 * cg_host.categories_within). At CG_STAGE_EOM, `categories` holds exactly
 * the one final category.
 */
struct cg_message_view {
    size_t struct_size;
    int stage;                 /* CG_STAGE_* */
    int64_t now;               /* decision time; injected in tests */
    const char *department;    /* never NULL; "unknown" if no match */
    const char *sender;        /* envelope sender, "" for the null sender */
    const char *customer;      /* customer id (CRM map) or normalised address */
    const char *address;       /* normalised recipient address */
    const char *timezone;      /* customer's IANA zone, else the default */
    const char *category;      /* final category, NULL at CG_STAGE_RCPT */
    const char *const *categories; /* candidate categories (see above) */
    size_t n_categories;
    const char *message_id;    /* Message-ID header value or NULL */
    const char *subject;       /* Subject header value or NULL */
    const char *body_digest;   /* hex digest of the normalised body, or NULL
                                  (only for plugins with CG_PLUGIN_WANTS_BODY) */
    cg_query_ctx *ctx;         /* pass back to the host queries */
    /* --- added in ABI 1 (check struct_size) --- */
    /* Hex digest of the normalised subject and body: what "the same content"
     * means. It is recorded with every contact (struct cg_contact.digest).
     * NULL at CG_STAGE_RCPT, and when no plugin wants the body. */
    const char *content_digest;
};

/* One contact from the history, as given to a contacts() callback. */
struct cg_contact {
    size_t struct_size;
    int64_t ts;
    const char *department;
    const char *category;
    const char *channel;      /* "email", "sms", "call", "letter", ... */
    double weight;            /* as recorded; plugins may apply their own */
    const char *digest;       /* content digest of a message, or NULL */
};

/* One open customer state, as given to a states() callback. */
struct cg_state {
    size_t struct_size;
    const char *name;         /* "complaint", "debt_collection", ... */
    int64_t since;
    int64_t until;            /* 0: open-ended */
};

/* A callback returns 0 to continue iteration, non-zero to stop early. */
typedef int (*cg_contact_cb)(const struct cg_contact *c, void *arg);
typedef int (*cg_state_cb)(const struct cg_state *s, void *arg);

/*
 * What evaluate() reports. The host zeroes it and sets struct_size before
 * the call. On CG_VIOLATION the plugin fills `reason` (short, no customer
 * data: it is shown to the sending department in the SMTP reply) and, for a
 * violation that goes away with time, `retry_after` (absolute Unix time at
 * which the message would pass; 0 if unknown or never).
 */
struct cg_verdict {
    size_t struct_size;
    char reason[200];
    int64_t retry_after;
    /* Optional: facts for the decision log only (compliance review), e.g.
     * "state=complaint until=2026-12-01". May name customer data; never
     * shown to the sender, never in headers, not in syslog at info. */
    char detail[200];
    /* Optional: a milder action than the policy's configured one for this
     * verdict (e.g. a per-state action). 0 keeps the policy's action; a
     * value above the configured action is ignored (the configured action
     * is the ceiling). */
    int action;
};

/* Values for cg_verdict.action (same order of severity as the verdicts). */
#define CG_ACTION_POLICY 0
#define CG_ACTION_TAG 1
#define CG_ACTION_HOLD 2
#define CG_ACTION_DEFER 3
#define CG_ACTION_REJECT 4

/*
 * The host table. All functions are thread-safe. Errors from the param_*
 * functions are recorded with the full key path (e.g.
 * `policies[2].params.window: "7x" is not a duration`) and make init() fail
 * when it returns non-zero; a plugin may just return CG_ERROR then.
 */
struct cg_host {
    size_t struct_size;
    uint32_t abi_version;

    /* Logging, bound to the current message where there is one. */
    void (*log)(int level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* --- params (init only) ------------------------------------------- */
    /* Fail unless every key of object `p` is in the NULL-terminated list. */
    int (*param_keys)(cg_param *p, const char *const *allowed);
    /* The child `key` of object `p`, or NULL when absent. */
    cg_param *(*param_get)(cg_param *p, const char *key);
    /* Array access: length (-1 with an error if not an array) and item. */
    long (*param_len)(cg_param *p);
    cg_param *(*param_item)(cg_param *p, long i);
    /* Typed getters of child `key` (key NULL: `p` itself). An absent key
     * with required == 0 leaves *r untouched and returns 0. */
    int (*param_string)(cg_param *p, const char *key, int required, const char **r);
    int (*param_number)(cg_param *p, const char *key, int required, double *r);
    int (*param_int)(cg_param *p, const char *key, int required, long long *r);
    int (*param_bool)(cg_param *p, const char *key, int required, int *r);
    /* "90s", "30m", "48h", "7d", "2w" or a number of seconds. */
    int (*param_duration)(cg_param *p, const char *key, int required, int64_t *r);
    /* A string or an array of strings; *r is NULL-terminated, *n its length.
     * Owned by the host, valid until destroy(). */
    int (*param_strlist)(cg_param *p, const char *key, int required,
                         const char *const **r, size_t *n);
    /* Record a plugin-specific error about `p` (key NULL) or its child. */
    int (*param_error)(cg_param *p, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* --- categories ----------------------------------------------------- */
    /* Category patterns are "*", "a.b" (exact) or "a.b.*" (a.b and below).
     * match: does `category` match one of the NULL-terminated patterns? */
    int (*category_match)(const char *category, const char *const *patterns);
    /* Is every candidate category of the view matched by the patterns?
     * At EOM: does the one category match. At RCPT: is the whole candidate
     * set inside the patterns. An empty pattern list matches nothing. */
    int (*categories_within)(const struct cg_message_view *v,
                             const char *const *patterns);

    /* --- history queries (through the host store; never SQL) ---------- */
    /* Contacts of the view's customer with since <= ts < until, newest
     * first. Returns CG_OK or CG_ERROR. */
    int (*contacts)(const struct cg_message_view *v, int64_t since, int64_t until,
                    cg_contact_cb cb, void *arg);
    /* Open states of the view's customer at v->now. */
    int (*states)(const struct cg_message_view *v, cg_state_cb cb, void *arg);
    /* Is the customer opted out of `category` (per-category opt-outs match
     * by pattern) or on the global suppression list? *r = 1 if so. */
    int (*opted_out)(const struct cg_message_view *v, const char *category, int *r);

    /* --- message headers (added in ABI 1; check struct_size) ----------- */
    /* The first value of header `name` (case-insensitive), unfolded, or
     * NULL when absent. Always NULL at CG_STAGE_RCPT. The control headers
     * (X-Contact-Category, X-Department) are visible too. */
    const char *(*header)(const struct cg_message_view *v, const char *name);

    /* Contacts from `department` (every customer) with since <= ts < until,
     * newest first: department volumes and budgets. */
    int (*department_contacts)(const struct cg_message_view *v, const char *department,
                               int64_t since, int64_t until, cg_contact_cb cb, void *arg);

    /* --- calendar (added in ABI 1; check struct_size) ------------------ */
    /* The calendar period (CG_PERIOD_*) containing t in time zone `zone`
     * (NULL: the view's zone, i.e. the customer's): *start is its first
     * instant (local midnight; on a day whose midnight falls in a DST gap,
     * the first valid instant after it), *next the start of the following
     * period. Weeks start on Monday (ISO 8601). CG_OK or CG_ERROR. */
    int (*calendar_period)(const struct cg_message_view *v, const char *zone, int unit,
                           int64_t t, int64_t *start, int64_t *next);
    /* Is `zone` a time zone id the host knows ("Europe/Berlin")? (init) */
    int (*timezone_valid)(const char *zone);
    /* "90 seconds", "48 hours" -> "2 days", "7 days": a duration for reasons; returns buf. */
    const char *(*duration_text)(int64_t secs, char *buf, size_t len);
    /* Could the message's category be one of the patterns? At EOM: does
     * the one category match. At RCPT: does any candidate overlap them
     * (the counterpart of categories_within, for a rule that must not
     * refuse before it is sure: a reserve the message may be entitled to). */
    int (*categories_overlap)(const struct cg_message_view *v, const char *const *patterns);
};

/* Units of cg_host.calendar_period. */
#define CG_PERIOD_DAY 1
#define CG_PERIOD_WEEK 2
#define CG_PERIOD_MONTH 3

/* The plugin descriptor: the one exported symbol. */
struct cg_plugin {
    uint32_t abi_version;     /* CG_PLUGIN_ABI_VERSION */
    size_t struct_size;       /* sizeof(struct cg_plugin) */
    const char *name;
    const char *version;

    /* Validate params fully and build an instance. Return CG_OK and set
     * *instance_r, or CG_ERROR (after host->param_error or with a message
     * in err). Called at config load and at every reload. */
    int (*init)(const struct cg_host *host, cg_param *params, void **instance_r,
                char *err, size_t errlen);

    /* Decide one message for one customer: CG_OK, CG_VIOLATION or CG_ERROR. */
    int (*evaluate)(void *instance, const struct cg_message_view *v,
                    struct cg_verdict *verdict);

    /* Release the instance; called with NULL-safe semantics. */
    void (*destroy)(void *instance);

    /* --- added in ABI 1 (the host checks struct_size) --- */
    uint32_t flags;           /* CG_PLUGIN_* below */
};

/* cg_plugin.flags: the plugin reads the message body (through
 * body_digest / content_digest). The MTA then sends contactgate the body,
 * which costs milter traffic; leave it unset unless needed. */
#define CG_PLUGIN_WANTS_BODY 0x1u
/* cg_plugin.flags: a legal suppression (opt-outs, customer states). Its
 * policies are evaluated before all others, and when one cannot decide
 * the message is tempfailed even with on_error "accept": fail closed. */
#define CG_PLUGIN_FAIL_CLOSED 0x2u

#ifdef __cplusplus
}
#endif
#endif /* CONTACTGATE_PLUGIN_H */
