/* checkpoint_write.c — lb_ckpt_write: a state dict as model.safetensors or as
 * shards plus model.safetensors.index.json, in the layout huggingface_hub and
 * transformers produce (FORMATS.md §2.1). See checkpoint.c for the reader.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/checkpoint.h"
#include "layers/fileio.h"
#include "layers/json_util.h"

#define CKPT_SINGLE "model.safetensors"
#define CKPT_INDEX "model.safetensors.index.json"

static size_t entry_nbytes(const lb_st_entry *e)
{
    size_t n = lb_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

/* Assigns shard ids as split_state_dict_into_shards_factory does: in entry
 * order, a tensor larger than the limit gets a shard of its own (numbered
 * when met), otherwise the current shard is closed (and numbered) when the
 * tensor would push it over the limit. Returns the number of shards. */
static int assign_shards(const lb_st_entry *e, int n, size_t max_bytes, int *shard, int *pending)
{
    int n_shards = 0, n_pending = 0;
    size_t cur = 0;
    for (int i = 0; i < n; i++) {
        size_t sz = entry_nbytes(&e[i]);
        if (max_bytes && sz > max_bytes) {
            shard[i] = n_shards++;
            continue;
        }
        if (max_bytes && cur + sz > max_bytes) {
            for (int j = 0; j < n_pending; j++) shard[pending[j]] = n_shards;
            n_shards++;
            n_pending = 0;
            cur = 0;
        }
        pending[n_pending++] = i;
        cur += sz;
    }
    if (n_pending) {
        for (int j = 0; j < n_pending; j++) shard[pending[j]] = n_shards;
        n_shards++;
    }
    return n_shards;
}

static void shard_name(char *buf, size_t n, int i, int k)
{
    snprintf(buf, n, "model-%05d-of-%05d.safetensors", i + 1, k);
}

static int cmp_index_row(const void *a, const void *b)
{
    return strcmp(((const lb_st_entry *const *)a)[0]->name, ((const lb_st_entry *const *)b)[0]->name);
}

/* The index as json.dumps(index, indent=2, sort_keys=True) + "\n". */
static lb_status write_index(const char *path, const lb_st_entry *e, int n, const int *shard, int k)
{
    const lb_st_entry **rows = malloc(((size_t)n + 1) * sizeof *rows);
    if (!rows) return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        rows[i] = &e[i];
        total += entry_nbytes(&e[i]);
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_index_row);
    lb_buf b = {0};
    lb_buf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %zu\n  },\n  \"weight_map\": {\n", total);
    for (int i = 0; i < n; i++) {
        char name[64];
        shard_name(name, sizeof name, shard[rows[i] - e], k);
        lb_buf_puts(&b, "    ");
        lb_json_put_string(&b, rows[i]->name, LB_JSON_ASCII);
        lb_buf_printf(&b, ": \"%s\"%s\n", name, i + 1 < n ? "," : "");
    }
    lb_buf_puts(&b, "  }\n}\n");
    free(rows);
    lb_status st = lb_ok();
    lb_afile af;
    if (b.oom) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
        goto free_buf;
    }
    st = lb_afile_open(&af, path);
    if (lb_failed(&st)) goto free_buf;
    st = lb_afile_write(&af, b.data, b.len);
    if (lb_failed(&st)) lb_afile_abort(&af);
    else st = lb_afile_commit(&af);
free_buf:
    lb_buf_free(&b);
    return st;
}

/* Removes dir/name if present (the other layout's stale file). */
static lb_status remove_stale(const char *dir, const char *name)
{
    char *p = lb_path_join(dir, name);
    if (!p) return lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    lb_status st = lb_ok();
    if (unlink(p) != 0 && errno != ENOENT)
        st = lb_errorf(LB_ERR_IO, "%s: cannot remove the stale %s: %s", dir, name, strerror(errno));
    free(p);
    return st;
}

static lb_status write_shards(const char *dir, const lb_st_entry *e, int n, const int *shard, int k)
{
    lb_st_entry *sub = malloc(((size_t)n + 1) * sizeof *sub);
    if (!sub) return lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    lb_status st = lb_ok();
    for (int s = 0; s < k && !lb_failed(&st); s++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (shard[i] == s) sub[m++] = e[i];
        char name[64];
        shard_name(name, sizeof name, s, k);
        char *p = lb_path_join(dir, name);
        st = p ? lb_st_write(p, sub, m, NULL, NULL, 0) : lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
        free(p);
    }
    free(sub);
    return st;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What sharding needs before lb_st_write checks each shard: valid dtypes and
 * dims, and names unique across all shards. */
static lb_status check_entries(const char *dir, const lb_st_entry *e, int n)
{
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    if (!names) return lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    lb_status st = lb_ok();
    for (int i = 0; i < n && !lb_failed(&st); i++) {
        names[i] = e[i].name ? e[i].name : "";
        if (!e[i].name || e[i].dtype < 0 || e[i].dtype >= LB_DTYPE_COUNT || e[i].ndim < 0 || e[i].ndim > 8)
            st = lb_errorf(LB_ERR_ARG, "%s: entry %d ('%s') has no name, a bad dtype or a bad ndim", dir, i, names[i]);
        for (int d = 0; d < e[i].ndim && !lb_failed(&st); d++)
            if (e[i].shape[d] < 0)
                st = lb_errorf(LB_ERR_ARG, "%s: tensor '%s': dim %d is negative", dir, names[i], d);
    }
    if (!lb_failed(&st)) {
        qsort(names, (size_t)n, sizeof *names, cmp_name);
        for (int i = 1; i < n; i++)
            if (!strcmp(names[i - 1], names[i])) {
                st = lb_errorf(LB_ERR_ARG, "%s: tensor name '%s' given twice", dir, names[i]);
                break;
            }
    }
    free(names);
    return st;
}

lb_status lb_ckpt_write(const char *dir, const lb_st_entry *entries, int n, size_t max_shard_bytes)
{
    LB_TRY(check_entries(dir, entries, n));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lb_errorf(LB_ERR_IO, "%s: cannot create the directory: %s", dir, strerror(errno));
    int *shard = malloc(((size_t)n + 1) * sizeof *shard);
    int *pending = malloc(((size_t)n + 1) * sizeof *pending);
    lb_status st = lb_ok();
    if (!shard || !pending) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
        goto free_plan;
    }
    int k = assign_shards(entries, n, max_shard_bytes, shard, pending);
    if (k <= 1) {
        char *p = lb_path_join(dir, CKPT_SINGLE);
        st = p ? lb_st_write(p, entries, n, NULL, NULL, 0) : lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
        free(p);
        if (!lb_failed(&st)) st = remove_stale(dir, CKPT_INDEX);
        goto free_plan;
    }
    st = write_shards(dir, entries, n, shard, k);
    if (lb_failed(&st)) goto free_plan;
    char *ip = lb_path_join(dir, CKPT_INDEX);
    st = ip ? write_index(ip, entries, n, shard, k) : lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    free(ip);
    if (!lb_failed(&st)) st = remove_stale(dir, CKPT_SINGLE);
free_plan:
    free(shard);
    free(pending);
    return st;
}
