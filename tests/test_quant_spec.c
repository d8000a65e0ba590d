/* test_quant_spec.c — quantizer spec strings: every accepted form parses to
 * the expected canonical text and round-trips; bad specs give messages that
 * say what is allowed. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "quant/spec.h"

static void expect_canon(const char *text, lb_qrole role, const char *canon)
{
    lb_qspec s, s2;
    char buf[LB_QSPEC_STR_MAX], buf2[LB_QSPEC_STR_MAX];
    lb_status st = lb_qspec_parse(text, role, &s);
    LB_EXPECTF(!lb_failed(&st), "\"%s\" rejected: %s", text, st.msg);
    if (lb_failed(&st)) return;
    lb_qspec_format(&s, buf, sizeof buf);
    LB_EXPECTF(!strcmp(buf, canon), "\"%s\" prints as \"%s\", expected \"%s\"", text, buf, canon);
    st = lb_qspec_parse(buf, role, &s2);
    LB_EXPECTF(!lb_failed(&st), "canonical \"%s\" rejected: %s", buf, st.msg);
    lb_qspec_format(&s2, buf2, sizeof buf2);
    LB_EXPECTF(!strcmp(buf, buf2) && !memcmp(&s, &s2, sizeof s), "\"%s\" does not round-trip", buf);
}

static void test_weight_forms(void)
{
    lb_qrole W = LB_QROLE_WEIGHT;
    expect_canon("int4", W, "int4:g128:asym:minmax:f16");
    expect_canon("int8:ch:sym", W, "int8:ch:sym:minmax:f16");
    expect_canon("int2:tensor:mse:f32", W, "int2:tensor:asym:mse:f32");
    expect_canon("int3:lsq:g64:sym", W, "int3:g64:sym:lsq:f16");
    expect_canon("int4:g32:asym:lsq+", W, "int4:g32:asym:lsq+:f16");
    expect_canon("nf4", W, "nf4:g64:f32");
    expect_canon("nf4:g128:f16", W, "nf4:g128:f16");
    expect_canon("fp8", W, "fp8:tensor:f32");
    expect_canon("fp8:ch", W, "fp8:ch:f32");
    expect_canon("fp4", W, "fp4:g32:f32");
    expect_canon("fp4:g16", W, "fp4:g16:f32");
    const char *presets[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
    for (int i = 0; i < 5; i++) expect_canon(presets[i], W, presets[i]);
    /* every int combination round-trips */
    const char *gr[] = {"g32", "g64", "g128", "ch", "tensor"}, *sy[] = {"sym", "asym"};
    const char *mo[] = {"minmax", "mse", "lsq", "lsq+"}, *sd[] = {"f16", "f32"};
    char text[96];
    for (int b = 2; b <= 8; b++)
        for (int g = 0; g < 5; g++)
            for (int y = 0; y < 2; y++)
                for (int m = 0; m < 4; m++)
                    for (int d = 0; d < 2; d++) {
                        if (m == 3 && y == 0) continue;   /* lsq+ needs asym */
                        snprintf(text, sizeof text, "int%d:%s:%s:%s:%s", b, gr[g], sy[y], mo[m], sd[d]);
                        expect_canon(text, W, text);
                    }
}

static void test_act_forms(void)
{
    lb_qrole A = LB_QROLE_ACT;
    expect_canon("int8:token", A, "int8:token:dyn");
    expect_canon("int8:token:dyn", A, "int8:token:dyn");
    expect_canon("int8:tensor", A, "int8:tensor:static");
    expect_canon("int8:tensor:static", A, "int8:tensor:static");
    expect_canon("int8:tensor:pact", A, "int8:tensor:pact");
    expect_canon("none", A, "none");
}

static void expect_bad(const char *text, lb_qrole role, const char *needle)
{
    lb_qspec s;
    lb_status st = lb_qspec_parse(text, role, &s);
    LB_EXPECTF(lb_failed(&st), "\"%s\" accepted", text);
    LB_EXPECTF(strstr(st.msg, needle) != NULL, "\"%s\": message lacks \"%s\": %s", text, needle, st.msg);
}

static void test_bad_specs(void)
{
    lb_qrole W = LB_QROLE_WEIGHT, A = LB_QROLE_ACT;
    expect_bad("int9", W, "bits must be 2..8");
    expect_bad("int1", W, "bits must be 2..8");
    expect_bad("int4:g0", W, "group size");
    expect_bad("int4:g", W, "group size");
    expect_bad("int4:g128:foo", W, "allowed here: g<N>, ch, tensor, sym, asym, minmax, mse, lsq, lsq+");
    expect_bad("int4:g128:g64", W, "granularity given twice");
    expect_bad("int4:sym:lsq+", W, "needs :asym");
    expect_bad("nf4:ch", W, "g<N> (block size, default 64)");
    expect_bad("fp8:g32", W, "ch, tensor");
    expect_bad("q4_2", W, "q4_0, q4_1, q5_0, q5_1, q8_0");
    expect_bad("q4_0:g32", W, "take no fields");
    expect_bad("", W, "empty quantizer spec");
    expect_bad("int4::asym", W, "empty field");
    expect_bad("int4:", W, "empty field");
    expect_bad("none", W, "for activations");
    expect_bad("int4", A, "int8:token[:dyn], int8:tensor[:static|:pact], none");
    expect_bad("int8", A, "needs :token or :tensor");
    expect_bad("int8:token:static", A, "dyn");
    expect_bad("int8:tensor:dyn", A, "static, pact");
    expect_bad("none:x", A, "takes no fields");
}

int main(void)
{
    LB_RUN(test_weight_forms);
    LB_RUN(test_act_forms);
    LB_RUN(test_bad_specs);
    return lb_test_summary();
}
