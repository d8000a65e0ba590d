/* cmd_bench.c — `lowbit bench`: throughput and memory of a training step.
 *
 *   lowbit bench --what train-step --config NAME|FILE.json [--batch 4] [--ctx 2048]
 *                [--steps 10] [--warmup 3] [--device auto] [--seed 0] [--lr 1e-4] [--json]
 *                [--profile] [--wq SPEC] [--recompute none|blocks]
 *
 * --wq SPEC (e.g. int4:g128) times the QAT step: every linear of the blocks
 * fake-quantizes its weight with SPEC, attached as `lowbit train --wq`
 * attaches it (lb_run_quant_attach); learned scales (lsq) get their own
 * AdamW group, stepped after the weights'.
 *
 * --recompute blocks times the step with per-block activation
 * recomputation (ctx->recompute, autograd/recompute.h), as `lowbit train
 * --recompute blocks` runs it: less peak memory, one more forward of the
 * blocks in backward. MFU below counts the model's FLOPs only, so the
 * rerun forward lowers it.
 *
 * Builds a randomly initialised model of the config's shape directly on the
 * device (no checkpoint is read or written), then times full training steps
 * on random tokens: forward with the loss (cross-entropy over all B·T
 * predictions), backward, AdamW (one multi-tensor launch on CUDA). Reports
 * the median step time, tokens/s, model FLOPs utilisation and memory, and
 * the median time of each phase (CUDA events on the GPU, the wall clock on
 * the CPU).
 *
 * MFU = (6·N·tokens + 12·L·C·T·tokens) / step time / peak, PaLM's formula:
 * N counts the parameters that take part in matrix products (all but an
 * untied input embedding table), the second term the attention score and
 * value products (QK^T and PV, forward and backward, counted without the
 * causal mask's saving); peak = 989 TFLOP/s, the H100 SXM's dense bf16 rate
 * (LB_BENCH_PEAK_TFLOPS overrides it). The PyTorch peer
 * (scripts/bench/torch_train_step.py) uses the same formula.
 *
 * --profile (or LB_PROFILE=1 in the environment), on CUDA: the op-level
 * profiler (ctx->profile; autograd/tape.c, kernels/cuda/profile.cu). Each
 * recorded forward op closes a segment of the stream that began where the
 * previous op (or the step's zero_grad) ended, so a forward row holds the
 * op's kernels and any copies it made; each backward node is bracketed by
 * two events; AdamW and zero_grad by the bench's own. Events are only
 * recorded during the step and read once after it. After the timed steps
 * a table goes to stderr: per label (direction, op, first input's shape ->
 * output's shape), calls and device ms per step and % of the median step,
 * and the gaps: mean step time minus the rows' sum (what ran between
 * backward nodes: the loss seed, and the device idling on the host).
 *
 * --config here names the model config (a preset or FILE.json), not a flags
 * file, as in `lowbit init`.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/cli/presets.h"
#include "train/optim.h"
#include "train/run_quant.h"

#define H100_BF16_DENSE_TFLOPS 989.0

typedef struct bench_flags {
    const char *what, *device;
    const char *wq;           /* --wq: weight fake-quant spec, or NULL */
    const char *recompute;    /* --recompute: none | blocks */
    int64_t batch, ctx, steps, warmup, seed, threads;
    double lr;
    bool json, profile;
} bench_flags;

typedef struct phase_times {
    double fwd, bwd, opt, step;   /* ms */
} phase_times;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A point in time on the context's device: a recorded event on CUDA, the
 * wall clock after all queued work on the CPU. */
typedef struct mark {
    void *ev;
    double ms;
} mark;

static mark mark_now(lb_ctx *ctx)
{
    mark k = {NULL, 0};
    if (ctx->device == LB_CUDA) k.ev = lb_cuda_event_record(ctx);
    else k.ms = now_ms();
    return k;
}

static double mark_ms(const mark *a, const mark *b)
{
    return a->ev ? (double)lb_cuda_event_ms(a->ev, b->ev) : b->ms - a->ms;
}

/* random_batch: ids (B, T) and next-token targets (B·T) of a random token
 * stream (B rows of T + 1 tokens), as CPU step tensors. */
static void random_batch(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t *rng, lb_tensor **ids,
                         lb_tensor **targets)
{
    *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
    *targets = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B * T));
    int32_t *id = (*ids)->data, *tg = (*targets)->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t <= T; t++) {
            *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL; /* LCG, high bits */
            int32_t tok = (int32_t)((*rng >> 33) % (uint64_t)V);
            if (t > 0) tg[b * T + t - 1] = tok;
            if (t < T) id[b * T + t] = tok;
        }
}

