/* test_h5data.c — HDF5 token files: write/read round trip across chunk
 * boundaries, validation errors (no /tokens, not HDF5, missing file, bad
 * doc_offsets, newer format), abort and atomic replacement, info output. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/h5data.h"
#include "harness.h"

static char g_dir[64];   /* scratch directory for this test binary */

static const char *path_in(const char *name)
{
    static char buf[4][400];   /* dir (64) + name (256) */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int count_entries(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') unlink(path_in(e->d_name));
    if (d) closedir(d);
}

#define VOCAB 50000
#define EOS 3
#define BIG (3 * (1 << 20) + 17)   /* spans several /tokens chunks */

static int32_t big_id(int64_t i) { return (int32_t)(i * 7919 % VOCAB); }

/* docs: {5,6,7}, {}, {9}, BIG tokens */
static bool write_sample(const char *path)
{
    static const char *const src[] = {"a.jsonl", "dir/b.txt"};
    lb_h5_writer w;
    lb_status st = lb_h5_writer_open(&w, path, VOCAB, EOS, "abc123", src, 2);
    LB_EXPECTF(!lb_failed(&st), "open: %s", st.msg);
    if (lb_failed(&st)) return false;
    int32_t a[] = {5, 6, 7}, c[] = {9};
    int32_t *big = malloc(sizeof *big * BIG);
    for (int64_t i = 0; i < BIG; i++) big[i] = big_id(i);
    st = lb_h5_writer_add_doc(&w, a, 3);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, NULL, 0);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, c, 1);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, big, BIG);
    free(big);
    LB_EXPECTF(!lb_failed(&st), "add_doc: %s", st.msg);
    if (lb_failed(&st)) {
        lb_h5_writer_abort(&w);
        return false;
    }
    st = lb_h5_writer_commit(&w);
    LB_EXPECTF(!lb_failed(&st), "commit: %s", st.msg);
    return !lb_failed(&st);
}

static void test_round_trip(void)
{
    const char *p = path_in("rt.h5");
    if (!write_sample(p)) return;
    LB_EXPECT(count_entries() == 1);   /* no temporary left behind */
    lb_h5_tokens d;
    lb_status st = lb_h5_tokens_open(&d, p);
    LB_EXPECTF(!lb_failed(&st), "open: %s", st.msg);
    if (lb_failed(&st)) return;
    int64_t total = 4 + 1 + 2 + BIG + 1;
    LB_EXPECTF(d.n_tokens == total, "n_tokens %lld", (long long)d.n_tokens);
    LB_EXPECT(d.n_docs == 4);
    LB_EXPECT(d.vocab_size == VOCAB && d.eos_id == EOS && d.format_version == 1);
    LB_EXPECT(!strcmp(d.tokenizer_sha256, "abc123"));
    uint64_t off[5], want_off[5] = {0, 4, 5, 7, (uint64_t)total};
    st = lb_h5_tokens_read_offsets(&d, 0, 5, off);
    LB_EXPECTF(!lb_failed(&st) && !memcmp(off, want_off, sizeof off), "offsets");
    uint32_t head[9], want_head[9] = {5, 6, 7, EOS, EOS, 9, EOS, (uint32_t)big_id(0), (uint32_t)big_id(1)};
    st = lb_h5_tokens_read(&d, 0, 9, head);
    LB_EXPECTF(!lb_failed(&st) && !memcmp(head, want_head, sizeof head), "head tokens");
    /* a range crossing the first chunk boundary, and the tail with the EOS */
    int64_t at = (1 << 20) - 5;
    uint32_t mid[10], tail[3];
    st = lb_h5_tokens_read(&d, at, 10, mid);
    LB_EXPECT(!lb_failed(&st));
    for (int i = 0; i < 10; i++) LB_EXPECTF(mid[i] == (uint32_t)big_id(at + i - 7), "mid[%d]", i);
    st = lb_h5_tokens_read(&d, total - 3, 3, tail);
    LB_EXPECT(!lb_failed(&st) && tail[0] == (uint32_t)big_id(BIG - 2) &&
              tail[1] == (uint32_t)big_id(BIG - 1) && tail[2] == EOS);
    st = lb_h5_tokens_read(&d, total - 2, 3, tail);
    LB_EXPECT(st.code == LB_ERR_ARG);
    char **src;
    int n_src;
    st = lb_h5_tokens_sources(&d, &src, &n_src);
    LB_EXPECT(!lb_failed(&st) && n_src == 2 && !strcmp(src[0], "a.jsonl") && !strcmp(src[1], "dir/b.txt"));
    lb_h5_strings_free(src, n_src);
    lb_h5_tokens_close(&d);
    clear_dir();
}

static void expect_open_error(const char *path, const char *needle, const char *needle2)
{
    lb_h5_tokens d;
    lb_status st = lb_h5_tokens_open(&d, path);
    LB_EXPECTF(lb_failed(&st), "%s: open succeeded, expected an error about %s", path, needle);
    if (!lb_failed(&st)) {
        lb_h5_tokens_close(&d);
        return;
    }
    LB_EXPECTF(strstr(st.msg, needle) && strstr(st.msg, needle2) && strstr(st.msg, path),
               "message lacks '%s'/'%s'/path: %s", needle, needle2, st.msg);
}

