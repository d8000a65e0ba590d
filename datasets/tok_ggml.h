/* tok_ggml.h — a tokenizer as GGUF holds it (FORMATS §5.5, the keys
 * tokenizer.ggml.*), both ways: the vocabulary, token types, merges and
 * pre-tokenizer name of a loaded byte-level BPE tokenizer for the GGUF
 * exporter, and a tokenizer rebuilt from those keys for a model loaded from
 * a .gguf file (so `generate` works from the file alone).
 *
 * Only byte-level BPE (tokenizer.ggml.model "gpt2") is supported, with the
 * pre-tokenizers llama.cpp names "gpt-2" (GPT-2's ByteLevel regex),
 * "llama-bpe" (Llama-3's Split regex + ByteLevel) and "qwen2" (its Split
 * regex, and its NFC normalizer, which GGUF implies by the name). Which one
 * a tokenizer has is decided by what it does, as llama.cpp does: its
 * pre-tokenizer is run on a test string and the pieces compared. GGUF
 * cannot hold the lstrip / rstrip / single_word flags of added tokens: the
 * export counts them (lossy_added) and the rebuilt tokenizer matches such
 * tokens plainly.
 * Not here: SentencePiece ("llama" model) vocabularies.
 */
#ifndef LB_TOK_GGML_H
#define LB_TOK_GGML_H

#include <stdint.h>

#include "datasets/tokenizer.h"

/* GGUF token types (llama.cpp llama_token_type) */
enum {
    LB_TOKTYPE_NORMAL = 1, LB_TOKTYPE_UNKNOWN = 2, LB_TOKTYPE_CONTROL = 3, LB_TOKTYPE_USER_DEFINED = 4,
    LB_TOKTYPE_UNUSED = 5, LB_TOKTYPE_BYTE = 6,
};

typedef struct lb_tok_ggml {
    int64_t n;                /* tokens: the model's vocab_size */
    char **tokens;            /* (n) in id order; ids without a token are "[PAD<id>]" */
    size_t *token_len;        /* (n) */
    int32_t *types;           /* (n) LB_TOKTYPE_* */
    int64_t n_merges;
    char **merges;            /* (n_merges) "left right", by rank */
    size_t *merge_len;
    const char *pre;          /* "gpt-2", "llama-bpe", "qwen2" (static) */
    int32_t bos, eos;         /* -1 when unknown */
    int lossy_added;          /* added tokens with lstrip / rstrip / single_word, which GGUF
                                 cannot hold (the rebuilt tokenizer matches them plainly) */
} lb_tok_ggml;

/* lb_tok_ggml_from: the GGUF view of tok, padded to vocab_size (>= the
 * tokenizer's size). A tokenizer that is not byte-level BPE, or whose
 * pre-tokenizer is none of the three above, is an LB_ERR_UNSUPPORTED error
 * naming its file. Free with lb_tok_ggml_free. */
lb_status lb_tok_ggml_from(const lb_tokenizer *tok, int64_t vocab_size, lb_tok_ggml *out);
void lb_tok_ggml_free(lb_tok_ggml *g);

/* lb_tokenizer_from_ggml: a tokenizer built from g (tokens of type UNUSED
 * are left out; CONTROL tokens become special added tokens and
 * USER_DEFINED ones non-special added tokens), named `where` in messages
 * (e.g. "model.gguf: tokenizer.ggml.*"). *out is the caller's. */
lb_status lb_tokenizer_from_ggml(const lb_tok_ggml *g, const char *where, lb_tokenizer **out);

#endif
