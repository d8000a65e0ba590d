/* batches.h — training batches from an HDF5 token file: packed windows of
 * T+1 tokens (T inputs, T shifted targets) at random positions.
 *
 * The scheme (deterministic, resumable, sharded):
 *   - draws are numbered d = 0, 1, 2, ... over the whole run and all ranks;
 *   - draw d starts at position  pos(d) = ⌊hash(seed, d) · P / 2^64⌋  with
 *     P = n_tokens − T (every start whose window fits), hash = splitmix64 of
 *     seed and d (counter-based: any draw can be computed on its own);
 *   - optimizer step s (0-based) with per-rank batch B on a world of N
 *     consumes draws [s·B·N, (s+1)·B·N); rank r of N takes every N-th of
 *     them: the draws s·B·N + j·N + r for j = 0 .. B−1.
 * Hence: the same seed gives the same data on every machine; N ranks with
 * batch B see disjoint draws whose union is exactly what one rank with
 * batch N·B sees at the same step (the distributed promise of DESIGN §7);
 * and the data position of a run is just the next draw number, so resuming
 * needs only that integer (lb_batches_seek). Windows cross document
 * boundaries (EOS separates documents; packed, as GPT pretraining does).
 *
 * Not thread-safe (HDF5); not a tokenizer. Windows are drawn with
 * replacement.
 */
#ifndef LB_BATCHES_H
#define LB_BATCHES_H

#include <stdint.h>

#include "datasets/h5data.h"

typedef struct lb_batches {
    lb_h5_tokens file;
    int64_t ctx;             /* T */
    int64_t batch;           /* B, per rank */
    int rank, world;
    uint64_t seed;
    int64_t next_draw;       /* global draw number of the next step's first draw */
    uint32_t *buf;           /* (T+1) staging */
} lb_batches;

/* lb_batches_open: opens `path` (validated as a token file) for windows of
 * ctx+1 tokens. Errors: the file holds fewer than ctx+1 tokens, token ids
 * not below vocab_limit (the model's vocabulary; checked as batches are
 * read, naming the position), a vocab_size attribute above vocab_limit. On
 * failure *b needs no cleanup. */
lb_status lb_batches_open(lb_batches *b, const char *path, int64_t ctx, int64_t batch, int rank, int world,
                          uint64_t seed, int64_t vocab_limit);

/* lb_batches_position: the start token of global draw d. */
int64_t lb_batches_position(const lb_batches *b, int64_t d);

/* lb_batches_seek: the next step reads the draws of optimizer step `step`. */
void lb_batches_seek(lb_batches *b, int64_t step);

/* lb_batches_next: fills ids and targets (B·T i32 each, row-major (B, T))
 * with this rank's windows of the next step and advances the position by
 * B·N draws. `vocab_limit` as in open. */
lb_status lb_batches_next(lb_batches *b, int32_t *ids, int32_t *targets, int64_t vocab_limit);

void lb_batches_close(lb_batches *b);

#endif
