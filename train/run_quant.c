/* run_quant.c — a run's quantizers: attach, parameters, quant_state I/O
 * (see run_quant.h). */
#include "train/run_quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/cuda/cuda.h"
#include "layers/fileio.h"
#include "layers/safetensors.h"
#include "quant/quantizer.h"

/* The quantizers of one model (m->quant). Pointers into `q` are stable:
 * the array is sized once. */
typedef struct run_quant {
    lb_quantizer *q;
    bool *is_act;
    int n, cap;
} run_quant;

static void run_quant_free(void *p)
{
    run_quant *rq = p;
    if (!rq) return;
    for (int i = 0; i < rq->n; i++) lb_quantizer_free(&rq->q[i]);
    free(rq->q);
    free(rq->is_act);
    free(rq);
}

/* param_named: the model tensor a weight quantizer belongs to (by name). */
static lb_tensor *param_named(const lb_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->param_names[i], name)) return m->params[i];
    return NULL;
}

/* quant_to: m->quant_to: every quantizer's state to dev; on CUDA each
 * quantized weight's lowp holds the fake-quant w^ from then on
 * (LB_TENSOR_LOWP_FQ: the optimizer leaves it to the forward). */
static lb_status quant_to(lb_ctx *ctx, lb_model *m, lb_device dev)
{
    run_quant *rq = m->quant;
    for (int i = 0; rq && i < rq->n; i++) {
        lb_quantizer_to(ctx, &rq->q[i], dev);
        lb_tensor *w = rq->is_act[i] ? NULL : param_named(m, rq->q[i].name);
        if (w && dev == LB_CUDA && w->lowp) w->flags |= LB_TENSOR_LOWP_FQ;
        else if (w) w->flags &= ~LB_TENSOR_LOWP_FQ;
    }
    return lb_ok();
}

/* detach: clears every quantizer pointer of m and frees m->quant. */
static void detach(lb_model *m)
{
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        memset(m->blocks[i].wquant, 0, sizeof m->blocks[i].wquant);
        memset(m->blocks[i].aquant, 0, sizeof m->blocks[i].aquant);
    }
    m->emb_quant = NULL;
    m->head_quant = NULL;
    if (m->quant_free) m->quant_free(m->quant);
    m->quant = NULL;
    m->quant_free = NULL;
    m->quant_to = NULL;
}

/* new_owner: an empty quantizer table with room for every quantizer m can
 * take, installed as m's (m->quant, freed and moved with the model). */
static run_quant *new_owner(lb_model *m)
{
    run_quant *rq = calloc(1, sizeof *rq);
    int cap = (int)m->cfg.n_layers * LB_LIN_COUNT * 2 + 2;   /* + embedding, head */
    if (rq) {
        rq->q = calloc((size_t)cap, sizeof *rq->q);
        rq->is_act = calloc((size_t)cap, sizeof *rq->is_act);
        rq->cap = cap;
    }
    LB_CHECKF(rq && rq->q && rq->is_act, "out of memory for %d quantizers", cap);
    m->quant = rq;
    m->quant_free = run_quant_free;
    m->quant_to = quant_to;
    return rq;
}

static bool layer_selected(const char *layers, lb_linear_id id)
{
    static const char *names[LB_LIN_COUNT] = {"q", "k", "v", "qkv", "o", "gate", "up", "down"};
    if (!layers || !*layers || !strcmp(layers, "all")) return true;
    if (!strcmp(layers, "attn")) return id <= LB_LIN_O;
    if (!strcmp(layers, "mlp")) return id >= LB_LIN_GATE;
    size_t n = strlen(names[id]);
    for (const char *p = layers; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, names[id], n)) return true;
        p += k;
        if (*p == ',') p++;
    }
    return false;
}

/* site_name: "<weight name without .weight>.input". */
static void site_name(const char *wname, char *buf, size_t n)
{
    size_t len = strlen(wname);
    if (len > 7 && !strcmp(wname + len - 7, ".weight")) len -= 7;
    snprintf(buf, n, "%.*s.input", (int)len, wname);
}

