/* safetensors.c — the safetensors reader: mmap, validate as the reference
 * reader does (FORMATS.md §1.4), look tensors up, convert to f32.
 *
 * Every check happens before any tensor byte is touched, and every offset is
 * range-checked against the mapping, so no input can make us read out of
 * bounds. Known leniencies of cJSON that the Rust reader would reject: numbers
 * written as "2.0", "2e0", "+2" or "02" are accepted where an integer is
 * expected. The writer lives in safetensors_write.c.
 */
#include "layers/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/json_util.h"

#define ST_MAX_HEADER 100000000ull
#define ST_MAX_DIMS 8
#define ST_MAX_JSON_INT 9007199254740992.0 /* 2^53: the largest exact integer cJSON holds */

/* In the order of the reference Dtype enum (= increasing alignment). */
static const struct {
    const char *name;
    int bits;
    int has_dtype;
    lb_dtype dtype;
} k_dtypes[] = {
    {"BOOL", 8, 0, LB_F32},        {"F4", 4, 0, LB_F32},          {"F6_E2M3", 6, 0, LB_F32},
    {"F6_E3M2", 6, 0, LB_F32},     {"U8", 8, 1, LB_U8},           {"I8", 8, 1, LB_I8},
    {"F8_E5M2", 8, 0, LB_F32},     {"F8_E4M3", 8, 0, LB_F32},     {"F8_E8M0", 8, 0, LB_F32},
    {"F8_E4M3FNUZ", 8, 0, LB_F32}, {"F8_E5M2FNUZ", 8, 0, LB_F32}, {"I16", 16, 0, LB_F32},
    {"U16", 16, 0, LB_F32},        {"F16", 16, 1, LB_F16},        {"BF16", 16, 1, LB_BF16},
    {"I32", 32, 1, LB_I32},        {"U32", 32, 0, LB_F32},        {"F32", 32, 1, LB_F32},
    {"C64", 64, 0, LB_F32},        {"F64", 64, 0, LB_F32},        {"I64", 64, 0, LB_F32},
    {"U64", 64, 0, LB_F32},
};
#define N_DTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))

int lb_st_dtype_lookup(const char *s, int *bits)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(k_dtypes[i].name, s)) {
            if (bits) *bits = k_dtypes[i].bits;
            return i;
        }
    return -1;
}

const char *lb_st_dtype_str(lb_dtype dt)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].has_dtype && k_dtypes[i].dtype == dt) return k_dtypes[i].name;
    LB_CHECKF(0, "dtype %d has no safetensors name", (int)dt);
}

