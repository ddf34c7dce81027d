#!/usr/bin/env python
"""A/B training speed: configurations alternated in fresh processes, round after round.

On a shared or virtual machine the speed drifts by 15-30 % over minutes, so two
builds or settings are compared by running them in turn, each in a new process,
and taking medians of words/s per configuration (look at each round too: when
every configuration of a round is slow, the machine was).  Each configuration may
set environment variables (``env``), a worker count, and the checkout to import
hsmcy from (``root``, built in place; default: this one), e.g. to compare a branch
with main::

    python benchmarks/ab_train.py '{"main": {"root": "/tmp/main"}, "branch": {},
                                    "w1": {"workers": 1}}' --rounds 5

Before and after each run it measures the cache-line round trip between the two
CPUs (``core_latency.py``): a run is "fast" or "slow" when both measurements are
below or both above ``--slow-ns``, else "mixed", and medians are printed per state
as well, since on a virtual machine the placement of the two CPUs decides much of
the two-worker speed.

Trains skip-gram (``--cbow`` for CBOW) with the benchmark's parameters for
``--epochs`` epochs on ``--corpus`` (default: the 4M-token benchmark corpus, built
by ``bench_train.py``), and prints training words/s per configuration and round.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_latency import round_trip_ns  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[5])
import hsmcy
corpus, sg, workers, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = hsmcy.Word2Vec(vector_size=100, window=5, min_count=5, sample=1e-3, epochs=epochs, sg=sg,
                       workers=workers, hs=1, negative=0, seed=1)
model.build_vocab(corpus_file=corpus)
started = time.perf_counter()
model.train(corpus_file=corpus, total_examples=model.corpus_count, total_words=model.corpus_total_words,
            epochs=epochs)
print(model.corpus_total_words * epochs / (time.perf_counter() - started))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", help='JSON: {"name": {"env": {...}, "workers": 2, "root": "/path/to/checkout"}, ...}')
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus_4000000.txt")
    parser.add_argument("--slow-ns", type=float, default=150.0,
                        help="core round trip (ns) above which the machine counts as in its slow state")
    args = parser.parse_args()
    configs = json.loads(args.configs)
    if not os.path.isfile(args.corpus):
        sys.exit(f"corpus {args.corpus!r} not found: run benchmarks/bench_train.py once, or pass --corpus")
    words_per_second = {name: [] for name in configs}
    by_state = {name: {"fast": [], "slow": [], "mixed": []} for name in configs}
    for round_no in range(args.rounds):
        states = []
        for name, config in configs.items():
            env = dict(os.environ, **config.get("env", {}))
            command = [sys.executable, "-c", CHILD, args.corpus, str(int(not args.cbow)),
                       str(config.get("workers", 2)), str(args.epochs), str(config.get("root", ROOT))]
            before = round_trip_ns()
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            after = round_trip_ns()
            if result.returncode != 0:
                sys.exit(f"configuration {name!r} failed:\n{result.stderr[-2000:]}")
            words_per_second[name].append(float(result.stdout.split()[-1]))
            state = machine_state(before, after, args.slow_ns)
            by_state[name][state].append(words_per_second[name][-1])
            states.append(state)
        print(f"round {round_no}: " + ", ".join(f"{name} {values[-1] / 1e6:.3f}M ({state})"
                                               for (name, values), state in zip(words_per_second.items(), states)),
              flush=True)
    print("median words/s: " + ", ".join(f"{name} {statistics.median(values) / 1e6:.3f}M"
                                         for name, values in words_per_second.items()))
    for state in ("fast", "slow"):
        print(f"median words/s, {state} state only: " + ", ".join(
            f"{name} " + (f"{statistics.median(runs[state]) / 1e6:.3f}M ({len(runs[state])} runs)"
                          if runs[state] else "no run") for name, runs in by_state.items()))


def machine_state(before, after, slow_ns):
    """'fast' / 'slow' when both core round trips agree, else 'mixed' (or unmeasured)."""
    if before is None or after is None:
        return "mixed"
    if before < slow_ns and after < slow_ns:
        return "fast"
    if before >= slow_ns and after >= slow_ns:
        return "slow"
    return "mixed"


if __name__ == "__main__":
    main()