/* train_step: zero grads, forward + loss, backward, AdamW; returns the loss
 * (read back only when want_loss, which waits for the device). */
static float train_step(lb_ctx *ctx, lb_model *m, lb_adamw *opt, const bench_flags *f, uint64_t *rng,
                        phase_times *pt, bool want_loss)
{
    const int64_t B = f->batch, T = f->ctx, V = m->cfg.vocab_size;
    lb_tensor *ids, *targets;
    random_batch(ctx, B, T, V, rng, &ids, &targets);
    mark t0 = mark_now(ctx);
    if (ctx->profile) lb_cuda_prof_mark(ctx, NULL);
    lb_model_zero_grad(ctx, m);
    if (ctx->profile) lb_cuda_prof_mark(ctx, "step zero_grad");
    /* targets stay on the host: the loss op checks them there and copies them up */
    lb_tensor *logits = lb_model_forward(ctx, m, ids, NULL);          // (B, T, V)
    logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));             // (B·T, V)
    lb_tensor *loss = lb_cross_entropy(ctx, logits, targets, NULL, NULL);
    mark t1 = mark_now(ctx);
    lb_backward(ctx, loss);
    mark t2 = mark_now(ctx);
    if (ctx->profile) lb_cuda_prof_mark(ctx, NULL);
    lb_adamw_step(ctx, opt, (float)f->lr, 1.0f);
    if (ctx->profile) lb_cuda_prof_mark(ctx, "step adamw");
    mark t3 = mark_now(ctx);
    float lv = NAN;
    if (want_loss) lb_tensor_copy_to_host(ctx, loss, &lv);
    pt->fwd = mark_ms(&t0, &t1);
    pt->bwd = mark_ms(&t1, &t2);
    pt->opt = mark_ms(&t2, &t3);
    pt->step = mark_ms(&t0, &t3);
    mark *ms[4] = {&t0, &t1, &t2, &t3};
    for (int i = 0; i < 4; i++) lb_cuda_event_free(ms[i]->ev);
    lb_ctx_step_end(ctx);
    return lv;
}

/* model_flops: per step, PaLM's 6N·tokens + 12·L·C·T·tokens (see the top). */
static double model_flops(const lb_model_config *c, int64_t B, int64_t T, int64_t *n_matmul)
{
    int64_t n = lb_config_n_params(c);
    if (!c->tie_embeddings) n -= c->vocab_size * c->hidden_size;   /* the lookup table does no GEMM */
    if (c->arch == LB_ARCH_GPT2) n -= c->max_pos * c->hidden_size; /* nor the position table */
    *n_matmul = n;
    double tokens = (double)B * (double)T;
    return 6.0 * (double)n * tokens +
           12.0 * (double)c->n_layers * (double)(c->n_heads * c->head_dim) * (double)T * tokens;
}

static int cmp_row_ms(const void *a, const void *b)
{
    double x = ((const lb_prof_row *)a)->ms, y = ((const lb_prof_row *)b)->ms;
    return (x < y) - (x > y);
}

/* print_profile: the profiler's rows per step, largest first, with each
 * one's share of the median step, then the gaps (mean step minus the sum). */
static void print_profile(lb_ctx *ctx, int64_t steps, double step_sum_ms, double med_step_ms)
{
    const lb_prof_row *src;
    size_t n = lb_cuda_prof_rows(ctx, &src);
    lb_prof_row *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return;
    memcpy(rows, src, n * sizeof *rows);
    qsort(rows, n, sizeof *rows, cmp_row_ms);
    double sum = 0, fwd = 0, bwd = 0;
    for (size_t i = 0; i < n; i++) {
        sum += rows[i].ms;
        if (!strncmp(rows[i].label, "fwd ", 4)) fwd += rows[i].ms;
        if (!strncmp(rows[i].label, "bwd ", 4)) bwd += rows[i].ms;
    }
    const double k = 1.0 / (double)steps;
    fprintf(stderr, "profile: %lld timed steps, device ms per step (CUDA events), %% of the median step %.2f ms\n",
            (long long)steps, med_step_ms);
    fprintf(stderr, "  %-62s %7s %9s %6s\n", "op (dir op input -> output)", "calls", "ms", "%");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %-62s %7.0f %9.3f %5.1f%%\n", rows[i].label, (double)rows[i].calls * k,
                rows[i].ms * k, 100.0 * rows[i].ms * k / med_step_ms);
    double gaps = step_sum_ms * k - sum * k;
    fprintf(stderr, "  %-62s %7s %9.3f %5.1f%%\n", "(forward ops)", "", fwd * k, 100.0 * fwd * k / med_step_ms);
    fprintf(stderr, "  %-62s %7s %9.3f %5.1f%%\n", "(backward nodes)", "", bwd * k, 100.0 * bwd * k / med_step_ms);
    fprintf(stderr, "  %-62s %7s %9.3f %5.1f%%\n", "(gaps: mean step - sum of rows)", "", gaps,
            100.0 * gaps / med_step_ms);
    free(rows);
}