/* "path: tensor 'name': <msg>" (tensor part left out when name is NULL). */
static lb_status st_err(const char *path, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lb_status st_err(const char *path, const char *name, const char *fmt, ...)
{
    char msg[LB_STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name) return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%.200s': %s", path, name, msg);
    return lb_errorf(LB_ERR_FORMAT, "%s: %s", path, msg);
}

static void shape_str(const lb_st_tensor *t, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    return "null";
}

/* A JSON number that must be a non-negative integer; `what` names it. */
static lb_status json_uint(const char *path, const char *name, const cJSON *v, const char *what,
                           uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return st_err(path, name, "%s must be a non-negative integer, found %s", what, json_type_name(v));
    double d = v->valuedouble;
    if (d < 0) return st_err(path, name, "%s is negative (%g); expected a non-negative integer", what, d);
    if (d != (double)(uint64_t)d || d >= ST_MAX_JSON_INT)
        return st_err(path, name, "%s is %g; expected an integer below 2^53", what, d);
    *out = (uint64_t)d;
    return lb_ok();
}

/* One tensor entry as read from the header, before sorting. */
typedef struct st_raw {
    const cJSON *json;
    uint64_t begin, end;
    int idx;                 /* position in f->tensors before sorting */
} st_raw;

static lb_status parse_entry(lb_st_file *f, st_raw *raw, lb_st_tensor *t)
{
    const cJSON *e = raw->json;
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return st_err(f->path, name, "entry must be an object with dtype, shape, data_offsets; found %s",
                      json_type_name(e));
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *k = e->child; k; k = k->next) {
        const cJSON **slot = !strcmp(k->string, "dtype") ? &dtype
                           : !strcmp(k->string, "shape") ? &shape
                           : !strcmp(k->string, "data_offsets") ? &offs : NULL;
        if (!slot)
            return st_err(f->path, name, "unexpected key '%.100s' (expected exactly dtype, shape, data_offsets)",
                          k->string);
        if (*slot) return st_err(f->path, name, "duplicate key '%s'", k->string);
        *slot = k;
    }
    if (!dtype) return st_err(f->path, name, "missing 'dtype'");
    if (!shape) return st_err(f->path, name, "missing 'shape'");
    if (!offs) return st_err(f->path, name, "missing 'data_offsets'");

    if (!cJSON_IsString(dtype)) return st_err(f->path, name, "dtype must be a string, found %s", json_type_name(dtype));
    int di = lb_st_dtype_lookup(dtype->valuestring, &t->bits);
    if (di < 0)
        return st_err(f->path, name, "unknown dtype '%.40s' (expected a safetensors dtype such as F32, BF16, F16, I32, I8, U8, I64, F8_E4M3)",
                      dtype->valuestring);
    snprintf(t->dtype_str, sizeof t->dtype_str, "%s", k_dtypes[di].name);
    t->has_dtype = k_dtypes[di].has_dtype;
    t->dtype = k_dtypes[di].dtype;

    if (!cJSON_IsArray(shape)) return st_err(f->path, name, "shape must be an array, found %s", json_type_name(shape));
    t->ndim = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (t->ndim == ST_MAX_DIMS)
            return st_err(f->path, name, "shape has more than %d dims (lowbit's limit)", ST_MAX_DIMS);
        uint64_t v;
        char what[32];
        snprintf(what, sizeof what, "shape dim %d", t->ndim);
        LB_TRY(json_uint(f->path, name, d, what, &v));
        t->shape[t->ndim++] = (int64_t)v;
    }

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return st_err(f->path, name, "data_offsets must be an array [begin, end], found %s",
                      cJSON_IsArray(offs) ? "an array of another length" : json_type_name(offs));
    LB_TRY(json_uint(f->path, name, offs->child, "data_offsets begin", &raw->begin));
    LB_TRY(json_uint(f->path, name, offs->child->next, "data_offsets end", &raw->end));
    return lb_ok();
}

static lb_status parse_metadata(lb_st_file *f, const cJSON *m)
{
    if (!cJSON_IsObject(m))
        return st_err(f->path, NULL, "__metadata__ must be an object of string values, found %s", json_type_name(m));
    int n = cJSON_GetArraySize(m);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return lb_errorf(LB_ERR_OOM, "%s: out of memory", f->path);
    for (const cJSON *k = m->child; k; k = k->next) {
        if (!cJSON_IsString(k))
            return st_err(f->path, NULL, "__metadata__ value of '%.100s' is %s; only strings are allowed",
                          k->string, json_type_name(k));
        for (int i = 0; i < f->n_meta; i++)
            if (!strcmp(f->meta_keys[i], k->string))
                return st_err(f->path, NULL, "__metadata__ has the key '%.100s' twice", k->string);
        f->meta_keys[f->n_meta] = strdup(k->string);
        f->meta_values[f->n_meta] = strdup(k->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return lb_errorf(LB_ERR_OOM, "%s: out of memory", f->path);
    }
    return lb_ok();
}

static int cmp_raw_offsets(const void *a, const void *b)
{
    const st_raw *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->json->string, y->json->string);
}

