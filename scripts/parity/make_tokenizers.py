#!/usr/bin/env python3
"""make_tokenizers.py — small reference tokenizers and their encodings, for
lowbit's tokenizer parity tests.

Trains tokenizer.json files with the Hugging Face `tokenizers` library on
Python standard-library sources plus a multilingual string, and records how
the library encodes (add_special_tokens=False) and decodes
(skip_special_tokens=False) a fixed list of awkward texts:

  bytelevel  GPT-2 style: ByteLevel pre-tokenizer (regex), ByteLevel decoder,
             special tokens, an lstrip/rstrip token and a single_word
             normalized token.
  llama3     Llama-3 style: Split(Llama-3 regex, Isolated) +
             ByteLevel(use_regex=false), ignore_merges=true, plus vocabulary
             entries that no merge reaches (so ignore_merges matters).
  spm        Llama-2 style: Prepend("▁") + Replace(" ", "▁") normalizer, no
             pre-tokenizer, byte_fallback, <0xXX> tokens, decoder
             Replace/ByteFallback/Fuse/Strip.
  metaspace  Metaspace pre-tokenizer (prepend_scheme first, split) without
             byte_fallback: unknown characters become a fused <unk>.
  splits     bytelevel's model behind Split pre-tokenizers with every
             delimiter behaviour, invert and String patterns.
  legacy     bytelevel with merges in the legacy "a b" string form and
             add_prefix_space=true.
  qwen2      Qwen2 style: NFC normalizer, Split(Qwen2 regex: single digits)
             + ByteLevel(use_regex=false), <|endoftext|> <|im_start|>
             <|im_end|> specials (normalized=false) and a normalized added
             token written decomposed ("cafe" + U+0301).
  nfkd_lower Sequence[NFKD, Lowercase, StripAccents] before the GPT-2
             ByteLevel pre-tokenizer, with a normalized added token.
  strip_nfd  Sequence[Strip(left, right), NFD, Replace(Regex \s+ -> " "),
             Strip(right)] before ByteLevel.
The normalizer cases also record NORM_TEXTS (decomposed / precomposed
accents, Hangul, compatibility characters, Turkish I, Greek sigma, ß).

Usage: make_tokenizers.py [--out DIR] [--only CASE,...] [--code8k DIR]
  --out DIR      write DIR/<case>/{tokenizer.json,cases.json} (default
                 tests/data/tok beside this repository's tests)
  --code8k DIR   also train the 8192-token byte-level tokenizer of
                 assets/tokenizers/code-8k into DIR
It is not a fuzzer (see fuzz_tokenizers.py) and not used at run time.
"""
import argparse
import json
import os
import sys

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, trainers)

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

MULTILINGUAL = (
    "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles. "
    "Съешь же ещё этих мягких французских булок, да выпей чаю. "
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Τάχιστη αλώπηξ βαφής ψημένη γη. "
    "いろはにほへと ちりぬるを 日本語のテキストです。中文文本测试，你好世界。한국어 텍스트입니다. "
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. "
    "¿Dónde está la biblioteca? ¡Olé! Ça va? naïve façade résumé coöperate "
    "emoji 😀👍🏽👨‍👩‍👧‍👦 🇫🇷 ✨ — “quotes” ‘single’ … "
)

# Texts recorded for every case: code, accents, scripts, emoji (ZWJ), odd
# spaces (NBSP, NNBSP, ZWSP, ideographic), tabs, CRLF, runs of spaces and
# newlines, numbers, contractions in any case, special tokens in the text.
TEXTS = [
    "",
    " ",
    "   ",
    "\n",
    "\n\n\n",
    "\t",
    " \t \n ",
    "\r\n",
    "Hello world",
    "Hello   world  ",
    "  leading spaces and trailing   ",
    "def main(argv=None):\n    return 0\n",
    "if x == 1:\r\n\tprint('one')\r\n\r\n",
    "class Foo(object):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, a, b=2, *args, **kw):\n        self._a = a  # comment\n",
    "for i in range(10):\n\tif i % 3 == 0: continue\n",
    "x = [1, 22, 333, 4444, 55555, 666666] + {'k': 3.14159e-10}",
    "I'M sure you're right, don'T you think? We'LL see; they've gone. It's Bob's.",
    "I'm I'M i'M 'S 's 'T 'RE 'Ve 'mM 'LL 'D 'll've",
    "Le cœur déçu mais l'âme plutôt naïve",
    "Съешь же ещё этих мягких французских булок",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
    "日本語のテキストです。中文文本测试，你好世界。",
    "한국어 텍스트입니다",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 sparkle ✨",
    "no\u00a0break\u00a0space and narrow\u202fnbsp and zero\u200bwidth\u200b",
    "ideographic\u3000space en\u2002quad line\u2028sep para\u2029sep nel\u0085x",
    "mongolian\u180evowel file\u001csep unit\u001fsep",
    "tabs\t\tand\t \tspaces\t",
    "newlines\n\n\nmany\n \n  \n   x",
    "<|endoftext|>",
    "text before<|endoftext|>text after",
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "<s>bos then text</s> and eos",
    " <s> spaced </s> ",
    "<s><s></s></s>",
    "partial <|endoftext| and <|im_start and </s",
    "strip <|mask|>   around   <|mask|>x",
    "word [WORD] and a[WORD]b and [WORD]",
    "lowbit quantization with lowbit",
    "ſtrange 'ſ and Kelvin \u212a and ǅ titlecase",
    "math ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷ and arrows → ← ↔",
    "combining e\u0301 a\u0308 n\u0303 and precomposed é ä ñ",
    "control \u0001\u0002\u007f chars and replacement \ufffd char",
    "private \ue000 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 and notdef \U0001fbf9",
    "1234567890 ١٢٣ ⅷ ½ ²³",
    "mixed123abc ABC123def 3.14 1,000,000 -42 +7",
    "URL https://example.com/path?q=1&r=two#frag and mail a.b@c.de",
    "    indented\n        more\n            most\n",
    "a" * 200,
    "ab " * 60,
    "!!!???...,,,;;;:::---___===+++",
    "\"quoted\" 'single' `back` «guillemets» „low“",
]

