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
import os
import threading
import time

import numpy as np

from . import _kernels
from .memory import aligned_zeros, whole_line_floats
from .corpus import BatchReader, chunks_of

logger = logging.getLogger(__name__)

__all__ = ["TrainingRun", "all_finite", "batch_edges", "check_weights", "sentinel_nodes",
           "validate_resume_state", "DEFAULT_KERNEL", "check_kernel", "private_tree_rows"]

#: Training kernel used when a model does not choose one (``model.kernel = None``):
#: ``"window"`` (skip-gram batched per window, wide-vector code), ``"simd"`` (pair by
#: pair, wide-vector code) or ``"blas"`` (pair by pair, BLAS sdot/saxpy).  See
#: ``hsmcy._kernels.KERNELS`` and docs/benchmarks.md.
DEFAULT_KERNEL = "window"


def _setting(name, default, low, high):
    """An integer from the environment variable ``name`` (for experiments), checked."""
    text = os.environ.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValueError(f"environment variable {name} must be an integer in [{low}, {high}], got {text!r}")
    return value


#: With several workers and the ``"window"`` kernel, each worker trains the top
#: levels of the tree (at most ``2**levels - 1`` rows) on private copies and adds
#: its change to the shared rows every ``PRIVATE_TOP_SYNC_WORDS`` words, so that
#: the rows many paths cross do not bounce between the cores' caches
#: (``hsmcy._kernels.train_batch``).  Levels per training mode; 0 turns it off.
#: Skip-gram gains from 11 levels where moving a cache line between the cores is
#: slow; CBOW's WordSim correlation lost about 0.01 with 11 levels, so it keeps 6
#: (measured: docs/benchmarks.md).
PRIVATE_TOP_LEVELS = {"sg": _setting("HSMCY_TOP_LEVELS_SG", 11, 0, 16),
                      "cbow": _setting("HSMCY_TOP_LEVELS_CBOW", 6, 0, 16)}
#: ... merges the top ``PRIVATE_TOP_EVERY_TIME_LEVELS`` levels every time, each
#: level below half as often as the one above (a level-l row is reached about
#: half as often as a level-(l - 1) row, so each copy then gathers about as many
#: updates between merges as the root's), but at least every 8 merges; per mode.
#: Skip-gram merges only the root every time: with 11 private levels, merging
#: levels 1-7 every time cost 3-5 % of the words/s in the slow vCPU placement, and
#: the vectors were no worse (docs/benchmarks.md); CBOW's 6 levels all merge
#: every time ...
PRIVATE_TOP_EVERY_TIME_LEVELS = {"sg": _setting("HSMCY_TOP_EVERY_TIME_LEVELS_SG", 1, 1, 16),
                                 "cbow": _setting("HSMCY_TOP_EVERY_TIME_LEVELS_CBOW", 8, 1, 16)}
#: ... every this many words it reads.
PRIVATE_TOP_SYNC_WORDS = _setting("HSMCY_TOP_SYNC_WORDS", 1024, 1, 1 << 40)
#: Private rows start on cache lines and are padded to whole lines (112 floats
#: for 100): no row shares a line with the next, and no wide load is split
#: between two lines.  Two-worker skip-gram +2-3 % words/s in the fast vCPU
#: placement, +1 % in the slow one (docs/benchmarks.md); ``False`` for experiments.
PRIVATE_ROWS_PADDED = True


def private_top_levels(workers, sg, kernel):
    """Tree levels each worker trains on private copies: 0 for one worker (which
    stays bit-for-bit reproducible) or a per-pair kernel."""
    if workers <= 1 or check_kernel(kernel) != "window":
        return 0
    return PRIVATE_TOP_LEVELS["sg" if sg else "cbow"]


def private_tree_rows(workers, sg, kernel, vocab_size):
    """Rows of private tree copies one worker holds (each with its starting value)."""
    levels = private_top_levels(workers, sg, kernel)
    return min((1 << levels) - 1, max(vocab_size - 1, 0)) if levels else 0


def check_kernel(kernel):
    """The kernel's name, validated (``None`` -> :data:`DEFAULT_KERNEL`)."""
    kernel = DEFAULT_KERNEL if kernel is None else kernel
    if kernel not in _kernels.KERNELS:
        raise ValueError(f"kernel must be one of {sorted(_kernels.KERNELS)} or None, got {kernel!r}")
    return kernel


