#!/usr/bin/env python
"""How the vectors depend on the number of model copies averaged (gensim's lee_background.cor).

Usage::

    python benchmarks/bench_distributed_shards.py [--replicas 1,2,4,8] [--modes cbow,sg] [--seeds 1,2,3]

lee_background.cor is cut into 8 contiguous shards and trained with
``hsmcy.distributed.train`` on a LocalCluster of 2 worker processes with
``replicas`` model copies (a worker hosts several copies when there are more copies
than workers: the vectors depend on the copies, not on the machines), with the
default rounds, next to single-process hsmcy on the whole file with the same
parameters (vector_size 32, min_count 5, 5 epochs).  The figure is the
log-likelihood per token of the corpus under the trained model
(``Word2Vec.score``: full windows, no down-sampling; higher is better), the median
over seeds.  It stands in for many machines: each copy trains 1/copies of the words
between two averagings, at copies x the learning rate (CBOW) or at the plain rate
with block momentum 1 - 1/copies (skip-gram).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile

from gensim.test.utils import datapath

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hsmcy  # noqa: E402


def log_likelihood(model, sentences):
    known = sum(1 for sentence in sentences for word in sentence if word in model.wv.key_to_index)
    return float(model.score(sentences, total_sentences=len(sentences)).sum()) / known


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", default="1,2,4,8")
    parser.add_argument("--modes", default="cbow,sg")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed

    lee = datapath("lee_background.cor")
    lines = open(lee, encoding="utf-8").read().splitlines(keepends=True)
    sentences = [line.split() for line in lines]
    seeds = [int(s) for s in args.seeds.split(",")]
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    print(f"{'mode':>5s} {'run':>22s} {'log-likelihood/token':>21s} {'syncs/epoch':>11s}")
    try:
        with tempfile.TemporaryDirectory() as directory:
            paths = []
            for i in range(8):
                path = os.path.join(directory, f"lee-{i}.txt")
                with open(path, "w", encoding="utf-8") as handle:
                    handle.writelines(lines[len(lines) * i // 8:len(lines) * (i + 1) // 8])
                paths.append(path)
            for mode in args.modes.split(","):
                params = dict(vector_size=32, min_count=5, epochs=5, sg={"cbow": 0, "sg": 1}[mode])
                single = [log_likelihood(hsmcy.Word2Vec(corpus_file=lee, workers=2, seed=seed, **params), sentences)
                          for seed in seeds]
                print(f"{mode:>5s} {'single process':>22s} {statistics.median(single):21.4f}", flush=True)
                for copies in (int(r) for r in args.replicas.split(",")):
                    scores, syncs = [], None
                    for seed in seeds:
                        model = hsmcy.distributed.train(client, paths, replicas=copies, seed=seed, **params)
                        scores.append(log_likelihood(model, sentences))
                        syncs = model.distributed_report["syncs_per_epoch"]
                    print(f"{mode:>5s} {f'{copies} copies':>22s} {statistics.median(scores):21.4f} {syncs:11d}",
                          flush=True)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
