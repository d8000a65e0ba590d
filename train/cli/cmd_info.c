/* cmd_info.c — `lowbit info PATH` / `lowbit info --file PATH`: describes a
 * .safetensors file (tensors, dtypes, shapes, sizes, metadata), a Hugging
 * Face model directory (config summary, shards, tensors, parameter count) or
 * an HDF5 token file (through lb_h5_info_print). `--json` prints one JSON
 * object on stdout instead of the table.
 *
 * This command only reads; it never converts or validates a model against its
 * config (lowbit eval does that). GGUF is not supported yet.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/h5data.h"
#include "layers/checkpoint.h"
#include "layers/config.h"
#include "layers/fileio.h"
#include "layers/json_util.h"
#include "quant/gptq.h"
#include "train/cli/commands.h"
#include "train/cli/info_gguf.h"

/* The weights being described: one file, or a checkpoint's shards. */
typedef struct info_src {
    const char *path;
    int is_dir;
    int n_files;
    const lb_st_file *files;
} info_src;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static uint64_t tensor_numel(const lb_st_tensor *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

/* 1234567 -> "1,234,567" */
static const char *with_commas(uint64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void shape_text(const lb_st_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void print_config_text(const char *dir)
{
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    struct stat sb;
    if (stat(cfg_path, &sb) != 0) {
        printf("config:   (no config.json)\n");
        return;
    }
    lb_model_config c;
    lb_status st = lb_config_load(dir, &c);
    if (lb_failed(&st)) {
        printf("config:   not understood by lowbit: %s\n", st.msg);
        return;
    }
    char np[32];
    printf("config:   %s: hidden %lld, layers %lld, heads %lld (kv %lld), head_dim %lld, intermediate %lld,\n"
           "          vocab %lld, max positions %lld, tied embeddings %s; %s parameters implied\n",
           c.model_type, (long long)c.hidden_size, (long long)c.n_layers, (long long)c.n_heads,
           (long long)c.n_kv_heads, (long long)c.head_dim, (long long)c.intermediate_size,
           (long long)c.vocab_size, (long long)c.max_pos, c.tie_embeddings ? "yes" : "no",
           with_commas((uint64_t)lb_config_n_params(&c), np, sizeof np));
}

/* Columns of a name as printed: control bytes become \xNN (4 columns), a
 * UTF-8 sequence counts as one. */
static int name_cols(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += *p < 0x20 || *p == 0x7f ? 4 : (*p & 0xc0) != 0x80;
    return w;
}

static void print_name(const char *s, int width)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
    for (int w = name_cols(s); w < width; w++) putchar(' ');
}

/* Each distinct metadata pair once (shards usually all say format = pt). */
static void print_metadata(const info_src *s)
{
    for (int f = 0; f < s->n_files; f++)
        for (int m = 0; m < s->files[f].n_meta; m++) {
            const char *k = s->files[f].meta_keys[m], *v = s->files[f].meta_values[m];
            bool seen = false;
            for (int g = 0; g < f && !seen; g++) {
                const char *gv = lb_st_meta(&s->files[g], k);
                seen = gv && !strcmp(gv, v);
            }
            if (!seen) printf("metadata: %s = %s\n", k, v);
        }
}

/* print_gptq_text: the GPTQ settings of a GPTQ dir (quant/gptq.h), or
 * why they cannot be read. */
static void print_gptq_text(const char *dir)
{
    if (!lb_gptq_detect(dir)) return;
    lb_gptq_config c;
    lb_status st = lb_gptq_config_load(dir, &c);
    if (lb_failed(&st)) printf("gptq:     unreadable: %s\n", st.msg);
    else
        printf("gptq:     %d-bit, group_size %d, %s, checkpoint_format %s, desc_act %s, lm_head %s\n", c.bits,
               c.group_size, c.sym ? "sym" : "asym", c.v2 ? "gptq_v2" : "gptq", c.desc_act ? "true" : "false",
               c.lm_head ? "true" : "false");
}

static void print_text(const info_src *s)
{
    int name_w = 4, dtype_w = 5, n_tensors = 0;
    uint64_t params = 0, bytes = 0;
    for (int f = 0; f < s->n_files; f++)
        for (int i = 0; i < s->files[f].n; i++) {
            const lb_st_tensor *t = &s->files[f].tensors[i];
            int w = name_cols(t->name), dw = (int)strlen(t->dtype_str);
            if (w > name_w) name_w = w > 64 ? 64 : w;
            if (dw > dtype_w) dtype_w = dw;
            params += tensor_numel(t);
            bytes += t->nbytes;
            n_tensors++;
        }
    printf("%s: %s\n", s->path, s->is_dir ? "Hugging Face model directory" : "safetensors file");
    if (s->is_dir) print_config_text(s->path);
    if (s->is_dir) print_gptq_text(s->path);
    if (s->is_dir && s->n_files > 1) {
        printf("shards:   %d (model.safetensors.index.json)\n", s->n_files);
        for (int f = 0; f < s->n_files; f++)
            printf("  [%d] %s  %d tensors, %.2f MiB\n", f + 1, base_name(s->files[f].path), s->files[f].n,
                   (double)s->files[f].size / 1048576.0);
    }
    print_metadata(s);
    printf("\n  ");
    print_name("name", name_w);
    printf("  %-*s  %-20s  %10s%s\n", dtype_w, "dtype", "shape", "MiB", s->n_files > 1 ? "  shard" : "");
    for (int f = 0; f < s->n_files; f++)
        for (int i = 0; i < s->files[f].n; i++) {
            const lb_st_tensor *t = &s->files[f].tensors[i];
            char sh[160];
            shape_text(t, sh, sizeof sh);
            printf("  ");
            print_name(t->name, name_w);
            printf("  %-*s  %-20s  %10.2f", dtype_w, t->dtype_str, sh, (double)t->nbytes / 1048576.0);
            if (s->n_files > 1) printf("  %d", f + 1);
            printf("\n");
        }
    char np[32], nb[32];
    printf("\ntotal:    %d tensors, %s parameters, %s bytes (%.2f MiB)\n", n_tensors,
           with_commas(params, np, sizeof np), with_commas(bytes, nb, sizeof nb), (double)bytes / 1048576.0);
}

static cJSON *config_json(const char *dir)
{
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    struct stat sb;
    if (stat(cfg_path, &sb) != 0) return cJSON_CreateNull();
    lb_model_config c;
    lb_status st = lb_config_load(dir, &c);
    cJSON *o = cJSON_CreateObject();
    if (lb_failed(&st)) {
        cJSON_AddStringToObject(o, "error", st.msg);
        return o;
    }
    cJSON_AddStringToObject(o, "model_type", c.model_type);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c.hidden_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c.n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)c.n_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)c.n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)c.head_dim);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c.intermediate_size);
    cJSON_AddNumberToObject(o, "vocab_size", (double)c.vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c.max_pos);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c.tie_embeddings);
    cJSON_AddNumberToObject(o, "n_params_implied", (double)lb_config_n_params(&c));
    return o;
}

