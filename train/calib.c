/* calib.c — calibration of static activation sites (see calib.h). */
#include "train/calib.h"

#include <stdlib.h>
#include <string.h>

#include "quant/quantizer.h"
#include "train/batches.h"

/* set_calibrating: marks (or unmarks) every static site of m; returns how many there are. */
static int set_calibrating(lb_model *m, bool on)
{
    int n = 0;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            lb_quantizer *q = m->blocks[i].aquant[id];
            if (!q || q->spec.mode != LB_QM_STATIC) continue;
            if (on) {
                q->act_absmax = 0.0f;
                q->act_observed = 0;
                q->calib_nonfinite = false;
            }
            q->calibrating = on;
            n++;
        }
    return n;
}

int lb_run_calib_sites(const lb_model *m)
{
    int n = 0;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            const lb_quantizer *q = m->blocks[i].aquant[id];
            n += q && q->spec.mode == LB_QM_STATIC;
        }
    return n;
}

/* first_nonfinite: the first site whose batch held NaN/Inf, or NULL. */
static const lb_quantizer *first_nonfinite(const lb_model *m)
{
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            const lb_quantizer *q = m->blocks[i].aquant[id];
            if (q && q->calibrating && q->calib_nonfinite) return q;
        }
    return NULL;
}

lb_status lb_run_calibrate(lb_ctx *ctx, lb_model *m, const char *data, int64_t T, int64_t batch, int64_t micro_batch,
                           int64_t n_batches, uint64_t seed)
{
    int sites = lb_run_calib_sites(m);
    if (sites == 0) return lb_ok();
    if (n_batches < 1)
        return lb_errorf(LB_ERR_ARG, "--calib-batches must be at least 1 to calibrate the %d static activation sites "
                         "(int8:tensor:static), got %lld", sites, (long long)n_batches);
    LB_CHECKF(micro_batch >= 1 && batch % micro_batch == 0, "lb_run_calibrate: micro-batch %lld does not divide %lld",
              (long long)micro_batch, (long long)batch);
    lb_batches b;
    LB_TRY(lb_status_prefix(lb_batches_open(&b, data, T, batch, 0, 1, seed, m->cfg.vocab_size), "calibration"));
    int32_t *ids = malloc((size_t)(batch * T) * sizeof *ids), *tg = malloc((size_t)(batch * T) * sizeof *tg);
    LB_CHECK(ids && tg);
    set_calibrating(m, true);
    bool prev = lb_ctx_set_grad(ctx, false);
    lb_status st = lb_ok();
    for (int64_t k = 0; k < n_batches && !lb_failed(&st); k++) {
        st = lb_batches_next(&b, ids, tg, m->cfg.vocab_size);
        for (int64_t a = 0; a < batch && !lb_failed(&st); a += micro_batch) {
            lb_tensor *t = lb_tensor_new(ctx, LB_I32, LB_SHAPE(micro_batch, T));   // (M, T)
            memcpy(t->data, ids + a * T, (size_t)(micro_batch * T) * sizeof *ids);
            lb_model_hidden(ctx, m, t, NULL);                                    // (M, T, C), observed on the way
            lb_ctx_step_end(ctx);
        }
        const lb_quantizer *bad = lb_failed(&st) ? NULL : first_nonfinite(m);
        if (bad)
            st = lb_errorf(LB_ERR_ARG, "calibration: site %s saw a non-finite activation in batch %lld of %s",
                           bad->name, (long long)k, data);
    }
    lb_ctx_set_grad(ctx, prev);
    set_calibrating(m, false);
    if (lb_failed(&st))
        for (int64_t i = 0; i < m->cfg.n_layers; i++)
            for (int id = 0; id < LB_LIN_COUNT; id++)
                if (m->blocks[i].aquant[id]) m->blocks[i].aquant[id]->act_observed = 0;
    free(ids);
    free(tg);
    lb_batches_close(&b);
    return st;
}
