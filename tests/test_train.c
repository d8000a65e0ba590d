/* test_train.c — the pieces of the trainer that need no model: the lr
 * schedule, the batch sampler (determinism, rank sharding, resume by step),
 * the KD loss (vs a double-precision reference; gradient vs finite
 * differences) and the configuration (defaults, config.json round trip,
 * resume rules). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/h5data.h"
#include "harness.h"
#include "train/batches.h"
#include "train/cli/flags.h"
#include "train/kd.h"
#include "train/schedule.h"
#include "train/train_config.h"

/* ---- schedule ----------------------------------------------------------------------- */

static void test_schedule_values(void)
{
    lb_schedule s = {LB_SCHEDULE_COSINE, 1e-3, 1e-4, 10, 110};
    LB_EXPECT(fabs(lb_schedule_lr(&s, 0) - 1e-4) < 1e-15);          /* warmup: L (s+1)/W */
    LB_EXPECT(fabs(lb_schedule_lr(&s, 4) - 5e-4) < 1e-15);
    LB_EXPECT(fabs(lb_schedule_lr(&s, 9) - 1e-3) < 1e-15);
    LB_EXPECT(fabs(lb_schedule_lr(&s, 10) - 1e-3) < 1e-15);         /* decay starts at L */
    LB_EXPECT(fabs(lb_schedule_lr(&s, 60) - 5.5e-4) < 1e-15);       /* half way: (L + m) / 2 */
    double last = lb_schedule_lr(&s, 109), expect = 1e-4 + 0.9e-3 * 0.5 * (1 + cos(M_PI * 99.0 / 100.0));
    LB_EXPECTF(fabs(last - expect) < 1e-15, "last cosine lr %.17g, expected %.17g", last, expect);
    for (int64_t i = 11; i < 110; i++) LB_EXPECT(lb_schedule_lr(&s, i) < lb_schedule_lr(&s, i - 1));
    s.kind = LB_SCHEDULE_LINEAR;
    LB_EXPECT(fabs(lb_schedule_lr(&s, 60) - 5.5e-4) < 1e-15);
    LB_EXPECT(fabs(lb_schedule_lr(&s, 35) - (1e-3 - 0.9e-3 * 0.25)) < 1e-15);
    s.kind = LB_SCHEDULE_CONSTANT;
    LB_EXPECT(lb_schedule_lr(&s, 100) == 1e-3 && lb_schedule_lr(&s, 0) == 1e-4);
    lb_schedule nw = {LB_SCHEDULE_COSINE, 2.0, 0.0, 0, 4};           /* no warmup */
    LB_EXPECT(lb_schedule_lr(&nw, 0) == 2.0);
    LB_EXPECT(fabs(lb_schedule_lr(&nw, 2) - 1.0) < 1e-15);
    lb_schedule_kind k;
    LB_EXPECT(lb_schedule_parse("linear", &k) && k == LB_SCHEDULE_LINEAR);
    LB_EXPECT(!lb_schedule_parse("step", &k));
}

/* ---- batches ------------------------------------------------------------------------- */

#define NTOK 5000
static char g_h5[256];

static void make_tokens(void)
{
    snprintf(g_h5, sizeof g_h5, "/tmp/lb_test_train_%d.h5", (int)getpid());
    lb_h5_writer w;
    lb_status st = lb_h5_writer_open(&w, g_h5, 1000, 0, "", NULL, 0);
    LB_CHECK(!lb_failed(&st));
    int32_t ids[NTOK - 1];
    for (int i = 0; i < NTOK - 1; i++) ids[i] = 1 + (i * 7919) % 999;   /* token at position i is a function of i */
    st = lb_h5_writer_add_doc(&w, ids, NTOK - 1);
    LB_CHECK(!lb_failed(&st));
    st = lb_h5_writer_commit(&w);
    LB_CHECK(!lb_failed(&st));
}

static void test_batches_windows(void)
{
    lb_batches b;
    lb_status st = lb_batches_open(&b, g_h5, 16, 3, 0, 1, 42, 1000);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    int32_t ids[48], tg[48];
    for (int step = 0; step < 20; step++) {
        st = lb_batches_next(&b, ids, tg, 1000);
        LB_EXPECT(!lb_failed(&st));
        for (int j = 0; j < 3; j++) {
            int64_t pos = lb_batches_position(&b, step * 3 + j);
            LB_EXPECT(pos >= 0 && pos + 16 < NTOK);
            for (int t = 0; t < 16; t++) {
                int32_t e = (int32_t)(pos + t) == NTOK - 1 ? 0 : 1 + (int32_t)(((pos + t) * 7919) % 999);
                LB_EXPECT(ids[j * 16 + t] == e);
                if (t < 15) LB_EXPECT(tg[j * 16 + t] == ids[j * 16 + t + 1]); /* targets: the next token */
            }
        }
    }
    /* ids at or above the model's vocabulary are refused with the position */
    lb_batches_seek(&b, 0);
    st = lb_batches_next(&b, ids, tg, 500);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "outside the model's vocabulary"));
    lb_batches_close(&b);
    /* a window longer than the file */
    st = lb_batches_open(&b, g_h5, NTOK, 1, 0, 1, 1, 1000);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "fewer than one training window"));
}

