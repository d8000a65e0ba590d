/* h5data.c — opening, validating and reading HDF5 token files; `info` text.
 *
 * Validation happens once, in lb_h5_tokens_open, so later reads can trust the
 * layout; every message names the file and the piece that is wrong and says
 * what was expected. The writer is in h5data_write.c. Not thread-safe
 * (serial HDF5); not a sampler.
 */
#include "datasets/h5data.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/h5data_util.h"

#define MADE_BY "expected a lowbit token file made by 'lowbit data'"
#define OFF_BLOCK ((int64_t)1 << 16)   /* doc_offsets entries checked per read */

void lb_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

lb_status lb_h5_error(lb_code code, const char *path, const char *what)
{
    char detail[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    if (detail[0]) return lb_errorf(code, "%s: %s (HDF5: %s)", path, what, detail);
    return lb_errorf(code, "%s: %s", path, what);
}

char *lb_h5_val_path(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(n + 16);
    if (!out) return NULL;
    if (n > 3 && !strcmp(path + n - 3, ".h5"))
        snprintf(out, n + 16, "%.*s.val.h5", (int)(n - 3), path);
    else if (n > 5 && !strcmp(path + n - 5, ".hdf5"))
        snprintf(out, n + 16, "%.*s.val.hdf5", (int)(n - 5), path);
    else
        snprintf(out, n + 16, "%s.val.h5", path);
    return out;
}

/* ---- attributes ---------------------------------------------------------- */

void lb_h5_strings_free(char **s, int n)
{
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Reads a string attribute (scalar or 1-D; fixed or variable length) as n
 * malloc'd strings. Returns 1 when read, 0 when absent, -1 when it is not a
 * string attribute. */
static int read_strings(hid_t obj, const char *name, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (H5Aexists(obj, name) <= 0) return 0;
    int rc = -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    hid_t mt = H5I_INVALID_HID;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (ft < 0 || np < 0 || np > (1 << 24) || H5Tget_class(ft) != H5T_STRING) goto done;
    char **v = calloc((size_t)np + 1, sizeof *v);
    if (!v) goto done;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft));   /* HDF5 will not convert ASCII <-> UTF-8 */
    if (H5Tis_variable_str(ft) > 0) {
        char **raw = calloc((size_t)np + 1, sizeof *raw);
        H5Tset_size(mt, H5T_VARIABLE);
        if (raw && H5Aread(a, mt, raw) >= 0) {
            for (hssize_t i = 0; i < np; i++) {
                v[i] = strdup(raw[i] ? raw[i] : "");
                H5free_memory(raw[i]);
            }
            rc = 1;
        }
        free(raw);
    } else {
        size_t sz = H5Tget_size(ft) + 1;   /* room for the terminator */
        char *raw = calloc((size_t)np * sz + 1, 1);
        H5Tset_size(mt, sz);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        if (raw && H5Aread(a, mt, raw) >= 0) {
            for (hssize_t i = 0; i < np; i++) v[i] = strndup(raw + i * sz, sz);
            rc = 1;
        }
        free(raw);
    }
    for (hssize_t i = 0; rc == 1 && i < np; i++)
        if (!v[i]) rc = -1;
    if (rc == 1) {
        *out = v;
        *n = (int)np;
    } else {
        lb_h5_strings_free(v, (int)np);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* An integer attribute (scalar or 1 element): 1 read, 0 absent, -1 bad. */
static int read_i64(hid_t obj, const char *name, int64_t *v)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    int rc = -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    if (ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_INTEGER &&
        H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_INT64, v) >= 0)
        rc = 1;
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* ---- reader -------------------------------------------------------------- */

/* Opens a 1-D integer dataset; its length in *len. */
static lb_status open_1d_int(hid_t file, const char *path, const char *name, hid_t *out, int64_t *len)
{
    *out = H5I_INVALID_HID;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: no dataset '%s' (" MADE_BY ")", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) {
        char what[128];
        snprintf(what, sizeof what, "'%s' is not a dataset (" MADE_BY ")", name);
        return lb_h5_error(LB_ERR_FORMAT, path, what);
    }
    hid_t t = H5Dget_type(d);
    hid_t s = H5Dget_space(d);
    hsize_t dims[8] = {0};
    int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    bool is_int = t >= 0 && H5Tget_class(t) == H5T_INTEGER;
    if (rank == 1) H5Sget_simple_extent_dims(s, dims, NULL);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (!is_int || rank != 1) {
        H5Dclose(d);
        return lb_errorf(LB_ERR_FORMAT, "%s: dataset '%s' must be a 1-D array of integers, found %s (" MADE_BY ")",
                         path, name, !is_int ? "another element type" : "another rank");
    }
    *out = d;
    *len = (int64_t)dims[0];
    return lb_ok();
}

static herr_t read_range(hid_t d, hid_t mtype, int64_t start, int64_t n, void *dst)
{
    if (n == 0) return 0;
    hsize_t at = (hsize_t)start, cnt = (hsize_t)n;
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(1, &cnt, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &cnt, NULL) >= 0)
        rc = H5Dread(d, mtype, ms, fs, H5P_DEFAULT, dst);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

