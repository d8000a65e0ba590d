/* ops_check.h — the checking loop shared by the op tests (test_ops_*.c).
 *
 * An op test supplies a double-precision reference forward; opc_check runs
 * the op's fp32 forward against it, then its backward against central
 * finite differences of the reference (so the FD noise is ~1e-10, far below
 * fp32 rounding), with the scalar loss L = sum(out * r) for a random r. Every
 * input's grad is pre-seeded with OPC_PRESEED before the backward, which
 * checks that backward ACCUMULATES rather than overwrites.
 *
 * The helpers are static inline in this header because each test binary is
 * built from one test file plus harness.c; only test_ops_*.c include it.
 */
#ifndef LB_TESTS_OPS_CHECK_H
#define LB_TESTS_OPS_CHECK_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "harness.h"

/* fp32 unit roundoff: the relative error of one rounded fp32 operation. */
#define OPC_U32 (1.0 / 16777216.0)

/* opc_tol: the tolerance for fp32 against double when each output goes
 * through a reduction of length k plus a few correctly-rounded or ulp-level
 * ops (exp, divide, sqrt): the classic bound (k + 8) u on the error relative
 * to the largest magnitude, times 4 for the libm ops that are ~1-2 ulp. */
static inline double opc_tol(int64_t k) { return 4.0 * (double)(k + 8) * OPC_U32; }

/* Relative errors are taken against max(max |ref|, OPC_FLOOR): a result that
 * is all tiny is compared at the scale of its inputs (O(1) in these tests). */
#define OPC_FLOOR 1e-3

/* Step of the central differences in the double reference: truncation error
 * ~h^2 |f'''| ~ 1e-10 and cancellation ~1e-16 / h ~ 1e-11, both far below
 * the fp32 tolerance. */
#define OPC_FD_STEP 1e-5

/* Grads start here and the backward must add to it; small, so that the
 * rounding of (OPC_PRESEED + grad) stays below the grad's own rounding. */
#define OPC_PRESEED 0.015625f

/* opc_ref_fn: the double reference forward; reads in[0..n) (the f32 inputs
 * of the case, widened) and writes out. `p` is the test's parameters. */
typedef void (*opc_ref_fn)(const void *p, double *const *in, double *out);

typedef struct opc_case {
    opc_ref_fn ref;
    const void *params;
    int n_in;
    lb_tensor *in[4];     /* the f32 inputs the reference reads, in order */
    lb_tensor *out;       /* the op's output */
    double fwd_tol, bwd_tol;
} opc_case;

/* opc_rand: a step tensor of random values in [lo, hi). */
static inline lb_tensor *opc_rand(lb_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed,
                                  float lo, float hi, bool requires_grad)
{
    lb_tensor *t = lb_tensor_new(ctx, LB_F32, ndim, shape);
    lb_test_rand(t->data, lb_tensor_numel(t), seed, lo, hi);
    t->requires_grad = requires_grad;
    return t;
}

/* opc_widen: t's data as a malloc'd double array (free it). */
static inline double *opc_widen(const lb_tensor *t)
{
    int64_t n = lb_tensor_numel(t);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = ((const float *)t->data)[i];
    return d;
}

/* opc_run_backward: seeds out's grad with r and runs the recorded tape. */
static inline void opc_run_backward(lb_ctx *ctx, lb_tensor *out, const float *r)
{
    lb_tensor *g = lb_grad_of(ctx, out);
    memcpy(g->data, r, (size_t)lb_tensor_numel(out) * sizeof(float));
    for (lb_node *n = ctx->tape; n; n = n->prev)
        if (n->out->grad) n->backward(ctx, n);
}

static inline double opc_loss(const double *out, const float *r, int64_t n)
{
    double l = 0.0;
    for (int64_t i = 0; i < n; i++) l += out[i] * r[i];
    return l;
}

/* opc_check: forward against the reference, then (when the output requires
 * grad) every input's grad against finite differences. */
