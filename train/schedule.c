/* schedule.c — warmup + cosine / linear / constant (see schedule.h). */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

bool lb_schedule_parse(const char *name, lb_schedule_kind *kind)
{
    if (!strcmp(name, "cosine")) *kind = LB_SCHEDULE_COSINE;
    else if (!strcmp(name, "linear")) *kind = LB_SCHEDULE_LINEAR;
    else if (!strcmp(name, "constant")) *kind = LB_SCHEDULE_CONSTANT;
    else return false;
    return true;
}

double lb_schedule_lr(const lb_schedule *s, int64_t step)
{
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    if (s->kind == LB_SCHEDULE_CONSTANT) return s->lr;
    int64_t span = s->steps - s->warmup;
    double p = span > 0 ? (double)(step - s->warmup) / (double)span : 0.0;
    if (p > 1) p = 1;
    if (s->kind == LB_SCHEDULE_LINEAR) return s->lr - (s->lr - s->min_lr) * p;
    return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * p));
}
