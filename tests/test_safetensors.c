/* test_safetensors.c — the safetensors reader on malformed files: each must
 * fail to open with a message naming the file and the problem (FORMATS.md
 * §1.4), never crash or read out of bounds (run under ASan too). Also the
 * accepted oddities: padding, leading whitespace, unaligned data, non-lowbit
 * dtypes. Round trips are in test_safetensors_rt.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "layers/safetensors.h"

static char g_dir[64];   /* scratch directory of this test binary */

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    LB_EXPECT(fp != NULL);
    if (!fp) return;
    if (n) LB_EXPECT(fwrite(data, 1, n, fp) == n);
    fclose(fp);
}

/* A file with header `json` (its own length as N) followed by n_data bytes
 * of a pattern; returns its path. */
static const char *make_file(const char *name, const char *json, size_t n_data)
{
    size_t hn = strlen(json);
    size_t total = 8 + hn + n_data;
    unsigned char *buf = malloc(total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, json, hn);
    for (size_t i = 0; i < n_data; i++) buf[8 + hn + i] = (unsigned char)(i * 7 + 1);
    const char *p = tmp_path(name);
    write_bytes(p, buf, total);
    free(buf);
    return p;
}

/* Opening must fail with a message containing the file name and every one
 * of the given words. */
static void expect_fail(const char *path, const char *w1, const char *w2)
{
    lb_st_file f;
    lb_status st = lb_st_open(&f, path);
    LB_EXPECTF(lb_failed(&st), "%s opened but should have failed", path);
    if (!lb_failed(&st)) {
        lb_st_close(&f);
        return;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    LB_EXPECTF(strstr(st.msg, base) != NULL, "message does not name the file: %s", st.msg);
    LB_EXPECTF(!w1 || strstr(st.msg, w1), "message lacks '%s': %s", w1, st.msg);
    LB_EXPECTF(!w2 || strstr(st.msg, w2), "message lacks '%s': %s", w2, st.msg);
    LB_EXPECT(f.map == NULL && f.tensors == NULL);
    lb_st_close(&f);   /* harmless on a failed open */
}

#define T(name, json) "\"" name "\":" json
#define ENT(dt, shape, b, e) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_too_small(void)
{
    write_bytes(tmp_path("tiny.safetensors"), "\x02\0\0\0\0", 5);
    expect_fail(tmp_path("tiny.safetensors"), "too small", "5 bytes");
    write_bytes(tmp_path("empty.safetensors"), "", 0);
    expect_fail(tmp_path("empty.safetensors"), "too small", NULL);
}

static void test_header_past_end(void)
{
    unsigned char b[50] = {0xe8, 0x03};   /* N = 1000 */
    memcpy(b + 8, "{}", 2);
    write_bytes(tmp_path("pastend.safetensors"), b, sizeof b);
    expect_fail(tmp_path("pastend.safetensors"), "past the end", "1000");
}

static void test_header_too_large(void)
{
    unsigned char b[16] = {0x00, 0xc2, 0xeb, 0x0b};   /* N = 200,000,000 */
    write_bytes(tmp_path("huge.safetensors"), b, sizeof b);
    expect_fail(tmp_path("huge.safetensors"), "too large", "200000000");
    unsigned char c[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};   /* N = 2^64-1 */
    write_bytes(tmp_path("huge2.safetensors"), c, sizeof c);
    expect_fail(tmp_path("huge2.safetensors"), "too large", NULL);
}

static void test_bad_json(void)
{
    expect_fail(make_file("json1.safetensors", "{\"a\":", 0), "JSON", NULL);
    expect_fail(make_file("json2.safetensors", "[1,2]   ", 0), "JSON object", NULL);
    expect_fail(make_file("json3.safetensors", "{} x", 0), "JSON", "after the object");
    expect_fail(make_file("json4.safetensors", "{\"a\x01\":1}", 0), "JSON", "control byte");
    expect_fail(make_file("json5.safetensors", "{\"\xc3\x28\":1}", 0), "UTF-8", NULL);
    /* an embedded NUL must not end parsing early */
    static const char nul[] = "\x03\0\0\0\0\0\0\0{}\0";
    write_bytes(tmp_path("json6.safetensors"), nul, 8 + 3);
    expect_fail(tmp_path("json6.safetensors"), "JSON", NULL);
    char deep[3000];
    for (int i = 0; i < 1500; i++) deep[i] = '[';
    for (int i = 1500; i < 2999; i++) deep[i] = ']';
    deep[2999] = '\0';
    expect_fail(make_file("json7.safetensors", deep, 0), "JSON", NULL);
}

static void test_entry_shape(void)
{
    expect_fail(make_file("miss.safetensors", "{" T("x", "{\"dtype\":\"F32\",\"shape\":[1]}") "}", 4),
                "'x'", "missing 'data_offsets'");
    expect_fail(make_file("extra.safetensors",
                          "{" T("x", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"z\":1}") "}", 4),
                "'x'", "unexpected key 'z'");
    expect_fail(make_file("notobj.safetensors", "{" T("x", "3") "}", 0), "'x'", "must be an object");
    expect_fail(make_file("dtnum.safetensors", "{" T("x", "{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4),
                "'x'", "dtype must be a string");
    expect_fail(make_file("offs3.safetensors", "{" T("x", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}") "}", 4),
                "'x'", "data_offsets");
    expect_fail(make_file("offsf.safetensors", "{" T("x", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}") "}", 4),
                "'x'", "integer");
    expect_fail(make_file("dimstr.safetensors", "{" T("x", "{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}") "}", 4),
                "'x'", "shape dim 0");
}

static void test_offsets(void)
{
    expect_fail(make_file("overlap.safetensors",
                          "{" T("a", ENT("F32", "[2]", 0, 8)) "," T("b", ENT("F32", "[2]", 4, 12)) "}", 12),
                "'b'", "overlap");
    expect_fail(make_file("gap.safetensors",
                          "{" T("a", ENT("F32", "[2]", 0, 8)) "," T("b", ENT("F32", "[2]", 12, 20)) "}", 20),
                "'b'", "gap");
    expect_fail(make_file("first.safetensors", "{" T("a", ENT("F32", "[2]", 4, 12)) "}", 12), "'a'", "begin at 0");
    expect_fail(make_file("backw.safetensors", "{" T("a", ENT("F32", "[0]", 8, 0)) "}", 8), "'a'", "end before");
    expect_fail(make_file("trail.safetensors", "{" T("a", ENT("F32", "[2]", 0, 8)) "}", 12), "trailing", NULL);
    expect_fail(make_file("short.safetensors", "{" T("a", ENT("F32", "[4]", 0, 16)) "}", 10), "truncated", NULL);
    expect_fail(make_file("notens.safetensors", "{}", 3), "trailing", NULL);
}

static void test_dtype_and_size(void)
{
    expect_fail(make_file("f33.safetensors", "{" T("x", ENT("F33", "[1]", 0, 4)) "}", 4), "'x'", "unknown dtype 'F33'");
    expect_fail(make_file("size.safetensors", "{" T("x.weight", ENT("F32", "[2, 2]", 0, 12)) "}", 12),
                "tensor 'x.weight': data_offsets [0, 12] hold 12 bytes but F32 shape [2, 2] needs 16", NULL);
    expect_fail(make_file("neg.safetensors", "{" T("x", ENT("F32", "[-1]", 0, 0)) "}", 0), "'x'", "negative");
    expect_fail(make_file("ovf.safetensors", "{" T("x", ENT("F32", "[4294967296,4294967296,16]", 0, 0)) "}", 0),
                "'x'", "overflow");
    expect_fail(make_file("f4odd.safetensors", "{" T("x", ENT("F4", "[3]", 0, 1)) "}", 1), "'x'", "whole number of bytes");
    expect_fail(make_file("dims9.safetensors", "{" T("x", ENT("U8", "[1,1,1,1,1,1,1,1,1]", 0, 1)) "}", 1), "'x'", "8 dims");
}

static void test_names_and_metadata(void)
{
    expect_fail(make_file("dup.safetensors", "{" T("a", ENT("F32", "[1]", 0, 4)) "," T("a", ENT("F32", "[1]", 4, 8)) "}", 8),
                "'a'", "twice");
    expect_fail(make_file("meta.safetensors", "{\"__metadata__\":{\"x\":1}," T("a", ENT("F32", "[1]", 0, 4)) "}", 4),
                "__metadata__", "only strings");
    expect_fail(make_file("meta2.safetensors", "{\"__metadata__\":[]}", 0), "__metadata__", "object");
    expect_fail(make_file("meta3.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", 0), "__metadata__", "twice");
}

/* Things the reference reader accepts must open, with the right values. */
static void test_accepted(void)
{
    /* leading whitespace, space padding, odd N (unaligned data), a non-lowbit
     * dtype, a scalar, two empty tensors at one offset */
    const char *p = make_file("ok.safetensors",
                              " {\"__metadata__\":{\"format\":\"pt\"},"
                              T("h", ENT("BF16", "[2]", 0, 4)) "," T("s", ENT("I64", "[]", 4, 12)) ","
                              T("e1", ENT("F32", "[0,3]", 12, 12)) "," T("e2", ENT("F16", "[0]", 12, 12)) "}  \n  ",
                              12);
    lb_st_file f;
    lb_status st = lb_st_open(&f, p);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    LB_EXPECT(f.n == 4);
    LB_EXPECT(lb_st_meta(&f, "format") && !strcmp(lb_st_meta(&f, "format"), "pt"));
    const lb_st_tensor *h = lb_st_find(&f, "h"), *s = lb_st_find(&f, "s");
    LB_EXPECT(h && h->has_dtype && h->dtype == LB_BF16 && h->nbytes == 4 && h->ndim == 1);
    LB_EXPECT(s && !s->has_dtype && !strcmp(s->dtype_str, "I64") && s->bits == 64 && s->ndim == 0 && s->nbytes == 8);
    LB_EXPECT(lb_st_find(&f, "e1") && lb_st_find(&f, "e1")->nbytes == 0);
    LB_EXPECT(lb_st_find(&f, "nope") == NULL);
    if (h) {
        /* data bytes are 1, 8, 15, 22 -> bf16 0x0801, 0x160f at an odd address */
        float v[2];
        st = lb_st_read_f32(h, v);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        LB_EXPECT(v[0] == lb_bf16_to_f32(0x0801) && v[1] == lb_bf16_to_f32(0x160f));
    }
    if (s) {
        float v[1];
        st = lb_st_read_f32(s, v);
        LB_EXPECT(lb_failed(&st) && strstr(st.msg, "'s'") && strstr(st.msg, "I64"));
    }
    lb_st_close(&f);
    LB_EXPECT(f.map == NULL && f.n == 0);
}

/* Deterministic mutation fuzzing of a valid file: flipped bytes in the
 * header and length, truncation, junk. Every open must either fail with a
 * message or succeed with every tensor inside the mapping (ASan checks the
 * rest in the sanitizer build). */
static void test_mutations(void)
{
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       T("w", ENT("F32", "[2,2]", 0, 16)) "," T("b", ENT("BF16", "[3]", 16, 22)) ","
                       T("s", ENT("I8", "[]", 22, 23)) "," T("e", ENT("U8", "[0]", 23, 23)) "}";
    size_t hn = strlen(json), n = 8 + hn + 23;
    unsigned char *orig = malloc(n), *buf = malloc(n + 16);
    for (int i = 0; i < 8; i++) orig[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(orig + 8, json, hn);
    for (size_t i = 8 + hn; i < n; i++) orig[i] = (unsigned char)i;
    uint64_t rng = 12345;
    int opened = 0;
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("fuzz.safetensors"));
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int k = 1 + iter % 4;
        for (int m = 0; m < k; m++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t at = (size_t)(rng >> 8) % (len ? len : 1);
            switch ((rng >> 4) % 6) {
            case 0: buf[at] ^= (unsigned char)(1u << (rng % 8)); break;          /* bit flip */
            case 1: buf[at] = "{}[],:\"0123456789-.e \\"[rng % 22]; break;   /* JSON-ish byte */
            case 2: len = at; break;                                          /* truncate */
            case 3: buf[(rng >> 20) % 8] = (unsigned char)(rng >> 32); break; /* header length */
            case 4: buf[len++] = (unsigned char)rng; break;                   /* append */
            default: buf[8 + (size_t)(rng >> 16) % hn] = (unsigned char)(rng >> 40); break;
            }
            if (len > n + 8) len = n + 8;
        }
        write_bytes(path, buf, len);
        lb_st_file f;
        lb_status st = lb_st_open(&f, path);
        if (lb_failed(&st)) {
            LB_EXPECTF(strstr(st.msg, "fuzz.safetensors") != NULL, "iteration %d: message lacks the file: %s", iter, st.msg);
            continue;
        }
        opened++;
        for (int i = 0; i < f.n; i++) {
            const unsigned char *d = f.tensors[i].data, *base = f.map;
            LB_EXPECT(d >= base && d + f.tensors[i].nbytes <= base + f.size);
            volatile unsigned char sum = 0;
            for (size_t j = 0; j < f.tensors[i].nbytes; j++) sum += d[j];
            (void)sum;
        }
        lb_st_close(&f);
    }
    printf("  %d of 3000 mutated files opened; the rest failed with a message\n", opened);
    LB_EXPECTF(opened > 0, "no mutation opened; the fuzz does not reach the success path");
    free(orig);
    free(buf);
}

static void test_missing_file(void)
{
    lb_st_file f;
    lb_status st = lb_st_open(&f, tmp_path("does-not-exist.safetensors"));
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "does-not-exist.safetensors") && strstr(st.msg, "cannot open"));
    st = lb_st_open(&f, g_dir);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "not a regular file"));
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/lb_test_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    LB_RUN(test_too_small);
    LB_RUN(test_header_past_end);
    LB_RUN(test_header_too_large);
    LB_RUN(test_bad_json);
    LB_RUN(test_entry_shape);
    LB_RUN(test_offsets);
    LB_RUN(test_dtype_and_size);
    LB_RUN(test_names_and_metadata);
    LB_RUN(test_accepted);
    LB_RUN(test_mutations);
    LB_RUN(test_missing_file);
    int rc = lb_test_summary();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!getenv("LB_KEEP") && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
