/* common.c — device choice, context set-up and model loading for the CLI. */
#include "train/cli/common.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/cuda/cuda.h"
#include "quant/gptq.h"
#include "quant/gguf_load.h"
#include "train/run_quant.h"

lb_status lb_cli_ctx_init(lb_ctx *ctx, const char *device, int64_t threads)
{
    lb_device dev = LB_CPU;
    if (!device || !strcmp(device, "auto")) dev = lb_cuda_available() ? LB_CUDA : LB_CPU;
    else if (!strcmp(device, "cuda")) dev = LB_CUDA;
    else if (strcmp(device, "cpu"))
        return lb_errorf(LB_ERR_ARG, "--device must be cpu, cuda or auto, got '%s'", device);
    if (threads < 0) return lb_errorf(LB_ERR_ARG, "--threads must be >= 0, got %lld", (long long)threads);
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }
    lb_status st = lb_ctx_init(ctx, dev);
    if (lb_failed(&st)) {
        lb_ctx_free(ctx);
        return st;
    }
    ctx->n_threads = (int)threads;
    ctx->release_grads = true;   /* commands read only parameter grads after backward */
    return lb_ok();
}

const char *lb_cli_tokenizer_path(const char *model, const char *tokenizer, char *buf, size_t n)
{
    if (tokenizer) return tokenizer;
    snprintf(buf, n, "%s/%stokenizer.json", model, lb_run_dir_detect(model, NULL) ? "model/" : "");
    return buf;
}

lb_status lb_cli_load_tokenizer(const char *model, const char *tokenizer, lb_tokenizer **tok)
{
    char buf[4096];
    lb_status st = lb_tokenizer_load(lb_cli_tokenizer_path(model, tokenizer, buf, sizeof buf), tok);
    if (lb_failed(&st) && !tokenizer) return lb_status_prefix(st, "%s has no usable tokenizer (pass --tokenizer)", model);
    return st;
}

lb_status lb_cli_load_model(lb_ctx *ctx, const char *path, const char *tokenizer, lb_model *m,
                            lb_tokenizer **tok, bool quiet)
{
    if (!path) return lb_errorf(LB_ERR_ARG, "--model is required (an HF model directory)");
    struct stat sb;
    if (stat(path, &sb) != 0) return lb_errorf(LB_ERR_IO, "--model %s: no such file or directory", path);
    bool gguf = lb_path_is_gguf(path);
    if (!S_ISDIR(sb.st_mode) && !gguf)
        return lb_errorf(LB_ERR_UNSUPPORTED, "--model %s: expected an HF model directory, a run directory, a GPTQ "
                         "directory or a .gguf file", path);
    lb_tokenizer *file_tok = NULL; /* a .gguf file carries its tokenizer */
    if (gguf) LB_TRY(lb_model_load_gguf(path, m, tok && !tokenizer ? &file_tok : NULL)); /* weights stay packed */
    else if (lb_gptq_detect(path)) LB_TRY(lb_model_load_gptq(m, path)); /* quantized linears stay packed */
    else LB_TRY(lb_run_model_load(m, path)); /* an HF dir, or a run dir with its quantizers */
    /* eval/generate on the CPU: the weights are fixed, so quantize them once
     * instead of on every forward (per generated token). The GPU keeps its
     * fused fake-quant pass, whose output is the same bf16(w^). */
    if (ctx->device == LB_CPU) lb_run_bake_weights(m);
    if (tok && file_tok) {
        *tok = file_tok;
    } else if (tok) {
        lb_status st = lb_cli_load_tokenizer(path, tokenizer, tok);
        if (lb_failed(&st)) {
            lb_model_free(m);
            return st;
        }
        if (lb_tokenizer_vocab_size(*tok) > m->cfg.vocab_size) {
            char buf[4096];
            const char *tp = lb_cli_tokenizer_path(path, tokenizer, buf, sizeof buf);
            lb_status e = lb_errorf(LB_ERR_SHAPE, "%s: tokenizer has %lld tokens but the model's vocab_size is %lld",
                                    tp, (long long)lb_tokenizer_vocab_size(*tok), (long long)m->cfg.vocab_size);
            lb_tokenizer_free(*tok);
            *tok = NULL;
            lb_model_free(m);
            return e;
        }
    }
    if (!quiet)
        fprintf(stderr, "model: %s (%s, %lld layers, hidden %lld, vocab %lld, %.2fM params) on %s\n", path,
                m->cfg.model_type, (long long)m->cfg.n_layers, (long long)m->cfg.hidden_size,
                (long long)m->cfg.vocab_size, (double)lb_config_n_params(&m->cfg) / 1e6,
                lb_device_name(ctx->device));
    if (!quiet && m->packed_ops) /* a low-bit file: its weights stay packed */
        fprintf(stderr, "model: %.2f MiB of packed low-bit weights, decoded one matrix at a time\n",
                (double)lb_model_packed_bytes(m) / (1024.0 * 1024.0));
    /* inference: weights and their bf16 copies only, no grads or optimizer state */
    lb_status st = lb_model_to_plan(ctx, m, ctx->device, 0, quiet);
    if (lb_failed(&st)) {
        if (tok && *tok) {
            lb_tokenizer_free(*tok);
            *tok = NULL;
        }
        lb_model_free(m);
        return st;
    }
    return lb_ok();
}

lb_status lb_cli_take_config(const char *cmd, int argc, char **argv, const char **spec, char **rest,
                             int *nrest)
{
    *spec = NULL;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--config=", 9)) *spec = argv[i] + 9;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return lb_errorf(LB_ERR_ARG, "%s: --config needs a preset name or a config.json file", cmd);
            *spec = argv[++i];
        } else rest[(*nrest)++] = argv[i];
    }
    return lb_ok();
}
