/* train_config.h — THE configuration of a training run: one struct with
 * defaults, one field table that drives the flags, the run dir's
 * config.json (same keys as the flags, so `--config RUN/config.json` works),
 * the printout at start and the resume check.
 *
 * Life of a configuration (cmd_train.c):
 *   lb_train_config_parse   argv (+ --config FILE) -> what the user gave
 *   lb_train_config_resolve defaults or, with --resume, the run's saved
 *                           config.json, overlaid with what was given;
 *                           derived values filled (val path, micro-batch);
 *                           checked (every error names the flag)
 *   lb_train_config_print   the resolved table, at the start of the run
 *   lb_train_config_save    RUN_DIR/config.json, atomically
 *
 * On resume a flag that changes the run's meaning (model, data, batch, ctx,
 * lr and schedule, optimizer, quantization, KD, seed, steps) must equal the
 * saved value or it is an error naming the flag and both values; settings
 * that only change how the run is watched or where it runs (eval/save/log
 * cadence, device, threads, --json) may differ.
 *
 * Not here: the flags of other commands, the model's own config.json.
 */
#ifndef LB_TRAIN_CONFIG_H
#define LB_TRAIN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/status.h"

typedef struct lb_train_config {
    /* inputs and outputs */
    char *model;              /* HF model dir */
    char *data;               /* training split (.h5 from lowbit data) */
    char *val;                /* validation split; default <data>.val.h5 ("" = none) */
    char *out;                /* run dir */
    /* the batch */
    int64_t steps;            /* optimizer steps */
    int64_t batch;            /* sequences per optimizer step per rank */
    int64_t micro_batch;      /* sequences per forward; batch % micro_batch == 0 */
    int64_t ctx;              /* tokens per sequence (T); windows of T+1 are drawn */
    /* learning rate schedule */
    double lr, min_lr;
    int64_t warmup;
    char *schedule;           /* cosine | linear | constant */
    /* AdamW */
    double weight_decay, beta1, beta2, eps;
    double clip;              /* global grad-norm clip; 0 = off */
    /* quantization (QAT when wq or aq is set) */
    char *wq, *aq;            /* specs (DESIGN §4); "" = none */
    double q_lr;              /* quantizer parameters' lr; < 0: the weights' lr */
    double q_weight_decay;
    char *quantize_layers;    /* all | attn | mlp | comma list of q,k,v,o,gate,up,down,qkv */
    bool quantize_embeddings, quantize_head;
    int64_t calib_batches;    /* batches observed to calibrate static activation scales */
    /* distillation */
    bool kd;
    double kd_temperature, kd_alpha;
    /* cadence */
    int64_t eval_every, eval_windows, save_every, log_every, keep_ckpts;
    int64_t max_bad_steps;    /* consecutive non-finite losses before giving up */
    /* run */
    int64_t seed;
    char *device;             /* cpu | cuda | auto */
    int64_t threads;
    char *recompute;          /* none | blocks: per-block activation recomputation */
    bool resume, json;
} lb_train_config;

/* lb_train_config_defaults: every field at its documented default (strings
 * owned, "" where there is none). Free with lb_train_config_free. */
void lb_train_config_defaults(lb_train_config *c);

void lb_train_config_free(lb_train_config *c);

/* What the command line (and --config) gave: every field's value and
 * whether it was set. The flag parser itself lives in the program
 * (train/cli/flags.h); cmd_train.c runs it twice over the tables this file
 * makes (pass 0 and 1), which is how given bools are told from defaults. */
typedef struct lb_train_args lb_train_args;

#define LB_TRAIN_MAX_FLAGS 64

lb_train_args *lb_train_args_new(void);
void lb_train_args_free(lb_train_args *a);

/* lb_train_args_flags: fills flags[0..n) (n <= LB_TRAIN_MAX_FLAGS, returned)
 * with the train flags writing into a's slots for `pass` (0 or 1). */
struct lb_flag;
int lb_train_args_flags(lb_train_args *a, int pass, struct lb_flag *flags);

/* lb_train_config_resolve: the run's configuration (see the file comment).
 * With --resume the saved RUN_DIR/config.json is the base and the given
 * flags must agree with it where they change the run's meaning. */
lb_status lb_train_config_resolve(const lb_train_args *args, lb_train_config *c);

/* lb_train_config_print: the resolved settings as an aligned table. */
void lb_train_config_print(const lb_train_config *c, FILE *f);

/* lb_train_config_save: writes every field as a JSON object (flag names with
 * underscores) to `path`, atomically. */
lb_status lb_train_config_save(const lb_train_config *c, const char *path);

/* lb_train_config_load: reads a config written by lb_train_config_save over
 * the defaults (unknown keys are an error naming the file and the key). */
lb_status lb_train_config_load(const char *path, lb_train_config *c);

/* lb_train_config_to_json: the JSON text lb_train_config_save writes
 * (malloc'd; the caller frees). */
char *lb_train_config_to_json(const lb_train_config *c);

/* lb_train_config_is_qat: a weight or activation spec is set. */
bool lb_train_config_is_qat(const lb_train_config *c);

#endif
