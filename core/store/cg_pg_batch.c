/*
 * cg_pg_batch.c - the PostgreSQL backend's batches (cg_store_batch_begin):
 * exact check-and-record across relays in about two round trips.
 *
 * A batch is one transaction of the daemon's decider. Its first round trip
 * is one pipeline: BEGIN; the advisory transaction locks of the batch's
 * customers (their addresses through the customer map) and of the
 * departments whose counters this connection has been seen to read, taken
 * in the order of their lock keys as a statement of its own (a statement
 * that locks and reads at once reads a snapshot from before the lock: 38
 * to 40 of 40 messages through a cap of 3 were measured so); then, each
 * with a snapshot from after the locks, the batch's reads: the customer
 * map rows, the customers' contacts since the longest window read so far,
 * their states and opt-outs, and the deferral episodes of its (sender,
 * recipient) pairs. The engine's reads are then answered here from
 * memory, together with what the batch itself wrote. A read the cache
 * cannot answer (a longer window than ever before, a customer outside the
 * keys, department counters) goes to the server after the queued writes,
 * having first locked its key (out of order: PostgreSQL's deadlock
 * detector breaks the rare cycle by failing one batch, whose mail is then
 * tempfailed and retried). The writes go with COMMIT (cg_pg.c).
 *
 * A job that comes while a batch runs may join it when all its customers
 * are locked already; otherwise it waits for the next batch (its locks
 * cannot be taken out of order without risking a deadlock with another
 * relay).
 *
 * The same message is never counted twice for a customer: a contact whose
 * customer already has one with the same Message-ID in the cached window
 * is not recorded again. That happens when a commit's outcome was unknown
 * (the deadline cancelled a wait for the synchronous standby: the commit
 * may have happened locally), the mail was tempfailed and the MTA retries.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_category.h"
#include "cg_pg_int.h"
#include "cg_util.h"

/* the contacts fetched ahead cover at least this long a window */
#define MIN_WINDOW_SECS 86400
/* and at most this long one (a longer read goes to the server) */
#define MAX_WINDOW_SECS (400 * 86400LL)
/* ids given to contacts the batch added (newest of all) */
#define PENDING_ID (INT64_MAX / 2)

struct c_addr {
    char *address, *customer, *timezone;
    int found;                /* in the customer map */
};
struct c_contact {
    struct cg_contact_row r;  /* its strings owned */
};
struct c_state {
    char *customer, *state, *note;
    int64_t since, until;
};
struct c_optout {
    char *key, *category;
    int64_t since, until;
};
struct c_episode {
    char *sender, *recipient;
    int found;
    struct cg_episode e;      /* its strings owned */
};

struct pg_cache {
    int valid;
    int64_t since;            /* contacts cover ts >= since */
    int64_t next_id;
    struct c_addr *addr;
    size_t n_addr;
    char **locked;            /* lock keys held: "c:customer", "d:department" */
    size_t n_locked;
    struct c_contact *contacts;
    size_t n_contacts, cap_contacts;
    struct c_state *states;
    size_t n_states;
    struct c_optout *optouts;
    size_t n_optouts;
    struct c_episode *episodes;
    size_t n_episodes, cap_episodes;
};

/* --- the cache's memory ------------------------------------------------------ */

static void contact_free(struct c_contact *c)
{
    free((char *)c->r.customer);
    free((char *)c->r.address);
    free((char *)c->r.department);
    free((char *)c->r.category);
    free((char *)c->r.channel);
    free((char *)c->r.message_id);
    free((char *)c->r.queue_id);
    free((char *)c->r.digest);
    free((char *)c->r.relay);
}

static void episode_strings_free(struct cg_episode *e)
{
    free((char *)e->sender);
    free((char *)e->recipient);
    free((char *)e->first_ref);
    free((char *)e->message_id);
    free((char *)e->policy);
}

