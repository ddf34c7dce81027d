"""Training runs: batches of sentences, worker threads, the learning-rate schedule.

The encoded corpus is cut into batches of about ``batch_words`` tokens (a longer
sentence is a batch of its own, trained whole).  The thread runner
(:mod:`hsmcy._runner`) hands batches in order to worker threads, each with its
own :class:`hsmcy._kernels.TrainingWorker`, which trains a batch in one ``nogil``
kernel call, Hogwild-style on the shared weight arrays.

The learning rate of a batch depends only on its position in the run (epoch and
words before it), never on thread timing, and falls linearly from ``start_alpha``
to ``end_alpha`` over all words of all epochs.  With one worker and a fixed seed a
run is therefore bit-for-bit reproducible.
"""
from __future__ import annotations

import logging
import math
import numbers
import threading
import time
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._runner import run_batches
from .checks import INT64_MAX, all_finite, check_integer
from .corpus import BatchReader, chunks_of

logger = logging.getLogger(__name__)

__all__ = ["TrainingRun", "PrivateRows", "PRIVATE_ROWS", "all_finite", "batch_edges",
           "sentinel_nodes", "validate_resume_state", "private_tree_rows", "KERNELS", "DEFAULT_KERNEL"]

#: The training kernels (``Word2Vec(kernel=...)``, see :mod:`hsmcy._kernels`).
KERNELS = _kernels.KERNELS
DEFAULT_KERNEL = "fast"


@dataclass(frozen=True)
class PrivateRows:
    """How workers of the ``"fast"`` kernel share the top of the tree.

    With several workers, each trains the top levels of the tree (at most
    ``2**levels - 1`` rows) on private copies and adds its change to the shared rows
    every ``sync_words`` words, so that the rows every path crosses do not bounce
    between the cores' caches.  The top ``every_time_levels`` levels merge every
    time, each level below half as often (a level-l row is reached about half as
    often as a level-(l - 1) row, so each copy gathers about as many updates between
    merges as the root's), but at least every 8 merges.  Measured choices
    (benchmarks/NOTES.md): skip-gram gains from 11 levels where moving a cache line
    between the cores is slow, merging only the root every time; CBOW's WordSim
    correlation lost about 0.01 with 11 levels, so it keeps 6, all merged every time.
    """

    levels_sg: int = 11
    levels_cbow: int = 6
    every_time_levels_sg: int = 1
    every_time_levels_cbow: int = 8
    sync_words: int = 1024

    def levels(self, workers, sg, kernel):
        """Private levels per worker: 0 for one worker (which stays bit-for-bit
        reproducible) and for the ``"blas"`` kernel."""
        if workers <= 1 or kernel != "fast":
            return 0
        return self.levels_sg if sg else self.levels_cbow

    def every_time_levels(self, sg):
        return self.every_time_levels_sg if sg else self.every_time_levels_cbow


#: The settings in use (benchmark scripts may replace it with ``dataclasses.replace``).
PRIVATE_ROWS = PrivateRows()


def private_tree_rows(workers, sg, kernel, vocab_size):
    """Rows of private tree copies one worker holds (each with its starting value)."""
    levels = PRIVATE_ROWS.levels(workers, sg, kernel)
    return min((1 << levels) - 1, max(vocab_size - 1, 0)) if levels else 0


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
    if (not isinstance(rng_states, list) or not rng_states or len(rng_states) > MAX_WORKERS
            or not all(is_int(x) and 0 <= x < 2 ** 64 for x in rng_states)):
        raise ValueError(f"training_state['rng_states'] must be a list of 1 to {MAX_WORKERS} 64-bit unsigned "
                         "integers")
    if (not isinstance(losses, list) or len(losses) != len(rng_states)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in losses)):
        raise ValueError("training_state['loss_per_worker'] must hold one finite number per worker")
    done = state.get("batches_done")
    if not isinstance(done, list) or not all(is_int(x) and 0 <= x < state["n_batches"] for x in done):
        raise ValueError("training_state['batches_done'] must list batch numbers below n_batches")
    return state


#: More training threads than this is a mistake (each has its own buffers and
#: random stream), refused with a clear error rather than attempted.
MAX_WORKERS = 1024


