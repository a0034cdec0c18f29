/*
 * ctl_check.c - contactgatectl check: a dry run of the real engine for one
 * message (sender, recipients, headers or an .eml file, a time), showing
 * how each policy decided for each customer and why, without writing
 * anything. Also `config check` (as contactgate -n); `config reload` is ctl_reload.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_addr.h"
#include "cg_engine.h"
#include "cg_ident.h"
#include "cg_keytab.h"
#include "cg_util.h"
#include "ctl.h"

/* What the command line asks for. */
struct check_args {
    const char *from, *eml, *client, *auth, *time_s;
    struct ctl_multi to, headers;     /* --to, --header: repeatable */
    int64_t now;                      /* --time, else now */
};

/* One policy's outcome for one customer (a trace event, kept). */
struct check_event {
    const struct cg_policy *policy;
    const char *stage;                /* "rcpt" or "eom" (static strings) */
    char *customer, *reason, *detail;
    int outcome, action, monitor;
    int64_t retry_after;
    long rcpt;                        /* the recipient at RCPT; -1: end of message */
};

/* One recipient and what the envelope alone gave it. */
struct check_rcpt {
    char *addr;                       /* as given */
    struct cg_decision d;
    int settled;                      /* deferred or rejected at RCPT */
};

/* What the engine decided, for rendering. */
struct check_result {
    struct cg_msg *m;
    struct check_rcpt *rcpts;
    size_t n_rcpts;
    struct check_event *events;
    size_t n_events;
    long cur_rcpt;                    /* the recipient being decided, -1 at EOM */
    int has_eom;                      /* some recipient was left for EOM */
    struct cg_decision eom;
};

/* outcome_name - a trace outcome for people */
static const char *outcome_name(int o)
{
    switch (o) {
    case CG_TRACE_NOT_DEPT:
        return "not for this department";
    case CG_TRACE_NOT_CATEGORY:
        return "not for this category";
    case CG_TRACE_PASS:
        return "pass";
    case CG_TRACE_VIOLATION:
        return "VIOLATION";
    case CG_TRACE_ERROR:
        return "could not decide";
    case CG_TRACE_NOT_NEEDED:
        return "not needed (a verdict as strict is already settled)";
    default:
        return "decided at end of message";
    }
}

/* --- arguments --------------------------------------------------------------- */

