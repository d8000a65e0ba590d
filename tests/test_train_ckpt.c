/* test_train_ckpt.c — run checkpoints (train/run_ckpt.h): a round trip
 * restores parameters, AdamW state and run state exactly; a truncated
 * file, another format version, a shape mismatch, a missing tensor and a
 * file that is not a checkpoint each give a message naming the problem. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "train/run_ckpt.h"

static char g_path[256];

typedef struct fixture {
    lb_tensor *p[2];
    lb_adamw opt;
} fixture;

static void make(fixture *f, int64_t rows)
{
    f->p[0] = lb_tensor_alloc(LB_F32, LB_SHAPE(rows, 3));
    f->p[1] = lb_tensor_alloc(LB_F32, LB_SHAPE(5));
    f->p[0]->name = "w.weight";
    f->p[1]->name = "w.bias";
    lb_test_rand(f->p[0]->data, rows * 3, 1, -1, 1);
    lb_test_rand(f->p[1]->data, 5, 2, -1, 1);
    lb_adamw_cfg c = lb_adamw_defaults();
    lb_status st = lb_adamw_init(&f->opt, f->p, 2, NULL, &c);
    LB_CHECK(!lb_failed(&st));
}

static void drop(fixture *f)
{
    lb_adamw_free(&f->opt);
    lb_tensor_free(f->p[0]);
    lb_tensor_free(f->p[1]);
}

static void save(fixture *f, lb_ctx *ctx)
{
    for (int i = 0; i < 2; i++) {
        f->p[i]->grad = lb_tensor_alloc(LB_F32, f->p[i]->ndim, f->p[i]->shape);
        lb_test_rand(f->p[i]->grad->data, lb_tensor_numel(f->p[i]), 10 + i, -1, 1);
    }
    lb_adamw_step(ctx, &f->opt, 1e-2f, 1.0f);
    lb_adamw_step(ctx, &f->opt, 1e-2f, 1.0f);
    double losses[3] = {3.5, NAN, 2.25};
    lb_run_state st = {.step = 3, .next_draw = 24, .bad_streak = 0, .rng_state = 0xdeadbeefcafeull, .losses = losses};
    lb_run_optim o = {"weights", &f->opt};
    lb_status s = lb_run_ckpt_save(ctx, g_path, &st, f->p, 2, &o, 1, "{}");
    LB_EXPECTF(!lb_failed(&s), "%s", s.msg);
}

static void test_round_trip(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    fixture a, b;
    make(&a, 4);
    save(&a, &ctx);
    make(&b, 4);
    lb_run_state st;
    lb_run_optim o = {"weights", &b.opt};
    lb_status s = lb_run_ckpt_load(&ctx, g_path, &st, b.p, 2, &o, 1);
    LB_EXPECTF(!lb_failed(&s), "%s", s.msg);
    LB_EXPECT(st.step == 3 && st.next_draw == 24 && st.rng_state == 0xdeadbeefcafeull && b.opt.t == 2);
    LB_EXPECT(st.losses[0] == 3.5 && isnan(st.losses[1]) && st.losses[2] == 2.25);
    for (int i = 0; i < 2; i++) {
        size_t n = lb_tensor_nbytes(a.p[i]);
        LB_EXPECT(!memcmp(a.p[i]->data, b.p[i]->data, n));
        LB_EXPECT(!memcmp(a.opt.m[i], b.opt.m[i], n) && !memcmp(a.opt.v[i], b.opt.v[i], n));
    }
    free(st.losses);
    /* the newest checkpoint of a directory */
    int64_t step;
    char *p;
    lb_run_ckpt_latest("/nonexistent-dir", &step, &p);
    LB_EXPECT(step == -1 && p == NULL);
    drop(&a);
    drop(&b);
    lb_ctx_free(&ctx);
}

static void expect_load_error(int64_t rows, const char *needle)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    fixture b;
    make(&b, rows);
    float before = ((float *)b.p[0]->data)[0];
    lb_run_state st;
    lb_run_optim o = {"weights", &b.opt};
    lb_status s = lb_run_ckpt_load(&ctx, g_path, &st, b.p, 2, &o, 1);
    LB_EXPECTF(lb_failed(&s) && strstr(s.msg, needle), "expected an error with '%s', got '%s'", needle, s.msg);
    LB_EXPECT(strstr(s.msg, g_path) != NULL);
    LB_EXPECT(((float *)b.p[0]->data)[0] == before); /* nothing changed */
    drop(&b);
    lb_ctx_free(&ctx);
}

static void set_version(int64_t v)
{
    hid_t f = H5Fopen(g_path, H5F_ACC_RDWR, H5P_DEFAULT);
    LB_CHECK(f >= 0);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
}

static void test_bad_files(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    fixture a;
    make(&a, 4);
    save(&a, &ctx);
    drop(&a);
    lb_ctx_free(&ctx);
    expect_load_error(6, "(6, 3)");            /* shape mismatch: names both shapes */
    expect_load_error(6, "w.weight");
    set_version(2);
    expect_load_error(4, "newer lowbit");
    set_version(1);
    /* truncated: half the file */
    FILE *fp = fopen(g_path, "rb");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    LB_CHECK(truncate(g_path, n / 2) == 0);
    expect_load_error(4, "truncated");
    /* not an HDF5 file at all */
    fp = fopen(g_path, "wb");
    fputs("hello", fp);
    fclose(fp);
    expect_load_error(4, "not a readable HDF5 file");
    unlink(g_path);
    expect_load_error(4, "cannot read");
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "/tmp/lb_test_train_ckpt_%d.h5", (int)getpid());
    LB_RUN(test_round_trip);
    LB_RUN(test_bad_files);
    unlink(g_path);
    return lb_test_summary();
}
