/* common.h — pieces several subcommands share: device choice, the context,
 * loading a model with its tokenizer. */
#ifndef LB_CLI_COMMON_H
#define LB_CLI_COMMON_H

#include "autograd/ctx.h"
#include "datasets/tokenizer.h"
#include "layers/model.h"

/* lb_cli_ctx_init: parses --device (cpu|cuda|auto; NULL = auto) and
 * --threads (0 = library default) and initialises ctx on that device. "auto"
 * picks the GPU when lb_cuda_available(), else the CPU; an explicit "cuda"
 * without a GPU or a CUDA build is an error. */
lb_status lb_cli_ctx_init(lb_ctx *ctx, const char *device, int64_t threads);

/* lb_cli_tokenizer_path: the tokenizer a model's commands read: `tokenizer`
 * when given, else the model's own, <model>/tokenizer.json (a run dir:
 * <model>/model/tokenizer.json), written into buf[0..n). */
const char *lb_cli_tokenizer_path(const char *model, const char *tokenizer, char *buf, size_t n);

/* lb_cli_load_tokenizer: loads lb_cli_tokenizer_path(model, tokenizer) into
 * *tok; when the model's own cannot be loaded the error says to pass
 * --tokenizer. */
lb_status lb_cli_load_tokenizer(const char *model, const char *tokenizer, lb_tokenizer **tok);

/* lb_cli_load_model: loads the model at `path` (an HF or run directory, a
 * GPTQ directory or a .gguf file) into *m, moves it to ctx's device (for
 * inference: weights only; see lb_model_to_plan) and, when tok is non-NULL,
 * loads its tokenizer: `tokenizer` if given, else the .gguf file's own or
 * lb_cli_tokenizer_path's. Prints a one-line summary (and on a GPU the memory
 * plan) to stderr unless quiet. On failure nothing is left allocated. */
lb_status lb_cli_load_model(lb_ctx *ctx, const char *path, const char *tokenizer, lb_model *m,
                            lb_tokenizer **tok, bool quiet);

/* lb_cli_take_config: for commands whose --config names a model (a preset
 * or a config.json: init, bench) rather than a flags file: takes `--config X`
 * or `--config=X` out of argv[0..argc) into *spec (NULL when absent) and
 * copies the other arguments, in order, into rest (room for argc) and
 * *nrest. A --config without a value is an error naming `cmd`. */
lb_status lb_cli_take_config(const char *cmd, int argc, char **argv, const char **spec, char **rest,
                             int *nrest);

#endif