def batch_edges(sentence_bounds, batch_words):
    """Sentence indices that start each batch, plus the end: batches hold ~``batch_words`` tokens.

    Batch ``k`` starts at the first sentence that starts at or after ``k * batch_words``
    tokens.  Computed chunk by chunk (bounds in a buffer file are read a chunk at a time).
    """
    n_sentences = len(sentence_bounds) - 1
    total = int(sentence_bounds[-1])
    targets = np.arange(batch_words, total, batch_words, dtype=np.int64)
    cuts = np.empty(len(targets), dtype=np.int64)
    placed = 0
    for start, chunk in chunks_of(sentence_bounds):
        # Targets up to this chunk's last bound start in it (earlier chunks ended below them).
        upto = int(np.searchsorted(targets, chunk[-1], side="right"))
        cuts[placed:upto] = start + np.searchsorted(chunk, targets[placed:upto], side="left")
        placed = upto
    cuts[placed:] = n_sentences
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


def sentinel_nodes(tree, levels=6):
    """Inner nodes of the top ``levels`` levels of ``tree`` (at most ``2**levels - 1`` nodes).

    Every training example walks a path from the root, so a NaN or inf anywhere in a
    batch reaches these rows within the batch; checking them after each batch is a
    cheap early warning (the full check runs after every epoch).
    """
    lengths = np.diff(tree.path_offsets)
    starts = tree.path_offsets[:-1]
    found = [np.zeros(0, dtype=np.int64)]
    for depth in range(levels):
        deep_enough = lengths > depth
        if not deep_enough.any():
            break
        found.append(np.unique(tree.path_nodes[starts[deep_enough] + depth]).astype(np.int64))
    return np.unique(np.concatenate(found))


_RESUME_INTEGERS = ("epoch", "epochs", "seed", "batch_words", "words_per_epoch", "n_batches", "words_seen",
                    "words_trained")


