#!/usr/bin/env python3
"""gen_gguf_corpus.py - writes the hostile-GGUF seed corpus of fuzz_gguf.

One file per class of the crafted-GGUF CVEs of llama.cpp / Ollama
(CVE-2024-23496, CVE-2025-53630, CVE-2026-33298, CVE-2024-39720 ...) plus
two valid files to start mutation from.  tests/test_gguf.c asserts each
hostile file is rejected with a message naming the field.
Run from the repository root: python3 fuzz/gen_gguf_corpus.py"""
import os
import struct

OUT = "fuzz/corpus/fuzz_gguf"

def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)
def s(b):
    if isinstance(b, str): b = b.encode()
    return u64(len(b)) + b

def header(nt, nkv, version=3): return b"GGUF" + u32(version) + u64(nt) + u64(nkv)
def kv_u32(k, v): return s(k) + u32(4) + u32(v)
def kv_str(k, v): return s(k) + u32(8) + s(v)
def tinfo(name, ne, typ=0, off=0):
    return s(name) + u32(len(ne)) + b"".join(u64(x) for x in ne) + u32(typ) + u64(off)
def pad(b, a=32): return b + b"\0" * ((-len(b)) % a)

def valid(tensors=(("w", [8, 2], 0),), extra_kv=b"", nkv=1):
    hdr = header(len(tensors), nkv) + kv_str("general.architecture", "llama") + extra_kv
    off, infos, data = 0, b"", b""
    for name, ne, typ in tensors:
        n = 1
        for x in ne: n *= x
        nb = n * 4
        infos += tinfo(name, ne, typ, off)
        data += b"\x11" * nb + b"\0" * ((-nb) % 32)
        off += nb + ((-nb) % 32)
    return pad(hdr + infos) + data

files = {}
# valid seeds
files["valid-small.gguf"] = valid()
files["valid-vocab.gguf"] = header(0, 3) + kv_str("tokenizer.ggml.model", "llama") + \
    s("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(3) + s("<unk>") + s("a") + s("b") + \
    s("tokenizer.ggml.scores") + u32(9) + u32(6) + u64(3) + struct.pack("<3f", 0, -1, -2)

# header classes
files["bad-magic.gguf"] = b"GGML" + u32(3) + u64(0) + u64(0)
files["version-1.gguf"] = header(0, 0, version=1)
files["version-big-endian.gguf"] = b"GGUF" + struct.pack(">I", 3) + u64(0) + u64(0)
files["truncated-header.gguf"] = b"GGUF" + u32(3) + u64(0)
files["huge-kv-count.gguf"] = header(0, 1 << 60) + kv_str("a", "b")
files["huge-tensor-count.gguf"] = header(1 << 62, 0)
files["kv-count-vs-size.gguf"] = header(0, 1000) + kv_str("a", "b")
# strings (CVE-2024-23496 class: length read from file used unchecked)
files["key-length-overflow.gguf"] = header(0, 1) + u64(0xFFFFFFFFFFFFFFFF) + b"abcd" * 8
files["string-length-past-eof.gguf"] = header(0, 1) + s("general.name") + u32(8) + u64(1 << 40) + b"xx"
files["string-length-wrap.gguf"] = header(0, 1) + s("general.name") + u32(8) + u64(0xFFFFFFFFFFFFFFF0) + b"xx"
# arrays (CVE-2024-39720 / CVE-2025-53630 class: count * size overflow)
files["array-count-overflow.gguf"] = header(0, 1) + s("a") + u32(9) + u32(10) + u64(1 << 61) + u64(0)
files["array-string-count-huge.gguf"] = header(0, 1) + s("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(1 << 40) + s("a")
files["array-string-elem-overflow.gguf"] = header(0, 1) + s("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(2) + s("a") + u64(0xFFFFFFFFFFFFFFFF)
files["array-unknown-elem-type.gguf"] = header(0, 1) + s("a") + u32(9) + u32(77) + u64(1) + u32(0)
nest = b""
for _ in range(64): nest += u32(9) + u64(1)
files["nested-array-deep.gguf"] = header(0, 1) + s("bomb") + u32(9) + nest + u32(0) + u64(0)
files["nested-array-wide.gguf"] = header(0, 1) + s("bomb") + u32(9) + u32(9) + u64(1 << 40) + (u32(0) + u64(0)) * 4
files["unknown-kv-type.gguf"] = header(0, 1) + s("a") + u32(13) + u32(0)
files["duplicate-key.gguf"] = header(0, 2) + kv_u32("a.b", 1) + kv_u32("a.b", 2)
files["alignment-zero.gguf"] = header(0, 1) + kv_u32("general.alignment", 0)
files["alignment-not-pow2.gguf"] = header(0, 1) + kv_u32("general.alignment", 48)
files["alignment-wrong-type.gguf"] = header(0, 1) + kv_str("general.alignment", "32")
# tensors (CVE-2026-33298 class: dims product / offset checks)
def one_tensor(info, data=b"\0" * 64):
    return pad(header(1, 1) + kv_str("general.architecture", "llama") + info) + data
files["tensor-dims-product-overflow.gguf"] = one_tensor(tinfo("w", [1 << 32, 1 << 32, 1 << 32]))
files["tensor-bytes-overflow.gguf"] = one_tensor(tinfo("w", [1 << 31, 1 << 31]))
files["tensor-huge-size.gguf"] = one_tensor(tinfo("w", [1 << 30, 1 << 30, 2]))
files["tensor-dim-negative.gguf"] = one_tensor(tinfo("w", [-8 & 0xFFFFFFFFFFFFFFFF, 2]))
files["tensor-ndims-too-many.gguf"] = one_tensor(s("w") + u32(5) + u64(1) * 5 + u32(0) + u64(0))
files["tensor-ndims-huge.gguf"] = one_tensor(s("w") + u32(0xFFFFFFFF) + u64(1) * 4)
files["tensor-offset-past-eof.gguf"] = one_tensor(tinfo("w", [8], 0, 1 << 20))
files["tensor-offset-size-wrap.gguf"] = one_tensor(tinfo("w", [8], 0, 0xFFFFFFFFFFFFFFE0))
files["tensor-size-past-eof.gguf"] = one_tensor(tinfo("w", [1024, 1024], 0, 0))
files["tensor-misaligned-offset.gguf"] = one_tensor(tinfo("w", [4], 0, 4))
files["tensor-unknown-type.gguf"] = one_tensor(tinfo("w", [8], 4, 0))
files["tensor-block-size.gguf"] = one_tensor(tinfo("w", [33], 8, 0), b"\0" * 128)
files["tensor-name-too-long.gguf"] = one_tensor(tinfo("w" * 300, [8]))
files["tensor-name-length-overflow.gguf"] = one_tensor(u64(0xFFFFFFFFFFFFFFFF) + b"w")
hdr = header(2, 1) + kv_str("general.architecture", "llama") + tinfo("w", [8]) + tinfo("w", [8], 0, 32)
files["tensor-duplicate-name.gguf"] = pad(hdr) + b"\0" * 64
hdr = header(2, 1) + kv_str("general.architecture", "llama") + tinfo("a", [16]) + tinfo("b", [8], 0, 32)
files["tensor-overlap.gguf"] = pad(hdr) + b"\0" * 128
files["data-section-past-eof.gguf"] = header(1, 1) + kv_str("general.architecture", "llama") + tinfo("w", [0])

os.makedirs(OUT, exist_ok=True)
for name, data in sorted(files.items()):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(files)} files to {OUT}")
