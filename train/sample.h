/* sample.h — choosing the next token from logits: greedy, temperature,
 * top-k and top-p (nucleus), with an explicit RNG state (no globals).
 */
#ifndef LB_SAMPLE_H
#define LB_SAMPLE_H

#include <stdint.h>

typedef struct lb_rng {
    uint64_t s;
} lb_rng;

/* lb_rng_seed: a generator from a seed (splitmix64). */
void lb_rng_seed(lb_rng *r, uint64_t seed);
/* lb_rng_u64 / lb_rng_uniform: next 64 bits; a double in [0, 1). */
uint64_t lb_rng_u64(lb_rng *r);
double lb_rng_uniform(lb_rng *r);

typedef struct lb_sampler {
    float temperature;   /* 0 = greedy (argmax; ties to the lowest id) */
    int64_t top_k;       /* 0 = no limit */
    float top_p;         /* 1 = no limit */
} lb_sampler;

typedef struct lb_prob_id {
    float p;
    int32_t id;
} lb_prob_id;

/* lb_sample: the next token id from logits[0..V). `work` is scratch for V
 * entries. Deterministic for a given RNG state. */
int32_t lb_sample(const lb_sampler *s, const float *logits, int64_t V, lb_rng *rng,
                  lb_prob_id *work);

#endif
