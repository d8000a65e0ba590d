/* gpu_elementwise.c — achieved memory bandwidth of the CUDA elementwise
 * kernels against the device-to-device copy ceiling measured in the same
 * run. Memory-bound ops: the floor is (bytes read + bytes written) / copy
 * bandwidth. Median of 7 batches of 20 launches, timed with a host clock
 * around a stream synchronization. Prints a table; asserts nothing.
 * Built and run by gpu_elementwise.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

#define REPS 20
#define BATCHES 7

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(lb_ctx *ctx, void *arg);

/* median seconds per launch */
static double time_it(lb_ctx *ctx, bench_fn fn, void *arg)
{
    double t[BATCHES];
    fn(ctx, arg);   /* warm-up */
    lb_cuda_sync(ctx);
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_s();
        for (int r = 0; r < REPS; r++) fn(ctx, arg);
        lb_cuda_sync(ctx);
        t[b] = (now_s() - t0) / REPS;
    }
    qsort(t, BATCHES, sizeof *t, cmp_d);
    return t[BATCHES / 2];
}

typedef struct bufs {
    void *a, *b, *out, *f32, *small, *da, *db;
    float *scalar;
    int64_t n, nb;
} bufs;

static void b_copy(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_memcpy_d2d(c, x->out, x->a, (size_t)x->n * 2); }
static void b_silu(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_silu_fwd(c, x->a, x->out, x->n, LB_BF16); }
static void b_silu_bwd(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_silu_bwd(c, x->a, x->b, x->out, x->n, LB_BF16); }
static void b_gelu(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_gelu_fwd(c, x->a, x->out, x->n, true, LB_BF16); }
static void b_add(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_add_fwd(c, x->a, x->b, x->out, x->n, x->n, LB_BF16, LB_BF16); }
static void b_add_bias(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_add_fwd(c, x->a, x->small, x->out, x->n, x->nb, LB_BF16, LB_F32); }
static void b_swiglu(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_swiglu_fwd(c, x->a, x->b, x->out, x->n, LB_BF16); }
static void b_swiglu_bwd(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_swiglu_bwd(c, x->a, x->b, x->out, x->da, x->db, x->n, false, LB_BF16); }
static void b_bias_grad(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_add_bwd(c, x->a, NULL, x->small, x->n, x->nb, LB_BF16, LB_F32); }
static void b_sum(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_sum_fwd(c, x->a, x->scalar, x->n, LB_BF16); }
static void b_cast(lb_ctx *c, void *p) { bufs *x = p; lb_cuda_cast(c, x->f32, x->out, x->n, LB_F32, LB_BF16); }
/* the op layer: output from the step pool, freed at step end, every call */
static void b_op_silu(lb_ctx *c, void *p)
{
    lb_tensor *t = p;
    lb_silu(c, t);
    lb_ctx_step_end(c);
}

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU\n");
        return 0;
    }
    lb_ctx ctx;
    lb_status st = lb_ctx_init(&ctx, LB_CUDA);
    if (lb_failed(&st)) {
        fprintf(stderr, "%s\n", st.msg);
        return 1;
    }
    lb_ctx_set_grad(&ctx, false);
    bufs x = {.n = (int64_t)1 << 26, .nb = 4096};   /* 64M bf16 = 128 MiB per operand */
    size_t nbytes = (size_t)x.n * 2;
    x.a = lb_cuda_malloc(nbytes);
    x.b = lb_cuda_malloc(nbytes);
    x.out = lb_cuda_malloc(nbytes);
    x.da = lb_cuda_malloc(nbytes);
    x.db = lb_cuda_malloc(nbytes);
    x.f32 = lb_cuda_malloc(nbytes * 2);
    x.small = lb_cuda_malloc((size_t)x.nb * 4);
    x.scalar = lb_cuda_malloc(4);
    /* non-zero data: 0.5 everywhere in a and b (bf16 0x3f00), f32 ones */
    lb_cuda_add_scalar(&ctx, x.a, 0.5f, x.n, LB_BF16);
    lb_cuda_add_scalar(&ctx, x.b, -0.25f, x.n, LB_BF16);
    lb_cuda_add_scalar(&ctx, x.f32, 1.5f, x.n, LB_F32);
    lb_tensor *t = lb_tensor_new_dev(&ctx, LB_CUDA, LB_BF16, 1, &x.n);
    lb_cuda_memcpy_d2d(&ctx, t->data, x.a, nbytes);
    /* t lives in step memory: keep it out of the per-call step end */
    lb_tensor pt = *t;
    pt.data = x.a;

    struct {
        const char *name;
        bench_fn fn;
        void *arg;
        double bytes;
    } rows[] = {
        {"d2d copy (ceiling)", b_copy, &x, 2.0 * nbytes},
        {"silu fwd", b_silu, &x, 2.0 * nbytes},
        {"silu bwd (acc)", b_silu_bwd, &x, 4.0 * nbytes},
        {"gelu tanh fwd", b_gelu, &x, 2.0 * nbytes},
        {"add fwd (full)", b_add, &x, 3.0 * nbytes},
        {"add fwd (f32 bias 4096)", b_add_bias, &x, 2.0 * nbytes},
        {"swiglu fwd", b_swiglu, &x, 3.0 * nbytes},
        {"swiglu bwd (acc)", b_swiglu_bwd, &x, 7.0 * nbytes},
        {"bias grad (colsum 4096)", b_bias_grad, &x, 1.0 * nbytes},
        {"sum fwd", b_sum, &x, 1.0 * nbytes},
        {"cast f32->bf16", b_cast, &x, 3.0 * nbytes},
        {"lb_silu (op + step pool)", b_op_silu, &pt, 2.0 * nbytes},
    };
    int nrows = (int)(sizeof rows / sizeof *rows);
    double ceiling = 0.0;
    printf("%-26s %10s %10s %8s\n", "kernel (64M bf16 elems)", "us", "GB/s", "of copy");
    for (int i = 0; i < nrows; i++) {
        double s = time_it(&ctx, rows[i].fn, rows[i].arg);
        double gbs = rows[i].bytes / s / 1e9;
        if (i == 0) ceiling = gbs;
        printf("%-26s %10.1f %10.0f %7.0f%%\n", rows[i].name, s * 1e6, gbs, 100.0 * gbs / ceiling);
    }
    lb_cuda_sync(&ctx);
    void *ps[] = {x.a, x.b, x.out, x.da, x.db, x.f32, x.small, x.scalar};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) lb_cuda_free_ptr(ps[i]);
    lb_ctx_free(&ctx);
    return 0;
}