void cg_pg_cache_free(struct pgs *p)
{
    struct pg_cache *k = p->cache;
    if (!k)
        return;
    for (size_t i = 0; i < k->n_addr; i++) {
        free(k->addr[i].address);
        free(k->addr[i].customer);
        free(k->addr[i].timezone);
    }
    for (size_t i = 0; i < k->n_locked; i++)
        free(k->locked[i]);
    for (size_t i = 0; i < k->n_contacts; i++)
        contact_free(&k->contacts[i]);
    for (size_t i = 0; i < k->n_states; i++) {
        free(k->states[i].customer);
        free(k->states[i].state);
        free(k->states[i].note);
    }
    for (size_t i = 0; i < k->n_optouts; i++) {
        free(k->optouts[i].key);
        free(k->optouts[i].category);
    }
    for (size_t i = 0; i < k->n_episodes; i++) {
        free(k->episodes[i].sender);
        free(k->episodes[i].recipient);
        episode_strings_free(&k->episodes[i].e);
    }
    free(k->addr);
    free(k->locked);
    free(k->contacts);
    free(k->states);
    free(k->optouts);
    free(k->episodes);
    free(k);
    p->cache = NULL;
}

void cg_pg_cache_drop(struct pgs *p)
{
    if (p->cache)
        p->cache->valid = 0; /* the locks stay known: they are still held */
}

/* live - the cache, when its reads can be trusted */
static struct pg_cache *live(struct pgs *p)
{
    return p->batch && p->cache && p->cache->valid ? p->cache : NULL;
}

/* is_locked - is this lock key held by the batch */
static int is_locked(const struct pg_cache *k, const char *key)
{
    for (size_t i = 0; i < k->n_locked; i++)
        if (!strcmp(k->locked[i], key))
            return 1;
    return 0;
}

/* covered - are the customer's rows in the cache (it is locked) */
static int covered(const struct pg_cache *k, const char *customer)
{
    for (size_t i = 0; i < k->n_locked; i++)
        if (k->locked[i][0] == 'c' && !strcmp(k->locked[i] + 2, customer))
            return 1;
    return 0;
}

/* --- starting a batch --------------------------------------------------------- */

/* The statements of the first round trip ($1: the addresses, $2: the
 * department lock keys' names). The customers of the addresses. */
#define CUSTOMERS                                                                              \
    "(SELECT coalesce((SELECT customer FROM customers WHERE address = a), a)"                 \
    " FROM unnest($1::text[]) AS a)"
static const char lock_sql[] =
    "SELECT x, pg_advisory_xact_lock(hashtextextended(x, 0)) IS NULL FROM"
    " (SELECT x FROM (SELECT DISTINCT x FROM (SELECT 'c:' || c AS x FROM " CUSTOMERS " AS m(c)"
    " UNION ALL SELECT 'd:' || d FROM unnest($2::text[]) AS d) AS u) AS d"
    " ORDER BY hashtextextended(x, 0)) AS s";
static const char map_sql[] =
    "SELECT a, c.customer, c.timezone FROM unnest($1::text[]) AS a"
    " LEFT JOIN customers c ON c.address = a";
static const char contacts_sql[] =
    "SELECT id, ts, customer, address, department, category, channel, weight, message_id,"
    " queue_id, digest, relay FROM contacts WHERE customer IN " CUSTOMERS " AND ts >= $2"
    " ORDER BY customer, ts DESC, id DESC";
static const char states_sql[] =
    "SELECT customer, state, since, until, note FROM states WHERE customer IN " CUSTOMERS;
static const char optouts_sql[] =
    "SELECT customer, category, since, until FROM optouts WHERE customer IN " CUSTOMERS
    " OR customer = ANY($1::text[])";
static const char episodes_sql[] =
    "SELECT d.sender, d.recipient, first_ts, first_ref, last_ts, attempts, retry_after,"
    " message_id, policy, expired FROM deferrals d JOIN unnest($1::text[], $2::text[])"
    " AS u(s, r) ON d.sender = u.s AND d.recipient = u.r";

