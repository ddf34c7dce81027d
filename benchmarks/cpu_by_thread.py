#!/usr/bin/env python
"""Where the CPU of a distributed run goes: seconds per process and thread.

Usage (the figures in docs/distributed.md, "Where the time goes")::

    python benchmarks/cpu_by_thread.py --corpus /tmp/hsmcy_bench/corpus.txt --tokens 6000000 --mode cbow --epochs 3

Trains ``hsmcy.distributed.train`` on 2 shards of the first ``tokens`` tokens on a
``LocalCluster`` of 2 worker processes x 1 thread (the benchmark's setup) and prints
the CPU seconds each thread of each process used during ``train()`` (read from
``/proc``, so Linux only), with the thread's Python name: in a worker, the task's
thread (training and the rounds' bookkeeping) and the event loop's (sending and
receiving the deltas, Dask's own periodic work); in this process, the client and the
scheduler; and the threads that ended before ``train()`` returned (a direct link's
writer and reader end with their epoch), as the process's CPU minus its live
threads'.  Also printed: the milliseconds per round of each, and words per CPU second
of the whole run.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def stat_cpu(path):
    """utime + stime, in seconds, of a ``/proc/.../stat`` file (a process's or a thread's)."""
    with open(path) as handle:
        stat = handle.read()
    fields = stat[stat.rindex(")") + 2:].split()   # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """``{thread id: CPU seconds}`` of every thread of process ``pid``."""
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(tid)] = stat_cpu(f"/proc/{pid}/task/{tid}/stat")
        except FileNotFoundError:   # the thread ended meanwhile
            continue
    return seconds


def process_cpu(pid):
    """CPU seconds of process ``pid`` so far, threads that ended included."""
    return stat_cpu(f"/proc/{pid}/stat")


def thread_names():
    """On a process: ``{native thread id: Python thread name}``."""
    return {thread.native_id: thread.name for thread in threading.enumerate()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokens", type=int, default=6000000)
    parser.add_argument("--mode", choices=("cbow", "sg"), default="cbow")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed as hd
    from bench_distributed import write_shards

    with tempfile.TemporaryDirectory() as directory:
        _, shards, _ = write_shards(args.corpus, args.tokens, 0.02, [2], directory)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        try:
            processes = {"client and scheduler": os.getpid(),
                         **{f"worker {address}": pid for address, pid in sorted(client.run(os.getpid).items())}}
            before = {name: thread_cpu(pid) for name, pid in processes.items()}
            before_process = {name: process_cpu(pid) for name, pid in processes.items()}
            started = time.perf_counter()
            model = hd.train(client, shards[2], sg=int(args.mode == "sg"), seed=1, vector_size=100, window=5,
                             min_count=5, sample=1e-3, epochs=args.epochs)
            wall = time.perf_counter() - started
            after = {name: thread_cpu(pid) for name, pid in processes.items()}
            after_process = {name: process_cpu(pid) for name, pid in processes.items()}
            names = {os.getpid(): thread_names(), **dict(zip(client.run(os.getpid).values(),
                                                             client.run(thread_names).values()))}
        finally:
            client.close()
            cluster.close()
    report = model.distributed_report
    rounds = report["syncs_per_epoch"] * args.epochs
    total = 0.0
    print(f"{args.mode}, {args.tokens:,} tokens, {args.epochs} epochs: {wall:.2f} s, {rounds} rounds, "
          f"{report['words_seen']:,} words")
    for name, pid in processes.items():
        used = {tid: seconds - before[name].get(tid, 0.0) for tid, seconds in after[name].items()}
        whole = after_process[name] - before_process[name]
        total += whole
        print(f"  {name}: {whole:.2f} CPU s")
        for tid, seconds in sorted(used.items(), key=lambda item: -item[1]):
            if seconds >= 0.05:
                print(f"    {names.get(pid, {}).get(tid, tid)}: {seconds:.2f} s, {seconds / rounds * 1e3:.1f} ms per round")
        ended = whole - sum(used.values())   # e.g. the threads of direct links, which end with their epoch
        if ended >= 0.05:
            print(f"    threads that ended: {ended:.2f} s, {ended / rounds * 1e3:.1f} ms per round")
    print(f"  all: {total:.2f} CPU s, {report['words_seen'] / total:,.0f} words per CPU second")


if __name__ == "__main__":
    main()
