/* test_safetensors_rt.c — writing safetensors: round trips over every lowbit
 * dtype (scalar and empty tensors included), the exact header bytes, writer
 * errors leaving the disk untouched.
 *
 * Run as `test_safetensors_rt --write-fixtures DIR` it instead writes the
 * files tests/test_safetensors_py.sh compares byte for byte against Python
 * safetensors, plus DIR/manifest.json describing their contents (tensor j
 * byte i = (i*31 + seed_j) % 251), so the Python side rebuilds the same
 * tensors from one description.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/fileio.h"
#include "layers/json_util.h"
#include "layers/safetensors.h"

static char g_dir[64];

/* A path in the scratch directory (a static buffer: copy it to keep it). */
static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static size_t entry_bytes(const lb_st_entry *e)
{
    size_t n = lb_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

/* Pattern data for entries that have none; returns a buffer to free. */
static unsigned char *fill(lb_st_entry *e, int n, const int *seeds)
{
    size_t total = 1;
    for (int i = 0; i < n; i++) total += entry_bytes(&e[i]);
    unsigned char *buf = malloc(total), *p = buf;
    for (int i = 0; i < n; i++) {
        size_t b = entry_bytes(&e[i]);
        for (size_t k = 0; k < b; k++) p[k] = (unsigned char)((k * 31 + (size_t)seeds[i]) % 251);
        e[i].data = p;
        p += b;
    }
    return buf;
}

static void check_same(const lb_st_file *f, const lb_st_entry *e, int n)
{
    LB_EXPECTF(f->n == n, "%d tensors read back, %d written", f->n, n);
    for (int i = 0; i < n; i++) {
        const lb_st_tensor *t = lb_st_find(f, e[i].name);
        LB_EXPECTF(t != NULL, "tensor '%s' missing", e[i].name);
        if (!t) continue;
        LB_EXPECT(t->has_dtype && t->dtype == e[i].dtype && t->ndim == e[i].ndim);
        for (int d = 0; d < e[i].ndim; d++) LB_EXPECT(t->shape[d] == e[i].shape[d]);
        LB_EXPECT(t->nbytes == entry_bytes(&e[i]));
        LB_EXPECTF(t->nbytes == 0 || !memcmp(t->data, e[i].data, t->nbytes), "'%s' bytes differ", e[i].name);
    }
}

static void test_round_trip(void)
{
    lb_st_entry e[] = {
        {"b.weight", LB_F32, 2, {2, 3}, NULL}, {"emb", LB_BF16, 3, {2, 1, 3}, NULL},
        {"half", LB_F16, 1, {5}, NULL},        {"scalar", LB_I32, 0, {0}, NULL},
        {"empty", LB_I8, 2, {0, 4}, NULL},     {"bytes", LB_U8, 1, {7}, NULL},
        {"a", LB_F32, 4, {1, 1, 1, 2}, NULL},  {"\xc3\xbc\"q\\", LB_F16, 1, {1}, NULL},
    };
    int n = (int)(sizeof e / sizeof e[0]);
    int seeds[] = {1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char *buf = fill(e, n, seeds);
    const char *keys[] = {"zz", "note"}, *vals[] = {"last", "héllo \"x\""};
    const char *p = tmp_path("rt.safetensors");
    lb_status st = lb_st_write(p, e, n, keys, vals, 2);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_st_file f;
    st = lb_st_open(&f, p);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (!lb_failed(&st)) {
        check_same(&f, e, n);
        LB_EXPECT(lb_st_meta(&f, "format") && !strcmp(lb_st_meta(&f, "format"), "pt"));
        LB_EXPECT(lb_st_meta(&f, "note") && !strcmp(lb_st_meta(&f, "note"), "héllo \"x\""));
        /* file order: alignment descending (F32 > I32 > BF16 > F16 > I8 > U8), then name */
        static const char *order[] = {"a", "b.weight", "scalar", "emb", "half", "\xc3\xbc\"q\\", "empty", "bytes"};
        for (int i = 0; i < n && i < f.n; i++)
            LB_EXPECTF(!strcmp(f.tensors[i].name, order[i]), "position %d: '%s', expected '%s'", i,
                       f.tensors[i].name, order[i]);
        size_t hn = (size_t)((const unsigned char *)f.tensors[0].data - (const unsigned char *)f.map) - 8;
        LB_EXPECTF(hn % 8 == 0, "header length %zu is not a multiple of 8", hn);
        lb_st_close(&f);
    }
    free(buf);
}

/* The exact bytes for one tensor (FORMATS.md §1.5 example plus metadata). */
static void test_exact_bytes(void)
{
    float x[6] = {0, 1, 2, 3, 4, 5};
    lb_st_entry e = {"attn.0", LB_F32, 3, {1, 2, 3}, x};
    const char *p = tmp_path("exact.safetensors");
    lb_status st = lb_st_write(p, &e, 1, NULL, NULL, 0);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    size_t jn = strlen(json), hn = (jn + 7) / 8 * 8;
    char *data;
    size_t len;
    st = lb_read_file(p, &data, &len);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    LB_EXPECT(len == 8 + hn + 24);
    LB_EXPECT((unsigned char)data[0] == hn && data[1] == 0 && data[7] == 0);
    LB_EXPECT(len >= 8 + hn && !memcmp(data + 8, json, jn));
    for (size_t i = jn; i < hn && 8 + i < len; i++) LB_EXPECT(data[8 + i] == ' ');
    LB_EXPECT(len == 8 + hn + 24 && !memcmp(data + 8 + hn, x, 24));
    free(data);
}

static void test_write_errors_leave_disk_alone(void)
{
    float x[2] = {1, 2};
    char p[256];
    snprintf(p, sizeof p, "%s", tmp_path("keep.safetensors"));
    lb_st_entry ok = {"w", LB_F32, 1, {2}, x};
    lb_status st = lb_st_write(p, &ok, 1, NULL, NULL, 0);
    LB_EXPECT(!lb_failed(&st));
    lb_st_entry dup[2] = {{"w", LB_F32, 1, {1}, x}, {"w", LB_F32, 1, {1}, x}};
    st = lb_st_write(p, dup, 2, NULL, NULL, 0);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "'w'") && strstr(st.msg, "twice"));
    lb_st_entry neg = {"n", LB_F32, 1, {-2}, x};
    st = lb_st_write(p, &neg, 1, NULL, NULL, 0);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "'n'") && strstr(st.msg, "negative"));
    lb_st_entry meta = {"__metadata__", LB_F32, 1, {1}, x};
    st = lb_st_write(p, &meta, 1, NULL, NULL, 0);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "reserved"));
    st = lb_st_write(tmp_path("no/such/dir.safetensors"), &ok, 1, NULL, NULL, 0);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "cannot create"));
    lb_st_file f;
    st = lb_st_open(&f, p);
    LB_EXPECT(!lb_failed(&st) && f.n == 1 && f.tensors[0].ndim == 1 && f.tensors[0].shape[0] == 2);
    if (!lb_failed(&st)) lb_st_close(&f);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    LB_EXPECTF(access(tmp, F_OK) != 0, "temporary file %s left behind", tmp);
}

