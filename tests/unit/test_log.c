/*
 * test_log.c - the log rate limiter (cg_log.c): a flood of one error is a
 * bounded number of lines that carry the counts, different errors are not
 * merged, the first of a key is never dropped, info lines are never
 * limited, and no line is lost or double-counted across threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_test.h"

/* what was written to stderr between capture_start and capture_end */
static FILE *cap_fp;
static int cap_saved = -1;

static void capture_start(void)
{
    fflush(stderr);
    cap_fp = tmpfile();
    cap_saved = dup(2);
    dup2(fileno(cap_fp), 2);
}

/* capture_end - the captured text (malloc'ed) */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    long n = ftell(cap_fp);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(cap_fp);
    size_t got = fread(s, 1, (size_t)(n > 0 ? n : 0), cap_fp);
    s[got] = 0;
    fclose(cap_fp);
    return s;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, len);
        if (!needle || strstr(line, needle))
            n++;
        free(line);
        p += len + (e ? 1 : 0);
    }
    return n;
}

/* sum_repeats - the total of every "(repeated N times" count in s */
static long sum_repeats(const char *s)
{
    long total = 0;
    for (const char *p = strstr(s, "(repeated "); p; p = strstr(p + 1, "(repeated ")) {
        long n = 0;
        for (const char *q = p + 10; *q && *q != ' '; q++)
            if (*q >= '0' && *q <= '9')
                n = n * 10 + (*q - '0');
        total += n;
    }
    return total;
}

static void test_flood_is_bounded(void)
{
    cg_log_limit_interval(10000);
    capture_start();
    for (int i = 0; i < 10000; i++)
        cg_log(LOG_ERR, "%04X%06X: store: commit failed: %s", i, i * 7,
               "database or disk is full");
    cg_log_flush(1);
    char *out = capture_end();
    CG_CHECK(count_lines(out, NULL) == 2);
    CG_CHECK(count_lines(out, "0000000000: store: commit failed: database or disk is full") == 1);
    CG_CHECK_CONTAINS(out, "store: commit failed: database or disk is full (repeated 9,999 times "
                           "in the last ");
    free(out);
}

static void test_different_errors_not_merged(void)
{
    cg_log_limit_interval(10000);
    capture_start();
    for (int i = 0; i < 5000; i++) {
        cg_log(LOG_ERR, "store: %s", "database or disk is full");
        cg_log(LOG_ERR, "store: %s", "database is locked");
        cg_log(LOG_WARNING, "store: checkpoint: %s", "database is locked");
    }
    cg_log_flush(1);
    char *out = capture_end();
    CG_CHECK(count_lines(out, NULL) == 6);
    CG_CHECK(count_lines(out, "store: database or disk is full") == 2);
    CG_CHECK(count_lines(out, "store: database is locked") == 2);
    CG_CHECK(count_lines(out, "warning: store: checkpoint: database is locked") == 2);
    CG_CHECK(sum_repeats(out) == 3 * 4999);
    free(out);
}

static void test_interval_and_first_line(void)
{
    cg_log_limit_interval(100);
    capture_start();
    cg_log(LOG_ERR, "disk full (attempt %d)", 1);
    cg_log(LOG_ERR, "disk full (attempt %d)", 2);
    cg_log(LOG_ERR, "disk full (attempt %d)", 3);
    usleep(150 * 1000);
    /* a new interval: the report of the old one, then this line itself */
    cg_log(LOG_ERR, "disk full (attempt %d)", 4);
    usleep(150 * 1000);
    cg_log(LOG_INFO, "an info line lets a due report out");
    char *out = capture_end();
    CG_CHECK(count_lines(out, NULL) == 4);
    CG_CHECK_CONTAINS(out, "error: disk full (attempt 1)\n");
    CG_CHECK_CONTAINS(out, "error: disk full (attempt 3) (repeated 2 times in the last 1 s)\n");
    CG_CHECK_CONTAINS(out, "error: disk full (attempt 4)\n");
    CG_CHECK(strstr(out, "(attempt 3) (repeated") < strstr(out, "(attempt 4)\n"));
    CG_CHECK(count_lines(out, "an info line") == 1);
    free(out);
    /* nothing is owed any more */
    capture_start();
    cg_log_flush(1);
    out = capture_end();
    CG_CHECK_STR(out, "");
    free(out);
    cg_log_limit_interval(10000);
}

static void test_info_never_limited(void)
{
    capture_start();
    for (int i = 0; i < 1000; i++)
        cg_log(LOG_INFO, "NOQUEUE: ref=CG%016X stage=eom verdict=accept", i);
    cg_log_flush(1);
    char *out = capture_end();
    CG_CHECK(count_lines(out, "verdict=accept") == 1000);
    CG_CHECK(strstr(out, "repeated") == NULL);
    free(out);
}

static void test_many_keys(void)
{
    /* more distinct errors than the table has slots: none is dropped */
    capture_start();
    for (int i = 0; i < 200; i++)
        cg_log(LOG_ERR, "plugin: lookup of domain-%c%c.example failed", 'a' + i % 26,
               'a' + i / 26);
    cg_log_flush(1);
    char *out = capture_end();
    CG_CHECK(count_lines(out, "failed") == 200);
    free(out);
}

static void *flood_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++)
        cg_log(LOG_ERR, "%05d: store: cannot record the contact: %s", i, "disk I/O error");
    return NULL;
}

static void test_threads_count_everything(void)
{
    cg_log_limit_interval(10000);
    capture_start();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, flood_thread, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cg_log_flush(1);
    char *out = capture_end();
    int logged = count_lines(out, "disk I/O error") - count_lines(out, "(repeated");
    CG_CHECK(logged == 1);
    CG_CHECK(logged + sum_repeats(out) == 40000);
    free(out);
}

int main(void)
{
    cg_log_open("test_log", 0, 1, LOG_INFO);
    CG_RUN(test_flood_is_bounded);
    CG_RUN(test_different_errors_not_merged);
    CG_RUN(test_interval_and_first_line);
    CG_RUN(test_info_never_limited);
    CG_RUN(test_many_keys);
    CG_RUN(test_threads_count_everything);
    CG_DONE("test_log");
}
