#!/usr/bin/env python
"""How much the single-process reference of bench_distributed.py moves between runs.

Usage (the committed run)::

    python benchmarks/single_reference_spread.py --tokens 2000000 --modes cbow,sg --seeds 1,2,3,4,5 \\
        --out benchmarks/results/single_reference_2M.json

The same corpus, parameters, held-out split and quality measures as
``bench_distributed.py``; for each mode and seed, single-process ``hsmcy.Word2Vec``
with 1 worker thread (deterministic), 2 threads (the benchmark's reference; not
repeatable: the threads share the parameters, Hogwild style, so the result depends on
how they interleave, i.e. on the machine's load), and 2 threads without private tree
rows (``hsmcy._training.PRIVATE_ROWS`` levels 0).  Comparing its medians with the
reference rows of ``results/distributed.json`` shows how far that reference moves
between sessions.
"""
import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hsmcy  # noqa: E402
import hsmcy._training as training  # noqa: E402
from bench_distributed import PARAMS, quality, write_shards  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus.txt")
    parser.add_argument("--tokens", type=int, default=2000000)
    parser.add_argument("--modes", default="cbow,sg")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--out", default="/tmp/hsmcy_bench/single_reference.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        paths, _, _ = write_shards(args.corpus, args.tokens, 0.02, [2], directory)
        for mode in args.modes.split(","):
            for variant in ("1 thread", "2 threads", "2 threads, no private rows"):
                training.PRIVATE_ROWS = (dataclasses.replace(training.PrivateRows(), levels_sg=0, levels_cbow=0)
                                         if "no private" in variant else training.PrivateRows())
                for seed in (int(s) for s in args.seeds.split(",")):
                    model = hsmcy.Word2Vec(corpus_file=paths["train"], workers=1 if variant == "1 thread" else 2,
                                           sg=int(mode == "sg"), seed=seed, **PARAMS)
                    row = {"tokens": args.tokens, "mode": mode, "variant": variant, "seed": seed,
                           "load": os.getloadavg()[0], **quality(model, paths["heldout"])}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    training.PRIVATE_ROWS = training.PrivateRows()
    summary = {f"{mode} / {variant}": statistics.median(r["analogy"] for r in rows
                                                        if (r["mode"], r["variant"]) == (mode, variant))
               for mode in args.modes.split(",") for variant in ("1 thread", "2 threads", "2 threads, no private rows")}
    with open(args.out, "w") as handle:
        json.dump({"command": " ".join(sys.argv), "parameters": PARAMS, "median_analogy": summary, "rows": rows},
                  handle, indent=1)
    for key, value in summary.items():
        print(f"{key}: median analogy {value:.2f}")


if __name__ == "__main__":
    main()
