/* checkpoint.c — a Hugging Face model directory's weights (FORMATS.md §2.1):
 * `model.safetensors`, or `model.safetensors.index.json` plus the shards its
 * weight_map names. Reading relies on weight_map only. Writing splits the
 * tensors as huggingface_hub's split_state_dict_into_shards_factory does and
 * writes the index as transformers' save_pretrained does (json.dumps with
 * indent=2, sort_keys=True, then a newline).
 *
 * Like transformers, a directory holding both a single file and an index is
 * read through the single file; the writer removes the stale one of the two
 * so a directory it wrote is never ambiguous. Each file is written atomically,
 * the set of files is not: a crash mid-way can leave new shards beside an old
 * index (which lb_ckpt_open then reports).
 */
#include "layers/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/fileio.h"
#include "layers/json_util.h"

#define CKPT_SINGLE "model.safetensors"
#define CKPT_INDEX "model.safetensors.index.json"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static lb_status ckpt_open_single(lb_ckpt *ck, const char *path)
{
    ck->files = calloc(1, sizeof *ck->files);
    if (!ck->files) return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    LB_TRY(lb_st_open(&ck->files[0], path));
    ck->n_files = 1;
    return lb_ok();
}

/* A shard name from an index must be a plain file name in the directory. */
static bool shard_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static int file_index(char **names, int n, const char *s)
{
    const char **hit = bsearch(&s, names, (size_t)n, sizeof *names, cmp_str);
    return hit ? (int)(hit - (const char **)names) : -1;
}

/* Opens every shard in the weight_map (sorted by file name) and checks that
 * each listed tensor is in its shard. */
static lb_status open_shards(lb_ckpt *ck, const char *index_path, const cJSON *wm)
{
    int n = cJSON_GetArraySize(wm), n_names = 0;
    char **names = calloc((size_t)n + 1, sizeof *names);
    lb_status st = lb_ok();
    if (!names) return lb_errorf(LB_ERR_OOM, "%s: out of memory", index_path);
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring)) {
            st = lb_errorf(LB_ERR_FORMAT, "%s: weight_map entry for tensor '%s' must be a shard file name in the same directory",
                           index_path, e->string);
            goto free_names;
        }
        names[n_names++] = e->valuestring;
    }
    qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    int u = 0;
    for (int i = 0; i < n_names; i++)
        if (u == 0 || strcmp(names[u - 1], names[i])) names[u++] = names[i];
    ck->files = calloc((size_t)u + 1, sizeof *ck->files);
    if (!ck->files) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", index_path);
        goto free_names;
    }
    for (int i = 0; i < u; i++) {
        char *p = lb_path_join(ck->dir, names[i]);
        if (!p) {
            st = lb_errorf(LB_ERR_OOM, "%s: out of memory", index_path);
            goto free_names;
        }
        if (!path_exists(p)) {
            const char *who = "";
            for (const cJSON *e = wm->child; e; e = e->next)
                if (!strcmp(e->valuestring, names[i])) { who = e->string; break; }
            st = lb_errorf(LB_ERR_IO, "%s names shard '%s' (for tensor '%s' and maybe others), but %s is missing",
                           index_path, names[i], who, p);
        } else {
            st = lb_st_open(&ck->files[i], p);
        }
        free(p);
        if (lb_failed(&st)) goto free_names;
        ck->n_files = i + 1;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        int fi = file_index(names, u, e->valuestring);
        if (!lb_st_find(&ck->files[fi], e->string)) {
            st = lb_errorf(LB_ERR_FORMAT, "%s maps tensor '%s' to %s, but that shard has no tensor of that name",
                           index_path, e->string, ck->files[fi].path);
            goto free_names;
        }
    }
free_names:
    free(names);
    return st;
}

typedef struct owned_name {
    const char *name;
    int file;
} owned_name;

static int cmp_owned(const void *a, const void *b)
{
    return strcmp(((const owned_name *)a)->name, ((const owned_name *)b)->name);
}

/* A tensor stored in two shards is an error naming both files. */
static lb_status check_no_duplicates(const lb_ckpt *ck)
{
    size_t total = 0;
    for (int i = 0; i < ck->n_files; i++) total += (size_t)ck->files[i].n;
    owned_name *v = malloc((total + 1) * sizeof *v);
    if (!v) return lb_errorf(LB_ERR_OOM, "%s: out of memory", ck->dir);
    size_t k = 0;
    for (int i = 0; i < ck->n_files; i++)
        for (int j = 0; j < ck->files[i].n; j++) v[k++] = (owned_name){ck->files[i].tensors[j].name, i};
    qsort(v, total, sizeof *v, cmp_owned);
    lb_status st = lb_ok();
    for (size_t i = 1; i < total; i++)
        if (!strcmp(v[i - 1].name, v[i].name)) {
            st = lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is in two shards: %s and %s", ck->dir, v[i].name,
                           ck->files[v[i - 1].file].path, ck->files[v[i].file].path);
            break;
        }
    free(v);
    return st;
}

static lb_status ckpt_open_index(lb_ckpt *ck, const char *index_path)
{
    cJSON *root = NULL;
    LB_TRY(lb_json_load(index_path, &root));
    lb_status st = lb_ok();
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm) || !wm->child) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: expected an object with a non-empty \"weight_map\" object", index_path);
        goto free_json;
    }
    st = open_shards(ck, index_path, wm);
    if (!lb_failed(&st)) st = check_no_duplicates(ck);
free_json:
    cJSON_Delete(root);
    return st;
}

lb_status lb_ckpt_open(lb_ckpt *ck, const char *dir)
{
    memset(ck, 0, sizeof *ck);
    struct stat sb;
    if (stat(dir, &sb) != 0) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return lb_errorf(LB_ERR_ARG, "%s: not a directory (expected a Hugging Face model directory)", dir);
    lb_status st = lb_ok();
    char *single = lb_path_join(dir, CKPT_SINGLE), *index = lb_path_join(dir, CKPT_INDEX);
    ck->dir = strdup(dir);
    if (!single || !index || !ck->dir) st = lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    else if (path_exists(single)) st = ckpt_open_single(ck, single);
    else if (path_exists(index)) st = ckpt_open_index(ck, index);
    else st = lb_errorf(LB_ERR_IO, "%s: no " CKPT_SINGLE " or " CKPT_INDEX " (is this a Hugging Face model directory?)", dir);
    free(single);
    free(index);
    if (lb_failed(&st)) lb_ckpt_close(ck);
    return st;
}

void lb_ckpt_close(lb_ckpt *ck)
{
    for (int i = 0; i < ck->n_files; i++) lb_st_close(&ck->files[i]);
    free(ck->files);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

const lb_st_tensor *lb_ckpt_find(const lb_ckpt *ck, const char *name)
{
    for (int i = 0; i < ck->n_files; i++) {
        const lb_st_tensor *t = lb_st_find(&ck->files[i], name);
        if (t) return t;
    }
    return NULL;
}
