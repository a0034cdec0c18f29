/*
 * ctl_check.c - contactgatectl check: a dry run of the real engine for one
 * message (sender, recipients, headers or an .eml file, a time), showing
 * how each policy decided for each customer and why, without writing
 * anything. Also `config check` (as contactgate -n) and `reload`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_engine.h"
#include "cg_ident.h"
#include "cg_util.h"
#include "ctl.h"

#define CHECK_MAX_RCPTS 100

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

struct tr {
    struct ctl *c;
    json_t *events;      /* --json */
    char *last_customer; /* end of message: a heading per customer */
};

/* on_trace - one policy for one customer */
static void on_trace(void *arg, const struct cg_trace_event *e)
{
    struct tr *t = arg;
    char when[32] = "";
    if (e->retry_after)
        cg_format_time(e->retry_after, when, sizeof when);
    if (t->events) {
        json_t *o = json_object();
        json_object_set_new(o, "stage", json_string(e->stage));
        json_object_set_new(o, "customer", json_string(e->customer ? e->customer : ""));
        json_object_set_new(o, "policy", json_string(e->policy->name));
        json_object_set_new(o, "plugin", json_string(e->policy->plugin_name));
        json_object_set_new(o, "outcome", json_string(outcome_name(e->outcome)));
        if (e->outcome == CG_TRACE_VIOLATION) {
            json_object_set_new(o, "action", json_string(cg_action_name(e->action)));
            json_object_set_new(o, "monitor", json_boolean(e->monitor));
            json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
            if (e->detail)
                json_object_set_new(o, "detail", json_string(e->detail));
            if (when[0])
                json_object_set_new(o, "retry_after", json_string(when));
        }
        json_array_append_new(t->events, o);
        return;
    }
    if (strcmp(e->stage, "eom") == 0 &&
        (!t->last_customer || !e->customer || strcmp(t->last_customer, e->customer) != 0)) {
        printf("   customer %s:\n", e->customer ? e->customer : "-");
        free(t->last_customer);
        t->last_customer = e->customer ? cg_xstrdup(e->customer) : NULL;
    }
    printf("    %-4s %-40s %s", e->stage, e->policy->name, outcome_name(e->outcome));
    if (e->outcome == CG_TRACE_VIOLATION)
        printf(": %s%s, %s%s%s", cg_action_name(e->action), e->monitor ? " (monitor: tag only)" : "",
               e->reason ? e->reason : "", when[0] ? "; retry after " : "", when);
    if (e->detail)
        printf(" [%s]", e->detail);
    putchar('\n');
}

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

