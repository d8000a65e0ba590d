/* sgemm_rate.c — measured OpenBLAS sgemm rate at given shapes (benchmark
 * helper for scripts/bench/cpu_eval.sh, not part of lowbit).
 *
 * usage: sgemm_rate M,N,K [M,N,K ...]
 * For each shape prints "M N K seconds_per_call gflops", computing
 * C (M,N) = A (M,K) · B^T with B stored (N,K), as lb_linear does. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long M, N, K;
        if (sscanf(argv[i], "%ld,%ld,%ld", &M, &N, &K) != 3) {
            fprintf(stderr, "sgemm_rate: bad shape '%s' (expected M,N,K)\n", argv[i]);
            return 1;
        }
        float *a = malloc(sizeof(float) * (size_t)(M * K));
        float *b = malloc(sizeof(float) * (size_t)(N * K));
        float *c = malloc(sizeof(float) * (size_t)(M * N));
        if (!a || !b || !c) return 1;
        for (long j = 0; j < M * K; j++) a[j] = (float)(j % 7) * 0.1f;
        for (long j = 0; j < N * K; j++) b[j] = (float)(j % 5) * 0.1f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)K, b,
                    (int)K, 0.0f, c, (int)N);
        int reps = 0;
        double t0 = now_s(), el;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)K, b,
                        (int)K, 0.0f, c, (int)N);
            reps++;
            el = now_s() - t0;
        } while (el < 0.3);
        double per = el / reps;
        printf("%ld %ld %ld %.6e %.2f\n", M, N, K, per, 2.0 * M * N * K / per / 1e9);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
