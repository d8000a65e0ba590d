#!/usr/bin/env python3
"""fuzz_tokenizers.py — random awkward texts encoded by the Hugging Face
`tokenizers` library, for lowbit's tokenizer parity test.

For every DIR/<case>/tokenizer.json (as written by make_tokenizers.py) writes
DIR/<case>/fuzz.json: a list of {text, ids, decoded} for N texts built from
random fragments: code, words, accented Latin, Cyrillic, Greek, CJK, Hangul,
emoji (ZWJ sequences, skin tones, flags), combining marks (runs of random
marks of many combining classes after letters), compatibility characters
(ligatures, fullwidth, super/subscripts, squared, circled, CJK
compatibility ideographs, halfwidth kana, compatibility jamo), case
oddities (İ ı ß ẞ Σ ς), many kinds of
white space (NBSP, U+202F, ZWSP, U+3000, NEL, U+180E, U+001C..U+001F, ...),
CRLF, runs of spaces and newlines, numbers, contractions in any case,
special tokens (whole and broken), random code points, and random bytes
decoded as UTF-8 with replacement. Deterministic for a given --seed.

Two long texts (the first 600 joined, and argparse.py) come last.

For tokenizers with a Unicode normalizer (NFC, NFD, NFKC, NFKD, StripAccents)
the characters of make_tokenizers.LIB_UNICODE_DIFFS are taken out of the
texts: the library's normalization data is older than Unicode 14.0 and
normalizes those few (new since about Unicode 9.0) differently.

Usage: fuzz_tokenizers.py --dir DIR [--n 3000] [--seed 1]
"""
import argparse
import json
import os
import random
import sys

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizers import without_lib_diffs  # noqa: E402

WORDS = ("the of and to in is that for it as was with be by on not he I this are or his from at which "
         "but have an they you were her all she there would their we him been has when who will more no "
         "def return self import class None True False lambda yield async await print range len "
         "lowbit quantization Hello WORLD naïve café résumé Straße").split()
CODE = ["def f(x):\n    return x + 1\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
        "if __name__ == '__main__':\n    main()\n", "x = {'a': [1, 2.5, -3e10], \"b\": None}",
        "#include <stdio.h>\r\n", "    # comment\n", "\t\treturn;\n", "a->b.c[0] &= ~0xFF;",
        "s = f\"{x!r:>10}\"", "/* block */", "// line", "<div class=\"x\">&amp;</div>"]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<unk>", "<|mask|>", "[WORD]",
           "<|begin_of_text|>", "<|end_of_text|>", "<|endoftext|", "<|im_", "</", "<s", "[WORD", "<0x41>"]
CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
                "'lL", "'d", "'D", "'ſ", "'K", "’s", "n't", "N'T"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u202f", "\u200b", "\u3000",
          "\u2028", "\u2029", "\u0085", "\u180e", "\u001c", "\u001d", "\u001e", "\u001f", "\u000b",
          "\u000c", "\u2000", "\u2009", "\u200a", "\u205f", "\u1680", "\ufeff", " \n ", "\t \t"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "✨", "❤️", "🏳️‍🌈", "🧑🏿‍💻", "👩‍❤️‍💋‍👨", "🙂", "🤖", "🦀"]
NUMBERS = ["0", "7", "42", "123", "1234", "12345", "3.14", "1,000", "-1", "٣٤", "Ⅻ", "½", "²", "𝟘𝟙", "१२३"]

MARKS = [(0x300, 0x36f), (0x483, 0x489), (0x591, 0x5c7), (0x610, 0x61a), (0x64b, 0x65f), (0x93c, 0x94d),
         (0x1ab0, 0x1abe), (0x1dc0, 0x1df5), (0x20d0, 0x20f0), (0x302a, 0x302f), (0x3099, 0x309a),
         (0xfe20, 0xfe2f), (0x1d165, 0x1d169), (0x1d17b, 0x1d182)]
COMPAT = [(0xfb00, 0xfb06), (0xff01, 0xff5e), (0xff61, 0xffdc), (0x2070, 0x209c), (0x2460, 0x24ff),
          (0x3300, 0x33ff), (0x3131, 0x318e), (0xf900, 0xfad9), (0x2150, 0x2189), (0x1f100, 0x1f1ad),
          (0x2000, 0x200a), (0x2100, 0x214f), (0xfe30, 0xfe6b), (0x1d400, 0x1d7ff), (0x2f800, 0x2fa1d)]