/* check_args_parse - the options, the time, the --header forms */
static int check_args_parse(struct ctl *c, int argc, char **argv, struct check_args *a)
{
    const char *cmd = "check";
    const struct ctl_opt opts[] = {
        {"--from", &a->from, NULL},     {"--eml", &a->eml, NULL},
        {"--client", &a->client, NULL}, {"--auth", &a->auth, NULL},
        {"--time", &a->time_s, NULL},   {NULL, NULL, NULL},
    };
    struct ctl_multi multi[] = {{.name = "--to"}, {.name = "--header"}, {NULL, NULL, 0}};
    if (ctl_args_multi(cmd, argc, argv, opts, multi, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    a->to = multi[0];
    a->headers = multi[1];
    a->now = c->now;
    int rc = CTL_OK;
    if (a->time_s)
        rc = ctl_time_arg(c, cmd, "--time", a->time_s, &a->now);
    for (size_t i = 0; i < a->headers.n && rc == CTL_OK; i++)
        if (!strchr(a->headers.v[i], ':') || a->headers.v[i][0] == ':')
            rc = ctl_err(CTL_USAGE, cmd, "--header \"%s\" is not \"Name: value\"",
                         a->headers.v[i]);
    if (rc != CTL_OK) {
        ctl_multi_free(&a->to);
        ctl_multi_free(&a->headers);
    }
    return rc;
}

/* --- the message ------------------------------------------------------------- */

/* header_add - "Name: value" */
static int header_add(struct cg_msg *m, const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return -1;
    char *name = cg_xstrndup(h, (size_t)(colon - h));
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    cg_msg_add_header(m, name, v);
    free(name);
    return 0;
}

/* eml_read - headers (unfolded) and body of a message file; returns 0 or
 * -1 with *line_r set to the bad line */
static int eml_read(struct cg_msg *m, FILE *fp, int want_body, int *line_r)
{
    char *line = NULL, *cur = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, in_body = 0;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (in_body) {
            if (want_body)
                cg_msg_add_body(m, (const unsigned char *)line, (size_t)n);
            continue;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0) {
            in_body = 1;
        } else if ((line[0] == ' ' || line[0] == '\t') && cur) {
            char *joined = cg_xasprintf("%s %s", cur, line + strspn(line, " \t"));
            free(cur);
            cur = joined;
            continue;
        } else if (!strchr(line, ':')) {
            free(cur);
            free(line);
            *line_r = lineno;
            return -1;
        }
        if (cur && header_add(m, cur) < 0) {
            free(cur);
            free(line);
            *line_r = lineno - 1;
            return -1;
        }
        free(cur);
        cur = in_body ? NULL : cg_xstrdup(line);
    }
    if (cur)
        header_add(m, cur);
    free(cur);
    free(line);
    return 0;
}

/* addr_of - the address in "Name <a@b>" or "a@b" (malloc'ed) */
static char *addr_of(const char *s)
{
    const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        return cg_xstrndup(lt + 1, (size_t)(gt - lt - 1));
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        n--;
    return cg_xstrndup(s, n);
}

/* add_rcpt - one more recipient to decide */
static void add_rcpt(struct check_result *res, char *addr)
{
    res->rcpts = cg_xrealloc(res->rcpts, (res->n_rcpts + 1) * sizeof *res->rcpts);
    memset(&res->rcpts[res->n_rcpts], 0, sizeof *res->rcpts);
    res->rcpts[res->n_rcpts++].addr = addr;
}

/* check_message - the message (initialised by the caller): an .eml file's
 * headers and body, the --header lines, the sender (--from, else
 * Return-Path or From) and the recipients (--to, else To and Cc) */
static int check_message(const struct check_args *a, const struct cg_config *cfg,
                         struct cg_msg *m, struct check_result *res)
{
    const char *cmd = "check";
    m->now = a->now;
    m->dry = 1;
    cg_msg_set(&m->queue_id, "CHECK");
    if (a->client)
        cg_msg_set(&m->client_addr, a->client);
    if (a->auth)
        cg_msg_set(&m->auth_user, a->auth);
    if (a->eml) {
        FILE *fp = fopen(a->eml, "r");
        int bad = 0;
        if (!fp)
            return ctl_err(CTL_USAGE, cmd, "--eml %s: %s", a->eml, strerror(errno));
        int rc = eml_read(m, fp, cfg->needs_body, &bad);
        fclose(fp);
        if (rc < 0)
            return ctl_err(CTL_USAGE, cmd, "%s:%d: not a header line (Name: value) before the "
                           "blank line that starts the body", a->eml, bad);
    }
    for (size_t i = 0; i < a->headers.n; i++)
        header_add(m, a->headers.v[i]);
    const char *rp = cg_msg_header(m, "Return-Path"), *from = cg_msg_header(m, "From");
    char *sender = a->from ? cg_xstrdup(a->from) : rp ? addr_of(rp) : from ? addr_of(from) : NULL;
    for (size_t i = 0; i < a->to.n; i++)
        add_rcpt(res, cg_xstrdup(a->to.v[i]));
    for (const char *hn = a->to.n ? NULL : "To"; hn; hn = strcmp(hn, "To") ? NULL : "Cc") {
        char *copy = cg_xstrdup(cg_msg_header(m, hn)), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
             tok = strtok_r(NULL, ",", &save))
            add_rcpt(res, addr_of(tok));
        free(copy);
    }
    int rc = CTL_OK;
    const char *why = NULL;
    if (!sender)
        rc = ctl_err(CTL_USAGE, cmd, "no sender: give --from (or an --eml with From:)");
    else if (res->n_rcpts == 0)
        rc = ctl_err(CTL_USAGE, cmd, "no recipient: give --to (or an --eml with To:)");
    else {
        char *norm = cg_addr_normalise(sender, CG_ADDR_NULL_OK, &why);
        if (!norm)
            rc = ctl_err(CTL_USAGE, cmd, "sender \"%s\": %s", sender, why);
        else /* as the milter reads MAIL FROM */
            m->sender = cg_ident_sender(m, sender, NULL);
        free(norm);
    }
    free(sender);
    return rc;
}

/* --- the decision --------------------------------------------------------------- */

/* on_trace - keep one policy's outcome for one customer */
static void on_trace(void *arg, const struct cg_trace_event *e)
{
    struct check_result *res = arg;
    res->events = cg_xrealloc(res->events, (res->n_events + 1) * sizeof *res->events);
    res->events[res->n_events++] = (struct check_event){
        .policy = e->policy,
        .stage = strcmp(e->stage, "eom") ? "rcpt" : "eom",
        .customer = cg_xstrdup(e->customer),
        .reason = cg_xstrdup(e->reason),
        .detail = cg_xstrdup(e->detail),
        .outcome = e->outcome,
        .action = e->action,
        .monitor = e->monitor,
        .retry_after = e->retry_after,
        .rcpt = res->cur_rcpt,
    };
}