typedef struct bench_result {
    phase_times med;
    double tokens_per_s, mfu, flops, peak_tflops;
    double plan_gib, peak_alloc_gib, device_used_gib;
    float loss_first, loss_last;
    int64_t n_params, n_matmul;
} bench_result;

/* quant_setup: with --wq, the trainer's quantizers on m (on its device) and,
 * when they learn scales, their optimizer in *qopt (else qopt->n == 0). */
static lb_status quant_setup(lb_ctx *ctx, lb_model *m, const char *wq, const lb_adamw_cfg *acfg, lb_adamw *qopt)
{
    if (!wq || !*wq) return lb_ok();
    LB_TRY(lb_status_prefix(lb_run_quant_attach(ctx, m, wq, NULL, NULL, false), "bench"));
    int n = lb_run_quant_params(m, NULL, 0);
    if (n == 0) return lb_ok();
    lb_tensor **ps = calloc((size_t)n, sizeof *ps);
    LB_CHECK(ps != NULL);
    lb_run_quant_params(m, ps, n);
    lb_adamw_cfg qc = *acfg;
    qc.weight_decay = 0.0f;
    lb_status st = lb_adamw_init(qopt, ps, n, NULL, &qc);
    free(ps);
    return st;
}

/* quant_step: the learned quantizer parameters' AdamW step, then their
 * grads zeroed for the next step (untimed: a few small tensors). */
static void quant_step(lb_ctx *ctx, lb_adamw *qopt, double lr)
{
    lb_adamw_step(ctx, qopt, (float)lr, 1.0f);
    lb_run_quant_zero_grads(ctx, qopt->params, qopt->n);
}