def validate_resume_state(state):
    """Raise ``ValueError`` unless ``state`` looks like :meth:`TrainingRun.resume_state` output (from a file)."""
    if not isinstance(state, dict):
        raise ValueError("training_state must be a mapping")

    def is_int(value):
        return isinstance(value, int) and not isinstance(value, bool)

    for key in _RESUME_INTEGERS:
        if not is_int(state.get(key)) or state[key] < 0:
            raise ValueError(f"training_state[{key!r}] must be a non-negative integer, got {state.get(key)!r}")
    for key in ("start_alpha", "end_alpha"):
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"training_state[{key!r}] must be a finite learning rate, got {value!r}")
    if not isinstance(state.get("compute_loss"), bool):
        raise ValueError("training_state['compute_loss'] must be true or false")
    if state["epoch"] >= state["epochs"] or state["batch_words"] < 1:
        raise ValueError("training_state: epoch must be below epochs, batch_words at least 1")
    rng_states, losses = state.get("rng_states"), state.get("loss_per_worker")
    if (not isinstance(rng_states, list) or not rng_states
            or not all(is_int(x) and 0 <= x < 2 ** 64 for x in rng_states)):
        raise ValueError("training_state['rng_states'] must be a non-empty list of 64-bit unsigned integers")
    if (not isinstance(losses, list) or len(losses) != len(rng_states)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in losses)):
        raise ValueError("training_state['loss_per_worker'] must hold one finite number per worker")
    done = state.get("batches_done")
    if not isinstance(done, list) or not all(is_int(x) and 0 <= x < state["n_batches"] for x in done):
        raise ValueError("training_state['batches_done'] must list batch numbers below n_batches")
    return state


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
    resume : dict, optional
        A state from :meth:`resume_state` of an earlier, unfinished run with the same
        settings: training continues at its epoch, skips the batches it finished,
        and continues its random streams, counters and loss.
    """

    def __init__(self, *, corpus, input_vectors, syn1, tree, keep_probability, sg, window, shrink_windows,
                 cbow_mean, epochs, start_alpha, end_alpha, workers, batch_words, compute_loss, seed,
                 callbacks=(), model=None, report_delay=1.0, progress_bar=None, resume=None, kernel=None):
        self.corpus = corpus
        self.input_vectors = input_vectors
        self.syn1 = syn1
        self.tree = tree
        self.keep_probability = np.ascontiguousarray(keep_probability, dtype=np.float32)
        self.sg = bool(sg)
        self.window = int(window)
        if not 1 <= self.window <= 2**31 - 1:   # a C int in the kernels
            raise ValueError(f"window must be in [1, 2**31 - 1], got {self.window}")
        self.shrink_windows = bool(shrink_windows)
        self.cbow_mean = bool(cbow_mean)
        self.epochs = int(epochs)
        self.start_alpha = float(start_alpha)
        self.end_alpha = float(end_alpha)
        self.workers = int(workers)
        self.batch_words = int(batch_words)
        self.compute_loss = bool(compute_loss)
        self.seed = int(seed)
        self.callbacks = list(callbacks)
        self.model = model
        self.report_delay = report_delay
        self.progress_bar = progress_bar
        self.kernel = check_kernel(kernel)

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
        self.sentinel_nodes = sentinel_nodes(tree)
        self.top_nodes = None
        top_levels = private_top_levels(self.workers, self.sg, self.kernel)
        if top_levels:
            self.top_nodes = _kernels.top_row_slots(self.path_nodes, self.path_codes, self.path_offsets,
                                                    top_levels)

        self.loss_per_worker = [0.0] * self.workers
        self.words_seen = 0
        self.words_trained = 0
        self.epochs_done = 0
        self.first_epoch = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next_batch = 0
        self._epoch = 0
        self._batch_done = np.zeros(self.n_batches, dtype=bool)
        self._batch_reader = None   # a BatchReader while run() trains a file-mapped corpus
        self._error = None
        if resume is not None:
            self._apply_resume_state(resume)

    # ------------------------------------------------------------ schedule
    def alpha_at(self, epoch, words_into_epoch):
        """Linear decay over all words of all epochs."""
        total = max(self.words_per_epoch * self.epochs, 1)
        progress = (epoch * self.words_per_epoch + words_into_epoch) / total
        return self.start_alpha + (self.end_alpha - self.start_alpha) * progress

    @property
    def total_loss(self):
        return math.fsum(self.loss_per_worker)

    # ------------------------------------------------------------ resuming
    def resume_state(self):
        """Where this run stands, as a JSON-able dict (arrays as lists); ``None`` once it has finished.

        Valid between batches: after an epoch, or after the workers stopped (an
        interrupt or an error).  Batches are trained whole or not at all, so
        ``batches_done`` says exactly which ones of the current epoch are in the
        weights.
        """
        epoch, done = self._epoch, self._batch_done
        if done.all():
            epoch, done = epoch + 1, np.zeros_like(done)
        if epoch >= self.epochs:
            return None
        return {
            "epoch": int(epoch), "epochs": self.epochs, "start_alpha": self.start_alpha,
            "end_alpha": self.end_alpha, "seed": self.seed, "batch_words": self.batch_words,
            "words_per_epoch": int(self.words_per_epoch), "n_batches": int(self.n_batches),
            "compute_loss": self.compute_loss, "words_seen": int(self.words_seen),
            "words_trained": int(self.words_trained), "loss_per_worker": [float(x) for x in self.loss_per_worker],
            "rng_states": [int(state[0]) for state in self.rng_states],
            "batches_done": np.flatnonzero(done).tolist(),
        }

    def _apply_resume_state(self, state):
        if state["words_per_epoch"] != self.words_per_epoch or state["n_batches"] != self.n_batches:
            raise ValueError(
                f"the corpus to resume on has {self.words_per_epoch} words in {self.n_batches} batches per epoch, "
                f"but the interrupted run had {state['words_per_epoch']} words in {state['n_batches']}: "
                "resume with the same corpus and batch_words")
        if len(state["rng_states"]) != self.workers or len(state["loss_per_worker"]) != self.workers:
            raise ValueError(f"resume state is for {len(state['rng_states'])} workers, not {self.workers}")
        if not 0 <= state["epoch"] < self.epochs:
            raise ValueError(f"resume state: epoch {state['epoch']} is outside 0..{self.epochs - 1}")
        self.rng_states = [np.array([value], dtype=np.uint64) for value in state["rng_states"]]
        self.loss_per_worker = [float(x) for x in state["loss_per_worker"]]
        self.words_seen = int(state["words_seen"])
        self.words_trained = int(state["words_trained"])
        self.first_epoch = self.epochs_done = self._epoch = int(state["epoch"])
        done = np.asarray(state["batches_done"], dtype=np.int64)
        if len(done) and (done.min() < 0 or done.max() >= self.n_batches):
            raise ValueError("resume state: batches_done holds batch numbers out of range")
        self._batch_done[done] = True

    def progress(self):
        """How far the run got, in words: a sentence for messages."""
        total = self.words_per_epoch * self.epochs
        done_batches = np.flatnonzero(self._batch_done)
        in_epoch = int(np.sum(self.batch_word_starts[done_batches + 1] - self.batch_word_starts[done_batches]))
        done = self._epoch * self.words_per_epoch + in_epoch
        return (f"training stopped in epoch {self._epoch + 1} of {self.epochs} after {done} of {total} words "
                f"({100.0 * done / max(total, 1):.1f}%, learning rate {self.alpha_at(self._epoch, in_epoch):.6g})")

    # ------------------------------------------------------------ workers
    def _take_batch(self):
        with self._lock:
            while self._next_batch < self.n_batches and self._batch_done[self._next_batch]:
                self._next_batch += 1  # trained before an interruption
            if self._stop.is_set() or self._next_batch >= self.n_batches:
                return None
            batch = self._next_batch
            self._next_batch += 1
            return batch

    def _check_finite_after_batch(self, epoch, batch, loss, scratch):
        """Cheap early warning: the rows every path crosses, and the worker's scratch."""
        if (math.isfinite(loss) and all(all_finite(buffer) for buffer in scratch)
                and all_finite(self.syn1[self.sentinel_nodes])):
            return
        raise FloatingPointError(
            f"training diverged: NaN or infinite values appeared in the weights during epoch {epoch + 1} "
            f"(batch {batch}, learning rate {self.alpha_at(epoch, int(self.batch_word_starts[batch])):.3g}); "
            "training stopped. Lower alpha, or reload the last checkpoint")

    def _worker(self, worker, epoch):
        try:
            size = self.input_vectors.shape[1]
            # Padded by a cache line on each side: the workers' scratch is written
            # constantly, and must not share a line with another worker's.
            hidden = np.zeros(size + 32, dtype=np.float32)[16:-16]
            hidden_grad = np.zeros(size + 32, dtype=np.float32)[16:-16]
            kept_words = np.zeros(self.scratch_length + 32, dtype=np.int32)[16:-16]
            top_rows = top_rows_start = top_copied = top_state = None
            if self.top_nodes is not None:
                # The private rows and their merge schedule carry over from one
                # batch to the next; what is left is merged when the worker stops.
                # (one spare row each side: no other array shares their first or last line)
                stride = whole_line_floats(size) if PRIVATE_ROWS_PADDED else size
                top_rows = aligned_zeros((len(self.top_nodes) + 2, stride))[1:-1]
                top_rows_start = aligned_zeros((len(self.top_nodes) + 2, stride))[1:-1]
                # (flags padded by a cache line each side: written often, see above)
                top_copied = np.zeros(len(self.top_nodes) + 128, dtype=np.uint8)[64:-64]
                top_state = np.array([1, 0], dtype=np.int64)   # merges so far, words since the last
            try:
                self._train_batches(worker, epoch, hidden, hidden_grad, kept_words,
                                    top_rows, top_rows_start, top_copied, top_state)
            finally:
                if top_copied is not None:
                    _kernels.merge_private_top_rows(self.syn1, self.top_nodes, top_rows, top_rows_start, top_copied)
        except BaseException as error:  # noqa: B036 -- re-raised in the caller
            with self._lock:
                if self._error is None:
                    self._error = error
            self._stop.set()

    def _train_batches(self, worker, epoch, hidden, hidden_grad, kept_words,
                       top_rows, top_rows_start, top_copied, top_state):
        """The worker's loop: take the next batch, train it, until none is left or a stop."""
        bounds = self.corpus.sentence_bounds
        reader = self._batch_reader
        every_time_levels = PRIVATE_TOP_EVERY_TIME_LEVELS["sg" if self.sg else "cbow"]
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
            if reader is not None:   # a file-backed corpus: this batch only, by pread
                token_ids, batch_bounds = reader.read(first, last)
            else:
                token_ids, batch_bounds = self.corpus.token_ids, bounds[first:last + 1]
            seen, trained, loss = _kernels.train_batch(
                self.sg, token_ids, batch_bounds, self.keep_probability,
                self.input_vectors, self.syn1, self.path_nodes, self.path_codes, self.path_offsets,
                self.window, self.shrink_windows, self.cbow_mean,
                self.alpha_at(epoch, words_before), self.alpha_at(epoch, words_after),
                self.rng_states[worker], hidden, hidden_grad, kept_words, self.compute_loss,
                _kernels.KERNELS[self.kernel], self.top_nodes, top_rows, top_rows_start,
                PRIVATE_TOP_SYNC_WORDS, every_time_levels, top_copied, top_state,
            )
            with self._lock:
                self.words_seen += seen
                self.words_trained += trained
                self.loss_per_worker[worker] += loss
                self._batch_done[batch] = True
            self._check_finite_after_batch(epoch, batch, loss, (hidden, hidden_grad))
            for callback in self.callbacks:
                if hasattr(callback, "on_batch_end"):
                    callback.on_batch_end(self.model)

    def _run_epoch(self, epoch):
        self._next_batch = 0
        if epoch != self._epoch:
            self._epoch = epoch
            self._batch_done[:] = False
        threads = [threading.Thread(target=self._worker, args=(w, epoch), name=f"hsmcy-worker-{w}", daemon=True)
                   for w in range(min(self.workers, max(self.n_batches, 1)))]
        started = time.perf_counter()
        next_report = started + self.report_delay
        words_at_start = self.words_seen
        self._epoch_start_totals = (self.total_loss, self.words_trained)
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.05)
                    now = time.perf_counter()
                    self._show_progress(epoch, self.words_seen - words_at_start)
                    if now >= next_report:
                        self._report(epoch, now - started, self.words_seen - words_at_start)
                        next_report = now + self.report_delay
        except BaseException:
            # Ctrl-C (or anything else) in the caller: workers stop after their current
            # batch (milliseconds), so the weights hold whole batches only.
            self._stop.set()
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
            raise
        if self._error is not None:
            raise self._error  # the worker's exception, with its original traceback
        return time.perf_counter() - started

    def epoch_mean_loss(self):
        """Mean loss per trained word so far in the current epoch (None without compute_loss)."""
        if not self.compute_loss:
            return None
        loss_before, trained_before = getattr(self, "_epoch_start_totals", (0.0, 0))
        trained = self.words_trained - trained_before
        return (self.total_loss - loss_before) / trained if trained > 0 else None

    def _show_progress(self, epoch, words_into_epoch):
        if self.progress_bar is not None:
            self.progress_bar.update(epoch * self.words_per_epoch + words_into_epoch,
                                     alpha=self.alpha_at(epoch, words_into_epoch), loss=self.epoch_mean_loss())

    def _check_finite_after_epoch(self, epoch):
        for name, array in (("input vectors", self.input_vectors), ("syn1", self.syn1)):
            if not all_finite(array):
                raise FloatingPointError(
                    f"training diverged: the {name} hold NaN or infinite values after epoch {epoch + 1} "
                    f"(learning rate {self.alpha_at(epoch, 0):.3g} at its start); training stopped. "
                    "Lower alpha, or reload the last checkpoint")

    def _report(self, epoch, elapsed, words):
        done = (epoch * self.words_per_epoch + words) / max(self.words_per_epoch * self.epochs, 1)
        rate = words / elapsed if elapsed > 0 else 0.0
        mean_loss = self.epoch_mean_loss()
        logger.info("EPOCH %d - PROGRESS: at %.2f%% words, %.0f words/s, alpha %.6f%s",
                    epoch, 100.0 * done, rate, self.alpha_at(epoch, words),
                    "" if mean_loss is None else f", loss {mean_loss:.4f} per word")

    def run(self):
        """Train all epochs; returns ``(words_trained, words_seen)``."""
        self._batch_reader = BatchReader(self.corpus, len(self.input_vectors)) if self.corpus.file_backed else None
        try:
            return self._run_epochs()
        finally:
            if self._batch_reader is not None:
                self._batch_reader.close()

    def _run_epochs(self):
        for callback in self.callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self.model)
        for epoch in range(self.first_epoch, self.epochs):
            for callback in self.callbacks:
                if hasattr(callback, "on_epoch_begin"):
                    callback.on_epoch_begin(self.model)
            seen_before = self.words_seen
            elapsed = self._run_epoch(epoch)
            self._check_finite_after_epoch(epoch)
            self.epochs_done = epoch + 1
            words = self.words_seen - seen_before
            self._show_progress(epoch, words)  # the bar reaches the epoch's end, 100% after the last
            mean_loss = self.epoch_mean_loss()
            logger.info("EPOCH %d: trained %d words in %.2fs, %.0f words/s%s", epoch, words, elapsed,
                        words / elapsed if elapsed > 0 else 0.0,
                        "" if mean_loss is None else f", loss {mean_loss:.4f} per word")
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
