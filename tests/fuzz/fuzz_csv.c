/*
 * fuzz_csv.c - libFuzzer target: the CSV record reader of the bulk
 * imports (cg_csv_init / cg_csv_next / cg_csv_free in
 * core/store/cg_store_admin.c), which reads the CRM's customer map and
 * opt-out files for `contactgatectl customers|optout import`.
 *
 * The input is the file, read through a memory stream. Invariants: a
 * record has at least one field and its field array is NULL-terminated;
 * no field contains a NUL before its end or a byte outside UTF-8 (the
 * reader promises "every field must be UTF-8"); record line numbers only
 * grow; a malformed record says why and where; the end of the file is
 * reported once and stays reported.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_common.h"
#include "cg_csv.h"

/* utf8_len - length of the UTF-8 sequence at s, 0 if malformed (a
 * decoder of our own, to check the reader's) */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp, min;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0fu, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet++)
        fz_log_quiet("fuzz_csv");
    if (size == 0)
        return 0;
    FILE *fp = fmemopen((void *)data, size, "r");
    if (!fp)
        abort();
    struct cg_csv csv;
    cg_csv_init(&csv, fp);
    long last_line = 0;
    const char *why = NULL;
    int r;
    while ((r = cg_csv_next(&csv, &why)) > 0) {
        if (csv.n < 1 || csv.field[csv.n] != NULL)
            fz_fail("record at line %ld: %zu fields, array not NULL-terminated", csv.line,
                    csv.n);
        if (csv.line < 1 || csv.line <= last_line)
            fz_fail("record at line %ld after one at line %ld", csv.line, last_line);
        last_line = csv.line;
        for (size_t i = 0; i < csv.n; i++) {
            const unsigned char *f = (const unsigned char *)csv.field[i];
            for (size_t k = 0; f[k];) {
                size_t n = utf8_len(f + k);
                if (!n)
                    fz_fail("line %ld field %zu: byte 0x%02x at %zu is not UTF-8", csv.line, i,
                            f[k], k);
                k += n;
            }
        }
    }
    if (r < 0 && (!why || !*why || csv.line < 1))
        fz_fail("malformed record without a reason or line (line %ld)", csv.line);
    if (r == 0 && cg_csv_next(&csv, &why) != 0)
        fz_fail("a record after the end of the file");
    cg_csv_free(&csv);
    fclose(fp);
    return 0;
}
