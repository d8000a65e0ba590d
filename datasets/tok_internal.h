/* tok_internal.h — the inside of lb_tokenizer, shared by the tok_*.c files.
 *
 * A tokenizer is the pipeline of Hugging Face tokenizers, reduced to what
 * lowbit supports: added-token split -> normalizers -> pre-tokenizers -> BPE
 * model, and decoders for the way back. Everything here is immutable after
 * lb_tokenizer_load, so one tokenizer may encode from many threads at once.
 * Not a public header: only datasets/tok_*.c and tokenizer.c include it.
 */
#ifndef LB_TOK_INTERNAL_H
#define LB_TOK_INTERNAL_H

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "datasets/strmap.h"
#include "datasets/tokenizer.h"
#include "datasets/unicode.h"

/* A compiled PCRE2 pattern (UTF + UCP, JIT when available). */
typedef struct lb_tok_re {
    pcre2_code *code;
    bool jit;
} lb_tok_re;

typedef enum lb_tok_norm_kind {
    LB_NORM_PREPEND, LB_NORM_REPLACE, LB_NORM_UNICODE, LB_NORM_LOWERCASE, LB_NORM_STRIP,
    LB_NORM_STRIP_ACCENTS,
} lb_tok_norm_kind;

typedef struct lb_tok_norm {
    lb_tok_norm_kind kind;
    char *str;          /* Prepend: the prefix; Replace: the content */
    size_t str_len;
    lb_tok_re re;       /* Replace: the pattern */
    lb_unicode_nf form; /* Unicode: NFC, NFD, NFKC or NFKD */
    bool left, right;   /* Strip: which ends */
} lb_tok_norm;

/* Split delimiter behaviours (tokenizers SplitDelimiterBehavior). */
typedef enum lb_tok_split_kind {
    LB_SPLIT_REMOVED, LB_SPLIT_ISOLATED, LB_SPLIT_MERGED_PREV,
    LB_SPLIT_MERGED_NEXT, LB_SPLIT_CONTIGUOUS,
} lb_tok_split_kind;

typedef enum lb_tok_pre_kind { LB_PRE_SPLIT, LB_PRE_BYTELEVEL, LB_PRE_METASPACE } lb_tok_pre_kind;

typedef enum lb_tok_prepend { LB_PREPEND_ALWAYS, LB_PREPEND_FIRST, LB_PREPEND_NEVER } lb_tok_prepend;

typedef struct lb_tok_pre {
    lb_tok_pre_kind kind;
    lb_tok_re re;                 /* Split pattern; ByteLevel use_regex: the GPT-2 regex */
    lb_tok_split_kind behavior;   /* Split */
    bool invert;                  /* Split */
    bool add_prefix_space;        /* ByteLevel */
    bool use_regex;               /* ByteLevel */
    char repl[4];                 /* Metaspace replacement character (UTF-8) */
    int repl_len;
    lb_tok_prepend prepend;       /* Metaspace */
    bool split;                   /* Metaspace */
} lb_tok_pre;

typedef enum lb_tok_dec_kind {
    LB_DEC_BYTELEVEL, LB_DEC_METASPACE, LB_DEC_REPLACE, LB_DEC_BYTEFALLBACK,
    LB_DEC_FUSE, LB_DEC_STRIP,
} lb_tok_dec_kind;

typedef struct lb_tok_dec {
    lb_tok_dec_kind kind;
    char *pat, *content;          /* Replace (literal pattern) */
    size_t pat_len, content_len;
    uint32_t strip_cp;            /* Strip: the character */
    int start, stop;              /* Strip: how many to remove at each end */
    char repl[4];                 /* Metaspace */
    int repl_len;
    lb_tok_prepend prepend;       /* Metaspace */
} lb_tok_dec;

typedef struct lb_added_tok {
    int32_t id;
    char *content;
    size_t len;
    char *match;                  /* what is searched: content, normalized if `normalized` */
    size_t match_len;
    bool single_word, lstrip, rstrip, normalized, special;
} lb_added_tok;

/* A set of added tokens searched leftmost-longest, bucketed by first byte. */
typedef struct lb_added_set {
    int32_t *order;               /* indices into tok->added, by first byte then length desc */
    int32_t start[257];           /* bucket b = order[start[b] .. start[b+1]) */
    int n;
} lb_added_set;

/* Pair (left id, right id) -> (rank, merged id), open addressing. */
typedef struct lb_merge_slot {
    uint64_t key;                 /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank, id;
} lb_merge_slot;

struct lb_tokenizer {
    char *path;                   /* the tokenizer.json read */
    char sha256[65];

    /* model (BPE) */
    lb_strmap vocab;              /* model vocabulary: token -> id */
    lb_merge_slot *merges;        /* (merge_mask + 1) */
    size_t merge_mask;
    bool ignore_merges, byte_fallback, fuse_unk;
    char *unk_token;              /* NULL when none */
    char *prefix, *suffix;        /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
    int32_t byte_fb[256];         /* id of "<0xXX>" or -1 */

    /* id -> token (model and added), for decode */
    char **id_tok;                /* (n_ids) NULL where no token */
    size_t *id_len;
    int64_t n_ids;                /* max id + 1 */