/* A file with the given datasets (any may be NULL), made with the C API. */
static void make_raw(const char *path, const uint32_t *tok, hsize_t nt, const uint64_t *off, hsize_t no)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (tok) {
        hid_t s = H5Screate_simple(1, &nt, NULL);
        hid_t d = H5Dcreate2(f, "tokens", H5T_STD_U32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, tok);
        H5Dclose(d);
        H5Sclose(s);
    }
    if (off) {
        hid_t s = H5Screate_simple(1, &no, NULL);
        hid_t d = H5Dcreate2(f, "doc_offsets", H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off);
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Fclose(f);
}

static void test_bad_files(void)
{
    uint32_t tok[10] = {0};
    uint64_t ok_off[3] = {0, 4, 10}, dec[4] = {0, 5, 3, 10}, short_last[3] = {0, 5, 9};
    make_raw(path_in("no_tokens.h5"), NULL, 0, ok_off, 3);
    expect_open_error(path_in("no_tokens.h5"), "no dataset '/tokens'", "lowbit data");
    make_raw(path_in("no_off.h5"), tok, 10, NULL, 0);
    expect_open_error(path_in("no_off.h5"), "no dataset '/doc_offsets'", "");
    make_raw(path_in("dec.h5"), tok, 10, dec, 4);
    expect_open_error(path_in("dec.h5"), "doc_offsets'[2]", "non-decreasing");
    make_raw(path_in("last.h5"), tok, 10, short_last, 3);
    expect_open_error(path_in("last.h5"), "9", "10 tokens");
    make_raw(path_in("good.h5"), tok, 10, ok_off, 3);   /* no attributes: still readable */
    lb_h5_tokens d;
    lb_status st = lb_h5_tokens_open(&d, path_in("good.h5"));
    LB_EXPECTF(!lb_failed(&st) && d.n_docs == 2 && d.eos_id == -1 && d.format_version == 0, "%s", st.msg);
    lb_h5_tokens_close(&d);

    FILE *f = fopen(path_in("text.h5"), "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    expect_open_error(path_in("text.h5"), "not an HDF5 file", "lowbit data");
    expect_open_error(path_in("missing.h5"), "cannot open", "No such file");
    clear_dir();
}

static void test_newer_format(void)
{
    const char *p = path_in("new.h5");
    lb_h5_writer w;
    lb_status st = lb_h5_writer_open(&w, p, 10, 0, "", NULL, 0);
    if (!lb_failed(&st)) st = lb_h5_writer_commit(&w);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int64_t v = 2;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
    expect_open_error(p, "format_version 2", "upgrade lowbit");
    clear_dir();
}

static void test_abort_and_replace(void)
{
    const char *p = path_in("r.h5");
    lb_h5_writer w;
    int32_t one[] = {1}, two[] = {2, 2};
    /* abort of a fresh file leaves nothing */
    lb_status st = lb_h5_writer_open(&w, p, 10, 0, "", NULL, 0);
    LB_EXPECT(!lb_failed(&st) && count_entries() == 1);   /* the temporary */
    if (lb_failed(&st)) return;
    lb_h5_writer_add_doc(&w, one, 1);
    lb_h5_writer_abort(&w);
    LB_EXPECTF(count_entries() == 0, "abort left %d files", count_entries());
    lb_h5_writer_abort(&w);   /* idempotent */

    /* an existing file survives an aborted rewrite and is replaced on commit */
    st = lb_h5_writer_open(&w, p, 10, 0, "", NULL, 0);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, one, 1);
    if (!lb_failed(&st)) st = lb_h5_writer_commit(&w);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    st = lb_h5_writer_open(&w, p, 10, 0, "", NULL, 0);
    lb_h5_writer_add_doc(&w, two, 2);
    st = lb_h5_writer_add_doc(&w, (int32_t[]){4, 10}, 2);   /* 10 is outside the vocab */
    LB_EXPECTF(st.code == LB_ERR_ARG && strstr(st.msg, "token id 10"), "%s", st.msg);
    lb_h5_tokens d;
    st = lb_h5_tokens_open(&d, p);   /* old content still in place while writing */
    LB_EXPECT(!lb_failed(&st) && d.n_tokens == 2);
    lb_h5_tokens_close(&d);
    lb_h5_writer_abort(&w);
    st = lb_h5_tokens_open(&d, p);
    LB_EXPECT(!lb_failed(&st) && d.n_tokens == 2 && count_entries() == 1);
    lb_h5_tokens_close(&d);

    st = lb_h5_writer_open(&w, p, 10, 0, "", NULL, 0);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, two, 2);
    if (!lb_failed(&st)) st = lb_h5_writer_commit(&w);
    LB_EXPECT(!lb_failed(&st));
    st = lb_h5_tokens_open(&d, p);
    uint32_t t[3] = {0};
    if (!lb_failed(&st)) st = lb_h5_tokens_read(&d, 0, 3, t);
    LB_EXPECT(!lb_failed(&st) && d.n_tokens == 3 && t[0] == 2 && t[1] == 2 && t[2] == 0);
    LB_EXPECT(count_entries() == 1);
    lb_h5_tokens_close(&d);

    /* bad arguments and an unwritable directory fail at open, leaving nothing */
    st = lb_h5_writer_open(&w, p, 10, 10, "", NULL, 0);
    LB_EXPECTF(st.code == LB_ERR_ARG && strstr(st.msg, "EOS id 10"), "%s", st.msg);
    st = lb_h5_writer_open(&w, path_in("no/such/dir/x.h5"), 10, 0, "", NULL, 0);
    LB_EXPECTF(st.code == LB_ERR_IO && strstr(st.msg, "cannot create"), "%s", st.msg);
    clear_dir();
}