static lb_status run_train_step(const bench_flags *f, const char *spec, bench_result *r)
{
    lb_model_config cfg;
    LB_TRY(lb_cli_model_config("bench", spec, &cfg));
    LB_TRY(lb_config_validate(&cfg, spec));
    if (f->batch < 1 || f->ctx < 2 || f->steps < 1 || f->warmup < 0)
        return lb_errorf(LB_ERR_ARG, "bench: need --batch >= 1, --ctx >= 2, --steps >= 1, --warmup >= 0");
    if (cfg.arch == LB_ARCH_GPT2 && f->ctx > cfg.max_pos)
        return lb_errorf(LB_ERR_ARG, "bench: --ctx %lld exceeds the model's %lld positions", (long long)f->ctx,
                         (long long)cfg.max_pos);
    if (strcmp(f->recompute, "none") && strcmp(f->recompute, "blocks"))
        return lb_errorf(LB_ERR_ARG, "bench: --recompute must be none or blocks, got '%s'", f->recompute);
    lb_ctx ctx;
    LB_TRY(lb_cli_ctx_init(&ctx, f->device, f->threads));
    ctx.recompute = !strcmp(f->recompute, "blocks");
    lb_model m;
    lb_status st = lb_model_init_random_dev(&ctx, &m, &cfg, (uint64_t)f->seed, ctx.device, LB_PLAN_TRAIN, f->json);
    if (lb_failed(&st)) {
        lb_ctx_free(&ctx);
        return st;
    }
    lb_adamw opt;
    lb_adamw_cfg acfg = lb_adamw_defaults();
    st = lb_adamw_init_model(&opt, &m, &acfg);
    if (lb_failed(&st)) {
        lb_model_free(&m);
        lb_ctx_free(&ctx);
        return st;
    }
    lb_adamw qopt = {0};
    st = quant_setup(&ctx, &m, f->wq, &acfg, &qopt);
    if (lb_failed(&st)) {
        lb_adamw_free(&opt);
        lb_model_free(&m);
        lb_ctx_free(&ctx);
        return st;
    }
    if (!f->json)
        fprintf(stderr, "bench: train-step %s on %s, batch %lld x ctx %lld, %.1fM params, %lld warm-up + %lld steps, "
                "recompute %s\n",
                spec, lb_device_name(ctx.device), (long long)f->batch, (long long)f->ctx,
                (double)lb_config_n_params(&cfg) / 1e6, (long long)f->warmup, (long long)f->steps, f->recompute);
    uint64_t rng = (uint64_t)f->seed * 2 + 1;
    ctx.profile = f->profile && ctx.device == LB_CUDA;
    double step_sum = 0;
    phase_times pt;
    double *v[4];
    for (int i = 0; i < 4; i++) v[i] = malloc((size_t)f->steps * sizeof(double));
    for (int64_t s = 0; s < f->warmup + f->steps; s++) {
        bool first = s == 0, last = s == f->warmup + f->steps - 1;
        float lv = train_step(&ctx, &m, &opt, f, &rng, &pt, first || last);
        if (qopt.n) quant_step(&ctx, &qopt, f->lr);
        if (ctx.profile) lb_cuda_prof_step(&ctx, s >= f->warmup);
        if (first) r->loss_first = lv;
        if (last) r->loss_last = lv;
        if (s >= f->warmup) {
            int64_t k = s - f->warmup;
            v[0][k] = pt.fwd;
            v[1][k] = pt.bwd;
            v[2][k] = pt.opt;
            v[3][k] = pt.step;
            step_sum += pt.step;
        }
        if (!f->json)
            fprintf(stderr, "  step %lld%s: %.1f ms (fwd %.1f, bwd %.1f, adamw %.1f)\n", (long long)s,
                    s < f->warmup ? " (warm-up)" : "", pt.step, pt.fwd, pt.bwd, pt.opt);
    }
    r->med.fwd = median(v[0], f->steps);
    r->med.bwd = median(v[1], f->steps);
    r->med.opt = median(v[2], f->steps);
    r->med.step = median(v[3], f->steps);
    if (ctx.profile) print_profile(&ctx, f->steps, step_sum, r->med.step);
    for (int i = 0; i < 4; i++) free(v[i]);

    const double gib = 1024.0 * 1024.0 * 1024.0;
    r->n_params = lb_config_n_params(&cfg);
    r->flops = model_flops(&cfg, f->batch, f->ctx, &r->n_matmul);
    const char *pk = getenv("LB_BENCH_PEAK_TFLOPS");
    r->peak_tflops = pk ? atof(pk) : H100_BF16_DENSE_TFLOPS;
    r->tokens_per_s = (double)(f->batch * f->ctx) / (r->med.step * 1e-3);
    r->mfu = r->flops / (r->med.step * 1e-3) / (r->peak_tflops * 1e12);
    r->plan_gib = (double)m.plan_bytes / gib;
    size_t fr = 0, tot = 0, step_peak = 0;
    if (ctx.device == LB_CUDA) {
        lb_cuda_mem_info(&fr, &tot);
        step_peak = lb_cuda_step_peak(&ctx);
    } else {
        step_peak = ctx.arena.peak;   /* the CPU's step memory (parameters and state are not in a plan) */
    }
    r->peak_alloc_gib = (double)(m.plan_bytes + step_peak) / gib;
    r->device_used_gib = (double)(tot - fr) / gib;
    lb_adamw_free(&qopt);
    lb_adamw_free(&opt);
    lb_model_free(&m);
    lb_ctx_free(&ctx);
    return lb_ok();
}

static void print_result(const bench_flags *f, const char *spec, const bench_result *r)
{
    if (f->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "what", "train-step");
        cJSON_AddStringToObject(o, "config", spec);
        cJSON_AddStringToObject(o, "wq", f->wq && *f->wq ? f->wq : "none");
        cJSON_AddStringToObject(o, "recompute", f->recompute);
        cJSON_AddNumberToObject(o, "batch", (double)f->batch);
        cJSON_AddNumberToObject(o, "ctx", (double)f->ctx);
        cJSON_AddNumberToObject(o, "steps", (double)f->steps);
        cJSON_AddNumberToObject(o, "params", (double)r->n_params);
        cJSON_AddNumberToObject(o, "matmul_params", (double)r->n_matmul);
        cJSON_AddNumberToObject(o, "step_ms", r->med.step);
        cJSON_AddNumberToObject(o, "fwd_ms", r->med.fwd);
        cJSON_AddNumberToObject(o, "bwd_ms", r->med.bwd);
        cJSON_AddNumberToObject(o, "adamw_ms", r->med.opt);
        cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
        cJSON_AddNumberToObject(o, "flops_per_step", r->flops);
        cJSON_AddNumberToObject(o, "peak_tflops", r->peak_tflops);
        cJSON_AddNumberToObject(o, "mfu", r->mfu);
        cJSON_AddNumberToObject(o, "plan_gib", r->plan_gib);
        cJSON_AddNumberToObject(o, "peak_alloc_gib", r->peak_alloc_gib);
        cJSON_AddNumberToObject(o, "device_used_gib", r->device_used_gib);
        cJSON_AddNumberToObject(o, "loss_first", isfinite(r->loss_first) ? r->loss_first : -1);
        cJSON_AddNumberToObject(o, "loss_last", isfinite(r->loss_last) ? r->loss_last : -1);
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    printf("train-step %s, batch %lld x ctx %lld: median step %.2f ms (forward+loss %.2f, backward %.2f, "
           "adamw %.2f)\n",
           spec, (long long)f->batch, (long long)f->ctx, r->med.step, r->med.fwd, r->med.bwd, r->med.opt);
    printf("  %.0f tokens/s, MFU %.1f%% of %.0f TFLOP/s (%.3g FLOP/step), loss %.4f -> %.4f\n", r->tokens_per_s,
           100 * r->mfu, r->peak_tflops, r->flops, (double)r->loss_first, (double)r->loss_last);
    printf("  memory: plan %.2f GiB, peak allocated %.2f GiB (plan + step pool), device in use %.2f GiB\n",
           r->plan_gib, r->peak_alloc_gib, r->device_used_gib);
}

