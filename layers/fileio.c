/* fileio.c — atomic writes (temp file, fsync, rename, fsync dir) and
 * whole-file reads. See fileio.h for the contracts. */
#include "layers/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *lb_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + (size_t)slash + lb + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + (size_t)slash, b, lb + 1);
    return p;
}

/* fsync of the directory holding `path`, so the rename itself is durable. */
static int fsync_parent_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void afile_release(lb_afile *af)
{
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

lb_status lb_afile_open(lb_afile *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        afile_release(af);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot create %s: %s", path, af->tmp_path, strerror(errno));
        afile_release(af);
        return st;
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot open a stream: %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        afile_release(af);
        return st;
    }
    return lb_ok();
}

lb_status lb_afile_write(lb_afile *af, const void *data, size_t n)
{
    if (n == 0) return lb_ok();
    if (fwrite(data, 1, n, af->fp) != n) {
        af->failed = 1;
        return lb_errorf(LB_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    }
    return lb_ok();
}

void lb_afile_abort(lb_afile *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    afile_release(af);
}

lb_status lb_afile_commit(lb_afile *af)
{
    lb_status st = lb_ok();
    if (af->failed || ferror(af->fp)) {
        st = lb_errorf(LB_ERR_IO, "%s: an earlier write failed; file not written", af->path);
        goto abort_tmp;
    }
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        st = lb_errorf(LB_ERR_IO, "%s: cannot flush to disk: %s", af->path, strerror(errno));
        goto abort_tmp;
    }
    FILE *fp = af->fp;
    af->fp = NULL;
    if (fclose(fp) != 0) {
        st = lb_errorf(LB_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
        goto abort_tmp;
    }
    if (rename(af->tmp_path, af->path) != 0) {
        st = lb_errorf(LB_ERR_IO, "%s: cannot rename %s into place: %s", af->path, af->tmp_path,
                       strerror(errno));
        goto abort_tmp;
    }
    if (fsync_parent_dir(af->path) != 0)
        st = lb_errorf(LB_ERR_IO, "%s: written, but fsync of its directory failed: %s", af->path,
                       strerror(errno));
    afile_release(af);
    return st;

abort_tmp:
    lb_afile_abort(af);
    return st;
}

lb_status lb_atomic_write(const char *path, lb_status (*write_fn)(FILE *fp, void *ud), void *ud)
{
    lb_afile af;
    LB_TRY(lb_afile_open(&af, path));
    lb_status st = write_fn(af.fp, ud);
    if (lb_failed(&st)) {
        lb_afile_abort(&af);
        return st;
    }
    return lb_afile_commit(&af);
}

lb_status lb_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    if (len) *len = 0;
    lb_status st = lb_ok();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lb_errorf(LB_ERR_IO, "%s: not a regular file", path);
        goto close_fd;
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory reading %zu bytes", path, n);
        goto close_fd;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            st = lb_errorf(LB_ERR_IO, "%s: read failed after %zu of %zu bytes: %s", path, got, n,
                           r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            goto close_fd;
        }
        got += (size_t)r;
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
close_fd:
    close(fd);
    return st;
}

lb_status lb_copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    LB_TRY(lb_read_file(from, &data, &len));
    lb_afile af;
    lb_status st = lb_afile_open(&af, to);
    if (!lb_failed(&st)) {
        st = lb_afile_write(&af, data, len);
        if (lb_failed(&st)) lb_afile_abort(&af);
        else st = lb_afile_commit(&af);
    }
    free(data);
    return st;
}
