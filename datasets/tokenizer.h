/* tokenizer.h — BPE tokenizers loaded from Hugging Face tokenizer.json.
 *
 * Supports byte-level BPE (GPT-2 ByteLevel pre-tokenizer with its regex;
 * Sequence[Split(regex), ByteLevel(use_regex=false)] as Llama-3 / Qwen2), and
 * SentencePiece-style BPE (Llama-2 / Mistral: Prepend/Replace normalizer or
 * Metaspace pre-tokenizer, byte_fallback). Normalizers: Prepend, Replace,
 * NFC / NFD / NFKC / NFKD, Lowercase, Strip, StripAccents and Sequences of them. Added and special tokens are split
 * out of the raw text before pre-tokenization. Encoding equals the tokenizers
 * library id for id (no post-processor tokens such as BOS are added: callers
 * add them when they want them).
 */
#ifndef LB_TOKENIZER_H
#define LB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"

typedef struct lb_tokenizer lb_tokenizer;  /* opaque */

/* lb_tokenizer_load: parses `path` (a tokenizer.json, or a directory holding
 * one). On success *out is owned by the caller (lb_tokenizer_free). Errors
 * (missing file, bad JSON, no model, unsupported model / normalizer /
 * pre-tokenizer / decoder) name the file and the component.
 * EOS / BOS ids are taken, first found, from: tokenizer_config.json beside the
 * file (eos_token / bos_token, a string or {"content": ...}); config.json
 * beside it (eos_token_id / bos_token_id, the first if a list); a special
 * added token named <|endoftext|>, </s>, <|end_of_text|>, <eos>, <|im_end|>
 * (EOS) or <s>, <|begin_of_text|>, <bos> (BOS), in that order.
 * A loaded tokenizer is immutable: encode/decode may run from many threads. */
lb_status lb_tokenizer_load(const char *path, lb_tokenizer **out);
void lb_tokenizer_free(lb_tokenizer *tok);

/* lb_tokenizer_encode: token ids of `text` (len bytes, UTF-8, NUL allowed)
 * appended to a growing array: *ids (realloc'd, caller frees) holding *n ids
 * of capacity *cap. Invalid UTF-8, which the library cannot receive, is kept
 * byte for byte: byte-level tokenizers encode those bytes through the byte
 * alphabet, byte_fallback ones as <0xXX>, others as unk_token (or drop them
 * when there is none, as the library drops unknown characters). */
lb_status lb_tokenizer_encode(const lb_tokenizer *tok, const char *text, size_t len,
                              int32_t **ids, size_t *n, size_t *cap);

/* lb_tokenizer_decode: the text of ids[0..n) as a malloc'd NUL-terminated
 * string (invalid UTF-8 replaced by U+FFFD, as the library does); special
 * tokens included; ids with no token skipped. Caller frees; NULL when out of
 * memory. A decoded U+0000 ends the C string early. */
char *lb_tokenizer_decode(const lb_tokenizer *tok, const int32_t *ids, size_t n);

int64_t lb_tokenizer_vocab_size(const lb_tokenizer *tok);   /* max id + 1 */
int32_t lb_tokenizer_eos_id(const lb_tokenizer *tok);       /* -1 when unknown */
int32_t lb_tokenizer_bos_id(const lb_tokenizer *tok);       /* -1 when unknown */

/* lb_tokenizer_token_id: id of an exact token string, or -1. */
int32_t lb_tokenizer_token_id(const lb_tokenizer *tok, const char *token);

/* lb_tokenizer_sha256: hex sha256 of the tokenizer.json bytes (65 chars). */
const char *lb_tokenizer_sha256(const lb_tokenizer *tok);

#endif