/* check_decide - the engine, dry: each recipient at RCPT, then the
 * message at end of message if a recipient is left */
static int check_decide(const struct cg_config *cfg, cg_store *st, struct check_result *res)
{
    struct cg_msg *m = res->m;
    struct cg_trace tracer = {on_trace, res};
    m->trace = &tracer;
    cg_ident_department(cfg, m, 0, NULL);
    int rc = 0;
    for (size_t i = 0; i < res->n_rcpts && rc == 0; i++) {
        res->cur_rcpt = (long)i;
        struct cg_rcpt *r = cg_msg_add_rcpt(m, res->rcpts[i].addr);
        rc = cg_engine_rcpt(cfg, st, m, r, &res->rcpts[i].d);
        res->rcpts[i].settled = res->rcpts[i].d.verdict >= CG_ACT_DEFER;
        m->rcpts[i].refused = res->rcpts[i].settled;
        res->has_eom |= !res->rcpts[i].settled;
    }
    res->cur_rcpt = -1;
    if (rc == 0 && res->has_eom)
        rc = cg_engine_eom(cfg, st, m, 0, &res->eom);
    m->trace = NULL;
    return rc;
}

/* --- rendering ---------------------------------------------------------------- */

/* verdict_json - a decision as JSON */
static json_t *verdict_json(const struct cg_decision *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "verdict", json_string(cg_action_name(d->verdict)));
    if (d->policy)
        json_object_set_new(o, "policy", json_string(d->policy->name));
    if (d->smtp_code[0]) {
        char reply[600];
        snprintf(reply, sizeof reply, "%s %s %s", d->smtp_code, d->smtp_xcode, d->smtp_text);
        json_object_set_new(o, "reply", json_string(reply));
    }
    if (d->tag_value[0])
        json_object_set_new(o, "tag", json_string(d->tag_value));
    return o;
}

/* event_json - one policy's outcome as JSON */
static json_t *event_json(const struct check_event *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "stage", json_string(e->stage));
    json_object_set_new(o, "customer", json_string(e->customer ? e->customer : ""));
    json_object_set_new(o, "policy", json_string(e->policy->name));
    json_object_set_new(o, "plugin", json_string(e->policy->plugin_name));
    json_object_set_new(o, "outcome", json_string(outcome_name(e->outcome)));
    if (e->outcome == CG_TRACE_VIOLATION) {
        char when[32];
        json_object_set_new(o, "action", json_string(cg_action_name(e->action)));
        json_object_set_new(o, "monitor", json_boolean(e->monitor));
        json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
        if (e->detail)
            json_object_set_new(o, "detail", json_string(e->detail));
        if (e->retry_after)
            json_object_set_new(o, "retry_after",
                                json_string(cg_format_time(e->retry_after, when, sizeof when)));
    }
    return o;
}

/* check_render_json - one object: time, sender, department, category,
 * recipients, end_of_message, policies */
static void check_render_json(const struct check_result *res)
{
    const struct cg_msg *m = res->m;
    char when[32];
    json_t *o = json_object(), *rcpts = json_array(), *events = json_array();
    for (size_t i = 0; i < res->n_rcpts; i++) {
        json_t *r = verdict_json(&res->rcpts[i].d);
        json_object_set_new(r, "recipient", json_string(res->rcpts[i].addr));
        json_object_set_new(r, "customer", ctl_jstr(m->rcpts[i].customer));
        json_object_set_new(r, "exempt", json_boolean(m->rcpts[i].exempt));
        json_object_set_new(r, "settled_at_rcpt", json_boolean(res->rcpts[i].settled));
        json_array_append_new(rcpts, r);
    }
    for (size_t i = 0; i < res->n_events; i++)
        json_array_append_new(events, event_json(&res->events[i]));
    if (res->has_eom)
        json_object_set_new(o, "end_of_message", verdict_json(&res->eom));
    json_object_set_new(o, "time", json_string(cg_format_time(m->now, when, sizeof when)));
    json_object_set_new(o, "sender", json_string(m->sender));
    json_object_set_new(o, "department", json_string(m->department));
    json_object_set_new(o, "category", ctl_jstr(m->category));
    json_object_set_new(o, "recipients", rcpts);
    json_object_set_new(o, "policies", events);
    ctl_json_print(o);
}