/* One JSON object: path, kind, files, metadata, config (dirs), tensors,
 * totals. Byte counts are exact below 2^53. */
static int print_json(const info_src *s)
{
    cJSON *root = cJSON_CreateObject(), *files = cJSON_CreateArray(), *tensors = cJSON_CreateArray();
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", s->path);
    cJSON_AddStringToObject(root, "kind", s->is_dir ? "model_dir" : "safetensors");
    if (s->is_dir) cJSON_AddItemToObject(root, "config", config_json(s->path));
    if (s->is_dir && lb_gptq_detect(s->path)) {
        lb_gptq_config gc;
        lb_status gst = lb_gptq_config_load(s->path, &gc);
        if (!lb_failed(&gst)) cJSON_AddItemToObject(root, "gptq", lb_gptq_config_json(&gc));
    }
    uint64_t params = 0, bytes = 0;
    int n = 0;
    for (int f = 0; f < s->n_files; f++) {
        const lb_st_file *sf = &s->files[f];
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "path", sf->path);
        cJSON_AddNumberToObject(fo, "bytes", (double)sf->size);
        cJSON_AddNumberToObject(fo, "n_tensors", sf->n);
        cJSON_AddItemToArray(files, fo);
        for (int m = 0; m < sf->n_meta; m++)
            if (!cJSON_GetObjectItemCaseSensitive(meta, sf->meta_keys[m]))
                cJSON_AddStringToObject(meta, sf->meta_keys[m], sf->meta_values[m]);
        for (int i = 0; i < sf->n; i++) {
            const lb_st_tensor *t = &sf->tensors[i];
            cJSON *to = cJSON_CreateObject(), *shape = cJSON_CreateArray();
            cJSON_AddStringToObject(to, "name", t->name);
            cJSON_AddStringToObject(to, "dtype", t->dtype_str);
            for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
            cJSON_AddItemToObject(to, "shape", shape);
            cJSON_AddNumberToObject(to, "bytes", (double)t->nbytes);
            cJSON_AddStringToObject(to, "file", base_name(sf->path));
            cJSON_AddItemToArray(tensors, to);
            params += tensor_numel(t);
            bytes += t->nbytes;
            n++;
        }
    }
    cJSON_AddItemToObject(root, "files", files);
    cJSON_AddItemToObject(root, "metadata", meta);
    cJSON_AddItemToObject(root, "tensors", tensors);
    cJSON_AddNumberToObject(root, "n_tensors", n);
    cJSON_AddNumberToObject(root, "n_params", (double)params);
    cJSON_AddNumberToObject(root, "total_bytes", (double)bytes);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        lb_status st = lb_errorf(LB_ERR_OOM, "info: out of memory printing JSON");
        return lb_cli_error(&st);
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int describe(const char *path, bool json);