/* doc_offsets must start at 0, never decrease and end at the token count. */
static lb_status check_offsets(const lb_h5_tokens *d, int64_t n_off)
{
    if (n_off < 1)
        return lb_errorf(LB_ERR_FORMAT, "%s: '/doc_offsets' is empty (needs N+1 entries: each document's start, then the token count)",
                         d->path);
    uint64_t *buf = malloc(sizeof *buf * (size_t)OFF_BLOCK);
    if (!buf) return lb_errorf(LB_ERR_OOM, "%s: out of memory", d->path);
    lb_status st = lb_ok();
    uint64_t prev = 0;
    for (int64_t at = 0; at < n_off; at += OFF_BLOCK) {
        int64_t n = n_off - at < OFF_BLOCK ? n_off - at : OFF_BLOCK;
        if (read_range((hid_t)d->offsets, H5T_NATIVE_UINT64, at, n, buf) < 0) {
            st = lb_h5_error(LB_ERR_IO, d->path, "cannot read '/doc_offsets'");
            goto out;
        }
        for (int64_t i = 0; i < n; i++) {
            if ((at == 0 && i == 0 && buf[0] != 0) || buf[i] < prev) {
                st = lb_errorf(LB_ERR_FORMAT, "%s: '/doc_offsets'[%lld] = %llu %s", d->path,
                               (long long)(at + i), (unsigned long long)buf[i],
                               buf[i] < prev ? "decreases (offsets must be non-decreasing)"
                                             : "(the first offset must be 0)");
                goto out;
            }
            prev = buf[i];
        }
    }
    if (prev != (uint64_t)d->n_tokens)
        st = lb_errorf(LB_ERR_FORMAT, "%s: the last '/doc_offsets' entry is %llu but '/tokens' holds %lld tokens (they must be equal)",
                       d->path, (unsigned long long)prev, (long long)d->n_tokens);
out:
    free(buf);
    return st;
}

static lb_status check_format(lb_h5_tokens *d, hid_t root)
{
    char **s = NULL;
    int n = 0;
    int rc = read_strings(root, "format", &s, &n);
    bool ok = rc == 0 || (rc == 1 && n == 1 && !strcmp(s[0], LB_H5_FORMAT));
    lb_status st = ok ? lb_ok()
                      : lb_errorf(LB_ERR_FORMAT, "%s: attribute 'format' is '%s', expected '%s' (" MADE_BY ")",
                                  d->path, rc == 1 && n >= 1 ? s[0] : "(not a string)", LB_H5_FORMAT);
    lb_h5_strings_free(s, n);
    if (lb_failed(&st)) return st;
    rc = read_i64(root, "format_version", &d->format_version);
    if (rc < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: attribute 'format_version' is not an integer", d->path);
    if (rc == 1 && (d->format_version < 1 || d->format_version > LB_H5_FORMAT_VERSION))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: format_version %lld is not readable by this lowbit (it reads 1..%d); %s",
                         d->path, (long long)d->format_version, LB_H5_FORMAT_VERSION,
                         d->format_version > LB_H5_FORMAT_VERSION ? "upgrade lowbit" : "remake the file with 'lowbit data'");
    if (read_i64(root, "vocab_size", &d->vocab_size) < 0 || read_i64(root, "eos_id", &d->eos_id) < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: attributes 'vocab_size' and 'eos_id' must be integers", d->path);
    rc = read_strings(root, "tokenizer_sha256", &s, &n);
    if (rc == 1 && n == 1) snprintf(d->tokenizer_sha256, sizeof d->tokenizer_sha256, "%s", s[0]);
    lb_h5_strings_free(s, n);
    return lb_ok();
}

lb_status lb_h5_tokens_open(lb_h5_tokens *d, const char *path)
{
    memset(d, 0, sizeof *d);
    d->vocab_size = d->eos_id = -1;
    lb_h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return lb_errorf(LB_ERR_IO, "%s: is a directory (" MADE_BY ")", path);
    htri_t is = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    if (is <= 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: not an HDF5 file (" MADE_BY ")", path);
    d->path = strdup(path);
    if (!d->path) return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    lb_status st;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        st = lb_h5_error(LB_ERR_IO, path, "cannot open as HDF5");
        goto fail;
    }
    d->file = f;
    st = check_format(d, f);
    if (lb_failed(&st)) goto fail;
    hid_t h;
    int64_t n_off = 0;
    st = open_1d_int(f, path, "/tokens", &h, &d->n_tokens);
    if (lb_failed(&st)) goto fail;
    d->tokens = h;
    st = open_1d_int(f, path, "/doc_offsets", &h, &n_off);
    if (lb_failed(&st)) goto fail;
    d->offsets = h;
    st = check_offsets(d, n_off);
    if (lb_failed(&st)) goto fail;
    d->n_docs = n_off - 1;
    if (d->eos_id >= 0 && d->vocab_size >= 0 && d->eos_id >= d->vocab_size) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: eos_id %lld is outside vocab_size %lld", path,
                       (long long)d->eos_id, (long long)d->vocab_size);
        goto fail;
    }
    return lb_ok();

