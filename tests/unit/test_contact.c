/*
 * test_contact.c - the contact row of an e-mail (core/cg_contact.c): what
 * a released held message counts as, built from its hold decision row and
 * recorded through the store as the engine records one.
 */
#include <stdlib.h>
#include "cg_contact.h"
#include "cg_test.h"

#define T0 1795305600

static const struct cg_decision_row hold = {
    .ts = T0 - 3600, .ref = "CG0000000000000001", .stage = "eom", .verdict = "hold",
    .policy = "review-mail-to-bereaved", .reason = "held", .department = "billing",
    .sender = "billing@bank.example", .recipient = "eve@example.com", .customer = "C-7",
    .category = "functional.bill", .message_id = "<m@bank.example>", .queue_id = "4XbQ2V1kz3",
};

/* the row: the decision's customer, address, department, category and
 * message, channel email, weight 1, at the release time, no digest */
static void test_from_decision(void)
{
    struct cg_contact_row c;
    memset(&c, 0x5a, sizeof c);
    cg_contact_from_decision(&c, T0, &hold);
    CG_CHECK(c.ts == T0);
    CG_CHECK(c.id == 0);
    CG_CHECK_STR(c.customer, "C-7");
    CG_CHECK_STR(c.address, "eve@example.com");
    CG_CHECK_STR(c.department, "billing");
    CG_CHECK_STR(c.category, "functional.bill");
    CG_CHECK_STR(c.channel, "email");
    CG_CHECK(c.weight == 1.0);
    CG_CHECK_STR(c.message_id, "<m@bank.example>");
    CG_CHECK_STR(c.queue_id, "4XbQ2V1kz3");
    CG_CHECK(c.digest == NULL);
    cg_contact_mail(&c, T0 + 1, "C-8", "a@b.example", "marketing", "promotional.offer", NULL,
                    "Q2", "d1g35t");
    CG_CHECK(c.ts == T0 + 1);
    CG_CHECK_STR(c.channel, "email");
    CG_CHECK(c.weight == 1.0);
    CG_CHECK_STR(c.digest, "d1g35t");
    CG_CHECK(c.message_id == NULL);
}

struct got {
    int n;
    char channel[16], queue_id[16];
    double weight;
    int64_t ts;
};

static int got_cb(const struct cg_contact_row *c, void *arg)
{
    struct got *g = arg;
    g->n++;
    snprintf(g->channel, sizeof g->channel, "%s", c->channel ? c->channel : "");
    snprintf(g->queue_id, sizeof g->queue_id, "%s", c->queue_id ? c->queue_id : "");
    g->weight = c->weight;
    g->ts = c->ts;
    return 0;
}

/* recorded through cg_store_contact_add, the customer's history has it */
static void test_recorded(void)
{
    char err[512];
    cg_store *st = cg_store_open(":memory:", 0, err, sizeof err);
    CG_CHECK(st != NULL);
    if (!st) {
        fprintf(stderr, "  cannot open the store: %s\n", err);
        return;
    }
    struct cg_contact_row c;
    cg_contact_from_decision(&c, T0, &hold);
    CG_CHECK(cg_store_begin(st, 1) == 0);
    CG_CHECK(cg_store_contact_add(st, &c) == 0);
    CG_CHECK(cg_store_commit(st) == 0);
    struct got g = {0};
    CG_CHECK(cg_store_contacts(st, "C-7", T0 - 10, T0 + 10, got_cb, &g) == 0);
    CG_CHECK(g.n == 1);
    CG_CHECK_STR(g.channel, "email");
    CG_CHECK_STR(g.queue_id, "4XbQ2V1kz3");
    CG_CHECK(g.weight == 1.0 && g.ts == T0);
    cg_store_free(&st);
}

int main(void)
{
    CG_RUN(test_from_decision);
    CG_RUN(test_recorded);
    CG_DONE("test_contact");
}
