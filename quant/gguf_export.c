/* gguf_export.c — lb_export_gguf (quant/export.h). */
#include "quant/export.h"

lb_status lb_export_gguf(const lb_model *m, const lb_tokenizer *tok, const lb_gguf_export_opts *o,
                         lb_export_report *r)
{
    (void)m;
    (void)tok;
    (void)r;
    return lb_errorf(LB_ERR_UNSUPPORTED, "export --format gguf to %s: the GGUF writer is being built (issue 5)",
                     o->out);
}
