/* gguf_read.c — lb_gguf_open: maps a GGUF file and validates it (gguf.h
 * lists the checks; they follow ggml's gguf_init_from_file_impl). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/gguf.h"

/* A bounds-checked cursor over the mapping. */
typedef struct cursor {
    const uint8_t *p;
    size_t len, off;
    const char *path;
} cursor;

static lb_status need(cursor *c, size_t n, const char *what)
{
    if (n > c->len - c->off)
        return lb_errorf(LB_ERR_FORMAT, "%s: truncated: %s needs %zu bytes at offset %zu but the file has %zu", c->path,
                         what, n, c->off, c->len);
    return lb_ok();
}

static lb_status rd(cursor *c, void *dst, size_t n, const char *what)
{
    LB_TRY(need(c, n, what));
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return lb_ok();
}

static lb_status rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static lb_status rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* rd_str: a u64 length and the bytes, into a malloc'd NUL-terminated copy. */
static lb_status rd_str(cursor *c, char **s, uint64_t *len, const char *what)
{
    uint64_t n;
    LB_TRY(rd_u64(c, &n, what));
    if (n > c->len - c->off)
        return lb_errorf(LB_ERR_FORMAT, "%s: truncated: %s is a string of %llu bytes at offset %zu but the file has %zu",
                         c->path, what, (unsigned long long)n, c->off, c->len);
    *s = malloc((size_t)n + 1);
    if (!*s) return lb_errorf(LB_ERR_OOM, "out of memory");
    memcpy(*s, c->p + c->off, (size_t)n);
    (*s)[n] = '\0';
    c->off += (size_t)n;
    if (len) *len = n;
    return lb_ok();
}

static size_t vsize(lb_gguf_vtype t)
{
    switch (t) {
    case LB_GGUF_U8: case LB_GGUF_I8: case LB_GGUF_BOOL: return 1;
    case LB_GGUF_U16: case LB_GGUF_I16: return 2;
    case LB_GGUF_U32: case LB_GGUF_I32: case LB_GGUF_F32: return 4;
    case LB_GGUF_U64: case LB_GGUF_I64: case LB_GGUF_F64: return 8;
    default: return 0;
    }
}

/* rd_values: n values of element type t into kv. */
static lb_status rd_values(cursor *c, lb_gguf_kv *kv, lb_gguf_vtype t, uint64_t n)
{
    if (t == LB_GGUF_STRING) {
        /* each string takes at least its 8-byte length */
        if (n > (c->len - c->off) / 8)
            return lb_errorf(LB_ERR_FORMAT, "%s: truncated: key %s holds %llu strings, more than the file can", c->path,
                             kv->key, (unsigned long long)n);
        kv->str = calloc(n ? n : 1, sizeof *kv->str);
        kv->str_len = calloc(n ? n : 1, sizeof *kv->str_len);
        if (!kv->str || !kv->str_len) return lb_errorf(LB_ERR_OOM, "out of memory");
        for (uint64_t i = 0; i < n; i++) {
            kv->n = i + 1; /* so a failure frees what was read */
            LB_TRY(rd_str(c, &kv->str[i], &kv->str_len[i], kv->key));
        }
        kv->n = n;
        return lb_ok();
    }
    size_t sz = vsize(t);
    if (n > (c->len - c->off) / sz)
        return lb_errorf(LB_ERR_FORMAT, "%s: truncated: key %s holds %llu values of %s, more than the file can", c->path,
                         kv->key, (unsigned long long)n, lb_gguf_vtype_name(t));
    kv->num = malloc(n ? (size_t)n * sz : 1);
    if (!kv->num) return lb_errorf(LB_ERR_OOM, "out of memory");
    LB_TRY(rd(c, kv->num, (size_t)n * sz, kv->key));
    kv->n = n;
    return lb_ok();
}

static bool valid_vtype(uint32_t t) { return t <= 12; }

