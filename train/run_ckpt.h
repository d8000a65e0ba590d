/* run_ckpt.h — training checkpoints: RUN_DIR/ckpt-<step>.h5.
 *
 * An HDF5 file (readable by h5py) holding everything a run needs to go on
 * exactly as if it had not stopped:
 *   root attributes  format = "lowbit-run-checkpoint", format_version = 1,
 *                    step (updates done), next_draw (the data position,
 *                    batches.h), bad_streak (non-finite losses in a row),
 *                    rng_state, config (the run's config.json text)
 *   /params/<name>   f32, the master weights and learnable quantizer
 *                    parameters, by their names (HF names; "<w>.wq_scale")
 *   /optim/<group>   attribute t (AdamW steps taken); m/<name>, v/<name>
 *                    f32 for each parameter of the group
 *   /history/loss    f64 (step): the training loss of every step so far
 *                    (NaN for a skipped step)
 * Written atomically: a temporary file beside the target, fsync, rename,
 * directory fsync; a crash leaves the previous checkpoints intact.
 *
 * Loading checks the format and version and that the file holds exactly the
 * run's tensors with the run's shapes; any difference is an LB_ERR_FORMAT /
 * LB_ERR_SHAPE naming the file, the tensor and both shapes. Every check runs
 * before any tensor is read, so a mismatched file changes nothing in memory;
 * an I/O error while reading is reported and leaves a partial state (the
 * caller must not continue then).
 *
 * Not here: the final model export (trainer.c writes RUN_DIR/model/).
 */
#ifndef LB_RUN_CKPT_H
#define LB_RUN_CKPT_H

#include <stdint.h>

#include "autograd/ctx.h"
#include "train/optim.h"

#define LB_RUN_CKPT_FORMAT "lowbit-run-checkpoint"
#define LB_RUN_CKPT_VERSION 1

typedef struct lb_run_state {
    int64_t step;            /* updates done */
    int64_t next_draw;       /* data position */
    int64_t bad_streak;
    uint64_t rng_state;
    double *losses;          /* (step) malloc'd by load; borrowed by save */
} lb_run_state;

/* An optimizer group: its name ("weights", "quant") and state. */
typedef struct lb_run_optim {
    const char *name;
    lb_adamw *opt;
} lb_run_optim;

/* lb_run_ckpt_save: writes `path` atomically. params[0..n) are saved by
 * their ->name (unique, no '/'); each optimizer's m/v by its params' names. */
lb_status lb_run_ckpt_save(lb_ctx *ctx, const char *path, const lb_run_state *st, lb_tensor *const *params,
                           int n, const lb_run_optim *opts, int n_opts, const char *config_json);

/* lb_run_ckpt_load: validates `path` against params/opts (see above) and
 * reads it into them (device-agnostic) and *st (losses malloc'd; free with
 * free()). */
lb_status lb_run_ckpt_load(lb_ctx *ctx, const char *path, lb_run_state *st, lb_tensor *const *params, int n,
                           const lb_run_optim *opts, int n_opts);

/* lb_run_ckpt_latest: the newest ckpt-<step>.h5 in dir: its step (-1 when
 * there is none) and malloc'd path (NULL when none). */
lb_status lb_run_ckpt_latest(const char *dir, int64_t *step, char **path);

/* lb_run_ckpt_prune: removes all but the `keep` newest checkpoints of dir. */
void lb_run_ckpt_prune(const char *dir, int64_t keep);

#endif
