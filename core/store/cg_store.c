/*
 * cg_store.c - the store interface (cg_store.h and its area headers):
 * picking a backend, the calls through its table (cg_store_be.h), and the
 * parts every backend shares (error text, counter buckets).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_database.h"
#include "cg_store_be.h"
#include "cg_util.h"

/* --- the common part ---------------------------------------------------- */

int cg_store_seterr(cg_store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return -1;
}

void cg_store_base_init(cg_store *st, const struct cg_store_ops *ops, const char *database)
{
    st->ops = ops;
    st->database = cg_database_masked(database);
    st->err[0] = 0;
}

void cg_store_base_free(cg_store *st)
{
    free(st->database);
    st->database = NULL;
}

cg_store *cg_store_open(const char *database, int flags, char *err, size_t errlen)
{
    if (!database || !*database) {
        cg_errf(err, errlen, "no database given");
        return NULL;
    }
    if (cg_database_is_pg(database))
        return cg_pg_open(database, flags, err, errlen);
    return cg_sqlite_open(database, flags, err, errlen);
}

void cg_store_free(cg_store **stp)
{
    cg_store *st = stp ? *stp : NULL;
    if (!st)
        return;
    st->ops->close(st);
    *stp = NULL;
}

const char *cg_store_errmsg(const cg_store *st)
{
    return st && st->err[0] ? st->err : "no error";
}

const char *cg_store_backend(const cg_store *st)
{
    return st->ops->name;
}

/* --- integrity checks ------------------------------------------------------- */

void cg_store_problem(cg_admin_problem_cb cb, void *arg, int *found, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    *found = 1;
    if (cb)
        cb(line, arg);
}

const struct cg_check_count_query cg_check_count_queries[] = {
    {"SELECT count(*) FROM contacts", offsetof(struct cg_check_counts, contacts)},
    {"SELECT count(*) FROM decisions", offsetof(struct cg_check_counts, decisions)},
    {"SELECT count(*) FROM customers", offsetof(struct cg_check_counts, addresses)},
    {"SELECT count(DISTINCT customer) FROM customers", offsetof(struct cg_check_counts, customers)},
    {"SELECT count(*) FROM states", offsetof(struct cg_check_counts, states)},
    {"SELECT count(*) FROM optouts", offsetof(struct cg_check_counts, optouts)},
    {"SELECT count(*) FROM erasures", offsetof(struct cg_check_counts, erasures)},
    {"SELECT count(*) FROM deferrals", offsetof(struct cg_check_counts, episodes)},
    {"SELECT count(*) FROM dept_counts", offsetof(struct cg_check_counts, counter_rows)},
    {NULL, 0},
};

/* The counters as a recount of the contacts would make them, against the
 * counters kept: every bucket where the two differ (SQL that SQLite and
 * PostgreSQL read alike). */
const char cg_store_recount_sql[] =
    "WITH want AS ("
    "  SELECT department, 60 AS level, ts - ts % 60 AS bucket, category, count(*) AS n"
    "    FROM contacts GROUP BY 1, 3, 4"
    "  UNION ALL SELECT department, 3600, ts - ts % 3600, category, count(*)"
    "    FROM contacts GROUP BY 1, 3, 4"
    "  UNION ALL SELECT department, 86400, ts - ts % 86400, category, count(*)"
    "    FROM contacts GROUP BY 1, 3, 4)"
    " SELECT coalesce(w.department, k.department), coalesce(w.level, k.level),"
    "        coalesce(w.bucket, k.bucket), coalesce(w.category, k.category),"
    "        coalesce(w.n, 0), coalesce(k.n, 0)"
    "   FROM want w FULL OUTER JOIN dept_counts k"
    "     ON k.department = w.department AND k.level = w.level AND k.bucket = w.bucket"
    "    AND k.category = w.category"
    "  WHERE coalesce(w.n, 0) != coalesce(k.n, 0)";

