/* trainer.h — the training loop of `lowbit train` (fine-tuning and QAT).
 *
 * One optimizer step (s = 0 .. steps-1, logged as step s+1):
 *   zero grads; for each of batch/micro_batch micro-batches: forward on
 *   (M, T) ids, loss = CE (or α·KD + (1−α)·CE), backward of loss·M/B
 *   (grads accumulate, so they end as the gradient of the step's mean loss);
 *   lb_dist_reduce_grads; loss or global grad norm non-finite -> the step is
 *   skipped (no update, a "skipped" metrics line; max_bad_steps in a row is
 *   an error, the last good checkpoint stays); clip to `clip` by global
 *   norm (weights and quantizer parameters together); AdamW on the weights
 *   (lr from the schedule) and on the quantizer parameters (q_lr scaled by
 *   the same schedule factor).
 * Everything a resumed run needs is in the checkpoint (run_ckpt.h); the
 * data order is a function of (seed, step) (batches.h), so a run killed at
 * any point and resumed from ckpt-k computes steps k+1.. exactly as an
 * uninterrupted run does (bit-identical on the CPU).
 *
 * The run directory (DESIGN §5): config.json, metrics.jsonl, ckpt-<step>.h5
 * (the newest keep_ckpts), and at the end model/ (HF dir: config.json,
 * f32 model.safetensors, the tokenizer files of --model) plus, for QAT,
 * quant_state.safetensors (run_quant.h). Only rank 0 writes.
 *
 * Not here: flag parsing (train_config.h), the CLI (cmd_train.c).
 */
#ifndef LB_TRAINER_H
#define LB_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "train/train_config.h"

typedef struct lb_train_result {
    int64_t steps;           /* steps done in total (including before a resume) */
    int64_t resumed_from;    /* checkpoint step resumed from, or -1 */
    double last_loss;        /* last finite training loss, NaN if none */
    bool has_eval;
    double eval_ppl, eval_nll;
    int64_t eval_windows;
    double seconds;
    double tokens_per_s;
} lb_train_result;

/* lb_train_run: runs (or resumes) the run described by the resolved config
 * `c` on ctx's device. Prints the config, memory plan and progress to stderr
 * unless quiet. */
lb_status lb_train_run(lb_ctx *ctx, const lb_train_config *c, bool quiet, lb_train_result *res);

#endif
