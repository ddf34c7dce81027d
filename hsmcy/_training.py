"""Training jobs: batches of sentences, worker threads, the learning-rate schedule.

The encoded corpus is cut into batches of about ``batch_words`` tokens (a longer
sentence is a batch of its own, trained whole).  Worker threads take batches in
order from a shared cursor and train each one inside a single ``nogil`` kernel
call, Hogwild-style on the shared weight arrays.

The learning rate of a batch depends only on its position in the run (epoch and
words before it), never on thread timing, and falls linearly from ``start_alpha``
to ``end_alpha`` over all words of all epochs.  With one worker and a fixed seed a
run is therefore bit-for-bit reproducible.
"""
from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from . import _kernels

logger = logging.getLogger(__name__)

__all__ = ["TrainingRun", "all_finite", "batch_edges", "check_weights"]


def batch_edges(sentence_bounds, batch_words):
    """Sentence indices that start each batch, plus the end: batches hold ~``batch_words`` tokens."""
    n_sentences = len(sentence_bounds) - 1
    total = int(sentence_bounds[-1])
    targets = np.arange(batch_words, total, batch_words, dtype=np.int64)
    cuts = np.searchsorted(sentence_bounds, targets, side="left")
    edges = np.unique(np.concatenate([[0], cuts, [n_sentences]]))
    return edges.astype(np.int64)


def check_weights(input_vectors, syn1, tree, vocab_size):
    """Everything a kernel relies on, checked once before any ``nogil`` code runs."""
    for name, array in (("input vectors (wv.vectors)", input_vectors), ("syn1", syn1)):
        if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D float32 NumPy array")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous")
        if not array.flags.writeable:
            raise ValueError(f"{name} is read-only (memory-mapped with mmap='r'?): "
                             "load the model without mmap, or copy the arrays, before training")
    if input_vectors.shape[0] != vocab_size:
        raise ValueError(f"input vectors have {input_vectors.shape[0]} rows for {vocab_size} words")
    if syn1.shape[1] != input_vectors.shape[1]:
        raise ValueError(f"syn1 has width {syn1.shape[1]} but the input vectors {input_vectors.shape[1]}")
    if syn1.shape[0] < max(tree.n_inner, 1):
        raise ValueError(f"syn1 has {syn1.shape[0]} rows; the tree needs {tree.n_inner} inner nodes")
    if tree.n_leaves != vocab_size:
        raise ValueError(f"the tree has {tree.n_leaves} leaves for {vocab_size} words")


def all_finite(array, rows_per_chunk=1 << 14):
    """True unless a float array holds NaN or +-inf.

    Sums chunks of rows in float64: a float32 sum that large cannot overflow, so the
    sum is finite exactly when every element is.  Needs no temporary array the
    size of ``array`` (``np.isfinite`` would make one) and reads memory-mapped
    arrays sequentially.
    """
    array = np.asarray(array)
    if array.ndim == 0:
        return bool(np.isfinite(array))
    for start in range(0, len(array), rows_per_chunk):
        if not math.isfinite(np.add.reduce(array[start:start + rows_per_chunk], axis=None, dtype=np.float64)):
            return False
    return True


def _nonempty(array, dtype):
    """Kernels take the address of element 0; give empty arrays one harmless element."""
    array = np.ascontiguousarray(array, dtype=dtype)
    return array if len(array) else np.zeros(1, dtype=dtype)