/* weight_init: lb_quantizer_init for w on any device: a device weight is
 * read through a host copy (the state starts on the CPU; quant_to moves it). */
static lb_status weight_init(lb_ctx *ctx, lb_quantizer *q, const lb_qspec *spec, lb_tensor *w)
{
    if (w->device == LB_CPU) return lb_quantizer_init(q, spec, w, w->name);
    LB_CHECKF(ctx != NULL, "lb_run_quant_attach: a model on %s needs its context", lb_device_name(w->device));
    lb_tensor *h = lb_tensor_alloc(LB_F32, w->ndim, w->shape);
    if (!h) return lb_errorf(LB_ERR_OOM, "layer %s: out of host memory", w->name);
    lb_tensor_copy_to_host(ctx, w, h->data);
    lb_status st = lb_quantizer_init(q, spec, h, w->name);
    lb_tensor_free(h);
    return st;
}

lb_status lb_run_quant_attach(lb_ctx *ctx, lb_model *m, const char *wq, const char *aq, const char *layers,
                              bool embeddings)
{
    bool has_w = wq && *wq, has_a = aq && *aq && strcmp(aq, "none");
    if (!has_w && !has_a) return lb_ok();
    lb_qspec ws = {0}, as = {0};
    if (has_w) LB_TRY(lb_status_prefix(lb_qspec_parse(wq, LB_QROLE_WEIGHT, &ws), "--wq"));
    if (has_a) LB_TRY(lb_status_prefix(lb_qspec_parse(aq, LB_QROLE_ACT, &as), "--aq"));
    run_quant *rq = new_owner(m);
    lb_status st = lb_ok();
    for (int64_t i = 0; i < m->cfg.n_layers && !lb_failed(&st); i++) {
        lb_block *b = &m->blocks[i];
        for (int id = 0; id < LB_LIN_COUNT && !lb_failed(&st); id++) {
            lb_tensor *w = lb_block_linear_weight(b, (lb_linear_id)id);
            if (!w || !layer_selected(layers, (lb_linear_id)id)) continue;
            if (has_w) {
                lb_quantizer *q = &rq->q[rq->n];
                st = weight_init(ctx, q, &ws, w);
                if (lb_failed(&st)) break;
                rq->n++;
                b->wquant[id] = q;
            }
            if (has_a) {
                char site[256];
                site_name(w->name, site, sizeof site);
                lb_quantizer *q = &rq->q[rq->n];
                st = lb_quantizer_init_act(q, &as, site, 10.0f);
                if (lb_failed(&st)) break;
                rq->is_act[rq->n++] = true;
                b->aquant[id] = q;
            }
        }
    }
    if (!lb_failed(&st) && embeddings && has_w) {
        lb_quantizer *q = &rq->q[rq->n];
        st = weight_init(ctx, q, &ws, m->tok_emb);
        if (!lb_failed(&st)) {
            rq->n++;
            m->emb_quant = q;
        }
    }
    if (!lb_failed(&st) && m->device != LB_CPU) st = quant_to(ctx, m, m->device);
    if (lb_failed(&st)) detach(m);
    return st;
}

lb_status lb_run_quant_attach_head(lb_ctx *ctx, lb_model *m, const char *wq)
{
    if (!wq || !*wq) return lb_errorf(LB_ERR_ARG, "--quantize-head needs a weight spec: give --wq");
    if (!m->lm_head) return lb_errorf(LB_ERR_UNSUPPORTED, "--quantize-head: this model's head is packed low-bit weights");
    if (m->lm_head == m->tok_emb) {
        if (!m->emb_quant)
            return lb_errorf(LB_ERR_ARG, "--quantize-head: this model ties its head to the token embedding (one table, "
                             "%s): pass --quantize-embeddings too, which quantizes that table for both", m->tok_emb->name);
        m->head_quant = m->emb_quant;
        return lb_ok();
    }
    lb_qspec ws;
    LB_TRY(lb_status_prefix(lb_qspec_parse(wq, LB_QROLE_WEIGHT, &ws), "--wq"));
    run_quant *rq = m->quant ? m->quant : new_owner(m);
    lb_quantizer *q = &rq->q[rq->n];
    LB_TRY(lb_status_prefix(weight_init(ctx, q, &ws, m->lm_head), "--quantize-head"));
    rq->n++;
    m->head_quant = q;
    return m->device != LB_CPU ? quant_to(ctx, m, m->device) : lb_ok();
}

