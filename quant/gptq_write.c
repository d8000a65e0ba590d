/* gptq_write.c — lb_gptq_export: a model with int<b> weight quantizers as
 * a GPTQ directory (FORMATS.md §3, AutoGPTQ's v1 layout or GPTQModel's v2),
 * lossless: the file holds the forward's own codes, fp16 scales and zeros
 * (lb_quantizer_codes), so decoding it gives the run's w^ bit for bit. The
 * export reads its own output back and checks exactly that before it
 * reports success.
 *
 * Mapping from lowbit's quantizer (weight (N out, K in), groups of `group`
 * consecutive inputs) to GPTQ: codes q[n][k] -> qweight column n; scales
 * and zeros (N, G) -> (G, N); group_size = group (per channel: -1); a
 * per-tensor scale is one group per row with the same scale everywhere.
 * g_idx = k / group_size (lowbit does not reorder inputs).
 *
 * Not here: reading GPTQ files (gptq_read.c), the model loader
 * (gptq_load.c), the HF fp16 export (export_hf.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tensor.h"
#include "layers/fileio.h"
#include "layers/json_util.h"
#include "quant/export_hf.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"

/* One quantized linear of the model. */
typedef struct gq_layer {
    const lb_quantizer *q;
    const lb_tensor *w;      /* (N, K) f32 master weight */
    char prefix[256];        /* HF name without ".weight" */
} gq_layer;

/* One tensor to write; data owned (malloc'd). */
typedef struct gq_out {
    char name[288];
    lb_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;
} gq_out;

typedef struct gq_state {
    const lb_model *m;
    gq_layer *layers;
    int n_layers;
    gq_out *outs;
    int n_outs, cap_outs;
    lb_gptq_config cfg;
} gq_state;

static const char *param_name_of(const lb_model *m, const lb_tensor *t)
{
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i] == t) return m->param_names[i];
    return NULL;
}

/* add_layer: one quantized weight w (N, K) with quantizer q, checked
 * against what GPTQ holds and the config the earlier ones set. */
static lb_status add_layer(gq_state *s, const lb_quantizer *q, const lb_tensor *w)
{
    const lb_qspec *sp = &q->spec;
    char spec[LB_QSPEC_STR_MAX];
    lb_qspec_format(sp, spec, sizeof spec);
    if (sp->format != LB_QF_INT)
        return lb_errorf(LB_ERR_UNSUPPORTED, "layer %s: spec %s is not an int<b> grid, which GPTQ stores; "
                         "pass --wq int4:g128 (or another int<b> spec: the master weights are "
                         "quantized by RTN on that grid)", q->name, spec);
    if (sp->bits != 2 && sp->bits != 3 && sp->bits != 4 && sp->bits != 8)
        return lb_errorf(LB_ERR_UNSUPPORTED, "layer %s: spec %s has %d bits; GPTQ packs 2, 3, 4 or 8 bits "
                         "(pass --wq int4:g128 or another of those widths)", q->name, spec, sp->bits);
    if (!sp->scale_f16)
        return lb_errorf(LB_ERR_UNSUPPORTED, "layer %s: spec %s keeps f32 scales, but GPTQ stores fp16 "
                         "scales, so the export would not be lossless; train or quantize with the :f16 "
                         "scale dtype (the int<b> default), or pass --wq with :f16", q->name, spec);
    int64_t N = w->shape[0], K = w->shape[1];
    if (N % 32 || K % 32)
        return lb_errorf(LB_ERR_UNSUPPORTED, "layer %s is (%lld, %lld): GPTQ packing needs in and out "
                         "features that are multiples of 32", q->name, (long long)N, (long long)K);
    int gs = sp->gran == LB_QG_GROUP ? sp->group : -1;
    if (!s->n_layers) {
        s->cfg.bits = sp->bits;
        s->cfg.group_size = gs;
        s->cfg.sym = sp->sym;
    } else if (sp->bits != s->cfg.bits || gs != s->cfg.group_size || sp->sym != s->cfg.sym) {
        char a[LB_QSPEC_STR_MAX];
        lb_qspec_format(&s->layers[0].q->spec, a, sizeof a);
        return lb_errorf(LB_ERR_UNSUPPORTED, "layer %s uses %s but layer %s uses %s: a GPTQ checkpoint has one bits / "
                         "group_size / sym for every layer; pass one --wq for all", q->name, spec,
                         s->layers[0].q->name, a);
    }
    gq_layer *L = &s->layers[s->n_layers++];
    L->q = q;
    L->w = w;
    const char *name = param_name_of(s->m, w);
    LB_CHECKF(name, "layer %s is not a parameter of the model", q->name);
    size_t len = strlen(name);
    if (len > 7 && !strcmp(name + len - 7, ".weight")) len -= 7;
    snprintf(L->prefix, sizeof L->prefix, "%.*s", (int)len, name);
    return lb_ok();
}