# Texts for the normalizer cases: the same word precomposed and decomposed,
# marks out of canonical order, Hangul syllables / conjoining and compatibility
# jamo, compatibility characters (ligatures, fullwidth, super/subscripts, ㎞,
# circled, roman numerals, halfwidth kana, U+FDFA), singletons (Ångström,
# Ohm, Kelvin), composition exclusions, Turkish dotted / dotless I, Greek
# sigma (the library lowercases per character: no final ς), German ß / ẞ.
NORM_TEXTS = [
    "caf\u00e9 cafe\u0301 CAF\u00c9 CAFE\u0301 <|im_start|>cafe\u0301<|im_end|>",
    "e\u0301 vs \u00e9, A\u030a vs \u00c5 vs \u212b, o\u0308\u0304 vs \u022b, \u1e9b\u0323",
    "order a\u0323\u0307 a\u0307\u0323 q\u0307\u0323 q\u0323\u0307 x\u0301\u0316\u0300\u0334 \u0301start",
    "\u0301\u0302 marks first, then \u0300",
    "\ud55c\uad6d\uc5b4 \u1112\u1161\u11ab\u1100\u1173\u11af \u1100\u1161\u11a8 \uac00\u11a8 \u3131\u314f \u3134\u3153\u3139",
    "\ufb01nance \ufb02ow \ufb00 \uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23\uff11\uff12\uff13",
    "x\u00b2 + y\u00b3 = z\u2074, H\u2082O, 10\u338f 5\u339e \u2103 \u00bd \u2460\u2461 \u2122 \u216b \uff76\uff80\uff76\uff85 \ufdfa",
    "\u0130stanbul ISTANBUL \u0131i \u0130i D\u0130YARBAKIR \u0049\u0307",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03a3 \u03c3 \u03c2 \u03a3\u0391\u03a3 \u1f48\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2",
    "Stra\u00dfe STRASSE \u1e9e gro\u00df GROSS",
    "Ti\u00ea\u0301ng Vi\u00ea\u0323t Tie\u0302\u0301ng Vie\u0323\u0302t \u0110\u00e0 N\u1eb5ng",
    "\u0958 \u0915\u093c \u2adc \u0344 \u0f73 \u0f71\u0f72 \u09c7\u09be \u0b47\u0b3e",
    "  \u3000 padded\u00a0\u2009text \u00a0  ",
    "\n\t lines \r\n\r\n  end\u2028",
    "\u01c4 \u01c5 \u01c6 \u0149 \u1e96 \u2126 \u212a \u00b5 \u03bc \u017f",
    "NA\u00cfVE na\u00efve Na\u0131ve Ko\u0308ln K\u00d6LN \u0152uvre \u00c6sir",
    "12345 \uff11\uff12\uff13 \u0661\u0662 \u00b9\u00b2\u00b3 \u2070",
]