/* fill - the cache from the first round trip's results (from index i) */
static void fill(struct pg_cache *k, struct cg_pgres *res, int i, const struct cg_store_batch *b)
{
    struct pgr r = {res, i};
    k->locked = cg_xcalloc((size_t)pgr_n(&r) + 1, sizeof *k->locked);
    for (int row = 0; row < pgr_n(&r); row++)
        k->locked[k->n_locked++] = cg_xstrdup(pgr_v(&r, row, 0));
    r.i++;
    k->addr = cg_xcalloc((size_t)pgr_n(&r) + 1, sizeof *k->addr);
    for (int row = 0; row < pgr_n(&r); row++) {
        struct c_addr *a = &k->addr[k->n_addr++];
        a->address = cg_xstrdup(pgr_v(&r, row, 0));
        a->found = pgr_v(&r, row, 1) != NULL;
        a->customer = cg_xstrdup(a->found ? pgr_v(&r, row, 1) : a->address);
        a->timezone = cg_xstrdup(pgr_v(&r, row, 2));
    }
    r.i++;
    k->cap_contacts = (size_t)pgr_n(&r) + 16;
    k->contacts = cg_xcalloc(k->cap_contacts, sizeof *k->contacts);
    for (int row = 0; row < pgr_n(&r); row++)
        k->contacts[k->n_contacts++].r = (struct cg_contact_row){
            .id = pgr_int(&r, row, 0),
            .ts = pgr_int(&r, row, 1),
            .customer = cg_xstrdup(pgr_v(&r, row, 2)),
            .address = cg_xstrdup(pgr_v(&r, row, 3)),
            .department = cg_xstrdup(pgr_v(&r, row, 4)),
            .category = cg_xstrdup(pgr_v(&r, row, 5)),
            .channel = cg_xstrdup(pgr_v(&r, row, 6)),
            .weight = pgr_v(&r, row, 7) ? strtod(pgr_v(&r, row, 7), NULL) : 0,
            .message_id = cg_xstrdup(pgr_v(&r, row, 8)),
            .queue_id = cg_xstrdup(pgr_v(&r, row, 9)),
            .digest = cg_xstrdup(pgr_v(&r, row, 10)),
            .relay = cg_xstrdup(pgr_v(&r, row, 11)),
        };
    r.i++;
    k->states = cg_xcalloc((size_t)pgr_n(&r) + 1, sizeof *k->states);
    for (int row = 0; row < pgr_n(&r); row++)
        k->states[k->n_states++] = (struct c_state){
            cg_xstrdup(pgr_v(&r, row, 0)), cg_xstrdup(pgr_v(&r, row, 1)),
            cg_xstrdup(pgr_v(&r, row, 4)), pgr_int(&r, row, 2), pgr_int(&r, row, 3)};
    r.i++;
    k->optouts = cg_xcalloc((size_t)pgr_n(&r) + 1, sizeof *k->optouts);
    for (int row = 0; row < pgr_n(&r); row++)
        k->optouts[k->n_optouts++] = (struct c_optout){
            cg_xstrdup(pgr_v(&r, row, 0)), cg_xstrdup(pgr_v(&r, row, 1)), pgr_int(&r, row, 2),
            pgr_int(&r, row, 3)};
    r.i++;
    /* every pair asked for is known: found or not */
    k->cap_episodes = b->n_pairs + 8;
    k->episodes = cg_xcalloc(k->cap_episodes, sizeof *k->episodes);
    for (size_t j = 0; j < b->n_pairs; j++) {
        int dup = 0;
        for (size_t e = 0; e < k->n_episodes && !dup; e++)
            dup = !strcmp(k->episodes[e].sender, b->senders[j]) &&
                  !strcmp(k->episodes[e].recipient, b->recipients[j]);
        if (!dup) {
            struct c_episode *e = &k->episodes[k->n_episodes++];
            e->sender = cg_xstrdup(b->senders[j]);
            e->recipient = cg_xstrdup(b->recipients[j]);
        }
    }
    for (int row = 0; row < pgr_n(&r); row++)
        for (size_t e = 0; e < k->n_episodes; e++) {
            struct c_episode *x = &k->episodes[e];
            if (strcmp(x->sender, pgr_v(&r, row, 0)) || strcmp(x->recipient, pgr_v(&r, row, 1)))
                continue;
            x->found = 1;
            x->e = (struct cg_episode){
                .sender = cg_xstrdup(x->sender),
                .recipient = cg_xstrdup(x->recipient),
                .first_ts = pgr_int(&r, row, 2),
                .first_ref = cg_xstrdup(pgr_v(&r, row, 3)),
                .last_ts = pgr_int(&r, row, 4),
                .attempts = pgr_int(&r, row, 5),
                .retry_after = pgr_int(&r, row, 6),
                .message_id = cg_xstrdup(pgr_v(&r, row, 7)),
                .policy = cg_xstrdup(pgr_v(&r, row, 8)),
                .expired = (int)pgr_int(&r, row, 9),
            };
        }
}

