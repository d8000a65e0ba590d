/* spec.c — the one parser and printer of quantizer spec strings (spec.h). */
#include "quant/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_GRAMMAR                                                                   \
    "int<b>[:g<N>|:ch|:tensor][:sym|:asym][:minmax|:mse|:lsq|:lsq+][:f16|:f32] (b = 2..8), " \
    "nf4[:g<N>][:f16|:f32], fp8[:ch|:tensor][:f16|:f32], fp4[:g<N>][:f16|:f32], "           \
    "q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q6_k"
#define ACT_GRAMMAR "int8:token[:dyn], int8:tensor[:static|:pact], none"

#define GROUP_MAX (1 << 20)

static const struct {
    const char *name;
    lb_qformat format;
    int bits;
    int group;   /* elements per (sub-block) scale */
} ggml_presets[] = {
    {"q4_0", LB_QF_Q4_0, 4, 32}, {"q4_1", LB_QF_Q4_1, 4, 32}, {"q5_0", LB_QF_Q5_0, 5, 32},
    {"q5_1", LB_QF_Q5_1, 5, 32}, {"q8_0", LB_QF_Q8_0, 8, 32}, {"q4_k", LB_QF_Q4_K, 4, 32},
    {"q6_k", LB_QF_Q6_K, 6, 16},
};
#define N_PRESETS (int)(sizeof ggml_presets / sizeof ggml_presets[0])

bool lb_qspec_is_ggml(const lb_qspec *spec)
{
    return spec->format >= LB_QF_Q4_0 && spec->format <= LB_QF_Q6_K;
}

bool lb_qspec_is_kquant(const lb_qspec *spec)
{
    return spec->format == LB_QF_Q4_K || spec->format == LB_QF_Q6_K;
}

bool lb_qspec_learned(const lb_qspec *spec)
{
    return spec->mode == LB_QM_LSQ || spec->mode == LB_QM_LSQP || spec->mode == LB_QM_PACT;
}

int lb_qspec_maxq(const lb_qspec *spec)
{
    switch (spec->format) {
    case LB_QF_NF4:
    case LB_QF_FP4: return 15;
    case LB_QF_FP8: return 255;
    case LB_QF_NONE: return 0;
    default: return (1 << spec->bits) - 1;
    }
}

/* parse_uint: a decimal number filling all of s, in [lo, hi]; -1 if not. */
static long parse_uint(const char *s, long lo, long hi)
{
    if (!*s) return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > hi) return -1;
    }
    return v < lo ? -1 : v;
}

/* One field after the format: which slot it fills, so that a slot given
 * twice is an error. */
enum { SLOT_GRAN, SLOT_SYM, SLOT_MODE, SLOT_SDTYPE, SLOT_N };
static const char *slot_names[SLOT_N] = {"granularity", "symmetry", "scale method",
                                         "scale dtype"};

typedef struct parse_state {
    const char *text;
    lb_qspec *s;
    bool seen[SLOT_N];
} parse_state;

static lb_status field_error(const parse_state *ps, const char *field, const char *allowed)
{
    return lb_errorf(LB_ERR_ARG, "quantizer spec \"%s\": unknown field \"%s\"; allowed here: %s",
                     ps->text, field, allowed);
}

static lb_status take_slot(parse_state *ps, int slot, const char *field)
{
    if (ps->seen[slot])
        return lb_errorf(LB_ERR_ARG, "quantizer spec \"%s\": %s given twice (at \"%s\")", ps->text,
                         slot_names[slot], field);
    ps->seen[slot] = true;
    return lb_ok();
}

static lb_status parse_group(parse_state *ps, const char *field)
{
    long g = parse_uint(field + 1, 1, GROUP_MAX);
    if (g < 0)
        return lb_errorf(LB_ERR_ARG,
                         "quantizer spec \"%s\": group size in \"%s\" must be an integer "
                         "1..%d (e.g. g32, g64, g128)",
                         ps->text, field, GROUP_MAX);
    LB_TRY(take_slot(ps, SLOT_GRAN, field));
    ps->s->gran = LB_QG_GROUP;
    ps->s->group = (int)g;
    return lb_ok();
}

