/*
 * contactgate/plugin.h - the public, versioned ABI for contactgate policy plugins.
 *
 * This is the only header a policy plugin includes. It has no dependency on
 * libmilter, SQLite, libpq, ICU or any JSON library: the host (the
 * contactgate daemon, contactgatectl and the unit tests, which all run the
 * same engine) hands a plugin everything through the tables below.
 *
 * A plugin is a shared object NAME.so that exports exactly one symbol,
 * `cg_plugin_descriptor`, of type `const struct cg_plugin`. Everything else
 * in the plugin is static (build with -fvisibility=hidden). The loader
 * opens the file once, refuses it unless the file and every directory
 * above it are owned by root or the daemon's user and writable by nobody
 * else, dlopen()s the very file it checked (RTLD_NOW|RTLD_LOCAL), checks
 * abi_version and struct_size, and calls init() once per policy that uses
 * the plugin, with that policy's "params" object.
 *
 * Compatibility (SQLite's sqlite3_api_routines, Redis's redismodule.h):
 *  - This layout (ABI 2) is the baseline. CG_PLUGIN_ABI_VERSION changes
 *    only when an existing member changes meaning or position; new members
 *    are only ever added at the end of a struct.
 *  - Every struct passed across starts with its struct_size. A plugin
 *    built against an older header sees a smaller struct_size from a newer
 *    host and must not read members past it; the host does the same for a
 *    plugin's descriptor. CG_HAS_MEMBER(ptr, type, member) tells.
 *
 * Where the functions run and what they may do:
 *  - init() and destroy() run at configuration load and reload, in one
 *    thread, never while mail waits on them. destroy() is called for
 *    every instance init() handed out, and also after an init() that
 *    failed (with whatever it put in *instance_r, possibly NULL).
 *  - evaluate() runs on many threads at once with the same instance: the
 *    instance is read-only after init(); keep per-call state on the stack.
 *    Those threads (the MTA connections') have stacks of 512 KiB, not
 *    glibc's 8 MiB: allocate anything of more than a few KiB.
 *  - evaluate() of a plugin that reads the history (the default) runs
 *    inside the store's write transaction, in whichever session thread
 *    leads the batch of decisions: every other message of the host waits
 *    while it runs. It must not block: no network, no files, no sleeping,
 *    no locks held long. Compute from the view and the host queries only.
 *  - A plugin that needs the network or files (DNS for SPF, say) declares
 *    CG_PLUGIN_NO_HISTORY and must then not call the history queries
 *    (contacts, states, opted_out, department_counts: they fail). Its
 *    evaluate() runs in the session's own thread before the decision is
 *    queued, where it may block that one message (keep it bounded: a
 *    timeout of its own), never the others.
 *
 * Lifetimes of what the host hands out:
 *  - The view, its strings and the verdict are valid during evaluate()
 *    only. Strings given to a callback (a contact, a state, a bucket) are
 *    valid during that call only: copy what you keep.
 *  - A cg_param node and the strings param_* return stay valid until the
 *    instance's destroy() returns.
 *  - header() returns a string valid during the current evaluate().
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

#define CG_PLUGIN_ABI_VERSION 2

/* The symbol every plugin exports. */
#define CG_PLUGIN_SYMBOL "cg_plugin_descriptor"

/* CG_HAS_MEMBER - does the struct at ptr (with its struct_size) carry
 * `member`? Use it before reading a member added after the baseline. */
#define CG_HAS_MEMBER(ptr, type, member)                                                   \
    ((ptr)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))

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
 *
 * For a CG_PLUGIN_NO_HISTORY plugin the customer map has not been
 * consulted: `customer` is the normalised address and `timezone` the
 * configured default zone.
 */
