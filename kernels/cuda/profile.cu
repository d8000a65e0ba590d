/* profile.cu — the op-level profiler's event bookkeeping (cuda.h,
 * lb_cuda_prof_*).
 *
 * A step is a sequence of marks, each a CUDA event recorded on the
 * context's stream. A mark with a label closes the segment that began at
 * the previous mark and charges its device time to the label; a mark
 * without one only begins a segment (what ran since the previous mark is
 * charged to nobody: a gap). Nothing here waits for the device until
 * lb_cuda_prof_step, which waits once for the step's last mark, reads the
 * times between consecutive events and adds them to per-label totals.
 * Events are created on first use and reused every step.
 *
 * Not here: where the marks are put (autograd/tape.c: one per recorded
 * forward op, two around each backward node; the bench: its phases), the
 * printed table (train/cli/cmd_bench.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/cuda_state.h"

typedef struct prof_mark {
    cudaEvent_t ev;
    char label[LB_PROF_LABEL];   /* "" for a mark that only begins a segment */
} prof_mark;

typedef struct lb_cuda_prof {
    prof_mark *marks;            /* this step's marks; events kept for reuse */
    size_t n_marks, cap_marks, n_events;
    lb_prof_row *rows;           /* totals per label, in order of first use */
    size_t n_rows, cap_rows;
} lb_cuda_prof;

static lb_cuda_prof *prof_of(lb_ctx *ctx)
{
    lb_cuda_state *s = lb_cuda_state_of(ctx);
    if (!s->prof) {
        s->prof = calloc(1, sizeof(lb_cuda_prof));
        LB_CHECKF(s->prof != NULL, "out of host memory for the profiler");
    }
    return (lb_cuda_prof *)s->prof;
}

void lb_cuda_prof_mark(lb_ctx *ctx, const char *label)
{
    lb_cuda_prof *p = prof_of(ctx);
    if (p->n_marks == p->cap_marks)
        p->marks = (prof_mark *)lb_cuda_host_grow(p->marks, &p->cap_marks, sizeof *p->marks, 1024,
                                                  "the profiler's marks");
    prof_mark *m = &p->marks[p->n_marks];
    if (p->n_marks == p->n_events) {
        LB_CUDA_CHECK(cudaEventCreate(&m->ev));
        p->n_events++;
    }
    snprintf(m->label, sizeof m->label, "%s", label ? label : "");
    LB_CUDA_CHECK(cudaEventRecord(m->ev, lb_cuda_stream(ctx)));
    p->n_marks++;
}

static lb_prof_row *row_of(lb_cuda_prof *p, const char *label)
{
    for (size_t i = 0; i < p->n_rows; i++)
        if (!strcmp(p->rows[i].label, label)) return &p->rows[i];
    if (p->n_rows == p->cap_rows)
        p->rows = (lb_prof_row *)lb_cuda_host_grow(p->rows, &p->cap_rows, sizeof *p->rows, 128,
                                                   "the profiler's table");
    lb_prof_row *r = &p->rows[p->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->label, sizeof r->label, "%s", label);
    return r;
}

void lb_cuda_prof_step(lb_ctx *ctx, bool keep)
{
    lb_cuda_prof *p = prof_of(ctx);
    if (p->n_marks == 0) return;
    LB_CUDA_CHECK(cudaEventSynchronize(p->marks[p->n_marks - 1].ev));
    for (size_t i = 1; keep && i < p->n_marks; i++) {
        if (!p->marks[i].label[0]) continue;
        float ms = 0;
        LB_CUDA_CHECK(cudaEventElapsedTime(&ms, p->marks[i - 1].ev, p->marks[i].ev));
        lb_prof_row *r = row_of(p, p->marks[i].label);
        r->calls++;
        r->ms += ms;
    }
    p->n_marks = 0;
}

size_t lb_cuda_prof_rows(lb_ctx *ctx, const lb_prof_row **rows)
{
    lb_cuda_prof *p = prof_of(ctx);
    *rows = p->rows;
    return p->n_rows;
}

void lb_cuda_prof_free(void *prof)
{
    lb_cuda_prof *p = (lb_cuda_prof *)prof;
    if (!p) return;
    for (size_t i = 0; i < p->n_events; i++) LB_CUDA_CHECK(cudaEventDestroy(p->marks[i].ev));
    free(p->marks);
    free(p->rows);
    free(p);
}