static lb_status parse_sdtype(parse_state *ps, const char *f, bool *done)
{
    *done = false;
    if (strcmp(f, "f16") && strcmp(f, "f32")) return lb_ok();
    LB_TRY(take_slot(ps, SLOT_SDTYPE, f));
    ps->s->scale_f16 = !strcmp(f, "f16");
    *done = true;
    return lb_ok();
}

/* int<b> weight fields. */
static lb_status int_field(parse_state *ps, const char *f)
{
    bool done;
    LB_TRY(parse_sdtype(ps, f, &done));
    if (done) return lb_ok();
    if (f[0] == 'g' && f[1] >= '0' && f[1] <= '9') return parse_group(ps, f);
    if (f[0] == 'g' && f[1] == '\0') return parse_group(ps, f);
    if (!strcmp(f, "ch") || !strcmp(f, "tensor")) {
        LB_TRY(take_slot(ps, SLOT_GRAN, f));
        ps->s->gran = !strcmp(f, "ch") ? LB_QG_CHANNEL : LB_QG_TENSOR;
        ps->s->group = 0;
        return lb_ok();
    }
    if (!strcmp(f, "sym") || !strcmp(f, "asym")) {
        LB_TRY(take_slot(ps, SLOT_SYM, f));
        ps->s->sym = !strcmp(f, "sym");
        return lb_ok();
    }
    static const struct { const char *n; lb_qmode m; } modes[] = {
        {"minmax", LB_QM_MINMAX}, {"mse", LB_QM_MSE}, {"lsq", LB_QM_LSQ}, {"lsq+", LB_QM_LSQP}};
    for (int i = 0; i < 4; i++)
        if (!strcmp(f, modes[i].n)) {
            LB_TRY(take_slot(ps, SLOT_MODE, f));
            ps->s->mode = modes[i].m;
            return lb_ok();
        }
    return field_error(ps, f, "g<N>, ch, tensor, sym, asym, minmax, mse, lsq, lsq+, f16, f32");
}

/* nf4 / fp4 / fp8 fields. */
static lb_status value_grid_field(parse_state *ps, const char *f)
{
    bool done;
    LB_TRY(parse_sdtype(ps, f, &done));
    if (done) return lb_ok();
    if (ps->s->format == LB_QF_FP8) {
        if (!strcmp(f, "ch") || !strcmp(f, "tensor")) {
            LB_TRY(take_slot(ps, SLOT_GRAN, f));
            ps->s->gran = !strcmp(f, "ch") ? LB_QG_CHANNEL : LB_QG_TENSOR;
            return lb_ok();
        }
        return field_error(ps, f, "ch, tensor, f16, f32 (fp8 scales are per channel or tensor)");
    }
    if (f[0] == 'g') return parse_group(ps, f);
    return field_error(ps, f,
                       ps->s->format == LB_QF_NF4
                           ? "g<N> (block size, default 64), f16, f32"
                           : "g<N> (group size, default 32), f16, f32");
}

static lb_status act_field(parse_state *ps, const char *f)
{
    if (ps->s->gran == LB_QG_TOKEN) {
        if (!strcmp(f, "dyn")) {
            LB_TRY(take_slot(ps, SLOT_MODE, f));
            return lb_ok();
        }
        return field_error(ps, f, "dyn (int8:token is dynamic)");
    }
    if (!strcmp(f, "static") || !strcmp(f, "pact")) {
        LB_TRY(take_slot(ps, SLOT_MODE, f));
        ps->s->mode = !strcmp(f, "static") ? LB_QM_STATIC : LB_QM_PACT;
        return lb_ok();
    }
    return field_error(ps, f, "static, pact");
}