int lb_cmd_bench(int argc, char **argv)
{
    bench_flags f = {.what = "train-step", .recompute = "none", .batch = 4, .ctx = 2048, .steps = 10, .warmup = 3,
                     .lr = 1e-4};
    const char *prof_env = getenv("LB_PROFILE");
    f.profile = prof_env && !strcmp(prof_env, "1");
    const lb_flag flags[] = {
        {"what", LB_FLAG_STR, &f.what, "what to measure: train-step (default)"},
        {"batch", LB_FLAG_INT, &f.batch, "sequences per step (default 4)"},
        {"ctx", LB_FLAG_INT, &f.ctx, "tokens per sequence (default 2048)"},
        {"steps", LB_FLAG_INT, &f.steps, "timed steps (default 10)"},
        {"warmup", LB_FLAG_INT, &f.warmup, "untimed steps first (default 3)"},
        {"lr", LB_FLAG_FLOAT, &f.lr, "AdamW learning rate (default 1e-4)"},
        {"seed", LB_FLAG_INT, &f.seed, "init and data seed (default 0)"},
        {"device", LB_FLAG_STR, &f.device, "cpu|cuda|auto (default auto)"},
        {"threads", LB_FLAG_INT, &f.threads, "CPU threads (default: all)"},
        {"json", LB_FLAG_BOOL, &f.json, "print one JSON object"},
        {"wq", LB_FLAG_STR, &f.wq, "weight fake-quant spec of every block linear (e.g. int4:g128): the QAT step"},
        {"recompute", LB_FLAG_STR, &f.recompute,
         "none|blocks: rerun each block's forward in backward instead of keeping its activations (default none)"},
        {"profile", LB_FLAG_BOOL, &f.profile,
         "CUDA: per-op device times (events) of the timed steps, a table on stderr (also LB_PROFILE=1)"},
    };
    lb_flag_store store = {0};
    const lb_cli_cmd cmd = {"bench",
                            "Time training steps (forward + loss, backward, AdamW) of a random-init model of a "
                            "preset's or config.json's shape. Here --config names the model config.",
                            "lowbit bench --what train-step --config NAME|FILE.json [flags]", flags,
                            (int)(sizeof flags / sizeof flags[0]), &store};
    /* take --config out of argv: here it is the model config */
    const char *spec = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc = 0;
    lb_status st = lb_ok();
    if (!rest) {
        st = lb_errorf(LB_ERR_OOM, "out of memory");
        return lb_cli_error(&st);
    }
    st = lb_cli_take_config("bench", argc, argv, &spec, rest, &nrest);
    bool help = false;
    if (!lb_failed(&st)) st = lb_flags_parse(&cmd, nrest, rest, &help);
    if (!lb_failed(&st) && help) {
        lb_flags_help(&cmd, stdout);
        printf("\npresets (--config NAME):\n");
        lb_cli_presets_print(stdout);
        goto out;
    }
    if (!lb_failed(&st) && strcmp(f.what, "train-step"))
        st = lb_errorf(LB_ERR_ARG, "bench: --what %s is not known (train-step)", f.what);
    if (!lb_failed(&st) && !spec)
        st = lb_errorf(LB_ERR_ARG, "bench: --config NAME|FILE.json is required (see lowbit help bench)");
    bench_result r;
    memset(&r, 0, sizeof r);
    if (!lb_failed(&st)) st = run_train_step(&f, spec, &r);
    if (lb_failed(&st)) rc = lb_cli_error(&st);
    else print_result(&f, spec, &r);
out:
    free(rest);
    lb_flag_store_free(&store);
    return rc;
}
