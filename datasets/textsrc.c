/* textsrc.c — reading documents from .txt and .jsonl files (see textsrc.h).
 * Streams .jsonl with getline; not a tokenizer, not a directory walker. */
#include "datasets/textsrc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define ACCEPTED "accepted inputs: .txt (one document per file) and .jsonl (one {\"text\": ...} object per line)"

typedef enum kind { KIND_NONE, KIND_TXT, KIND_JSONL } kind;

struct lb_textsrc {
    char *path;
    FILE *fp;
    kind kind;
    char *line;       /* getline buffer */
    size_t line_cap;
    int64_t line_no;
    int64_t bytes;
    bool done;
};

static kind kind_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return KIND_NONE;
    if (!strcasecmp(dot, ".txt")) return KIND_TXT;
    if (!strcasecmp(dot, ".jsonl")) return KIND_JSONL;
    return KIND_NONE;
}

lb_status lb_textsrc_check(const char *path, int64_t *size)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return lb_errorf(LB_ERR_ARG, "%s: is a directory; pass the files themselves (%s)", path, ACCEPTED);
    if (kind_of(path) == KIND_NONE)
        return lb_errorf(LB_ERR_ARG, "%s: unknown kind of input (%s)", path, ACCEPTED);
    if (size) *size = (int64_t)sb.st_size;
    return lb_ok();
}

lb_status lb_textsrc_open(const char *path, lb_textsrc **out)
{
    *out = NULL;
    LB_TRY(lb_textsrc_check(path, NULL));
    lb_textsrc *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory", path);
    }
    s->kind = kind_of(path);
    s->fp = fopen(path, "rb");
    if (!s->fp) {
        lb_status st = lb_errorf(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        lb_textsrc_close(s);
        return st;
    }
    *out = s;
    return lb_ok();
}

static lb_status next_txt(lb_textsrc *s, lb_textdoc *doc, bool *eof)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, s->fp);
        if (n < cap - 1) break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
        } else {
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf) return lb_errorf(LB_ERR_OOM, "%s: out of memory reading the document", s->path);
    if (ferror(s->fp)) {
        free(buf);
        return lb_errorf(LB_ERR_IO, "%s: read error: %s", s->path, strerror(errno));
    }
    buf[n] = '\0';
    s->bytes += (int64_t)n;
    s->done = true;
    doc->text = buf;
    doc->len = n;
    *eof = false;
    return lb_ok();
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return false;
    return true;
}

static const char *json_type(const cJSON *v)
{
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "not a string";
}

/* Whether the raw line holds a \u0000 escape (an odd run of backslashes
 * before "u0000"): cJSON's strings end at the first NUL, so such a text
 * would be cut short silently. */
static bool has_nul_escape(const char *p, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        if (p[i] != '\\' || memcmp(p + i + 1, "u0000", 5) != 0) continue;
        size_t run = 1;
        while (run <= i && p[i - run] == '\\') run++;
        if (run % 2 == 1) return true;
    }
    return false;
}

/* One non-blank line parsed into doc; errors name file:line. */
static lb_status parse_line(lb_textsrc *s, char *p, size_t n, lb_textdoc *doc)
{
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, n + 1, &end, true);   /* n + 1: the NUL getline put after the line */
    if (!o) {
        long col = end && end >= p ? (long)(end - p) + 1 : 0;
        return lb_errorf(LB_ERR_FORMAT, "%s:%lld: not valid JSON (at column %ld); each line must be an object like {\"text\": \"...\"}",
                         s->path, (long long)s->line_no, col);
    }
    lb_status st = lb_ok();
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
    if (!cJSON_IsObject(o))
        st = lb_errorf(LB_ERR_FORMAT, "%s:%lld: the line is %s, expected an object with a \"text\" string",
                       s->path, (long long)s->line_no, json_type(o));
    else if (!t)
        st = lb_errorf(LB_ERR_FORMAT, "%s:%lld: no \"text\" field (each line must be an object with a \"text\" string)",
                       s->path, (long long)s->line_no);
    else if (!cJSON_IsString(t))
        st = lb_errorf(LB_ERR_FORMAT, "%s:%lld: \"text\" is %s, expected a string", s->path,
                       (long long)s->line_no, json_type(t));
    else if (has_nul_escape(p, n))
        st = lb_errorf(LB_ERR_UNSUPPORTED, "%s:%lld: the line holds \\u0000 (a NUL character), which lowbit does not ingest from .jsonl; remove it",
                       s->path, (long long)s->line_no);
    else if (!(doc->text = strdup(t->valuestring)))
        st = lb_errorf(LB_ERR_OOM, "%s:%lld: out of memory", s->path, (long long)s->line_no);
    else {
        doc->len = strlen(doc->text);
        doc->line = s->line_no;
    }
    cJSON_Delete(o);
    return st;
}

static lb_status next_jsonl(lb_textsrc *s, lb_textdoc *doc, bool *eof)
{
    for (;;) {
        errno = 0;
        ssize_t got = getline(&s->line, &s->line_cap, s->fp);
        if (got < 0) {
            if (ferror(s->fp))
                return lb_errorf(LB_ERR_IO, "%s:%lld: read error: %s", s->path,
                                 (long long)s->line_no + 1, strerror(errno));
            s->done = true;
            *eof = true;
            return lb_ok();
        }
        s->line_no++;
        s->bytes += got;
        char *p = s->line;
        size_t n = (size_t)got;
        if (s->line_no == 1 && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
            p += 3;
            n -= 3;
        }
        if (blank(p, n)) continue;
        LB_TRY(parse_line(s, p, n, doc));
        *eof = false;
        return lb_ok();
    }
}

lb_status lb_textsrc_next(lb_textsrc *s, lb_textdoc *doc, bool *eof)
{
    memset(doc, 0, sizeof *doc);
    *eof = true;
    if (s->done) return lb_ok();
    return s->kind == KIND_TXT ? next_txt(s, doc, eof) : next_jsonl(s, doc, eof);
}

int64_t lb_textsrc_bytes(const lb_textsrc *s)
{
    return s->bytes;
}

void lb_textsrc_close(lb_textsrc *s)
{
    if (!s) return;
    if (s->fp) fclose(s->fp);
    free(s->line);
    free(s->path);
    free(s);
}
