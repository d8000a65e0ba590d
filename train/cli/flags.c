/* flags.c — parsing --flag=value, --flag value and --config FILE.json. */
#include "train/cli/flags.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Same name with '-' and '_' treated as equal. */
static bool name_eq(const char *a, const char *b, size_t blen)
{
    size_t i = 0;
    for (; a[i] && i < blen; i++) {
        char x = a[i] == '_' ? '-' : a[i];
        char y = b[i] == '_' ? '-' : b[i];
        if (x != y) return false;
    }
    return a[i] == '\0' && i == blen;
}

static const lb_flag *find_flag(const lb_cli_cmd *cmd, const char *name, size_t len)
{
    for (int i = 0; i < cmd->n_flags; i++)
        if (name_eq(cmd->flags[i].name, name, len)) return &cmd->flags[i];
    return NULL;
}

static const char *type_word(lb_flag_type t)
{
    switch (t) {
    case LB_FLAG_INT: return "an integer";
    case LB_FLAG_FLOAT: return "a number";
    case LB_FLAG_BOOL: return "true or false";
    default: return "a value";
    }
}

static lb_status set_value(const lb_cli_cmd *cmd, const lb_flag *f, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case LB_FLAG_STR: *(const char **)f->dst = v; break;
    case LB_FLAG_LIST: {
        lb_strlist *l = f->dst;
        if (l->n >= LB_STRLIST_MAX)
            return lb_errorf(LB_ERR_ARG, "%s: --%s given more than %d times", cmd->name, f->name,
                             LB_STRLIST_MAX);
        l->items[l->n++] = v;
        break;
    }
    case LB_FLAG_INT: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return lb_errorf(LB_ERR_ARG, "%s: --%s expects an integer, got '%s'", cmd->name, f->name, v);
        *(int64_t *)f->dst = x;
        break;
    }
    case LB_FLAG_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno)
            return lb_errorf(LB_ERR_ARG, "%s: --%s expects a number, got '%s'", cmd->name, f->name, v);
        *(double *)f->dst = x;
        break;
    }
    case LB_FLAG_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1")) *(bool *)f->dst = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0")) *(bool *)f->dst = false;
        else return lb_errorf(LB_ERR_ARG, "%s: --%s expects true or false, got '%s'", cmd->name, f->name, v);
        break;
    }
    return lb_ok();
}

/* A copy of s owned by cmd->store (or by nobody when there is no store). */
static const char *keep(const lb_cli_cmd *cmd, const char *s)
{
    char *d = strdup(s);
    lb_flag_store *st = cmd->store;
    LB_CHECKF(d != NULL, "out of memory copying a --config value");
    if (!st) return d;
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        char **g = realloc(st->strings, (size_t)cap * sizeof *g);
        LB_CHECKF(g != NULL, "out of memory");
        st->strings = g;
        st->cap = cap;
    }
    st->strings[st->n++] = d;
    return d;
}

void lb_flag_store_free(lb_flag_store *store)
{
    if (!store) return;
    for (int i = 0; i < store->n; i++) free(store->strings[i]);
    free(store->strings);
    store->strings = NULL;
    store->n = store->cap = 0;
}

/* Applies the keys of a JSON object file as flags; string values are copied
 * into cmd->store. */
static lb_status apply_config(const lb_cli_cmd *cmd, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return lb_errorf(LB_ERR_IO, "--config %s: cannot open: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(buf);
        return lb_errorf(LB_ERR_IO, "--config %s: cannot read", path);
    }
    fclose(fp);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lb_errorf(LB_ERR_FORMAT, "--config %s: not a JSON object", path);
    }
    for (cJSON *it = root->child; it; it = it->next) {
        const lb_flag *f = find_flag(cmd, it->string, strlen(it->string));
        if (!f) {
            lb_status st = lb_errorf(LB_ERR_ARG, "--config %s: unknown key '%s' for '%s' (see lowbit help %s)",
                                     path, it->string, cmd->name, cmd->name);
            cJSON_Delete(root);
            return st;
        }
        char num[64];
        const char *v = NULL;
        if (cJSON_IsString(it)) v = keep(cmd, it->valuestring);
        else if (cJSON_IsBool(it)) v = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            if (f->type == LB_FLAG_INT) snprintf(num, sizeof num, "%.0f", it->valuedouble);
            else snprintf(num, sizeof num, "%.17g", it->valuedouble);
            v = keep(cmd, num);
        } else if (cJSON_IsArray(it) && f->type == LB_FLAG_LIST) {
            for (cJSON *e = it->child; e; e = e->next) {
                if (!cJSON_IsString(e)) {
                    cJSON_Delete(root);
                    return lb_errorf(LB_ERR_ARG, "--config %s: '%s' must be a list of strings", path, f->name);
                }
                lb_status st = set_value(cmd, f, keep(cmd, e->valuestring));
                if (lb_failed(&st)) { cJSON_Delete(root); return st; }
            }
            continue;
        } else {
            cJSON_Delete(root);   /* f->name is the flag table's, not the JSON's */
            return lb_errorf(LB_ERR_ARG, "--config %s: '%s' expects %s", path, f->name, type_word(f->type));
        }
        lb_status st = set_value(cmd, f, v);
        if (lb_failed(&st)) {
            cJSON_Delete(root);
            return lb_status_prefix(st, "--config %s", path);
        }
    }
    cJSON_Delete(root);
    return lb_ok();
}

lb_status lb_flags_parse(const lb_cli_cmd *cmd, int argc, char **argv, bool *help)
{
    *help = false;
    /* --config first, so that the command line overrides it */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--config=", 9)) LB_TRY(apply_config(cmd, a + 9));
        else if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) return lb_errorf(LB_ERR_ARG, "%s: --config needs a file", cmd->name);
            LB_TRY(apply_config(cmd, argv[++i]));
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return lb_ok();
        }
        if (strncmp(a, "--", 2) != 0)
            return lb_errorf(LB_ERR_ARG, "%s: unexpected argument '%s' (flags start with --; see lowbit help %s)",
                             cmd->name, a, cmd->name);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (name_eq("config", name, len)) {
            if (!eq) i++;
            continue;
        }
        const lb_flag *f = find_flag(cmd, name, len);
        if (!f && !eq && len > 3 && !strncmp(name, "no-", 3)) {
            const lb_flag *nf = find_flag(cmd, name + 3, len - 3);
            if (nf && nf->type == LB_FLAG_BOOL) {
                *(bool *)nf->dst = false;
                continue;
            }
        }
        if (!f)
            return lb_errorf(LB_ERR_ARG, "%s: unknown flag '--%.*s' (see lowbit help %s)", cmd->name,
                             (int)len, name, cmd->name);
        const char *v;
        if (eq) v = eq + 1;
        else if (f->type == LB_FLAG_BOOL) v = "true";
        else if (i + 1 < argc) v = argv[++i];
        else return lb_errorf(LB_ERR_ARG, "%s: --%s needs %s", cmd->name, f->name, type_word(f->type));
        LB_TRY(set_value(cmd, f, v));
    }
    return lb_ok();
}

void lb_flags_help(const lb_cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: %s\n\n%s\n\nflags:\n", cmd->usage, cmd->summary);
    for (int i = 0; i < cmd->n_flags; i++)
        fprintf(f, "  --%-18s %s\n", cmd->flags[i].name, cmd->flags[i].help);
    fprintf(f, "  --%-18s %s\n", "config FILE", "read flags from a JSON object (same keys)");
}

int lb_cli_error(const lb_status *st)
{
    fprintf(stderr, "lowbit: error: %s\n", st->msg);
    return 1;
}