static lb_status rd_kv(cursor *c, lb_gguf *g, int64_t i)
{
    lb_gguf_kv *kv = &g->kv[i];
    memset(kv, 0, sizeof *kv);
    char what[64];
    snprintf(what, sizeof what, "the key of metadata entry %lld", (long long)i);
    LB_TRY(rd_str(c, &kv->key, NULL, what));
    g->n_kv = i + 1;
    if (!kv->key[0]) return lb_errorf(LB_ERR_FORMAT, "%s: metadata entry %lld has an empty key", c->path, (long long)i);
    for (int64_t k = 0; k < i; k++)
        if (!strcmp(g->kv[k].key, kv->key))
            return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s appears twice", c->path, kv->key);
    uint32_t t;
    LB_TRY(rd_u32(c, &t, kv->key));
    if (!valid_vtype(t))
        return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s has value type %u, expected 0..12", c->path, kv->key, t);
    kv->type = (lb_gguf_vtype)t;
    if (t != LB_GGUF_ARRAY) {
        kv->elem_type = kv->type;
        return rd_values(c, kv, kv->type, 1);
    }
    uint32_t et;
    uint64_t n;
    LB_TRY(rd_u32(c, &et, kv->key));
    if (et == LB_GGUF_ARRAY)
        return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s is an array of arrays (not allowed)", c->path, kv->key);
    if (!valid_vtype(et))
        return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s is an array of value type %u, expected 0..12", c->path,
                         kv->key, et);
    kv->elem_type = (lb_gguf_vtype)et;
    LB_TRY(rd_u64(c, &n, kv->key));
    return rd_values(c, kv, kv->elem_type, n);
}

static lb_status rd_tensor_info(cursor *c, lb_gguf *g, int64_t i)
{
    lb_gguf_tensor *t = &g->t[i];
    memset(t, 0, sizeof *t);
    char what[64], *name;
    uint64_t len;
    snprintf(what, sizeof what, "the name of tensor %lld", (long long)i);
    LB_TRY(rd_str(c, &name, &len, what));
    if (len > LB_GGUF_NAME_MAX) {
        lb_status st = lb_errorf(LB_ERR_FORMAT, "%s: tensor %lld has a name of %llu bytes (\"%.40s...\"), at most %d allowed",
                                 c->path, (long long)i, (unsigned long long)len, name, LB_GGUF_NAME_MAX);
        free(name);
        return st;
    }
    memcpy(t->name, name, (size_t)len + 1);
    free(name);
    g->n_t = i + 1;
    for (int64_t k = 0; k < i; k++)
        if (!strcmp(g->t[k].name, t->name))
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor name %s appears twice", c->path, t->name);
    LB_TRY(rd_u32(c, &t->n_dims, t->name));
    if (t->n_dims < 1 || t->n_dims > 4)
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s has n_dims = %u, expected 1..4", c->path, t->name, t->n_dims);
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v;
        LB_TRY(rd_u64(c, &v, t->name));
        if (v > (uint64_t)INT64_MAX)
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s: ne[%u] = %llu is negative as int64", c->path, t->name, d,
                             (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    uint32_t type;
    LB_TRY(rd_u32(c, &type, t->name));
    int64_t block, size;
    if (!lb_ggml_type_info((int)type, &block, &size, NULL))
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s has ggml type id %u, not a type ggml defines (FORMATS §5.2)",
                         c->path, t->name, type);
    t->type = (int)type;
    if (t->ne[0] % block)
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s: ne0 = %lld is not a multiple of the block size %lld of its type",
                         c->path, t->name, (long long)t->ne[0], (long long)block);
    /* element and byte counts must fit in int64 */
    uint64_t nb = (uint64_t)(t->ne[0] / block) * (uint64_t)size, ne = (uint64_t)t->ne[0];
    for (int d = 1; d < 4; d++) {
        uint64_t k = (uint64_t)t->ne[d];
        if (k && (ne > (uint64_t)INT64_MAX / k || nb > (uint64_t)INT64_MAX / k))
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s: its element or byte count overflows", c->path, t->name);
        ne *= k;
        nb *= k;
    }
    t->nbytes = nb;
    return rd_u64(c, &t->offset, t->name);
}

