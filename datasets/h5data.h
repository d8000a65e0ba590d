/* h5data.h — HDF5 token files: one file per split, written by `lowbit data`.
 *
 * Layout (DESIGN.md §5), readable by h5py as is:
 *   /tokens       uint32 (H5T_STD_U32LE), 1-D, chunked, uncompressed: every
 *                 document's tokens followed by EOS, all concatenated
 *   /doc_offsets  uint64, N+1 entries: the start of each of the N documents,
 *                 then the total token count
 *   root attributes: format = "lowbit-tokens", format_version = 1 (int64),
 *                 vocab_size, eos_id (int64), tokenizer_sha256 (string),
 *                 source_files (1-D array of strings)
 *
 * The writer streams documents to a temporary file beside the target and
 * renames it into place on commit, so a reader never sees a partial file and
 * an existing file is replaced only on success. The reader validates the
 * layout on open and reads token ranges.
 *
 * This is not a batch sampler (that lives above, per rank) and not
 * thread-safe: the serial HDF5 library must be called from one thread at a
 * time. The opening functions switch off HDF5's automatic error-stack
 * printing so users see lowbit's messages only.
 */
#ifndef LB_H5DATA_H
#define LB_H5DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/status.h"

#define LB_H5_FORMAT "lowbit-tokens"
#define LB_H5_FORMAT_VERSION 1
#define LB_H5_TOKEN_CHUNK ((int64_t)1 << 20)   /* elements per /tokens chunk */

/* ---- writer -------------------------------------------------------------- */

/* A file being written. Fields are private to h5data.c; the counters may be
 * read. HDF5 handles are hid_t (int64_t since HDF5 1.10). */
typedef struct lb_h5_writer {
    char *path;          /* final path */
    char *tmp_path;      /* temporary file beside it, renamed on commit */
    int64_t file, tokens, offsets;   /* hid_t */
    int64_t vocab_size, eos_id;
    int64_t n_tokens;    /* tokens appended so far, EOS included */
    int64_t n_docs;      /* documents appended so far */
    uint32_t *tok_buf;   /* (LB_H5_TOKEN_CHUNK) pending tokens */
    int64_t tok_fill;
    uint64_t *off_buf;   /* pending doc offsets */
    int64_t off_fill, off_cap;
    int64_t tok_written, off_written;   /* elements already in the datasets */
    bool open;           /* accepting documents */
    bool finished;       /* closed and synced, waiting for the rename */
} lb_h5_writer;

/* lb_h5_writer_open: starts a token file that will appear at `path` on
 * commit. `tok_sha` (hex sha256 of tokenizer.json; may be "") and the
 * `n_sources` source file names are stored as attributes. eos_id must be in
 * [0, vocab_size). The temporary file is created now (same directory), so
 * an unwritable directory fails here. On failure nothing is left on disk and
 * *w needs no cleanup; on success the caller ends with commit or abort. */
lb_status lb_h5_writer_open(lb_h5_writer *w, const char *path, int64_t vocab_size, int64_t eos_id,
                            const char *tok_sha, const char *const *sources, int n_sources);

/* lb_h5_writer_add_doc: appends one document of n token ids followed by EOS
 * (added here; do not include it). Ids must lie in [0, vocab_size): an id
 * outside is an LB_ERR_ARG error and nothing of this document is written.
 * Memory use is bounded (one chunk of tokens), whatever the corpus size. */
lb_status lb_h5_writer_add_doc(lb_h5_writer *w, const int32_t *ids, size_t n);

/* lb_h5_writer_finish: flushes, closes and fsyncs the temporary file
 * without renaming it, so that a caller writing several files can do every
 * step that may fail (disk full) for all of them before the first rename.
 * On failure the temporary file is removed and *w is closed. Optional:
 * commit finishes first when this was not called. */
lb_status lb_h5_writer_finish(lb_h5_writer *w);

/* lb_h5_writer_commit: finishes (if not yet done), renames the temporary
 * file to the final path (replacing an existing file atomically), then
 * fsyncs the directory. On failure the temporary file is removed and an existing file at
 * the path is untouched. Either way *w is closed afterwards. */
lb_status lb_h5_writer_commit(lb_h5_writer *w);

/* lb_h5_writer_abort: closes *w and removes the temporary file; the final
 * path is untouched. Safe on a closed or zeroed writer. */
void lb_h5_writer_abort(lb_h5_writer *w);

/* ---- reader -------------------------------------------------------------- */

/* An open, validated token file. Public fields are read-only for callers. */
typedef struct lb_h5_tokens {
    char *path;
    int64_t n_tokens;        /* length of /tokens */
    int64_t n_docs;          /* N (doc_offsets has N+1 entries) */
    int64_t vocab_size;      /* -1 when the attribute is absent */
    int64_t eos_id;          /* -1 when the attribute is absent */
    char tokenizer_sha256[65];   /* "" when absent */
    int64_t format_version;  /* 0 when the attribute is absent */
    int64_t file, tokens, offsets;   /* hid_t, private */
} lb_h5_tokens;

/* lb_h5_tokens_open: opens and validates `path`: the file exists and is
 * HDF5; /tokens is a 1-D integer dataset (read as uint32); /doc_offsets is a
 * 1-D integer dataset of N+1 entries starting at 0, non-decreasing, last
 * equal to the token count; `format`/`format_version`, when present, are
 * "lowbit-tokens" and <= LB_H5_FORMAT_VERSION. Errors name the file and the
 * bad piece. On failure *d needs no cleanup; on success close it with
 * lb_h5_tokens_close. Validation reads doc_offsets once (streamed). */
lb_status lb_h5_tokens_open(lb_h5_tokens *d, const char *path);

/* lb_h5_tokens_read: copies tokens [start, start+n) into dst (n elements).
 * A range outside [0, n_tokens] is an LB_ERR_ARG error. */
lb_status lb_h5_tokens_read(const lb_h5_tokens *d, int64_t start, int64_t n, uint32_t *dst);

/* lb_h5_tokens_read_offsets: copies doc_offsets [start, start+n) into dst;
 * valid entries are [0, n_docs]. */
lb_status lb_h5_tokens_read_offsets(const lb_h5_tokens *d, int64_t start, int64_t n, uint64_t *dst);

/* lb_h5_tokens_sources: the `source_files` attribute as a malloc'd array of
 * malloc'd strings (*n of them; both NULL/0 when absent). Free with
 * lb_h5_strings_free. */
lb_status lb_h5_tokens_sources(const lb_h5_tokens *d, char ***out, int *n);
void lb_h5_strings_free(char **s, int n);

/* lb_h5_tokens_close: releases d. Safe on a zeroed or closed reader. */
void lb_h5_tokens_close(lb_h5_tokens *d);

/* lb_h5_info_print: describes a token file on `out`: tokens, documents, mean
 * document length, vocab size, EOS id, tokenizer sha256, source files, and
 * format version. As one JSON object when `json` (keys: path, format_version,
 * tokens, documents, mean_doc_tokens, vocab_size, eos_id, tokenizer_sha256,
 * source_files), otherwise as aligned "key: value" lines. Returns the open
 * error if the file is not a valid token file (nothing printed then). */
lb_status lb_h5_info_print(const char *path, FILE *out, bool json);

/* lb_h5_val_path: the validation split's path for a training split `path`:
 * "x.h5" -> "x.val.h5", "x.hdf5" -> "x.val.hdf5", anything else -> path +
 * ".val.h5". malloc'd; caller frees. */
char *lb_h5_val_path(const char *path);

#endif
