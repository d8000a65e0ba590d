/* h5data_util.h — helpers shared by h5data.c and h5data_write.c; private to
 * datasets/ (not an interface for other folders). */
#ifndef LB_H5DATA_UTIL_H
#define LB_H5DATA_UTIL_H

#include "autograd/status.h"

/* lb_h5_quiet: turns off HDF5's automatic error-stack printing for this
 * process (idempotent), so users see lowbit's messages only. */
void lb_h5_quiet(void);

/* lb_h5_error: "<path>: <what> (HDF5: <innermost message of the current
 * error stack>)", then clears the stack. */
lb_status lb_h5_error(lb_code code, const char *path, const char *what);

#endif
