#!/usr/bin/env python
"""Round-trip time of one cache line between two CPUs, in nanoseconds.

Two threads, pinned to two CPUs, take turns writing one shared counter: each write
has to move the counter's cache line to the writer's core and back.  On a virtual
machine the hypervisor may place the two virtual CPUs on cores that share a cache
(a round trip of ~50 ns on the benchmark machine) or on cores that do not (~340
ns there), and switch between the two every few seconds.  Hogwild training writes
rows that both workers share, so two-worker training slows down with the second
placement; ``bench_train.py`` records this figure before and after every run.

The probe is a few lines of C, compiled with the system C compiler on first use
(the one that built hsmcy) and loaded with ``ctypes``; without a compiler, or
with fewer than two CPUs, ``round_trip_ns`` returns ``None``.

Usage::

    python benchmarks/core_latency.py            # one figure per second, 10 times
    python benchmarks/core_latency.py 60         # ... 60 times
"""
import argparse
import ctypes
import os
import subprocess
import sysconfig
import tempfile
import time
import zlib
from pathlib import Path

SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic long turn __attribute__((aligned(64)));
struct side { int cpu; long rounds; int odd; double seconds; };

static void *play(void *arg)
{
    struct side *side = arg;
    cpu_set_t set;
    struct timespec start, end;
    CPU_ZERO(&set);
    CPU_SET(side->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < side->rounds; i++) {
        long mine = 2 * i + side->odd, now;   /* wait for my turn, then pass it on */
        while ((now = atomic_load_explicit(&turn, memory_order_acquire)) != mine)
            if (now < 0)
                return 0;   /* the other thread could not be started */
        atomic_store_explicit(&turn, mine + 1, memory_order_release);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    side->seconds = (end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
    return 0;
}

/* Mean round trip in ns over `rounds` exchanges between `cpu_a` and `cpu_b`. */
double core_round_trip_ns(int cpu_a, int cpu_b, long rounds)
{
    pthread_t a, b;
    struct side first = {cpu_a, rounds, 0, 0.0}, second = {cpu_b, rounds, 1, 0.0};
    atomic_store(&turn, 0);
    if (pthread_create(&a, 0, play, &first) != 0)
        return -1.0;
    if (pthread_create(&b, 0, play, &second) != 0) {
        atomic_store(&turn, -1);
        pthread_join(a, 0);
        return -1.0;
    }
    pthread_join(a, 0);
    pthread_join(b, 0);
    return 1e9 * first.seconds / rounds;
}
"""

_library = None


def _load():
    """The compiled probe (built once per source version in the temp folder), or None."""
    global _library
    if _library is None:
        folder = Path(tempfile.gettempdir()) / "hsmcy_core_latency"
        folder.mkdir(exist_ok=True)
        source = folder / f"probe_{zlib.crc32(SOURCE.encode()):08x}.c"
        shared = source.with_suffix(".so")
        if not shared.exists():
            source.write_text(SOURCE)
            compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
            partial = shared.with_suffix(f".{os.getpid()}.tmp")
            try:
                built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-pthread", str(source), "-o",
                                        str(partial)], capture_output=True, text=True)
            except OSError:   # no compiler at all
                built = None
            if built is None or built.returncode != 0:
                _library = False
                return None
            os.replace(partial, shared)
        _library = ctypes.CDLL(str(shared))
        _library.core_round_trip_ns.restype = ctypes.c_double
        _library.core_round_trip_ns.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long]
    return _library or None


def round_trip_ns(cpu_a=0, cpu_b=1, rounds=20000):
    """Mean cache-line round trip between ``cpu_a`` and ``cpu_b`` in ns, or None
    (no C compiler, or one of the CPUs is not available to this process)."""
    available = os.sched_getaffinity(0)
    if cpu_a not in available or cpu_b not in available or cpu_a == cpu_b:
        return None
    library = _load()
    if library is None:
        return None
    value = library.core_round_trip_ns(cpu_a, cpu_b, rounds)
    return None if value < 0 else value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", nargs="?", type=int, default=10, help="measurements, one per second")
    args = parser.parse_args()
    for _ in range(args.count):
        value = round_trip_ns()
        print("unavailable" if value is None else f"{value:.0f} ns", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
