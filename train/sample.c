/* sample.c — greedy, temperature, top-k and top-p sampling. */
#include "train/sample.h"

#include <math.h>
#include <stdlib.h>

void lb_rng_seed(lb_rng *r, uint64_t seed) { r->s = seed; }

uint64_t lb_rng_u64(lb_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double lb_rng_uniform(lb_rng *r) { return (double)(lb_rng_u64(r) >> 11) / 9007199254740992.0; }

static int32_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

/* Probability descending, ties by id, so the order is total. */
static int by_prob_desc(const void *a, const void *b)
{
    const lb_prob_id *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t lb_sample(const lb_sampler *s, const float *logits, int64_t V, lb_rng *rng,
                  lb_prob_id *w)
{
    if (s->temperature <= 0.0f) return argmax(logits, V);
    float mx = logits[argmax(logits, V)];
    double sum = 0;
    for (int64_t i = 0; i < V; i++) {
        w[i].p = expf((logits[i] - mx) / s->temperature);
        w[i].id = (int32_t)i;
        sum += w[i].p;
    }
    for (int64_t i = 0; i < V; i++) w[i].p = (float)(w[i].p / sum);
    qsort(w, (size_t)V, sizeof *w, by_prob_desc);
    int64_t keep = V;
    if (s->top_k > 0 && s->top_k < keep) keep = s->top_k;
    if (s->top_p < 1.0f) {
        double c = 0;
        for (int64_t i = 0; i < keep; i++) {
            c += w[i].p;
            if (c >= s->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    double mass = 0;
    for (int64_t i = 0; i < keep; i++) mass += w[i].p;
    double u = lb_rng_uniform(rng) * mass, c = 0;
    for (int64_t i = 0; i < keep; i++) {
        c += w[i].p;
        if (u < c) return w[i].id;
    }
    return w[keep - 1].id;
}