int lb_run_quant_count(const lb_model *m)
{
    const run_quant *rq = m->quant;
    return rq ? rq->n : 0;
}

int lb_run_quant_params(const lb_model *m, lb_tensor **out, int max)
{
    run_quant *rq = m->quant;
    int n = 0;
    for (int i = 0; rq && i < rq->n; i++) {
        lb_tensor *p[4];
        int k = lb_quantizer_params(&rq->q[i], p, 4);
        for (int j = 0; j < k; j++, n++)
            if (n < max) out[n] = p[j];
    }
    return n;
}

void lb_run_quant_zero_grads(lb_ctx *ctx, lb_tensor *const *ps, int n)
{
    for (int i = 0; i < n; i++) {
        lb_tensor *g = ps[i]->grad;
        if (g && g->device == LB_CUDA) lb_cuda_memset_zero(ctx, g->data, lb_tensor_nbytes(g));
        else if (g) memset(g->data, 0, lb_tensor_nbytes(g));
    }
}

/* ---- quant_state.safetensors ------------------------------------------------------------ */

lb_status lb_run_quant_save(const lb_model *m, const char *path)
{
    const run_quant *rq = m->quant;
    int n = rq ? rq->n : 0;
    LB_CHECKF(m->device == LB_CPU, "lb_run_quant_save: the model is on %s; move it to the CPU first",
              lb_device_name(m->device));
    lb_st_entry *e = calloc((size_t)(3 * n + 1), sizeof *e);
    const char **keys = calloc((size_t)(n + 3), sizeof *keys), **vals = calloc((size_t)(n + 3), sizeof *vals);
    char (*names)[LB_QUANT_NAME_MAX + 16] = calloc((size_t)(3 * n + 1), sizeof *names);
    char (*specs)[LB_QSPEC_STR_MAX] = calloc((size_t)(n + 1), sizeof *specs);
    float **bufs = calloc((size_t)(3 * n + 1), sizeof *bufs);
    LB_CHECK(e && keys && vals && names && specs && bufs);
    int ne = 0, nm = 0, nb = 0;
    keys[nm] = "lowbit_format";
    vals[nm++] = LB_QUANT_STATE_FORMAT;
    keys[nm] = "lowbit_version";
    vals[nm++] = LB_QUANT_STATE_VERSION;
    lb_status st = lb_ok();
    for (int i = 0; i < n && !lb_failed(&st); i++) {
        const lb_quantizer *q = &rq->q[i];
        lb_qspec_format(&q->spec, specs[i], sizeof specs[i]);
        keys[nm] = q->name;
        vals[nm++] = specs[i];
        if (rq->is_act[i]) {
            if (q->spec.mode == LB_QM_STATIC) {
                if (q->act_observed < 1) {
                    st = lb_errorf(LB_ERR_ARG, "site %s: its static activation scale was never calibrated", q->name);
                    break;
                }
                snprintf(names[ne], sizeof names[ne], "%s.absmax", q->name);
                e[ne] = (lb_st_entry){names[ne], LB_F32, 1, {1}, &q->act_absmax};
                ne++;
            }
            if (q->alpha) {
                snprintf(names[ne], sizeof names[ne], "%s.alpha", q->name);
                e[ne] = (lb_st_entry){names[ne], LB_F32, 1, {1}, q->alpha->data};
                ne++;
            }
            continue;
        }
        const lb_tensor *w = param_named(m, q->name);
        if (!w) {
            st = lb_errorf(LB_ERR_ARG, "quantizer %s has no weight in the model", q->name);
            break;
        }
        int64_t G = q->scales->shape[0] * q->scales->shape[1];
        uint8_t *codes = malloc((size_t)lb_tensor_numel(w));
        float *sc = malloc((size_t)G * sizeof *sc), *zr = malloc((size_t)G * sizeof *zr);
        LB_CHECK(codes && sc && zr);
        lb_quantizer_codes(q, w, codes, sc, q->zeros ? zr : NULL);
        free(codes);
        bufs[nb++] = sc;
        bufs[nb++] = zr;
        snprintf(names[ne], sizeof names[ne], "%s.scales", q->name);
        e[ne] = (lb_st_entry){names[ne], LB_F32, 2, {q->scales->shape[0], q->scales->shape[1]}, sc};
        ne++;
        if (q->zeros) {
            snprintf(names[ne], sizeof names[ne], "%s.zeros", q->name);
            e[ne] = (lb_st_entry){names[ne], LB_F32, 2, {q->zeros->shape[0], q->zeros->shape[1]}, zr};
            ne++;
        }
    }
    /* a tied head reads the embedding's quantizer: a marker with its spec, no tensors */
    char head_spec[LB_QSPEC_STR_MAX];
    if (m->head_quant && m->lm_head == m->tok_emb) {
        lb_qspec_format(&m->head_quant->spec, head_spec, sizeof head_spec);
        keys[nm] = LB_QUANT_TIED_HEAD_KEY;
        vals[nm++] = head_spec;
    }
    if (!lb_failed(&st)) st = lb_st_write(path, e, ne, keys, vals, nm);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    free(e);
    free(keys);
    free(vals);
    free(names);
    free(specs);
    return st;
}

