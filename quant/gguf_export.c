/* gguf_export.c — lb_export_gguf (quant/export.h): a model as a GGUF v3 file
 * for llama.cpp.
 *
 * Every parameter of the model, in HF order, becomes one GGUF tensor named
 * by gguf_names.c. Its type (FORMATS §5.7): 1-D tensors (norms, biases) and
 * GPT-2's position table F32; 2-D weights the --type, falling back to F16
 * when a row is not whole blocks (reported); in a run that quantized some
 * weights, the weights it kept in full precision get `keep_type` (F32 by
 * default, so the file computes what the run computed). Quantized weights
 * are encoded from lb_quantizer_codes: the run's own quantizer when its
 * grid is the --type (lossless: the exact codes and fp16 scales it trained
 * with), else a fresh quantizer of the --type's spec, which is ggml's
 * reference quantizer (quant/grid.h); codes and scales are packed into
 * ggml blocks by lb_ggml_pack_row. Q and K rows (weights and biases) are
 * then permuted as llama.cpp's converter does (§5.8); whole rows move, so
 * the blocks are unchanged. Each tensor is encoded when the writer reaches
 * it (one tensor's bytes in memory at a time). The file is written
 * atomically, then read back with lb_gguf_open and checked tensor by tensor
 * (infos, and a hash of the bytes taken when they were written) before
 * success.
 */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quant/export.h"
#include "quant/ggml_pack.h"
#include "quant/gguf_internal.h"
#include "quant/gguf_names.h"
#include "quant/packed_ggml.h"
#include "quant/quantizer.h"

/* A tensor type choice: the ggml type and, for block types, the spec whose
 * quantizer makes its codes. */
typedef struct ttype {
    int ggml;
    bool quantized;
    lb_qspec spec;
    uint32_t file_type;     /* general.file_type (LlamaFileType) */
} ttype;

static lb_status parse_type(const char *flag, const char *s, ttype *t)
{
    memset(t, 0, sizeof *t);
    static const struct {
        const char *name;
        int ggml;
        uint32_t ft;
    } floats[] = {{"f32", LB_GGML_F32, 0}, {"f16", LB_GGML_F16, 1}, {"bf16", LB_GGML_BF16, 32}};
    for (size_t i = 0; s && i < sizeof floats / sizeof floats[0]; i++)
        if (!strcmp(s, floats[i].name)) {
            t->ggml = floats[i].ggml;
            t->file_type = floats[i].ft;
            return lb_ok();
        }
    lb_qspec spec;
    lb_status st = s ? lb_qspec_parse(s, LB_QROLE_WEIGHT, &spec) : lb_errorf(LB_ERR_ARG, "missing");
    int id = lb_failed(&st) || !lb_qspec_is_ggml(&spec) ? -1 : lb_ggml_type_id(spec.format);
    if (id < 0 || !lb_ggml_type_decodable(id, NULL))
        return lb_errorf(LB_ERR_ARG, "export: %s must be q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q6_k, f16, bf16 or f32, got "
                         "'%s'", flag, s ? s : "(none)");
    t->ggml = id;
    t->quantized = true;
    t->spec = spec;
    /* LlamaFileType: MOSTLY_Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8, Q5_1 9, Q4_K_S 14, Q6_K 18 */
    switch (id) {
    case LB_GGML_Q4_0: t->file_type = 2; break;
    case LB_GGML_Q4_1: t->file_type = 3; break;
    case LB_GGML_Q8_0: t->file_type = 7; break;
    case LB_GGML_Q5_0: t->file_type = 8; break;
    case LB_GGML_Q5_1: t->file_type = 9; break;
    case LB_GGML_Q4_K: t->file_type = 14; break;
    default: t->file_type = 18; break;
    }
    return lb_ok();
}

/* How one tensor's bytes are made when the writer asks for them
 * (lb_gguf_write_streamed: one tensor in memory at a time). */
typedef struct job {
    const lb_tensor *w;       /* lowbit layout; NULL: the tensor has its own data */
    const lb_quantizer *q;    /* the run's quantizer to take codes from, or NULL (reference / float) */
    ttype t;
    size_t rb;                /* bytes per row */
    int64_t heads;            /* Q/K permutation (§5.8), or 0 */
    uint64_t hash;            /* FNV-1a of the bytes written, for the read-back check */
} job;

/* The export under way. */
typedef struct exporter {
    const lb_model *m;
    const lb_gguf_export_opts *o;
    ttype target, keep;
    bool run_quantized;       /* some weight of m has a quantizer */
    lb_gguf *g;
    job *jobs;                /* one per tensor of g, same index */
    float *rope_freqs;        /* the one tensor with its own data */
    lb_export_report *r;
} exporter;