/* Puts raw[] and f->tensors in (begin, end, name) order. */
static lb_status sort_by_offsets(lb_st_file *f, st_raw *raw)
{
    qsort(raw, (size_t)f->n, sizeof *raw, cmp_raw_offsets);
    lb_st_tensor *sorted = calloc((size_t)f->n + 1, sizeof *sorted);
    if (!sorted) return lb_errorf(LB_ERR_OOM, "%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) sorted[i] = f->tensors[raw[i].idx];
    free(f->tensors);
    f->tensors = sorted;
    return lb_ok();
}

/* Offsets back to back from 0, sizes matching dtype x shape, buffer fully
 * used; then the data pointers. */
static lb_status check_layout(lb_st_file *f, st_raw *raw, const unsigned char *buf, uint64_t buf_len)
{
    uint64_t prev_end = 0;
    const char *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        lb_st_tensor *t = &f->tensors[i];
        if (raw[i].end < raw[i].begin)
            return st_err(f->path, t->name, "data_offsets [%llu, %llu] end before they begin",
                          (unsigned long long)raw[i].begin, (unsigned long long)raw[i].end);
        if (raw[i].begin != prev_end) {
            if (!prev)
                return st_err(f->path, t->name, "data_offsets begin at %llu but the first tensor must begin at 0 (a gap)",
                              (unsigned long long)raw[i].begin);
            return st_err(f->path, t->name, "data_offsets begin at %llu but the previous tensor '%.200s' ends at %llu (%s)",
                          (unsigned long long)raw[i].begin, prev, (unsigned long long)prev_end,
                          raw[i].begin > prev_end ? "a gap" : "an overlap");
        }
        uint64_t numel = 1, nbits;
        for (int d = 0; d < t->ndim; d++)
            if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel))
                return st_err(f->path, t->name, "shape's element count overflows 64 bits");
        if (__builtin_mul_overflow(numel, (uint64_t)t->bits, &nbits))
            return st_err(f->path, t->name, "shape's bit count overflows 64 bits");
        char sh[160];
        shape_str(t, sh, sizeof sh);
        if (nbits % 8)
            return st_err(f->path, t->name, "%s shape %s holds %llu bits, not a whole number of bytes",
                          t->dtype_str, sh, (unsigned long long)nbits);
        if (raw[i].end - raw[i].begin != nbits / 8)
            return st_err(f->path, t->name, "data_offsets [%llu, %llu] hold %llu bytes but %s shape %s needs %llu",
                          (unsigned long long)raw[i].begin, (unsigned long long)raw[i].end,
                          (unsigned long long)(raw[i].end - raw[i].begin), t->dtype_str, sh,
                          (unsigned long long)(nbits / 8));
        prev_end = raw[i].end;
        prev = t->name;
    }
    if (prev_end != buf_len)
        return st_err(f->path, NULL, "tensors cover %llu bytes of data but the file holds %llu after the header (%s)",
                      (unsigned long long)prev_end, (unsigned long long)buf_len,
                      prev_end < buf_len ? "trailing bytes" : "file truncated");
    for (int i = 0; i < f->n; i++) {
        f->tensors[i].data = buf + raw[i].begin;
        f->tensors[i].nbytes = (size_t)(raw[i].end - raw[i].begin);
    }
    return lb_ok();
}

typedef struct name_idx {
    const char *name;
    int idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b)
{
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

/* Fills f->by_name; rejects a name used twice. */
static lb_status index_names(lb_st_file *f)
{
    name_idx *v = malloc(((size_t)f->n + 1) * sizeof *v);
    f->by_name = malloc(((size_t)f->n + 1) * sizeof *f->by_name);
    if (!v || !f->by_name) {
        free(v);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory", f->path);
    }
    for (int i = 0; i < f->n; i++) v[i] = (name_idx){f->tensors[i].name, i};
    qsort(v, (size_t)f->n, sizeof *v, cmp_name_idx);
    lb_status st = lb_ok();
    for (int i = 0; i < f->n; i++) {
        if (i > 0 && !strcmp(v[i - 1].name, v[i].name)) {
            st = st_err(f->path, v[i].name, "name appears twice in the header (duplicate names are not allowed)");
            break;
        }
        f->by_name[i] = v[i].idx;
    }
    free(v);
    return st;
}

/* Validates the header bytes as UTF-8 JSON text (cJSON alone would accept raw
 * control bytes and trailing garbage) and parses them. */
static lb_status parse_json(lb_st_file *f, const char *hdr, size_t n, cJSON **root)
{
    size_t bad;
    if (!lb_utf8_check(hdr, n, &bad))
        return st_err(f->path, NULL, "header is not valid UTF-8 (byte %zu of the JSON header)", bad);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)hdr[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return st_err(f->path, NULL, "header is not valid JSON: control byte 0x%02x at byte %zu", c, i);
    }
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (!*root)
        return st_err(f->path, NULL, "header is not valid JSON (error near byte %zu of %zu)",
                      end ? (size_t)(end - hdr) : (size_t)0, n);
    for (const char *p = end; p < hdr + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return st_err(f->path, NULL, "header is not valid JSON: unexpected text after the object at byte %zu",
                          (size_t)(p - hdr));
    if (!cJSON_IsObject(*root))
        return st_err(f->path, NULL, "header must be a JSON object, found %s", json_type_name(*root));
    return lb_ok();
}

/* Parses and validates the header of the mapped file. */
static lb_status parse_header(lb_st_file *f)
{
    const unsigned char *m = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | m[i];
    if (n > ST_MAX_HEADER)
        return st_err(f->path, NULL, "header length %llu is too large (the limit is %llu bytes; not a safetensors file?)",
                      (unsigned long long)n, ST_MAX_HEADER);
    if (n > f->size - 8)
        return st_err(f->path, NULL, "header length %llu runs past the end of the file (8 + %llu > %zu bytes; truncated?)",
                      (unsigned long long)n, (unsigned long long)n, f->size);

    cJSON *root = NULL;
    st_raw *raw = NULL;
    lb_status st = parse_json(f, (const char *)m + 8, (size_t)n, &root);
    if (lb_failed(&st)) goto free_json;

    int n_tensors = 0;
    const cJSON *meta = NULL;
    for (const cJSON *k = root->child; k; k = k->next) {
        if (strcmp(k->string, "__metadata__") != 0) n_tensors++;
        else if (meta) {
            st = st_err(f->path, NULL, "__metadata__ appears twice");
            goto free_json;
        } else meta = k;
    }
    raw = calloc((size_t)n_tensors + 1, sizeof *raw);
    f->tensors = calloc((size_t)n_tensors + 1, sizeof *f->tensors);
    if (!raw || !f->tensors) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory for %d tensors", f->path, n_tensors);
        goto free_raw;
    }
    int i = 0;
    for (const cJSON *k = root->child; k; k = k->next)
        if (k != meta) raw[i++].json = k;
    for (i = 0; i < n_tensors; i++) {
        f->tensors[i].name = strdup(raw[i].json->string);
        if (!f->tensors[i].name) {
            st = lb_errorf(LB_ERR_OOM, "%s: out of memory", f->path);
            goto free_raw;
        }
        f->n = i + 1;
        raw[i].idx = i;
        st = parse_entry(f, &raw[i], &f->tensors[i]);
        if (lb_failed(&st)) goto free_raw;
    }
    st = sort_by_offsets(f, raw);
    if (lb_failed(&st)) goto free_raw;
    if (meta) {
        st = parse_metadata(f, meta);
        if (lb_failed(&st)) goto free_raw;
    }
    st = index_names(f);
    if (lb_failed(&st)) goto free_raw;
    st = check_layout(f, raw, m + 8 + n, (uint64_t)f->size - 8 - n);

free_raw:
    free(raw);
free_json:
    cJSON_Delete(root);
    return st;
}