static lb_status check_alignment(lb_gguf *g)
{
    const lb_gguf_kv *kv = lb_gguf_find(g, "general.alignment");
    if (!kv) return lb_ok();
    if (kv->type != LB_GGUF_U32)
        return lb_errorf(LB_ERR_FORMAT, "%s: general.alignment has type %s, expected UINT32", g->path,
                         lb_gguf_vtype_name(kv->type));
    uint32_t a = *(const uint32_t *)kv->num;
    if (a == 0 || (a & (a - 1)))
        return lb_errorf(LB_ERR_FORMAT, "%s: general.alignment = %u, expected a non-zero power of two", g->path, a);
    g->alignment = a;
    return lb_ok();
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static lb_status parse(cursor *c, lb_gguf *g)
{
    char magic[4];
    LB_TRY(rd(c, magic, 4, "the magic"));
    if (memcmp(magic, "GGUF", 4))
        return lb_errorf(LB_ERR_FORMAT, "%s: not a GGUF file: magic is %02x %02x %02x %02x, expected \"GGUF\"", c->path,
                         (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    LB_TRY(rd_u32(c, &g->version, "the version"));
    if (g->version == 0) return lb_errorf(LB_ERR_FORMAT, "%s: GGUF version 0 is invalid", c->path);
    if (!(g->version & 0xFFFF))
        return lb_errorf(LB_ERR_FORMAT, "%s: GGUF version field 0x%08x: the file has the other endianness (lowbit reads "
                         "little-endian GGUF)", c->path, g->version);
    if (g->version == 1)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (re-convert it: versions 2 and 3 are)",
                         c->path);
    if (g->version > LB_GGUF_VERSION)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: GGUF version %u is newer than the versions lowbit reads (2, 3)",
                         c->path, g->version);
    uint64_t n_t, n_kv;
    LB_TRY(rd_u64(c, &n_t, "tensor_count"));
    LB_TRY(rd_u64(c, &n_kv, "kv_count"));
    /* a KV takes at least 8 + 1 + 4 bytes, a tensor info 8 + 1 + 4 + 8 + 4 + 8 */
    if (n_kv > c->len / 13 || n_t > c->len / 33)
        return lb_errorf(LB_ERR_FORMAT, "%s: truncated or corrupt: %llu tensors and %llu metadata entries cannot fit in "
                         "%zu bytes", c->path, (unsigned long long)n_t, (unsigned long long)n_kv, c->len);
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->t = calloc(n_t ? n_t : 1, sizeof *g->t);
    if (!g->kv || !g->t) return lb_errorf(LB_ERR_OOM, "out of memory");
    g->cap_kv = (int64_t)n_kv;
    g->cap_t = (int64_t)n_t;
    for (uint64_t i = 0; i < n_kv; i++) LB_TRY(rd_kv(c, g, (int64_t)i));
    LB_TRY(check_alignment(g));
    for (uint64_t i = 0; i < n_t; i++) LB_TRY(rd_tensor_info(c, g, (int64_t)i));
    g->data_start = pad_to(c->off, g->alignment);
    uint64_t expect = 0;
    for (int64_t i = 0; i < g->n_t; i++) {
        lb_gguf_tensor *t = &g->t[i];
        if (t->offset != expect)
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s has data offset %llu, expected %llu (tensors are stored in info "
                             "order, each padded to %u bytes)", c->path, t->name, (unsigned long long)t->offset,
                             (unsigned long long)expect, g->alignment);
        if (g->data_start > c->len || t->offset > c->len - g->data_start || t->nbytes > c->len - g->data_start - t->offset)
            return lb_errorf(LB_ERR_FORMAT, "%s: truncated: tensor %s needs bytes [%llu, %llu) but the file has %zu",
                             c->path, t->name, (unsigned long long)(g->data_start + t->offset),
                             (unsigned long long)(g->data_start + t->offset + t->nbytes), c->len);
        t->data = c->p + g->data_start + t->offset;
        expect = pad_to(t->offset + t->nbytes, g->alignment);
    }
    return lb_ok();
}

lb_status lb_gguf_open(const char *path, lb_gguf **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lb_errorf(LB_ERR_IO, "%s: not a regular file", path);
    }
    lb_gguf *g = lb_gguf_new();
    if (!g || !(g->path = strdup(path))) {
        close(fd);
        lb_gguf_free(g);
        return lb_errorf(LB_ERR_OOM, "out of memory");
    }
    g->map_len = (size_t)sb.st_size;
    if (g->map_len > 0) {
        void *p = mmap(NULL, g->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            g->map_len = 0;
            lb_gguf_free(g);
            return st;
        }
        g->map = p;
    }
    close(fd);
    g->n_kv = g->n_t = 0;
    cursor c = {g->map, g->map_len, 0, path};
    lb_status st = parse(&c, g);
    if (lb_failed(&st)) {
        lb_gguf_free(g);
        return st;
    }
    *out = g;
    return lb_ok();
}
