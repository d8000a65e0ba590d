/* progress.h — a progress reporter for long work (data, eval, train).
 *
 * On a terminal (isatty of the output stream) it redraws one line in place:
 *     label [#########.........]  45%  1.20M/2.67M tok  3.40M tok/s  ETA 0:12
 * Elsewhere (a log file, a pipe, CI) it prints a plain line at most every
 * `interval_s` seconds (default 10), so logs stay readable:
 *     label: 45% 1.20M/2.67M tok, 3.40M tok/s, ETA 0:12
 * With total <= 0 the percentage, bar and ETA are left out. Units: "B" shows
 * sizes as kB/MB/GB (powers of 1000); any other unit is shown with k/M/G
 * suffixes. Rate and ETA use the whole elapsed time since init (a stable
 * average, not an instantaneous rate).
 *
 * It is not a logger and holds no global state; one reporter per piece of
 * work, used from one thread. Reporting is throttled inside update, so
 * calling it per item is cheap (one clock read).
 */
#ifndef LB_PROGRESS_H
#define LB_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lb_progress {
    const char *label;     /* not owned; must outlive the reporter */
    const char *unit;      /* "tok", "B", "win", ... (not owned) */
    int64_t total;         /* <= 0: unknown */
    int64_t done;
    FILE *out;
    bool tty;              /* redraw in place (else periodic plain lines) */
    bool enabled;          /* false: every call is a no-op */
    double interval_s;     /* seconds between reports: 0.1 on a tty, 10 otherwise */
    double t0, t_last;     /* monotonic seconds */
    int last_len;          /* width of the last drawn tty line */
    bool drawn;            /* anything printed yet */
} lb_progress;

/* lb_progress_init: a reporter writing to stderr, enabled, tty-ness from
 * isatty(stderr), clock started now. Change out/tty/enabled/interval_s
 * after init if needed (e.g. enabled = false for --quiet). */
void lb_progress_init(lb_progress *p, const char *label, int64_t total, const char *unit);

/* lb_progress_update: sets the amount done (absolute) and reports if the
 * interval has passed since the last report. */
void lb_progress_update(lb_progress *p, int64_t done);

/* lb_progress_add: lb_progress_update(p, p->done + delta). */
void lb_progress_add(lb_progress *p, int64_t delta);

/* lb_progress_finish: on a tty draws the final state and ends the line; on
 * other streams prints a final line only if a periodic line was printed
 * (short work stays silent in logs). Idempotent. */
void lb_progress_finish(lb_progress *p);

/* lb_progress_format: the report text for `done` of the reporter's total
 * after `elapsed_s` seconds, without bar (bar = false) or with it, into
 * buf (always NUL-terminated). Exposed for tests and for callers that
 * print progress inside their own lines. Returns the length written. */
int lb_progress_format(const lb_progress *p, int64_t done, double elapsed_s, bool bar, char *buf,
                       size_t cap);

/* lb_progress_human: `v` with a k/M/G suffix (or kB/MB/GB for unit "B"),
 * 3 significant digits, into buf. Returns buf. */
char *lb_progress_human(double v, const char *unit, char *buf, size_t cap);

/* lb_progress_now: monotonic clock in seconds (for callers timing their own work). */
double lb_progress_now(void);

#endif