int cg_pg_batch_begin(cg_store *st, const struct cg_store_batch *b)
{
    struct pgs *p = pgs_of(st);
    if (cg_store_begin(st, 1) < 0)
        return -1;
    p->batch = 1;
    struct pg_cache *k = p->cache = cg_xcalloc(1, sizeof *p->cache);
    k->next_id = PENDING_ID;
    /* the departments whose counters were ever read here are locked too */
    const char **depts = cg_xcalloc(b->n_departments + 1, sizeof *depts);
    size_t nd = 0;
    for (size_t i = 0; i < b->n_departments; i++)
        for (size_t j = 0; j < p->n_dept_read; j++)
            if (!strcmp(b->departments[i], p->dept_read[j]))
                depts[nd++] = b->departments[i];
    int64_t now = b->now ? b->now : cg_now();
    int64_t window = p->window_secs > MIN_WINDOW_SECS ? p->window_secs : MIN_WINDOW_SECS;
    k->since = now - window;
    char *addrs = pg_text_array(b->addresses, b->n_addresses);
    char *darr = pg_text_array(depts, nd);
    char *snd = pg_text_array(b->senders, b->n_pairs);
    char *rcp = pg_text_array(b->recipients, b->n_pairs);
    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)k->since);
    const char *p_lock[] = {addrs, darr}, *p_one[] = {addrs}, *p_contacts[] = {addrs, since},
               *p_pairs[] = {snd, rcp};
    struct cg_pgconn_stmt v[] = {
        {lock_sql, 2, p_lock, 1},         {map_sql, 1, p_one, 1},
        {contacts_sql, 2, p_contacts, 1}, {states_sql, 1, p_one, 1},
        {optouts_sql, 1, p_one, 1},       {episodes_sql, 2, p_pairs, 1},
    };
    struct cg_pgres *res = NULL;
    int first = 0;
    int rc = pg_pipeline(p, "batch", v, (int)(sizeof v / sizeof v[0]), &res, &first);
    if (rc == 0) {
        fill(k, res, first, b);
        k->valid = 1;
    }
    cg_pgres_free(&res);
    free(addrs);
    free(darr);
    free(snd);
    free(rcp);
    free(depts);
    return rc;
}

int cg_pg_batch_join(cg_store *st, const struct cg_store_batch *b)
{
    struct pg_cache *k = live(pgs_of(st));
    if (!k)
        return 1;
    /* every address known and its customer locked already */
    for (size_t i = 0; i < b->n_addresses; i++) {
        size_t a;
        for (a = 0; a < k->n_addr; a++)
            if (!strcmp(k->addr[a].address, b->addresses[i]))
                break;
        if (a == k->n_addr || !covered(k, k->addr[a].customer))
            return 1;
    }
    return 0;
}

int cg_pg_cache_lock(struct pgs *p, const char *key)
{
    struct pg_cache *k = p->cache;
    if (!k || is_locked(k, key))
        return 0;
    if (pg_lock_text(p, &key, 1) < 0)
        return -1;
    k->locked = cg_xrealloc(k->locked, (k->n_locked + 1) * sizeof *k->locked);
    k->locked[k->n_locked++] = cg_xstrdup(key);
    return 0;
}

