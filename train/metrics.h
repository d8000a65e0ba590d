/* metrics.h — RUN_DIR/metrics.jsonl: one JSON object per line.
 *
 * Step lines (every --log-every steps, and every skipped step):
 *   {"step": 12, "loss": 5.1234, "lr": 0.0003, "grad_norm": 1.23,
 *    "tokens_per_s": 12345.6, "rss_mb": 210.5, "gpu_mb": 0, "skipped": false}
 * `step` counts optimizer updates (1-based: the line of step s is written
 * after update s). `loss` is the mean over the step's micro-batches of the
 * training loss, printed with 17 significant digits (exact for the double);
 * a skipped step (non-finite loss or grad norm: no update) has
 * "loss": null, "skipped": true and a "reason".
 * Eval lines: {"step": 20, "eval": {"ppl": ..., "nll": ..., "windows": 16,
 *    "ctx": 128}}.
 *
 * Lines are flushed as written. On resume from step s the file is first
 * rewritten (atomically) keeping only complete lines of steps <= s, so the
 * steps that are redone appear once.
 */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/status.h"

typedef struct lb_metrics {
    FILE *fp;
    char *path;
} lb_metrics;

typedef struct lb_step_metrics {
    int64_t step;
    double loss, lr, grad_norm, tokens_per_s;
    double rss_mb, gpu_mb;
    bool skipped;
    const char *reason;      /* when skipped */
} lb_step_metrics;

/* lb_metrics_open: opens `path` for appending; with keep_upto >= 0 first
 * drops every line whose step is above it (and any incomplete line); with
 * keep_upto < 0 starts an empty file. */
lb_status lb_metrics_open(lb_metrics *m, const char *path, int64_t keep_upto);

lb_status lb_metrics_step(lb_metrics *m, const lb_step_metrics *s);
lb_status lb_metrics_eval(lb_metrics *m, int64_t step, double ppl, double nll, int64_t windows, int64_t ctx);

void lb_metrics_close(lb_metrics *m);

/* lb_rss_mb: this process's resident set size in MiB (from /proc; 0 when
 * unavailable). */
double lb_rss_mb(void);

#endif
