"""The one thread runner: batches of work on worker threads, each batch one ``nogil`` kernel call.

Everything in hsmcy that trains or computes on several threads goes through
:func:`run_batches`: ``Word2Vec`` training (and with it the Dask shard tasks),
``HSClassifier.fit`` and the row chunks of inference.  Its promises:

* batches are handed out in order from one shared cursor, each to whichever
  thread is free; a batch runs whole, on one thread;
* each thread gets its own state (a ``TrainingWorker``, scratch buffers) from
  ``make_state`` and hands it to ``finish`` when it stops, whatever the reason --
  after its last batch, a stop, or an error (a worker merges its private rows
  there);
* the first exception raised in a worker stops the others after their current
  batch and is re-raised in the caller with its original traceback (as hnswlib);
* a ``KeyboardInterrupt`` (Ctrl-C) or any other exception in the caller while it
  waits stops the workers after their current batch (one kernel call:
  milliseconds) and is re-raised once they have stopped, so no thread is still
  writing weights when the caller regains control;
* ``poll()`` runs in the calling thread every ``poll_interval`` seconds while the
  workers run: progress bars and log lines.

A caller that makes many short runs on one thread and that Ctrl-C cannot reach (a
Dask task's rounds run in a worker thread of the Dask worker, never in the main
thread) may ask for the batches to run in the calling thread itself
(``in_caller=True``): starting a thread and handing the GIL over to it and back
costs 3-5 ms, as much as training 3,000 words.
"""
from __future__ import annotations

import threading

__all__ = ["run_batches"]


def run_batches(batches, threads, work, *, make_state=None, finish=None, poll=None, poll_interval=0.05,
                name="hsmcy-worker", in_caller=False):
    """Call ``work(state, batch)`` for every batch of ``batches`` on up to ``threads`` threads.

    Parameters
    ----------
    batches : sequence
        The batches, in the order they are handed out (numbers, ranges, ...).
    threads : int
        Worker threads; never more than there are batches.
    work : callable ``(state, batch) -> None``
        Trains or computes one batch; runs in a worker thread.
    make_state : callable ``(thread_index) -> state``, optional
        Called in the worker thread before its first batch (default: ``None``).
    finish : callable ``(state) -> None``, optional
        Called in the worker thread when it stops, even after an error.
    poll : callable ``() -> None``, optional
        Called in the calling thread about every ``poll_interval`` seconds, and once
        more after the workers have stopped.
    name : str
        Prefix of the threads' names.
    in_caller : bool
        With one thread: run the batches in the calling thread (no thread is
        started; ``poll`` runs once, at the end).  Only for callers that Ctrl-C
        cannot reach: an interrupt could otherwise land between a batch's kernel
        call and its bookkeeping.

    Returns
    -------
    int
        The number of threads that ran.
    """
    n_batches = len(batches)
    n_threads = max(1, min(int(threads), n_batches))
    if n_batches == 0:
        return 0
    lock = threading.Lock()
    stop = threading.Event()
    cursor = [0]
    errors = []

    def take():
        with lock:
            if stop.is_set() or cursor[0] >= n_batches:
                return None
            position = cursor[0]
            cursor[0] += 1
            return batches[position]

    def loop(thread_index):  # one thread's life: its state, its batches, its finish
        state = None
        try:
            state = make_state(thread_index) if make_state is not None else None
            try:
                while True:
                    batch = take()
                    if batch is None:
                        return
                    work(state, batch)
            finally:
                if finish is not None:
                    finish(state)
        except BaseException as error:  # noqa: B036 -- re-raised in the caller
            with lock:
                errors.append(error)
            stop.set()

    if in_caller and n_threads == 1:
        loop(0)
    else:
        pool = [threading.Thread(target=loop, args=(index,), name=f"{name}-{index}", daemon=True)
                for index in range(n_threads)]
        try:
            for thread in pool:
                thread.start()
            for thread in pool:
                while thread.is_alive():
                    thread.join(timeout=poll_interval)
                    if poll is not None:
                        poll()
        except BaseException:
            # Ctrl-C (or anything else) in the caller: the workers stop after their
            # current batch, and the caller gets control back only once they have.
            stop.set()
            for thread in pool:
                if thread.ident is not None:
                    thread.join()
            raise
    if poll is not None:
        poll()
    if errors:
        raise errors[0]  # the worker's exception, with its original traceback
    return n_threads