# Characters that tokenizers 0.20.3 normalizes differently from lowbit: its
# NFx and StripAccents use unicode-normalization-alignments 0.1.12, whose data
# is older than Python 3.11's Unicode 14.0 (about 9.0, judging by what
# differs: U+1CF2/U+1CF3 are marks there, as before Unicode 10.0). These are
# characters assigned since with a decomposition (U+32FF SQUARE ERA NAME
# REIWA, U+A7F2.., U+10781.., U+1FBF0..), a non-zero combining class or the
# Mark category (Sogdian, Dives Akuru, Nyiakeng Puachue Hmong, ... marks), the
# composition U+11935 U+11930 -> U+11938, and U+1CF2/U+1CF3. Found by
# comparing the library's normalizers with unicodedata over every code point;
# left out of normalizer test texts (and only there). Lowercase has no such
# difference (Rust's std tables match Python's for every character).
LIB_UNICODE_DIFFS = [
    (0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xAFA, 0xAFF), (0xB55, 0xB55),
    (0xC04, 0xC04), (0xC3C, 0xC3C), (0xD00, 0xD00), (0xD3B, 0xD3C), (0xD81, 0xD81), (0xEBA, 0xEBA),
    (0x1715, 0x1715), (0x180F, 0x180F), (0x1ABF, 0x1ACE), (0x1CF2, 0x1CF3), (0x1CF7, 0x1CF7),
    (0x1DF6, 0x1DFA), (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xA82C, 0xA82C), (0xA8FF, 0xA8FF),
    (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10D24, 0x10D27),
    (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070), (0x11073, 0x11074),
    (0x110C2, 0x110C2), (0x11145, 0x11146), (0x111C9, 0x111C9), (0x111CE, 0x111CF), (0x1133B, 0x1133B),
    (0x1145E, 0x1145E), (0x1182C, 0x1183A), (0x11930, 0x11935), (0x11937, 0x11938), (0x1193B, 0x1193E),
    (0x11940, 0x11940), (0x11942, 0x11943), (0x119D1, 0x119D7), (0x119DA, 0x119E0), (0x119E4, 0x119E4),
    (0x11A01, 0x11A0A), (0x11A33, 0x11A39), (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A5B),
    (0x11A8A, 0x11A99), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A), (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45),
    (0x11D47, 0x11D47), (0x11D8A, 0x11D8E), (0x11D90, 0x11D91), (0x11D93, 0x11D97), (0x11EF3, 0x11EF6),
    (0x16F4F, 0x16F4F), (0x16F7F, 0x16F87), (0x16FE4, 0x16FE4), (0x16FF0, 0x16FF1), (0x1CF00, 0x1CF2D),
    (0x1CF30, 0x1CF46), (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1F16C, 0x1F16C),
    (0x1FBF0, 0x1FBF9),
]

def without_lib_diffs(text):
    """text without the characters of LIB_UNICODE_DIFFS."""
    return "".join(c for c in text if not any(lo <= ord(c) <= hi for lo, hi in LIB_UNICODE_DIFFS))

def stdlib_corpus(limit_bytes):
    """Sorted .py files of this Python's standard library, up to limit_bytes."""
    root = os.path.dirname(os.__file__)
    out, total = [], 0
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        if "site-packages" in dirpath or "test" in dirpath.split(os.sep)[-1:]:
            continue
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            try:
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    text = fh.read()
            except (UnicodeDecodeError, OSError):
                continue
            out.append(text)
            total += len(text)
            if total >= limit_bytes:
                return out
    return out

def corpus(limit_bytes):
    return stdlib_corpus(limit_bytes) + [MULTILINGUAL] * 20

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>"]

def add_flag_tokens(tok):
    tok.add_special_tokens([AddedToken("<|mask|>", lstrip=True, rstrip=True, special=True,
                                       normalized=False)])
    tok.add_tokens([AddedToken("[WORD]", single_word=True, normalized=True)])

def train_bytelevel(data, vocab, add_prefix_space=False):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(data, tr)
    return tok

def make_bytelevel(data):
    tok = train_bytelevel(data, 800)
    add_flag_tokens(tok)
    return json.loads(tok.to_str())

def make_legacy(data):
    tok = train_bytelevel(data, 600, add_prefix_space=True)
    j = json.loads(tok.to_str())
    j["model"]["merges"] = [a + " " + b for a, b in j["model"]["merges"]]
    return j

def make_llama3(data):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=900, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(data, tr)
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True
    # whole words no merge reaches: only ignore_merges produces them
    vocab = j["model"]["vocab"]
    for w in ["Ġlowbit", "Ġquantization", "lowbit", "ĠĠĠĠĠĠĠĠ"]:
        if w not in vocab:
            vocab[w] = len(vocab)
    n = len(vocab)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    j["added_tokens"] = [dict(id=n + i, content=c, single_word=False, lstrip=False, rstrip=False,
                              normalized=False, special=True) for i, c in enumerate(specials)]
    return j

