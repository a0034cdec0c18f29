/*
 * test_util.c - category patterns, globs, addresses, CIDRs (durations and
 * times: test_time.c).
 */
#include <stdlib.h>
#include "cg_test.h"
#include "cg_util.h"

static void test_categories(void)
{
    CG_CHECK(cg_category_valid("promotional.offer", 0));
    CG_CHECK(!cg_category_valid("promotional.*", 0));
    CG_CHECK(cg_category_valid("promotional.*", 1));
    CG_CHECK(cg_category_valid("*", 1));
    CG_CHECK(!cg_category_valid("Promo", 0));
    CG_CHECK(!cg_category_valid("a..b", 0));
    CG_CHECK(!cg_category_valid(".a", 0));
    CG_CHECK(!cg_category_valid("a.", 0));
    CG_CHECK(!cg_category_valid("a.*.b", 1));
    CG_CHECK(cg_category_match("promotional.*", "promotional.offer"));
    CG_CHECK(cg_category_match("promotional.*", "promotional"));
    CG_CHECK(!cg_category_match("promotional.*", "promotionalx"));
    CG_CHECK(!cg_category_match("promotional.*", "functional.bill"));
    CG_CHECK(cg_category_match("*", "anything"));
    CG_CHECK(cg_category_match("functional.bill", "functional.bill"));
    CG_CHECK(!cg_category_match("functional.bill", "functional.bill.final"));
    CG_CHECK(cg_category_subsumes("promotional.*", "promotional.offer"));
    CG_CHECK(cg_category_subsumes("promotional.*", "promotional.news.*"));
    CG_CHECK(!cg_category_subsumes("promotional.news.*", "promotional.*"));
    CG_CHECK(!cg_category_subsumes("promotional.offer", "promotional.*"));
    CG_CHECK(cg_category_subsumes("*", "promotional.*"));
    CG_CHECK(!cg_category_subsumes("promotional.*", "*"));
}

static void test_globs(void)
{
    CG_CHECK(cg_glob_match("*@offers.corp.example", "news@Offers.Corp.Example"));
    CG_CHECK(!cg_glob_match("*@offers.corp.example", "news@corp.example"));
    CG_CHECK(cg_glob_match("billing@corp.example", "billing@corp.example"));
    CG_CHECK(cg_glob_match("qa-?@x", "qa-1@x"));
    CG_CHECK(!cg_glob_match("qa-?@x", "qa-12@x"));
}

static void test_addresses(void)
{
    const char *why = NULL;
    char *a = cg_addr_normalise("<John.Doe+promo@Example.COM>", 1, 1, 0, &why);
    CG_CHECK_STR(a, "john.doe@example.com");
    free(a);
    a = cg_addr_normalise("John.Doe+promo@Example.COM", 0, 0, 0, &why);
    CG_CHECK_STR(a, "John.Doe+promo@example.com");
    free(a);
    a = cg_addr_normalise("<>", 1, 1, 1, &why);
    CG_CHECK_STR(a, "");
    free(a);
    CG_CHECK(cg_addr_normalise("<>", 1, 1, 0, &why) == NULL);
    CG_CHECK(cg_addr_normalise("no-at-sign", 1, 1, 0, &why) == NULL);
    CG_CHECK_CONTAINS(why, "no '@domain'");
    CG_CHECK(cg_addr_normalise("@example.com", 1, 1, 0, &why) == NULL);
    CG_CHECK(cg_addr_normalise("a@", 1, 1, 0, &why) == NULL);
    CG_CHECK(cg_addr_normalise("a b@example.com", 1, 1, 0, &why) == NULL);
    CG_CHECK(cg_addr_normalise("a\r\n@example.com", 1, 1, 0, &why) == NULL);
    /* quoted local parts (RFC 5321): blanks and '@' inside the quotes */
    a = cg_addr_normalise("<\"Lee Smith\"@Example.com>", 1, 1, 0, &why);
    CG_CHECK_STR(a, "\"lee smith\"@example.com");
    free(a);
    a = cg_addr_normalise("\"a@b\"@example.com", 1, 1, 0, &why);
    CG_CHECK_STR(a, "\"a@b\"@example.com");
    free(a);
    CG_CHECK(cg_addr_normalise("\"lee smith@example.com", 1, 1, 0, &why) == NULL);
    CG_CHECK_CONTAINS(why, "unterminated quoted local part");
    CG_CHECK(cg_addr_normalise("\"a\tb\"@example.com", 1, 1, 0, &why) == NULL);
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[10] = '@';
    CG_CHECK(cg_addr_normalise(big, 1, 1, 0, &why) == NULL);
    CG_CHECK_STR(cg_addr_domain("a@b.example"), "b.example");
}

static void test_cidrs(void)
{
    struct cg_cidr c;
    CG_CHECK(cg_cidr_parse("10.0.0.0/8", &c) == 0);
    CG_CHECK(cg_cidr_match(&c, "10.200.1.2"));
    CG_CHECK(!cg_cidr_match(&c, "11.0.0.1"));
    CG_CHECK(cg_cidr_match(&c, "::ffff:10.1.2.3"));
    CG_CHECK(cg_cidr_parse("10.0.0.0/33", &c) < 0);
    CG_CHECK(cg_cidr_parse("10.0.0/8", &c) < 0);
    CG_CHECK(cg_cidr_parse("2001:db8::/32", &c) == 0);
    CG_CHECK(cg_cidr_match(&c, "2001:db8::1"));
    CG_CHECK(cg_cidr_match(&c, "IPv6:2001:db8::1"));
    CG_CHECK(!cg_cidr_match(&c, "2001:db9::1"));
    CG_CHECK(cg_cidr_parse("127.0.0.1", &c) == 0 && c.prefix == 32);
    CG_CHECK(!cg_cidr_match(&c, "garbage"));
    CG_CHECK(cg_cidr_parse("192.168.1.0/0", &c) == 0 && cg_cidr_match(&c, "8.8.8.8"));
}

int main(void)
{
    CG_RUN(test_categories);
    CG_RUN(test_globs);
    CG_RUN(test_addresses);
    CG_RUN(test_cidrs);
    CG_DONE("test_util");
}
