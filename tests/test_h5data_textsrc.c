/* test_h5data_textsrc.c — documents from .txt and .jsonl (datasets/textsrc):
 * contents, skipped blank lines, BOM, escapes, and every error naming the
 * file (and line for .jsonl). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/textsrc.h"
#include "harness.h"

static char g_dir[64];

static const char *write_file(const char *name, const char *content, size_t len)
{
    static char buf[4][400];   /* dir (64) + name (256) */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    FILE *f = fopen(buf[k], "wb");
    fwrite(content, 1, len, f);
    fclose(f);
    return buf[k];
}
#define WRITE(name, lit) write_file(name, lit, sizeof(lit) - 1)

/* All documents of a file; returns the count (or -1 with *err set). */
static int read_all(const char *path, lb_textdoc *docs, int max, lb_status *err)
{
    lb_textsrc *s;
    *err = lb_textsrc_open(path, &s);
    if (lb_failed(err)) return -1;
    int n = 0;
    for (;;) {
        bool eof;
        lb_textdoc d;
        *err = lb_textsrc_next(s, &d, &eof);
        if (lb_failed(err)) {
            for (int i = 0; i < n && i < max; i++) free(docs[i].text);
            n = -1;
            break;
        }
        if (eof) break;
        if (n < max) docs[n] = d;
        else free(d.text);
        n++;
    }
    lb_textsrc_close(s);
    return n;
}

static void free_docs(lb_textdoc *d, int n)
{
    for (int i = 0; i < n; i++) free(d[i].text);
}

static void test_txt(void)
{
    const char *p = WRITE("a.txt", "def f(x):\n    return x\n\n\n");
    lb_textdoc d[4];
    lb_status st;
    int n = read_all(p, d, 4, &st);
    LB_EXPECTF(n == 1 && d[0].len == 25 && !strcmp(d[0].text, "def f(x):\n    return x\n\n\n"), "%d %s", n, st.msg);
    if (n > 0) free_docs(d, n);
    n = read_all(WRITE("empty.TXT", ""), d, 4, &st);   /* extension is case-insensitive */
    LB_EXPECT(n == 1 && d[0].len == 0);
    if (n > 0) free_docs(d, n);
    int64_t size = 0;
    st = lb_textsrc_check(p, &size);
    LB_EXPECT(!lb_failed(&st) && size == 25);
}

static void test_jsonl(void)
{
    const char *p = WRITE("b.jsonl", "\xEF\xBB\xBF{\"text\": \"one\", \"id\": 1}\n"
                                     "\n   \r\n"
                                     "{\"meta\": {\"x\": [1]}, \"text\": \"two\\nl\\u00e9\\ud83d\\ude00\"}\r\n"
                                     "{\"text\": \"\"}\n"
                                     "{\"text\": \"last, no newline\"}");
    lb_textdoc d[8];
    lb_status st;
    int n = read_all(p, d, 8, &st);
    LB_EXPECTF(n == 4, "%d docs (%s)", n, st.msg);
    if (n != 4) return;
    LB_EXPECT(!strcmp(d[0].text, "one") && d[0].line == 1);
    LB_EXPECTF(!strcmp(d[1].text, "two\nl\xC3\xA9\xF0\x9F\x98\x80") && d[1].line == 4, "%s", d[1].text);
    LB_EXPECT(d[2].len == 0 && d[2].line == 5);
    LB_EXPECT(!strcmp(d[3].text, "last, no newline") && d[3].line == 6);
    free_docs(d, n);
}

static void expect_error(const char *path, const char *needle)
{
    lb_textdoc d[8];
    lb_status st;
    int n = read_all(path, d, 8, &st);
    if (n > 0) free_docs(d, n < 8 ? n : 8);
    LB_EXPECTF(n < 0 && strstr(st.msg, needle) && strstr(st.msg, path), "%s: expected '%s', got: %s", path,
               needle, n < 0 ? st.msg : "success");
}

static void test_errors(void)
{
    char where[300];
    const char *p = WRITE("broken.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"unterminated}\n");
    snprintf(where, sizeof where, "%s:3: not valid JSON", p);
    expect_error(p, where);
    p = WRITE("garbage.jsonl", "{\"text\": \"a\"} trailing\n");
    expect_error(p, ":1: not valid JSON");
    expect_error(WRITE("arr.jsonl", "[\"text\"]\n"), ":1: the line is an array");
    expect_error(WRITE("notext.jsonl", "{\"content\": \"x\"}\n"), ":1: no \"text\" field");
    expect_error(WRITE("num.jsonl", "{\"text\": 5}\n"), ":1: \"text\" is a number");
    expect_error(WRITE("nul.jsonl", "{\"text\": \"a\\u0000b\"}\n"), ":1: the line holds \\u0000");
    lb_textdoc d[2];
    lb_status st;
    int n = read_all(WRITE("bs.jsonl", "{\"text\": \"a\\\\u0000b\"}\n"), d, 2, &st);   /* escaped backslash */
    LB_EXPECTF(n == 1 && !strcmp(d[0].text, "a\\u0000b"), "%d %s", n, n > 0 ? d[0].text : st.msg);
    if (n > 0) free_docs(d, n);
    expect_error(WRITE("c.json", "{}"), "unknown kind of input (accepted inputs: .txt");
    expect_error(WRITE("noext", "x"), "unknown kind of input");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.txt", g_dir);
    expect_error(missing, "No such file");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub.txt", g_dir);
    mkdir(sub, 0700);
    expect_error(sub, "is a directory");
    rmdir(sub);
}

static void test_bytes(void)
{
    const char *p = WRITE("c.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n");
    lb_textsrc *s;
    lb_status st = lb_textsrc_open(p, &s);
    LB_EXPECT(!lb_failed(&st));
    if (lb_failed(&st)) return;
    lb_textdoc d;
    bool eof;
    st = lb_textsrc_next(s, &d, &eof);
    LB_EXPECT(!eof && lb_textsrc_bytes(s) == 14);
    free(d.text);
    st = lb_textsrc_next(s, &d, &eof);
    free(d.text);
    st = lb_textsrc_next(s, &d, &eof);
    LB_EXPECT(eof && d.text == NULL && lb_textsrc_bytes(s) == 29);
    st = lb_textsrc_next(s, &d, &eof);   /* stays at end */
    LB_EXPECT(eof && !lb_failed(&st));
    lb_textsrc_close(s);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/lb_test_textsrc.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    LB_RUN(test_txt);
    LB_RUN(test_jsonl);
    LB_RUN(test_errors);
    LB_RUN(test_bytes);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return lb_test_summary();
}
