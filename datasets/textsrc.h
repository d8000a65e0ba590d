/* textsrc.h — documents from text files, one at a time.
 *
 * Two kinds of input, chosen by extension:
 *   .txt    the whole file is one document (bytes as they are, no BOM or
 *           newline handling)
 *   .jsonl  one JSON object per line; its "text" string is the document.
 *           Empty (or all-whitespace) lines are skipped; a line that is not
 *           valid JSON, not an object, or lacks a string "text" is an error
 *           naming file:line. A UTF-8 BOM before the first line is ignored.
 *           A line holding a \u0000 escape (NUL) is refused, not truncated.
 * .jsonl is streamed line by line (getline), so a multi-GB file is never in
 * memory at once; a .txt document is read whole, since it is one document.
 *
 * This is not a tokenizer and does not recurse into directories: inputs are
 * files.
 */
#ifndef LB_TEXTSRC_H
#define LB_TEXTSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

typedef struct lb_textsrc lb_textsrc;   /* opaque */

typedef struct lb_textdoc {
    char *text;      /* malloc'd, NUL-terminated, owned by the caller (free) */
    size_t len;      /* bytes, excluding the terminator */
    int64_t line;    /* 1-based line of a .jsonl document; 0 for .txt */
} lb_textdoc;

/* lb_textsrc_check: checks that `path` names a readable regular file with
 * an accepted extension; the error names the file and the accepted kinds.
 * Its size in bytes goes to *size when size is not NULL. Lets a command
 * reject bad inputs before starting long work. */
lb_status lb_textsrc_check(const char *path, int64_t *size);

/* lb_textsrc_open: opens `path` (checked as above). On success *out is owned
 * by the caller (lb_textsrc_close). */
lb_status lb_textsrc_open(const char *path, lb_textsrc **out);

/* lb_textsrc_next: the next document into *doc (ownership of doc->text moves
 * to the caller), or *eof = true and doc zeroed when none is left. */
lb_status lb_textsrc_next(lb_textsrc *s, lb_textdoc *doc, bool *eof);

/* lb_textsrc_bytes: bytes of the file consumed so far. */
int64_t lb_textsrc_bytes(const lb_textsrc *s);

/* lb_textsrc_close: releases s (NULL is fine). */
void lb_textsrc_close(lb_textsrc *s);

#endif
