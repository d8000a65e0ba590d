/* quantizer.c — lb_quantizer: per-weight state, its initialisation, the
 * forward's numbers (lb_quantizer_run) and their export (quantizer.h).
 *
 * Not here: the tape (autograd/ops_quant.c), the loops (kernels/cpu/quant.c),
 * the scalar reference (grid.c).
 */
#include "quant/quantizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/kernels.h"
#include "quant/grid.h"

static lb_cpu_qlayout layout_of(const lb_quantizer *q)
{
    return (lb_cpu_qlayout){.rows = q->rows, .cols = q->cols, .group = q->group,
                            .tensor = q->spec.gran == LB_QG_TENSOR};
}

static lb_cpu_ggml ggml_type(lb_qformat f)
{
    switch (f) {
    case LB_QF_Q4_0: return LB_CPU_GGML_Q4_0;
    case LB_QF_Q4_1: return LB_CPU_GGML_Q4_1;
    case LB_QF_Q5_0: return LB_CPU_GGML_Q5_0;
    case LB_QF_Q5_1: return LB_CPU_GGML_Q5_1;
    case LB_QF_Q4_K: return LB_CPU_GGML_Q4_K;
    case LB_QF_Q6_K: return LB_CPU_GGML_Q6_K;
    default: return LB_CPU_GGML_Q8_0;
    }
}

static int64_t n_scales(const lb_quantizer *q)
{
    return q->spec.gran == LB_QG_TENSOR ? 1 : q->rows * q->n_groups;
}

void lb_quantizer_run(const lb_quantizer *q, const float *w, float *s, float *z, float *out,
                      uint8_t *codes)
{
    const lb_qspec *sp = &q->spec;
    lb_cpu_qlayout L = layout_of(q);
    int64_t ns = n_scales(q);
    LB_CHECKF(sp->role == LB_QROLE_WEIGHT, "lb_quantizer_run: %s is not a weight quantizer", q->name);
    if (lb_qspec_is_kquant(sp)) {
        lb_cpu_fake_quant_kquant_fwd(ggml_type(sp->format), w, q->rows, q->cols, out, codes, s, z);
        return;
    }
    if (lb_qspec_is_ggml(sp)) {
        lb_cpu_fake_quant_ggml_fwd(ggml_type(sp->format), w, q->rows, q->cols, out, codes, s, z);
        return;
    }
    if (sp->format != LB_QF_INT) {
        lb_cpu_qgrid grid = sp->format == LB_QF_NF4   ? LB_CPU_QGRID_NF4
                            : sp->format == LB_QF_FP4 ? LB_CPU_QGRID_FP4
                                                      : LB_CPU_QGRID_FP8;
        float vmax = sp->format == LB_QF_NF4 ? 1.0f : sp->format == LB_QF_FP4 ? 6.0f : 448.0f;
        lb_cpu_quant_absmax_params(w, L, vmax, sp->scale_f16, s);
        memset(z, 0, (size_t)ns * sizeof *z);
        lb_cpu_fake_quant_lut_fwd(grid, w, s, L, out, codes);
        return;
    }
    if (sp->mode == LB_QM_MINMAX || sp->mode == LB_QM_MSE) {
        lb_cpu_quant_int_params(w, L, sp->bits, sp->sym, sp->scale_f16, sp->mode == LB_QM_MSE, s, z);
    } else {
        /* learned: the parameters rounded the way the forward uses them */
        const float *ps = q->scales->data, *pz = q->zeros->data;
        float maxq = (float)lb_qspec_maxq(sp);
        for (int64_t k = 0; k < ns; k++) {
            s[k] = lb_grid_round_scale(ps[k], sp->scale_f16);
            float zk = sp->mode == LB_QM_LSQP ? nearbyintf(pz[k]) : pz[k];
            z[k] = zk < 0.0f ? 0.0f : zk > maxq ? maxq : zk;   /* NaN: stays NaN -> code clamps */
        }
    }
    lb_cpu_fake_quant_int_fwd(w, s, z, L, sp->bits, out, codes);
}

static lb_status name_params(lb_quantizer *q, const char *name)
{
    snprintf(q->name, sizeof q->name, "%s", name ? name : "(unnamed)");
    if (name && strlen(name) >= sizeof q->name)
        return lb_errorf(LB_ERR_ARG, "quantizer: layer name \"%s\" is too long (max %d)", name,
                         LB_QUANT_NAME_MAX - 1);
    size_t n = strlen(q->name) + 16;
    q->scale_name = malloc(n);
    q->zero_name = malloc(n);
    if (!q->scale_name || !q->zero_name)
        return lb_errorf(LB_ERR_OOM, "quantizer %s: out of memory", q->name);
    snprintf(q->scale_name, n, "%s.%s", q->name,
             q->spec.role == LB_QROLE_ACT ? "aq_alpha" : "wq_scale");
    snprintf(q->zero_name, n, "%s.wq_zero", q->name);
    return lb_ok();
}