/* --- answers ------------------------------------------------------------------ */

int cg_pg_cache_customer(struct pgs *p, const char *address, char **customer_r,
                         char **timezone_r)
{
    struct pg_cache *k = live(p);
    for (size_t i = 0; k && i < k->n_addr; i++) {
        struct c_addr *a = &k->addr[i];
        if (strcmp(a->address, address))
            continue;
        if (!a->found)
            return 2;
        if (customer_r)
            *customer_r = cg_xstrdup(a->customer);
        if (timezone_r)
            *timezone_r = cg_xstrdup(a->timezone);
        return 1;
    }
    return 0;
}

/* newest_first - contacts in the server's order: ts, then id, descending */
static int newest_first(const void *a, const void *b)
{
    const struct cg_contact_row *x = *(const struct cg_contact_row *const *)a;
    const struct cg_contact_row *y = *(const struct cg_contact_row *const *)b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id;
}

int cg_pg_cache_contacts(struct pgs *p, const char *customer, int64_t since, int64_t until,
                         cg_store_contact_cb cb, void *arg)
{
    struct pg_cache *k = live(p);
    if (!k || !covered(k, customer))
        return 0;
    if (since < k->since) {
        /* learn: the next batches fetch this much */
        int64_t w = cg_now() - since + 60;
        if (since > 0 && w > p->window_secs)
            p->window_secs = w < MAX_WINDOW_SECS ? w : MAX_WINDOW_SECS;
        return 0;
    }
    const struct cg_contact_row **v = cg_xcalloc(k->n_contacts + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < k->n_contacts; i++) {
        const struct cg_contact_row *r = &k->contacts[i].r;
        if (!strcmp(r->customer, customer) && r->ts >= since && r->ts < until)
            v[n++] = r;
    }
    qsort(v, n, sizeof *v, newest_first);
    for (size_t i = 0; i < n; i++)
        if (cb(v[i], arg))
            break;
    free(v);
    return 1;
}