static bool file_exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

/* The last line of dir/metrics.jsonl that parses, or NULL (caller deletes). */
static cJSON *last_metrics(const char *dir)
{
    char p[4096], *data = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    lb_status st = lb_read_file(p, &data, &len);
    if (lb_failed(&st)) return NULL;
    cJSON *last = NULL;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (j) {
            cJSON_Delete(last);
            last = j;
        }
    }
    free(data);
    return last;
}

/* A run directory (lowbit train / ptq): its resolved config, the last
 * metrics line and the quantizer state, then the final model in model/. */
static int describe_run(const char *path, bool json)
{
    char cfg_path[4096], model_dir[4096], qs_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
    snprintf(model_dir, sizeof model_dir, "%s/model", path);
    snprintf(qs_path, sizeof qs_path, "%s/quant_state.safetensors", path);
    cJSON *cfg = NULL;
    lb_status st = lb_json_load(cfg_path, &cfg);
    if (lb_failed(&st)) return lb_cli_error(&st);
    cJSON *last = last_metrics(path);
    int n_q = 0;
    const char *spec = NULL;
    lb_st_file qs = {0};
    bool have_qs = file_exists(path, "quant_state.safetensors");
    if (have_qs) {
        st = lb_st_open(&qs, qs_path);
        if (lb_failed(&st)) {
            cJSON_Delete(cfg);
            cJSON_Delete(last);
            return lb_cli_error(&st);
        }
        for (int i = 0; i < qs.n_meta; i++)
            if (ends_with(qs.meta_keys[i], ".weight")) { /* one spec per quantized weight */
                n_q++;
                spec = qs.meta_values[i];
            }
    }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "path", path);
        cJSON_AddStringToObject(root, "kind", "run_dir");
        cJSON_AddItemToObject(root, "config", cfg);
        cJSON_AddItemToObject(root, "last_metrics", last ? last : cJSON_CreateNull());
        cJSON_AddNumberToObject(root, "quantized_weights", n_q);
        cJSON_AddStringToObject(root, "model_dir", model_dir);
        char *text = cJSON_PrintUnformatted(root);
        puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        printf("%s: lowbit run directory\n", path);
        static const char *keys[] = {"steps", "batch", "ctx", "lr", "wq", "aq", "kd", "device", "method"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const cJSON *v = cJSON_GetObjectItem(cfg, keys[i]);
            if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) continue;
            char *t = cJSON_PrintUnformatted(v);
            printf("  %-18s %s\n", keys[i], t);
            free(t);
        }
        if (last) {
            char *t = cJSON_PrintUnformatted(last);
            printf("  %-18s %s\n", "last metrics", t);
            free(t);
        }
        if (have_qs) printf("  %-18s %d quantized weights (e.g. %s)\n", "quant_state", n_q, spec ? spec : "-");
        printf("\n");
        cJSON_Delete(cfg);
        cJSON_Delete(last);
    }
    if (have_qs) lb_st_close(&qs);
    return json ? 0 : describe(model_dir, false);
}