lb_status lb_st_open(lb_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    lb_status st = lb_ok();
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lb_errorf(LB_ERR_IO, "%s: not a regular file", path);
        goto close_fd;
    }
    if (sb.st_size < 8) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: file is %lld bytes, too small (truncated?): a safetensors file starts with an 8-byte header length",
                       path, (long long)sb.st_size);
        goto close_fd;
    }
    f->path = strdup(path);
    if (!f->path) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
        goto close_fd;
    }
    f->size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st = lb_errorf(LB_ERR_IO, "%s: cannot map %zu bytes: %s", path, f->size, strerror(errno));
        goto close_file;
    }
    st = parse_header(f);
    if (lb_failed(&st)) goto close_file;
    close(fd);
    return st;

close_file:
    lb_st_close(f);
close_fd:
    close(fd);
    return st;
}

void lb_st_close(lb_st_file *f)
{
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->by_name);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const lb_st_tensor *lb_st_find(const lb_st_file *f, const char *name)
{
    if (!f->by_name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const lb_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *lb_st_meta(const lb_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

lb_status lb_st_read_f32(const lb_st_tensor *t, float *dst)
{
    if (!t->has_dtype || (t->dtype != LB_F32 && t->dtype != LB_BF16 && t->dtype != LB_F16))
        return lb_errorf(LB_ERR_UNSUPPORTED, "tensor '%s' has dtype %s; only F32, BF16 and F16 convert to f32",
                         t->name, t->dtype_str);
    size_t es = lb_dtype_size(t->dtype), n = t->nbytes / es;
    if ((uintptr_t)t->data % es == 0) {
        lb_convert_to_f32(dst, t->data, t->dtype, n);
        return lb_ok();
    }
    /* Unaligned data: convert through an aligned bounce buffer. */
    uint32_t tmp[2048];
    for (size_t i = 0; i < n; i += 2048) {
        size_t k = n - i < 2048 ? n - i : 2048;
        memcpy(tmp, (const char *)t->data + i * es, k * es);
        lb_convert_to_f32(dst + i, tmp, t->dtype, k);
    }
    return lb_ok();
}