void cg_store_counter_problem(cg_admin_problem_cb cb, void *arg, int *found,
                              struct cg_check_counts *n, const char *department,
                              const char *category, int64_t level, int64_t bucket, int64_t kept,
                              int64_t counted)
{
    if (n->counter_mismatches++ < 10)
        cg_store_problem(cb, arg, found,
                         "department counter %s/%s, %llds bucket at %lld: %lld kept, %lld counted",
                         department, category, (long long)level, (long long)bucket,
                         (long long)kept, (long long)counted);
}

void cg_store_counter_problems_end(cg_admin_problem_cb cb, void *arg, int *found,
                                   const struct cg_check_counts *n)
{
    if (n->counter_mismatches > 10)
        cg_store_problem(cb, arg, found, "... %lld department counter buckets disagree in all",
                         (long long)n->counter_mismatches);
}

/* --- department counter buckets ------------------------------------------ */

int64_t cg_store_bucket_of(int64_t ts, int64_t level)
{
    int64_t r = ts % level;
    return r < 0 ? ts - r - level : ts - r;
}

/* up_to - the first multiple of level at or after t */
static int64_t up_to(int64_t t, int64_t level)
{
    int64_t b = cg_store_bucket_of(t, level);
    return b == t ? t : b + level;
}

size_t cg_store_count_spans(int64_t since, int64_t until,
                            struct cg_count_span out[CG_COUNT_MAX_SPANS])
{
    /* the window's edges rounded outwards to the minute, then covered
     * with as few buckets as can be: minutes up to the first hour,
     * hours up to the first day, days, then hours and minutes to the end */
    int64_t cur = cg_store_bucket_of(since, CG_COUNT_MINUTE);
    int64_t end = up_to(until, CG_COUNT_MINUTE);
    size_t n = 0;
    while (cur < end && n < CG_COUNT_MAX_SPANS) {
        int64_t level, to;
        if (cur % CG_COUNT_DAY == 0 && cur + CG_COUNT_DAY <= end) {
            level = CG_COUNT_DAY;
            to = cg_store_bucket_of(end, CG_COUNT_DAY);
        } else if (cur % CG_COUNT_HOUR == 0 && cur + CG_COUNT_HOUR <= end) {
            level = CG_COUNT_HOUR;
            to = up_to(cur, CG_COUNT_DAY);
            if (to > cg_store_bucket_of(end, CG_COUNT_HOUR) || to == cur)
                to = cg_store_bucket_of(end, CG_COUNT_HOUR);
        } else {
            level = CG_COUNT_MINUTE;
            to = up_to(cur + 1, CG_COUNT_HOUR);
            if (to > end)
                to = end;
        }
        out[n++] = (struct cg_count_span){level, cur, to};
        cur = to;
    }
    return n;
}

/* --- the calls through the table ----------------------------------------- */

int cg_store_schema_version(cg_store *st) { return st->ops->schema_version(st); }
int cg_store_begin(cg_store *st, int immediate) { return st->ops->begin(st, immediate); }
int cg_store_commit(cg_store *st) { return st->ops->commit(st); }
int cg_store_rollback(cg_store *st) { return st->ops->rollback(st); }
int cg_store_savepoint(cg_store *st) { return st->ops->savepoint(st); }
int cg_store_release(cg_store *st) { return st->ops->release(st); }
int cg_store_rollback_savepoint(cg_store *st) { return st->ops->rollback_savepoint(st); }

int cg_store_lock_keys(cg_store *st, const char *const *keys, size_t n)
{
    return n ? st->ops->lock_keys(st, keys, n) : 0;
}

/* --- batches ---------------------------------------------------------------- */

static int timeout_ms;

void cg_store_set_timeout(int ms)
{
    timeout_ms = ms > 0 ? ms : 0;
}

int cg_store_timeout_ms(void)
{
    return timeout_ms ? timeout_ms : 5000;
}

/* keys_add - append s to a growable array of strings (not copied) */
static void keys_add(const char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *v = cg_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = s;
}