/* verdict_text - one line */
static void verdict_text(const char *what, const struct cg_decision *d)
{
    printf("  %s: %s", what, cg_action_name(d->verdict));
    if (d->smtp_code[0])
        printf(" -> %s %s %s", d->smtp_code, d->smtp_xcode, d->smtp_text);
    else if (d->tag_value[0])
        printf(" -> 250, header X-Contact-Gate: %s", d->tag_value);
    else
        printf(" -> 250");
    putchar('\n');
}

/* events_text - the policy lines of one recipient (rcpt >= 0) or of the
 * end of message (-1, with a heading per customer) */
static void events_text(const struct check_result *res, long rcpt)
{
    const char *last = NULL;
    for (size_t i = 0; i < res->n_events; i++) {
        const struct check_event *e = &res->events[i];
        if (e->rcpt != rcpt)
            continue;
        const char *cust = e->customer ? e->customer : "-";
        if (rcpt < 0 && (!last || strcmp(last, cust)))
            printf("   customer %s:\n", cust);
        last = cust;
        char when[32] = "";
        if (e->retry_after)
            cg_format_time(e->retry_after, when, sizeof when);
        printf("    %-4s %-40s %s", e->stage, e->policy->name, outcome_name(e->outcome));
        if (e->outcome == CG_TRACE_VIOLATION)
            printf(": %s%s, %s%s%s", cg_action_name(e->action),
                   e->monitor ? " (monitor: tag only)" : "", e->reason ? e->reason : "",
                   when[0] ? "; retry after " : "", when);
        if (e->detail)
            printf(" [%s]", e->detail);
        putchar('\n');
    }
}

/* check_render_text - the dry run for people */
static void check_render_text(const struct check_result *res, const struct cg_config *cfg)
{
    const struct cg_msg *m = res->m;
    char when[32];
    printf("dry run at %s (nothing is recorded); config %s\n",
           cg_format_time(m->now, when, sizeof when), cfg->version);
    printf("  sender <%s>: department %s (by %s)\n", m->sender, m->department, m->dept_source);
    printf("  RCPT stage (envelope only):\n");
    for (size_t i = 0; i < res->n_rcpts; i++) {
        const struct cg_rcpt *r = &m->rcpts[i];
        printf("  RCPT TO:<%s>\n", res->rcpts[i].addr);
        events_text(res, (long)i);
        char what[300];
        snprintf(what, sizeof what, "customer %s%s: at RCPT", r->customer ? r->customer : "-",
                 r->exempt ? " (exempt: never limited, never counted)" : "");
        if (res->rcpts[i].settled)
            verdict_text(what, &res->rcpts[i].d);
        else
            printf("  %s not settled by the envelope: decided at end of message\n", what);
    }
    if (!res->has_eom) {
        printf("  every recipient was settled at RCPT; no end of message\n");
        return;
    }
    printf("  end of message (headers known):\n");
    events_text(res, -1);
    printf("  category %s (by %s)%s%s\n", m->category ? m->category : "-", m->category_source,
           m->category_claim ? ", refused claim " : "",
           m->category_claim ? m->category_claim : "");
    verdict_text("message verdict", &res->eom);
}

/* check_result_free - what the decision kept */
static void check_result_free(struct check_result *res)
{
    for (size_t i = 0; i < res->n_rcpts; i++)
        free(res->rcpts[i].addr);
    free(res->rcpts);
    for (size_t i = 0; i < res->n_events; i++) {
        free(res->events[i].customer);
        free(res->events[i].reason);
        free(res->events[i].detail);
    }
    free(res->events);
}

/* check_run - arguments, message, decision, rendering */
static int check_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "check";
    struct check_args a = {0};
    if (check_args_parse(c, argc, argv, &a) != CTL_OK)
        return CTL_USAGE;
    /* the same configuration the daemon runs: with every plugin */
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(c->config_path, 0, err, sizeof err);
    cg_store *st = NULL;
    int rc = CTL_OK;
    if (!cfg)
        rc = ctl_err(CTL_USAGE, cmd, "%s", err);
    else if (!(st = ctl_store(c)))
        rc = CTL_STORE;
    struct cg_msg m;
    cg_msg_init(&m);
    struct check_result res = {.m = &m};
    if (rc == CTL_OK && (rc = check_message(&a, cfg, &m, &res)) == CTL_OK) {
        if (check_decide(cfg, st, &res) < 0)
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        else if (c->json)
            check_render_json(&res);
        else
            check_render_text(&res, cfg);
    }
    cg_msg_clear(&m);
    check_result_free(&res);
    ctl_multi_free(&a.to);
    ctl_multi_free(&a.headers);
    cg_config_unref(&cfg);
    return rc;
}