static uint64_t fnv1a(const uint8_t *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* qk_heads: heads to permute t's rows by (§5.8): nh for q, nkv for k
 * (weights and biases of a llama block), else 0 */
static int64_t qk_heads(const lb_model *m, const lb_tensor *t)
{
    if (m->cfg.arch != LB_ARCH_LLAMA) return 0;
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        const lb_block *b = &m->blocks[i];
        if (t == b->wq || (b->bq && t == b->bq)) return m->cfg.n_heads;
        if (t == b->wk || (b->bk && t == b->bk)) return m->cfg.n_kv_heads;
    }
    return 0;
}

/* encode_quantized: rows of w as blocks of t->ggml, from q's codes (or a
 * fresh reference quantizer of t->spec when q is NULL) */
static lb_status encode_quantized(const ttype *t, const lb_tensor *w, const lb_quantizer *q, const char *name,
                                  uint8_t *dst, size_t rb)
{
    int64_t rows = w->shape[0], cols = w->shape[1];
    lb_quantizer fresh;
    if (!q) {
        LB_TRY(lb_quantizer_init(&fresh, &t->spec, w, name));
        q = &fresh;
    }
    int64_t G = q->n_groups;
    uint8_t *codes = malloc((size_t)(rows * cols));
    float *s = malloc((size_t)(rows * G) * sizeof *s), *z = malloc((size_t)(rows * G) * sizeof *z);
    lb_status st = lb_ok();
    if (!codes || !s || !z) st = lb_errorf(LB_ERR_OOM, "out of memory quantizing %s", name);
    else {
        lb_quantizer_codes(q, w, codes, s, z);
        for (int64_t r = 0; r < rows; r++)
            lb_ggml_pack_row(t->spec.format, codes + r * cols, s + r * G, z + r * G, cols, dst + (size_t)r * rb);
    }
    free(codes);
    free(s);
    free(z);
    if (q == &fresh) lb_quantizer_free(&fresh);
    return st;
}

static void encode_float(int ggml, const lb_tensor *w, uint8_t *dst)
{
    const float *x = w->data;
    size_t n = (size_t)lb_tensor_numel(w);
    if (ggml == LB_GGML_F32) memcpy(dst, x, n * sizeof *x);
    else lb_convert_from_f32(dst, x, ggml == LB_GGML_F16 ? LB_F16 : LB_BF16, n);
}

/* add_param: tensor w (lowbit layout), which the run reads through q
 * (NULL: in full precision), as GGUF tensor `gname` */
static lb_status add_param(exporter *ex, const char *gname, const lb_tensor *w, const lb_quantizer *q)
{
    const lb_model *m = ex->m;
    bool matrix = w->ndim == 2 && w != m->pos_emb;
    ttype t = {LB_GGML_F32, false, {0}, 0};
    if (matrix) t = ex->run_quantized && !q ? ex->keep : ex->target;
    int64_t rows = w->ndim == 2 ? w->shape[0] : 1, cols = w->ndim == 2 ? w->shape[1] : w->shape[0];
    int64_t block = 1;
    lb_ggml_type_info(t.ggml, &block, NULL, NULL);
    if (cols % block) {
        if (ex->r->n_fallback < 4)
            fprintf(stderr, "export: %s: rows of %lld do not fit %s blocks of %lld; written as F16 (as llama.cpp's "
                    "converter does)\n", gname, (long long)cols, ex->o->type, (long long)block);
        t = (ttype){LB_GGML_F16, false, {0}, 0};
        ex->r->n_fallback++;
    }
    bool lossless = t.quantized && q && q->spec.format == t.spec.format;
    if (t.quantized && q && !lossless && !ex->o->quiet) {
        char sb[LB_QSPEC_STR_MAX];
        fprintf(stderr, "export: %s: the run quantized it with %s, not %s: re-quantized by the reference quantizer\n",
                gname, lb_qspec_format(&q->spec, sb, sizeof sb), ex->o->type);
    }
    int64_t ne[2] = {cols, rows};
    LB_TRY(lb_gguf_add_tensor(ex->g, gname, w->ndim == 2 ? 2 : 1, ne, t.ggml, NULL)); /* bytes: fill_tensor */
    size_t rb = (size_t)lb_ggml_row_bytes(t.ggml, cols);
    ex->jobs[ex->g->n_t - 1] = (job){w, lossless ? q : NULL, t, rb, qk_heads(m, w), 0};
    ex->r->n_tensors++;
    ex->r->n_params += rows * cols;
    if (t.quantized) {
        ex->r->n_weights += rows * cols;
        ex->r->weight_bits += 8.0 * (double)(rb * (size_t)rows);
        ex->r->n_lossless += lossless;
    }
    return lb_ok();
}

