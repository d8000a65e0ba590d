/* trainer.c — the training loop (see trainer.h). */
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/h5data.h"
#include "datasets/progress.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "layers/fileio.h"
#include "layers/model.h"
#include "train/batches.h"
#include "train/calib.h"
#include "train/dist.h"
#include "train/eval.h"
#include "train/kd.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/run_ckpt.h"
#include "train/run_quant.h"
#include "train/schedule.h"

/* Everything one run holds; freed by run_free whatever state it is in. */
typedef struct run {
    const lb_train_config *c;
    lb_ctx *ctx;
    bool quiet;
    lb_dist dist;
    lb_model m, teacher;
    bool has_model, has_teacher;
    lb_adamw opt_w, opt_q;
    bool has_opt_w, has_opt_q;
    lb_tensor **qparams;
    int n_qparams;
    lb_tensor **all;          /* weights then quantizer parameters (checkpointed) */
    int n_all;
    lb_batches data;
    bool has_data;
    lb_h5_tokens val;
    bool has_val;
    lb_metrics metrics;
    lb_schedule sched;
    lb_run_state state;       /* step, data position, streak; losses (capacity steps) */
    int32_t *ids, *targets;   /* (B, T) this step's windows */
    char *config_json;
} run;

static char *join(const char *a, const char *b)
{
    char *p = lb_path_join(a, b);
    LB_CHECK(p != NULL);
    return p;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static lb_status mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    return lb_ok();
}

/* ---- set-up ------------------------------------------------------------------------ */

static lb_status h5_val_read(void *self, int64_t start, int64_t n, int32_t *dst)
{
    LB_TRY(lb_h5_tokens_read(self, start, n, (uint32_t *)dst));
    return lb_ok();
}

static void print_plan(const run *r, FILE *f)
{
    const double MiB = 1024.0 * 1024.0;
    int64_t w = 0, q = 0;
    for (int i = 0; i < r->m.n_params; i++) w += lb_tensor_numel(r->m.params[i]);
    for (int i = 0; i < r->n_qparams; i++) q += lb_tensor_numel(r->qparams[i]);
    const lb_train_config *c = r->c;
    int64_t V = r->m.cfg.vocab_size;
    /* the largest activations of one micro-batch: the logits and their grad */
    double logits = (double)(c->micro_batch * c->ctx * V) * 4 * 2;
    fprintf(f, "memory plan (%s):\n", lb_device_name(r->ctx->device));
    fprintf(f, "  weights (f32 master)     %10.2f MiB  (%lld parameters)\n", (double)w * 4 / MiB, (long long)w);
    fprintf(f, "  grads                    %10.2f MiB\n", (double)w * 4 / MiB);
    fprintf(f, "  AdamW m, v               %10.2f MiB\n", (double)w * 8 / MiB);
    if (r->n_qparams)
        fprintf(f, "  quantizer params (+grad, m, v) %4.2f MiB  (%lld values)\n", (double)q * 16 / MiB, (long long)q);
    if (r->has_teacher) fprintf(f, "  KD teacher weights       %10.2f MiB\n", (double)w * 4 / MiB);
    fprintf(f, "  block activations        %s\n",
            r->ctx->recompute ? "only each block's input kept; blocks rerun in backward (--recompute blocks)"
                              : "kept until backward (--recompute none)");
    fprintf(f, "  logits + grad per micro-batch %5.2f MiB  (%lld x %lld x %lld); the step arena's peak is "
               "printed after step 1\n", logits / MiB, (long long)c->micro_batch, (long long)c->ctx, (long long)V);
}

