/*
 * test_util.c - category patterns, globs, CIDRs (addresses: test_addr.c;
 * durations and times: test_time.c).
 */
#include <stdlib.h>
#include "cg_category.h"
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
    CG_RUN(test_cidrs);
    CG_DONE("test_util");
}