/* fill_tensor: the bytes of tensor i (lb_gguf_fill_fn) */
static lb_status fill_tensor(void *ud, int64_t i, uint8_t *dst, uint64_t nbytes)
{
    exporter *ex = ud;
    job *j = &ex->jobs[i];
    const char *gname = ex->g->t[i].name;
    const lb_tensor *w = j->w;
    int64_t rows = w->ndim == 2 ? w->shape[0] : 1, cols = w->ndim == 2 ? w->shape[1] : w->shape[0];
    LB_CHECK(nbytes == j->rb * (uint64_t)rows);
    if (j->t.quantized) LB_TRY(encode_quantized(&j->t, w, j->q, gname, dst, j->rb)); /* errors name gname */
    else encode_float(j->t.ggml, w, dst);
    if (j->heads) LB_TRY(lb_gguf_permute_qk(dst, w->ndim == 2 ? rows : cols, w->ndim == 2 ? j->rb : 4, j->heads, true));
    j->hash = fnv1a(dst, nbytes);
    return lb_ok();
}

/* rope_freqs: llama.cpp's llama3 factors (§5.6), F32 (hd/2) */
static lb_status add_rope_freqs(exporter *ex)
{
    const lb_model_config *c = &ex->m->cfg;
    if (c->arch != LB_ARCH_LLAMA || c->rope.type != LB_ROPE_LLAMA3) return lb_ok();
    int64_t n = c->head_dim / 2;
    float *f = ex->rope_freqs = malloc((size_t)n * sizeof *f);
    if (!f) return lb_errorf(LB_ERR_OOM, "out of memory");
    const double pi = 3.14159265358979323846;
    double low_wl = (double)c->rope.original_max_pos / c->rope.low_freq_factor;
    double high_wl = (double)c->rope.original_max_pos / c->rope.high_freq_factor;
    for (int64_t j = 0; j < n; j++) {
        double freq = 1.0 / pow(c->rope.theta, (double)(2 * j) / (double)c->head_dim), wl = 2 * pi / freq;
        if (wl < high_wl) f[j] = 1.0f;
        else if (wl > low_wl) f[j] = (float)c->rope.factor;
        else {
            double smooth = ((double)c->rope.original_max_pos / wl - c->rope.low_freq_factor) /
                            (c->rope.high_freq_factor - c->rope.low_freq_factor);
            f[j] = (float)(1.0 / ((1 - smooth) / c->rope.factor + smooth));
        }
    }
    int64_t ne[1] = {n};
    ex->r->n_tensors++;
    return lb_gguf_add_tensor(ex->g, "rope_freqs.weight", 1, ne, LB_GGML_F32, f);
}

static lb_status add_tensors(exporter *ex)
{
    const lb_model *m = ex->m;
    char gname[LB_GGUF_NAME_MAX + 2];
    for (int i = 0; i < m->n_params; i++) {
        if (!lb_gguf_name_of(m->cfg.arch, m->param_names[i], gname, sizeof gname))
            return lb_errorf(LB_ERR_UNSUPPORTED, "export: tensor %s has no GGUF name", m->param_names[i]);
        LB_TRY(add_param(ex, gname, m->params[i], lb_model_weight_quantizer(m, m->params[i])));
    }
    /* a tied head: gpt2 needs output.weight (the converter duplicates wte);
     * a run that reads the table through different quantizers as embedding
     * and as head (the head raw, or --quantize-head without it) needs its
     * own output.weight too, written as the head reads it */
    if (m->cfg.tie_embeddings && (m->cfg.arch == LB_ARCH_GPT2 || m->emb_quant != m->head_quant))
        LB_TRY(add_param(ex, "output.weight", m->tok_emb, m->head_quant));
    return add_rope_freqs(ex);
}

/* verify: the file at path holds exactly the tensors (their infos, and
 * bytes with the hashes taken when they were written) and keys of g */
