/* h5data_write.c — the streaming, atomic writer of HDF5 token files.
 *
 * Documents are buffered one /tokens chunk at a time and appended to
 * extendible datasets in a temporary file beside the target; commit closes,
 * fsyncs and renames it into place. The layout is described in h5data.h;
 * reading and validation live in h5data.c. Not thread-safe (serial HDF5).
 */
#include "datasets/h5data.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/h5data_util.h"

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is stored as int64_t in lb_h5_writer");

#define OFF_CHUNK ((hsize_t)1 << 16)   /* elements per /doc_offsets chunk */

static hid_t create_extendible(hid_t file, const char *name, hid_t type, hsize_t chunk)
{
    hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = H5I_INVALID_HID;
    /* no modification times in the object headers: the same input gives a
     * byte-identical file */
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
        H5Pset_obj_track_times(dcpl, false) >= 0)
        d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return d;
}

/* Appends n elements of `buf` (memory type mtype) at offset `at` of a 1-D
 * extendible dataset, growing it to at + n. */
static herr_t append(hid_t d, hid_t mtype, const void *buf, hsize_t at, hsize_t n)
{
    if (n == 0) return 0;
    hsize_t size = at + n;
    if (H5Dset_extent(d, &size) < 0) return -1;
    hid_t fspace = H5Dget_space(d);
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    herr_t rc = -1;
    if (fspace >= 0 && mspace >= 0 &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &at, NULL, &n, NULL) >= 0)
        rc = H5Dwrite(d, mtype, mspace, fspace, H5P_DEFAULT, buf);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return rc;
}

static herr_t attr_i64(hid_t obj, const char *name, int64_t v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT64, &v) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc;
}

/* Variable-length UTF-8 strings: h5py reads them as str. A scalar when
 * n < 0, else a 1-D array of n. */
static herr_t attr_strings(hid_t obj, const char *name, const char *const *s, int n)
{
    hsize_t dims = n < 0 ? 1 : (hsize_t)n;
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char *none = NULL;   /* HDF5 wants a buffer even for 0 elements */
    herr_t rc = a >= 0 ? H5Awrite(a, type, n == 0 ? &none : s) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

static lb_status write_attrs(lb_h5_writer *w, const char *tok_sha, const char *const *sources,
                             int n_sources)
{
    const char *fmt = LB_H5_FORMAT;
    const char *sha = tok_sha ? tok_sha : "";
    hid_t root = (hid_t)w->file;
    if (attr_strings(root, "format", &fmt, -1) < 0 ||
        attr_i64(root, "format_version", LB_H5_FORMAT_VERSION) < 0 ||
        attr_i64(root, "vocab_size", w->vocab_size) < 0 || attr_i64(root, "eos_id", w->eos_id) < 0 ||
        attr_strings(root, "tokenizer_sha256", &sha, -1) < 0 ||
        attr_strings(root, "source_files", sources, n_sources) < 0)
        return lb_h5_error(LB_ERR_IO, w->tmp_path, "cannot write attributes");
    return lb_ok();
}

static void close_handles(lb_h5_writer *w)
{
    if (w->tokens > 0) H5Dclose((hid_t)w->tokens);
    if (w->offsets > 0) H5Dclose((hid_t)w->offsets);
    if (w->file > 0) H5Fclose((hid_t)w->file);
    w->tokens = w->offsets = w->file = 0;
}

static void free_writer(lb_h5_writer *w)
{
    free(w->path);
    free(w->tmp_path);
    free(w->tok_buf);
    free(w->off_buf);
    memset(w, 0, sizeof *w);
}

lb_status lb_h5_writer_open(lb_h5_writer *w, const char *path, int64_t vocab_size, int64_t eos_id,
                            const char *tok_sha, const char *const *sources, int n_sources)
{
    memset(w, 0, sizeof *w);
    lb_h5_quiet();
    if (vocab_size <= 0 || vocab_size > ((int64_t)1 << 32))
        return lb_errorf(LB_ERR_ARG, "%s: vocab size %lld is not in [1, 2^32]", path, (long long)vocab_size);
    if (eos_id < 0 || eos_id >= vocab_size)
        return lb_errorf(LB_ERR_ARG, "%s: EOS id %lld is outside the vocabulary [0, %lld)", path,
                         (long long)eos_id, (long long)vocab_size);
    lb_status st = lb_ok();
    size_t len = strlen(path);
    w->path = strdup(path);
    w->tmp_path = malloc(len + 32);
    w->tok_buf = malloc(sizeof(uint32_t) * (size_t)LB_H5_TOKEN_CHUNK);
    w->off_cap = (int64_t)OFF_CHUNK;
    w->off_buf = malloc(sizeof(uint64_t) * (size_t)w->off_cap);
    if (!w->path || !w->tmp_path || !w->tok_buf || !w->off_buf) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
        goto fail_free;
    }
    snprintf(w->tmp_path, len + 32, "%s.tmp.%ld", path, (long)getpid());
    w->vocab_size = vocab_size;
    w->eos_id = eos_id;

    errno = 0;
    hid_t f = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        st = lb_errorf(LB_ERR_IO, "%s: cannot create (temporary file %s): %s", path, w->tmp_path,
                       errno ? strerror(errno) : "HDF5 error");
        goto fail_free;
    }
    w->file = f;
    w->tokens = create_extendible(f, "tokens", H5T_STD_U32LE, (hsize_t)LB_H5_TOKEN_CHUNK);
    w->offsets = create_extendible(f, "doc_offsets", H5T_STD_U64LE, OFF_CHUNK);
    if (w->tokens < 0 || w->offsets < 0) {
        st = lb_h5_error(LB_ERR_IO, w->tmp_path, "cannot create datasets");
        goto fail_close;
    }
    st = write_attrs(w, tok_sha, sources, n_sources);
    if (lb_failed(&st)) goto fail_close;
    w->off_buf[w->off_fill++] = 0;
    w->open = true;
    return lb_ok();

