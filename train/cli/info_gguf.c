/* info_gguf.c — `lowbit info FILE.gguf` (info_gguf.h). */
#include "train/cli/info_gguf.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "quant/gguf.h"
#include "train/cli/flags.h"

/* num: element i of a numeric kv as a double */
static double num(const lb_gguf_kv *kv, uint64_t i)
{
    const void *p = kv->num;
    switch (kv->elem_type) {
    case LB_GGUF_U8: return ((const uint8_t *)p)[i];
    case LB_GGUF_I8: return ((const int8_t *)p)[i];
    case LB_GGUF_U16: return ((const uint16_t *)p)[i];
    case LB_GGUF_I16: return ((const int16_t *)p)[i];
    case LB_GGUF_U32: return ((const uint32_t *)p)[i];
    case LB_GGUF_I32: return ((const int32_t *)p)[i];
    case LB_GGUF_F32: return ((const float *)p)[i];
    case LB_GGUF_BOOL: return ((const uint8_t *)p)[i];
    case LB_GGUF_U64: return (double)((const uint64_t *)p)[i];
    case LB_GGUF_I64: return (double)((const int64_t *)p)[i];
    default: return ((const double *)p)[i];
    }
}

static void print_value(const lb_gguf_kv *kv, uint64_t i)
{
    if (kv->elem_type == LB_GGUF_STRING) {
        const char *s = kv->str[i];
        size_t n = kv->str_len[i];
        printf("\"%.*s%s\"", (int)(n > 60 ? 60 : n), s, n > 60 ? "..." : "");
    } else if (kv->elem_type == LB_GGUF_BOOL) {
        printf("%s", num(kv, i) != 0 ? "true" : "false");
    } else {
        printf("%.9g", num(kv, i));
    }
}

static double bits_per_weight(const lb_gguf_tensor *t)
{
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    return n ? 8.0 * (double)t->nbytes / (double)n : 0.0;
}

static void print_text(const lb_gguf *g)
{
    int64_t params = 0;
    uint64_t bytes = 0;
    printf("%s: GGUF version %u, %lld tensors, %lld metadata keys, alignment %u, %zu bytes\n", g->path, g->version,
           (long long)g->n_t, (long long)g->n_kv, g->alignment, g->map_len);
    printf("\nmetadata:\n");
    for (int64_t i = 0; i < g->n_kv; i++) {
        const lb_gguf_kv *kv = &g->kv[i];
        if (kv->type == LB_GGUF_ARRAY) {
            printf("  %-44s [%s x %llu] ", kv->key, lb_gguf_vtype_name(kv->elem_type), (unsigned long long)kv->n);
            for (uint64_t k = 0; k < kv->n && k < 4; k++) {
                print_value(kv, k);
                printf(k + 1 < kv->n ? ", " : "");
            }
            printf("%s\n", kv->n > 4 ? "..." : "");
        } else {
            printf("  %-44s %-8s ", kv->key, lb_gguf_vtype_name(kv->type));
            print_value(kv, 0);
            printf("\n");
        }
    }
    printf("\n%-40s %-6s %-24s %14s %8s\n", "tensor", "type", "ne (innermost first)", "bytes", "bits/w");
    for (int64_t i = 0; i < g->n_t; i++) {
        const lb_gguf_tensor *t = &g->t[i];
        const char *tn = "?";
        lb_ggml_type_info(t->type, NULL, NULL, &tn);
        char dims[64] = "";
        for (uint32_t d = 0; d < t->n_dims; d++)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        printf("%-40s %-6s [%-22s] %14" PRIu64 " %8.3f\n", t->name, tn, dims, t->nbytes, bits_per_weight(t));
        params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        bytes += t->nbytes;
    }
    printf("\ntotal: %.3fM weights in %.2f MiB of tensor data: %.3f bits per weight (%.3f counting the whole file)\n",
           (double)params / 1e6, (double)bytes / (1024.0 * 1024.0), params ? 8.0 * (double)bytes / (double)params : 0.0,
           params ? 8.0 * (double)g->map_len / (double)params : 0.0);
}

static cJSON *value_json(const lb_gguf_kv *kv, uint64_t i)
{
    if (kv->elem_type == LB_GGUF_STRING) return cJSON_CreateString(kv->str[i]);
    if (kv->elem_type == LB_GGUF_BOOL) return cJSON_CreateBool(num(kv, i) != 0);
    return cJSON_CreateNumber(num(kv, i));
}

static void print_json(const lb_gguf *g)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *ts = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "kind", "gguf");
    cJSON_AddStringToObject(root, "path", g->path);
    cJSON_AddNumberToObject(root, "version", g->version);
    cJSON_AddNumberToObject(root, "alignment", g->alignment);
    cJSON_AddNumberToObject(root, "file_bytes", (double)g->map_len);
    for (int64_t i = 0; i < g->n_kv; i++) {
        const lb_gguf_kv *kv = &g->kv[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", lb_gguf_vtype_name(kv->type));
        if (kv->type == LB_GGUF_ARRAY) {
            cJSON_AddStringToObject(o, "elem_type", lb_gguf_vtype_name(kv->elem_type));
            cJSON_AddNumberToObject(o, "n", (double)kv->n);
            cJSON *head = cJSON_AddArrayToObject(o, "head");
            for (uint64_t k = 0; k < kv->n && k < 8; k++) cJSON_AddItemToArray(head, value_json(kv, k));
        } else {
            cJSON_AddItemToObject(o, "value", value_json(kv, 0));
        }
        cJSON_AddItemToObject(meta, kv->key, o);
    }
    double params = 0, bytes = 0;
    for (int64_t i = 0; i < g->n_t; i++) {
        const lb_gguf_tensor *t = &g->t[i];
        const char *tn = "?";
        lb_ggml_type_info(t->type, NULL, NULL, &tn);
        cJSON *o = cJSON_CreateObject(), *ne = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "type", tn);
        for (uint32_t d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(ne, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddItemToObject(o, "ne", ne);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(o, "bits_per_weight", bits_per_weight(t));
        cJSON_AddItemToArray(ts, o);
        params += (double)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        bytes += (double)t->nbytes;
    }
    cJSON_AddItemToObject(root, "metadata", meta);
    cJSON_AddItemToObject(root, "tensors", ts);
    cJSON_AddNumberToObject(root, "n_weights", params);
    cJSON_AddNumberToObject(root, "tensor_bytes", bytes);
    cJSON_AddNumberToObject(root, "bits_per_weight", params > 0 ? 8.0 * bytes / params : 0.0);
    char *s = cJSON_Print(root);
    printf("%s\n", s ? s : "{}");
    cJSON_free(s);
    cJSON_Delete(root);
}

int lb_info_gguf(const char *path, bool json)
{
    lb_gguf *g;
    lb_status st = lb_gguf_open(path, &g);
    if (lb_failed(&st)) return lb_cli_error(&st);
    if (json) print_json(g);
    else print_text(g);
    lb_gguf_free(g);
    return 0;
}
