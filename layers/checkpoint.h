/* checkpoint.h — a Hugging Face model directory's weights, single file or
 * sharded (FORMATS.md §2.1).
 *
 * lb_ckpt_open reads `model.safetensors`, or `model.safetensors.index.json`
 * and every shard it names (a missing shard, a tensor named in the index but
 * absent from its shard, or the same tensor in two shards is an error naming
 * the files). Lookups go through every shard; data stays memory-mapped.
 *
 * lb_ckpt_write writes a state dict as one file or as shards of at most
 * max_shard_bytes with an index, atomically, in the huggingface_hub layout.
 */
#ifndef LB_CHECKPOINT_H
#define LB_CHECKPOINT_H

#include "layers/safetensors.h"

typedef struct lb_ckpt {
    char *dir;
    int n_files;
    lb_st_file *files;
} lb_ckpt;

/* lb_ckpt_open: opens the weights of model directory `dir` (model.safetensors
 * is preferred when both layouts are present, as transformers does). On
 * success the caller owns *ck and releases it with lb_ckpt_close; on failure
 * *ck is zeroed and needs no cleanup. */
lb_status lb_ckpt_open(lb_ckpt *ck, const char *dir);

/* lb_ckpt_close: closes every shard; *ck is zeroed. Safe on a zeroed lb_ckpt. */
void lb_ckpt_close(lb_ckpt *ck);

/* lb_ckpt_find: the tensor called `name` in any shard, or NULL. */
const lb_st_tensor *lb_ckpt_find(const lb_ckpt *ck, const char *name);

/* lb_ckpt_write: writes entries to dir/model.safetensors, or to
 * dir/model-0000i-of-0000K.safetensors plus model.safetensors.index.json when
 * they exceed max_shard_bytes (0 = never shard), split exactly as
 * huggingface_hub does (entries taken in the given order). Creates `dir` if
 * missing; removes the other layout's stale model.safetensors / index so the
 * directory is unambiguous. Entry names must be unique across all shards. */
lb_status lb_ckpt_write(const char *dir, const lb_st_entry *entries, int n, size_t max_shard_bytes);

#endif
