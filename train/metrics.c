/* metrics.c — metrics.jsonl (see metrics.h). */
#include "train/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/fileio.h"

typedef struct keep_ctx {
    const char *text;
    int64_t upto;
} keep_ctx;

static lb_status write_kept(FILE *fp, void *ud)
{
    const keep_ctx *k = ud;
    const char *p = k->text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl) break;                              /* incomplete last line */
        size_t n = (size_t)(nl - p);
        char *line = strndup(p, n);
        if (!line) return lb_errorf(LB_ERR_OOM, "out of memory");
        cJSON *o = cJSON_Parse(line);
        cJSON *s = o ? cJSON_GetObjectItem(o, "step") : NULL;
        if (s && cJSON_IsNumber(s) && s->valuedouble <= (double)k->upto) fprintf(fp, "%s\n", line);
        cJSON_Delete(o);
        free(line);
        p = nl + 1;
    }
    return lb_ok();
}

lb_status lb_metrics_open(lb_metrics *m, const char *path, int64_t keep_upto)
{
    memset(m, 0, sizeof *m);
    if (keep_upto >= 0 && access(path, F_OK) == 0) {
        char *text = NULL;
        LB_TRY(lb_read_file(path, &text, NULL));
        keep_ctx k = {text, keep_upto};
        lb_status st = lb_atomic_write(path, write_kept, &k);
        free(text);
        LB_TRY(st);
    }
    m->fp = fopen(path, keep_upto >= 0 ? "a" : "w");
    if (!m->fp) return lb_errorf(LB_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    m->path = strdup(path);
    return lb_ok();
}

static lb_status put(lb_metrics *m, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    LB_CHECK(s != NULL);
    int rc = fprintf(m->fp, "%s\n", s);
    free(s);
    if (rc < 0 || fflush(m->fp) != 0) return lb_errorf(LB_ERR_IO, "%s: write failed: %s", m->path, strerror(errno));
    return lb_ok();
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

lb_status lb_metrics_step(lb_metrics *m, const lb_step_metrics *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)s->step);
    add_num(o, "loss", s->skipped ? NAN : s->loss);
    add_num(o, "lr", s->lr);
    add_num(o, "grad_norm", s->grad_norm);
    add_num(o, "tokens_per_s", s->tokens_per_s);
    add_num(o, "rss_mb", s->rss_mb);
    add_num(o, "gpu_mb", s->gpu_mb);
    cJSON_AddBoolToObject(o, "skipped", s->skipped);
    if (s->skipped && s->reason) cJSON_AddStringToObject(o, "reason", s->reason);
    return put(m, o);
}

lb_status lb_metrics_eval(lb_metrics *m, int64_t step, double ppl, double nll, int64_t windows, int64_t ctx)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON *e = cJSON_AddObjectToObject(o, "eval");
    add_num(e, "ppl", ppl);
    add_num(e, "nll", nll);
    cJSON_AddNumberToObject(e, "windows", (double)windows);
    cJSON_AddNumberToObject(e, "ctx", (double)ctx);
    return put(m, o);
}

void lb_metrics_close(lb_metrics *m)
{
    if (!m) return;
    if (m->fp) fclose(m->fp);
    free(m->path);
    memset(m, 0, sizeof *m);
}

double lb_rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long long size = 0, rss = 0;
    int n = fscanf(f, "%lld %lld", &size, &rss);
    fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0) : 0;
}