def spm_vocab(data, vocab_size, limit_alphabet):
    """vocab and merges of a Metaspace BPE (words start with ▁)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tr = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, limit_alphabet=limit_alphabet)
    tok.train_from_iterator(data, tr)
    j = json.loads(tok.to_str())
    return j["model"]["vocab"], j["model"]["merges"]

def added(i, c):
    return dict(id=i, content=c, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)

def make_spm(data):
    tv, merges = spm_vocab(data, 700, 120)
    heads = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    vocab = {t: i for i, t in enumerate(heads)}
    for t, _ in sorted(tv.items(), key=lambda kv: kv[1]):
        if t not in vocab:
            vocab[t] = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }

def make_metaspace(data):
    tv, merges = spm_vocab(data, 600, 90)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for t, _ in sorted(tv.items(), key=lambda kv: kv[1]):
        if t not in vocab:
            vocab[t] = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"),
                         added(len(vocab), "<|endoftext|>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        "post_processor": None,
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }

def make_splits(data):
    """bytelevel's model behind a chain of Split pre-tokenizers using every
    delimiter behaviour, invert, and a String pattern (exercise only)."""
    j = make_bytelevel(data)
    def split(pat, behavior, invert=False):
        return {"type": "Split", "pattern": pat, "behavior": behavior, "invert": invert}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        split({"String": ". "}, "MergedWithPrevious"),
        split({"Regex": r"\d"}, "Contiguous"),
        split({"Regex": r"[aeiouAEIOU]"}, "MergedWithNext"),
        split({"String": "x"}, "Removed"),
        split({"Regex": r"[^\s]+"}, "Isolated", True),
        split({"Regex": r"\p{P}"}, "MergedWithPrevious", True),
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    return j

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

def train_normalized(data, normalizer, pre_tokenizer, vocab):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(data + NORM_TEXTS * 20, tr)
    return tok

def make_qwen2(data):
    tok = train_normalized(data, normalizers.NFC(), pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), 500)
    tok.add_special_tokens([AddedToken(c, normalized=False, special=True)
                            for c in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])
    tok.add_tokens([AddedToken("cafe\u0301", normalized=True)])  # matched as "café"
    return json.loads(tok.to_str())

def make_nfkd_lower(data):
    tok = train_normalized(data, normalizers.Sequence([
        normalizers.NFKD(), normalizers.Lowercase(), normalizers.StripAccents()]),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), 500)
    tok.add_special_tokens([AddedToken(c, normalized=False, special=True)
                            for c in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])
    tok.add_tokens([AddedToken("Na\u00efve", normalized=True)])  # matched as "naive"
    return json.loads(tok.to_str())

def make_strip_nfd(data):
    tok = train_normalized(data, normalizers.Sequence([
        normalizers.Strip(left=True, right=True), normalizers.NFD(),
        normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip(left=False, right=True)]),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), 400)
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False, special=True)])
    return json.loads(tok.to_str())

MAKERS = {"bytelevel": make_bytelevel, "splits": make_splits, "llama3": make_llama3, "spm": make_spm,
          "metaspace": make_metaspace, "legacy": make_legacy, "qwen2": make_qwen2,
          "nfkd_lower": make_nfkd_lower, "strip_nfd": make_strip_nfd}
NORM_CASES = {"qwen2", "nfkd_lower", "strip_nfd"}

def record(tok, texts):
    out = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        out.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    return out

def write_case(outdir, name, j, texts):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    s = json.dumps(j, ensure_ascii=False, separators=(",", ":"))
    tok = Tokenizer.from_str(s)  # the library must accept it as written
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(s)
    write_cases(os.path.join(d, "cases.json"), record(tok, texts))
    return tok

def write_cases(path, cases):
    """A JSON list, one case per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":"))
                                    for c in cases) + "\n]\n")

def make_code8k(outdir):
    data = corpus(24 << 20)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=8192, special_tokens=["<|endoftext|>"], show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(data, tr)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok.to_str())
    with open(os.path.join(outdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
                   "bos_token": None, "model_max_length": 1024,
                   "comment": "byte-level BPE, 8192 tokens, trained on CPython 3.11 stdlib sources "
                              "by scripts/parity/make_tokenizers.py --code8k"}, f, indent=2)
        f.write("\n")

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "tok"))
    ap.add_argument("--only", default="")
    ap.add_argument("--code8k", default="")
    args = ap.parse_args()
    if args.code8k:
        make_code8k(args.code8k)
        return 0
    data = corpus(1 << 20)
    names = args.only.split(",") if args.only else list(MAKERS)
    for name in names:
        texts = TEXTS
        if name in NORM_CASES:
            texts = [without_lib_diffs(t) for t in TEXTS + NORM_TEXTS]
        write_case(args.out, name, MAKERS[name](data), texts)
        print("wrote", os.path.join(args.out, name))
    return 0

if __name__ == "__main__":
    sys.exit(main())
