#!/usr/bin/env python
"""How long two Dask workers take to swap a round's deltas through hsmcy's exchange.

Usage::

    python benchmarks/exchange_pingpong.py --rows 1000,7000,14000 --rounds 60

A ``LocalCluster`` of 2 worker processes x 1 thread; each worker sends a message of
``rows`` bfloat16 rows (width 100) for each of the two matrices to the other with
``hsmcy.distributed._send_to_peers`` (the handler distributed training uses) and waits
for the other's, round after round; printed: the median milliseconds of a round per
worker, the megabytes each worker sends, and the CPU milliseconds a round costs each
worker process (all its threads: the sending and receiving is done by its event loop).  Nothing is trained: this is the
transport alone, both directions at once, as in a training round.  Each worker holds its
heap for reuse as a training run does (``--nanny-heap``: as the nanny set it, where
every buffer over 128 KiB page-faults afresh).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def swap(peer, rounds, rows, me, other, run_id, hold_heap):
    """On a worker: send our message and wait for the peer's, ``rounds`` times; median seconds."""
    import hsmcy.distributed as hd

    if hold_heap:   # as a training run does (hsmcy.distributed._HeapWhileTraining)
        hd._HEAP.hold(run_id)

    spec = hd._EpochSpec(run_id=run_id, attempt=0, epoch=0, worker=me, addresses=[], hosting=[], copies=2,
                         gain=1.0, momentum=0.0, rounds=rounds, first_round=0, total_rounds=rounds, alpha=0.025,
                         min_alpha=1e-4, seed=1)
    parts = [[(me, np.arange(rows, dtype=np.int32), np.ones((rows, 100), dtype=np.uint16))] for _ in range(2)]
    seconds = []
    cpu_started = time.process_time()
    for round_index in range(rounds):
        started = time.perf_counter()
        sending = [hd._send_to_peers(spec, round_index, part, payload, [peer]) for part, payload in enumerate(parts)]
        for part in range(2):
            hd._MAILBOX.take((run_id, 0, 0, round_index, other, part), 60.0)
        seconds.append(time.perf_counter() - started)
        hd._sent(sending, spec, round_index)
    hd._MAILBOX.forget(run_id)
    hd._HEAP.release(run_id)
    return float(np.median(seconds)), (time.process_time() - cpu_started) / rounds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000,7000,14000", help="rows per matrix and message (comma-separated)")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--nanny-heap", action="store_true",
                        help="leave the heap as the Dask nanny set it (training holds it for reuse)")
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed as hd

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        client.register_plugin(hd._ExchangePlugin(), name=hd._ExchangePlugin.name)
        first, second = sorted(client.scheduler_info()["workers"])
        for trial, rows in enumerate(int(r) for r in args.rows.split(",")):
            run_id = f"pingpong-{trial}"   # a run of its own each: forgetting one ends it
            futures = [client.submit(swap, second, args.rounds, rows, 0, 1, run_id, not args.nanny_heap, workers=[first],
                                     pure=False),
                       client.submit(swap, first, args.rounds, rows, 1, 0, run_id, not args.nanny_heap, workers=[second],
                                     pure=False)]
            (first_median, first_cpu), (second_median, second_cpu) = client.gather(futures)
            megabytes = 2 * rows * (100 * 2 + 4) / 1e6
            print(f"{rows:>6} rows per matrix ({megabytes:.1f} MB each way): median ms per round "
                  f"{first_median * 1e3:.1f} / {second_median * 1e3:.1f}, CPU ms per round of each worker "
                  f"process {first_cpu * 1e3:.1f} / {second_cpu * 1e3:.1f}", flush=True)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