class TrainingRun:
    """One call of ``Word2Vec.train``: epochs of batches over an encoded corpus.

    Parameters
    ----------
    corpus : hsmcy.corpus.EncodedCorpus
    input_vectors, syn1 : float32 arrays, updated in place
    tree : hsmcy.tree.BinaryTree
    keep_probability : float32 array, one per word (down-sampling)
    sg, window, shrink_windows, cbow_mean : model settings
    epochs, start_alpha, end_alpha, workers, batch_words, compute_loss : run settings
    seed : int
        Seeds the per-worker random streams (``SeedSequence.spawn``).
    """

    def __init__(self, *, corpus, input_vectors, syn1, tree, keep_probability, sg, window, shrink_windows,
                 cbow_mean, epochs, start_alpha, end_alpha, workers, batch_words, compute_loss, seed,
                 callbacks=(), model=None, report_delay=1.0, progress_bar=None):
        self.corpus = corpus
        self.input_vectors = input_vectors
        self.syn1 = syn1
        self.tree = tree
        self.keep_probability = np.ascontiguousarray(keep_probability, dtype=np.float32)
        self.sg = bool(sg)
        self.window = int(window)
        self.shrink_windows = bool(shrink_windows)
        self.cbow_mean = bool(cbow_mean)
        self.epochs = int(epochs)
        self.start_alpha = float(start_alpha)
        self.end_alpha = float(end_alpha)
        self.workers = int(workers)
        self.compute_loss = bool(compute_loss)
        self.callbacks = list(callbacks)
        self.model = model
        self.report_delay = report_delay
        self.progress_bar = progress_bar

        self.edges = batch_edges(corpus.sentence_bounds, batch_words)
        self.n_batches = len(self.edges) - 1
        self.words_per_epoch = corpus.n_words
        # words before each batch within an epoch, for the learning-rate schedule
        self.batch_word_starts = corpus.sentence_bounds[self.edges]
        seeds = np.random.SeedSequence(seed).spawn(self.workers)
        self.rng_states = [s.generate_state(1, dtype=np.uint64) for s in seeds]
        self.path_nodes = _nonempty(tree.path_nodes, np.int32)
        self.path_codes = _nonempty(tree.path_codes, np.uint8)
        self.path_offsets = np.ascontiguousarray(tree.path_offsets, dtype=np.int64)
        self.scratch_length = max(corpus.longest_sentence, 1)

        self.loss_per_worker = [0.0] * self.workers
        self.words_seen = 0
        self.words_trained = 0
        self.epochs_done = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next_batch = 0
        self._error = None

    # ------------------------------------------------------------ schedule
    def alpha_at(self, epoch, words_into_epoch):
        """Linear decay over all words of all epochs."""
        total = max(self.words_per_epoch * self.epochs, 1)
        progress = (epoch * self.words_per_epoch + words_into_epoch) / total
        return self.start_alpha + (self.end_alpha - self.start_alpha) * progress

    @property
    def total_loss(self):
        return math.fsum(self.loss_per_worker)

    @property
    def current_alpha(self):
        return self.alpha_at(self.epochs_done, 0)

    # ------------------------------------------------------------ workers
    def _take_batch(self):
        with self._lock:
            if self._stop.is_set() or self._next_batch >= self.n_batches:
                return None
            batch = self._next_batch
            self._next_batch += 1
            return batch

    def _worker(self, worker, epoch):
        try:
            size = self.input_vectors.shape[1]
            hidden = np.zeros(size, dtype=np.float32)
            hidden_grad = np.zeros(size, dtype=np.float32)
            kept_words = np.zeros(self.scratch_length, dtype=np.int32)
            bounds = self.corpus.sentence_bounds
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                first, last = self.edges[batch], self.edges[batch + 1]
                words_before = int(self.batch_word_starts[batch])
                words_after = int(self.batch_word_starts[batch + 1])
                for callback in self.callbacks:
                    if hasattr(callback, "on_batch_begin"):
                        callback.on_batch_begin(self.model)
                seen, trained, loss = _kernels.train_batch(
                    self.sg, self.corpus.token_ids, bounds[first:last + 1], self.keep_probability,
                    self.input_vectors, self.syn1, self.path_nodes, self.path_codes, self.path_offsets,
                    self.window, self.shrink_windows, self.cbow_mean,
                    self.alpha_at(epoch, words_before), self.alpha_at(epoch, words_after),
                    self.rng_states[worker], hidden, hidden_grad, kept_words, self.compute_loss,
                )
                with self._lock:
                    self.words_seen += seen
                    self.words_trained += trained
                    self.loss_per_worker[worker] += loss
                for callback in self.callbacks:
                    if hasattr(callback, "on_batch_end"):
                        callback.on_batch_end(self.model)
        except BaseException as error:  # noqa: B036 -- re-raised in the caller
            with self._lock:
                if self._error is None:
                    self._error = error
            self._stop.set()

    def _run_epoch(self, epoch):
        self._next_batch = 0
        threads = [threading.Thread(target=self._worker, args=(w, epoch), name=f"hsmcy-worker-{w}", daemon=True)
                   for w in range(min(self.workers, max(self.n_batches, 1)))]
        started = time.perf_counter()
        next_report = started + self.report_delay
        words_at_start = self.words_seen
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.05)
                    now = time.perf_counter()
                    if now >= next_report:
                        self._report(epoch, now - started, self.words_seen - words_at_start)
                        next_report = now + self.report_delay
        except KeyboardInterrupt:
            # Workers stop after their current batch (milliseconds); the arrays stay consistent.
            self._stop.set()
            for thread in threads:
                thread.join()
            raise
        if self._error is not None:
            raise self._error
        return time.perf_counter() - started

    def _report(self, epoch, elapsed, words):
        done = (epoch * self.words_per_epoch + words) / max(self.words_per_epoch * self.epochs, 1)
        rate = words / elapsed if elapsed > 0 else 0.0
        if self.progress_bar is not None:
            self.progress_bar(self, epoch, words, rate)
        logger.info("EPOCH %d - PROGRESS: at %.2f%% words, %.0f words/s, alpha %.6f",
                    epoch, 100.0 * done, rate, self.alpha_at(epoch, words))

    def run(self):
        """Train all epochs; returns ``(words_trained, words_seen)``."""
        for callback in self.callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self.model)
        for epoch in range(self.epochs):
            for callback in self.callbacks:
                if hasattr(callback, "on_epoch_begin"):
                    callback.on_epoch_begin(self.model)
            seen_before = self.words_seen
            elapsed = self._run_epoch(epoch)
            self.epochs_done = epoch + 1
            words = self.words_seen - seen_before
            logger.info("EPOCH %d: trained %d words in %.2fs, %.0f words/s", epoch, words, elapsed,
                        words / elapsed if elapsed > 0 else 0.0)
            if self.model is not None:
                self.model._on_epoch_end_of_run(self)
            for callback in self.callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(self.model)
            if self._stop.is_set():
                break
        for callback in self.callbacks:
            if hasattr(callback, "on_train_end"):
                callback.on_train_end(self.model)
        return self.words_trained, self.words_seen