/* check_run - build the message, run the engine dry, print */
static int check_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "check";
    const char *from = NULL, *eml = NULL, *client = NULL, *auth = NULL, *time_s = NULL;
    const char *tos[CHECK_MAX_RCPTS];
    const char *hdrs[64];
    int n_to = 0, n_hdr = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--from") && v)
            from = argv[++i];
        else if (!strcmp(a, "--to") && v && n_to < CHECK_MAX_RCPTS)
            tos[n_to++] = argv[++i];
        else if (!strcmp(a, "--header") && v && n_hdr < 64)
            hdrs[n_hdr++] = argv[++i];
        else if (!strcmp(a, "--eml") && v)
            eml = argv[++i];
        else if (!strcmp(a, "--client") && v)
            client = argv[++i];
        else if (!strcmp(a, "--auth") && v)
            auth = argv[++i];
        else if (!strcmp(a, "--time") && v)
            time_s = argv[++i];
        else
            return ctl_err(CTL_USAGE, cmd, "unexpected argument \"%s\" (see --help)", a);
    }
    int64_t now = c->now;
    if (time_s && ctl_time_arg(c, cmd, "--time", time_s, &now) != CTL_OK)
        return CTL_USAGE;
    for (int i = 0; i < n_hdr; i++)
        if (!strchr(hdrs[i], ':') || hdrs[i][0] == ':')
            return ctl_err(CTL_USAGE, cmd, "--header \"%s\" is not \"Name: value\"", hdrs[i]);
    /* the same configuration the daemon runs: with every plugin */
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(c->config_path, 0, err, sizeof err);
    if (!cfg)
        return ctl_err(CTL_USAGE, cmd, "%s", err);
    cg_store *st = ctl_store(c);
    if (!st) {
        cg_config_unref(&cfg);
        return CTL_STORE;
    }

    struct cg_msg m;
    cg_msg_init(&m);
    m.now = now;
    m.dry = 1;
    cg_msg_set(&m.queue_id, "CHECK");
    if (client)
        cg_msg_set(&m.client_addr, client);
    if (auth)
        cg_msg_set(&m.auth_user, auth);
    int rc = CTL_OK;
    if (eml) {
        FILE *fp = fopen(eml, "r");
        int bad = 0;
        if (!fp) {
            rc = ctl_err(CTL_USAGE, cmd, "--eml %s: %s", eml, strerror(errno));
        } else {
            if (eml_read(&m, fp, cfg->needs_body, &bad) < 0)
                rc = ctl_err(CTL_USAGE, cmd, "%s:%d: not a header line (Name: value) before the "
                             "blank line that starts the body", eml, bad);
            fclose(fp);
        }
    }
    for (int i = 0; i < n_hdr && rc == CTL_OK; i++)
        header_add(&m, hdrs[i]);
    /* the envelope: options, else the message's own headers */
    char *sender = NULL;
    if (from)
        sender = cg_xstrdup(from);
    else if (cg_msg_header(&m, "Return-Path"))
        sender = addr_of(cg_msg_header(&m, "Return-Path"));
    else if (cg_msg_header(&m, "From"))
        sender = addr_of(cg_msg_header(&m, "From"));
    char *to_list[CHECK_MAX_RCPTS];
    int n_rc = 0;
    for (int i = 0; i < n_to; i++)
        to_list[n_rc++] = cg_xstrdup(tos[i]);
    for (const char *hn = n_to ? NULL : "To"; hn && n_rc < CHECK_MAX_RCPTS;
         hn = strcmp(hn, "To") == 0 ? "Cc" : NULL) {
        const char *h = cg_msg_header(&m, hn);
        char *copy = h ? cg_xstrdup(h) : NULL, *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && n_rc < CHECK_MAX_RCPTS;
             tok = strtok_r(NULL, ",", &save))
            to_list[n_rc++] = addr_of(tok);
        free(copy);
    }
    if (rc == CTL_OK && !sender)
        rc = ctl_err(CTL_USAGE, cmd, "no sender: give --from (or an --eml with From:)");
    if (rc == CTL_OK && n_rc == 0)
        rc = ctl_err(CTL_USAGE, cmd, "no recipient: give --to (or an --eml with To:)");
    if (rc != CTL_OK)
        goto out;
    const char *why = NULL;
    char *norm = *sender ? cg_addr_normalise(sender, 0, 0, 0, &why) : cg_xstrdup("");
    if (!norm) {
        rc = ctl_err(CTL_USAGE, cmd, "sender \"%s\": %s", sender, why ? why : "not an address");
        goto out;
    }
    m.sender = norm;

    struct tr t = {.c = c, .events = c->json ? json_array() : NULL};
    struct cg_trace tracer = {on_trace, &t};
    m.trace = &tracer;
    json_t *out_j = c->json ? json_object() : NULL;
    json_t *rcpts_j = c->json ? json_array() : NULL;
    cg_ident_department(cfg, &m, 0, NULL);
    if (!c->json) {
        char when[32];
        cg_format_time(now, when, sizeof when);
        printf("dry run at %s (nothing is recorded); config %s\n", when, cfg->version);
        printf("  sender <%s>: department %s (by %s)\n", m.sender, m.department, m.dept_source);
        printf("  RCPT stage (envelope only):\n");
    }
    int left = 0;
    struct cg_decision d;
    for (int i = 0; i < n_rc; i++) {
        if (!c->json)
            printf("  RCPT TO:<%s>\n", to_list[i]);
        struct cg_rcpt *r = cg_msg_add_rcpt(&m, to_list[i]);
        if (cg_engine_rcpt(cfg, st, &m, r, &d) < 0) {
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
            goto done;
        }
        r = &m.rcpts[i];
        if (d.verdict >= CG_ACT_DEFER)
            r->refused = 1;
        else
            left++;
        if (rcpts_j) {
            json_t *o = verdict_json(&d);
            json_object_set_new(o, "recipient", json_string(to_list[i]));
            json_object_set_new(o, "customer", r->customer ? json_string(r->customer) : json_null());
            json_object_set_new(o, "exempt", json_boolean(r->exempt));
            json_object_set_new(o, "settled_at_rcpt", json_boolean(d.verdict >= CG_ACT_DEFER));
            json_array_append_new(rcpts_j, o);
        } else {
            char what[300];
            snprintf(what, sizeof what, "customer %s%s: at RCPT", r->customer ? r->customer : "-",
                     r->exempt ? " (exempt: never limited, never counted)" : "");
            if (d.verdict >= CG_ACT_DEFER)
                verdict_text(what, &d);
            else
                printf("  %s not settled by the envelope: decided at end of message\n", what);
        }
    }
    if (left) {
        if (!c->json)
            printf("  end of message (headers known):\n");
        if (cg_engine_eom(cfg, st, &m, 0, &d) < 0) {
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
            goto done;
        }
        if (c->json) {
            json_object_set_new(out_j, "end_of_message", verdict_json(&d));
        } else {
            printf("  category %s (by %s)%s%s\n", m.category ? m.category : "-",
                   m.category_source, m.category_claim ? ", refused claim " : "",
                   m.category_claim ? m.category_claim : "");
            verdict_text("message verdict", &d);
        }
    } else if (!c->json) {
        printf("  every recipient was settled at RCPT; no end of message\n");
    }
    if (out_j) {
        char when[32];
        cg_format_time(now, when, sizeof when);
        json_object_set_new(out_j, "time", json_string(when));
        json_object_set_new(out_j, "sender", json_string(m.sender));
        json_object_set_new(out_j, "department", json_string(m.department));
        json_object_set_new(out_j, "category", m.category ? json_string(m.category) : json_null());
        json_object_set_new(out_j, "recipients", rcpts_j);
        json_object_set_new(out_j, "policies", t.events);
        rcpts_j = NULL;
        t.events = NULL;
        ctl_json_print(out_j);
        out_j = NULL;
    }
