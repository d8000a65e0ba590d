/* rope.c — rotary position embedding, HF rotate-half layout.
 *
 * For j < hd/2 the pair (x[j], x[j + hd/2]) at position p is rotated by
 * theta = (float)p * inv_freq[j], with the product, cosf and sinf in fp32 as
 * transformers computes them. The backward is the inverse rotation.
 * Not here: computing inv_freq from the config (layers/).
 */
#include <math.h>

#include "kernels/cpu/kernels.h"

/* rotate: out (T, H, hd) for one sequence; sign +1 rotates by theta (the
 * forward), -1 by -theta (the backward). acc selects += over =. */
static void rotate(const float *x, float *out, const float *inv_freq, int64_t T, int64_t H,
                   int64_t hd, int64_t pos0, float sign, bool acc)
{
    int64_t half = hd / 2;
    #pragma omp parallel for schedule(static) if (T * H * hd > LB_CPU_PAR_MIN)
    for (int64_t t = 0; t < T; t++) {
        float p = (float)(pos0 + t);
        for (int64_t j = 0; j < half; j++) {
            float theta = p * inv_freq[j];
            float c = cosf(theta), s = sign * sinf(theta);
            for (int64_t h = 0; h < H; h++) {
                const float *xr = x + (t * H + h) * hd;
                float *yr = out + (t * H + h) * hd;
                float x1 = xr[j], x2 = xr[j + half];
                float y1 = x1 * c - x2 * s;
                float y2 = x2 * c + x1 * s;
                if (acc) {
                    yr[j] += y1;
                    yr[j + half] += y2;
                } else {
                    yr[j] = y1;
                    yr[j + half] = y2;
                }
            }
        }
    }
}

void lb_cpu_rope_fwd(const float *x, float *out, const float *inv_freq,
                     int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0)
{
    for (int64_t b = 0; b < B; b++)
        rotate(x + b * T * H * hd, out + b * T * H * hd, inv_freq, T, H, hd, pos0, 1.0f, false);
}

void lb_cpu_rope_bwd(const float *dout, float *dx, const float *inv_freq,
                     int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0)
{
    for (int64_t b = 0; b < B; b++)
        rotate(dout + b * T * H * hd, dx + b * T * H * hd, inv_freq, T, H, hd, pos0, -1.0f, true);
}
