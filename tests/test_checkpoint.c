/* test_checkpoint.c — HF model directories: sharded writing and reading, the
 * single-file layout, and the errors for broken indexes (missing shard,
 * tensor absent from its shard, tensor in two shards, no weights at all).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/fileio.h"

static char g_dir[64];

/* dir/name in a static buffer (copy it to keep it). */
static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static float g_data[64];   /* shared tensor data, value i at index i */

/* Six tensors of 4..80 bytes (184 in all); with 64-byte shards the files
 * are {big} {t0,t1} {t2,t3,t4} */
static int make_entries(lb_st_entry *e)
{
    for (int i = 0; i < 64; i++) g_data[i] = (float)i;
    lb_st_entry v[] = {
        {"t0", LB_F32, 1, {4}, g_data},       {"t1", LB_F32, 1, {8}, g_data + 4},
        {"big", LB_F32, 2, {4, 5}, g_data},   {"t2", LB_F32, 1, {12}, g_data + 8},
        {"t3", LB_F32, 0, {0}, g_data + 20},  {"t4", LB_BF16, 1, {2}, g_data + 30},
    };
    memcpy(e, v, sizeof v);
    return (int)(sizeof v / sizeof v[0]);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    LB_EXPECT(fp != NULL);
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

static void expect_open_fails(const char *dir, const char *w1, const char *w2)
{
    lb_ckpt ck;
    lb_status st = lb_ckpt_open(&ck, dir);
    LB_EXPECTF(lb_failed(&st), "%s opened but should have failed", dir);
    if (!lb_failed(&st)) {
        lb_ckpt_close(&ck);
        return;
    }
    LB_EXPECTF(!w1 || strstr(st.msg, w1), "message lacks '%s': %s", w1, st.msg);
    LB_EXPECTF(!w2 || strstr(st.msg, w2), "message lacks '%s': %s", w2, st.msg);
    LB_EXPECT(ck.files == NULL && ck.n_files == 0);
}

static void check_all(const char *dir, const lb_st_entry *e, int n, int want_files)
{
    lb_ckpt ck;
    lb_status st = lb_ckpt_open(&ck, dir);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    LB_EXPECTF(ck.n_files == want_files, "%d files, expected %d", ck.n_files, want_files);
    for (int i = 0; i < n; i++) {
        const lb_st_tensor *t = lb_ckpt_find(&ck, e[i].name);
        LB_EXPECTF(t != NULL, "'%s' not found", e[i].name);
        size_t nb = lb_dtype_size(e[i].dtype);
        for (int d = 0; d < e[i].ndim; d++) nb *= (size_t)e[i].shape[d];
        LB_EXPECT(!t || (t->nbytes == nb && !memcmp(t->data, e[i].data, nb)));
    }
    LB_EXPECT(lb_ckpt_find(&ck, "nope") == NULL);
    lb_ckpt_close(&ck);
}

static void test_sharded(void)
{
    lb_st_entry e[8];
    int n = make_entries(e);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("sharded"));
    lb_status st = lb_ckpt_write(dir, e, n, 64);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    /* t0 16 + t1 32 = 48; big 80 > 64 alone (numbered first); t2 48 -> 96 > 64
     * closes {t0,t1}; t3 4 + t4 4 join t2 */
    LB_EXPECT(access(tmp_path("sharded/model-00001-of-00003.safetensors"), F_OK) == 0);
    LB_EXPECT(access(tmp_path("sharded/model-00003-of-00003.safetensors"), F_OK) == 0);
    LB_EXPECT(access(tmp_path("sharded/model.safetensors"), F_OK) != 0);
    char *idx = NULL;
    st = lb_read_file(tmp_path("sharded/model.safetensors.index.json"), &idx, NULL);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(idx && strstr(idx, "\"total_size\": 184\n"));
    LB_EXPECT(idx && strstr(idx, "\"big\": \"model-00001-of-00003.safetensors\",\n"));
    LB_EXPECT(idx && strstr(idx, "\"t0\": \"model-00002-of-00003.safetensors\",\n"));
    LB_EXPECT(idx && strstr(idx, "\"t4\": \"model-00003-of-00003.safetensors\"\n  }\n}\n"));
    free(idx);
    check_all(dir, e, n, 3);

    /* rewriting unsharded replaces the index with one file */
    st = lb_ckpt_write(dir, e, n, 0);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(access(tmp_path("sharded/model.safetensors.index.json"), F_OK) != 0);
    check_all(dir, e, n, 1);
    /* and back: the stale single file goes */
    st = lb_ckpt_write(dir, e, n, 64);
    LB_EXPECT(!lb_failed(&st) && access(tmp_path("sharded/model.safetensors"), F_OK) != 0);
    check_all(dir, e, n, 3);

    lb_st_entry dup[2] = {e[0], e[0]};
    st = lb_ckpt_write(dir, dup, 2, 16);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "twice"));
}