void cg_store_batch_address(struct cg_store_batch *b, const char *address)
{
    if (address)
        keys_add(&b->addresses, &b->n_addresses, &b->cap_addresses, address);
}

void cg_store_batch_episode(struct cg_store_batch *b, const char *sender, const char *recipient)
{
    if (!recipient)
        return;
    /* the two arrays grow in step: one count and capacity */
    size_t cap = b->cap_pairs, n = b->n_pairs;
    keys_add(&b->senders, &n, &cap, sender ? sender : "");
    keys_add(&b->recipients, &b->n_pairs, &b->cap_pairs, recipient);
}

void cg_store_batch_department(struct cg_store_batch *b, const char *department)
{
    if (department)
        keys_add(&b->departments, &b->n_departments, &b->cap_departments, department);
}

void cg_store_batch_merge(struct cg_store_batch *to, const struct cg_store_batch *from)
{
    for (size_t i = 0; i < from->n_addresses; i++)
        cg_store_batch_address(to, from->addresses[i]);
    for (size_t i = 0; i < from->n_pairs; i++)
        cg_store_batch_episode(to, from->senders[i], from->recipients[i]);
    for (size_t i = 0; i < from->n_departments; i++)
        cg_store_batch_department(to, from->departments[i]);
    if (from->now > to->now)
        to->now = from->now;
}

void cg_store_batch_clear(struct cg_store_batch *b)
{
    free(b->addresses);
    free(b->senders);
    free(b->recipients);
    free(b->departments);
    memset(b, 0, sizeof *b);
}

int cg_store_batch_begin(cg_store *st, const struct cg_store_batch *b)
{
    return st->ops->batch_begin(st, b);
}

int cg_store_batch_join(cg_store *st, const struct cg_store_batch *b)
{
    return st->ops->batch_join(st, b);
}

int cg_store_wants_keys(const cg_store *st)
{
    return st->ops->wants_keys;
}

int cg_store_maintain(cg_store *st, struct cg_store_maint *m) { return st->ops->maintain(st, m); }
int cg_store_writer_step(cg_store *st) { return st->ops->writer_step(st); }
int cg_store_present(cg_store *st) { return st->ops->present(st); }

int cg_store_customer_lookup(cg_store *st, const char *address, char **customer_r,
                             char **timezone_r)
{
    return st->ops->customer_lookup(st, address, customer_r, timezone_r);
}

int cg_store_customer_put(cg_store *st, const char *address, const char *customer,
                          const char *timezone, const char *attrs_json, int *added_r)
{
    return st->ops->customer_put(st, address, customer, timezone, attrs_json, added_r);
}

int cg_store_contact_add(cg_store *st, const struct cg_contact_row *c)
{
    return st->ops->contact_add(st, c);
}

int cg_store_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                      cg_store_contact_cb cb, void *arg)
{
    return st->ops->contacts(st, customer, since, until, cb, arg);
}

int cg_store_contacts_all(cg_store *st, int64_t since, int64_t until, cg_store_contact_cb cb,
                          void *arg)
{
    return st->ops->contacts_all(st, since, until, cb, arg);
}

int cg_store_dept_counts(cg_store *st, const char *department, int64_t since, int64_t until,
                         cg_store_bucket_cb cb, void *arg)
{
    return st->ops->dept_counts(st, department, since, until, cb, arg);
}

int cg_store_state_set(cg_store *st, const struct cg_state_row *s)
{
    return st->ops->state_set(st, s);
}

int cg_store_state_clear(cg_store *st, const char *customer, const char *state)
{
    return st->ops->state_clear(st, customer, state);
}

int cg_store_states(cg_store *st, const char *customer, int64_t now, cg_store_state_cb cb,
                    void *arg)
{
    return st->ops->states(st, customer, now, cb, arg);
}

int cg_store_optout_set(cg_store *st, const struct cg_optout_row *o)
{
    return st->ops->optout_set(st, o);
}

