#!/usr/bin/env python
"""Where a Dask worker's time goes in ``hsmcy.distributed.train``: milliseconds per round, per step.

Usage (the figures in docs/distributed.md, "Where the time goes")::

    python benchmarks/profile_distributed_rounds.py --corpus /tmp/hsmcy_bench/corpus.txt \\
        --tokens 2000000 --modes sg,cbow --epochs 2

The first ``--tokens`` tokens of the corpus are cut into 2 shards and trained on a
``LocalCluster`` of 2 worker processes x 1 thread with the defaults.  Before training,
every worker wraps the steps of a round (``_train_slice``, ``_touched_rows``, the
``_Parameters`` methods ``start`` / ``take`` / ``average`` / ``settle``, sending, and
waiting in the mailbox for a peer's delta) with timers: wall and thread-CPU
milliseconds per round, per worker.  The training is unchanged; the timers cost a few
microseconds a call.  Also printed: each epoch's task seconds against the client's
wall seconds for the epoch (the difference is Dask's scheduling and the checkpoint's
trip to the client; the next epoch's tasks are queued behind an epoch's, so it is
not idle time) and, per worker, the time between the end of an epoch task and the
start of the next one (idle time of the worker).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def install_timers():
    """On a worker: wrap the round's steps with wall and thread-CPU timers."""
    import collections
    import time

    import hsmcy.distributed as hd

    if getattr(hd, "_profile", None) is not None:
        hd._profile.clear()
        hd._profile_epochs.clear()
        return "reset"
    stats = hd._profile = collections.defaultdict(float)

    def timed(name, function):
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                stats[name] += time.perf_counter() - wall
                stats[name + " (CPU)"] += time.thread_time() - cpu
        return wrapper

    for name in ("_train_slice", "_touched_rows", "_send_to_peers", "_sent"):
        setattr(hd, name, timed(name, getattr(hd, name)))
    hd._profile_epochs = []   # (start, end) of each epoch task on this worker, on this worker's clock
    original_epoch = hd._train_epoch

    def timed_epoch(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original_epoch(*args, **kwargs)
        finally:
            hd._profile_epochs.append((started, time.perf_counter()))

    hd._train_epoch = timed_epoch   # the client's tasks name the function: the worker finds this one
    for name in ("start", "take", "average", "settle"):
        setattr(hd._Parameters, name, timed(name, getattr(hd._Parameters, name)))
    hd._Mailbox.take = timed("waiting for a peer", hd._Mailbox.take)
    return "installed"


def read_timers():
    import hsmcy.distributed as hd
    return dict(hd._profile), list(hd._profile_epochs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus.txt")
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--modes", default="sg,cbow")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=None,
                        help="model copies (default: one per worker); 1 trains alone on one worker, the other idles")
    parser.add_argument("--syncs-per-epoch", type=int, default=None, help="rounds per epoch (default: the mode's)")
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed as hd
    from bench_distributed import write_shards

    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as directory:
        _, shards, _ = write_shards(args.corpus, args.tokens, 0.02, [2], directory)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        original_wait = hd._wait_for_epoch
        epochs = []

        def timed_wait(client, futures, addresses, report):
            started = time.perf_counter()
            results, reason = original_wait(client, futures, addresses, report)
            if results is not None:
                epochs.append((time.perf_counter() - started, max(r["seconds"] for r in results)))
            return results, reason

        hd._wait_for_epoch = timed_wait
        try:
            for mode in args.modes.split(","):
                client.run(install_timers)
                epochs.clear()
                started = time.perf_counter()
                model = hd.train(client, shards[2], sg=int(mode == "sg"), seed=1, vector_size=100, window=5,
                                 replicas=args.replicas, syncs_per_epoch=args.syncs_per_epoch,
                                 min_count=5, epochs=args.epochs)
                report = model.distributed_report
                rounds = report["rounds"]
                print(f"{mode}: {time.perf_counter() - started:.2f}s, {report['syncs_per_epoch']} rounds per epoch, "
                      f"{report['words_per_epoch'] / report['syncs_per_epoch'] / report['replicas']:,.0f} words per "
                      f"copy per round, {report['bytes_per_sync'] / 1e6:.2f} MB per round")
                for wall, task in epochs:
                    print(f"  epoch: {wall:.2f}s at the client, {task:.2f}s in the slowest task")
                for address, (stats, spans) in sorted(client.run(read_timers).items()):
                    steps = ", ".join(f"{name} {1000 * value / rounds:.2f}" for name, value in sorted(stats.items()))
                    print(f"  {address}: ms per round: {steps}")
                    idle = [f"{1000 * (start - end):.0f}" for (_, end), (start, _) in zip(spans, spans[1:])]
                    print(f"  {address}: idle between epoch tasks (ms): {', '.join(idle) or '-'}")
        finally:
            hd._wait_for_epoch = original_wait
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