static void test_read_f32(void)
{
    float src[4] = {1.5f, -2.25f, 3e-3f, 65504.0f};
    uint16_t bf[4], hf[4];
    lb_convert_from_f32(bf, src, LB_BF16, 4);
    lb_convert_from_f32(hf, src, LB_F16, 4);
    int32_t iv[2] = {1, 2};
    lb_st_entry e[] = {{"f", LB_F32, 1, {4}, src}, {"b", LB_BF16, 2, {2, 2}, bf},
                       {"h", LB_F16, 1, {4}, hf}, {"i", LB_I32, 1, {2}, iv}};
    const char *p = tmp_path("f32.safetensors");
    lb_status st = lb_st_write(p, e, 4, NULL, NULL, 0);
    lb_st_file f;
    if (!lb_failed(&st)) st = lb_st_open(&f, p);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    float out[4];
    for (int k = 0; k < 3; k++) {
        st = lb_st_read_f32(lb_st_find(&f, e[k].name), out);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        for (int i = 0; i < 4; i++) {
            float want = k == 0 ? src[i] : k == 1 ? lb_bf16_to_f32(bf[i]) : lb_f16_to_f32(hf[i]);
            LB_EXPECTF(out[i] == want, "%s[%d] = %g, expected %g", e[k].name, i, out[i], want);
        }
    }
    st = lb_st_read_f32(lb_st_find(&f, "i"), out);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "'i'") && strstr(st.msg, "I32"));
    lb_st_close(&f);
}

/* ---- fixtures for tests/test_safetensors_py.sh ---------------------------- */

typedef struct fixture {
    const char *file;     /* a .safetensors file, or a directory for lb_ckpt_write */
    const char *lib;      /* which Python writer reproduces it: numpy or torch */
    size_t max_shard;     /* directories only */
    lb_st_entry *e;
    int n;
} fixture;

