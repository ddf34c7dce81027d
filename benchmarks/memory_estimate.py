"""estimate_memory() against the measured peak RSS, up to a 1,000,000-word x 300-dimension model.

Each case writes a synthetic corpus (every word once, then Zipf-distributed tokens)
and runs tests/memory_probe.py in a fresh process: build_vocab + one epoch of CBOW
training, peak RSS read from /proc/self/status (VmHWM) after resetting it just
before build_vocab.  Prints a table and writes JSON.

    python benchmarks/memory_estimate.py [--out benchmarks/results/memory.json] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = [  # (vocabulary, tokens, tokens per line, vector_size)
    (100_000, 600_000, 15, 200),
    (5_000, 5_000_000, 20, 32),
    (300_000, 2_000_000, 20, 100),
    (1_000_000, 3_000_000, 20, 300),
]


def write_corpus(path, vocab_size, n_tokens, per_line, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.arange(vocab_size), rng.zipf(1.2, n_tokens - vocab_size) % vocab_size])
    rng.shuffle(ids)
    words = [f"w{i}" for i in range(vocab_size)]
    with open(path, "w") as handle:
        for start in range(0, len(ids), per_line):
            handle.write(" ".join(map(words.__getitem__, ids[start:start + per_line].tolist())) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.json"))
    parser.add_argument("--quick", action="store_true", help="skip the 1M x 300 case")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for vocab_size, n_tokens, per_line, vector_size in CASES[:-1] if args.quick else CASES:
            path = os.path.join(folder, "corpus.txt")
            write_corpus(path, vocab_size, n_tokens, per_line)
            output = subprocess.run([sys.executable, str(ROOT / "tests" / "memory_probe.py"), path, str(vector_size),
                                     "2", "1"], capture_output=True, text=True, check=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            result.update(vector_size=vector_size, ratio=result["estimate"]["total"] / result["peak_growth"])
            rows.append(result)
            print(f"{vocab_size:>9} words {n_tokens:>10} tokens {vector_size:>4} dims: estimate "
                  f"{result['estimate']['total'] / 2**20:8.1f} MiB, measured peak growth "
                  f"{result['peak_growth'] / 2**20:8.1f} MiB, ratio {result['ratio']:.3f}, "
                  f"arrays kept in place: {result['same_arrays']}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