/* parse_head: the format (first field), setting every default. */
static lb_status parse_head(parse_state *ps, const char *head, lb_qrole role)
{
    lb_qspec *s = ps->s;
    memset(s, 0, sizeof *s);
    s->role = role;
    if (role == LB_QROLE_ACT) {
        if (!strcmp(head, "none")) {
            s->format = LB_QF_NONE;
            return lb_ok();
        }
        if (strcmp(head, "int8"))
            return lb_errorf(LB_ERR_ARG,
                             "activation quantizer spec \"%s\": unknown format \"%s\"; allowed: %s",
                             ps->text, head, ACT_GRAMMAR);
        s->format = LB_QF_INT;
        s->bits = 8;
        s->sym = true;
        return lb_ok();   /* granularity is required: checked by the caller */
    }
    s->scale_f16 = false;
    s->mode = LB_QM_ABSMAX;
    s->sym = true;
    if (!strcmp(head, "nf4")) {
        s->format = LB_QF_NF4, s->bits = 4, s->gran = LB_QG_GROUP, s->group = 64;
        return lb_ok();
    }
    if (!strcmp(head, "fp4")) {
        s->format = LB_QF_FP4, s->bits = 4, s->gran = LB_QG_GROUP, s->group = 32;
        return lb_ok();
    }
    if (!strcmp(head, "fp8")) {
        s->format = LB_QF_FP8, s->bits = 8, s->gran = LB_QG_TENSOR;
        return lb_ok();
    }
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(head, ggml_presets[i].name)) {
            s->format = ggml_presets[i].format;
            s->bits = ggml_presets[i].bits;
            s->gran = LB_QG_GROUP;
            s->group = ggml_presets[i].group;
            s->mode = LB_QM_GGML;
            s->sym = s->format == LB_QF_Q4_0 || s->format == LB_QF_Q5_0 ||
                     s->format == LB_QF_Q8_0 || s->format == LB_QF_Q6_K;
            s->scale_f16 = true;
            return lb_ok();
        }
    if (!strncmp(head, "int", 3)) {
        long b = parse_uint(head + 3, 2, 8);
        if (b < 0)
            return lb_errorf(LB_ERR_ARG,
                             "quantizer spec \"%s\": \"%s\": bits must be 2..8 (int2 ... int8); "
                             "allowed: %s",
                             ps->text, head, WEIGHT_GRAMMAR);
        s->format = LB_QF_INT;
        s->bits = (int)b;
        s->gran = LB_QG_GROUP;
        s->group = 128;
        s->sym = false;
        s->mode = LB_QM_MINMAX;
        s->scale_f16 = true;
        return lb_ok();
    }
    if (!strcmp(head, "none"))
        return lb_errorf(LB_ERR_ARG,
                         "quantizer spec \"none\" is for activations; leave the weight spec out "
                         "to keep weights in high precision");
    return lb_errorf(LB_ERR_ARG, "quantizer spec \"%s\": unknown format \"%s\"; allowed: %s",
                     ps->text, head, WEIGHT_GRAMMAR);
}

