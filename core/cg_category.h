/*
 * cg_category.h - contact categories and category patterns (SPEC
 * "Categories"): the names departments claim and policies apply to.
 */
#ifndef CG_CATEGORY_H
#define CG_CATEGORY_H

/* Category patterns: "*", "a.b" (exact), "a.b.*" (a.b itself and below).
 * cg_category_valid: a dotted name of [a-z0-9_-] labels (pattern: may end
 * in ".*" or be "*"). */
int cg_category_valid(const char *name, int allow_pattern);
int cg_category_match(const char *pattern, const char *category);
/* cg_category_subsumes - does every name matching `inner` (a pattern) also
 * match `outer`? */
int cg_category_subsumes(const char *outer, const char *inner);

#endif
