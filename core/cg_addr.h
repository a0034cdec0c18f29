/*
 * cg_addr.h - one address normaliser: an envelope address, however it is
 * spelled, reduced to the mailbox the MTA delivers to, so that one mailbox
 * is one customer.
 *
 * Used wherever an address comes in: the milter (RCPT and MAIL FROM), the
 * customer map import, opt-outs, check, history, forget, record, and the
 * configured address patterns. README "What an address is normalised to"
 * has the rules and what Postfix and Sendmail hand a milter.
 */
#ifndef CG_ADDR_H
#define CG_ADDR_H

#include <stddef.h>

/* Flags of cg_addr_normalise and friends. */
#define CG_ADDR_FOLD_LOCAL 0x1u /* recipients.lowercase: the local part to lower case (ASCII) */
#define CG_ADDR_STRIP_PLUS 0x2u /* recipients.strip_plus: "ann+tag" is "ann" */
#define CG_ADDR_NULL_OK    0x4u /* "<>" (or nothing) is the null sender "" */

#define CG_ADDR_MAX 254       /* octets of a whole address (RFC 5321 path less "<>") */
#define CG_ADDR_LOCAL_MAX 64  /* octets of a local part (RFC 5321 4.5.3.1.1) */

/* cg_addr_normalise - the canonical mailbox of raw, as a new string, or
 * NULL with *why (a static phrase, e.g. "the local part is longer than 64
 * characters") for an address that cannot be parsed.
 *
 * Canonical form, in this order (RFC 5321/5322 as Postfix and Sendmail
 * deliver): surrounding blanks and one pair of <> removed; comments and
 * blanks between the tokens dropped; a source route ("@a.example,@b.example:")
 * dropped; the local part reduced to its value (quotes and backslash
 * escapes removed, "ann"."lee" is ann.lee) and quoted again only when it is
 * not a dot-atom ("lee smith", "ann."), with a backslash only before '"'
 * and '\'; the domain lower-cased without a trailing dot, U-labels
 * converted to A-labels (UTS #46 non-transitional, as Postfix 3.7), an
 * address literal in one form ([192.0.2.1], [IPv6:2001:db8::1]); an
 * address that is entirely one quoted string ("ann@x") and a trailing '@'
 * read as Postfix reads them. Then CG_ADDR_FOLD_LOCAL and
 * CG_ADDR_STRIP_PLUS. Local part at most 64 octets, the address at most
 * 254, no control characters, valid UTF-8.
 *
 * Idempotent: normalising a normalised address returns it unchanged. */
char *cg_addr_normalise(const char *raw, unsigned flags, const char **why);

/* cg_addr_fallback - the key of an address that cannot be parsed: raw
 * without surrounding blanks and <>, lower-cased, control characters (and
 * any octet of invalid UTF-8) as '?', at most CG_ADDR_MAX octets. NULL
 * when nothing is left. */
char *cg_addr_fallback(const char *raw);

/* cg_addr_key - cg_addr_normalise, else (with *why set) cg_addr_fallback:
 * the key contactgate uses for an address whatever it is. An address that
 * parses but is over a length limit falls back from its canonical form,
 * so its spellings still make one key. NULL only for an empty address.
 * *why is NULL when raw normalised. */
char *cg_addr_key(const char *raw, unsigned flags, const char **why);

/* Which input cg_addr_envelope took. */
enum cg_addr_source {
    CG_ADDR_FROM_ARG, /* the SMTP argument (the MTA agrees, or said nothing) */
    CG_ADDR_FROM_MTA, /* the MTA's own parse: the argument did not parse, or
                         the MTA resolved it to another mailbox */
    CG_ADDR_FROM_RAW, /* neither parsed: cg_addr_fallback of the argument */
};

/* cg_addr_envelope - the key of an envelope address from the SMTP
 * argument (xxfi_envrcpt/envfrom argv[0]) and the MTA's own parse of it
 * ({rcpt_addr}/{mail_addr}; NULL or "" when not sent). The argument's
 * canonical form is used when the MTA's agrees with it up to case (Postfix
 * lower-cases the whole macro) or there is none; otherwise the MTA's,
 * which is what it delivers to (a '%' or '!' path Sendmail resolved, an
 * unqualified name Postfix completed). Neither: the fallback as in
 * cg_addr_key. *src_r says which; *why why the argument was not used.
 * NULL only for an empty argument without CG_ADDR_NULL_OK. */
char *cg_addr_envelope(const char *arg, const char *mta, unsigned flags, const char **why,
                       enum cg_addr_source *src_r);

/* cg_addr_pattern - a configured address glob ("*@Offers.Corp.Example",
 * "qa-?@bank.example") in the form normalised addresses have: a pattern
 * without wildcards is normalised as an address (no folding); otherwise
 * its domain part is lower-cased, loses a trailing dot, and its labels
 * without wildcards get their A-label form. Returns a new string (a copy
 * of pattern when there is nothing to change). */
char *cg_addr_pattern(const char *pattern);
/* cg_addr_pattern_list - cg_addr_pattern on each element, in place */
void cg_addr_pattern_list(char **list, size_t n);

/* cg_addr_domain - pointer to the part after the last '@', or "" */
const char *cg_addr_domain(const char *addr);

/* cg_addr_printable - a bounded, printable copy of any string for a log
 * line (control characters as '?', cut with "..." past len-1 octets). */
const char *cg_addr_printable(const char *s, char *buf, size_t len);

#endif
