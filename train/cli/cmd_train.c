/* cmd_train.c — `lowbit train`: fine-tuning and QAT into a run directory.
 *
 * The flags, their defaults and the resume rules are train/train_config.h's
 * (one table); the loop is train/trainer.h's. This file only wires them to
 * the device and prints the result.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/trainer.h"

static void print_result(const lb_train_config *c, const lb_train_result *r)
{
    if (!c->json) {
        printf("trained %lld steps into %s: last loss %.4f", (long long)r->steps, c->out, r->last_loss);
        if (r->has_eval) printf(", val ppl %.4f", r->eval_ppl);
        printf(" (%.1f s, %.0f tokens/s)\n", r->seconds, r->tokens_per_s);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_dir", c->out);
    cJSON_AddNumberToObject(o, "steps", (double)r->steps);
    if (r->resumed_from >= 0) cJSON_AddNumberToObject(o, "resumed_from", (double)r->resumed_from);
    if (isfinite(r->last_loss)) cJSON_AddNumberToObject(o, "loss", r->last_loss);
    else cJSON_AddNullToObject(o, "loss");
    if (r->has_eval) {
        cJSON_AddNumberToObject(o, "val_ppl", r->eval_ppl);
        cJSON_AddNumberToObject(o, "val_nll", r->eval_nll);
        cJSON_AddNumberToObject(o, "val_windows", (double)r->eval_windows);
    }
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

/* parse: the flags into *args (see lb_train_args_flags: two passes). */
static lb_status parse(int argc, char **argv, lb_train_args *args, lb_flag_store *store, bool *help)
{
    lb_flag flags[LB_TRAIN_MAX_FLAGS];
    for (int pass = 0; pass < 2; pass++) {
        int n = lb_train_args_flags(args, pass, flags);
        const lb_cli_cmd cmd = {
            "train", "Fine-tune a model (QAT when --wq/--aq are given) into a run directory; --resume continues it.",
            "lowbit train --model HF_DIR --data train.h5 --out RUN_DIR [--steps N --batch B --ctx T --lr LR] "
            "[--wq SPEC] [--aq SPEC] [--kd] [--resume] [flags]",
            flags, n, store};
        LB_TRY(lb_flags_parse(&cmd, argc, argv, help));
        if (*help) {
            lb_flags_help(&cmd, stdout);
            return lb_ok();
        }
    }
    return lb_ok();
}

int lb_cmd_train(int argc, char **argv)
{
    lb_train_args *args = lb_train_args_new();
    lb_flag_store store = {0};
    bool help = false;
    lb_train_config c;
    lb_status st = parse(argc, argv, args, &store, &help);
    if (!help && !lb_failed(&st)) st = lb_train_config_resolve(args, &c);
    lb_train_args_free(args);
    lb_flag_store_free(&store);
    if (help) return 0;
    if (lb_failed(&st)) return lb_cli_error(&st);
    lb_ctx ctx;
    st = lb_cli_ctx_init(&ctx, c.device, c.threads);
    if (lb_failed(&st)) {
        lb_train_config_free(&c);
        return lb_cli_error(&st);
    }
    lb_train_result res;
    st = lb_train_run(&ctx, &c, false, &res);
    int rc = 0;
    if (lb_failed(&st)) rc = lb_cli_error(&st);
    else print_result(&c, &res);
    lb_ctx_free(&ctx);
    lb_train_config_free(&c);
    return rc;
}
