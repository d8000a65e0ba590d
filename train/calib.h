/* calib.h — the calibration pass of static activation quantizers
 * (--aq int8:tensor:static): `lowbit train` runs it before step 0 and
 * `lowbit ptq --aq ... --data` before writing the run dir.
 *
 * The model runs forward with grad off over the first N batches of the
 * run's own data order (train/batches.h: the windows of steps 0..N-1 for
 * this seed, on every rank the same, so every rank gets the same scales)
 * while each static site observes its input (lb_quantizer_calib_observe):
 * the statistic is the absolute maximum over all N batches, not a
 * percentile, so the int8 grid never clips what calibration saw; the scale
 * is absmax / 127 and stays fixed for the run. The weight quantizers stay
 * on during the pass, so a site sees the activations of the quantized
 * network it serves (sites are observed unquantized: calibrating ones pass
 * their input through).
 *
 * Resume: the pass runs on the starting model (--model) before a
 * checkpoint is restored, with the same batches, so a resumed run
 * recomputes the scales of the uninterrupted run (bit-identical on the
 * CPU; the same deterministic kernels on CUDA). The final scales are
 * written to quant_state.safetensors ("<site>.absmax", run_quant.h).
 *
 * Not here: the observation itself (quant/quantizer.h), PACT (learned).
 */
#ifndef LB_CALIB_H
#define LB_CALIB_H

#include <stdint.h>

#include "autograd/ctx.h"
#include "layers/model.h"

/* lb_run_calib_sites: the static activation sites attached to m. */
int lb_run_calib_sites(const lb_model *m);

/* lb_run_calibrate: the pass above over n_batches batches of `batch`
 * windows of T tokens (forwards of micro_batch windows, which divides
 * batch) drawn from token file `data` with `seed`. Does nothing (and
 * returns ok) when m has no static site. Errors: n_batches < 1 with static
 * sites, the data file (batches.h), a non-finite activation (naming the
 * site and batch). On error the sites are left uncalibrated. */
lb_status lb_run_calibrate(lb_ctx *ctx, lb_model *m, const char *data, int64_t T, int64_t batch, int64_t micro_batch,
                           int64_t n_batches, uint64_t seed);

#endif