static lb_status check_weight(const lb_quantizer *q, const lb_tensor *w, const char *spec)
{
    if (!w || w->device != LB_CPU || w->dtype != LB_F32 || w->ndim != 2)
        return lb_errorf(LB_ERR_SHAPE, "layer %s: quantizer %s needs a 2-D (out, in) f32 CPU weight",
                         q->name, spec);
    if (lb_qspec_is_kquant(&q->spec) && w->shape[1] % 256 != 0)
        return lb_errorf(LB_ERR_SHAPE,
                         "layer %s: weight (%lld, %lld): in = %lld is not a multiple of 256, the "
                         "super-block of quantizer %s; pick q4_0 ... q8_0 (blocks of 32) for this "
                         "layer",
                         q->name, (long long)w->shape[0], (long long)w->shape[1],
                         (long long)w->shape[1], spec);
    if (q->spec.gran == LB_QG_GROUP && w->shape[1] % q->spec.group != 0)
        return lb_errorf(LB_ERR_SHAPE,
                         "layer %s: in = %lld is not a multiple of the %s %d of quantizer %s; "
                         "pick a group that divides it, or :ch",
                         q->name, (long long)w->shape[1],
                         lb_qspec_is_ggml(&q->spec) ? "ggml block" : "group size", q->spec.group,
                         spec);
    const float *x = w->data;
    int64_t n = lb_tensor_numel(w);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return lb_errorf(LB_ERR_ARG, "layer %s: weight [%lld, %lld] is %g; cannot quantize "
                             "non-finite weights (%s)",
                             q->name, (long long)(i / w->shape[1]), (long long)(i % w->shape[1]),
                             (double)x[i], spec);
    return lb_ok();
}

/* init_weight: lb_quantizer_init without the cleanup on failure. */
static lb_status init_weight(lb_quantizer *q, const lb_qspec *spec, const lb_tensor *w,
                             const char *name)
{
    char sbuf[LB_QSPEC_STR_MAX];
    memset(q, 0, sizeof *q);
    q->spec = *spec;
    lb_qspec_format(spec, sbuf, sizeof sbuf);
    lb_status st = name_params(q, name);
    if (lb_failed(&st)) return st;
    if (spec->role != LB_QROLE_WEIGHT || spec->format == LB_QF_NONE)
        return lb_errorf(LB_ERR_ARG, "layer %s: \"%s\" is not a weight quantizer spec", q->name, sbuf);
    st = check_weight(q, w, sbuf);
    if (lb_failed(&st)) return st;

    q->rows = w->shape[0];
    q->cols = w->shape[1];
    q->group = spec->gran == LB_QG_GROUP ? spec->group : q->cols;
    q->n_groups = spec->gran == LB_QG_TENSOR ? 1 : q->cols / q->group;
    int64_t shape[2] = {spec->gran == LB_QG_TENSOR ? 1 : q->rows, q->n_groups};
    q->scales = lb_tensor_alloc(LB_F32, 2, shape);
    bool has_zero = spec->format == LB_QF_INT || lb_qspec_is_ggml(spec);
    q->zeros = has_zero ? lb_tensor_alloc(LB_F32, 2, shape) : NULL;
    float *ztmp = has_zero ? NULL : calloc((size_t)n_scales(q), sizeof(float));
    if (!q->scales || (has_zero && !q->zeros) || (!has_zero && !ztmp)) {
        free(ztmp);
        return lb_errorf(LB_ERR_OOM, "layer %s: out of memory for the quantizer's scales", q->name);
    }
    float *z = has_zero ? q->zeros->data : ztmp;
    if (spec->mode == LB_QM_LSQ || spec->mode == LB_QM_LSQP) {
        lb_cpu_quant_int_params(w->data, layout_of(q), spec->bits, spec->sym, spec->scale_f16, true,
                                q->scales->data, z);
        q->scales->requires_grad = true;
        q->scales->name = q->scale_name;
        if (spec->mode == LB_QM_LSQP) {
            q->zeros->requires_grad = true;
            q->zeros->name = q->zero_name;
        }
    } else {
        lb_quantizer_run(q, w->data, q->scales->data, z, NULL, NULL);
    }
    free(ztmp);
    return lb_ok();
}

lb_status lb_quantizer_init(lb_quantizer *q, const lb_qspec *spec, const lb_tensor *w,
                            const char *name)
{
    lb_status st = init_weight(q, spec, w, name);
    if (lb_failed(&st)) lb_quantizer_free(q);
    return st;
}

static lb_status init_act(lb_quantizer *q, const lb_qspec *spec, const char *name,
                          float pact_alpha0)
{
    memset(q, 0, sizeof *q);
    q->spec = *spec;
    lb_status st = name_params(q, name);
    if (lb_failed(&st)) return st;
    if (spec->role != LB_QROLE_ACT)
        return lb_errorf(LB_ERR_ARG, "site %s: a weight spec cannot quantize activations", q->name);
    if (spec->mode == LB_QM_PACT) {
        if (!(pact_alpha0 > 0.0f) || !isfinite(pact_alpha0))
            return lb_errorf(LB_ERR_ARG, "site %s: PACT's initial clip must be > 0, got %g", q->name,
                             (double)pact_alpha0);
        q->alpha = lb_tensor_alloc(LB_F32, 1, (const int64_t[]){1});
        if (!q->alpha) return lb_errorf(LB_ERR_OOM, "site %s: out of memory", q->name);
        ((float *)q->alpha->data)[0] = pact_alpha0;
        q->alpha->requires_grad = true;
        q->alpha->name = q->scale_name;
    }
    return lb_ok();
}