bool lb_run_dir_detect(const char *path, bool *quantized)
{
    struct stat sb;
    char *cfg = lb_path_join(path, "model/config.json");
    char *qs = lb_path_join(path, "quant_state.safetensors");
    bool run = cfg && stat(cfg, &sb) == 0;
    if (quantized) *quantized = qs && stat(qs, &sb) == 0;
    free(cfg);
    free(qs);
    return run;
}

/* restore: copies tensor `name` of f into t (shapes must agree). */
static lb_status restore(const lb_st_file *f, const char *name, lb_tensor *t)
{
    const lb_st_tensor *s = lb_st_find(f, name);
    if (!s) return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s is missing", f->path, name);
    bool same = s->ndim == t->ndim;
    for (int d = 0; same && d < s->ndim; d++) same = s->shape[d] == t->shape[d];
    if (!same) {
        char b[96];
        return lb_errorf(LB_ERR_SHAPE, "%s: %s does not have the shape %s the model implies", f->path, name,
                         lb_tensor_shape_str(t, b, sizeof b));
    }
    return lb_st_read_f32(s, t->data);
}

/* restore_learned: the learned state of weight quantizer q (lsq: scales and
 * the zeros it started with, from the weights at the start of training,
 * not the final ones; lsq+: scales and zeros). */
static lb_status restore_learned(const lb_st_file *f, lb_quantizer *q)
{
    if (q->spec.mode != LB_QM_LSQ && q->spec.mode != LB_QM_LSQP) return lb_ok();
    char tn[LB_QUANT_NAME_MAX + 16];
    snprintf(tn, sizeof tn, "%s.scales", q->name);
    LB_TRY(restore(f, tn, q->scales));
    if (!q->zeros) return lb_ok();
    snprintf(tn, sizeof tn, "%s.zeros", q->name);
    return restore(f, tn, q->zeros);
}

/* restore_static: a static activation site's calibrated absmax, observed
 * again so that the scale is computed exactly as in the run. */
static lb_status restore_static(const lb_st_file *f, lb_quantizer *q)
{
    char tn[LB_QUANT_NAME_MAX + 16];
    snprintf(tn, sizeof tn, "%s.absmax", q->name);
    lb_tensor *t = lb_tensor_alloc(LB_F32, 1, (const int64_t[]){1});
    LB_CHECK(t != NULL);
    lb_status st = restore(f, tn, t);
    if (!lb_failed(&st)) st = lb_status_prefix(lb_quantizer_observe(q, t), "%s", f->path);
    lb_tensor_free(t);
    return st;
}

