/* model_init.c — a model from nothing (random init) and a model to disk
 * (config.json + model.safetensors in the HF layout).
 *
 * Random init follows transformers' _init_weights: linear and embedding
 * weights N(0, 0.02^2) (GPT-2's residual projections attn.c_proj / mlp.c_proj
 * N(0, (0.02/sqrt(2 n_layer))^2)), norm weights one, biases zero.
 *
 * The random numbers are lowbit's own and documented, so a seed means the same
 * weights on every machine: each tensor gets its own stream, seeded with
 * splitmix64(seed XOR fnv1a64(HF tensor name)), so adding a tensor (a bias, a
 * layer) does not change the others. The stream is splitmix64; two 53-bit
 * uniforms u1 in (0, 1] and u2 in [0, 1) make two normals by Box-Muller,
 * sqrt(-2 ln u1) * (cos 2 pi u2, sin 2 pi u2), in double, used in order.
 *
 * This file does not read checkpoints (model_load.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/checkpoint.h"
#include "layers/model_internal.h"

/* ---- the documented RNG ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

uint64_t lb_init_stream_state(uint64_t seed, const char *name)
{
    uint64_t s0 = seed ^ fnv1a64(name);
    return splitmix64(&s0);
}

/* fill_normal: x[0..n) ~ N(0, std^2) from the stream of `name`. */
static void fill_normal(float *x, int64_t n, uint64_t seed, const char *name, float std)
{
    uint64_t state = lb_init_stream_state(seed, name);
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = (double)((splitmix64(&state) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(splitmix64(&state) >> 11) * 0x1.0p-53;       /* [0, 1) */
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(std * r * cos(two_pi * u2));
        if (i + 1 < n) x[i + 1] = (float)(std * r * sin(two_pi * u2));
    }
}

lb_status lb_model_init_random(lb_model *m, const lb_model_config *cfg, uint64_t seed)
{
    int n = 0;
    lb_param_spec *specs = NULL;
    LB_TRY(lb_model_start(m, cfg, &specs, &n));
    lb_status st = lb_ok();
    for (int i = 0; i < n; i++) {
        const lb_param_spec *s = &specs[i];
        lb_tensor *p = lb_tensor_alloc(LB_F32, s->ndim, s->shape);
        if (!p) {
            st = lb_errorf(LB_ERR_OOM, "out of memory allocating '%s' (%lld parameters in all)", s->name,
                           (long long)lb_config_n_params(cfg));
            goto fail;
        }
        *s->slot = p;
        float *x = lb_tensor_f32(p);
        int64_t numel = lb_tensor_numel(p);
        if (s->init == LB_INIT_NORMAL) fill_normal(x, numel, seed, s->name, s->std);
        else if (s->init == LB_INIT_ONES)
            for (int64_t j = 0; j < numel; j++) x[j] = 1.0f;
        /* LB_INIT_ZEROS: lb_tensor_alloc zeroes */
    }
    st = lb_model_finish(m, specs, n);
    if (lb_failed(&st)) goto fail;
    free(specs);
    return lb_ok();
fail:
    lb_model_free_partial(m, specs, n);
    free(specs);
    return st;
}

/* ---- saving ------------------------------------------------------------------ */

lb_status lb_model_save(const lb_model *m, const char *dir, lb_dtype dtype)
{
    if (dtype != LB_F32 && dtype != LB_BF16 && dtype != LB_F16)
        return lb_errorf(LB_ERR_ARG, "%s: models are saved as f32, bf16 or f16, not %s", dir, lb_dtype_name(dtype));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));

    /* the table again, for names, file layouts and order; the tensors are m's */
    lb_model shadow;
    memset(&shadow, 0, sizeof shadow);
    shadow.cfg = m->cfg;
    int n = 0;
    lb_param_spec *specs = lb_model_param_specs(&shadow, &n);
    lb_st_entry *entries = calloc((size_t)(n > 0 ? n : 1), sizeof *entries);
    void **bufs = calloc((size_t)(n > 0 ? n : 1), sizeof *bufs);
    lb_status st = lb_ok();
    if (!specs || !entries || !bufs || n != m->n_params) {
        st = n != m->n_params && specs
                 ? lb_errorf(LB_ERR_ARG, "%s: the model has %d parameters but its config implies %d", dir,
                             m->n_params, n)
                 : lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const lb_param_spec *s = &specs[i];
        const lb_tensor *p = m->params[i];
        LB_CHECKF(!strcmp(m->param_names[i], s->name), "parameter %d is '%s', expected '%s'", i,
                  m->param_names[i], s->name);
        int64_t numel = lb_tensor_numel(p);
        const float *src = lb_tensor_f32(p);
        float *tmp = NULL;
        lb_st_entry *e = &entries[i];
        e->name = s->name;
        e->dtype = dtype;
        e->ndim = s->ndim;
        e->shape[0] = s->shape[0];
        e->shape[1] = s->shape[1];
        if (s->conv1d) { /* nn.Linear (out, in) -> Conv1D [in, out] */
            int64_t out = s->shape[0], in = s->shape[1];
            tmp = malloc((size_t)numel * sizeof *tmp);
            if (!tmp) {
                st = lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
                goto out;
            }
            for (int64_t o = 0; o < out; o++)
                for (int64_t j = 0; j < in; j++) tmp[j * out + o] = src[o * in + j];
            e->shape[0] = in;
            e->shape[1] = out;
            src = tmp;
        }
        bufs[i] = malloc((size_t)numel * lb_dtype_size(dtype) + 1);
        if (!bufs[i]) {
            free(tmp);
            st = lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
            goto out;
        }
        lb_convert_from_f32(bufs[i], src, dtype, (size_t)numel);
        free(tmp);
        e->data = bufs[i];
    }
    /* huggingface_hub's default shard size: big models get the same layout */
    st = lb_ckpt_write(dir, entries, n, (size_t)5000000000ULL);
    if (lb_failed(&st)) goto out;
    {
        lb_model_config cfg = m->cfg;
        cfg.torch_dtype = dtype;
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", dir);
        st = lb_config_save(&cfg, path);
    }
out:
    if (bufs)
        for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(entries);
    free(specs);
    free(shadow.blocks);
    return st;
}
