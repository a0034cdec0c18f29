/*
 * cg_contact.h - the one place where the contact that an e-mail counts as
 * is built: from the message at end of message (the engine), or from the
 * hold decision rows when a held message is released (contactgatectl
 * held release); and the contact of another channel, or one recorded by
 * hand (contactgatectl record, simulate's replay of other channels).
 * Recording it is cg_store_contact_add, which keeps the department
 * counters with it.
 *
 * What a mail contact is (SPEC "What counts"): one message let through to
 * one customer, channel "email", weight 1, at the time it was let through
 * (end of message, or the release), with the department and category it
 * was decided under, the Message-ID and queue ID that tie it to the MTA's
 * log, and the content digest where one was taken (dedupe).
 */
#ifndef CG_CONTACT_H
#define CG_CONTACT_H

#include <stdint.h>
#include "cg_store.h"

/* cg_contact_mail - the contact of one e-mail to one customer. The row
 * points at the strings given; they must outlive its use. */
void cg_contact_mail(struct cg_contact_row *c_r, int64_t ts, const char *customer,
                     const char *address, const char *department, const char *category,
                     const char *message_id, const char *queue_id, const char *digest);

/* cg_contact_from_decision - the contact of the held message that decision
 * row d (verdict hold, one recipient) describes, let through at ts. No
 * digest: the decision log does not keep one. */
void cg_contact_from_decision(struct cg_contact_row *c_r, int64_t ts,
                              const struct cg_decision_row *d);

/* cg_contact_other - a contact that is no message contactgate let
 * through: another channel's (sms, call, letter) or one an admin records
 * (contactgatectl record), with its own channel and weight and nothing
 * that ties it to an MTA. The row points at the strings given. */
void cg_contact_other(struct cg_contact_row *c_r, int64_t ts, const char *customer,
                      const char *address, const char *department, const char *category,
                      const char *channel, double weight);

#endif