static void test_missing_shard(void)
{
    lb_st_entry e[8];
    int n = make_entries(e);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("missing"));
    lb_status st = lb_ckpt_write(dir, e, n, 64);
    LB_EXPECT(!lb_failed(&st));
    LB_EXPECT(unlink(tmp_path("missing/model-00002-of-00003.safetensors")) == 0);
    expect_open_fails(dir, "model.safetensors.index.json", "model-00002-of-00003.safetensors");
    expect_open_fails(dir, "missing", NULL);
}

static void test_index_names_absent_tensor(void)
{
    float x[2] = {1, 2};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("absent"));
    LB_EXPECT(mkdir(dir, 0777) == 0);
    lb_st_entry a = {"a", LB_F32, 1, {2}, x};
    lb_status st = lb_st_write(tmp_path("absent/s1.safetensors"), &a, 1, NULL, NULL, 0);
    LB_EXPECT(!lb_failed(&st));
    write_text(tmp_path("absent/model.safetensors.index.json"),
               "{\"metadata\":{},\"weight_map\":{\"a\":\"s1.safetensors\",\"ghost\":\"s1.safetensors\"}}");
    expect_open_fails(dir, "'ghost'", "s1.safetensors");
}

static void test_tensor_in_two_shards(void)
{
    float x[2] = {1, 2};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("twice"));
    LB_EXPECT(mkdir(dir, 0777) == 0);
    lb_st_entry a[2] = {{"a", LB_F32, 1, {2}, x}, {"b", LB_F32, 1, {1}, x}};
    lb_status st = lb_st_write(tmp_path("twice/s1.safetensors"), a, 2, NULL, NULL, 0);
    LB_EXPECT(!lb_failed(&st));
    st = lb_st_write(tmp_path("twice/s2.safetensors"), &a[1], 1, NULL, NULL, 0);
    LB_EXPECT(!lb_failed(&st));
    write_text(tmp_path("twice/model.safetensors.index.json"),
               "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_open_fails(dir, "'b'", "two shards");
}

static void test_bad_dirs(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("empty"));
    LB_EXPECT(mkdir(dir, 0777) == 0);
    expect_open_fails(dir, "no model.safetensors", "model.safetensors.index.json");
    expect_open_fails(tmp_path("nonexistent"), "nonexistent", "cannot open");
    write_text(tmp_path("plainfile"), "x");
    expect_open_fails(tmp_path("plainfile"), "not a directory", NULL);

    snprintf(dir, sizeof dir, "%s", tmp_path("badindex"));
    LB_EXPECT(mkdir(dir, 0777) == 0);
    write_text(tmp_path("badindex/model.safetensors.index.json"), "{\"weight_map\": {\"a\": ");
    expect_open_fails(dir, "model.safetensors.index.json", "JSON");
    write_text(tmp_path("badindex/model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
    expect_open_fails(dir, "'a'", "same directory");
    write_text(tmp_path("badindex/model.safetensors.index.json"), "{\"metadata\": {}}");
    expect_open_fails(dir, "weight_map", NULL);
    /* a corrupt shard: the error names the shard file */
    write_text(tmp_path("badindex/s.safetensors"), "abc");
    write_text(tmp_path("badindex/model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"s.safetensors\"}}");
    expect_open_fails(dir, "s.safetensors", "too small");
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/lb_test_ckpt_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    LB_RUN(test_sharded);
    LB_RUN(test_missing_shard);
    LB_RUN(test_index_names_absent_tensor);
    LB_RUN(test_tensor_in_two_shards);
    LB_RUN(test_bad_dirs);
    int rc = lb_test_summary();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!getenv("LB_KEEP") && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
