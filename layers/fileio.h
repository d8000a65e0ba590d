/* fileio.h — writing files atomically and reading small files whole.
 *
 * An atomic write goes to `<path>.tmp.<pid>` beside the target; commit
 * flushes it, fsyncs it, renames it over `path` and fsyncs the directory, so
 * a reader sees either the old file or the complete new one, never a partial
 * one, and a failed write leaves an existing file untouched. Two ways in:
 *
 *   lb_afile af;                             lb_atomic_write(path, fn, ud)
 *   LB_TRY(lb_afile_open(&af, path));        calls fn(fp, ud) on the temp
 *   lb_afile_write(&af, buf, n); ...         file and commits when it
 *   return lb_afile_commit(&af);             returns OK, aborts otherwise
 *   (or lb_afile_abort(&af) on an error)
 *
 * This file is not a buffered-stream abstraction and does no locking: two
 * processes writing the same path both succeed and the last rename wins.
 */
#ifndef LB_FILEIO_H
#define LB_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "autograd/status.h"

typedef struct lb_afile {
    FILE *fp;          /* the temporary file; fprintf/fwrite to it freely */
    char *path;        /* final path */
    char *tmp_path;    /* <path>.tmp.<pid> */
    int failed;        /* a write through lb_afile_write failed */
} lb_afile;

/* lb_afile_open: creates the temporary file for `path` (same directory, so an
 * unwritable directory fails here). On failure *af needs no cleanup; on
 * success the caller ends with lb_afile_commit or lb_afile_abort. */
lb_status lb_afile_open(lb_afile *af, const char *path);

/* lb_afile_write: writes n bytes; an error names the file. After an error the
 * file is marked failed and commit will refuse (the caller may still abort). */
lb_status lb_afile_write(lb_afile *af, const void *data, size_t n);

/* lb_afile_commit: flushes, fsyncs and closes the temporary file, renames it
 * to the final path and fsyncs the directory. On any failure (including an
 * earlier write error or ferror on fp) the temporary file is removed and the
 * old file is untouched. *af is closed afterwards either way. */
lb_status lb_afile_commit(lb_afile *af);

/* lb_afile_abort: closes *af and removes the temporary file. Safe on a zeroed
 * or already closed lb_afile. */
void lb_afile_abort(lb_afile *af);

/* lb_atomic_write: opens an lb_afile for `path`, calls write_fn(fp, ud) and
 * commits if it returned OK (its status is returned otherwise, and nothing
 * changes on disk). */
lb_status lb_atomic_write(const char *path, lb_status (*write_fn)(FILE *fp, void *ud), void *ud);

/* lb_read_file: reads all of `path` into a new buffer with a NUL byte after
 * the *len content bytes (len may be NULL). The caller frees *data. An error
 * names the file. */
lb_status lb_read_file(const char *path, char **data, size_t *len);

/* lb_copy_file: copies the regular file `from` to `to` byte for byte, through
 * an lb_afile (so `to` is either its old self or the complete copy). An error
 * names the file that could not be read or written. */
lb_status lb_copy_file(const char *from, const char *to);

/* lb_path_join: malloc'd "a/b" (no doubled slash), or NULL when out of
 * memory. */
char *lb_path_join(const char *a, const char *b);

#endif
