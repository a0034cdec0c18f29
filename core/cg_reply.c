/*
 * cg_reply.c - the SMTP reply and the tag header of a decision (see
 * cg_reply.h).
 */
#include <stdio.h>
#include <string.h>

#include "cg_reply.h"
#include "cg_util.h"

void cg_reply_sanitize(char *dst, size_t len, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < len; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c >= 0x20 && c < 0x7f && c != '%') ? (char)c : '?';
    }
    if (len)
        dst[j] = 0;
}

/* cg_reply_fill - see cg_reply.h. "not within 2 days of a bill" would tell
 * the sending department about the customer: the reply never says why. */
void cg_reply_fill(struct cg_decision *d, int64_t now)
{
    char when[32];
    const char *pol = d->policy ? d->policy->name : "contactgate";
    d->smtp_code[0] = d->smtp_xcode[0] = d->smtp_text[0] = 0;
    if (d->error && d->verdict == CG_ACT_DEFER) {
        strcpy(d->smtp_code, "451");
        strcpy(d->smtp_xcode, "4.3.0");
        snprintf(d->smtp_text, sizeof d->smtp_text,
                 "contact strategy: temporary failure, the contact history could not be "
                 "checked; ref %s", d->ref);
        return;
    }
    if (d->verdict == CG_ACT_DEFER) {
        if (d->retry_after <= now)
            d->retry_after = now + CG_DEFAULT_RETRY_SECS;
        strcpy(d->smtp_code, "451");
        strcpy(d->smtp_xcode, "4.7.1");
        snprintf(d->smtp_text, sizeof d->smtp_text,
                 "contact strategy: %s: not now; retry after %s; ref %s", pol,
                 cg_format_time(d->retry_after, when, sizeof when), d->ref);
    } else if (d->verdict == CG_ACT_REJECT) {
        strcpy(d->smtp_code, "550");
        strcpy(d->smtp_xcode, "5.7.1");
        snprintf(d->smtp_text, sizeof d->smtp_text, "contact strategy: %s: %s; ref %s", pol,
                 d->expired ? "deferred too long" : "not permitted", d->ref);
    }
}

/* cg_reply_tag - see cg_reply.h. A name such as "review-mail-to-bereaved"
 * tells the customer what the company knows: names only when asked for.
 * Held mail gets no header: whoever releases it sends it on as it came. */
void cg_reply_tag(const struct cg_config *cfg, struct cg_decision *d, const char *enforced,
                  const char *monitored)
{
    d->tag_value[0] = 0;
    if (d->verdict != CG_ACT_TAG)
        return;
    struct cg_buf b = {0};
    cg_buf_printf(&b, "verdict=tag; ref=%s", d->ref);
    if (cfg->tag_policy_names && enforced && *enforced)
        cg_buf_printf(&b, "; policies=%s", enforced);
    if (cfg->tag_policy_names && monitored && *monitored)
        cg_buf_printf(&b, "; monitor=%s", monitored);
    /* a header line is at most 998 octets; the names are config-bound */
    cg_reply_sanitize(d->tag_value, sizeof d->tag_value, b.s);
    cg_buf_free(&b);
}
