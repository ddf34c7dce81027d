#!/usr/bin/env python
"""A/B of training settings in one process, short runs, sorted by the machine's state.

On the benchmark VM the two CPUs switch every few seconds between a placement that
shares a cache and one that does not (``core_latency.py``), and two-worker training
is much slower in the second.  ``ab_train.py`` runs each configuration in a fresh
process for whole epochs, so a comparison in the slow state needs luck.  This script
builds one model, then trains it for one epoch of a small corpus at a time (about a
second), configuration after configuration, measuring the core round trip before
and after each run; medians are reported per state (both measurements fast, both
slow, or mixed).  Many short runs give many samples of both states.

A configuration sets ``workers``, the ``kernel`` and fields of the private-row
settings (``private_rows``: fields of ``hsmcy._training.PrivateRows``, e.g.
``levels_cbow``); anything not set keeps its default::

    python benchmarks/ab_states.py --rounds 30 '{"default": {}, "blas": {"kernel": "blas"},
        "cbow11": {"private_rows": {"levels_cbow": 11}}}' --cbow

``--vector-size`` sets the model's width, and ``--misalign`` puts both weight arrays
16 bytes past a cache-line boundary, where NumPy's own allocations start (hsmcy
allocates them on one: ``hsmcy.memory.aligned_zeros``), to measure what that costs.

The learning rate restarts with every run, so these runs measure speed only.
"""
import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_train import machine_state  # noqa: E402
from core_latency import round_trip_ns  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = "/tmp/hsmcy_bench/corpus_4000000.txt"


def first_lines(corpus, tokens, out_path):
    """The first lines of ``corpus`` holding about ``tokens`` tokens, written to ``out_path``."""
    count = 0
    with open(corpus, encoding="utf-8", errors="replace") as source, open(out_path, "w", encoding="utf-8") as out:
        for line in source:
            out.write(line)
            count += len(line.split())
            if count >= tokens:
                break
    return out_path


def misaligned(array, offset=16):
    """A copy of ``array`` whose first element lies ``offset`` bytes past a cache line."""
    raw = np.zeros(array.nbytes + 64 + offset, dtype=np.uint8)
    skip = (offset - raw.ctypes.data) % 64
    copy = raw[skip:skip + array.nbytes].view(array.dtype).reshape(array.shape)
    copy[...] = array
    return copy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", help='JSON: {"name": {"workers": 2, "kernel": "fast", "private_rows": {...}}, ...}')
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens of --corpus trained per run")
    parser.add_argument("--slow-ns", type=float, default=150.0)
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--misalign", action="store_true",
                        help="weights 16 bytes past a cache-line boundary (as NumPy allocates them)")
    args = parser.parse_args()
    configs = json.loads(args.configs)
    if not os.path.isfile(args.corpus):
        sys.exit(f"corpus {args.corpus!r} not found: run benchmarks/bench_train.py once, or pass --corpus")

    sys.path.insert(0, str(ROOT))
    import hsmcy
    from hsmcy import _training

    corpus = first_lines(args.corpus, args.tokens, f"/tmp/hsmcy_ab_states_{os.getpid()}.txt")
    try:
        model = hsmcy.Word2Vec(vector_size=args.vector_size, window=5, min_count=5, sample=1e-3, sg=int(not args.cbow),
                               workers=2, hs=1, negative=0, seed=1, epochs=1)
        model.build_vocab(corpus_file=corpus)
        if args.misalign:
            model.wv.vectors, model.syn1 = misaligned(model.wv.vectors), misaligned(model.syn1)
            model._align_weights = lambda: None   # train() would move them back
        default_rows = _training.PRIVATE_ROWS
        rates = {name: {"fast": [], "slow": [], "mixed": []} for name in configs}
        for _ in range(args.rounds):
            for name, config in configs.items():
                _training.PRIVATE_ROWS = dataclasses.replace(default_rows, **config.get("private_rows", {}))
                model.kernel = config.get("kernel", "fast")
                model.workers = int(config.get("workers", 2))
                before = round_trip_ns()
                started = time.perf_counter()
                model.train(corpus_file=corpus, total_examples=model.corpus_count,
                            total_words=model.corpus_total_words, epochs=1)
                rate = model.corpus_total_words / (time.perf_counter() - started)
                rates[name][machine_state(before, round_trip_ns(), args.slow_ns)].append(rate)
    finally:
        os.unlink(corpus)
    for name, by_state in rates.items():
        parts = [f"{state} {statistics.median(values) / 1e6:.3f}M ({len(values)} runs)"
                 for state, values in by_state.items() if values]
        print(f"{name}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