static void read_step(int64_t ctx, int64_t batch, int rank, int world, uint64_t seed, int64_t step, int32_t *ids)
{
    lb_batches b;
    lb_status st = lb_batches_open(&b, g_h5, ctx, batch, rank, world, seed, 1000);
    LB_CHECK(!lb_failed(&st));
    int32_t *tg = malloc((size_t)(batch * ctx) * sizeof *tg);
    lb_batches_seek(&b, step);
    st = lb_batches_next(&b, ids, tg, 1000);
    LB_CHECK(!lb_failed(&st));
    free(tg);
    lb_batches_close(&b);
}

/* Same seed: same windows; a seek to step s gives what s steps of reading
 * give (resume); N ranks of batch B: disjoint draws, and interleaved they
 * are exactly one rank of batch N·B. */
static void test_batches_deterministic_sharded(void)
{
    enum { T = 8, B = 4 };
    int32_t a[B * T], b2[B * T], one[2 * B * T], r0[B * T], r1[B * T];
    read_step(T, B, 0, 1, 9, 5, a);
    read_step(T, B, 0, 1, 9, 5, b2);
    LB_EXPECT(!memcmp(a, b2, sizeof a));
    read_step(T, B, 0, 1, 10, 5, b2);
    LB_EXPECT(memcmp(a, b2, sizeof a) != 0); /* another seed, other windows */
    /* sequential reading == seek */
    lb_batches b;
    lb_status st = lb_batches_open(&b, g_h5, T, B, 0, 1, 9, 1000);
    LB_CHECK(!lb_failed(&st));
    int32_t tg[B * T];
    for (int s = 0; s <= 5; s++) lb_batches_next(&b, b2, tg, 1000);
    LB_EXPECT(!memcmp(a, b2, sizeof a));
    LB_EXPECT(b.next_draw == 6 * B);
    lb_batches_close(&b);
    /* sharding: step 3, 2 ranks of B vs 1 rank of 2B */
    read_step(T, 2 * B, 0, 1, 9, 3, one);
    read_step(T, B, 0, 2, 9, 3, r0);
    read_step(T, B, 1, 2, 9, 3, r1);
    for (int j = 0; j < B; j++) {
        LB_EXPECT(!memcmp(r0 + j * T, one + (2 * j) * T, T * sizeof(int32_t)));
        LB_EXPECT(!memcmp(r1 + j * T, one + (2 * j + 1) * T, T * sizeof(int32_t)));
    }
}

/* ---- KD ------------------------------------------------------------------------------- */

static double kd_ref(const float *s, const float *t, int64_t N, int64_t V, double tau)
{
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        double ms = -INFINITY, mt = -INFINITY, zs = 0, zt = 0;
        for (int64_t v = 0; v < V; v++) {
            ms = fmax(ms, s[i * V + v] / tau);
            mt = fmax(mt, t[i * V + v] / tau);
        }
        for (int64_t v = 0; v < V; v++) {
            zs += exp(s[i * V + v] / tau - ms);
            zt += exp(t[i * V + v] / tau - mt);
        }
        for (int64_t v = 0; v < V; v++) {
            double lps = s[i * V + v] / tau - ms - log(zs), lpt = t[i * V + v] / tau - mt - log(zt);
            total += exp(lpt) * (lpt - lps);
        }
    }
    return tau * tau * total / (double)N;
}

static void test_kd_loss(void)
{
    enum { N = 5, V = 11 };
    const float taus[] = {1.0f, 2.0f, 0.5f};
    for (size_t k = 0; k < sizeof taus / sizeof taus[0]; k++) {
        lb_ctx ctx;
        lb_ctx_init(&ctx, LB_CPU);
        lb_tensor *s = lb_tensor_alloc(LB_F32, LB_SHAPE(N, V));
        lb_tensor *t = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(N, V));
        lb_test_rand(s->data, N * V, 1 + k, -3, 3);
        lb_test_rand(t->data, N * V, 100 + k, -3, 3);
        s->requires_grad = true;
        double tau = taus[k];
        lb_tensor *l = lb_kd_loss(&ctx, s, t, taus[k]);
        double ref = kd_ref(s->data, t->data, N, V, tau);
        /* fp32 output of a double sum: one rounding, ~6e-8 relative */
        LB_EXPECTF(fabs(((float *)l->data)[0] - ref) <= 1e-6 * fabs(ref) + 1e-7, "tau %g: %.9g vs %.9g", tau,
                   (double)((float *)l->data)[0], ref);
        lb_backward(&ctx, l);
        /* central differences on the double reference: h = 1e-3 gives O(h^2) ~ 1e-6 truncation; the fp32
         * analytic grad (probabilities in fp32) is good to ~1e-6 relative, so 1e-4 absolute is generous */
        const float *g = s->grad->data;
        float *sd = s->data;
        double worst = 0;
        for (int64_t i = 0; i < N * V; i++) {
            float x = sd[i];
            sd[i] = x + 1e-3f;
            double up = kd_ref(sd, t->data, N, V, tau);
            sd[i] = x - 1e-3f;
            double dn = kd_ref(sd, t->data, N, V, tau);
            sd[i] = x;
            double fd = (up - dn) / ((double)(x + 1e-3f) - (double)(x - 1e-3f));
            worst = fmax(worst, fabs(fd - g[i]));
        }
        LB_EXPECTF(worst < 1e-4, "tau %g: KD grad differs from finite differences by %g", tau, worst);
        /* identical logits: KD 0 */
        lb_ctx_step_end(&ctx);
        lb_tensor *z = lb_kd_loss(&ctx, s, s, taus[k]);
        LB_EXPECT(fabs(((float *)z->data)[0]) < 1e-6);
        lb_ctx_step_end(&ctx);
        lb_tensor_free(s);
        lb_ctx_free(&ctx);
    }
}

