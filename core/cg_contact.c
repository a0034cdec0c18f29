/*
 * cg_contact.c - building a contact row (see cg_contact.h).
 */
#include <string.h>

#include "cg_contact.h"

void cg_contact_mail(struct cg_contact_row *c_r, int64_t ts, const char *customer,
                     const char *address, const char *department, const char *category,
                     const char *message_id, const char *queue_id, const char *digest)
{
    memset(c_r, 0, sizeof *c_r);
    c_r->ts = ts;
    c_r->customer = customer;
    c_r->address = address;
    c_r->department = department;
    c_r->category = category;
    c_r->channel = "email";
    c_r->weight = 1.0; /* one message, however many of the customer's addresses */
    c_r->message_id = message_id;
    c_r->queue_id = queue_id;
    c_r->digest = digest;
}

void cg_contact_other(struct cg_contact_row *c_r, int64_t ts, const char *customer,
                      const char *address, const char *department, const char *category,
                      const char *channel, double weight)
{
    memset(c_r, 0, sizeof *c_r);
    c_r->ts = ts;
    c_r->customer = customer;
    c_r->address = address;
    c_r->department = department;
    c_r->category = category;
    c_r->channel = channel;
    c_r->weight = weight;
}

void cg_contact_from_decision(struct cg_contact_row *c_r, int64_t ts,
                              const struct cg_decision_row *d)
{
    cg_contact_mail(c_r, ts, d->customer, d->recipient, d->department, d->category,
                    d->message_id, d->queue_id, NULL);
    c_r->relay = d->relay; /* the relay that decided the hold */
}