    lb_tok_norm *norms;
    int n_norms;
    lb_tok_pre *pres;
    int n_pres;
    bool byte_level_last;         /* last pre-tokenizer is ByteLevel: model reads raw bytes */
    int32_t byte_ids[256];        /* vocab id of each byte's alphabet character, or -1 */
    bool bytes_complete;          /* every byte_ids entry is >= 0 */
    lb_tok_dec *decs;
    int n_decs;
    bool has_decoder;

    lb_added_tok *added;
    int n_added;
    lb_strmap added_map;          /* content -> id */
    lb_added_set raw_set, norm_set;
    lb_tok_re word_re;            /* Rust regex \w, for single_word */

    int32_t eos, bos;
};

/* A piece of text under way through the pipeline. */
typedef struct lb_tok_piece {
    const char *s;
    size_t len;
    bool first;                   /* starts at offset 0 of the original text */
} lb_tok_piece;

/* Per-call scratch memory of one encode (no state survives the call). */
typedef struct lb_tok_scratch {
    char **blocks;                /* text blocks that pieces point into */
    size_t n_blocks, cap_blocks;
    char *cur;                    /* current block and its free space */
    size_t cur_left;
    lb_tok_piece *pa, *pb;        /* ping-pong piece lists */
    size_t cap_a, cap_b;
    size_t *rg;                   /* split ranges: (start, end, is_match) triples */
    size_t cap_rg;
    int32_t *sym_id, *sym_prev, *sym_next;   /* BPE symbols */
    size_t cap_sym;
    void *heap;                   /* BPE merge heap */
    size_t cap_heap;
    char *buf;                    /* general byte buffer */
    size_t cap_buf;
    lb_ubuf ub;                   /* output of the Unicode normalizers */
    pcre2_match_data *md;
    bool use_cache;
    lb_strmap cache;              /* pre-token -> offset into cache_ids (count, ids...) */
    int32_t *cache_ids;
    size_t n_cache_ids, cap_cache_ids;
} lb_tok_scratch;

/* An id list being appended to (the caller's array). */
typedef struct lb_tok_ids {
    int32_t **ids;
    size_t *n, *cap;
} lb_tok_ids;

/* ---- tok_json.c ---- */
lb_status lb_tok_parse(lb_tokenizer *tok, const char *json, size_t len);

/* ---- tok_re (in tok_pretok.c) ---- */
lb_status lb_tok_re_compile(lb_tok_re *re, const char *pat, size_t len, bool literal,
                            const char *what);
void lb_tok_re_free(lb_tok_re *re);
/* lb_tok_re_find: next match of re in s[0..n) at or after `from`: 1 and the
 * match in [*ms, *me), 0 when none, or a negative PCRE2 error code. */
int lb_tok_re_find(const lb_tok_re *re, const char *s, size_t n, size_t from,
                   pcre2_match_data *md, size_t *ms, size_t *me);

/* ---- tok_pretok.c ---- */
/* lb_tok_normalize: applies tok's normalizers to s[0..n); *out points to the
 * result (s itself when there are none, else scratch memory). */
lb_status lb_tok_normalize(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                           const char **out, size_t *out_len);
/* lb_tok_pretokenize: runs the pre-tokenizers on one piece; on return
 * *pieces / *n_pieces is the list of pre-tokens (in scratch memory). */
lb_status lb_tok_pretokenize(const lb_tokenizer *tok, lb_tok_scratch *sc, lb_tok_piece in,
                             lb_tok_piece **pieces, size_t *n_pieces);
char *lb_tok_scratch_alloc(lb_tok_scratch *sc, size_t n);
void lb_tok_scratch_free(lb_tok_scratch *sc);
/* lb_tok_bytes_to_unicode: code point of byte b in the GPT-2 byte alphabet. */
uint32_t lb_tok_byte_char(unsigned b);

/* ---- tok_bpe.c ---- */
lb_status lb_tok_merges_init(lb_tokenizer *tok, size_t n);
/* lb_tok_merges_add: records merge (a, b) -> id at `rank`. */
lb_status lb_tok_merges_add(lb_tokenizer *tok, int32_t a, int32_t b, int32_t id, int32_t rank);
/* lb_tok_bpe: appends the model's ids of one pre-token. */
lb_status lb_tok_bpe(const lb_tokenizer *tok, lb_tok_scratch *sc, const char *s, size_t n,
                     lb_tok_ids out);
lb_status lb_tok_ids_push(lb_tok_ids out, int32_t id);

/* ---- tok_added.c ---- */
lb_status lb_tok_added_build(lb_tokenizer *tok);
/* One segment of the added-token split: a token id, or text when id < 0. */
typedef struct lb_tok_seg {
    size_t start, end;
    int32_t id;
} lb_tok_seg;
/* lb_tok_added_split: the segments of s[0..n) under `set` (tokenizers
 * AddedVocabulary::find_matches); malloc'd array in *segs, caller frees. */
lb_status lb_tok_added_split(const lb_tokenizer *tok, const lb_added_set *set, const char *s,
                             size_t n, pcre2_match_data *md, lb_tok_seg **segs, size_t *n_segs);

/* ---- tok_decode.c ---- */
char *lb_tok_decode(const lb_tokenizer *tok, const int32_t *ids, size_t n);

#endif