/* collect: the quantized linears (and a quantized untied lm_head) and the
 * one GPTQ config they share. */
static lb_status collect(gq_state *s)
{
    const lb_model *m = s->m;
    if (m->emb_quant)
        return lb_errorf(LB_ERR_UNSUPPORTED, "the model quantizes its token embedding%s, which a GPTQ checkpoint "
                         "cannot hold (only linears are packed); export --format gguf or hf, or re-run without "
                         "--quantize-embeddings", m->head_quant == m->emb_quant ? " (and the head tied to it)" : "");
    s->layers = calloc((size_t)(m->cfg.n_layers * LB_LIN_COUNT + 1), sizeof *s->layers);
    if (!s->layers) return lb_errorf(LB_ERR_OOM, "out of memory");
    bool act = false;
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        const lb_block *b = &m->blocks[i];
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            act = act || b->aquant[id];
            const lb_quantizer *q = b->wquant[id];
            const lb_tensor *w = lb_block_linear_weight(b, (lb_linear_id)id);
            if (q && w) LB_TRY(add_layer(s, q, w));
        }
    }
    if (m->head_quant) {   /* untied (a tied one is the embedding's, refused above) */
        LB_TRY(add_layer(s, m->head_quant, m->lm_head));
        s->cfg.lm_head = true;
    }
    if (!s->n_layers)
        return lb_errorf(LB_ERR_ARG, "the model has no weight quantizers: pass --wq (e.g. int4:g128) to quantize it "
                         "by RTN for the export, or export a QAT / PTQ run directory");
    if (act)
        fprintf(stderr, "lowbit: warning: the run also quantizes activations; a GPTQ checkpoint holds the weights "
                        "only, so readers run those activations in full precision\n");
    return lb_ok();
}

static gq_out *add_out(gq_state *s, const char *name, lb_dtype dt, int ndim, int64_t d0, int64_t d1)
{
    if (s->n_outs == s->cap_outs) {
        int cap = s->cap_outs ? 2 * s->cap_outs : 64;
        gq_out *o = realloc(s->outs, (size_t)cap * sizeof *o);
        if (!o) return NULL;
        s->outs = o;
        s->cap_outs = cap;
    }
    gq_out *o = &s->outs[s->n_outs];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->dtype = dt;
    o->ndim = ndim;
    o->shape[0] = d0;
    o->shape[1] = d1;
    size_t numel = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1);
    o->data = malloc(numel * lb_dtype_size(dt) + 1);
    if (!o->data) return NULL;
    s->n_outs++;
    return o;
}