/* load_head: the head's quantizer from entry `spec` (--quantize-head). */
static lb_status load_head(const lb_st_file *f, lb_model *m, run_quant *rq, const char *spec)
{
    if (m->lm_head == m->tok_emb) {
        if (!m->emb_quant)
            return lb_errorf(LB_ERR_FORMAT, "%s: the tied head is quantized but the embedding %s is not", f->path,
                             m->tok_emb->name);
        m->head_quant = m->emb_quant;
        return lb_ok();
    }
    lb_qspec s;
    lb_quantizer *q = &rq->q[rq->n];
    LB_TRY(lb_status_prefix(lb_qspec_parse(spec, LB_QROLE_WEIGHT, &s), "%s: %s", f->path, m->lm_head->name));
    LB_TRY(lb_quantizer_init(q, &s, m->lm_head, m->lm_head->name));
    rq->n++;
    m->head_quant = q;
    return restore_learned(f, q);
}

lb_status lb_run_load_quantizers(lb_model *m, const char *run_dir)
{
    char *path = lb_path_join(run_dir, "quant_state.safetensors");
    LB_CHECK(path != NULL);
    lb_st_file f;
    lb_status st = lb_st_open(&f, path);
    free(path);
    LB_TRY(st);
    const char *fmt = lb_st_meta(&f, "lowbit_format");
    if (!fmt || strcmp(fmt, LB_QUANT_STATE_FORMAT)) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: not a lowbit quant state (lowbit_format is not \"%s\")", f.path,
                       LB_QUANT_STATE_FORMAT);
        lb_st_close(&f);
        return st;
    }
    const char *ver = lb_st_meta(&f, "lowbit_version");
    if (!ver || strcmp(ver, LB_QUANT_STATE_VERSION)) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: quant state version %s, this lowbit reads %s", f.path, ver ? ver : "(none)",
                       LB_QUANT_STATE_VERSION);
        lb_st_close(&f);
        return st;
    }
    run_quant *rq = new_owner(m);
    int used = 2; /* the two lowbit_* keys */
    for (int64_t i = 0; i < m->cfg.n_layers && !lb_failed(&st); i++) {
        lb_block *b = &m->blocks[i];
        for (int id = 0; id < LB_LIN_COUNT && !lb_failed(&st); id++) {
            lb_tensor *w = lb_block_linear_weight(b, (lb_linear_id)id);
            if (!w) continue;
            const char *spec = lb_st_meta(&f, w->name);
            if (spec) {
                lb_qspec s;
                lb_quantizer *q = &rq->q[rq->n];
                st = lb_status_prefix(lb_qspec_parse(spec, LB_QROLE_WEIGHT, &s), "%s: %s", f.path, w->name);
                if (!lb_failed(&st)) st = lb_quantizer_init(q, &s, w, w->name);
                if (lb_failed(&st)) break;
                rq->n++;
                b->wquant[id] = q;
                used++;
                st = restore_learned(&f, q);
            }
            char site[256];
            site_name(w->name, site, sizeof site);
            const char *aspec = lb_st_meta(&f, site);
            if (aspec && !lb_failed(&st)) {
                lb_qspec s;
                lb_quantizer *q = &rq->q[rq->n];
                st = lb_status_prefix(lb_qspec_parse(aspec, LB_QROLE_ACT, &s), "%s: %s", f.path, site);
                if (!lb_failed(&st)) st = lb_quantizer_init_act(q, &s, site, 10.0f);
                if (lb_failed(&st)) break;
                rq->is_act[rq->n++] = true;
                b->aquant[id] = q;
                used++;
                if (q->alpha) {
                    char tn[300];
                    snprintf(tn, sizeof tn, "%s.alpha", site);
                    st = restore(&f, tn, q->alpha);
                }
                if (!lb_failed(&st) && s.mode == LB_QM_STATIC) st = restore_static(&f, q);
            }
        }
    }
    const char *espec = lb_failed(&st) ? NULL : lb_st_meta(&f, m->tok_emb->name);
    if (espec) {
        lb_qspec s;
        lb_quantizer *q = &rq->q[rq->n];
        st = lb_status_prefix(lb_qspec_parse(espec, LB_QROLE_WEIGHT, &s), "%s: %s", f.path, m->tok_emb->name);
        if (!lb_failed(&st)) st = lb_quantizer_init(q, &s, m->tok_emb, m->tok_emb->name);
        if (!lb_failed(&st)) {
            rq->n++;
            m->emb_quant = q;
            used++;
        }
    }
    const char *hkey = m->lm_head == m->tok_emb ? LB_QUANT_TIED_HEAD_KEY : m->lm_head->name;
    const char *hspec = lb_failed(&st) ? NULL : lb_st_meta(&f, hkey);
    if (hspec) {
        st = load_head(&f, m, rq, hspec);
        used++;
    }
    /* "format": "pt" is added by the writer; every other key must have been used */
    int expected = f.n_meta - (lb_st_meta(&f, "format") ? 1 : 0);
    if (!lb_failed(&st) && used != expected)
        st = lb_errorf(LB_ERR_FORMAT, "%s: %d of its %d quantizer entries name no linear of this model", f.path,
                       expected - used, expected - 2);
    lb_st_close(&f);
    if (lb_failed(&st)) detach(m);
    return st;
}