static void manifest_add(lb_buf *m, const fixture *fx, const int *seeds, int first)
{
    lb_buf_printf(m, "%s{\"path\":", first ? "" : ",");
    lb_json_put_string(m, fx->file, LB_JSON_SERDE);
    lb_buf_printf(m, ",\"lib\":\"%s\",\"max_shard_bytes\":%zu,\"tensors\":[", fx->lib, fx->max_shard);
    for (int i = 0; i < fx->n; i++) {
        lb_buf_printf(m, "%s{\"name\":", i ? "," : "");
        lb_json_put_string(m, fx->e[i].name, LB_JSON_SERDE);
        lb_buf_printf(m, ",\"dtype\":\"%s\",\"seed\":%d,\"shape\":[", lb_st_dtype_str(fx->e[i].dtype), seeds[i]);
        for (int d = 0; d < fx->e[i].ndim; d++) lb_buf_printf(m, d ? ",%lld" : "%lld", (long long)fx->e[i].shape[d]);
        lb_buf_puts(m, "]}");
    }
    lb_buf_puts(m, "]}");
}

static int write_fixtures(const char *dir)
{
    lb_st_entry np[] = {
        {"b.weight", LB_F32, 2, {2, 3}, NULL}, {"a", LB_F32, 1, {5}, NULL},  {"A", LB_F16, 1, {3}, NULL},
        {"z", LB_I32, 0, {0}, NULL},           {"empty", LB_I8, 2, {0, 4}, NULL},
        {"bytes", LB_U8, 1, {7}, NULL},        {"quo\"te\\name", LB_F32, 1, {1}, NULL},
        {"\xc3\xbcn\xc3\xaf.c\xc3\xb6" "d\xc3\xa9", LB_F16, 1, {2}, NULL},
        {"ctl\x01\t/x", LB_U8, 1, {1}, NULL},
    };
    lb_st_entry th[] = {
        {"w.bf16", LB_BF16, 2, {3, 4}, NULL}, {"w.f32", LB_F32, 1, {2}, NULL},
        {"w.f16", LB_F16, 1, {2}, NULL},      {"i8", LB_I8, 1, {3}, NULL},
    };
    /* 64-byte shards: 16+32 fit, the 80-byte tensor gets its own shard, 16
     * more fills the first to exactly 64, the next starts a new one */
    lb_st_entry ck[] = {
        {"t0", LB_F32, 1, {4}, NULL}, {"t1", LB_F32, 1, {8}, NULL}, {"big", LB_F32, 2, {4, 5}, NULL},
        {"t2", LB_F32, 1, {4}, NULL}, {"t3", LB_F16, 1, {4}, NULL}, {"t4", LB_I32, 1, {3}, NULL},
    };
    fixture fx[] = {
        {"fx_numpy.safetensors", "numpy", 0, np, (int)(sizeof np / sizeof np[0])},
        {"fx_torch.safetensors", "torch", 0, th, (int)(sizeof th / sizeof th[0])},
        {"fx_ckpt", "numpy", 64, ck, (int)(sizeof ck / sizeof ck[0])},
    };
    lb_buf m = {0};
    lb_buf_puts(&m, "{\"files\":[");
    int rc = 0;
    for (int k = 0; k < 3 && !rc; k++) {
        int seeds[16];
        for (int i = 0; i < fx[k].n; i++) seeds[i] = 10 * k + i + 1;
        unsigned char *buf = fill(fx[k].e, fx[k].n, seeds);
        char *p = lb_path_join(dir, fx[k].file);
        lb_status st = fx[k].max_shard ? lb_ckpt_write(p, fx[k].e, fx[k].n, fx[k].max_shard)
                                       : lb_st_write(p, fx[k].e, fx[k].n, NULL, NULL, 0);
        if (lb_failed(&st)) rc = fprintf(stderr, "%s\n", st.msg) > 0;
        manifest_add(&m, &fx[k], seeds, k == 0);
        free(p);
        free(buf);
    }
    lb_buf_puts(&m, "]}\n");
    char *mp = lb_path_join(dir, "manifest.json");
    FILE *fp = rc ? NULL : fopen(mp, "wb");
    if (!fp || fwrite(m.data, 1, m.len, fp) != m.len) rc = 1;
    if (fp && fclose(fp) != 0) rc = 1;
    free(mp);
    lb_buf_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-fixtures")) return write_fixtures(argv[2]);
    snprintf(g_dir, sizeof g_dir, "/tmp/lb_test_strt_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    LB_RUN(test_round_trip);
    LB_RUN(test_exact_bytes);
    LB_RUN(test_write_errors_leave_disk_alone);
    LB_RUN(test_read_f32);
    int rc = lb_test_summary();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!getenv("LB_KEEP") && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