static lb_status setup(run *r)
{
    const lb_train_config *c = r->c;
    LB_TRY(lb_dist_init(&r->dist));

    /* the run directory */
    char *cfg_path = join(c->out, "config.json");
    bool is_run = exists(cfg_path);
    lb_status st = lb_ok();
    if (!c->resume && is_run)
        st = lb_errorf(LB_ERR_ARG, "train: %s already holds a run (config.json); pass --resume to continue it or "
                       "choose a new --out", c->out);
    if (!lb_failed(&st)) st = mkdir_p(c->out);
    r->config_json = lb_train_config_to_json(c);
    if (!lb_failed(&st) && lb_dist_is_main(&r->dist)) st = lb_train_config_save(c, cfg_path);
    free(cfg_path);
    LB_TRY(st);

    /* the model, its quantizers, the teacher */
    LB_TRY(lb_model_load(&r->m, c->model));
    r->has_model = true;
    if (lb_train_config_is_qat(c))
        LB_TRY(lb_status_prefix(lb_run_quant_attach(r->ctx, &r->m, c->wq, c->aq, c->quantize_layers, c->quantize_embeddings),
                                "train"));
    if (c->quantize_head) LB_TRY(lb_status_prefix(lb_run_quant_attach_head(r->ctx, &r->m, c->wq), "train"));
    LB_TRY(lb_model_to_plan(r->ctx, &r->m, r->ctx->device, LB_PLAN_TRAIN, r->quiet));
    if (c->kd) {
        LB_TRY(lb_model_load(&r->teacher, c->model));
        r->has_teacher = true;
        for (int i = 0; i < r->teacher.n_params; i++) r->teacher.params[i]->requires_grad = false;
        LB_TRY(lb_model_to_plan(r->ctx, &r->teacher, r->ctx->device, 0, true));
    }

    /* optimizers: weights; quantizer parameters with their own lr and decay */
    lb_adamw_cfg wc = {(float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->weight_decay, false};
    LB_TRY(lb_adamw_init_model(&r->opt_w, &r->m, &wc));
    r->has_opt_w = true;
    r->n_qparams = lb_run_quant_params(&r->m, NULL, 0);
    r->qparams = calloc((size_t)r->n_qparams + 1, sizeof *r->qparams);
    r->all = calloc((size_t)(r->m.n_params + r->n_qparams), sizeof *r->all);
    LB_CHECK(r->qparams && r->all);
    lb_run_quant_params(&r->m, r->qparams, r->n_qparams);
    for (int i = 0; i < r->m.n_params; i++) r->all[r->n_all++] = r->m.params[i];
    for (int i = 0; i < r->n_qparams; i++) r->all[r->n_all++] = r->qparams[i];
    if (r->n_qparams) {
        lb_adamw_cfg qc = {(float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->q_weight_decay, true};
        LB_TRY(lb_adamw_init(&r->opt_q, r->qparams, r->n_qparams, NULL, &qc));
        r->has_opt_q = true;
    }

    /* data */
    LB_TRY(lb_batches_open(&r->data, c->data, c->ctx, c->batch, r->dist.rank, r->dist.world, (uint64_t)c->seed,
                           r->m.cfg.vocab_size));
    r->has_data = true;
    if (c->eval_windows > 0 && c->val[0]) {
        if (exists(c->val)) {
            LB_TRY(lb_h5_tokens_open(&r->val, c->val));
            r->has_val = true;
            if (r->val.vocab_size > r->m.cfg.vocab_size)
                return lb_errorf(LB_ERR_SHAPE, "%s was tokenized with a vocabulary of %lld but the model's is %lld",
                                 c->val, (long long)r->val.vocab_size, (long long)r->m.cfg.vocab_size);
        } else if (!r->quiet) {
            fprintf(stderr, "train: no validation split at %s: evaluation off\n", c->val);
        }
    }
    /* static activation scales: observed on the starting model before step 0
     * (also on --resume, before the checkpoint is restored: the same scales) */
    int sites = lb_run_calib_sites(&r->m);
    LB_TRY(lb_status_prefix(lb_run_calibrate(r->ctx, &r->m, c->data, c->ctx, c->batch, c->micro_batch, c->calib_batches,
                                             (uint64_t)c->seed),
                            "train"));
    if (sites && !r->quiet)
        fprintf(stderr, "train: calibrated %d static activation sites (absmax) over %lld batches\n", sites,
                (long long)c->calib_batches);
    r->ids = malloc((size_t)(c->batch * c->ctx) * sizeof *r->ids);
    r->targets = malloc((size_t)(c->batch * c->ctx) * sizeof *r->targets);
    r->state.losses = calloc((size_t)c->steps + 1, sizeof(double));
    LB_CHECK(r->ids && r->targets && r->state.losses);
    lb_schedule_kind kind = LB_SCHEDULE_COSINE;
    LB_CHECK(lb_schedule_parse(c->schedule, &kind));
    r->sched = (lb_schedule){kind, c->lr, c->min_lr, c->warmup, c->steps};
    return lb_ok();
}

static lb_run_optim *optims(run *r, lb_run_optim *o, int *n)
{
    *n = 0;
    o[(*n)++] = (lb_run_optim){"weights", &r->opt_w};
    if (r->has_opt_q) o[(*n)++] = (lb_run_optim){"quant", &r->opt_q};
    return o;
}

/* resume: restores the newest checkpoint, if any. Returns the step to start at. */
static lb_status resume(run *r, int64_t *start)
{
    *start = 0;
    if (!r->c->resume) return lb_ok();
    int64_t step;
    char *path;
    LB_TRY(lb_run_ckpt_latest(r->c->out, &step, &path));
    if (!path) {
        if (!r->quiet) fprintf(stderr, "train: --resume: no checkpoint in %s yet, starting at step 0\n", r->c->out);
        return lb_ok();
    }
    lb_run_optim o[2];
    int n_o;
    optims(r, o, &n_o);
    lb_run_state st;
    lb_status s = lb_run_ckpt_load(r->ctx, path, &st, r->all, r->n_all, o, n_o);
    if (!lb_failed(&s) && st.step > r->c->steps)
        s = lb_errorf(LB_ERR_ARG, "%s is at step %lld, past --steps %lld", path, (long long)st.step,
                      (long long)r->c->steps);
    if (lb_failed(&s)) {
        free(path);
        return lb_status_prefix(s, "train --resume");
    }
    memcpy(r->state.losses, st.losses, (size_t)st.step * sizeof(double));
    free(st.losses);
    r->state.step = st.step;
    r->state.next_draw = st.next_draw;
    r->state.bad_streak = st.bad_streak;
    r->state.rng_state = st.rng_state;
    lb_batches_seek(&r->data, st.step);
    if (r->data.next_draw != st.next_draw) {
        s = lb_errorf(LB_ERR_FORMAT, "%s: data position %lld does not match step %lld of this run's batch",
                      path, (long long)st.next_draw, (long long)st.step);
        free(path);
        return s;
    }
    if (!r->quiet) fprintf(stderr, "train: resumed from %s (step %lld)\n", path, (long long)st.step);
    free(path);
    *start = st.step;
    return lb_ok();
}

/* ---- one step ------------------------------------------------------------------------ */

static void zero_grads(lb_ctx *ctx, run *r)
{
    lb_model_zero_grad(ctx, &r->m);
    lb_run_quant_zero_grads(ctx, r->qparams, r->n_qparams);   /* on the model's device (lb_quantizer_to) */
}

/* sq_norm: sum of squares of t's grad, in double (0 without a grad). CPU
 * grads are read in place; others through a host copy. */
static double sq_norm(lb_ctx *ctx, const lb_tensor *t)
{
    if (!t->grad) return 0;
    int64_t n = lb_tensor_numel(t->grad);
    const float *g = t->grad->data;
    float *h = NULL;
    if (t->grad->device != LB_CPU) {
        h = malloc((size_t)n * sizeof *h);
        LB_CHECK(h != NULL);
        lb_tensor_copy_to_host(ctx, t->grad, h);
        g = h;
    }
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    free(h);
    return s;
}

/* grad_sq_norm: the squared global grad norm over every trained tensor.
 * CUDA: summed on the device in a fixed order (the model's grads are one
 * contiguous range of the plan, padding zero), one double read back. */
static double grad_sq_norm(run *r)
{
    lb_ctx *ctx = r->ctx;
    double gn2 = 0;
    if (ctx->device != LB_CUDA || !r->m.grad_base) {
        for (int i = 0; i < r->n_all; i++) gn2 += sq_norm(ctx, r->all[i]);
        return gn2;
    }
    double *acc = lb_cuda_step_alloc(ctx, sizeof *acc);
    lb_cuda_memset_zero(ctx, acc, sizeof *acc);
    lb_cuda_sumsq_acc(ctx, r->m.grad_base, r->m.grad_floats, acc);
    for (int i = 0; i < r->n_qparams; i++) {
        const lb_tensor *g = r->qparams[i]->grad;
        if (g) lb_cuda_sumsq_acc(ctx, g->data, lb_tensor_numel(g), acc);
    }
    lb_cuda_memcpy_d2h(ctx, &gn2, acc, sizeof gn2);
    lb_ctx_step_end(ctx);
    return gn2;
}

/* micro_step: forward and backward of micro-batch a; *loss gets its value. */
static void micro_step(run *r, int64_t a, float *loss_out)
{
    const lb_train_config *c = r->c;
    lb_ctx *ctx = r->ctx;
    const int64_t M = c->micro_batch, T = c->ctx, V = r->m.cfg.vocab_size;
    const int64_t accum = c->batch / c->micro_batch;
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(M, T));                 // (M, T)
    lb_tensor *tg = lb_tensor_new(ctx, LB_I32, LB_SHAPE(M * T));                 // (M·T)
    memcpy(ids->data, r->ids + a * M * T, (size_t)(M * T) * sizeof(int32_t));
    memcpy(tg->data, r->targets + a * M * T, (size_t)(M * T) * sizeof(int32_t));
    if (ctx->device != LB_CPU) tg = lb_tensor_to(ctx, tg, ctx->device, LB_I32);

    lb_tensor *logits = lb_model_forward(ctx, &r->m, ids, NULL);                 // (M, T, V)
    logits = lb_reshape(ctx, logits, LB_SHAPE(M * T, V));                        // (M·T, V)
    lb_tensor *loss = lb_cross_entropy(ctx, logits, tg, NULL, NULL);
    if (c->kd) {
        bool prev = lb_ctx_set_grad(ctx, false);
        lb_tensor *tl = lb_model_forward(ctx, &r->teacher, ids, NULL);
        tl = lb_reshape(ctx, tl, LB_SHAPE(M * T, V));
        lb_ctx_set_grad(ctx, prev);
        lb_tensor *kd = lb_kd_loss(ctx, logits, tl, (float)c->kd_temperature);
        loss = c->kd_alpha == 1.0 ? kd
                                  : lb_add(ctx, lb_scale(ctx, kd, (float)c->kd_alpha),
                                           lb_scale(ctx, loss, (float)(1.0 - c->kd_alpha)));
    }
    lb_tensor_copy_to_host(ctx, loss, loss_out);
    lb_backward(ctx, accum == 1 ? loss : lb_scale(ctx, loss, 1.0f / (float)accum));
    lb_ctx_step_end(ctx);
}

static lb_status save_ckpt(run *r)
{
    if (!lb_dist_is_main(&r->dist)) return lb_ok();
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)r->state.step);
    char *path = join(r->c->out, name);
    lb_run_optim o[2];
    int n_o;
    optims(r, o, &n_o);
    lb_status st = lb_run_ckpt_save(r->ctx, path, &r->state, r->all, r->n_all, o, n_o, r->config_json);
    free(path);
    LB_TRY(st);
    lb_run_ckpt_prune(r->c->out, r->c->keep_ckpts);
    return lb_ok();
}

