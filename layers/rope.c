/* rope.c — the rotary inverse frequencies of a Llama-family config, as
 * transformers computes them (modeling_rope_utils.py), scaling folded in.
 *
 * Everything is fp32 like the reference: inv_freq[j] = 1 / theta^(2j/hd) with
 * the exponent formed in fp32; "linear" divides by factor (equivalent to
 * dividing positions); "llama3" rescales by wavelength band (FORMATS.md §2.4).
 * The rotation itself is the lb_rope op (autograd/ops.h); this file is not.
 */
#include <math.h>

#include "layers/config.h"

void lb_rope_inv_freq(const lb_model_config *cfg, float *inv_freq)
{
    const lb_rope_config *r = &cfg->rope;
    int64_t half = cfg->head_dim / 2;
    float dim = (float)cfg->head_dim;
    for (int64_t j = 0; j < half; j++) {
        float e = (float)(2 * j) / dim;
        inv_freq[j] = 1.0f / powf((float)r->theta, e);
    }
    if (r->type == LB_ROPE_LINEAR) {
        for (int64_t j = 0; j < half; j++) inv_freq[j] /= (float)r->factor;
    } else if (r->type == LB_ROPE_LLAMA3) {
        const float pi = 3.14159265358979323846f;
        float factor = (float)r->factor;
        float lo = (float)r->low_freq_factor, hi = (float)r->high_freq_factor;
        float orig = (float)r->original_max_pos;
        float low_wl = orig / lo, high_wl = orig / hi;
        for (int64_t j = 0; j < half; j++) {
            float f = inv_freq[j];
            float wl = 2.0f * pi / f;
            if (wl < high_wl) continue;                /* high frequency: kept */
            if (wl > low_wl) {                         /* low frequency: scaled */
                inv_freq[j] = f / factor;
                continue;
            }
            float smooth = (orig / wl - lo) / (hi - lo); /* in between: blended */
            inv_freq[j] = (1.0f - smooth) * f / factor + smooth * f;
        }
    }
}