struct cg_message_view {
    size_t struct_size;
    int stage;                 /* CG_STAGE_* */
    int64_t now;               /* decision time; injected in tests */
    const char *department;    /* never NULL; "unknown" if no match */
    const char *sender;        /* normalised envelope sender, "" for the null sender */
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
    /* Hex digest of the normalised subject and body: what "the same content"
     * means. It is recorded with every contact (struct cg_contact.digest).
     * NULL at CG_STAGE_RCPT, and when no plugin wants the body. */
    const char *content_digest;
    cg_query_ctx *ctx;         /* pass back to the host queries */
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

/* A department's contacts of one category in one counter bucket, as given
 * to a department_counts() callback. */
struct cg_count {
    size_t struct_size;
    int64_t start, end;       /* the bucket: start <= ts < end */
    const char *category;
    int64_t n;                /* contacts in it */
};

/* The local calendar time of an instant in a time zone. */
struct cg_local_time {
    size_t struct_size;
    int year, month, day;     /* month 1-12, day 1-31 */
    int weekday;              /* 0 = Monday ... 6 = Sunday (ISO 8601) */
    int hour, minute, second;
    int32_t utc_offset_secs;  /* local - UTC at that instant */
};

/* A callback returns 0 to continue iteration, non-zero to stop early. */
typedef int (*cg_contact_cb)(const struct cg_contact *c, void *arg);
typedef int (*cg_state_cb)(const struct cg_state *s, void *arg);
typedef int (*cg_count_cb)(const struct cg_count *c, void *arg);

/*
 * What evaluate() reports. The host zeroes it and sets struct_size before
 * the call. On CG_VIOLATION the plugin fills `reason` (short; it goes to
 * the decision log and the syslog line, which compliance reads: no
 * customer state or personal data in it; the SMTP reply to the sending
 * department names only the policy, when to retry and a reference) and,
 * for a violation that goes away with time, `retry_after` (absolute Unix
 * time at which the message would pass; 0 if unknown or never).
 */
struct cg_verdict {
    size_t struct_size;
    char reason[200];
    int64_t retry_after;
    /* Optional: facts for the decision log only (compliance review), e.g.
     * "state=complaint until=2026-12-01". May name customer data; never
     * shown to the sender, never in headers, not in syslog. */
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

    /* Logging. The host prefixes the line with the plugin's and policy's
     * names and, during evaluate(), the message's queue ID. */
    void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
    /* "90s", "30m", "48h", "7d", "2w" or a number of seconds, at most ten
     * years (a longer one is an error naming the key). */
    int (*param_duration)(cg_param *p, const char *key, int required, int64_t *r);
    /* A string or an array of strings; *r is NULL-terminated, *n its length
     * (n may be NULL). */
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
    int (*categories_within)(const struct cg_message_view *v, const char *const *patterns);
    /* Could the message's category be one of the patterns? At EOM: does
     * the one category match. At RCPT: does any candidate overlap them
     * (the counterpart of categories_within, for a rule that must not
     * refuse before it is sure: a reserve the message may be entitled to). */
    int (*categories_overlap)(const struct cg_message_view *v, const char *const *patterns);

    /* --- the customer's history (never SQL; never other customers' rows) - */
    /* Contacts of the view's customer with since <= ts < until, newest
     * first. Returns CG_OK or CG_ERROR. */
    int (*contacts)(const struct cg_message_view *v, int64_t since, int64_t until,
                    cg_contact_cb cb, void *arg);
    /* Open states of the view's customer at v->now. */
    int (*states)(const struct cg_message_view *v, cg_state_cb cb, void *arg);
    /* Is the customer opted out of `category` (per-category opt-outs match
     * by pattern) or on the global suppression list? *r = 1 if so. */
    int (*opted_out)(const struct cg_message_view *v, const char *category, int *r);

    /* --- aggregates ------------------------------------------------------ */
    /* A department's volume over since <= ts < until, from counters kept
     * with every recorded contact (never a scan of its contacts): buckets
     * of a minute, an hour or a day, oldest first, one callback per bucket
     * and category. The window's edges are rounded outwards to the minute:
     * the first bucket may start before `since`, so a sum is never too low,
     * and `end + window` of the bucket that frees a slot is never early. */
    int (*department_counts)(const struct cg_message_view *v, const char *department,
                             int64_t since, int64_t until, cg_count_cb cb, void *arg);