/* pack_layer: the four GPTQ tensors of one quantized linear. */
static lb_status pack_layer(gq_state *s, const gq_layer *L)
{
    const lb_quantizer *q = L->q;
    const int64_t N = L->w->shape[0], K = L->w->shape[1], b = s->cfg.bits;
    const int64_t qG = q->spec.gran == LB_QG_TENSOR ? 1 : q->n_groups;   /* lowbit's groups per row */
    const int64_t gs = s->cfg.group_size > 0 ? s->cfg.group_size : K;
    const int64_t G = K / gs;
    const int maxq = (1 << b) - 1;
    uint8_t *codes = malloc((size_t)(N * K));
    int64_t ns = q->spec.gran == LB_QG_TENSOR ? 1 : N * qG;
    float *sc = malloc((size_t)ns * sizeof *sc), *zs = malloc((size_t)ns * sizeof *zs);
    int32_t *tmp = malloc((size_t)(K > N ? K : N) * sizeof *tmp);
    char name[320];
    lb_status st = lb_ok();
    if (!codes || !sc || !zs || !tmp) {
        st = lb_errorf(LB_ERR_OOM, "layer %s: out of memory", q->name);
        goto out;
    }
    lb_quantizer_codes(q, L->w, codes, sc, zs);

    snprintf(name, sizeof name, "%s.qweight", L->prefix);
    gq_out *o = add_out(s, name, LB_I32, 2, K * b / 32, N);
    if (!o) goto oom;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) tmp[k] = codes[n * K + k];
        lb_gptq_pack(tmp, 1, K, (int)b, (int32_t *)o->data + n, N);
    }

    snprintf(name, sizeof name, "%s.qzeros", L->prefix);
    gq_out *oz = add_out(s, name, LB_I32, 2, G, N * b / 32);
    snprintf(name, sizeof name, "%s.scales", L->prefix);
    gq_out *os = oz ? add_out(s, name, LB_F16, 2, G, N) : NULL;
    if (!os) goto oom;
    oz = &s->outs[s->n_outs - 2];   /* add_out may have moved the array */
    for (int64_t g = 0; g < G; g++) {
        for (int64_t n = 0; n < N; n++) {
            int64_t i = q->spec.gran == LB_QG_TENSOR ? 0 : n * qG + g;
            float z = zs[i], h;
            if (z != nearbyintf(z) || z < 0 || z > (float)maxq) {
                st = lb_errorf(LB_ERR_UNSUPPORTED, "layer %s: zero %g of row %lld group %lld is not an integer code "
                               "in [0, %d], which GPTQ cannot store", q->name, (double)z, (long long)n,
                               (long long)g, maxq);
                goto out;
            }
            if (!s->cfg.v2 && z == 0) {
                st = lb_errorf(LB_ERR_UNSUPPORTED, "layer %s: row %lld group %lld has zero point 0, which the v1 GPTQ "
                               "layout (stored zero - 1) cannot hold; pass --gptq-format v2 to write "
                               "checkpoint_format gptq_v2 (GPTQModel, vLLM), or use a :sym spec", q->name,
                               (long long)n, (long long)g);
                goto out;
            }
            tmp[n] = (int32_t)z - (s->cfg.v2 ? 0 : 1);
            lb_convert_from_f32((uint16_t *)os->data + g * N + n, &sc[i], LB_F16, 1);
            lb_convert_to_f32(&h, (uint16_t *)os->data + g * N + n, LB_F16, 1);
            LB_CHECKF(h == sc[i], "layer %s: scale %g is not an fp16 value although the spec stores fp16", q->name,
                      (double)sc[i]);
        }
        lb_gptq_pack(tmp, 1, N, (int)b, (int32_t *)oz->data + g * (N * b / 32), 1);
    }

    snprintf(name, sizeof name, "%s.g_idx", L->prefix);
    gq_out *og = add_out(s, name, LB_I32, 1, K, 0);
    if (!og) goto oom;
    for (int64_t k = 0; k < K; k++) ((int32_t *)og->data)[k] = (int32_t)(k / gs);
    goto out;
oom:
    st = lb_errorf(LB_ERR_OOM, "layer %s: out of memory", q->name);
out:
    free(codes);
    free(sc);
    free(zs);
    free(tmp);
    return st;
}

static const gq_layer *layer_of(const gq_state *s, const lb_tensor *t)
{
    for (int i = 0; i < s->n_layers; i++)
        if (s->layers[i].w == t) return &s->layers[i];
    return NULL;
}

/* is_conv1d: GPT-2 keeps its block linears as Conv1D [in, out] on disk. */
static bool is_conv1d(const lb_model *m, const lb_tensor *t)
{
    if (m->cfg.arch != LB_ARCH_GPT2) return false;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (lb_block_linear_weight(&m->blocks[i], (lb_linear_id)id) == t) return true;
    return false;
}

