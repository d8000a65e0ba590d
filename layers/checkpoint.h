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

lb_status lb_ckpt_open(lb_ckpt *ck, const char *dir);
void lb_ckpt_close(lb_ckpt *ck);

/* lb_ckpt_find: the tensor called `name` in any shard, or NULL. */
const lb_st_tensor *lb_ckpt_find(const lb_ckpt *ck, const char *name);

/* lb_ckpt_write: writes entries to dir/model.safetensors, or to
 * dir/model-0000i-of-0000K.safetensors plus model.safetensors.index.json when
 * they exceed max_shard_bytes (0 = never shard). */
lb_status lb_ckpt_write(const char *dir, const lb_st_entry *entries, int n, size_t max_shard_bytes);

#endif
