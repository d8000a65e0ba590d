/* gguf_write.c — lb_gguf_write: GGUF v3 bytes of an lb_gguf (FORMATS §5.1),
 * written atomically. Tensor offsets are the running sum of each tensor's
 * bytes padded to the alignment, in info order; the data section starts at
 * the first multiple of the alignment after the infos; padding (also after
 * the last tensor, as ggml and gguf-py write it) is zero bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/fileio.h"
#include "quant/gguf.h"

/* Little-endian hosts only (x86-64, aarch64): values are written as they
 * lie in memory. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF writer assumes a little-endian host");

static lb_status put(lb_afile *af, const void *p, size_t n) { return lb_afile_write(af, p, n); }

static lb_status put_u32(lb_afile *af, uint32_t v) { return put(af, &v, 4); }
static lb_status put_u64(lb_afile *af, uint64_t v) { return put(af, &v, 8); }

static lb_status put_str(lb_afile *af, const char *s, uint64_t n)
{
    LB_TRY(put_u64(af, n));
    return put(af, s, (size_t)n);
}

static size_t num_size(lb_gguf_vtype t)
{
    switch (t) {
    case LB_GGUF_U8: case LB_GGUF_I8: case LB_GGUF_BOOL: return 1;
    case LB_GGUF_U16: case LB_GGUF_I16: return 2;
    case LB_GGUF_U32: case LB_GGUF_I32: case LB_GGUF_F32: return 4;
    default: return 8;
    }
}

static lb_status put_kv(lb_afile *af, const lb_gguf_kv *kv)
{
    LB_TRY(put_str(af, kv->key, strlen(kv->key)));
    LB_TRY(put_u32(af, (uint32_t)kv->type));
    if (kv->type == LB_GGUF_ARRAY) {
        LB_TRY(put_u32(af, (uint32_t)kv->elem_type));
        LB_TRY(put_u64(af, kv->n));
    }
    if (kv->elem_type == LB_GGUF_STRING) {
        for (uint64_t i = 0; i < kv->n; i++) LB_TRY(put_str(af, kv->str[i], kv->str_len[i]));
        return lb_ok();
    }
    return put(af, kv->num, (size_t)kv->n * num_size(kv->elem_type));
}

static lb_status put_zeros(lb_afile *af, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        LB_TRY(put(af, zeros, k));
        n -= k;
    }
    return lb_ok();
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* put_tensor: tensor i's bytes: its data, or made by fill */
static lb_status put_tensor(lb_afile *af, const lb_gguf *g, int64_t i, lb_gguf_fill_fn fill, void *ud)
{
    const lb_gguf_tensor *t = &g->t[i];
    if (t->data) return put(af, t->data, (size_t)t->nbytes);
    LB_CHECKF(fill != NULL, "lb_gguf_write: tensor %s has no data and no fill function", t->name);
    uint8_t *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!buf) return lb_errorf(LB_ERR_OOM, "out of memory writing tensor %s (%llu bytes)", t->name,
                               (unsigned long long)t->nbytes);
    lb_status st = fill(ud, i, buf, t->nbytes);
    if (!lb_failed(&st)) st = put(af, buf, (size_t)t->nbytes);
    free(buf);
    return st;
}

static lb_status write_all(lb_afile *af, const lb_gguf *g, lb_gguf_fill_fn fill, void *ud)
{
    uint64_t pos = 0;
    LB_TRY(put(af, "GGUF", 4));
    LB_TRY(put_u32(af, LB_GGUF_VERSION));
    LB_TRY(put_u64(af, (uint64_t)g->n_t));
    LB_TRY(put_u64(af, (uint64_t)g->n_kv));
    for (int64_t i = 0; i < g->n_kv; i++) LB_TRY(put_kv(af, &g->kv[i]));
    uint64_t off = 0;
    for (int64_t i = 0; i < g->n_t; i++) {
        const lb_gguf_tensor *t = &g->t[i];
        LB_TRY(put_str(af, t->name, strlen(t->name)));
        LB_TRY(put_u32(af, t->n_dims));
        for (uint32_t d = 0; d < t->n_dims; d++) LB_TRY(put_u64(af, (uint64_t)t->ne[d]));
        LB_TRY(put_u32(af, (uint32_t)t->type));
        LB_TRY(put_u64(af, off));
        off = pad_to(off + t->nbytes, g->alignment);
    }
    long here = ftell(af->fp);
    if (here < 0) return lb_errorf(LB_ERR_IO, "%s: cannot tell the write position", af->path);
    pos = (uint64_t)here;
    LB_TRY(put_zeros(af, pad_to(pos, g->alignment) - pos));
    for (int64_t i = 0; i < g->n_t; i++) {
        const lb_gguf_tensor *t = &g->t[i];
        LB_TRY(put_tensor(af, g, i, fill, ud));
        LB_TRY(put_zeros(af, pad_to(t->nbytes, g->alignment) - t->nbytes));
    }
    return lb_ok();
}

lb_status lb_gguf_write(const lb_gguf *g, const char *path) { return lb_gguf_write_streamed(g, path, NULL, NULL); }

lb_status lb_gguf_write_streamed(const lb_gguf *g, const char *path, lb_gguf_fill_fn fill, void *ud)
{
    const lb_gguf_kv *a = lb_gguf_find(g, "general.alignment");
    LB_CHECKF(!a || (a->type == LB_GGUF_U32 && *(const uint32_t *)a->num == g->alignment),
              "lb_gguf_write: general.alignment disagrees with g->alignment");
    lb_afile af;
    LB_TRY(lb_afile_open(&af, path));
    lb_status st = write_all(&af, g, fill, ud);
    if (lb_failed(&st)) {
        lb_afile_abort(&af);
        return st;
    }
    return lb_afile_commit(&af);
}
