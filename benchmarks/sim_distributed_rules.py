#!/usr/bin/env python
"""Which way of combining model copies keeps single-process quality: an in-process simulation.

Usage (the runs quoted in docs/distributed.md)::

    python benchmarks/sim_distributed_rules.py --tokens 2000000 --copies 2 --epochs 3 \\
        --runs single,sequential:4,sum:4,mean:4,touched:4,scaled:4 --seeds 1
    python benchmarks/sim_distributed_rules.py --copies 4 --runs sum:4,mean:4,scaled:4,scaled:1 --seeds 1

The first ``--tokens`` tokens of ``benchmarks/make_corpus.py``'s corpus, minus a
held-out 2% of the lines, are cut into ``--copies`` contiguous shards.  Each copy
trains its shard's r-th slice in round r (``hsmcy.distributed._train_slice``, the
training of a shard on a Dask worker, with 1 thread), all from the same
parameters; then the copies' deltas are combined by a rule, exactly (float32):

* ``sequential``: no copies -- the slices trained one after the other on the same
  parameters (single-process training in another word order: the control);
* ``sum``: add the deltas (``w + sum_k d_k``);
* ``mean``: add their mean over all copies (model averaging at the plain learning
  rate);
* ``touched``: the mean over the copies that changed the row (Spark MLlib's rule);
* ``scaled``: the mean, each copy training at ``copies x`` the learning rate (what
  ``hsmcy.distributed`` did until block momentum replaced it);
* ``momentum``: block momentum (Chen & Huo 2016; what ``hsmcy.distributed`` does):
  copies train at the plain rate, the mean of their deltas drives a velocity ``v <-
  (1 - 1/copies) v + mean`` that is added to every row every round (here densely,
  in float64 where ``hsmcy.distributed`` keeps it lazily per row in float32);
* ``momentum2``: block momentum 0.5 whatever the number of copies, each copy
  training at ``copies / 2`` x the learning rate (the same as ``momentum`` for 2);
* ``stale``: the scaled rule, overlapping communication with training: each copy
  trains round r from the average of rounds up to r - 2 plus its own round r - 1
  delta, and round r - 1's mean is added one round late.

``rule:S`` means S rounds per epoch.  ``single`` is ``hsmcy.Word2Vec(workers=2)`` (not
repeatable run to run: two threads share the parameters), ``single1`` the same with one
thread (the trainer each copy uses).  The CBOW screening in docs/distributed.md::

    python benchmarks/sim_distributed_rules.py --tokens 2000000 --copies 2 --epochs 5 \\
        --runs single1,single,scaled:5,scaled:10,scaled:20 --seeds 1,2,3,4,5
    python benchmarks/sim_distributed_rules.py --tokens 6000000 --copies 2 --epochs 5 \\
        --runs scaled:15,single1,sequential:15,scaled:30,sum:15,scaled:120 --seeds 1,2,3
Each run prints and appends one JSON line (``--out``) with the quality measures of
``bench_distributed.py``.  Dask is not involved: this isolates the maths of the rule
from communication.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hsmcy  # noqa: E402
import hsmcy.distributed as hd  # noqa: E402
from bench_distributed import quality, write_shards  # noqa: E402
from hsmcy.corpus import encode_file  # noqa: E402


def simulate(paths, shards, params, seed, rule, rounds_per_epoch):
    model = hsmcy.Word2Vec(**params, seed=seed)
    model.build_vocab(corpus_file=paths["train"])
    copies = len(shards)
    static = hd._Static(words=model.wv.index_to_key, keep_probability=model._keep_probability,
                        path_nodes=model.tree.path_nodes, path_codes=model.tree.path_codes,
                        path_offsets=model.tree.path_offsets, vector_size=model.vector_size, sg=bool(model.sg),
                        window=model.window, shrink_windows=model.shrink_windows, cbow_mean=bool(model.cbow_mean),
                        batch_words=model.batch_words, threads=1, compute_loss=False)
    corpora = [encode_file(path, model.wv.key_to_index) for path in shards]
    weights = (model.wv.vectors, model.syn1)
    total = model.epochs * rounds_per_epoch
    scale = {"scaled": copies, "stale": copies, "momentum2": copies / 2}.get(rule, 1)
    momentum = 0.5 if rule == "momentum2" else 1.0 - 1.0 / copies
    velocity = [np.zeros(w.shape, np.float64) for w in weights] if rule.startswith("momentum") else None
    pending = None   # stale: each copy's delta of the last round, not yet averaged

    def alpha(round_no):
        return scale * (model.alpha + (model.min_alpha - model.alpha) * round_no / total)

    for round_no in range(total):
        slice_index = round_no % rounds_per_epoch
        deltas = []
        for copy, corpus in enumerate(corpora):
            first, last = hd._slice_sentences(corpus.sentence_bounds, slice_index, rounds_per_epoch)
            start = weights if rule == "sequential" else tuple(w.copy() for w in weights)
            if rule == "stale" and pending is not None:
                for matrix, own in zip(start, pending[copy]):
                    matrix += own
            trained = start if rule == "sequential" else tuple(w.copy() for w in start)
            hd._train_slice(static, corpus, first, last, trained[0], trained[1], alpha(round_no),
                            alpha(round_no + 1), [seed, copy, round_no], 1)
            if rule != "sequential":
                deltas.append(tuple(t - w for t, w in zip(trained, start)))
        if rule == "stale":   # this round's deltas are averaged next round
            deltas, pending = pending or [], deltas
            if round_no == total - 1:
                deltas = deltas + pending   # the last round's are not left out
        for index, (matrix, parts) in enumerate(zip(weights, zip(*deltas) if deltas else ())):
            summed = np.sum(parts, axis=0)
            if rule.startswith("momentum"):
                velocity[index] = momentum * velocity[index] + summed.astype(np.float64) / copies
                matrix += velocity[index].astype(np.float32)
            elif rule == "stale" and len(parts) > copies:   # the last round: two rounds' deltas
                matrix += (np.sum(parts[:copies], axis=0) / np.float32(copies)
                           + np.sum(parts[copies:], axis=0) / np.float32(copies))
            elif rule == "sum":
                matrix += summed
            elif rule in ("mean", "scaled", "stale"):
                matrix += summed / np.float32(copies)
            elif rule == "touched":
                changed = np.sum([np.any(part != 0, axis=1) for part in parts], axis=0)
                matrix += summed / np.maximum(changed, 1)[:, None].astype(np.float32)
            else:
                raise ValueError(f"unknown rule {rule!r}")
    model.wv.norms = None
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus.txt")
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sg", type=int, default=0)
    parser.add_argument("--runs", default="single,scaled:4")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--out", default="/tmp/hsmcy_bench/distributed_rules.jsonl")
    args = parser.parse_args()
    params = dict(vector_size=100, window=5, min_count=5, sample=1e-3, sg=args.sg, epochs=args.epochs)
    with tempfile.TemporaryDirectory() as directory:
        paths, shards, _ = write_shards(args.corpus, args.tokens, 0.02, [args.copies], directory)
        for run in args.runs.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                started = time.perf_counter()
                if run in ("single", "single1"):  # single1: one thread (deterministic)
                    model = hsmcy.Word2Vec(corpus_file=paths["train"], workers=1 if run == "single1" else 2,
                                           seed=seed, **params)
                else:
                    rule, rounds = run.split(":")
                    model = simulate(paths, shards[args.copies], params, seed, rule, int(rounds))
                row = {"run": run, "copies": args.copies, "seed": seed, "tokens": args.tokens, "sg": args.sg,
                       "epochs": args.epochs, "seconds": time.perf_counter() - started,
                       **quality(model, paths["heldout"])}
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
                os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