/* plain_tensor: a non-quantized parameter as f16 (HF layout). */
static lb_status plain_tensor(gq_state *s, const char *name, const lb_tensor *t)
{
    bool conv = t->ndim == 2 && is_conv1d(s->m, t);
    int64_t d0 = conv ? t->shape[1] : t->shape[0], d1 = t->ndim > 1 ? (conv ? t->shape[0] : t->shape[1]) : 0;
    gq_out *o = add_out(s, name, LB_F16, t->ndim, d0, d1);
    if (!o) return lb_errorf(LB_ERR_OOM, "tensor %s: out of memory", name);
    const float *src = lb_tensor_f32(t);
    if (!conv) {
        lb_convert_from_f32(o->data, src, LB_F16, (size_t)lb_tensor_numel(t));
        return lb_ok();
    }
    for (int64_t r = 0; r < t->shape[0]; r++)       /* (out, in) -> [in, out] */
        for (int64_t c = 0; c < t->shape[1]; c++)
            lb_convert_from_f32((uint16_t *)o->data + c * t->shape[0] + r, &src[r * t->shape[1] + c], LB_F16, 1);
    return lb_ok();
}

static lb_status write_json(FILE *fp, void *ud)
{
    char *text = cJSON_Print(ud);
    if (!text) return lb_errorf(LB_ERR_OOM, "out of memory");
    bool ok = fputs(text, fp) >= 0 && fputc('\n', fp) != EOF;
    cJSON_free(text);
    return ok ? lb_ok() : lb_errorf(LB_ERR_IO, "write failed");
}

/* write_configs: config.json (the model's, f16, with quantization_config)
 * and quantize_config.json. */
static lb_status write_configs(const gq_state *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    lb_model_config cfg = s->m->cfg;
    cfg.torch_dtype = LB_F16;
    LB_TRY(lb_config_save(&cfg, path));
    cJSON *root = NULL;
    LB_TRY(lb_json_load(path, &root));
    cJSON *qc = lb_gptq_config_json(&s->cfg);
    cJSON *qc2 = qc ? cJSON_Duplicate(qc, 1) : NULL;
    lb_status st = lb_ok();
    if (!qc2 || !cJSON_AddItemToObject(root, "quantization_config", qc)) {
        cJSON_Delete(qc);
        st = lb_errorf(LB_ERR_OOM, "out of memory");
    }
    if (!lb_failed(&st)) st = lb_atomic_write(path, write_json, root);
    if (!lb_failed(&st)) {
        snprintf(path, sizeof path, "%s/quantize_config.json", dir);
        st = lb_atomic_write(path, write_json, qc2);
    }
    cJSON_Delete(root);
    cJSON_Delete(qc2);
    return lb_failed(&st) ? lb_status_prefix(st, "%s", path) : st;
}

/* verify: reads dir back and checks each packed linear decodes to the
 * forward's w^ exactly. */
static lb_status verify(const gq_state *s, const char *dir)
{
    lb_gptq_config cfg;
    LB_TRY(lb_gptq_config_load(dir, &cfg));
    if (cfg.bits != s->cfg.bits || cfg.group_size != s->cfg.group_size || cfg.sym != s->cfg.sym ||
        cfg.v2 != s->cfg.v2)
        return lb_errorf(LB_ERR_FORMAT, "%s: the config read back differs from the one written", dir);
    lb_ckpt ck;
    LB_TRY(lb_ckpt_open(&ck, dir));
    lb_status st = lb_ok();
    for (int i = 0; i < s->n_layers && !lb_failed(&st); i++) {
        const gq_layer *L = &s->layers[i];
        const lb_quantizer *q = L->q;
        int64_t N = L->w->shape[0], K = L->w->shape[1];
        int64_t ns = q->spec.gran == LB_QG_TENSOR ? 1 : N * q->n_groups;
        lb_packed *p = NULL;
        st = lb_gptq_packed_load(&ck, dir, &cfg, L->prefix, N, K, &p);
        if (lb_failed(&st)) break;
        float *dec = malloc((size_t)(N * K) * sizeof *dec), *ref = malloc((size_t)(N * K) * sizeof *ref);
        float *sc = malloc((size_t)ns * sizeof *sc), *zs = malloc((size_t)ns * sizeof *zs);
        if (!dec || !ref || !sc || !zs) st = lb_errorf(LB_ERR_OOM, "out of memory");
        else {
            lb_packed_gptq_decode(p, 0, N, dec);
            lb_quantizer_run(q, lb_tensor_f32(L->w), sc, zs, ref, NULL);
            if (memcmp(dec, ref, (size_t)(N * K) * sizeof *dec))
                st = lb_errorf(LB_ERR_FORMAT, "%s: layer %s read back does not decode to the forward's weights", dir,
                               L->prefix);
        }
        free(dec);
        free(ref);
        free(sc);
        free(zs);
        lb_packed_free(p);
    }
    lb_ckpt_close(&ck);
    return st;
}

