/* gguf.h — GGUF files (llama.cpp / ggml), version 3, exactly as FORMATS §5.1.
 *
 * One in-memory form, lb_gguf, serves both directions:
 *   - writing: lb_gguf_new, lb_gguf_set_* (metadata in insertion order),
 *     lb_gguf_add_tensor (bytes borrowed until the write), lb_gguf_write
 *     (atomic: layers/fileio.h; offsets and zero padding computed there,
 *     including after the last tensor, as ggml and gguf-py do);
 *   - reading: lb_gguf_open maps the file and validates everything the ggml
 *     reader checks: magic, version (0, 1 and > 3 refused, a version whose
 *     low 16 bits are zero is the other endianness), value and ggml type
 *     ids, nested arrays, empty or duplicate keys, general.alignment (UINT32,
 *     a power of two), names of at most 63 bytes, duplicate tensor names,
 *     n_dims <= 4, ne0 a multiple of the block size, element and byte
 *     counts that overflow, offsets that are not the running padded sum in
 *     info order, and data that runs past the end of the file. Every error
 *     names the file and the field and says what was expected.
 *
 * Strings are byte strings (u64 length, no NUL in the file); the reader
 * NUL-terminates its copies. Numbers are little-endian (big-endian files
 * are refused). Dimensions are ggml's ne[] (innermost first: a PyTorch
 * (out, in) weight is ne = {in, out}).
 *
 * Not here: what the keys mean (gguf_export.c, gguf_load.c), quantization.
 */
#ifndef LB_QUANT_GGUF_H
#define LB_QUANT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

#define LB_GGUF_VERSION 3
#define LB_GGUF_DEFAULT_ALIGNMENT 32
#define LB_GGUF_NAME_MAX 63     /* bytes of a tensor name (ggml: < GGML_MAX_NAME 64) */

typedef enum lb_gguf_vtype {
    LB_GGUF_U8 = 0, LB_GGUF_I8 = 1, LB_GGUF_U16 = 2, LB_GGUF_I16 = 3, LB_GGUF_U32 = 4, LB_GGUF_I32 = 5,
    LB_GGUF_F32 = 6, LB_GGUF_BOOL = 7, LB_GGUF_STRING = 8, LB_GGUF_ARRAY = 9, LB_GGUF_U64 = 10,
    LB_GGUF_I64 = 11, LB_GGUF_F64 = 12,
} lb_gguf_vtype;

/* ggml tensor type ids lowbit writes and decodes (FORMATS §5.2). */
enum {
    LB_GGML_F32 = 0, LB_GGML_F16 = 1, LB_GGML_Q4_0 = 2, LB_GGML_Q4_1 = 3, LB_GGML_Q5_0 = 6,
    LB_GGML_Q5_1 = 7, LB_GGML_Q8_0 = 8, LB_GGML_Q4_K = 12, LB_GGML_Q6_K = 14, LB_GGML_BF16 = 30,
};

/* One metadata value: a scalar (n = 1) or an array of n elements of
 * elem_type. Numbers live in `num` (n elements of the type's size, host
 * order); strings in str[]/str_len[] (NUL-terminated copies). */
typedef struct lb_gguf_kv {
    char *key;
    lb_gguf_vtype type;       /* the value type; LB_GGUF_ARRAY for arrays */
    lb_gguf_vtype elem_type;  /* == type for scalars */
    uint64_t n;
    void *num;
    char **str;
    uint64_t *str_len;
} lb_gguf_kv;

typedef struct lb_gguf_tensor {
    char name[LB_GGUF_NAME_MAX + 1];
    uint32_t n_dims;
    int64_t ne[4];            /* unused dims are 1 */
    int type;                 /* ggml type id */
    uint64_t offset;          /* from the start of the data section */
    uint64_t nbytes;
    const uint8_t *data;      /* reader: into the mapping; writer: the caller's bytes */
} lb_gguf_tensor;

typedef struct lb_gguf {
    char *path;               /* reader: the file; writer: NULL until written */
    uint32_t version;
    uint32_t alignment;
    lb_gguf_kv *kv;
    int64_t n_kv, cap_kv;
    lb_gguf_tensor *t;
    int64_t n_t, cap_t;
    uint64_t data_start;      /* reader: file offset of the data section */
    void *map;                /* reader: the mapped file */
    size_t map_len;
} lb_gguf;