static lb_status evaluate(run *r, lb_train_result *res)
{
    if (!r->has_val) return lb_ok();
    lb_token_source src = {r->val.n_tokens, h5_val_read, &r->val};
    lb_ppl_opts o = {r->c->ctx, r->c->eval_windows, 1, 0};
    lb_ppl_result pr;
    LB_TRY(lb_status_prefix(lb_eval_ppl(r->ctx, &r->m, &src, &o, &pr), "eval on %s", r->c->val));
    res->has_eval = true;
    res->eval_ppl = pr.ppl;
    res->eval_nll = pr.nll_sum / (double)pr.n_predictions;
    res->eval_windows = pr.n_windows;
    if (lb_dist_is_main(&r->dist))
        LB_TRY(lb_metrics_eval(&r->metrics, r->state.step, pr.ppl, res->eval_nll, pr.n_windows, r->c->ctx));
    if (!r->quiet)
        fprintf(stderr, "%seval step %lld: ppl %.4f (nll %.6f, %lld windows of %lld)\n",
                isatty(2) ? "\r\033[K" : "", (long long)r->state.step, pr.ppl, res->eval_nll,
                (long long)pr.n_windows, (long long)r->c->ctx);
    return lb_ok();
}

static void show_progress(run *r, lb_progress *p, int64_t done, double loss, double tps)
{
    if (r->quiet) return;
    char pbuf[256], tbuf[32];
    lb_progress_format(p, done, lb_progress_now() - p->t0, p->tty, pbuf, sizeof pbuf);
    lb_progress_human(tps, "tok", tbuf, sizeof tbuf);
    if (p->tty) fprintf(stderr, "\r\033[Kloss %.4f  %s tok/s  %s", loss, tbuf, pbuf);
    else fprintf(stderr, "step %lld/%lld  loss %.4f  %s tok/s  %s\n", (long long)done, (long long)r->c->steps, loss,
                 tbuf, pbuf);
}

