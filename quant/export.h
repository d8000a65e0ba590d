/* export.h — true low-bit exports of a model (issue 5): one function per
 * format, called by `lowbit export` (train/cli/cmd_export.c) after it has
 * loaded the model (an HF dir, or a run dir with its quantizers attached)
 * and its tokenizer.
 *
 *   gguf   quant/gguf_export.c   llama.cpp's GGUF v3 (FORMATS §5)
 *
 * Every exporter writes atomically (layers/fileio.h), reads its output back
 * with its own reader and checks it before reporting success, and fills an
 * lb_export_report (size on disk, bits per weight) for the command to
 * print. Not here: loading exported files (quant/gguf_load.c, ...).
 */
#ifndef LB_QUANT_EXPORT_H
#define LB_QUANT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datasets/tokenizer.h"
#include "layers/model.h"

/* What an exporter reports: sizes for the command's summary line. */
typedef struct lb_export_report {
    size_t file_bytes;        /* size on disk of what was written (all files) */
    int64_t n_weights;        /* elements of the quantized 2-D weights */
    double weight_bits;       /* bits those elements take in the file */
    int64_t n_params;         /* elements of every tensor written */
    double bits_per_weight;   /* 8 * file_bytes / n_params (what llama.cpp prints) */
    int n_tensors;
    int n_lossless;           /* weights written from the run's own codes */
    int n_fallback;           /* weights that fell back to another type */
} lb_export_report;

/* lb_gguf_export_opts: --format gguf. */
typedef struct lb_gguf_export_opts {
    const char *out;          /* FILE.gguf */
    const char *type;         /* q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q6_k f16 bf16 f32 */
    const char *keep_type;    /* weights a quantized run kept in full precision: f32 (NULL:
                                 the default, exact), f16, bf16, or "type" (the --type) */
    const char *name;         /* general.name (NULL: the model dir's base name) */
    const char *source;       /* the --model path, for messages and the default name */
    bool quiet;               /* no per-tensor notes on stderr (fallbacks are still reported) */
} lb_gguf_export_opts;

/* lb_export_gguf: writes m (CPU, f32, quantizers attached or not) and tok
 * as GGUF v3 at o->out: llama or gpt2 metadata (§5.4), the tokenizer
 * (§5.5), tensors named as llama.cpp's converter names them (§5.6) with
 * its type policy (§5.7) and Q/K permutation (§5.8). Weights whose
 * quantizer has the grid of o->type are written from the run's own codes
 * and fp16 scales (lossless); others are quantized by the reference
 * quantizer. Rows that do not fit the block fall back to f16 and are
 * reported on stderr. The file is read back and compared before success. */
lb_status lb_export_gguf(const lb_model *m, const lb_tokenizer *tok, const lb_gguf_export_opts *o,
                         lb_export_report *r);

#endif
