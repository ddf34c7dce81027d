#!/usr/bin/env python
"""How the averaging rules behave as the number of shards grows (gensim's lee_background.cor).

Usage::

    python benchmarks/bench_distributed_shards.py [--shards 2,4,8] [--rules adaptive,sum,touched,mean]

lee_background.cor is split into K contiguous shards and trained with
``hsmcy.distributed.train`` on a LocalCluster of 2 worker processes (shards beyond 2
share a worker: the algorithm, and so the quality, depends on the number of shards,
not of machines), 5 epochs, at 1 and 4 synchronisations per epoch.  The figure is the
loss per word on the corpus under the trained model -- the training objective: the
model's own down-sampling, full windows, no update -- next to single-process hsmcy
with the same parameters.  Lower is better; an untrained model scores about 6.95.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

import numpy as np
from gensim.test.utils import datapath

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hsmcy  # noqa: E402
from hsmcy import _kernels  # noqa: E402
from hsmcy.corpus import encode_file  # noqa: E402


def objective_loss(model, path):
    """Mean loss per predicted word: the model's down-sampling (fixed RNG stream), full windows, alpha 0."""
    encoded = encode_file(path, model.wv.key_to_index)
    tree, size = model.tree, model.vector_size
    _, trained, loss = _kernels.train_batch(
        bool(model.sg), encoded.token_ids, encoded.sentence_bounds, model._keep_probability,
        model.wv.vectors.copy(), model.syn1.copy(), tree.path_nodes, tree.path_codes, tree.path_offsets,
        model.window, False, bool(model.cbow_mean), 0.0, 0.0, np.array([12345], np.uint64),
        np.zeros(size, np.float32), np.zeros(size, np.float32), np.zeros(encoded.longest_sentence, np.int32), True)
    return loss / trained


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", default="2,4,8")
    parser.add_argument("--rules", default="adaptive,sum,touched,mean")
    parser.add_argument("--syncs", default="1,4")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed

    lee = datapath("lee_background.cor")
    lines = open(lee, encoding="utf-8").read().splitlines(keepends=True)
    params = dict(vector_size=32, min_count=5, epochs=5, seed=1)
    single = hsmcy.Word2Vec(corpus_file=lee, workers=1, **params)
    print(f"single process: {objective_loss(single, lee):.4f}")
    syncs = [int(s) for s in args.syncs.split(",")]
    print(f"{'shards':>6s} {'rule':>9s} " + " ".join(f"{f'{s} sync/ep':>10s}" for s in syncs))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        with tempfile.TemporaryDirectory() as directory:
            for k in (int(s) for s in args.shards.split(",")):
                paths = []
                for i in range(k):
                    path = os.path.join(directory, f"lee-{k}-{i}.txt")
                    with open(path, "w", encoding="utf-8") as handle:
                        handle.writelines(lines[len(lines) * i // k:len(lines) * (i + 1) // k])
                    paths.append(path)
                for rule in args.rules.split(","):
                    losses = [objective_loss(hsmcy.distributed.train(client, paths, syncs_per_epoch=s,
                                                                     averaging=rule, **params), lee)
                              for s in syncs]
                    print(f"{k:6d} {rule:>9s} " + " ".join(f"{loss:10.4f}" for loss in losses), flush=True)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