    /* --- the message ------------------------------------------------------ */
    /* The first value of header `name` (case-insensitive), unfolded, or
     * NULL when absent. Always NULL at CG_STAGE_RCPT. The control headers
     * (X-Contact-Category, X-Department) are visible too. */
    const char *(*header)(const struct cg_message_view *v, const char *name);

    /* --- time ------------------------------------------------------------ */
    /* The calendar period (CG_PERIOD_*) containing t in time zone `zone`
     * (NULL: the view's zone, i.e. the customer's): *start is its first
     * instant (local midnight; on a day whose midnight falls in a DST gap,
     * the first valid instant after it), *next the start of the following
     * period. Weeks start on Monday (ISO 8601). An unknown zone is logged
     * and UTC used. CG_OK or CG_ERROR. */
    int (*calendar_period)(const struct cg_message_view *v, const char *zone, int unit,
                           int64_t t, int64_t *start, int64_t *next);
    /* Is `zone` a time zone id the host knows ("Europe/Berlin")? (init) */
    int (*timezone_valid)(const char *zone);
    /* The local time of instant t in `zone` (NULL: the view's zone). An
     * unknown zone is logged and UTC used. CG_OK or CG_ERROR. */
    int (*local_time)(const struct cg_message_view *v, const char *zone, int64_t t,
                      struct cg_local_time *out);
    /* The instant of local date year-month-day at minute_of_day (0-1440)
     * in `zone` (NULL: the view's zone). `day` may run past the end of the
     * month (day 33 of a 31-day month is the 2nd of the next). A local time
     * inside a spring-forward gap is the first valid instant after the gap;
     * a repeated autumn time is its first occurrence. CG_OK or CG_ERROR. */
    int (*local_instant)(const struct cg_message_view *v, const char *zone, int year, int month,
                         int day, int minute_of_day, int64_t *t_r);
    /* "90 seconds", "48 hours" -> "2 days", "7 days": a duration for
     * reasons; returns buf. */
    const char *(*duration_text)(int64_t secs, char *buf, size_t len);
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
    uint32_t flags;           /* CG_PLUGIN_* below */

    /* Validate params fully and build an instance. Return CG_OK and set
     * *instance_r, or CG_ERROR (after host->param_error or with a message
     * in err). Called at config load and at every reload; destroy()
     * follows even when it fails. */
    int (*init)(const struct cg_host *host, cg_param *params, void **instance_r,
                char *err, size_t errlen);

    /* Decide one message for one customer: CG_OK, CG_VIOLATION or CG_ERROR. */
    int (*evaluate)(void *instance, const struct cg_message_view *v,
                    struct cg_verdict *verdict);

    /* Release the instance; instance may be NULL. */
    void (*destroy)(void *instance);
};

/* cg_plugin.flags: the plugin reads the message body (through
 * body_digest / content_digest). The MTA then sends contactgate the body,
 * which costs milter traffic; leave it unset unless needed. */
#define CG_PLUGIN_WANTS_BODY 0x1u
/* cg_plugin.flags: a legal suppression (opt-outs, customer states). Its
 * policies are evaluated before all others, and when one cannot decide
 * the message is tempfailed even with on_error "accept": fail closed. */
#define CG_PLUGIN_FAIL_CLOSED 0x2u
/* cg_plugin.flags: evaluate() reads nothing of the history and may block
 * (network, files): it runs in the session's own thread before the
 * decision is queued, never under the store's write lock (see the top of
 * this file). The history queries fail for it. */
#define CG_PLUGIN_NO_HISTORY 0x4u

#ifdef __cplusplus
}
#endif
#endif /* CONTACTGATE_PLUGIN_H */