lb_status lb_quantizer_init_act(lb_quantizer *q, const lb_qspec *spec, const char *name,
                                float pact_alpha0)
{
    lb_status st = init_act(q, spec, name, pact_alpha0);
    if (lb_failed(&st)) lb_quantizer_free(q);
    return st;
}

/* move_state: *slot on dev (see lb_quantizer_to). */
static void move_state(lb_ctx *ctx, lb_tensor **slot, lb_device dev)
{
    lb_tensor *t = *slot;
    if (!t || t->device == dev) return;
    lb_tensor *n = lb_tensor_alloc_dev(dev, LB_F32, t->ndim, t->shape);
    LB_CHECKF(n != NULL, "out of memory moving quantizer state %s", t->name ? t->name : "");
    if (dev == LB_CPU) lb_tensor_copy_to_host(ctx, t, n->data);
    else lb_tensor_copy_from_host(ctx, n, lb_tensor_f32(t));
    n->name = t->name;
    n->requires_grad = t->requires_grad;
    if (n->requires_grad) {
        n->grad = lb_tensor_alloc_dev(dev, LB_F32, t->ndim, t->shape);   /* zeroed */
        LB_CHECKF(n->grad != NULL, "out of memory for the grad of %s", t->name ? t->name : "");
    }
    lb_tensor_free(t);
    *slot = n;
}

void lb_quantizer_to(lb_ctx *ctx, lb_quantizer *q, lb_device dev)
{
    move_state(ctx, &q->scales, dev);
    move_state(ctx, &q->zeros, dev);
    move_state(ctx, &q->alpha, dev);
}

void lb_quantizer_free(lb_quantizer *q)
{
    if (!q) return;
    lb_tensor_free(q->scales);
    lb_tensor_free(q->zeros);
    lb_tensor_free(q->alpha);
    free(q->scale_name);
    free(q->zero_name);
    q->scales = q->zeros = q->alpha = NULL;
    q->scale_name = q->zero_name = NULL;
}

int lb_quantizer_params(lb_quantizer *q, lb_tensor **out, int max)
{
    lb_tensor *p[2];
    int n = 0;
    if (q->spec.mode == LB_QM_LSQ || q->spec.mode == LB_QM_LSQP) p[n++] = q->scales;
    if (q->spec.mode == LB_QM_LSQP) p[n++] = q->zeros;
    if (q->spec.mode == LB_QM_PACT) p[n++] = q->alpha;
    for (int i = 0; i < n && i < max; i++) out[i] = p[i];
    return n;
}

void lb_quantizer_codes(const lb_quantizer *q, const lb_tensor *w, uint8_t *codes, float *scales,
                        float *zeros)
{
    LB_CHECKF(w->ndim == 2 && w->shape[0] == q->rows && w->shape[1] == q->cols,
              "lb_quantizer_codes: layer %s: weight shape differs from the quantizer's (%lld, %lld)",
              q->name, (long long)q->rows, (long long)q->cols);
    int64_t ns = n_scales(q);
    float *z = zeros ? zeros : malloc((size_t)ns * sizeof *z);
    float *s = scales ? scales : malloc((size_t)ns * sizeof *s);
    LB_CHECKF(z && s, "lb_quantizer_codes: out of memory");
    lb_quantizer_run(q, lb_tensor_f32(w), s, z, NULL, codes);
    if (!zeros) free(z);
    if (!scales) free(s);
}

lb_status lb_quantizer_observe(lb_quantizer *q, const lb_tensor *x)
{
    if (q->spec.mode != LB_QM_STATIC && q->spec.mode != LB_QM_PACT) return lb_ok();
    const float *d = lb_tensor_f32(x);
    int64_t n = lb_tensor_numel(x);
    float a = q->act_absmax;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(d[i]))
            return lb_errorf(LB_ERR_ARG, "site %s: non-finite value in calibration batch %lld at element %lld",
                             q->name, (long long)q->act_observed, (long long)i);
        a = fabsf(d[i]) > a ? fabsf(d[i]) : a;
    }
    q->act_absmax = a;
    q->act_observed++;
    if (q->spec.mode == LB_QM_STATIC) q->act_scale = a > 0.0f ? a / 127.0f : 1.0f;
    else if (a > 0.0f) ((float *)q->alpha->data)[0] = a;
    return lb_ok();
}

void lb_quantizer_calib_observe(lb_ctx *ctx, lb_quantizer *q, const lb_tensor *x)
{
    const lb_tensor *h = x;
    if (x->device != LB_CPU || x->dtype != LB_F32) h = lb_tensor_to(ctx, x, LB_CPU, LB_F32);
    lb_status st = lb_quantizer_observe(q, h);
    if (lb_failed(&st)) q->calib_nonfinite = true;
}
