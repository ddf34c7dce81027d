#!/usr/bin/env python
"""Same-run A/B of a round's fixed cost on Dask workers: CPU of a distributed run, old and new.

Usage (the figures in docs/distributed.md, "Where the time goes")::

    python benchmarks/ab_distributed_slices.py 1 2000000 old,new,new,old    # sg, tokens, order
    python benchmarks/ab_distributed_slices.py 0 2000000 single,single1,new # CBOW, with single-process runs

"new" is the code as it is; "old" patches the workers back to what a slice did before
commit 01adde8: a plain ``TrainingRun`` (whole-matrix NaN check after every slice) that
derives the tree's sentinel rows itself.  Both train the same vectors (the analogy
score is printed to show it).  2 shards of the first N tokens of make_corpus.py's
corpus, 2 worker processes x 1 thread, seed 1, 5 epochs; CPU seconds of all processes.
"""
import json
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def patch(old):
    """Run on every worker: switch between the current slice training and the former one."""
    import hsmcy.distributed as hd
    from hsmcy._training import TrainingRun
    from hsmcy.tree import BinaryTree
    if not hasattr(hd, "_new_slice_run"):
        hd._new_slice_run, hd._new_tas = hd._SliceRun, hd._Static.tree_and_sentinels
    if old:
        hd._SliceRun = TrainingRun
        hd._Static.tree_and_sentinels = lambda self: (BinaryTree(self.path_nodes, self.path_codes, self.path_offsets,
                                                                 validate=False), None)
    else:
        hd._SliceRun, hd._Static.tree_and_sentinels = hd._new_slice_run, hd._new_tas
    return old


def main():
    import hsmcy
    import hsmcy.distributed
    from bench_distributed import write_shards, workers_cpu_seconds, quality
    from dask.distributed import Client, LocalCluster
    sg, tokens, order = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
    params = dict(vector_size=100, window=5, min_count=5, sample=1e-3, epochs=5, sg=sg)
    logging.basicConfig(level=logging.ERROR)
    d = tempfile.mkdtemp()
    paths, shards, n = write_shards("/tmp/hsmcy_bench/corpus.txt", tokens, 0.02, [2], d)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    for variant in order:
        if variant in ("single", "single1"):   # single-process training of the same words, 2 or 1 threads
            t, c = time.perf_counter(), time.process_time()
            m = hsmcy.Word2Vec(corpus_file=paths["train"], workers=2 if variant == "single" else 1, seed=1, **params)
            print(json.dumps({"variant": variant, "sg": sg, "tokens": tokens,
                              "wall": round(time.perf_counter() - t, 2), "cpu": round(time.process_time() - c, 2),
                              "load": os.getloadavg()[0]}), flush=True)
            continue
        client.run(patch, variant == "old")
        w0 = workers_cpu_seconds(client)
        t, c = time.perf_counter(), time.process_time()
        m = hsmcy.distributed.train(client, shards[2], seed=1, **params)
        wall, cc = time.perf_counter() - t, time.process_time() - c
        cpu = cc + workers_cpu_seconds(client) - w0
        r = m.distributed_report
        print(json.dumps({"variant": variant, "sg": sg, "tokens": tokens, "wall": round(wall, 2), "cpu": round(cpu, 2),
                          "words_per_cpu_second": round(r["words_seen"] / cpu), "load": os.getloadavg()[0],
                          "cpu_training": round(r["cpu_seconds_training"], 2),
                          "analogy": round(quality(m, paths["heldout"])["analogy"], 3)}), flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
