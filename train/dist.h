/* dist.h — rank and world of a training run, and the gradient reduction.
 *
 * One process per GPU (DESIGN §7). This is the seam where the NCCL/MPI
 * backend plugs in: the trainer calls lb_dist_reduce_grads after the last
 * micro-batch's backward and before clipping, expecting every rank to hold
 * the MEAN of the ranks' gradients afterwards (each rank's grads are already
 * the mean over its own batch), and lb_dist_mean for scalars it logs.
 * Today only a world of one exists: both are no-ops, and a launch under
 * mpirun/srun with more than one rank is refused with a message.
 *
 * Not here: data sharding (batches.h takes rank and world), file writing
 * (only rank 0 writes: lb_dist_is_main).
 */
#ifndef LB_DIST_H
#define LB_DIST_H

#include <stdbool.h>

#include "autograd/ctx.h"

typedef struct lb_dist {
    int rank, world;
} lb_dist;

/* lb_dist_init: rank and world from the launcher's environment
 * (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE, SLURM_PROCID/NTASKS); a world of
 * more than one is LB_ERR_UNSUPPORTED until the distributed backend lands. */
lb_status lb_dist_init(lb_dist *d);

/* lb_dist_reduce_grads: every rank's params[i]->grad becomes the mean over
 * ranks. No-op for one rank. */
void lb_dist_reduce_grads(lb_ctx *ctx, const lb_dist *d, lb_tensor *const *params, int n);

/* lb_dist_mean: *x becomes the mean of *x over ranks. */
void lb_dist_mean(const lb_dist *d, double *x);

static inline bool lb_dist_is_main(const lb_dist *d) { return d->rank == 0; }

void lb_dist_free(lb_dist *d);

#endif