lb_status lb_run_model_load(lb_model *m, const char *path)
{
    bool quantized = false;
    if (!lb_run_dir_detect(path, &quantized)) return lb_model_load(m, path);
    char *dir = lb_path_join(path, "model");
    LB_CHECK(dir != NULL);
    lb_status st = lb_model_load(m, dir);
    free(dir);
    LB_TRY(st);
    if (quantized) st = lb_run_load_quantizers(m, path);
    if (lb_failed(&st)) lb_model_free(m);
    return st;
}

lb_status lb_run_copy_tokenizer(const char *model, const char *dir)
{
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    lb_status st = lb_ok();
    for (size_t i = 0; !lb_failed(&st) && i < sizeof files / sizeof files[0]; i++) {
        char *from = lb_path_join(model, files[i]), *to = lb_path_join(dir, files[i]);
        LB_CHECK(from && to);
        struct stat sb;
        if (stat(from, &sb) == 0) st = lb_copy_file(from, to);
        free(from);
        free(to);
    }
    return st;
}

/* w <- w^ of quantizer q, through the forward's own numbers. */
static void bake(lb_tensor *w, const lb_quantizer *q)
{
    LB_CHECKF(w->device == LB_CPU && w->dtype == LB_F32, "lb_run_bake_weights: %s is not a CPU f32 weight", q->name);
    size_t n_s = (size_t)q->rows * (size_t)q->n_groups;
    float *s = malloc(n_s * sizeof *s), *z = malloc(n_s * sizeof *z);
    float *out = malloc((size_t)lb_tensor_numel(w) * sizeof *out);
    LB_CHECKF(s && z && out, "out of memory baking %s", q->name);
    lb_quantizer_run(q, w->data, s, z, out, NULL);
    memcpy(w->data, out, (size_t)lb_tensor_numel(w) * sizeof *out);
    free(s);
    free(z);
    free(out);
}

void lb_run_bake_weights(lb_model *m)
{
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        lb_block *b = &m->blocks[i];
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            if (!b->wquant[id]) continue;
            bake(lb_block_linear_weight(b, (lb_linear_id)id), b->wquant[id]);
            b->wquant[id] = NULL;   /* still owned (and freed) through m->quant */
        }
    }
    if (m->head_quant && m->lm_head != m->tok_emb) {
        bake(m->lm_head, m->head_quant);
        m->head_quant = NULL;
    }
    /* a tied table is baked only when both readers quantize it (else the
     * head reads the raw table: keep the embedding's quantizer then) */
    bool tied = m->lm_head == m->tok_emb;
    if (m->emb_quant && (!tied || m->head_quant == m->emb_quant)) {
        bake(m->tok_emb, m->emb_quant);
        m->emb_quant = NULL;
        if (tied) m->head_quant = NULL;
    }
}