static int describe(const char *path, bool json)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return lb_cli_error(&st);
    }
    info_src src = {path, S_ISDIR(sb.st_mode), 0, NULL};
    lb_status st;
    if (src.is_dir && file_exists(path, "model/config.json") && file_exists(path, "config.json"))
        return describe_run(path, json);
    if (src.is_dir) {
        lb_ckpt ck;
        st = lb_ckpt_open(&ck, path);
        if (lb_failed(&st)) return lb_cli_error(&st);
        src.n_files = ck.n_files;
        src.files = ck.files;
        int rc = json ? print_json(&src) : (print_text(&src), 0);
        lb_ckpt_close(&ck);
        return rc;
    }
    if (ends_with(path, ".safetensors")) {
        lb_st_file f;
        st = lb_st_open(&f, path);
        if (lb_failed(&st)) return lb_cli_error(&st);
        src.n_files = 1;
        src.files = &f;
        int rc = json ? print_json(&src) : (print_text(&src), 0);
        lb_st_close(&f);
        return rc;
    }
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) {
        st = lb_h5_info_print(path, stdout, json);
        return lb_failed(&st) ? lb_cli_error(&st) : 0;
    }
    if (ends_with(path, ".gguf")) return lb_info_gguf(path, json);
    st = lb_errorf(LB_ERR_ARG, "%s: cannot tell what this is (expected a .safetensors, .h5 or .gguf file, or a model directory)",
                       path);
    return lb_cli_error(&st);
}

int lb_cmd_info(int argc, char **argv)
{
    const char *file = NULL;
    bool json = false, help = false;
    lb_flag_store store = {0};
    const lb_flag flags[] = {
        {"file", LB_FLAG_STR, &file, "a .safetensors, .h5/.hdf5 or .gguf file or a Hugging Face model directory"},
        {"json", LB_FLAG_BOOL, &json, "print one JSON object instead of a table"},
    };
    const lb_cli_cmd cmd = {"info", "describe a safetensors file, an HDF5 token file, a GGUF file or a model directory",
                            "lowbit info PATH [--json]  (or --file PATH)", flags, 2, &store};
    /* One positional PATH is allowed (not a flag, not the value of --file or
     * --config); the rest goes to the shared parser. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    const char *positional = NULL;
    int n_rest = 0, rc = 1;
    lb_status st = lb_ok();
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-' && !positional) {
            positional = argv[i];
            continue;
        }
        rest[n_rest++] = argv[i];
        if ((!strcmp(argv[i], "--file") || !strcmp(argv[i], "--config")) && i + 1 < argc) rest[n_rest++] = argv[++i];
    }
    st = lb_flags_parse(&cmd, n_rest, rest, &help);
    if (lb_failed(&st)) {
        rc = lb_cli_error(&st);
        goto free_args;
    }
    if (help) {
        lb_flags_help(&cmd, stdout);
        rc = 0;
        goto free_args;
    }
    if (file && positional) st = lb_errorf(LB_ERR_ARG, "info: give the path once (either PATH or --file PATH)");
    else if (!file && !positional) st = lb_errorf(LB_ERR_ARG, "info: which file? usage: lowbit info PATH [--json]");
    rc = lb_failed(&st) ? lb_cli_error(&st) : describe(file ? file : positional, json);
free_args:
    free(rest);
    lb_flag_store_free(&store);
    return rc;
}
