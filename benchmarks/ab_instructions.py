#!/usr/bin/env python
"""A/B of two builds that does not depend on the machine's load: instructions and vectors.

On a shared machine words/s drift by 15-30 % from minute to minute.  Two things do not:
the number of instructions a build executes to train the same words (valgrind's
callgrind counts them, one worker, only inside the batch-training call), and the
vectors a one-worker run with a fixed seed produces.  For each mode and kernel this
prints both builds' instruction counts, their ratio, and whether the vectors are
bit-for-bit equal (else the largest difference)::

    python benchmarks/ab_instructions.py /tmp/main /path/to/branch --corpus corpus.txt --tokens 120000

Each checkout must be built in place.  ``--toggle`` names the function whose calls are
counted, per checkout (a glob over C symbols); the default is the current entry point,
``TrainingWorker.train``.  Checkouts from before December 2026 (``train_batch``, kernels
``window``/``blas``) take ``--old-api``.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import sys
import numpy as np
root, sg, kernel, old_api, corpus, out = sys.argv[1:7]
sys.path.insert(0, root)
import hsmcy
model = hsmcy.Word2Vec(vector_size=100, window=5, min_count=5, sample=1e-3, sg=int(sg), workers=1, seed=1, epochs=1)
model.kernel = {"fast": "window"}.get(kernel, kernel) if old_api == "1" else kernel
model.build_vocab(corpus_file=corpus)
model.train(corpus_file=corpus, total_examples=model.corpus_count, epochs=1)
np.save(out, np.concatenate([model.wv.vectors, model.syn1]))
"""
# Only the Python-level wrapper (``pw``): callgrind toggles collection at every entry
# to a matching function, so matching the wrapper and the function it calls
# (``pf``) would switch collection on and straight off again.
NEW_TOGGLE = "*pyx_pw_5hsmcy_8_kernels_*TrainingWorker_*train"
OLD_TOGGLE = "*pyx_pw_5hsmcy_8_kernels_*train_batch*"


def run(root, sg, kernel, old_api, corpus, folder):
    out = os.path.join(folder, f"{os.path.basename(root.rstrip('/'))}-{sg}-{kernel}.npy")
    log = out + ".log"
    toggle = OLD_TOGGLE if old_api else NEW_TOGGLE
    subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={toggle}",
                    f"--callgrind-out-file={out}.cg", f"--log-file={log}", sys.executable, "-c", CHILD, root,
                    str(sg), kernel, "1" if old_api else "0", corpus, out], check=True)
    collected = re.search(r"Collected : (\d+)", open(log).read())
    return int(collected.group(1)), np.load(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="checkout A (built in place)")
    parser.add_argument("b", help="checkout B (built in place)")
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus_4000000.txt")
    parser.add_argument("--tokens", type=int, default=120_000, help="tokens from the start of --corpus")
    parser.add_argument("--old-api", choices=["a", "b", "none"], default="none",
                        help="which checkout predates TrainingWorker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = os.path.join(folder, "corpus.txt")
        with open(args.corpus, encoding="utf-8") as source, open(corpus, "w", encoding="utf-8") as target:
            count = 0
            for line in source:
                if count >= args.tokens:
                    break
                target.write(line)
                count += len(line.split())
        print("| mode | kernel | instructions A | instructions B | B / A | vectors |")
        print("|---|---|---:|---:|---:|---|")
        for sg in (1, 0):
            for kernel in ("fast", "blas"):
                count_a, vectors_a = run(args.a, sg, kernel, args.old_api == "a", corpus, folder)
                count_b, vectors_b = run(args.b, sg, kernel, args.old_api == "b", corpus, folder)
                same = "identical" if np.array_equal(vectors_a, vectors_b) else \
                    f"max difference {np.abs(vectors_a - vectors_b).max():.1e}"
                print(f"| {'skip-gram' if sg else 'CBOW'} | {kernel} | {count_a:,} | {count_b:,} | "
                      f"{count_b / count_a:.4f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
