/* progress.c — a redrawn bar on a terminal, throttled plain lines elsewhere.
 * See progress.h for the contract; this file holds no global state. */
#include "datasets/progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

double lb_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lb_progress_init(lb_progress *p, const char *label, int64_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->label = label ? label : "";
    p->unit = unit ? unit : "";
    p->total = total;
    p->out = stderr;
    p->tty = isatty(fileno(stderr)) == 1;
    p->enabled = true;
    p->interval_s = p->tty ? 0.1 : 10.0;
    p->t0 = p->t_last = lb_progress_now();
}

/* 3 significant digits: 5, 12.3, 456, 1.20k */
static void sig3(double v, const char *suffix, char *buf, size_t cap)
{
    if (v < 10 && v != floor(v)) snprintf(buf, cap, "%.2f%s", v, suffix);
    else if (v < 100 && v != floor(v)) snprintf(buf, cap, "%.1f%s", v, suffix);
    else snprintf(buf, cap, "%.0f%s", v, suffix);
}

char *lb_progress_human(double v, const char *unit, char *buf, size_t cap)
{
    static const char *const k_si[] = {"", "k", "M", "G", "T", "P"};
    static const char *const k_bytes[] = {" B", " kB", " MB", " GB", " TB", " PB"};
    bool bytes = unit && !strcmp(unit, "B");
    int e = 0;
    if (!(v >= 0) || isinf(v)) v = 0;
    while (v >= 999.5 && e < 5) {
        v /= 1000;
        e++;
    }
    if (e > 0 && v < 10) snprintf(buf, cap, "%.2f%s", v, bytes ? k_bytes[e] : k_si[e]);
    else if (e > 0 && v < 100) snprintf(buf, cap, "%.1f%s", v, bytes ? k_bytes[e] : k_si[e]);
    else sig3(v, bytes ? k_bytes[e] : k_si[e], buf, cap);
    return buf;
}

static void clock_text(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

int lb_progress_format(const lb_progress *p, int64_t done, double elapsed_s, bool bar, char *buf,
                       size_t cap)
{
    bool bytes = !strcmp(p->unit, "B");
    const char *sep = bar ? "  " : ", ";
    char d[32], t[32], r[32], clk[32];
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    lb_progress_human((double)done, p->unit, d, sizeof d);
    lb_progress_human(rate, p->unit, r, sizeof r);
    const char *u = bytes ? "" : " ";
    const char *uname = bytes ? "" : p->unit;
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", p->label, bar ? " " : ": ");
    if (p->total > 0) {
        double frac = (double)done / (double)p->total;
        if (frac > 1) frac = 1;
        if (frac < 0) frac = 0;
        if (bar && n < cap) {
            int fill = (int)(frac * BAR_WIDTH);
            n += (size_t)snprintf(buf + n, cap - n, "[%.*s%.*s]  ", fill, "########################",
                                  BAR_WIDTH - fill, "........................");
        }
        lb_progress_human((double)p->total, p->unit, t, sizeof t);
        bool finished = done >= p->total;
        if (finished) clock_text(elapsed_s, clk, sizeof clk);
        else clock_text(rate > 0 ? (double)(p->total - done) / rate : -1, clk, sizeof clk);
        if (n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%3d%%%s%s/%s%s%s%s%s%s%s/s%s%s %s",
                                  (int)(frac * 100), bar ? "  " : " ", d, t, u, uname, sep, r, u,
                                  uname, sep, finished ? "in" : "ETA", clk);
    } else {
        clock_text(elapsed_s, clk, sizeof clk);
        if (n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s%s%s%s/s%s%s", d, u, uname, sep, r, u,
                                  uname, sep, clk);
    }
    return (int)(n < cap ? n : cap - 1);
}

static void draw(lb_progress *p, double now, bool final)
{
    char line[512];
    int len = lb_progress_format(p, p->done, now - p->t0, p->tty, line, sizeof line);
    if (p->tty) {
        int pad = p->last_len > len ? p->last_len - len : 0;
        fprintf(p->out, "\r%s%*s%s", line, pad, "", final ? "\n" : "");
        p->last_len = len;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->t_last = now;
    p->drawn = true;
}

void lb_progress_update(lb_progress *p, int64_t done)
{
    p->done = done;
    if (!p->enabled) return;
    double now = lb_progress_now();
    if (now - p->t_last >= p->interval_s) draw(p, now, false);
}

void lb_progress_add(lb_progress *p, int64_t delta)
{
    lb_progress_update(p, p->done + delta);
}

void lb_progress_finish(lb_progress *p)
{
    if (!p->enabled) return;
    if (p->tty || p->drawn) draw(p, lb_progress_now(), true);
    p->enabled = false;
}
