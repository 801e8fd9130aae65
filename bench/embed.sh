#!/bin/bash
# Embedding throughput: a BERT of all-MiniLM-L6-v2's shape (384x6, 12 heads,
# ff 1536, vocab 30522 = bert-bge's WordPiece) with random weights, F32 and
# F16, 1,000 generated sentences of ~13 tokens, 1 and 2 threads, batch 64;
# beside llama.cpp's llama-embedding figures from ../shared/BASELINES.md.
set -u
B=${RAGD_BUILD:-build}
T=${RAGD_BENCH_TMP:-/tmp}
VOCAB=${RAGD_SHARED:-../shared}/fixtures/vocab/ggml-vocab-bert-bge.gguf
[ -f "$VOCAB" ] || { echo "skip: $VOCAB absent (needs ../shared)"; exit 0; }
make -s "$B/bench/bench_mkbert" >/dev/null || exit 1
words=(the system stores documents and answers questions about policy travel expense manual
       device battery warranty network security report quarterly revenue customer support
       model index search query vector engine memory thread latency budget approval team)
python3 - "$T/sentences.txt" "${words[@]}" <<'PY'
import random, sys
random.seed(7)
w = sys.argv[2:]
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(" ".join(random.choice(w) for _ in range(random.randint(8, 13))).capitalize() + ".\n")
PY
for t in f32 f16; do
    "$B/bench/bench_mkbert" "$VOCAB" "$T/bert-$t.gguf" $t || exit 1
done
python3 - "$RAGD_BIN" "$T" <<'PY'
import resource, subprocess, sys, time
ragd, tmp = sys.argv[1], sys.argv[2]
peer = {("f32", 1): 131, ("f32", 2): 232, ("f16", 1): 143, ("f16", 2): 269}
n = sum(1 for _ in open(tmp + "/sentences.txt"))
print("%-5s %-7s %12s %16s %16s %8s" % ("type", "threads", "sent/s wall", "sent/CPU-second", "llama.cpp sent/s", "ratio"))
for t in ("f32", "f16"):
    for th in (1, 2):
        best, best_cpu = 0.0, 0.0
        for rep in range(3):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.time()
            with open(tmp + "/sentences.txt") as f:
                subprocess.run([ragd, "embed", "-m", "%s/bert-%s.gguf" % (tmp, t), "-t", str(th), "--batch", "64",
                                "-o", tmp + "/e.bin"], stdin=f, stderr=subprocess.DEVNULL, check=True)
            dt = time.time() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            best = max(best, n / dt)
            best_cpu = max(best_cpu, n / cpu * th)
        print("%-5s %-7d %12.1f %16.1f %16d %7.2fx" % (t, th, best, best_cpu / th, peer[(t, th)], best / peer[(t, th)]))
print("sent/s wall is the measured throughput (best of 3; includes model load); sent/CPU-second")
print("is per core of CPU time actually used. llama.cpp figures: BASELINES.md (llama-embedding,")
print("same shape, measured on an idle machine). Ratio = wall / llama.cpp.")
PY