const struct ctl_cmd ctl_cmd_check = {
    .name = "check",
    .synopsis = "dry run: how would the policies decide this message, and why",
    .help =
        "SYNOPSIS\n"
        "  contactgatectl check --from SENDER --to RCPT [--to RCPT ...]\n"
        "                       [--header 'Name: value' ...] [--eml FILE]\n"
        "                       [--time TIME] [--client IP] [--auth USER] [--json]\n\n"
        "DESCRIPTION\n"
        "  Runs the same engine as the milter on one message, against the real\n"
        "  contact history, and shows for every recipient and every policy\n"
        "  whether it applies, passes or is violated, and why; then the verdict\n"
        "  and SMTP reply the department would get at RCPT and at end of\n"
        "  message. Nothing is recorded: no contact, no decision log, no syslog.\n\n"
        "  --eml reads headers and body from a message file; --from and --to\n"
        "  default to its Return-Path/From and To/Cc. --time decides as of that\n"
        "  moment (e.g. +2d: would it pass the day after tomorrow?). --client is\n"
        "  the connecting MTA client (trusted clients may name the department\n"
        "  with X-Department); --auth a SASL login.\n\n"
        "EXAMPLES\n"
        "  contactgatectl check --from offers@offers.bank.example --to ann@example.com\n"
        "  contactgatectl check --eml campaign.eml --time +3d --json\n\n"
        "EXIT STATUS\n  0 ok (whatever the verdict), 1 usage or input error, 2 store error\n",
    .run = check_run,
};
CTL_REGISTER(ctl_cmd_check)

/* key_cb - one key of the table, as text or JSON */
static void key_cb(const struct cg_kt_info *k, void *arg)
{
    json_t *arr = arg;
    if (arr) {
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(k->path));
        json_object_set_new(o, "type", json_string(k->type));
        json_object_set_new(o, "default", ctl_jstr(k->def));
        json_object_set_new(o, "required", json_boolean(k->required));
        json_object_set_new(o, "doc", ctl_jstr(k->doc));
        json_array_append_new(arr, o);
        return;
    }
    printf("%s (%s%s%s%s)\n    %s\n", k->path, k->type, k->def ? "; default " : "",
           k->def ? k->def : "", k->required ? "; required" : "", k->doc ? k->doc : "");
}

/* config_run - `config check`: load and validate with plugins, print;
 * `config keys`: every key the configuration may have; `config reload` is
 * `reload` (ctl_reload.c) */
static int config_run(struct ctl *c, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "keys") == 0) {
        json_t *arr = c->json ? json_array() : NULL;
        cg_config_keys(key_cb, arr);
        if (arr)
            ctl_json_print(arr);
        return CTL_OK;
    }
    if (argc >= 1 && strcmp(argv[0], "reload") == 0)
        return ctl_reload(c, "config reload", argc - 1, argv + 1);
    if (argc != 1 || strcmp(argv[0], "check") != 0)
        return ctl_err(CTL_USAGE, "config", "the subcommands are \"check\", \"keys\" and \"reload\"");
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(c->config_path, 0, err, sizeof err);
    if (!cfg)
        return ctl_err(CTL_USAGE, "config", "%s", err);
    cg_config_print(cfg, stdout);
    cg_config_unref(&cfg);
    return CTL_OK;
}

const struct ctl_cmd ctl_cmd_config = {
    .name = "config",
    .synopsis = "config check: validate the configuration and plugins (as contactgate -n); "
                "config keys: every key; config reload: have the daemon reload it",
    .help = "SYNOPSIS\n"
            "  contactgatectl [-c FILE] config check\n"
            "  contactgatectl config keys [--json]\n"
            "  contactgatectl [-c FILE] config reload [--pid-file FILE]\n\n"
            "DESCRIPTION\n"
            "  check loads the configuration with every plugin and its params,\n"
            "  exactly as the daemon would on start or reload, and prints every\n"
            "  setting (defaults included) and the effective policy set. An error\n"
            "  names the file and the key path.\n\n"
            "  keys lists every key the configuration may have, with its type,\n"
            "  default and meaning, from the table the daemon validates with\n"
            "  (contactgate.json(5) describes each).\n\n"
            "  reload is `contactgatectl reload`.\n\n"
            "EXIT STATUS\n  0 valid (reload: signal sent), 1 invalid (reload: no such daemon)\n",
    .run = config_run,
};
CTL_REGISTER(ctl_cmd_config)