lb_status lb_qspec_parse(const char *text, lb_qrole role, lb_qspec *out)
{
    if (!text || !*text)
        return lb_errorf(LB_ERR_ARG, "empty quantizer spec; allowed: %s",
                         role == LB_QROLE_ACT ? ACT_GRAMMAR : WEIGHT_GRAMMAR);
    char buf[256];
    if (strlen(text) >= sizeof buf)
        return lb_errorf(LB_ERR_ARG, "quantizer spec of %zu characters is too long", strlen(text));
    strcpy(buf, text);
    parse_state ps = {.text = text, .s = out};
    char *save = NULL, *field = strtok_r(buf, ":", &save);
    if (!field || strchr(text, ' ') || strstr(text, "::") || text[strlen(text) - 1] == ':')
        return lb_errorf(LB_ERR_ARG,
                         "quantizer spec \"%s\": empty field or space; write fields separated "
                         "by single ':' (e.g. int4:g128:asym)",
                         text);
    LB_TRY(parse_head(&ps, field, role));
    bool act_int = role == LB_QROLE_ACT && out->format == LB_QF_INT;
    if (act_int) {
        char *g = strtok_r(NULL, ":", &save);
        if (!g || (strcmp(g, "token") && strcmp(g, "tensor")))
            return lb_errorf(LB_ERR_ARG,
                             "activation quantizer spec \"%s\": int8 needs :token or :tensor; "
                             "allowed: %s",
                             text, ACT_GRAMMAR);
        out->gran = !strcmp(g, "token") ? LB_QG_TOKEN : LB_QG_TENSOR;
        out->mode = out->gran == LB_QG_TOKEN ? LB_QM_DYN : LB_QM_STATIC;
    }
    while ((field = strtok_r(NULL, ":", &save))) {
        if (out->format == LB_QF_NONE)
            return lb_errorf(LB_ERR_ARG, "activation quantizer spec \"%s\": \"none\" takes no fields",
                             text);
        if (lb_qspec_is_ggml(out))
            return lb_errorf(LB_ERR_ARG,
                             "quantizer spec \"%s\": llama.cpp presets take no fields (\"%s\"); "
                             "their blocks (32; q4_k, q6_k: 256) and fp16 scales are fixed",
                             text, field);
        if (act_int) LB_TRY(act_field(&ps, field));
        else if (out->format == LB_QF_INT) LB_TRY(int_field(&ps, field));
        else LB_TRY(value_grid_field(&ps, field));
    }
    if (out->format == LB_QF_INT && role == LB_QROLE_WEIGHT && out->mode == LB_QM_LSQP && out->sym)
        return lb_errorf(LB_ERR_ARG,
                         "quantizer spec \"%s\": lsq+ learns the zero point, so it needs :asym "
                         "(use :lsq for a symmetric grid)",
                         text);
    return lb_ok();
}

static const char *mode_name(lb_qmode m)
{
    switch (m) {
    case LB_QM_MINMAX: return "minmax";
    case LB_QM_MSE: return "mse";
    case LB_QM_LSQ: return "lsq";
    case LB_QM_LSQP: return "lsq+";
    case LB_QM_DYN: return "dyn";
    case LB_QM_STATIC: return "static";
    case LB_QM_PACT: return "pact";
    default: return "?";
    }
}

static const char *gran_str(const lb_qspec *s, char *g, size_t n)
{
    switch (s->gran) {
    case LB_QG_GROUP: snprintf(g, n, "g%d", s->group); break;
    case LB_QG_CHANNEL: snprintf(g, n, "ch"); break;
    case LB_QG_TENSOR: snprintf(g, n, "tensor"); break;
    case LB_QG_TOKEN: snprintf(g, n, "token"); break;
    }
    return g;
}

char *lb_qspec_format(const lb_qspec *s, char *buf, size_t n)
{
    char g[32];
    const char *sd = s->scale_f16 ? "f16" : "f32";
    if (s->format == LB_QF_NONE) {
        snprintf(buf, n, "none");
    } else if (lb_qspec_is_ggml(s)) {
        for (int i = 0; i < N_PRESETS; i++)
            if (ggml_presets[i].format == s->format) snprintf(buf, n, "%s", ggml_presets[i].name);
    } else if (s->role == LB_QROLE_ACT) {
        snprintf(buf, n, "int8:%s:%s", gran_str(s, g, sizeof g), mode_name(s->mode));
    } else if (s->format == LB_QF_INT) {
        snprintf(buf, n, "int%d:%s:%s:%s:%s", s->bits, gran_str(s, g, sizeof g),
                 s->sym ? "sym" : "asym", mode_name(s->mode), sd);
    } else {
        const char *f = s->format == LB_QF_NF4 ? "nf4" : s->format == LB_QF_FP4 ? "fp4" : "fp8";
        snprintf(buf, n, "%s:%s:%s", f, gran_str(s, g, sizeof g), sd);
    }
    return buf;
}