fail_close:
    close_handles(w);
    unlink(w->tmp_path);
fail_free:
    free_writer(w);
    return st;
}

static lb_status flush_tokens(lb_h5_writer *w)
{
    if (append((hid_t)w->tokens, H5T_NATIVE_UINT32, w->tok_buf, (hsize_t)w->tok_written,
               (hsize_t)w->tok_fill) < 0)
        return lb_h5_error(LB_ERR_IO, w->tmp_path, "cannot write /tokens (disk full?)");
    w->tok_written += w->tok_fill;
    w->tok_fill = 0;
    return lb_ok();
}

static lb_status flush_offsets(lb_h5_writer *w)
{
    if (append((hid_t)w->offsets, H5T_NATIVE_UINT64, w->off_buf, (hsize_t)w->off_written,
               (hsize_t)w->off_fill) < 0)
        return lb_h5_error(LB_ERR_IO, w->tmp_path, "cannot write /doc_offsets (disk full?)");
    w->off_written += w->off_fill;
    w->off_fill = 0;
    return lb_ok();
}

static lb_status push_token(lb_h5_writer *w, uint32_t id)
{
    w->tok_buf[w->tok_fill++] = id;
    w->n_tokens++;
    if (w->tok_fill == LB_H5_TOKEN_CHUNK) return flush_tokens(w);
    return lb_ok();
}

lb_status lb_h5_writer_add_doc(lb_h5_writer *w, const int32_t *ids, size_t n)
{
    LB_CHECK(w->open);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= w->vocab_size)
            return lb_errorf(LB_ERR_ARG, "%s: token id %d (document %lld, position %zu) is outside the vocabulary [0, %lld)",
                             w->path, ids[i], (long long)w->n_docs, i, (long long)w->vocab_size);
    for (size_t i = 0; i < n; i++) LB_TRY(push_token(w, (uint32_t)ids[i]));
    LB_TRY(push_token(w, (uint32_t)w->eos_id));
    w->n_docs++;
    w->off_buf[w->off_fill++] = (uint64_t)w->n_tokens;
    if (w->off_fill == w->off_cap) LB_TRY(flush_offsets(w));
    return lb_ok();
}

static lb_status fsync_path(const char *path, bool dir)
{
    int fd = open(path, dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) return lb_errorf(LB_ERR_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0 && !dir) return lb_errorf(LB_ERR_IO, "%s: fsync failed: %s", path, strerror(err));
    return lb_ok();   /* some filesystems refuse fsync on directories; not an error */
}

lb_status lb_h5_writer_finish(lb_h5_writer *w)
{
    LB_CHECK(w->open);
    w->open = false;
    lb_status st = flush_tokens(w);
    if (!lb_failed(&st)) st = flush_offsets(w);
    if (lb_failed(&st)) goto fail;
    H5Dclose((hid_t)w->tokens);
    H5Dclose((hid_t)w->offsets);
    w->tokens = w->offsets = 0;
    herr_t rc = H5Fclose((hid_t)w->file);
    w->file = 0;
    if (rc < 0) {
        st = lb_h5_error(LB_ERR_IO, w->tmp_path, "cannot close (disk full?)");
        goto fail;
    }
    st = fsync_path(w->tmp_path, false);
    if (lb_failed(&st)) goto fail;
    w->finished = true;
    return lb_ok();

fail:
    lb_h5_writer_abort(w);
    return st;
}

lb_status lb_h5_writer_commit(lb_h5_writer *w)
{
    if (!w->finished) LB_TRY(lb_h5_writer_finish(w));
    if (rename(w->tmp_path, w->path) != 0) {
        lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot rename %s into place: %s", w->path, w->tmp_path,
                                 strerror(errno));
        lb_h5_writer_abort(w);
        return st;
    }
    lb_status st = lb_ok();
    char *dir_copy = strdup(w->path);
    if (dir_copy) {
        st = fsync_path(dirname(dir_copy), true);
        free(dir_copy);
    }
    free_writer(w);
    return st;
}

void lb_h5_writer_abort(lb_h5_writer *w)
{
    if (!w->tmp_path) return;
    close_handles(w);
    if (w->tmp_path) unlink(w->tmp_path);
    free_writer(w);
}