static lb_status verify(const exporter *ex, const char *path)
{
    const lb_gguf *g = ex->g;
    lb_gguf *back;
    LB_TRY(lb_status_prefix(lb_gguf_open(path, &back), "export: reading back"));
    lb_status st = lb_ok();
    if (back->n_t != g->n_t || back->n_kv != g->n_kv)
        st = lb_errorf(LB_ERR_IO, "export: %s read back holds %lld tensors and %lld keys, %lld and %lld were written",
                       path, (long long)back->n_t, (long long)back->n_kv, (long long)g->n_t, (long long)g->n_kv);
    for (int64_t i = 0; !lb_failed(&st) && i < g->n_t; i++) {
        const lb_gguf_tensor *a = &g->t[i], *b = &back->t[i];
        bool same = !strcmp(a->name, b->name) && a->type == b->type && a->nbytes == b->nbytes &&
                    !memcmp(a->ne, b->ne, sizeof a->ne);
        if (same) same = a->data ? !memcmp(a->data, b->data, (size_t)a->nbytes)
                                 : fnv1a(b->data, b->nbytes) == ex->jobs[i].hash;
        if (!same)
            st = lb_errorf(LB_ERR_IO, "export: %s read back: tensor %s differs from what was written", path, a->name);
    }
    for (int64_t i = 0; !lb_failed(&st) && i < g->n_kv; i++)
        if (!lb_gguf_find(back, g->kv[i].key))
            st = lb_errorf(LB_ERR_IO, "export: %s read back: key %s is missing", path, g->kv[i].key);
    lb_gguf_free(back);
    return st;
}

/* note_activations: GGUF holds weights only; say so when the run also
 * quantized activations (llama.cpp will not) */
static void note_activations(const lb_model *m)
{
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (m->blocks[i].aquant[id] && m->blocks[i].aquant[id]->spec.format != LB_QF_NONE) {
                fprintf(stderr, "export: note: the run also quantizes activations (%s); a GGUF file holds weights "
                        "only, so llama.cpp (and lowbit on this file) run them in full precision\n",
                        m->blocks[i].aquant[id]->name);
                return;
            }
}

static bool any_quantizer(const lb_model *m)
{
    if (m->emb_quant || m->head_quant) return true;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (m->blocks[i].wquant[id]) return true;
    return false;
}

static void default_name(const char *source, char *buf, size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", source ? source : "lowbit");
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
    snprintf(buf, n, "%s", basename(tmp));
}

lb_status lb_export_gguf(const lb_model *m, const lb_tokenizer *tok, const lb_gguf_export_opts *o,
                         lb_export_report *r)
{
    memset(r, 0, sizeof *r);
    if (m->packed_ops) return lb_errorf(LB_ERR_UNSUPPORTED, "export: the model is already packed (a low-bit file)");
    exporter ex = {m, o, {0}, {0}, any_quantizer(m), NULL, NULL, NULL, r};
    LB_TRY(parse_type("--type", o->type, &ex.target));
    if (o->keep_type && !strcmp(o->keep_type, "type")) ex.keep = ex.target;
    else LB_TRY(parse_type("--keep-type", o->keep_type ? o->keep_type : "f32", &ex.keep));
    lb_tok_ggml tg;
    LB_TRY(lb_tok_ggml_from(tok, m->cfg.vocab_size, &tg));
    note_activations(m);
    if (tg.lossy_added)
        fprintf(stderr, "export: note: %d added tokens have lstrip/rstrip/single_word flags, which GGUF cannot hold\n",
                tg.lossy_added);
    ex.g = lb_gguf_new();
    ex.jobs = calloc((size_t)m->n_params + 4, sizeof *ex.jobs);
    lb_status st = ex.g && ex.jobs ? lb_ok() : lb_errorf(LB_ERR_OOM, "out of memory");
    if (!lb_failed(&st)) st = add_tensors(&ex);
    if (!lb_failed(&st) && r->n_fallback > 4)
        fprintf(stderr, "export: ... %d tensors in all fell back to F16 (rows not whole %s blocks)\n", r->n_fallback,
                o->type);
    if (!lb_failed(&st)) {
        char name[256];
        if (o->name) snprintf(name, sizeof name, "%s", o->name);
        else default_name(o->source, name, sizeof name);
        st = lb_gguf_put_meta(ex.g, &m->cfg, &tg, name, ex.target.file_type, r->n_weights > 0);
    }
    if (!lb_failed(&st)) st = lb_gguf_write_streamed(ex.g, o->out, fill_tensor, &ex);
    if (!lb_failed(&st)) st = verify(&ex, o->out);
    struct stat sb;
    if (!lb_failed(&st) && stat(o->out, &sb) == 0) r->file_bytes = (size_t)sb.st_size;
    if (r->n_params > 0) r->bits_per_weight = 8.0 * (double)r->file_bytes / (double)r->n_params;
    free(ex.jobs);
    free(ex.rope_freqs);
    lb_gguf_free(ex.g);
    lb_tok_ggml_free(&tg);
    return st;
}