CASES = ["\u0130", "\u0131", "I", "i", "\u00df", "\u1e9e", "\u03a3", "\u03c3", "\u03c2", "\u01c5",
         "\u212a", "\u2126", "\u212b", "\u0345", "\u1fbc", "\u0149", "\u00c5", "A\u030a", "e\u0301"]
LETTERS = "aeiouAEIOUnNcCsSzZ\u03b1\u03c9\u0438\u05d0\u0627\u0915\u1100\u1161\uac00"

def rand_marks(r):
    """a letter (sometimes none) and 1..4 random combining marks."""
    t = r.choice(LETTERS) if r.random() < 0.85 else ""
    for _ in range(r.randint(1, 4)):
        lo, hi = r.choice(MARKS)
        t += chr(r.randint(lo, hi))
    return t

def rand_compat(r):
    lo, hi = r.choice(COMPAT)
    return "".join(chr(r.randint(lo, hi)) for _ in range(r.randint(1, 4)))

RANGES = [(0x41, 0x5a), (0x61, 0x7a), (0xc0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x530, 0x58f),
          (0x5d0, 0x5ea), (0x620, 0x64a), (0x900, 0x97f), (0xe00, 0xe5b), (0x1100, 0x11ff), (0x3040, 0x30ff),
          (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0x300, 0x36f), (0x2000, 0x206f), (0x2100, 0x22ff),
          (0xff00, 0xffef), (0x1d400, 0x1d7ff), (0x1f300, 0x1f6ff), (0x20000, 0x2a6df)]

def rand_chars(r):
    lo, hi = r.choice(RANGES)
    return "".join(chr(r.randint(lo, hi)) for _ in range(r.randint(1, 8)))

def rand_bytes(r):
    return bytes(r.randrange(256) for _ in range(r.randint(1, 12))).decode("utf-8", errors="replace")

def rand_cp(r):
    while True:
        c = r.randint(1, 0x2ffff)
        if not 0xd800 <= c <= 0xdfff:
            return chr(c)

def fragment(r):
    k = r.random()
    if k < 0.22: return r.choice(WORDS) + ("" if r.random() < 0.5 else " ")
    if k < 0.34: return r.choice(SPACES) * r.randint(1, 3)
    if k < 0.42: return r.choice(CODE)
    if k < 0.50: return r.choice(SPECIAL)
    if k < 0.57: return r.choice(CONTRACTIONS)
    if k < 0.64: return r.choice(EMOJI)
    if k < 0.71: return r.choice(NUMBERS)
    if k < 0.76: return rand_chars(r)
    if k < 0.80: return rand_bytes(r)
    if k < 0.83: return rand_cp(r)
    if k < 0.89: return rand_marks(r)
    if k < 0.94: return rand_compat(r)
    if k < 0.97: return r.choice(CASES)
    return r.choice(WORDS).upper()

def make_text(r):
    if r.random() < 0.03:
        return ""
    return "".join(fragment(r) for _ in range(r.randint(1, 24)))

def case_entry(text, ids, decoded):
    """{text, ids, decoded}; strings with a NUL also as UTF-8 hex (C JSON readers stop at NUL)."""
    d = {"text": text, "ids": ids, "decoded": decoded}
    for k in ("text", "decoded"):
        if "\x00" in d[k]:
            d[k + "_hex"] = d[k].encode("utf-8").hex()
    return d

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    r = random.Random(args.seed)
    texts = [make_text(r) for _ in range(args.n)]
    # two long texts (> 16 KB, where lowbit caches pre-tokens): fuzz and real code
    texts.append("".join(texts[:600]))
    with open(os.path.join(os.path.dirname(os.__file__), "argparse.py"), encoding="utf-8") as f:
        texts.append(f.read())
    for case in sorted(os.listdir(args.dir)):
        path = os.path.join(args.dir, case, "tokenizer.json")
        if not os.path.isfile(path):
            continue
        tok = Tokenizer.from_file(path)
        with open(path, encoding="utf-8") as f:
            norm = json.load(f).get("normalizer")
        unicode_norm = any('"type": "%s"' % t in json.dumps(norm)
                           for t in ("NFC", "NFD", "NFKC", "NFKD", "StripAccents"))
        out = []
        for t in texts:
            if unicode_norm:
                t = without_lib_diffs(t)
            ids = tok.encode(t, add_special_tokens=False).ids
            out.append(case_entry(t, ids, tok.decode(ids, skip_special_tokens=False)))
        with open(os.path.join(args.dir, case, "fuzz.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False)
        print("%s: %d texts" % (case, len(out)))
    return 0

if __name__ == "__main__":
    sys.exit(main())