/* finish closes and syncs without renaming; abort after finish still
 * removes the temporary; the same documents give byte-identical files. */
static void test_finish_and_reproducible(void)
{
    lb_h5_writer a, b;
    const char *pa = path_in("fa.h5"), *pb = path_in("fb.h5");
    lb_status st = lb_h5_writer_open(&a, pa, 10, 0, "s", NULL, 0);
    if (!lb_failed(&st)) st = lb_h5_writer_open(&b, pb, 10, 0, "s", NULL, 0);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_h5_writer_add_doc(&a, (int32_t[]){1, 2}, 2);
    lb_h5_writer_add_doc(&b, (int32_t[]){1, 2}, 2);
    st = lb_h5_writer_finish(&a);
    if (!lb_failed(&st)) st = lb_h5_writer_finish(&b);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(count_entries() == 2 && access(pa, F_OK) != 0);   /* not renamed yet */
    lb_h5_writer_abort(&b);
    LB_EXPECT(count_entries() == 1);
    st = lb_h5_writer_commit(&a);
    LB_EXPECT(!lb_failed(&st) && access(pa, F_OK) == 0);
    sleep(1);   /* a stored timestamp would now differ */
    st = lb_h5_writer_open(&b, pb, 10, 0, "s", NULL, 0);
    lb_h5_writer_add_doc(&b, (int32_t[]){1, 2}, 2);
    if (!lb_failed(&st)) st = lb_h5_writer_commit(&b);
    LB_EXPECT(!lb_failed(&st));
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    bool same = fa && fb;
    for (int ca = 0, cb = 0; same && ca != EOF;) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        same = ca == cb;
    }
    LB_EXPECT(same);
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    clear_dir();
}

static void test_info_and_val_path(void)
{
    const char *p = path_in("info.h5");
    static const char *const src[] = {"x.txt"};
    lb_h5_writer w;
    lb_status st = lb_h5_writer_open(&w, p, 100, 99, "deadbeef", src, 1);
    if (!lb_failed(&st)) st = lb_h5_writer_add_doc(&w, (int32_t[]){1, 2, 3}, 3);
    if (!lb_failed(&st)) st = lb_h5_writer_commit(&w);
    LB_EXPECT(!lb_failed(&st));
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    st = lb_h5_info_print(p, mem, true);
    fclose(mem);
    cJSON *o = cJSON_Parse(buf ? buf : "");
    LB_EXPECTF(!lb_failed(&st) && o, "info json: %s / %s", st.msg, buf ? buf : "");
    if (o) {
        LB_EXPECT(cJSON_GetObjectItem(o, "tokens")->valuedouble == 4);
        LB_EXPECT(cJSON_GetObjectItem(o, "documents")->valuedouble == 1);
        LB_EXPECT(cJSON_GetObjectItem(o, "eos_id")->valuedouble == 99);
        LB_EXPECT(!strcmp(cJSON_GetObjectItem(o, "tokenizer_sha256")->valuestring, "deadbeef"));
        LB_EXPECT(!strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "source_files"), 0)->valuestring, "x.txt"));
    }
    cJSON_Delete(o);
    free(buf);
    st = lb_h5_info_print(path_in("none.h5"), stdout, false);
    LB_EXPECT(st.code == LB_ERR_IO);

    char *v1 = lb_h5_val_path("d/corpus.h5"), *v2 = lb_h5_val_path("c.hdf5"), *v3 = lb_h5_val_path("c");
    LB_EXPECT(!strcmp(v1, "d/corpus.val.h5") && !strcmp(v2, "c.val.hdf5") && !strcmp(v3, "c.val.h5"));
    free(v1);
    free(v2);
    free(v3);
    clear_dir();
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/lb_test_h5data.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    LB_RUN(test_round_trip);
    LB_RUN(test_bad_files);
    LB_RUN(test_newer_format);
    LB_RUN(test_abort_and_replace);
    LB_RUN(test_finish_and_reproducible);
    LB_RUN(test_info_and_val_path);
    clear_dir();
    rmdir(g_dir);
    return lb_test_summary();
}
