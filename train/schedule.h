/* schedule.h — the learning-rate schedule: linear warmup, then cosine or
 * linear decay to a minimum, or constant.
 *
 * For step s = 0 .. steps-1 (the s-th optimizer update), peak lr L, minimum
 * m and W warmup steps:
 *   s < W:        L · (s + 1) / W                      (reaches L at s = W-1)
 *   s >= W:       p = (s − W) / (steps − W), in [0, 1)
 *     cosine:     m + (L − m) · (1 + cos(π p)) / 2
 *     linear:     L − (L − m) · p
 *     constant:   L
 * so decay starts at L and would reach m one step after the last. Computed
 * in double. Not an optimizer: the trainer passes the value to AdamW.
 */
#ifndef LB_SCHEDULE_H
#define LB_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lb_schedule_kind {
    LB_SCHEDULE_COSINE = 0,
    LB_SCHEDULE_LINEAR,
    LB_SCHEDULE_CONSTANT,
} lb_schedule_kind;

typedef struct lb_schedule {
    lb_schedule_kind kind;
    double lr, min_lr;
    int64_t warmup, steps;
} lb_schedule;

/* lb_schedule_parse: "cosine", "linear" or "constant" into *kind; false for
 * anything else. */
bool lb_schedule_parse(const char *name, lb_schedule_kind *kind);

/* lb_schedule_lr: the learning rate of update s (0-based). */
double lb_schedule_lr(const lb_schedule *s, int64_t step);

#endif