int cg_store_optout_remove(cg_store *st, const char *customer, const char *category)
{
    return st->ops->optout_remove(st, customer, category);
}

int cg_store_opted_out(cg_store *st, const char *customer, const char *address,
                       const char *category, int64_t now, int *r)
{
    return st->ops->opted_out(st, customer, address, category, now, r);
}

int cg_store_decision_add(cg_store *st, const struct cg_decision_row *d)
{
    return st->ops->decision_add(st, d);
}

int cg_store_decisions(cg_store *st, const struct cg_decision_filter *f,
                       cg_store_decision_cb cb, void *arg)
{
    return st->ops->decisions(st, f, cb, arg);
}

int cg_store_episode_get(cg_store *st, const char *sender, const char *recipient,
                         struct cg_episode *e)
{
    return st->ops->episode_get(st, sender, recipient, e);
}

int cg_store_episode_put(cg_store *st, const struct cg_episode *e)
{
    return st->ops->episode_put(st, e);
}

int cg_store_episode_end(cg_store *st, const char *sender, const char *recipient)
{
    return st->ops->episode_end(st, sender, recipient);
}

int cg_store_relay_seen(cg_store *st, const struct cg_relay_row *r)
{
    return st->ops->relay_seen(st, r);
}

int cg_store_relays(cg_store *st, cg_store_relay_cb cb, void *arg)
{
    return st->ops->relays(st, cb, arg);
}

int cg_admin_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg)
{
    return st->ops->customers(st, customer, cb, arg);
}

int cg_admin_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r)
{
    return st->ops->customer_count(st, addresses_r, customers_r);
}

int cg_admin_bulk(cg_store *st) { return st->ops->bulk(st); }

int cg_admin_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg)
{
    return st->ops->optouts(st, customer, cb, arg);
}

int cg_admin_prune(cg_store *st, int64_t before, int batch, int dry_run,
                   struct cg_prune_counts *n)
{
    memset(n, 0, sizeof *n); /* the backends count from zero, in batches of at least 1 */
    return st->ops->prune(st, before, batch < 1 ? 1 : batch, dry_run, n);
}

int cg_admin_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                    struct cg_forget_counts *n)
{
    return st->ops->forget(st, customer, now, ref, reflen, n);
}

int cg_admin_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg)
{
    return st->ops->erasures(st, cb, arg);
}

int cg_admin_erasure_add(cg_store *st, const struct cg_erasure_row *r)
{
    return st->ops->erasure_add(st, r);
}

int cg_admin_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg)
{
    return st->ops->check(st, n, cb, arg);
}

int cg_held_rows(cg_store *st, const char *queue_id, int64_t since, cg_store_decision_cb cb,
                 void *arg)
{
    return st->ops->held_rows(st, queue_id, since, cb, arg);
}

int cg_held_outcome(cg_store *st, const char *queue_id, const char *ref, const char **verdict_r)
{
    return st->ops->held_outcome(st, queue_id, ref, verdict_r);
}

int cg_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                 void *arg)
{
    static const struct cg_lifecycle_filter none; /* the backends get a filter */
    return st->ops->lifecycle(st, f ? f : &none, cb, arg);
}

int cg_store_report_counts(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                           cg_report_counts_cb cb, void *arg)
{
    return st->ops->report_counts(st, r, by, cb, arg);
}

int cg_store_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                            cg_report_reason_cb cb, void *arg)
{
    return st->ops->report_reasons(st, r, top, cb, arg);
}

int cg_store_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                              cg_report_hist_cb cb, void *arg)
{
    return st->ops->report_histogram(st, r, cap, cb, arg);
}

int cg_store_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                                  int64_t *released, int64_t *dropped)
{
    return st->ops->report_held_outcomes(st, r, released, dropped);
}

int cg_store_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                        void *arg)
{
    return st->ops->sim_events(st, since, until, cb, arg);
}
