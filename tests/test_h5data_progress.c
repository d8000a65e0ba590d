/* test_h5data_progress.c — the progress reporter (datasets/progress): the
 * text of a report (numbers, units, ETA), plain-line throttling to a
 * non-terminal stream, and the bar's in-place redraw. */
#include <stdlib.h>
#include <string.h>

#include "datasets/progress.h"
#include "harness.h"

static void test_human(void)
{
    char b[32];
    LB_EXPECT(!strcmp(lb_progress_human(5, "tok", b, sizeof b), "5"));
    LB_EXPECT(!strcmp(lb_progress_human(999, "tok", b, sizeof b), "999"));
    LB_EXPECTF(!strcmp(lb_progress_human(1234, "tok", b, sizeof b), "1.23k"), "%s", b);
    LB_EXPECTF(!strcmp(lb_progress_human(45.6e6, "tok", b, sizeof b), "45.6M"), "%s", b);
    LB_EXPECTF(!strcmp(lb_progress_human(2.5e9, "B", b, sizeof b), "2.50 GB"), "%s", b);
    LB_EXPECTF(!strcmp(lb_progress_human(512, "B", b, sizeof b), "512 B"), "%s", b);
    LB_EXPECTF(!strcmp(lb_progress_human(3.25, "win", b, sizeof b), "3.25"), "%s", b);
}

static void test_format(void)
{
    lb_progress p;
    lb_progress_init(&p, "tokenize", 2000000, "B");
    char line[256];
    lb_progress_format(&p, 500000, 2.0, false, line, sizeof line);
    /* 25% after 2 s at 250 kB/s: 6 s left */
    LB_EXPECTF(!strcmp(line, "tokenize:  25% 500 kB/2.00 MB, 250 kB/s, ETA 0:06"), "%s", line);
    lb_progress_format(&p, 2000000, 3725.0, true, line, sizeof line);
    LB_EXPECTF(strstr(line, "[########################]") && strstr(line, "100%") &&
               strstr(line, "in 1:02:05"), "%s", line);
    lb_progress_format(&p, 1000000, 1.0, true, line, sizeof line);
    LB_EXPECTF(strstr(line, "[############............]"), "%s", line);
    p.total = 0;
    p.unit = "tok";
    lb_progress_format(&p, 1500, 0.5, false, line, sizeof line);
    LB_EXPECTF(!strcmp(line, "tokenize: 1.50k tok, 3.00k tok/s, 0:01"), "%s", line);
    p.total = 10;
    lb_progress_format(&p, 0, 0.0, false, line, sizeof line);   /* no rate yet */
    LB_EXPECTF(strstr(line, "ETA ?"), "%s", line);
}

static void test_plain_lines(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    lb_progress p;
    lb_progress_init(&p, "eval", 100, "win");
    p.out = mem;
    p.tty = false;
    p.interval_s = 1e9;   /* nothing periodic in this test */
    for (int i = 0; i < 100; i++) lb_progress_add(&p, 1);
    lb_progress_finish(&p);
    fflush(mem);
    LB_EXPECTF(len == 0, "short work printed: %s", buf);   /* silent in logs */
    p.enabled = true;
    p.interval_s = 0;   /* every update reports */
    lb_progress_update(&p, 50);
    lb_progress_finish(&p);
    lb_progress_finish(&p);   /* idempotent */
    fflush(mem);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    LB_EXPECTF(lines == 2 && !strchr(buf, '\r') && strstr(buf, "eval:  50%"), "%s", buf);
    fclose(mem);
    free(buf);
}

static void test_tty_redraw(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    lb_progress p;
    lb_progress_init(&p, "train", 4, "step");
    p.out = mem;
    p.tty = true;
    p.interval_s = 0;
    for (int i = 1; i <= 4; i++) lb_progress_update(&p, i);
    lb_progress_finish(&p);
    fclose(mem);
    int cr = 0, nl = 0;
    for (size_t i = 0; i < len; i++) {
        cr += buf[i] == '\r';
        nl += buf[i] == '\n';
    }
    LB_EXPECTF(cr == 5 && nl == 1 && buf[len - 1] == '\n' && strstr(buf, "100%"), "%s", buf);
    free(buf);
}

int main(void)
{
    LB_RUN(test_human);
    LB_RUN(test_format);
    LB_RUN(test_plain_lines);
    LB_RUN(test_tty_redraw);
    return lb_test_summary();
}
