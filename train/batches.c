/* batches.c — seeded, sharded, resumable window sampler (see batches.h). */
#include "train/batches.h"

#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

lb_status lb_batches_open(lb_batches *b, const char *path, int64_t ctx, int64_t batch, int rank, int world,
                          uint64_t seed, int64_t vocab_limit)
{
    memset(b, 0, sizeof *b);
    LB_CHECK(ctx >= 1 && batch >= 1 && world >= 1 && rank >= 0 && rank < world);
    LB_TRY(lb_h5_tokens_open(&b->file, path));
    lb_status st = lb_ok();
    if (b->file.n_tokens < ctx + 1)
        st = lb_errorf(LB_ERR_ARG, "%s holds %lld tokens, fewer than one training window of --ctx %lld + 1", path,
                       (long long)b->file.n_tokens, (long long)ctx);
    else if (b->file.vocab_size > vocab_limit)
        st = lb_errorf(LB_ERR_SHAPE, "%s was tokenized with a vocabulary of %lld but the model's is %lld", path,
                       (long long)b->file.vocab_size, (long long)vocab_limit);
    if (!lb_failed(&st)) {
        b->buf = malloc((size_t)(ctx + 1) * sizeof *b->buf);
        if (!b->buf) st = lb_errorf(LB_ERR_OOM, "out of memory");
    }
    if (lb_failed(&st)) {
        lb_h5_tokens_close(&b->file);
        memset(b, 0, sizeof *b);
        return st;
    }
    b->ctx = ctx;
    b->batch = batch;
    b->rank = rank;
    b->world = world;
    b->seed = seed;
    return lb_ok();
}

int64_t lb_batches_position(const lb_batches *b, int64_t d)
{
    uint64_t h = splitmix64(splitmix64(b->seed) ^ (uint64_t)d);
    uint64_t P = (uint64_t)(b->file.n_tokens - b->ctx); /* starts 0 .. n − T − 1 */
    return (int64_t)(((unsigned __int128)h * P) >> 64);
}

void lb_batches_seek(lb_batches *b, int64_t step) { b->next_draw = step * b->batch * b->world; }

lb_status lb_batches_next(lb_batches *b, int32_t *ids, int32_t *targets, int64_t vocab_limit)
{
    const int64_t T = b->ctx;
    for (int64_t j = 0; j < b->batch; j++) {
        int64_t d = b->next_draw + j * b->world + b->rank;
        int64_t pos = lb_batches_position(b, d);
        LB_TRY(lb_h5_tokens_read(&b->file, pos, T + 1, b->buf));
        for (int64_t t = 0; t <= T; t++)
            if ((int64_t)b->buf[t] >= vocab_limit)
                return lb_errorf(LB_ERR_ARG, "%s: token %lld has id %u, outside the model's vocabulary of %lld",
                                 b->file.path, (long long)(pos + t), b->buf[t], (long long)vocab_limit);
        for (int64_t t = 0; t < T; t++) {
            ids[j * T + t] = (int32_t)b->buf[t];
            targets[j * T + t] = (int32_t)b->buf[t + 1];
        }
    }
    b->next_draw += b->batch * b->world;
    return lb_ok();
}

void lb_batches_close(lb_batches *b)
{
    if (!b) return;
    lb_h5_tokens_close(&b->file);
    free(b->buf);
    memset(b, 0, sizeof *b);
}
