/* run_ckpt.c — ckpt-<step>.h5 write, validate, read (see run_ckpt.h). */
#include "train/run_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/fileio.h"

/* ---- small HDF5 helpers (each returns < 0 on failure) ------------------------- */

static herr_t attr_i64(hid_t obj, const char *name, int64_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT64, &v) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static herr_t attr_str(hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Awrite(a, t, &s) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static bool read_attr_i64(hid_t obj, const char *name, int64_t *v)
{
    if (H5Aexists(obj, name) <= 0) return false;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    bool ok = a >= 0 && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    if (a >= 0) H5Aclose(a);
    return ok;
}

/* read_attr_str: a malloc'd copy of a string attribute, or NULL. */
static char *read_attr_str(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 does not convert between ASCII and UTF-8 */
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                out = strdup(s);
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            out = calloc(n + 1, 1);
            if (out && H5Aread(a, ft, out) < 0) {
                free(out);
                out = NULL;
            }
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static herr_t write_ds(hid_t g, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                       const void *data)
{
    hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d >= 0 ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return rc;
}

/* tensor_host: t's values as a malloc'd f32 host array (any device). */
static float *tensor_host(lb_ctx *ctx, const lb_tensor *t)
{
    float *h = malloc((size_t)lb_tensor_numel(t) * sizeof(float) + 1);
    LB_CHECKF(h != NULL, "out of memory saving %s", t->name ? t->name : "a tensor");
    lb_tensor_copy_to_host(ctx, t, h);
    return h;
}

/* state_view: a tensor struct over optimizer state `data` shaped like p. */
static lb_tensor state_view(const lb_tensor *p, float *data, lb_device dev)
{
    lb_tensor v = *p;
    v.data = data;
    v.device = dev;
    v.dtype = LB_F32;
    v.grad = NULL;
    v.node = NULL;
    v.lowp = NULL;
    v.flags = LB_TENSOR_VIEW;
    return v;
}

static herr_t save_tensor(lb_ctx *ctx, hid_t g, const char *name, const lb_tensor *t)
{
    hsize_t dims[LB_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
    float *h = tensor_host(ctx, t);
    herr_t rc = write_ds(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, h);
    free(h);
    return rc;
}

static lb_status fsync_path(const char *path, bool dir)
{
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return lb_errorf(LB_ERR_IO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && !dir) return lb_errorf(LB_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    return lb_ok();
}

lb_status lb_run_ckpt_save(lb_ctx *ctx, const char *path, const lb_run_state *st, lb_tensor *const *params,
                           int n, const lb_run_optim *opts, int n_opts, const char *config_json)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return lb_errorf(LB_ERR_IO, "%s: cannot create the checkpoint file", tmp);
    bool ok = attr_str(f, "format", LB_RUN_CKPT_FORMAT) >= 0 && attr_i64(f, "format_version", LB_RUN_CKPT_VERSION) >= 0 &&
              attr_i64(f, "step", st->step) >= 0 && attr_i64(f, "next_draw", st->next_draw) >= 0 &&
              attr_i64(f, "bad_streak", st->bad_streak) >= 0 &&
              attr_i64(f, "rng_state", (int64_t)st->rng_state) >= 0 &&
              attr_str(f, "config", config_json ? config_json : "") >= 0;
    hid_t g = ok ? H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ok && g >= 0;
    for (int i = 0; ok && i < n; i++) ok = save_tensor(ctx, g, params[i]->name, params[i]) >= 0;
    if (g >= 0) H5Gclose(g);
    hid_t og = ok ? H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ok && og >= 0;
    for (int k = 0; ok && k < n_opts; k++) {
        const lb_adamw *o = opts[k].opt;
        hid_t gg = H5Gcreate2(og, opts[k].name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t gm = gg >= 0 ? H5Gcreate2(gg, "m", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        hid_t gv = gg >= 0 ? H5Gcreate2(gg, "v", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        ok = gg >= 0 && gm >= 0 && gv >= 0 && attr_i64(gg, "t", o->t) >= 0;
        for (int i = 0; ok && i < o->n; i++) {
            lb_tensor vm = state_view(o->params[i], o->m[i], o->device);
            lb_tensor vv = state_view(o->params[i], o->v[i], o->device);
            ok = save_tensor(ctx, gm, o->params[i]->name, &vm) >= 0 && save_tensor(ctx, gv, o->params[i]->name, &vv) >= 0;
        }
        if (gm >= 0) H5Gclose(gm);
        if (gv >= 0) H5Gclose(gv);
        if (gg >= 0) H5Gclose(gg);
    }
    if (og >= 0) H5Gclose(og);
    hid_t hg = ok ? H5Gcreate2(f, "history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ok && hg >= 0;
    if (ok) {
        hsize_t dims[1] = {(hsize_t)st->step};
        static const double none = 0;
        ok = write_ds(hg, "loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, st->step ? st->losses : &none) >= 0;
    }
    if (hg >= 0) H5Gclose(hg);
    if (H5Fclose(f) < 0) ok = false;
    lb_status s = ok ? fsync_path(tmp, false) : lb_errorf(LB_ERR_IO, "%s: writing the checkpoint failed", tmp);
    if (!lb_failed(&s) && rename(tmp, path) != 0)
        s = lb_errorf(LB_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (lb_failed(&s)) {
        unlink(tmp);
        return s;
    }
    char *dir = strdup(path);
    LB_CHECK(dir != NULL);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    fsync_path(dir, true);
    free(dir);
    return lb_ok();
}

/* ---- loading -------------------------------------------------------------------- */

static void shape_str(int ndim, const hsize_t *d, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ", %llu" : "%llu", (unsigned long long)d[i]);
    if (o < n) snprintf(buf + o, n - o, ")");
}

/* check_ds: dataset g/name exists, is float, and has t's shape. */
static lb_status check_ds(hid_t g, const char *where, const char *path, const lb_tensor *t)
{
    if (H5Lexists(g, t->name, H5P_DEFAULT) <= 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: %s/%s is missing (was the checkpoint written for a different model, "
                         "--wq/--aq or --quantize-* setting?)", path, where, t->name);
    hid_t d = H5Dopen2(g, t->name, H5P_DEFAULT);
    if (d < 0) return lb_errorf(LB_ERR_FORMAT, "%s: cannot open %s/%s", path, where, t->name);
    hid_t sp = H5Dget_space(d);
    hid_t ty = H5Dget_type(d);
    hsize_t dims[8] = {0};
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (nd >= 0 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    bool flt = ty >= 0 && H5Tget_class(ty) == H5T_FLOAT;
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (!flt) return lb_errorf(LB_ERR_FORMAT, "%s: %s/%s is not a float dataset", path, where, t->name);
    bool same = nd == t->ndim;
    for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)t->shape[i];
    if (!same) {
        char a[96], b[96];
        shape_str(nd, dims, a, sizeof a);
        lb_tensor_shape_str(t, b, sizeof b);
        return lb_errorf(LB_ERR_SHAPE, "%s: %s/%s has shape %s in the checkpoint but %s in this run", path, where,
                         t->name, a, b);
    }
    return lb_ok();
}

static lb_status count_members(hid_t g, const char *where, const char *path, int expect)
{
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) return lb_errorf(LB_ERR_FORMAT, "%s: cannot list %s", path, where);
    if ((int)info.nlinks != expect)
        return lb_errorf(LB_ERR_FORMAT, "%s: %s holds %llu tensors but this run has %d (a different model or "
                         "quantization setting?)", path, where, (unsigned long long)info.nlinks, expect);
    return lb_ok();
}

static lb_status read_into(lb_ctx *ctx, hid_t g, const char *path, const lb_tensor *t, float *dst_data,
                           lb_device dev)
{
    int64_t n = lb_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof(float) + 1);
    if (!h) return lb_errorf(LB_ERR_OOM, "out of memory reading %s", t->name);
    hid_t d = H5Dopen2(g, t->name, H5P_DEFAULT);
    herr_t rc = d >= 0 ? H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, h) : -1;
    if (d >= 0) H5Dclose(d);
    if (rc < 0) {
        free(h);
        return lb_errorf(LB_ERR_IO, "%s: cannot read %s (file truncated or damaged?)", path, t->name);
    }
    lb_tensor v = state_view(t, dst_data, dev);
    lb_tensor_copy_from_host(ctx, &v, h);
    free(h);
    return lb_ok();
}

typedef struct open_groups {
    hid_t f, params, optim, *og, *om, *ov, hist;
    int n_opts;
} open_groups;

static void close_groups(open_groups *o)
{
    for (int k = 0; k < o->n_opts; k++) {
        if (o->om && o->om[k] >= 0) H5Gclose(o->om[k]);
        if (o->ov && o->ov[k] >= 0) H5Gclose(o->ov[k]);
        if (o->og && o->og[k] >= 0) H5Gclose(o->og[k]);
    }
    free(o->og);
    free(o->om);
    free(o->ov);
    if (o->hist >= 0) H5Gclose(o->hist);
    if (o->optim >= 0) H5Gclose(o->optim);
    if (o->params >= 0) H5Gclose(o->params);
    if (o->f >= 0) H5Fclose(o->f);
}

static hid_t open_group(hid_t parent, const char *name)
{
    if (H5Lexists(parent, name, H5P_DEFAULT) <= 0) return -1;
    return H5Gopen2(parent, name, H5P_DEFAULT);
}

static lb_status validate(const char *path, open_groups *o, lb_run_state *st, lb_tensor *const *params, int n,
                          const lb_run_optim *opts, int n_opts)
{
    char *fmt = read_attr_str(o->f, "format");
    bool fmt_ok = fmt && !strcmp(fmt, LB_RUN_CKPT_FORMAT);
    free(fmt);
    if (!fmt_ok) return lb_errorf(LB_ERR_FORMAT, "%s: not a lowbit run checkpoint (format attribute is not \"%s\")", path,
                                  LB_RUN_CKPT_FORMAT);
    int64_t ver = 0;
    if (!read_attr_i64(o->f, "format_version", &ver))
        return lb_errorf(LB_ERR_FORMAT, "%s: no format_version attribute", path);
    if (ver != LB_RUN_CKPT_VERSION)
        return lb_errorf(LB_ERR_FORMAT, "%s: checkpoint format_version %lld, this lowbit reads version %d%s", path,
                         (long long)ver, LB_RUN_CKPT_VERSION,
                         ver > LB_RUN_CKPT_VERSION ? " (written by a newer lowbit: upgrade)" : "");
    int64_t rng = 0;
    if (!read_attr_i64(o->f, "step", &st->step) || !read_attr_i64(o->f, "next_draw", &st->next_draw) ||
        !read_attr_i64(o->f, "bad_streak", &st->bad_streak) || !read_attr_i64(o->f, "rng_state", &rng) || st->step < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: missing or bad step / next_draw / bad_streak / rng_state attributes", path);
    st->rng_state = (uint64_t)rng;
    o->params = open_group(o->f, "params");
    o->optim = open_group(o->f, "optim");
    o->hist = open_group(o->f, "history");
    if (o->params < 0 || o->optim < 0 || o->hist < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: missing group /params, /optim or /history", path);
    LB_TRY(count_members(o->params, "/params", path, n));
    for (int i = 0; i < n; i++) LB_TRY(check_ds(o->params, "/params", path, params[i]));
    LB_TRY(count_members(o->optim, "/optim", path, n_opts));
    o->og = malloc((size_t)n_opts * sizeof(hid_t) + 1);
    o->om = malloc((size_t)n_opts * sizeof(hid_t) + 1);
    o->ov = malloc((size_t)n_opts * sizeof(hid_t) + 1);
    LB_CHECK(o->og && o->om && o->ov);
    for (int k = 0; k < n_opts; k++) o->og[k] = o->om[k] = o->ov[k] = -1;
    o->n_opts = n_opts;
    for (int k = 0; k < n_opts; k++) {
        char where[128];
        snprintf(where, sizeof where, "/optim/%s", opts[k].name);
        o->og[k] = open_group(o->optim, opts[k].name);
        if (o->og[k] < 0) return lb_errorf(LB_ERR_FORMAT, "%s: %s is missing", path, where);
        o->om[k] = open_group(o->og[k], "m");
        o->ov[k] = open_group(o->og[k], "v");
        if (o->om[k] < 0 || o->ov[k] < 0) return lb_errorf(LB_ERR_FORMAT, "%s: %s lacks m or v", path, where);
        int64_t t;
        if (!read_attr_i64(o->og[k], "t", &t) || t < 0) return lb_errorf(LB_ERR_FORMAT, "%s: %s has no step count t", path, where);
        char wm[160], wv[160];
        snprintf(wm, sizeof wm, "%s/m", where);
        snprintf(wv, sizeof wv, "%s/v", where);
        LB_TRY(count_members(o->om[k], wm, path, opts[k].opt->n));
        LB_TRY(count_members(o->ov[k], wv, path, opts[k].opt->n));
        for (int i = 0; i < opts[k].opt->n; i++) {
            LB_TRY(check_ds(o->om[k], wm, path, opts[k].opt->params[i]));
            LB_TRY(check_ds(o->ov[k], wv, path, opts[k].opt->params[i]));
        }
    }
    hid_t d = H5Lexists(o->hist, "loss", H5P_DEFAULT) > 0 ? H5Dopen2(o->hist, "loss", H5P_DEFAULT) : -1;
    hssize_t npts = -1;
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        H5Dclose(d);
    }
    if (npts != st->step)
        return lb_errorf(LB_ERR_FORMAT, "%s: /history/loss has %lld entries for step %lld", path, (long long)npts,
                         (long long)st->step);
    return lb_ok();
}

lb_status lb_run_ckpt_load(lb_ctx *ctx, const char *path, lb_run_state *st, lb_tensor *const *params, int n,
                           const lb_run_optim *opts, int n_opts)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(st, 0, sizeof *st);
    if (access(path, R_OK) != 0) return lb_errorf(LB_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    open_groups o = {.f = -1, .params = -1, .optim = -1, .hist = -1};
    o.f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (o.f < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: not a readable HDF5 file (truncated or damaged checkpoint?)", path);
    lb_status s = validate(path, &o, st, params, n, opts, n_opts);
    for (int i = 0; !lb_failed(&s) && i < n; i++) {
        s = read_into(ctx, o.params, path, params[i], params[i]->data, params[i]->device);
        /* a CUDA weight's bf16 copy follows its new values (a quantized one's is w^, made by the forward) */
        if (!lb_failed(&s) && params[i]->device == LB_CUDA && params[i]->lowp &&
            !(params[i]->flags & LB_TENSOR_LOWP_FQ))
            lb_param_refresh_lowp(ctx, params[i]);
    }
    for (int k = 0; !lb_failed(&s) && k < n_opts; k++) {
        lb_adamw *a = opts[k].opt;
        int64_t t = 0;
        read_attr_i64(o.og[k], "t", &t);
        a->t = t;
        for (int i = 0; !lb_failed(&s) && i < a->n; i++) {
            s = read_into(ctx, o.om[k], path, a->params[i], a->m[i], a->device);
            if (!lb_failed(&s)) s = read_into(ctx, o.ov[k], path, a->params[i], a->v[i], a->device);
        }
    }
    if (!lb_failed(&s)) {
        st->losses = malloc((size_t)(st->step + 1) * sizeof(double));
        LB_CHECK(st->losses != NULL);
        hid_t d = H5Dopen2(o.hist, "loss", H5P_DEFAULT);
        if (st->step > 0 && (d < 0 || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->losses) < 0))
            s = lb_errorf(LB_ERR_IO, "%s: cannot read /history/loss", path);
        if (d >= 0) H5Dclose(d);
    }
    close_groups(&o);
    if (lb_failed(&s)) {
        free(st->losses);
        st->losses = NULL;
    }
    return s;
}

/* ---- the run dir's checkpoints ------------------------------------------------------ */

static bool parse_ckpt_name(const char *name, int64_t *step)
{
    long long s;
    int used = 0;
    if (sscanf(name, "ckpt-%lld.h5%n", &s, &used) != 1 || name[used] != '\0' || s < 0) return false;
    *step = s;
    return true;
}

/* list_steps: the steps of every ckpt-<step>.h5 in dir, ascending (malloc'd). */
static int64_t *list_steps(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int cap = 16;
    int64_t *v = malloc((size_t)cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        int64_t s;
        if (!parse_ckpt_name(e->d_name, &s)) continue;
        if (*n == cap) {
            int64_t *g = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!g) break;
            v = g;
        }
        v[(*n)++] = s;
    }
    closedir(d);
    for (int i = 1; i < *n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v;
}

static char *ckpt_path(const char *dir, int64_t step)
{
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)step);
    char *p = lb_path_join(dir, name);
    LB_CHECK(p != NULL);
    return p;
}

lb_status lb_run_ckpt_latest(const char *dir, int64_t *step, char **path)
{
    int n;
    int64_t *v = list_steps(dir, &n);
    *step = -1;
    *path = NULL;
    if (n > 0) {
        *step = v[n - 1];
        *path = ckpt_path(dir, *step);
    }
    free(v);
    return lb_ok();
}

void lb_run_ckpt_prune(const char *dir, int64_t keep)
{
    int n;
    int64_t *v = list_steps(dir, &n);
    for (int i = 0; i + keep < n; i++) {
        char *p = ckpt_path(dir, v[i]);
        unlink(p);
        free(p);
    }
    free(v);
}