/* Block size, bytes per block and name of a ggml type id; false when the
 * id is not a type ggml defines today (removed ids 4, 5, 31-33, 36-38 are
 * unknown). */
bool lb_ggml_type_info(int type, int64_t *block, int64_t *type_size, const char **name);

/* lb_ggml_row_bytes: bytes of one row of n elements of `type` (n a multiple
 * of its block size). */
int64_t lb_ggml_row_bytes(int type, int64_t n);

/* lb_gguf_open: maps and validates `path` (see above). *out is the caller's
 * (lb_gguf_free). */
lb_status lb_gguf_open(const char *path, lb_gguf **out);

/* lb_gguf_new: an empty file for writing (alignment 32), NULL when out of memory. */
lb_gguf *lb_gguf_new(void);

/* lb_gguf_free: frees g (reader: unmaps the file). NULL is fine. */
void lb_gguf_free(lb_gguf *g);

/* Setters append a key (a duplicate key is an LB_ERR_ARG error); values are
 * copied. */
lb_status lb_gguf_set_u32(lb_gguf *g, const char *key, uint32_t v);
lb_status lb_gguf_set_i32(lb_gguf *g, const char *key, int32_t v);
lb_status lb_gguf_set_f32(lb_gguf *g, const char *key, float v);
lb_status lb_gguf_set_bool(lb_gguf *g, const char *key, bool v);
lb_status lb_gguf_set_str(lb_gguf *g, const char *key, const char *v);
/* arrays: n > 0 elements (gguf-py refuses empty arrays) */
lb_status lb_gguf_set_arr_str(lb_gguf *g, const char *key, const char *const *v, const size_t *len, uint64_t n);
lb_status lb_gguf_set_arr_i32(lb_gguf *g, const char *key, const int32_t *v, uint64_t n);

/* lb_gguf_add_tensor: appends a tensor info; `data` (nbytes as the type
 * and ne imply) is borrowed until lb_gguf_write, or NULL for a tensor that
 * lb_gguf_write_streamed produces when it writes it. Name > 63 bytes, a
 * duplicate name, an unknown type or ne0 not a multiple of its block: an
 * LB_ERR_ARG error naming the tensor. */
lb_status lb_gguf_add_tensor(lb_gguf *g, const char *name, uint32_t n_dims, const int64_t *ne, int type,
                             const void *data);

/* lb_gguf_write: writes g atomically at path (version 3). Every tensor
 * must have its data. */
lb_status lb_gguf_write(const lb_gguf *g, const char *path);

/* lb_gguf_fill_fn: OVERWRITES dst with the nbytes of tensor i of the file. */
typedef lb_status (*lb_gguf_fill_fn)(void *ud, int64_t i, uint8_t *dst, uint64_t nbytes);

/* lb_gguf_write_streamed: lb_gguf_write, except that each tensor added
 * without data is made by fill into a buffer of its size just before it is
 * written, and freed after: one such tensor's bytes exist at a time. An
 * error from fill aborts the write (nothing changes on disk). */
lb_status lb_gguf_write_streamed(const lb_gguf *g, const char *path, lb_gguf_fill_fn fill, void *ud);

/* Lookup: NULL when absent. */
const lb_gguf_kv *lb_gguf_find(const lb_gguf *g, const char *key);
const lb_gguf_tensor *lb_gguf_find_tensor(const lb_gguf *g, const char *name);

/* Typed getters for the loaders: a missing required key, or a key of
 * another value type, is an LB_ERR_FORMAT error naming the file, the key,
 * the type found and the type expected. Absent and not required: *out =
 * def (found = false). */
lb_status lb_gguf_get_u32(const lb_gguf *g, const char *key, bool required, uint32_t def, uint32_t *out);
lb_status lb_gguf_get_f32(const lb_gguf *g, const char *key, bool required, float def, float *out);
lb_status lb_gguf_get_str(const lb_gguf *g, const char *key, bool required, const char **out);
/* lb_gguf_get_arr: an array of elem_type (required). */
lb_status lb_gguf_get_arr(const lb_gguf *g, const char *key, lb_gguf_vtype elem_type, const lb_gguf_kv **out);

/* lb_gguf_vtype_name: "UINT32", "STRING", ... ("?" for a bad id). */
const char *lb_gguf_vtype_name(int t);

#endif