fail:
    lb_h5_tokens_close(d);
    return st;
}

lb_status lb_h5_tokens_read(const lb_h5_tokens *d, int64_t start, int64_t n, uint32_t *dst)
{
    if (start < 0 || n < 0 || start > d->n_tokens || n > d->n_tokens - start)
        return lb_errorf(LB_ERR_ARG, "%s: token range [%lld, %lld) is outside [0, %lld)", d->path,
                         (long long)start, (long long)(start + n), (long long)d->n_tokens);
    if (read_range((hid_t)d->tokens, H5T_NATIVE_UINT32, start, n, dst) < 0)
        return lb_h5_error(LB_ERR_IO, d->path, "cannot read '/tokens'");
    return lb_ok();
}

lb_status lb_h5_tokens_read_offsets(const lb_h5_tokens *d, int64_t start, int64_t n, uint64_t *dst)
{
    if (start < 0 || n < 0 || start > d->n_docs + 1 || n > d->n_docs + 1 - start)
        return lb_errorf(LB_ERR_ARG, "%s: offset range [%lld, %lld) is outside [0, %lld]", d->path,
                         (long long)start, (long long)(start + n), (long long)d->n_docs);
    if (read_range((hid_t)d->offsets, H5T_NATIVE_UINT64, start, n, dst) < 0)
        return lb_h5_error(LB_ERR_IO, d->path, "cannot read '/doc_offsets'");
    return lb_ok();
}

lb_status lb_h5_tokens_sources(const lb_h5_tokens *d, char ***out, int *n)
{
    if (read_strings((hid_t)d->file, "source_files", out, n) < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: attribute 'source_files' is not a string array", d->path);
    return lb_ok();
}

void lb_h5_tokens_close(lb_h5_tokens *d)
{
    if (d->tokens > 0) H5Dclose((hid_t)d->tokens);
    if (d->offsets > 0) H5Dclose((hid_t)d->offsets);
    if (d->file > 0) H5Fclose((hid_t)d->file);
    free(d->path);
    memset(d, 0, sizeof *d);
}

/* ---- info ---------------------------------------------------------------- */

static void print_json(const lb_h5_tokens *d, char **src, int n_src, FILE *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", d->path);
    cJSON_AddNumberToObject(o, "format_version", (double)d->format_version);
    cJSON_AddNumberToObject(o, "tokens", (double)d->n_tokens);
    cJSON_AddNumberToObject(o, "documents", (double)d->n_docs);
    cJSON_AddNumberToObject(o, "mean_doc_tokens", d->n_docs ? (double)d->n_tokens / (double)d->n_docs : 0.0);
    cJSON_AddNumberToObject(o, "vocab_size", (double)d->vocab_size);
    cJSON_AddNumberToObject(o, "eos_id", (double)d->eos_id);
    cJSON_AddStringToObject(o, "tokenizer_sha256", d->tokenizer_sha256);
    cJSON *arr = cJSON_AddArrayToObject(o, "source_files");
    for (int i = 0; i < n_src; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(src[i]));
    char *text = cJSON_PrintUnformatted(o);
    if (text) fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static void print_text(const lb_h5_tokens *d, char **src, int n_src, FILE *out)
{
    enum { SHOWN = 10 };
    fprintf(out, "%-18s%s\n", "file:", d->path);
    if (d->format_version) fprintf(out, "%-18s%s v%lld\n", "format:", LB_H5_FORMAT, (long long)d->format_version);
    else fprintf(out, "%-18s%s\n", "format:", "HDF5 tokens (no format attribute)");
    fprintf(out, "%-18s%lld\n", "tokens:", (long long)d->n_tokens);
    fprintf(out, "%-18s%lld\n", "documents:", (long long)d->n_docs);
    fprintf(out, "%-18s%.1f tokens (EOS included)\n", "mean doc length:",
            d->n_docs ? (double)d->n_tokens / (double)d->n_docs : 0.0);
    fprintf(out, "%-18s%lld\n", "vocab size:", (long long)d->vocab_size);
    fprintf(out, "%-18s%lld\n", "EOS id:", (long long)d->eos_id);
    fprintf(out, "%-18s%s\n", "tokenizer sha256:", d->tokenizer_sha256[0] ? d->tokenizer_sha256 : "(unknown)");
    fprintf(out, "%-18s%d\n", "source files:", n_src);
    for (int i = 0; i < n_src && i < SHOWN; i++) fprintf(out, "  %s\n", src[i]);
    if (n_src > SHOWN) fprintf(out, "  ... and %d more\n", n_src - SHOWN);
}

lb_status lb_h5_info_print(const char *path, FILE *out, bool json)
{
    lb_h5_tokens d;
    LB_TRY(lb_h5_tokens_open(&d, path));
    char **src = NULL;
    int n_src = 0;
    lb_status st = lb_h5_tokens_sources(&d, &src, &n_src);
    if (!lb_failed(&st)) {
        if (json) print_json(&d, src, n_src, out);
        else print_text(&d, src, n_src, out);
    }
    lb_h5_strings_free(src, n_src);
    lb_h5_tokens_close(&d);
    return st;
}
