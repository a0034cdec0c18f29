/*
 * cg_category.c - category names and patterns (cg_category.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_category.h"
#include "cg_util.h"

/* cg_label_char - a character allowed in a category label */
static int cg_label_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* cg_category_valid - dotted [a-z0-9_-] labels; patterns may end in ".*" */
int cg_category_valid(const char *name, int allow_pattern)
{
    if (!name || !*name || strlen(name) > 128)
        return 0;
    if (allow_pattern && strcmp(name, "*") == 0)
        return 1;
    size_t len = strlen(name);
    if (allow_pattern && len > 2 && strcmp(name + len - 2, ".*") == 0)
        len -= 2;
    int label = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (!label)
                return 0;
            label = 0;
        } else if (cg_label_char((unsigned char)name[i])) {
            label++;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* cg_category_match - pattern "*", exact, or "a.b.*" (a.b and below) */
int cg_category_match(const char *pattern, const char *category)
{
    if (!pattern || !category)
        return 0;
    if (strcmp(pattern, "*") == 0)
        return 1;
    size_t plen = strlen(pattern);
    if (plen > 2 && strcmp(pattern + plen - 2, ".*") == 0) {
        size_t base = plen - 2;
        return strncmp(pattern, category, base) == 0 &&
               (category[base] == 0 || category[base] == '.');
    }
    return strcmp(pattern, category) == 0;
}

/* cg_category_subsumes - every name matching inner also matches outer */
int cg_category_subsumes(const char *outer, const char *inner)
{
    if (!outer || !inner)
        return 0;
    if (strcmp(outer, "*") == 0)
        return 1;
    if (strcmp(inner, "*") == 0)
        return 0;
    size_t ilen = strlen(inner);
    if (ilen > 2 && strcmp(inner + ilen - 2, ".*") == 0) {
        /* inner covers base and everything below: outer must be a pattern
         * whose base is a prefix (on label boundaries) of inner's base */
        size_t olen = strlen(outer);
        if (!(olen > 2 && strcmp(outer + olen - 2, ".*") == 0))
            return 0;
        char *ibase = cg_xstrndup(inner, ilen - 2);
        int r = cg_category_match(outer, ibase);
        free(ibase);
        return r;
    }
    return cg_category_match(outer, inner);
}