/* ---- configuration ----------------------------------------------------------------------- */

/* resolve_argv: parses argv like cmd_train.c does (two passes) and resolves. */
static lb_status resolve_argv(int argc, char **argv, lb_train_config *c)
{
    lb_train_args *a = lb_train_args_new();
    lb_flag flags[LB_TRAIN_MAX_FLAGS];
    lb_flag_store store = {0};
    lb_status st = lb_ok();
    /* a tiny stand-in for the program's flag parser: --name value pairs and bare bools */
    for (int pass = 0; pass < 2 && !lb_failed(&st); pass++) {
        int n = lb_train_args_flags(a, pass, flags);
        for (int i = 0; i < argc; i++) {
            const lb_flag *f = NULL;
            for (int k = 0; k < n; k++)
                if (!strcmp(argv[i] + 2, flags[k].name)) f = &flags[k];
            LB_CHECKF(f != NULL, "test: unknown flag %s", argv[i]);
            switch (f->type) {
            case LB_FLAG_STR: *(const char **)f->dst = argv[++i]; break;
            case LB_FLAG_INT: *(int64_t *)f->dst = atoll(argv[++i]); break;
            case LB_FLAG_FLOAT: *(double *)f->dst = atof(argv[++i]); break;
            case LB_FLAG_BOOL: *(bool *)f->dst = true; break;
            default: break;
            }
        }
    }
    st = lb_train_config_resolve(a, c);
    lb_train_args_free(a);
    (void)store;
    return st;
}

static void test_config(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/lb_test_train_cfg_%d", (int)getpid());
    char *argv[] = {"--model", "m", "--data", "x/train.h5", "--out", dir, "--lr", "0.002", "--wq", "int4:g32",
                    "--kd", "--batch", "6", "--micro-batch", "2"};
    lb_train_config c;
    lb_status st = resolve_argv(15, argv, &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.lr == 0.002 && c.min_lr == 0.0002 && c.q_lr == 0.002 && c.kd && c.batch == 6 && c.micro_batch == 2);
    LB_EXPECT(!strcmp(c.val, "x/train.val.h5") && !strcmp(c.schedule, "cosine") && lb_train_config_is_qat(&c));
    /* config.json round trip, then a resume that agrees and one that does not */
    mkdir(dir, 0777);
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = lb_train_config_save(&c, path);
    LB_EXPECT(!lb_failed(&st));
    lb_train_config d;
    lb_train_config_defaults(&d);
    st = lb_train_config_load(path, &d);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    char *j1 = lb_train_config_to_json(&c), *j2 = lb_train_config_to_json(&d);
    LB_EXPECT(!strcmp(j1, j2));
    free(j1);
    free(j2);
    lb_train_config_free(&d);
    char *ok_argv[] = {"--out", dir, "--resume", "--lr", "0.002", "--eval-every", "7"};
    st = resolve_argv(7, ok_argv, &d);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(d.resume && d.eval_every == 7 && !strcmp(d.wq, "int4:g32") && d.batch == 6);
    lb_train_config_free(&d);
    char *bad_argv[] = {"--out", dir, "--resume", "--batch", "8"};
    st = resolve_argv(5, bad_argv, &d);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "--batch") && strstr(st.msg, "6"));
    /* checks name the flag */
    char *e1[] = {"--model", "m", "--data", "d.h5", "--out", "o", "--batch", "6", "--micro-batch", "4"};
    st = resolve_argv(10, e1, &d);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "--micro-batch"));
    char *e2[] = {"--model", "m", "--data", "d.h5", "--out", "o", "--schedule", "step"};
    st = resolve_argv(8, e2, &d);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "--schedule"));
    char *e3[] = {"--data", "d.h5", "--out", "o"};
    st = resolve_argv(4, e3, &d);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "--model"));
    char *e4[] = {"--out", "/nonexistent/run", "--resume"};
    st = resolve_argv(3, e4, &d);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "/nonexistent/run"));
    lb_train_config_free(&c);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    make_tokens();
    LB_RUN(test_schedule_values);
    LB_RUN(test_batches_windows);
    LB_RUN(test_batches_deterministic_sharded);
    LB_RUN(test_kd_loss);
    LB_RUN(test_config);
    unlink(g_h5);
    return lb_test_summary();
}