class TrainingRun:
    """One call of ``Word2Vec.train`` (or one Dask shard's round): epochs of batches.

    Parameters
    ----------
    corpus : hsmcy.corpus.EncodedCorpus
    input_vectors, syn1 : float32 arrays, updated in place
    tree : hsmcy.tree.BinaryTree
    keep_probability : float32 array, one per word (down-sampling)
    sg, window, shrink_windows, cbow_mean, kernel : model settings
    epochs, start_alpha, end_alpha, workers, batch_words, compute_loss : run settings
    seed : int
        Seeds the per-worker random streams (``SeedSequence.spawn``).
    callbacks : sequence of gensim callbacks; model : passed to them
    report_delay : float
        Seconds between progress log lines (``None``: no progress or epoch lines).
    progress_bar : hsmcy.progress.TrainingProgress, optional
    resume : dict, optional
        A state from :meth:`resume_state` of an earlier, unfinished run with the same
        settings: training continues at its epoch, skips the batches it finished,
        and continues its random streams, counters and loss.
    document_vectors : float32 array, optional, updated in place
        Doc2Vec: each sentence of ``corpus`` is a document, and ``corpus.document_tags``
        / ``corpus.tag_bounds`` name its rows of ``document_vectors`` (see
        ``hsmcy._kernels.TrainingWorker``); ``sg`` is then PV-DBOW, CBOW PV-DM.
    window_words : bool
        With ``document_vectors`` and ``sg``: whether the window's words are context
        too (gensim's ``dbow_words``).
    sentinels : int64 array, optional
        ``sentinel_nodes(tree)``, for a caller that makes many short runs on one tree
        (a Dask worker's rounds): computing it takes milliseconds.
    """

    #: With one thread, train the batches in the calling thread instead of a worker
    #: thread (``run_batches(in_caller=True)``): only for runs that Ctrl-C cannot reach.
    batches_in_caller = False

    def __init__(self, *, corpus, input_vectors, syn1, tree, keep_probability, sg, window, shrink_windows,
                 cbow_mean, epochs, start_alpha, end_alpha, workers, batch_words, compute_loss, seed,
                 kernel=DEFAULT_KERNEL, callbacks=(), model=None, report_delay=1.0, progress_bar=None,
                 resume=None, document_vectors=None, window_words=True, sentinels=None):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        # The model's attributes may have been edited since its constructor checked them:
        # check again, by name, what sizes the run (a NaN window, batch_words = 0, 10**18
        # epochs whose word count overflows int64 and would never finish).
        for name, value in (("sg", sg), ("cbow_mean", cbow_mean)):
            if value not in (0, 1):
                raise ValueError(f"{name} must be 0 or 1, got {value!r}")
        window = check_integer("window", window, 1, 2**31 - 1)
        batch_words = check_integer("batch_words", batch_words, 1)
        workers = check_integer("workers", workers, -INT64_MAX)
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be in [1, {MAX_WORKERS}], got {workers}")
        seed = check_integer("seed", seed, 0)
        epochs = check_integer("epochs", epochs, 1)
        for name, value, low in (("start_alpha (alpha)", start_alpha, 0.0), ("end_alpha (min_alpha)", end_alpha, 0.0)):
            if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                    or value < low):
                raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}")
        if epochs > INT64_MAX // max(corpus.n_words, 1):
            raise ValueError(f"epochs = {epochs} x {corpus.n_words:,} words per epoch is more words than a run can "
                             f"count (2**63 - 1)")
        self.corpus = corpus
        self.input_vectors = input_vectors
        self.syn1 = syn1
        self.tree = tree
        self.keep_probability = np.ascontiguousarray(keep_probability, dtype=np.float32)
        self.settings = dict(sg=bool(sg), kernel=kernel, window=int(window), shrink_windows=bool(shrink_windows),
                             cbow_mean=bool(cbow_mean), compute_loss=bool(compute_loss),
                             document_vectors=document_vectors, window_words=bool(window_words))
        self.document_vectors = document_vectors
        if document_vectors is not None and corpus.file_backed:
            raise ValueError("documents are trained from memory, not from a corpus_buffer file")
        self.sg = bool(sg)
        self.epochs = int(epochs)
        self.start_alpha = float(start_alpha)
        self.end_alpha = float(end_alpha)
        self.batch_words = int(batch_words)
        self.compute_loss = bool(compute_loss)
        self.seed = int(seed)
        self.callbacks = list(callbacks)
        self.model = model
        self.report_delay = report_delay
        self.progress_bar = progress_bar

        self.edges = batch_edges(corpus.sentence_bounds, batch_words)
        self.n_batches = len(self.edges) - 1
        self.words_per_epoch = corpus.n_words
        self.raw_words_per_epoch = getattr(corpus, "raw_words", corpus.n_words)
        # words before each batch within an epoch, for the learning-rate schedule
        self.batch_word_starts = np.asarray(corpus.sentence_bounds[self.edges], dtype=np.int64)
        # More threads than batches would only wait: each gets its own random stream,
        # and stream w is the same whatever the number of threads.
        self.workers = min(workers, max(self.n_batches, 1))
        seeds = np.random.SeedSequence(self.seed).spawn(self.workers)
        self._rng_states = [int(s.generate_state(1, dtype=np.uint64)[0]) for s in seeds]
        self.sentinel_nodes = sentinel_nodes(tree) if sentinels is None else sentinels
        self.loss_per_worker = [0.0] * self.workers
        self.words_seen = 0
        self.words_trained = 0
        self.epochs_done = 0
        self.first_epoch = 0
        self._lock = threading.Lock()
        self._epoch = 0
        self._batch_done = np.zeros(self.n_batches, dtype=bool)
        self._batch_reader = None   # a BatchReader while run() trains a file-backed corpus
        self._epoch_start_totals = (0.0, 0)
        if resume is not None:
            self._apply_resume_state(resume)
        # One TrainingWorker per thread, kept for the whole run; made now, so that
        # anything they cannot work with is refused before training starts.
        self._workers = self._make_workers()

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
    def raw_words_seen(self):
        """Tokens read, out-of-vocabulary ones included (gensim's second ``train()`` value),
        in proportion to the in-vocabulary words read."""
        if self.words_per_epoch == 0:
            return 0
        return round(self.words_seen * self.raw_words_per_epoch / self.words_per_epoch)

    # ------------------------------------------------------------ resuming
    def rng_states(self):
        """Each worker's random-stream state, as it stands."""
        return [worker.rng_state for worker in self._workers]

    def resume_state(self):
        """Where this run stands, as a JSON-able dict; ``None`` once it has finished.

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
            "rng_states": self.rng_states(),
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
        self._rng_states = [int(value) for value in state["rng_states"]]
        self.loss_per_worker = [float(x) for x in state["loss_per_worker"]]
        self.words_seen = int(state["words_seen"])
        self.words_trained = int(state["words_trained"])
        self.first_epoch = self.epochs_done = self._epoch = int(state["epoch"])
        done = np.asarray(state["batches_done"], dtype=np.int64)
        if len(done) and (done.min() < 0 or done.max() >= self.n_batches):
            raise ValueError("resume state: batches_done holds batch numbers out of range")
        self._batch_done[done] = True

    def _words_done_in_epoch(self):
        done_batches = np.flatnonzero(self._batch_done)
        return int(np.sum(self.batch_word_starts[done_batches + 1] - self.batch_word_starts[done_batches]))

    def progress(self):
        """How far the run got, in words: a sentence for messages."""
        total = self.words_per_epoch * self.epochs
        in_epoch = self._words_done_in_epoch()
        done = self._epoch * self.words_per_epoch + in_epoch
        return (f"training stopped in epoch {self._epoch + 1} of {self.epochs} after {done} of {total} words "
                f"({100.0 * done / max(total, 1):.1f}%, learning rate {self.alpha_at(self._epoch, in_epoch):.6g})")

    # ------------------------------------------------------------ workers
    def _make_workers(self):
        levels = PRIVATE_ROWS.levels(self.workers, self.sg, self.settings["kernel"])
        return [_kernels.TrainingWorker(
            input_vectors=self.input_vectors, inner_node_vectors=self.syn1, path_nodes=self.tree.path_nodes,
            path_codes=self.tree.path_codes, path_offsets=self.tree.path_offsets,
            keep_probability=self.keep_probability, rng_state=self._rng_states[index], private_levels=levels,
            every_time_levels=PRIVATE_ROWS.every_time_levels(self.sg), sync_words=PRIVATE_ROWS.sync_words,
            **self.settings) for index in range(self.workers)]

    def _train_batch(self, index, batch, epoch):
        """One batch on worker thread ``index``: read it, train it, count it, check it."""
        worker = self._workers[index]
        first, last = self.edges[batch], self.edges[batch + 1]
        words_before = int(self.batch_word_starts[batch])
        words_after = int(self.batch_word_starts[batch + 1])
        for callback in self.callbacks:
            if hasattr(callback, "on_batch_begin"):
                callback.on_batch_begin(self.model)
        if self._batch_reader is not None:   # a file-backed corpus: this batch only, by pread
            token_ids, bounds = self._batch_reader.read(first, last, (words_before, words_after))
        else:
            token_ids, bounds = self.corpus.token_ids, self.corpus.sentence_bounds[first:last + 1]
        documents = {}
        if self.document_vectors is not None:   # sentence s is a document: its rows of document_vectors
            documents = dict(document_tags=self.corpus.document_tags,
                             tag_bounds=self.corpus.tag_bounds[first:last + 1])
        seen, trained, loss = worker.train(token_ids, bounds, self.alpha_at(epoch, words_before),
                                           self.alpha_at(epoch, words_after), **documents)
        with self._lock:
            self.words_seen += seen
            self.words_trained += trained
            self.loss_per_worker[index] += loss
            self._batch_done[batch] = True
        self._check_finite_after_batch(epoch, batch, loss, worker)
        for callback in self.callbacks:
            if hasattr(callback, "on_batch_end"):
                callback.on_batch_end(self.model)

    def _check_finite_after_batch(self, epoch, batch, loss, worker):
        """Cheap early warning of divergence: the rows every path crosses, and the worker's scratch."""
        if math.isfinite(loss) and worker.scratch_is_finite() and all_finite(self.syn1[self.sentinel_nodes]):
            return
        raise FloatingPointError(
            f"training diverged: NaN or infinite values appeared in the weights during epoch {epoch + 1} "
            f"(batch {batch}, learning rate {self.alpha_at(epoch, int(self.batch_word_starts[batch])):.3g}); "
            "training stopped. Lower alpha, or reload the last checkpoint")

    def _run_epoch(self, epoch):
        if epoch != self._epoch:
            self._epoch = epoch
            self._batch_done[:] = False
        todo = np.flatnonzero(~self._batch_done)   # all, unless resuming mid-epoch
        started = time.perf_counter()
        next_report = [started + (self.report_delay or 0.0)]
        words_at_start = self.words_seen
        self._epoch_start_totals = (self.total_loss, self.words_trained)

        def poll():
            now = time.perf_counter()
            words = self.words_seen - words_at_start
            self._show_progress(epoch, words)
            if self.report_delay is not None and now >= next_report[0]:
                self._report(epoch, now - started, words)
                next_report[0] = now + self.report_delay

        run_batches(todo, self.workers, lambda index, batch: self._train_batch(index, int(batch), epoch),
                    make_state=lambda index: index, finish=lambda index: self._workers[index].finish(), poll=poll,
                    in_caller=self.batches_in_caller)
        return time.perf_counter() - started

    def epoch_mean_loss(self):
        """Mean loss per trained word so far in the current epoch (None without compute_loss)."""
        if not self.compute_loss:
            return None
        loss_before, trained_before = self._epoch_start_totals
        trained = self.words_trained - trained_before
        return (self.total_loss - loss_before) / trained if trained > 0 else None

    def _show_progress(self, epoch, words_into_epoch):
        if self.progress_bar is not None:
            self.progress_bar.update(epoch * self.words_per_epoch + words_into_epoch,
                                     alpha=self.alpha_at(epoch, words_into_epoch), loss=self.epoch_mean_loss())

    def _check_finite_after_epoch(self, epoch):
        weights = [("input vectors", self.input_vectors), ("syn1", self.syn1)]
        if self.document_vectors is not None:
            weights.append(("document vectors", self.document_vectors))
        for name, array in weights:
            if not all_finite(array):
                raise FloatingPointError(
                    f"training diverged: the {name} hold NaN or infinite values after epoch {epoch + 1} "
                    f"(learning rate {self.alpha_at(epoch, 0):.3g} at its start); training stopped. "
                    "Lower alpha, or reload the last checkpoint")

    def _report(self, epoch, elapsed, words):
        # As gensim's progress lines, the percentage is of the epoch; epochs count from 1.
        in_epoch = self._words_done_in_epoch()
        rate = words / elapsed if elapsed > 0 else 0.0
        mean_loss = self.epoch_mean_loss()
        logger.info("EPOCH %d of %d - PROGRESS: at %.2f%% of the epoch's words, %.0f words/s, alpha %.6f%s",
                    epoch + 1, self.epochs, 100.0 * in_epoch / max(self.words_per_epoch, 1), rate,
                    self.alpha_at(epoch, in_epoch), "" if mean_loss is None else f", loss {mean_loss:.4f} per word")

    def run(self):
        """Train all epochs; returns ``(words_trained, raw_words_seen)`` as gensim's ``train()``."""
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
            if self.report_delay is not None:
                logger.info("EPOCH %d of %d: trained %d words in %.2fs, %.0f words/s%s", epoch + 1, self.epochs,
                            words, elapsed, words / elapsed if elapsed > 0 else 0.0,
                            "" if mean_loss is None else f", loss {mean_loss:.4f} per word")
            if self.model is not None:
                self.model._on_epoch_end_of_run(self)
            for callback in self.callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(self.model)
        for callback in self.callbacks:
            if hasattr(callback, "on_train_end"):
                callback.on_train_end(self.model)
        return self.words_trained, self.raw_words_seen