static void state_free(gq_state *s)
{
    for (int i = 0; i < s->n_outs; i++) free(s->outs[i].data);
    free(s->outs);
    free(s->layers);
}

lb_status lb_gptq_export(const lb_model *m, const lb_gptq_export_opts *o, const char *dir,
                         lb_gptq_config *written, lb_export_report *r)
{
    LB_CHECKF(m->device == LB_CPU, "lb_gptq_export: the model must be on the CPU");
    gq_state s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.cfg.v2 = o->v2;
    lb_st_entry *entries = NULL;
    lb_status st = collect(&s);
    for (int i = 0; i < m->n_params && !lb_failed(&st); i++) {
        const gq_layer *L = layer_of(&s, m->params[i]);
        st = L ? pack_layer(&s, L) : plain_tensor(&s, m->param_names[i], m->params[i]);
    }
    if (lb_failed(&st)) goto out;
    entries = calloc((size_t)s.n_outs, sizeof *entries);
    if (!entries) {
        st = lb_errorf(LB_ERR_OOM, "out of memory");
        goto out;
    }
    double qbits = 0;
    for (int i = 0; i < s.n_outs; i++) {
        const gq_out *t = &s.outs[i];
        entries[i] = (lb_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        entries[i].shape[0] = t->shape[0];
        entries[i].shape[1] = t->shape[1];
        size_t len = strlen(t->name);
        bool packed = len > 8 && (!strcmp(t->name + len - 8, ".qweight") || !strcmp(t->name + len - 7, ".qzeros") ||
                                  !strcmp(t->name + len - 7, ".scales") || !strcmp(t->name + len - 6, ".g_idx"));
        if (packed) qbits += 8.0 * (double)lb_dtype_size(t->dtype) * (double)t->shape[0] * (double)(t->ndim > 1 ? t->shape[1] : 1);
    }
    st = lb_ckpt_write(dir, entries, s.n_outs, o->max_shard_bytes ? o->max_shard_bytes : LB_GPTQ_SHARD_BYTES);
    if (!lb_failed(&st)) st = write_configs(&s, dir);
    if (!lb_failed(&st) && o->tokenizer_dir) st = lb_export_copy_tokenizer(o->tokenizer_dir, dir);
    if (!lb_failed(&st)) st = verify(&s, dir);
    if (!lb_failed(&st) && written) *written = s.cfg;
    if (!lb_failed(&st) && r) {
        memset(r, 0, sizeof *r);
        r->file_bytes = lb_export_dir_bytes(dir);
        for (int i = 0; i < s.n_layers; i++) r->n_weights += lb_tensor_numel(s.layers[i].w);
        for (int i = 0; i < m->n_params; i++) r->n_params += lb_tensor_numel(m->params[i]);
        r->weight_bits = qbits;
        r->bits_per_weight = 8.0 * (double)r->file_bytes / (double)r->n_params;
        r->n_tensors = s.n_outs;
        r->n_lossless = s.n_layers;
    }
out:
    free(entries);
    state_free(&s);
    return st;
}
