/*
 * cg_csv.h - the CSV record reader of the bulk imports (customer map,
 * opt-outs).
 */
#ifndef CG_CSV_H
#define CG_CSV_H

#include <stddef.h>
#include <stdio.h>

/* A CSV record reader for the bulk imports (RFC 4180: comma-separated,
 * fields may be double-quoted, "" is a quote inside one, a quoted field
 * may span lines). Unquoted fields lose surrounding blanks; blank lines
 * and a leading UTF-8 byte-order mark are skipped; every field must be
 * UTF-8. Fields point into a buffer reused for the next record: nothing
 * is allocated per record once the buffers have grown. */
struct cg_csv {
    long line;                /* first line of the record just read */
    char **field;             /* the record's fields */
    size_t n;                 /* how many */
    /* private */
    FILE *fp;
    long next_line;
    char *rec, *tmp;
    size_t rec_cap, tmp_cap, field_cap;
};
void cg_csv_init(struct cg_csv *c, FILE *fp);
/* 1 a record, 0 end of file, -1 malformed (*why set; c->line names it) */
int cg_csv_next(struct cg_csv *c, const char **why);
void cg_csv_free(struct cg_csv *c);

#endif