int cg_pg_cache_states(struct pgs *p, const char *customer, int64_t now, cg_store_state_cb cb,
                       void *arg)
{
    struct pg_cache *k = live(p);
    if (!k || !covered(k, customer))
        return 0;
    /* open at now, newest first then by name (the server's order) */
    const struct c_state **v = cg_xcalloc(k->n_states + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < k->n_states; i++) {
        const struct c_state *s = &k->states[i];
        if (!strcmp(s->customer, customer) && s->since <= now && (s->until == 0 || s->until > now))
            v[n++] = s;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a customer has few states */
        for (size_t j = i; j > 0; j--) {
            const struct c_state *a = v[j - 1], *b = v[j];
            if (a->since > b->since || (a->since == b->since && strcmp(a->state, b->state) <= 0))
                break;
            v[j - 1] = b;
            v[j] = a;
        }
    for (size_t i = 0; i < n; i++) {
        struct cg_state_row r = {v[i]->customer, v[i]->state, v[i]->since, v[i]->until,
                                 v[i]->note};
        if (cb(&r, arg))
            break;
    }
    free(v);
    return 1;
}

int cg_pg_cache_opted_out(struct pgs *p, const char *customer, const char *address,
                          const char *category, int64_t now, int *r)
{
    struct pg_cache *k = live(p);
    if (!k || !covered(k, customer))
        return 0;
    if (address) { /* the address's own rows were fetched only for the keys */
        size_t a;
        for (a = 0; a < k->n_addr; a++)
            if (!strcmp(k->addr[a].address, address))
                break;
        if (a == k->n_addr)
            return 0;
    }
    const char *other = address ? address : customer;
    *r = 0;
    for (size_t i = 0; i < k->n_optouts && !*r; i++) {
        const struct c_optout *o = &k->optouts[i];
        if ((strcmp(o->key, customer) && strcmp(o->key, other)) || o->since > now ||
            (o->until != 0 && o->until <= now))
            continue;
        if (cg_category_match(o->category, category))
            *r = 1;
    }
    return 1;
}

/* episode_slot - the cache's entry of a pair, or NULL */
static struct c_episode *episode_slot(struct pg_cache *k, const char *sender,
                                      const char *recipient)
{
    for (size_t i = 0; i < k->n_episodes; i++)
        if (!strcmp(k->episodes[i].sender, sender) && !strcmp(k->episodes[i].recipient, recipient))
            return &k->episodes[i];
    return NULL;
}

int cg_pg_cache_episode(struct pgs *p, const char *sender, const char *recipient,
                        struct cg_episode *e)
{
    struct pg_cache *k = live(p);
    struct c_episode *x = k ? episode_slot(k, sender, recipient) : NULL;
    if (!x)
        return 0;
    if (!x->found)
        return 2;
    *e = x->e;
    cg_pg_episode_fill(p, e, x->e.sender, x->e.recipient, x->e.first_ref, x->e.message_id,
                       x->e.policy);
    return 1;
}

/* --- the batch's own writes ---------------------------------------------------- */

void cg_pg_cache_contact_added(struct pgs *p, const struct cg_contact_row *c)
{
    struct pg_cache *k = live(p);
    if (!k || !covered(k, c->customer) || c->ts < k->since)
        return;
    if (k->n_contacts == k->cap_contacts) {
        k->cap_contacts = k->cap_contacts ? 2 * k->cap_contacts : 16;
        k->contacts = cg_xrealloc(k->contacts, k->cap_contacts * sizeof *k->contacts);
    }
    k->contacts[k->n_contacts++].r = (struct cg_contact_row){
        .id = k->next_id++,
        .ts = c->ts,
        .customer = cg_xstrdup(c->customer),
        .address = cg_xstrdup(c->address),
        .department = cg_xstrdup(c->department),
        .category = cg_xstrdup(c->category),
        .channel = cg_xstrdup(c->channel ? c->channel : "email"),
        .weight = c->weight,
        .message_id = cg_xstrdup(c->message_id),
        .queue_id = cg_xstrdup(c->queue_id),
        .digest = cg_xstrdup(c->digest),
        .relay = cg_xstrdup(c->relay),
    };
}

int cg_pg_cache_has_message(struct pgs *p, const struct cg_contact_row *c)
{
    struct pg_cache *k = live(p);
    if (!k || !c->message_id || !*c->message_id || !covered(k, c->customer))
        return 0;
    for (size_t i = 0; i < k->n_contacts; i++) {
        const struct cg_contact_row *r = &k->contacts[i].r;
        if (r->message_id && !strcmp(r->message_id, c->message_id) &&
            !strcmp(r->customer, c->customer) &&
            !strcmp(r->channel ? r->channel : "email", c->channel ? c->channel : "email"))
            return 1;
    }
    return 0;
}

void cg_pg_cache_episode_put(struct pgs *p, const struct cg_episode *e)
{
    struct pg_cache *k = live(p);
    if (!k)
        return;
    struct c_episode *x = episode_slot(k, e->sender, e->recipient);
    if (!x)
        return; /* not a key of the batch: read from the server */
    /* copy first: e's strings may be the slot's own */
    struct cg_episode copy = *e;
    copy.sender = cg_xstrdup(e->sender);
    copy.recipient = cg_xstrdup(e->recipient);
    copy.first_ref = cg_xstrdup(e->first_ref);
    copy.message_id = cg_xstrdup(e->message_id);
    copy.policy = cg_xstrdup(e->policy);
    if (x->found)
        episode_strings_free(&x->e);
    x->e = copy;
    x->found = 1;
}

void cg_pg_cache_episode_end(struct pgs *p, const char *sender, const char *recipient)
{
    struct pg_cache *k = live(p);
    struct c_episode *x = k ? episode_slot(k, sender, recipient) : NULL;
    if (!x || !x->found)
        return;
    episode_strings_free(&x->e);
    memset(&x->e, 0, sizeof x->e);
    x->found = 0;
}