done:
    json_decref(out_j);
    json_decref(rcpts_j);
    json_decref(t.events);
    free(t.last_customer);
out:
    free(sender);
    for (int i = 0; i < n_rc; i++)
        free(to_list[i]);
    m.trace = NULL;
    cg_msg_clear(&m);
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

/* config_run - `config check`: load and validate with plugins, print */
static int config_run(struct ctl *c, int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "check") != 0)
        return ctl_err(CTL_USAGE, "config", "the only subcommand is \"check\"");
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
    .synopsis = "config check: validate the configuration and plugins (as contactgate -n)",
    .help = "SYNOPSIS\n"
            "  contactgatectl [-c FILE] config check\n\n"
            "DESCRIPTION\n"
            "  Loads the configuration with every plugin and its params, exactly as\n"
            "  the daemon would on start or reload, and prints the effective policy\n"
            "  set. An error names the file and the key path.\n\n"
            "EXIT STATUS\n  0 valid, 1 invalid\n",
    .run = config_run,
};
CTL_REGISTER(ctl_cmd_config)

/* reload_run - SIGUSR1 to the daemon named by its pid file */
static int reload_run(struct ctl *c, int argc, char **argv)
{
    (void)c;
    const char *pidfile = "/run/contactgate/contactgate.pid";
    const struct ctl_opt opts[] = {{"--pid-file", &pidfile, NULL}, {NULL, NULL, NULL}};
    if (ctl_args("reload", argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    FILE *fp = fopen(pidfile, "r");
    if (!fp)
        return ctl_err(CTL_USAGE, "reload", "%s: %s (is contactgate running with -p?)", pidfile,
                       strerror(errno));
    long pid = 0;
    int ok = fscanf(fp, "%ld", &pid) == 1 && pid > 1;
    fclose(fp);
    if (!ok)
        return ctl_err(CTL_USAGE, "reload", "%s: does not hold a process id", pidfile);
    if (kill((pid_t)pid, SIGUSR1) < 0)
        return ctl_err(CTL_USAGE, "reload", "process %ld: %s", pid, strerror(errno));
    printf("reload requested (SIGUSR1 to %ld); contactgate logs whether the new "
           "configuration was taken or refused\n", pid);
    return CTL_OK;
}

const struct ctl_cmd ctl_cmd_reload = {
    .name = "reload",
    .synopsis = "ask the running daemon to reload its configuration",
    .help = "SYNOPSIS\n"
            "  contactgatectl reload [--pid-file FILE]\n\n"
            "DESCRIPTION\n"
            "  Sends SIGUSR1 to the contactgate named in its pid file (default\n"
            "  /run/contactgate/contactgate.pid, as the shipped systemd unit runs it).\n"
            "  The daemon validates the new configuration completely and keeps the\n"
            "  old one if anything is wrong; run `config check` first to see errors.\n\n"
            "EXIT STATUS\n  0 signal sent, 1 no such daemon\n",
    .run = reload_run,
};
CTL_REGISTER(ctl_cmd_reload)
