/* safetensors_write.c — the safetensors writer (FORMATS.md §1.5): tensors in
 * the reference writer's order (dtype alignment descending, then name),
 * compact serde_json header with __metadata__ first, padded with spaces to a
 * multiple of 8, written atomically. Output is byte-identical to Python
 * safetensors' save_file for the same tensors and metadata (tested in
 * tests/test_safetensors_py.sh).
 *
 * This file does not convert dtypes: entries are written as given.
 */
#include <stdlib.h>
#include <string.h>

#include "layers/fileio.h"
#include "layers/json_util.h"
#include "layers/safetensors.h"

#define ST_MAX_HEADER 100000000u
#define ST_MAX_DIMS 8

typedef struct ord {
    const lb_st_entry *e;
    int rank;
    size_t nbytes;
} ord;

static int cmp_order(const void *a, const void *b)
{
    const ord *x = a, *y = b;
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1;
    return strcmp(x->e->name, y->e->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const char *const *)a)[0], ((const char *const *)b)[0]);
}

/* Checks one entry and computes its byte size. */
static lb_status check_entry(const char *path, const lb_st_entry *e, size_t *nbytes)
{
    if (!e->name) return lb_errorf(LB_ERR_ARG, "%s: a tensor has no name", path);
    if (!lb_utf8_check(e->name, strlen(e->name), NULL))
        return lb_errorf(LB_ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, e->name);
    if (!strcmp(e->name, "__metadata__"))
        return lb_errorf(LB_ERR_ARG, "%s: '__metadata__' is reserved and cannot name a tensor", path);
    if (e->dtype < 0 || e->dtype >= LB_DTYPE_COUNT)
        return lb_errorf(LB_ERR_ARG, "%s: tensor '%s': bad dtype %d", path, e->name, (int)e->dtype);
    if (e->ndim < 0 || e->ndim > ST_MAX_DIMS)
        return lb_errorf(LB_ERR_ARG, "%s: tensor '%s': ndim %d is outside 0..%d", path, e->name, e->ndim,
                         ST_MAX_DIMS);
    size_t n = lb_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return lb_errorf(LB_ERR_ARG, "%s: tensor '%s': dim %d is negative (%lld)", path, e->name, d,
                             (long long)e->shape[d]);
        if (__builtin_mul_overflow(n, (size_t)e->shape[d], &n))
            return lb_errorf(LB_ERR_ARG, "%s: tensor '%s': byte size overflows", path, e->name);
    }
    if (n && !e->data) return lb_errorf(LB_ERR_ARG, "%s: tensor '%s' has no data", path, e->name);
    *nbytes = n;
    return lb_ok();
}

/* Builds the padded header for tensors in `o` (already in file order). */
static void build_header(lb_buf *h, const ord *o, int n, const char **meta, int n_meta)
{
    lb_buf_puts(h, "{\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
        if (i) lb_buf_puts(h, ",");
        lb_json_put_string(h, meta[2 * i], LB_JSON_SERDE);
        lb_buf_puts(h, ":");
        lb_json_put_string(h, meta[2 * i + 1], LB_JSON_SERDE);
    }
    lb_buf_puts(h, "}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const lb_st_entry *e = o[i].e;
        lb_buf_puts(h, ",");
        lb_json_put_string(h, e->name, LB_JSON_SERDE);
        lb_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", lb_st_dtype_str(e->dtype));
        for (int d = 0; d < e->ndim; d++) lb_buf_printf(h, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        lb_buf_printf(h, "],\"data_offsets\":[%zu,%zu]}", off, off + o[i].nbytes);
        off += o[i].nbytes;
    }
    lb_buf_puts(h, "}");
    while (h->len % 8) lb_buf_puts(h, " ");
}

/* Metadata pairs [k0, v0, k1, v1, ...] sorted by key, with format=pt added. */
static lb_status collect_meta(const char *path, const char *const *keys, const char *const *vals, int n,
                              const char ***out, int *n_out)
{
    const char **m = malloc(((size_t)n + 1) * 2 * sizeof *m);
    if (!m) return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    int k = 0, has_format = 0;
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !vals[i] || !lb_utf8_check(keys[i], strlen(keys[i]), NULL) ||
            !lb_utf8_check(vals[i], strlen(vals[i]), NULL)) {
            free(m);
            return lb_errorf(LB_ERR_ARG, "%s: metadata pair %d is missing or not valid UTF-8", path, i);
        }
        has_format |= !strcmp(keys[i], "format");
        m[2 * k] = keys[i];
        m[2 * k + 1] = vals[i];
        k++;
    }
    if (!has_format) {
        m[2 * k] = "format";
        m[2 * k + 1] = "pt";
        k++;
    }
    qsort(m, (size_t)k, 2 * sizeof *m, cmp_meta);
    for (int i = 1; i < k; i++)
        if (!strcmp(m[2 * i - 2], m[2 * i])) {
            lb_status st = lb_errorf(LB_ERR_ARG, "%s: metadata key '%s' given twice", path, m[2 * i]);
            free(m);
            return st;
        }
    *out = m;
    *n_out = k;
    return lb_ok();
}

lb_status lb_st_write(const char *path, const lb_st_entry *entries, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta)
{
    lb_status st = lb_ok();
    const char **meta = NULL;
    const char **names = NULL;
    lb_buf h = {0};
    int nm = 0;
    ord *o = calloc((size_t)n + 1, sizeof *o);
    names = calloc((size_t)n + 1, sizeof *names);
    if (!o || !names) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
        goto free_order;
    }
    for (int i = 0; i < n; i++) {
        st = check_entry(path, &entries[i], &o[i].nbytes);
        if (lb_failed(&st)) goto free_order;
        o[i].e = &entries[i];
        o[i].rank = lb_st_dtype_lookup(lb_st_dtype_str(entries[i].dtype), NULL);
        names[i] = entries[i].name;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) {
            st = lb_errorf(LB_ERR_ARG, "%s: tensor name '%s' given twice", path, names[i]);
            goto free_order;
        }
    qsort(o, (size_t)n, sizeof *o, cmp_order);
    st = collect_meta(path, meta_keys, meta_values, n_meta, &meta, &nm);
    if (lb_failed(&st)) goto free_order;

    build_header(&h, o, n, meta, nm);
    if (h.oom) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory building the header", path);
        goto free_header;
    }
    if (h.len > ST_MAX_HEADER) {
        st = lb_errorf(LB_ERR_ARG, "%s: header would be %zu bytes, over the 100000000-byte limit", path, h.len);
        goto free_header;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    lb_afile af;
    st = lb_afile_open(&af, path);
    if (lb_failed(&st)) goto free_header;
    st = lb_afile_write(&af, len8, 8);
    if (!lb_failed(&st)) st = lb_afile_write(&af, h.data, h.len);
    for (int i = 0; i < n && !lb_failed(&st); i++) st = lb_afile_write(&af, o[i].e->data, o[i].nbytes);
    if (lb_failed(&st)) lb_afile_abort(&af);
    else st = lb_afile_commit(&af);

free_header:
    lb_buf_free(&h);
    free(meta);
free_order:
    free(names);
    free(o);
    return st;
}