static inline void opc_check(lb_ctx *ctx, const opc_case *c, const char *what)
{
    int64_t n_out = lb_tensor_numel(c->out);
    double *in[4] = {0}, *ref = malloc((size_t)(n_out ? n_out : 1) * sizeof(double));
    for (int i = 0; i < c->n_in; i++) in[i] = opc_widen(c->in[i]);
    c->ref(c->params, in, ref);
    double err = lb_test_max_rel(c->out->data, ref, n_out, OPC_FLOOR);
    bool verbose = getenv("OPC_VERBOSE") != NULL;   /* prints every error and its tolerance */
    if (verbose) printf("    %s: forward %.3g (tol %.3g)\n", what, err, c->fwd_tol);
    LB_EXPECTF(err <= c->fwd_tol, "%s: forward rel err %.3g > tol %.3g", what, err, c->fwd_tol);

    if (c->out->requires_grad && n_out > 0) {
        float *r = malloc((size_t)n_out * sizeof *r);
        lb_test_rand(r, n_out, 77, -1.0f, 1.0f);
        for (int i = 0; i < c->n_in; i++) {
            if (!c->in[i]->requires_grad) continue;
            float *g = lb_grad_of(ctx, c->in[i])->data;
            for (int64_t j = 0; j < lb_tensor_numel(c->in[i]); j++) g[j] = OPC_PRESEED;
        }
        opc_run_backward(ctx, c->out, r);
        for (int i = 0; i < c->n_in; i++) {
            lb_tensor *t = c->in[i];
            int64_t n = lb_tensor_numel(t);
            if (!t->requires_grad) {
                LB_EXPECTF(t->grad == NULL, "%s: input %d has a grad but requires none", what, i);
                continue;
            }
            double *fd = malloc((size_t)n * sizeof *fd);
            float *an = malloc((size_t)n * sizeof *an);
            for (int64_t j = 0; j < n; j++) {
                double x0 = in[i][j];
                in[i][j] = x0 + OPC_FD_STEP;
                c->ref(c->params, in, ref);
                double lp = opc_loss(ref, r, n_out);
                in[i][j] = x0 - OPC_FD_STEP;
                c->ref(c->params, in, ref);
                double lm = opc_loss(ref, r, n_out);
                in[i][j] = x0;
                fd[j] = (lp - lm) / (2.0 * OPC_FD_STEP);
                an[j] = ((const float *)t->grad->data)[j] - OPC_PRESEED;
            }
            double gerr = lb_test_max_rel(an, fd, n, OPC_FLOOR);
            if (verbose) printf("    %s: grad %d %.3g (tol %.3g)\n", what, i, gerr, c->bwd_tol);
            LB_EXPECTF(gerr <= c->bwd_tol, "%s: grad of input %d rel err %.3g > tol %.3g", what, i,
                       gerr, c->bwd_tol);
            free(fd);
            free(an);
        }
        free(r);
    }
    for (int i = 0; i < c->n_in; i++) free(in[i]);
    free(ref);
}

/* opc_expect_abort: runs fn in a child process, which must abort (a failed
 * LB_CHECK) with a message on stderr that contains `needle` (e.g. the
 * shapes involved). */
static inline void opc_expect_abort(void (*fn)(void), const char *needle, const char *what)
{
    int fd[2];
    if (pipe(fd) != 0) {
        lb_test_fail(__FILE__, __LINE__, "%s: pipe failed", what);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn();
        _exit(0);
    }
    close(fd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    buf[n] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    LB_EXPECTF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: did not abort", what);
    LB_EXPECTF(strstr(buf, needle) != NULL, "%s: message lacks \"%s\": %s", what, needle, buf);
}

/* opc_ctx: a fresh CPU context (aborts on failure: the tests cannot run). */
static inline void opc_ctx(lb_ctx *ctx)
{
    lb_status st = lb_ctx_init(ctx, LB_CPU);
    if (lb_failed(&st)) {
        fprintf(stderr, "ctx init: %s\n", st.msg);
        abort();
    }
}

#endif
