/* test_tensor.c — dtype conversion, arena and tape bookkeeping. */
#include <math.h>
#include <string.h>

#include "autograd/ctx.h"
#include "autograd/tape.h"
#include "harness.h"

static void test_f16_round_trip(void)
{
    /* every finite f16 value converts to f32 and back unchanged */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        float f = lb_f16_to_f32((uint16_t)h);
        LB_EXPECTF(lb_f32_to_f16(f) == h, "f16 0x%04x -> %g -> 0x%04x", h, f, lb_f32_to_f16(f));
    }
}

static void test_f16_rounding(void)
{
    LB_EXPECT(lb_f32_to_f16(1.0f) == 0x3c00);
    LB_EXPECT(lb_f32_to_f16(65504.0f) == 0x7bff);
    LB_EXPECT(lb_f32_to_f16(65520.0f) == 0x7c00);          /* rounds to inf */
    LB_EXPECT(lb_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even: down */
    LB_EXPECT(lb_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02); /* tie to even: up */
    LB_EXPECT(lb_f32_to_f16(5.9604645e-08f) == 0x0001);     /* smallest subnormal */
    LB_EXPECT(lb_f32_to_f16(2.9802322e-08f) == 0x0000);     /* half of it: tie to even 0 */
    LB_EXPECT(lb_f32_to_f16(-0.0f) == 0x8000);
    LB_EXPECT(isnan(lb_f16_to_f32(lb_f32_to_f16(NAN))));
}

static void test_bf16_rounding(void)
{
    LB_EXPECT(lb_f32_to_bf16(1.0f) == 0x3f80);
    LB_EXPECT(lb_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);  /* tie, even stays */
    LB_EXPECT(lb_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);  /* tie, odd rounds up */
    LB_EXPECT(lb_bf16_to_f32(0x4049) == 3.140625f);
    LB_EXPECT(isnan(lb_bf16_to_f32(lb_f32_to_bf16(NAN))));
}

static void test_arena_rewind(void)
{
    lb_ctx ctx;
    lb_status st = lb_ctx_init(&ctx, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    lb_tensor *a = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(3, 5));
    LB_EXPECT(((uintptr_t)a->data & 63) == 0);
    LB_EXPECT(lb_tensor_numel(a) == 15);
    void *first = a->data;
    lb_tensor *big = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(1 << 25)); /* bigger than a chunk */
    LB_EXPECT(big->data != NULL);
    lb_ctx_step_end(&ctx);
    lb_tensor *b = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(3, 5));
    LB_EXPECT(b->data == first || b != NULL);
    LB_EXPECT(ctx.arena.peak >= (size_t)(1 << 27));
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_f16_round_trip);
    LB_RUN(test_f16_rounding);
    LB_RUN(test_bf16_rounding);
    LB_RUN(test_arena_rewind);
    return lb_test_summary();
}