/* ---- the end of a run ------------------------------------------------------------------- */

static lb_status write_final(run *r)
{
    if (!lb_dist_is_main(&r->dist)) return lb_ok();
    /* the end of the run: the weights and quantizer state come home to be written */
    LB_TRY(lb_model_to_plan(r->ctx, &r->m, LB_CPU, 0, true));
    char *dir = join(r->c->out, "model");
    lb_status st = lb_model_save(&r->m, dir, LB_F32);
    if (!lb_failed(&st)) st = lb_run_copy_tokenizer(r->c->model, dir);
    free(dir);
    char *qs = join(r->c->out, "quant_state.safetensors");
    if (!lb_failed(&st) && lb_run_quant_count(&r->m) > 0) st = lb_run_quant_save(&r->m, qs);
    else if (!lb_failed(&st) && exists(qs)) unlink(qs);
    free(qs);
    return st;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static lb_status train_loop(run *r, int64_t start, lb_train_result *res)
{
    const lb_train_config *c = r->c;
    const int64_t accum = c->batch / c->micro_batch;
    const double tokens_per_step = (double)(c->batch * c->ctx * r->dist.world);
    lb_progress prog;
    lb_progress_init(&prog, "train", c->steps, "step");
    prog.done = start;
    double t_start = lb_progress_now();
    int64_t done_here = 0;
    for (int64_t s = start; s < c->steps; s++) {
        double t0 = lb_progress_now();
        LB_TRY(lb_batches_next(&r->data, r->ids, r->targets, r->m.cfg.vocab_size));
        zero_grads(r->ctx, r);
        double loss = 0;
        for (int64_t a = 0; a < accum; a++) {
            float l;
            micro_step(r, a, &l);
            loss += (double)l;
        }
        loss /= (double)accum;
        lb_dist_reduce_grads(r->ctx, &r->dist, r->all, r->n_all);
        lb_dist_mean(&r->dist, &loss);
        double gnorm = sqrt(grad_sq_norm(r));
        double lr = lb_schedule_lr(&r->sched, s);
        double qlr = c->q_lr * (lr / c->lr);

        r->state.step = s + 1;
        r->state.next_draw = r->data.next_draw;
        lb_step_metrics sm = {.step = s + 1, .loss = loss, .lr = lr, .grad_norm = gnorm, .rss_mb = lb_rss_mb()};
        if (r->ctx->device == LB_CUDA)
            sm.gpu_mb = (double)(r->m.plan_bytes + lb_cuda_pool_reserved(r->ctx)) / (1024.0 * 1024.0);
        if (!isfinite(loss) || !isfinite(gnorm)) {
            r->state.losses[s] = NAN;
            r->state.bad_streak++;
            sm.skipped = true;
            sm.reason = !isfinite(loss) ? "non-finite loss" : "non-finite grad norm";
            sm.tokens_per_s = tokens_per_step / (lb_progress_now() - t0);
            if (lb_dist_is_main(&r->dist)) LB_TRY(lb_metrics_step(&r->metrics, &sm));
            if (!r->quiet)
                fprintf(stderr, "%sstep %lld: %s (loss %g, grad norm %g): skipped, no update\n",
                        prog.tty ? "\r\033[K" : "", (long long)(s + 1), sm.reason, loss, gnorm);
            if (r->state.bad_streak >= c->max_bad_steps) {
                int64_t last;
                char *path;
                lb_run_ckpt_latest(c->out, &last, &path);
                free(path);
                return lb_errorf(LB_ERR_ARG,
                                 "train: %lld steps in a row had a non-finite loss or gradient (last: step %lld, lr "
                                 "%g); stopping. %s%lld. Lower --lr or raise --warmup / --clip.",
                                 (long long)r->state.bad_streak, (long long)(s + 1), lr,
                                 last >= 0 ? "The last good checkpoint is ckpt-" : "No checkpoint was written; last step ",
                                 (long long)(last >= 0 ? last : s + 1));
            }
        } else {
            r->state.bad_streak = 0;
            r->state.losses[s] = loss;
            res->last_loss = loss;
            float gs = c->clip > 0 && gnorm > c->clip ? (float)(c->clip / gnorm) : 1.0f;
            lb_adamw_step(r->ctx, &r->opt_w, (float)lr, gs);
            if (r->has_opt_q) lb_adamw_step(r->ctx, &r->opt_q, (float)qlr, gs);
            double dt = lb_progress_now() - t0;
            sm.tokens_per_s = tokens_per_step / (dt > 0 ? dt : 1e-9);
            if (lb_dist_is_main(&r->dist) && ((s + 1) % c->log_every == 0 || s + 1 == c->steps))
                LB_TRY(lb_metrics_step(&r->metrics, &sm));
            if (s == start && !r->quiet)
                fprintf(stderr, "step arena peak: %.2f MiB\n", (double)r->ctx->arena.peak / (1024.0 * 1024.0));
            show_progress(r, &prog, s + 1, loss, sm.tokens_per_s);
            if (r->quiet) (void)0;
        }
        done_here++;
        bool last = s + 1 == c->steps;
        if (c->eval_every > 0 && (s + 1) % c->eval_every == 0 && !last) LB_TRY(evaluate(r, res));
        if (!sm.skipped && ((c->save_every > 0 && (s + 1) % c->save_every == 0) || last)) LB_TRY(save_ckpt(r));
    }
    if (prog.tty && !r->quiet && done_here) fputc('\n', stderr);
    res->seconds = lb_progress_now() - t_start;
    res->tokens_per_s = done_here ? tokens_per_step * (double)done_here / res->seconds : 0;
    return lb_ok();
}

static void run_free(run *r)
{
    lb_metrics_close(&r->metrics);
    if (r->has_val) lb_h5_tokens_close(&r->val);
    if (r->has_data) lb_batches_close(&r->data);
    if (r->has_opt_q) lb_adamw_free(&r->opt_q);
    if (r->has_opt_w) lb_adamw_free(&r->opt_w);
    if (r->has_teacher) lb_model_free(&r->teacher);
    if (r->has_model) lb_model_free(&r->m);
    free(r->qparams);
    free(r->all);
    free(r->ids);
    free(r->targets);
    free(r->state.losses);
    free(r->config_json);
}

lb_status lb_train_run(lb_ctx *ctx, const lb_train_config *c, bool quiet, lb_train_result *res)
{
    memset(res, 0, sizeof *res);
    res->last_loss = NAN;
    res->resumed_from = -1;
    run r = {.c = c, .ctx = ctx, .quiet = quiet};
    ctx->recompute = !strcmp(c->recompute, "blocks");   /* the models' forwards read it */
    if (!quiet) lb_train_config_print(c, stderr);
    lb_status st = setup(&r);
    int64_t start = 0;
    if (!lb_failed(&st)) st = resume(&r, &start);
    if (!lb_failed(&st) && start > 0) res->resumed_from = start;
    if (!lb_failed(&st) && lb_dist_is_main(&r.dist)) {
        char *mp = join(c->out, "metrics.jsonl");
        st = lb_metrics_open(&r.metrics, mp, c->resume ? start : -1);
        free(mp);
    }
    if (!lb_failed(&st) && !quiet) {
        print_plan(&r, stderr);
        fprintf(stderr, "train: %s, %lld steps of %lld x %lld tokens (micro-batch %lld), from step %lld\n",
                lb_train_config_is_qat(c) ? "QAT" : "fine-tuning", (long long)c->steps, (long long)c->batch,
                (long long)c->ctx, (long long)c->micro_batch, (long long)start);
    }
    if (!lb_failed(&st)) st = train_loop(&r, start, res);
    if (!lb_failed(&st) && c->eval_windows > 0) st = evaluate(&r, res);
    if (!lb_failed(&st) && start == c->steps && !quiet)
        fprintf(stderr, "train: the run was already complete at step %lld\n", (long long)start);
    if (!lb_failed(&st)) st = write_final(&r);
    res->steps = r.state.step;
    if (start == c->steps) res->steps = start;
    run_free(&r);
    return st;
}
