/* safetensors.h — reading and writing safetensors files (FORMATS.md §1).
 *
 * The reader memory-maps the file and validates it exactly as the reference
 * reader does (header size, JSON shape, dtype strings, offsets sorted without
 * gaps or overlaps, byte sizes, no trailing bytes, duplicate names); a
 * malformed file gives an lb_status naming the file, the tensor and the
 * problem, never a crash or an out-of-bounds read. Tensor data pointers point
 * into the mapping and stay valid until lb_st_close.
 *
 * The writer orders tensors as the reference writer does, pads the header
 * with spaces to a multiple of 8, always writes __metadata__ {"format":"pt"},
 * and writes atomically (temp file, fsync, rename).
 */
#ifndef LB_SAFETENSORS_H
#define LB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "autograd/tensor.h"

typedef struct lb_st_tensor {
    char *name;
    char dtype_str[16];      /* as in the file: "F32", "BF16", "I64", ... */
    int bits;                /* bits per element of dtype_str */
    int has_dtype;           /* 1 when dtype_str maps to an lb_dtype */
    lb_dtype dtype;          /* valid when has_dtype */
    int ndim;
    int64_t shape[8];
    const void *data;        /* into the mapping */
    size_t nbytes;
} lb_st_tensor;

typedef struct lb_st_file {
    char *path;
    void *map;
    size_t size;
    int n;                   /* tensors, in offset order */
    lb_st_tensor *tensors;
    int n_meta;              /* __metadata__ pairs */
    char **meta_keys;
    char **meta_values;
    int *by_name;            /* tensor indices sorted by name (for lb_st_find) */
} lb_st_file;

/* lb_st_dtype_lookup: the position of dtype string `s` in the reference
 * Dtype enum (FORMATS.md §1.3: its alignment rank, the writer's sort key) and
 * its bits per element, or -1 when `s` is not a safetensors dtype. */
int lb_st_dtype_lookup(const char *s, int *bits);

/* lb_st_dtype_str: the safetensors dtype string of `dt` ("F32", "BF16", ...). */
const char *lb_st_dtype_str(lb_dtype dt);

/* lb_st_open: maps and validates `path`. On success the caller owns *f and
 * releases it with lb_st_close. On failure *f is left closed (zeroed; closing
 * it again is harmless). Tensors have at most 8 dims; more is an error. */
lb_status lb_st_open(lb_st_file *f, const char *path);

/* lb_st_close: unmaps and frees everything; *f is zeroed. Safe on a zeroed
 * lb_st_file. */
void lb_st_close(lb_st_file *f);

/* lb_st_find: the tensor called `name`, or NULL (binary search). */
const lb_st_tensor *lb_st_find(const lb_st_file *f, const char *name);

/* lb_st_meta: the __metadata__ value for `key`, or NULL. */
const char *lb_st_meta(const lb_st_file *f, const char *key);

/* lb_st_read_f32: converts tensor `t` (F32, BF16 or F16) into dst, which
 * holds numel floats; an error names the tensor when its dtype cannot be
 * converted. Unaligned data (a header length not a multiple of 8) is fine. */
lb_status lb_st_read_f32(const lb_st_tensor *t, float *dst);

typedef struct lb_st_entry {
    const char *name;
    lb_dtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;        /* numel * dtype size bytes */
} lb_st_entry;

/* lb_st_write: writes the n entries (names unique, valid UTF-8, not
 * "__metadata__"; ndim 0..8) and the metadata pairs (plus "format":"pt" if not
 * given; written sorted by key) to `path` atomically, byte-identical to the
 * reference writer (safetensors' serialize) for the same tensors and
 * metadata. Bad entries are an LB_ERR_ARG error naming the tensor and
 * nothing is written. */
lb_status lb_st_write(const char *path, const lb_st_entry *entries, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta);

#endif
