"""Data-parallel training on a Dask cluster (``pip install hsmcy[dask]``).

:func:`train` trains one :class:`hsmcy.Word2Vec` from several corpus files (shards)
on the workers of a ``dask.distributed.Client``, by *model averaging with a scaled
learning rate*:

1. **Vocabulary.**  Every shard is counted on a worker (:func:`hsmcy.corpus.scan_file`);
   the counts are merged pairwise on the workers (a tree reduction that keeps the
   order of first appearance, so ties sort as in a single-machine run), and the
   client applies gensim's vocabulary rules once
   (:meth:`hsmcy.vocab.Vocabulary.from_raw_counts`) and builds the Huffman tree once.
   Words, down-sampling probabilities and tree are broadcast to every worker.
2. **Copies and rounds.**  The shards are dealt to ``replicas`` model copies (by
   default one per worker); each worker holds the parameters and trains the copies
   it hosts.  A copy reads its shards as one stream (in shard order), cut into one
   slice per round.  In a round every copy trains its next slice on all the threads
   of its worker (as single-process training does), starting from the common
   parameters, and keeps its change: the rows it changed, as bfloat16 deltas
   (:mod:`hsmcy._exchange`).
3. **Averaging.**  After each round the workers exchange the copies' deltas
   directly with each other (over direct TCP links, :mod:`hsmcy._links`, or Dask's
   RPC where a link cannot be opened; a worker plugin adds the handlers; the
   scheduler and the client are not in the data path) and every worker takes their
   *mean*, in copy order, so all workers hold bit-identical parameters.  Plain
   averaging (Spark MLlib's model averaging) would divide the learning rate by the
   number of copies, and adding the deltas overshoots the rows every copy
   saturates, so the mean is scaled back up, by the mode's rule (:class:`_Rule`):
   *CBOW* trains each copy at ``copies x`` the single-process learning rate and adds
   the mean; *skip-gram*, whose copies drift apart within a few thousand words at
   that rate, trains them at the single-process rate and lets the mean drive a
   velocity, ``v <- mu v + mean`` with ``mu = 1 - 1/copies``, added every round
   (block momentum, Chen & Huo 2016): a change that recurs every round moves a row
   ``copies`` times the mean, as far as one process would have moved it.  Rows a
   round does not change still move with their velocity; every worker keeps that
   lazily (:class:`_Parameters`).  Measured: docs/distributed.md.
4. **Epochs as checkpoints.**  One Dask task per worker and epoch trains all its
   rounds; at the end of an epoch the first worker returns the parameters (and the
   velocities), which the client installs in the model (callbacks see them) and
   keeps as the checkpoint, and every worker a CRC-32 of its replica, which must
   agree.  The next epoch's tasks are queued behind each worker's task, so the
   workers go on at once while the checkpoint travels to the client.
5. **Failures.**  If a worker taking part in an epoch is lost (or an exchange with
   it fails), the client aborts that epoch on every worker and runs it again from
   the checkpoint on the workers that are alive, which host the lost worker's
   copies; a worker that lacks the checkpoint (a restarted one) receives it.  An
   epoch's words are counted only from the attempt that completed, so a lost worker
   costs time, never a shard's updates; ``model.distributed_report`` says what
   happened, and a warning is logged.

Corpus files must be readable by the workers under the same path (a shared or
replicated file system), one sentence per line, as for ``Word2Vec(corpus_file=...)``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import _exchange, _links
from . import corpus as corpus_io
from ._training import DEFAULT_KERNEL, TrainingRun, sentinel_nodes
from .tree import BinaryTree, HuffmanTree
from .word2vec import Word2Vec, _check_int, refill_norms

try:  # the worker plugin needs its base class; hsmcy itself does not need dask
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
    from distributed.protocol import register_generic as _register_generic
except ImportError:  # pragma: no cover -- train() raises a clear error without dask
    _WorkerPlugin, _register_generic = object, None

logger = logging.getLogger(__name__)

__all__ = ["train"]


@dataclass(frozen=True)
class _Rule:
    """How a mode's copies are combined, and how often (measured: docs/distributed.md).

    Both rules make a row move, in the long run, as far as in one process (``gain /
    (1 - momentum) = copies``).  *Scaled*: each copy trains at ``copies x`` the
    learning rate and the mean of their changes is added.  *Block momentum* (Chen &
    Huo 2016): the copies train at the single-process rate and the mean of their
    changes drives a velocity, ``v <- (1 - 1/copies) v + mean``, added to the
    parameters every round.  Without sync_every / syncs_per_epoch, the copies are
    averaged about every ``round_words`` words each, at least ``min_rounds`` times
    per epoch: a velocity builds up over the first rounds (after r rounds a steady
    change has moved the rows 1 + mu + ... + mu^r times, not 1 / (1 - mu)), so a
    handful of rounds would leave the copies short of where they go.
    """

    round_words: int
    block_momentum: bool
    min_rounds: int = 1

    def gain_and_momentum(self, copies):
        """``(learning-rate factor, momentum)`` for ``copies`` copies (one copy: plain training)."""
        if copies <= 1:
            return 1.0, 0.0
        return (1.0, 1.0 - 1.0 / copies) if self.block_momentum else (float(copies), 0.0)


# In-process simulations and Dask runs (2 copies, 5 epochs, 3-5 seeds; docs/distributed.md).
# Skip-gram walks ~window + 1 paths per word where CBOW walks one, and its copies drift
# apart sooner: with the scaled rule and 8k-word rounds it kept 0.88-0.93 of single-process
# analogy accuracy at 2M tokens; with block momentum 0.97-1.00 with rounds of 16k-64k words
# (1.00 at 6M).  CBOW keeps 0.93-0.98 with the scaled rule and 25k-word rounds at 2M and 6M
# (200k-word rounds lost 0.04-0.07 at 6M); block momentum cost it analogy accuracy and up
# to 0.047 of WS353 at 2M.
_RULES = {"cbow": _Rule(round_words=25_000, block_momentum=False),
          "sg": _Rule(round_words=32_000, block_momentum=True, min_rounds=16)}


# An exchange that sees no message from a peer for this long gives up (the client
# normally aborts an epoch within a second of losing a worker).
_EXCHANGE_TIMEOUT = 600.0
_LINK_SECONDS = 10.0    # to open a direct link to a peer, else its deltas go through Dask's RPC

# An epoch is attempted at most this many times before train() gives up.
_MAX_ATTEMPTS = 6

# Parameters that make no sense here: the corpus comes as files, and training
# happens inside train(), not in the constructor.
_REFUSED_PARAMETERS = ("sentences", "corpus_file", "corpus_buffer")


# =============================================================== worker side
@dataclass
class _Static:
    """What every worker needs for the whole run; broadcast once."""

    words: list
    keep_probability: np.ndarray
    path_nodes: np.ndarray
    path_codes: np.ndarray
    path_offsets: np.ndarray
    vector_size: int
    sg: bool
    window: int
    shrink_windows: bool
    cbow_mean: bool
    batch_words: int
    threads: int | None
    compute_loss: bool
    kernel: str = DEFAULT_KERNEL   # "fast" or "blas", as the model's

    def tree_and_sentinels(self):
        """The tree and its sentinel rows, made once per worker process (every round needs them)."""
        cached = getattr(self, "_tree_cache", None)
        if cached is None:
            tree = BinaryTree(self.path_nodes, self.path_codes, self.path_offsets, validate=False)
            cached = self._tree_cache = (tree, sentinel_nodes(tree))
        return cached

    def __getstate__(self):  # the cache is rebuilt where it is needed, never sent
        state = dict(self.__dict__)
        state.pop("_tree_cache", None)
        return state


@dataclass
class _EpochSpec:
    """One worker's part of one attempt at one epoch."""

    run_id: str
    attempt: int              # attempts at this epoch so far; messages are keyed by it
    epoch: int
    worker: int               # this worker's position in ``addresses``
    addresses: list           # the workers taking part, in order
    hosting: list             # per worker: [(copy, [(shard, path), ...]), ...]
    copies: int               # model copies in all
    gain: float               # each copy trains at gain x the single-process learning rate
    momentum: float           # block momentum of the averaged change (0: none)
    rounds: int               # rounds in this epoch
    first_round: int          # global number of this epoch's first round
    total_rounds: int
    alpha: float
    min_alpha: float
    seed: int


@dataclass
class _Rows:
    """The whole parameters (input vectors and inner-node vectors), and their block momentum's
    velocities (``None`` without momentum): the state at an epoch's start or end."""

    input_values: np.ndarray
    inner_values: np.ndarray
    input_velocity: np.ndarray | None = None
    inner_velocity: np.ndarray | None = None

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.input_values, self.inner_values, self.input_velocity,
                                      self.inner_velocity) if a is not None)


if _register_generic is not None:
    # the checkpoint (20-80 MB) then travels as its arrays, in Dask's own frames; pickled
    # whole inside a result it took 0.2-0.3 s an epoch, as its arrays ~0.05 s
    _register_generic(_Rows)


class _Parameters:
    """One matrix of a worker's parameters (the input vectors, or the inner-node vectors).

    ``base`` is what every worker holds alike: the parameters after the last
    averaging.  A copy trains in ``work`` and its change is taken from there as a
    delta; before it trains, the rows it reads hold where they stand (without
    momentum ``work`` equals ``base`` between copies; with it :meth:`start` sets them).  With block
    momentum, ``base`` holds each row's *anchor*, ``velocity`` its velocity and
    ``last`` the round of this epoch that last changed it (-1: an earlier epoch),
    and a row stands at ``anchor + velocity x (mu + ... + mu^n)`` n rounds later
    (:mod:`hsmcy._exchange`, "block momentum").
    """

    def __init__(self, values, velocity=None):
        # copies: the scattered data belongs to Dask and may serve other tasks
        self.base = np.array(values, dtype=np.float32, order="C")
        self.work = self.base.copy()
        self.velocity = None if velocity is None else np.array(velocity, dtype=np.float32, order="C")
        self.last = None if velocity is None else np.full(len(self.base), -1, dtype=np.int32)
        self.delta_buffers = {}   # (round parity, copy) -> (ids, delta) arrays reused by take()
        if self.velocity is not None and self.velocity.shape != self.base.shape:
            raise ValueError("parameters and velocity of different shapes")

    def start(self, rows, round_index, tables):
        """Set the rows a copy will read in ``work`` to where they stand before the round."""
        if self.velocity is not None:
            _exchange.momentum_start(self.work, self.base, self.velocity, self.last, round_index, tables.partial,
                                     _rows_of(rows, self.work, self.base))

    def take(self, rows, round_index, tables, copy=0):
        """``(ids, bfloat16 deltas)`` of the rows of ``rows`` the copy changed.  Without momentum
        ``work`` is reset there (the next copy reads it as is); with momentum the next
        copy's :meth:`start` sets what it reads, and ``work`` is left alone.

        The results are views of arrays kept for ``copy`` and the parity of the round:
        valid until round ``round_index + 2`` (by then the peers confirmed the message
        that carried them).  A Dask worker returns freed memory to the system at once
        (its nanny sets ``MALLOC_TRIM_THRESHOLD_``), so new arrays every round would
        cost a page fault per 4 KB written: 6.3 ms against 3.2 ms for 13.8k rows.
        """
        momentum = None if self.velocity is None else (self.velocity, self.last, round_index, tables.partial)
        key, width = (round_index % 2, copy), self.work.shape[1]
        out = self.delta_buffers.get(key)
        if out is None or len(out[0]) < len(rows):
            capacity = len(rows) + len(rows) // 4 + 64   # room for the next rounds' slightly larger slices
            out = self.delta_buffers[key] = (np.empty(capacity, dtype=np.int32),
                                             np.empty((capacity, width), dtype=np.uint16))
        return _take_delta(rows, self.work, self.base, momentum, out)

    def average(self, ids_per_copy, deltas_per_copy, copies, round_index, tables):
        """Add the copies' mean change (through the velocity, with momentum): :func:`_average_into`."""
        if self.velocity is None:
            _average_into(self.base, self.work, ids_per_copy, deltas_per_copy, copies)
            return
        ids_per_copy, deltas_per_copy = _checked_deltas(ids_per_copy, deltas_per_copy, self.base)
        if _exchange.momentum_add_deltas(self.base, self.velocity, self.last, round_index, tables.power,
                                         tables.partial, ids_per_copy, deltas_per_copy, np.float32(1.0 / copies)):
            raise FloatingPointError(_DIVERGED)

    def settle(self, last_round, tables):
        """End of the epoch: every row's anchor becomes where it stands (nothing to do without momentum)."""
        if self.velocity is not None:
            if _exchange.momentum_settle(self.base, self.velocity, self.last, last_round, tables.power,
                                         tables.partial):
                raise FloatingPointError(_DIVERGED)
            self.work[...] = self.base

    def discard_work(self):
        self.work[...] = self.base


@dataclass
class _MomentumTables:
    """``power[n] = mu^n`` and ``partial[n] = mu + ... + mu^n`` for n = 0..rounds, made by
    repeated float64 products and sums (no ``pow``: every worker, whatever its maths
    library, gets the same bits)."""

    power: np.ndarray
    partial: np.ndarray

    @classmethod
    def make(cls, momentum, rounds):
        power, partial = [1.0], [0.0]
        for _ in range(rounds):
            # below 1e-30 a power is 0: float32 would go subnormal, and subnormal
            # arithmetic is ~100x slower on x86 (a velocity that small moves nothing)
            power.append(power[-1] * momentum if power[-1] * momentum >= 1e-30 else 0.0)
            partial.append(partial[-1] + power[-1])
        return cls(np.array(power, dtype=np.float32), np.array(partial, dtype=np.float32))


@dataclass
class _Replica:
    """One worker's copy of a run: parameters at ``version``, encoded shards, scratch."""

    static: _Static
    version: int = -1                         # global round the parameters stand at; -1: unknown
    input: _Parameters | None = None          # input vectors
    inner: _Parameters | None = None          # inner-node vectors (syn1)
    word_index: dict | None = None
    encoded: dict = field(default_factory=dict)     # shard, or ("copy", copy, shards) -> EncodedCorpus
    lock: threading.Lock = field(default_factory=threading.Lock)
    checkpoints: dict = field(default_factory=dict)  # epoch parity -> arrays of checkpoint() (worker 0)

    def install(self, state, version):
        self.input = _Parameters(state.input_values, state.input_velocity)
        self.inner = _Parameters(state.inner_values, state.inner_velocity)
        self.version = version

    def checkpoint(self, epoch):
        """The parameters and velocities at the end of ``epoch``, as a :class:`_Rows` of copies.

        The copies are written into arrays kept for the parity of the epoch (new arrays
        page-faulted on every 4 KB in a Dask worker: 20-160 MB an epoch).  Epoch e's
        arrays are written again at the end of epoch e + 2: by then the client has
        installed them (it submits epoch e + 2 only after that) and Dask holds them no
        more (epoch e + 1's task, which took them as its dependency, has ended).
        """
        sources = (self.input.base, self.inner.base, self.input.velocity, self.inner.velocity)
        kept = self.checkpoints.get(epoch % 2)
        if kept is None or any((a is None) != (k is None) or (a is not None and a.shape != k.shape)
                               for a, k in zip(sources, kept)):
            kept = self.checkpoints[epoch % 2] = [None if a is None else np.empty_like(a) for a in sources]
        for source, copy in zip(sources, kept):
            if source is not None:
                np.copyto(copy, source)
        return _Rows(*kept)

    def checksum(self):
        """CRC-32 of the parameters and velocities (~10 ms per 40 MB): every worker's must agree."""
        value = 0
        for array in (self.input.base, self.inner.base, self.input.velocity, self.inner.velocity):
            if array is not None:
                value = zlib.crc32(memoryview(array).cast("B"), value)
        return value


# Per-process state of the runs this worker takes part in: run id -> _Replica.
# Also holds raw scans from the counting phase, keyed (run id, path), until the
# vocabulary is known.
_RUNS: dict = {}
_RUNS_LOCK = threading.Lock()


class _HeapWhileTraining:
    """glibc's heap kept for reuse while runs train in this worker process.

    A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_`` set, so that freed
    memory goes back to the system at once.  Setting it also switches off glibc's
    adaptive mmap threshold, which then stays at 128 KiB: every buffer larger than
    that is fresh memory from the kernel, page-faulted on each 4 KiB written and
    unmapped when freed.  A training round allocates such buffers by the megabyte
    (the arrays a direct link reads the peers' deltas into, or Dask's receive
    buffers; the arrays of touched rows), so the kernel's page clearing would take a
    large share of a round's transport CPU.
    While at least one run holds it, the thresholds are the ceilings glibc's own
    adaptive rule would reach (mmap 32 MiB, trim twice that); when the last run
    ends, the nanny's setting is restored and the free memory returned
    (``malloc_trim``).  Nothing changes where that variable is not set (glibc adapts
    by itself), where the user chose a ``MALLOC_MMAP_THRESHOLD_``, or off glibc.
    Measured: ``benchmarks/exchange_pingpong.py`` with and without it.
    """

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's mallopt parameters
    MMAP_THRESHOLD = 32 << 20                            # glibc's DEFAULT_MMAP_THRESHOLD_MAX (64 bit)
    NANNY_MMAP_THRESHOLD = 128 << 10                     # glibc's fixed default when not adaptive

    def __init__(self):
        self.holders = set()   # run ids (changed under _RUNS_LOCK)
        self._libc = False     # not looked up yet

    def libc(self):
        if self._libc is False:
            self._libc = None
            if os.environ.get("MALLOC_TRIM_THRESHOLD_") and not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
                import ctypes
                import platform
                try:
                    if platform.libc_ver()[0] == "glibc":
                        self._libc = ctypes.CDLL("libc.so.6")
                except (OSError, ValueError):   # pragma: no cover -- an unusual libc: leave the heap alone
                    self._libc = None
        return self._libc

    def hold(self, run_id):
        libc = self.libc()
        if libc is not None and not self.holders:
            libc.mallopt(self.M_MMAP_THRESHOLD, self.MMAP_THRESHOLD)
            libc.mallopt(self.M_TRIM_THRESHOLD, 2 * self.MMAP_THRESHOLD)
        self.holders.add(run_id)

    def release(self, run_id):
        if run_id not in self.holders:
            return
        self.holders.discard(run_id)
        libc = self.libc()
        if libc is not None and not self.holders:
            try:
                trim = int(os.environ["MALLOC_TRIM_THRESHOLD_"])
            except (KeyError, ValueError):   # changed since: glibc's default
                trim = 128 << 10
            libc.mallopt(self.M_MMAP_THRESHOLD, self.NANNY_MMAP_THRESHOLD)
            libc.mallopt(self.M_TRIM_THRESHOLD, trim)
            libc.malloc_trim(0)


_HEAP = _HeapWhileTraining()


def _count_shard(run_id, path):
    """Map step: count one shard's words (kept on the worker in provisional ids)."""
    scan = corpus_io.scan_file(path)
    with _RUNS_LOCK:
        _refuse_ended(run_id)
        _RUNS[(run_id, "scan", path)] = scan
    return list(scan.words), scan.counts, scan.corpus.n_sentences


def _merge_counts(left, right):
    """Reduce step: merge two ``(words, counts, n_sentences)``; left's words keep their order."""
    words, counts, sentences = list(left[0]), left[1], left[2] + right[2]
    index = {word: i for i, word in enumerate(words)}
    positions = np.empty(len(right[0]), dtype=np.int64)
    for j, word in enumerate(right[0]):
        i = index.get(word)
        if i is None:
            i = index[word] = len(words)
            words.append(word)
        positions[j] = i
    merged = np.zeros(len(words), dtype=np.int64)
    merged[:len(counts)] = counts
    merged[positions] += right[1]  # a shard's words are distinct: no repeated positions
    return words, merged, sentences


def _refuse_ended(run_id):
    """Called under ``_RUNS_LOCK`` before storing anything of a run: a task of a run that
    ended here (queued, or its client gone) stores nothing, so nothing is left behind.
    (:func:`_forget_run` marks the run ended before it drops the run's entries under
    that lock: whatever was stored before is dropped.)"""
    if _MAILBOX.has_ended(run_id):
        raise _AttemptAborted(f"run {run_id} has ended")


def _replica(run_id, static, create=True) -> _Replica | None:
    """This worker's replica of a run (made if ``create``; else ``None`` if it has none).
    A run that ended here raises ``_AttemptAborted``."""
    with _RUNS_LOCK:
        _refuse_ended(run_id)
        replica = _RUNS.get(run_id)
        if replica is None and create:
            replica = _RUNS[run_id] = _Replica(static=static)
            _HEAP.hold(run_id)
        return replica


def _encoded_shard(replica, run_id, shard, path):
    """The shard in final vocabulary ids: from this worker's cache, its raw scan, or the file."""
    encoded = replica.encoded.get(shard)
    if encoded is not None:
        return encoded, "cached"
    if replica.word_index is None:
        replica.word_index = {word: i for i, word in enumerate(replica.static.words)}
    with _RUNS_LOCK:
        scan = _RUNS.pop((run_id, "scan", path), None)
    if scan is not None:
        remap = np.fromiter((replica.word_index.get(w, -1) for w in scan.words), dtype=np.int32,
                            count=len(scan.words))
        encoded, how = scan.encode(remap), "from scan"
    else:  # a worker that did not count this shard (e.g. it took over from a lost one)
        encoded, how = corpus_io.encode_file(path, replica.word_index), "re-read"
    encoded.check(len(replica.static.words))
    replica.encoded[shard] = encoded
    return encoded, how


def _slice_sentences(sentence_bounds, slice_index, slices):
    """Sentences ``[first, last)`` whose first word lies in the slice's share of the shard's words."""
    n_words = int(sentence_bounds[-1])
    low = n_words * slice_index // slices
    high = n_words * (slice_index + 1) // slices
    starts = sentence_bounds[:-1]
    first = int(np.searchsorted(starts, low, side="left"))
    last = int(np.searchsorted(starts, high, side="left")) if slice_index + 1 < slices else len(starts)
    return first, last


class _SliceRun(TrainingRun):
    """Single-process training of one round's slice, without the NaN check over both whole matrices.

    A round of skip-gram trains ~8k words (~13 ms); reading 20-40 MB of parameters
    after each would cost about as much again.  Nothing is left unchecked: the
    per-batch checks run, and every value a slice changed is checked when the copies'
    deltas are averaged (:func:`_average_into` raises ``FloatingPointError``).
    """

    # A round runs in the Dask task's thread, where Ctrl-C never lands; with one
    # training thread, starting one per round cost 3-5 ms of a ~15 ms round.
    batches_in_caller = True

    def _check_finite_after_epoch(self, epoch):
        pass


def _train_slice(static, corpus, first, last, input_vectors, inner_vectors, alpha_start, alpha_end, seed,
                 threads):
    """Train sentences ``[first, last)`` once, on ``threads`` threads; returns (seen, trained, loss).

    This is single-process training (:class:`hsmcy._training.TrainingRun`, one epoch
    from ``alpha_start`` to ``alpha_end``): the same workers, private tree rows,
    batches and per-batch finiteness checks (the whole matrices are checked through
    the deltas, :class:`_SliceRun`).  ``seed`` is a sequence of integers (run seed,
    shard, round) that names the random streams.
    """
    if last <= first:
        return 0, 0, 0.0
    start, stop = int(corpus.sentence_bounds[first]), int(corpus.sentence_bounds[last])
    if stop == start:
        return 0, 0, 0.0
    piece = corpus_io.EncodedCorpus(corpus.token_ids[start:stop],
                                    np.asarray(corpus.sentence_bounds[first:last + 1], dtype=np.int64) - start)
    tree, sentinels = static.tree_and_sentinels()
    run = _SliceRun(corpus=piece, input_vectors=input_vectors, syn1=inner_vectors, tree=tree,
                      keep_probability=static.keep_probability, sg=static.sg, window=static.window,
                      shrink_windows=static.shrink_windows, cbow_mean=static.cbow_mean, kernel=static.kernel,
                      epochs=1, start_alpha=alpha_start, end_alpha=alpha_end, workers=threads,
                      batch_words=static.batch_words, compute_loss=static.compute_loss,
                      seed=int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0]), report_delay=None,
                      sentinels=sentinels)
    trained, _ = run.run()
    return run.words_seen, trained, run.total_loss


def _touched_rows(token_ids, static, vocab_size):
    """Rows a slice can change: its words' input vectors and the inner nodes on their paths (sorted)."""
    word_touched = np.zeros(vocab_size, dtype=np.uint8)
    node_touched = np.zeros(max(vocab_size - 1, 1), dtype=np.uint8)
    _exchange.mark_touched(np.ascontiguousarray(token_ids, dtype=np.int32), static.path_offsets, static.path_nodes,
                           word_touched, node_touched)
    return np.flatnonzero(word_touched).astype(np.int32), np.flatnonzero(node_touched).astype(np.int32)


def _rows_of(rows, work, base):
    """``rows`` as int32, checked against the matrices before a nogil loop indexes them."""
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    if work.shape != base.shape or (len(rows) and not (0 <= rows.min() and rows.max() < len(work))):
        raise ValueError("rows out of range, or working copy and parameters of different shapes")
    return rows


def _take_delta(rows, work, base, momentum=None, out=None):
    """``(ids, bfloat16 bits of work - base)`` of the rows of ``rows`` that changed; resets ``work`` there.

    With ``momentum = (velocity, last, round_index, partial)`` the delta is taken
    against where each row stood before the round (:func:`hsmcy._exchange.momentum_take_delta`)
    and ``work`` is left alone.  ``out``: arrays ``(ids, delta)`` of at least
    ``len(rows)`` rows to write into (the results are views of them); else new ones.
    """
    rows = _rows_of(rows, work, base)
    if out is None:
        out = np.empty(len(rows), dtype=np.int32), np.empty((len(rows), work.shape[1]), dtype=np.uint16)
    ids, delta = out
    if len(ids) < len(rows) or delta.shape[0] < len(rows) or delta.shape[1:] != work.shape[1:]:
        raise ValueError("the delta buffers are too small for the rows")
    if momentum is None:
        n = _exchange.take_delta(work, base, rows, ids, delta)
    else:
        velocity, last, round_index, partial = momentum
        n = _exchange.momentum_take_delta(work, base, velocity, last, round_index, partial, rows, ids, delta)
    return ids[:n], delta[:n]


def _check_delta(ids, delta, vocab_rows, width):
    """A delta from a peer, checked before the nogil loop reads it."""
    if (not isinstance(ids, np.ndarray) or ids.dtype != np.int32 or ids.ndim != 1
            or not isinstance(delta, np.ndarray) or delta.dtype != np.uint16 or delta.shape != (len(ids), width)):
        raise _ExchangeFailed("a peer sent a malformed delta (wrong types or shapes)")
    if len(ids) and not (0 <= ids.min() and ids.max() < vocab_rows and np.all(np.diff(ids) > 0)):
        raise _ExchangeFailed("a peer sent a delta with row ids out of range or not increasing")
    return np.ascontiguousarray(ids), np.ascontiguousarray(delta)


def _average_into(base, work, ids_per_copy, deltas_per_copy, copies):
    """Add the mean of the copies' deltas to ``base`` (and set ``work`` to it).

    Copies that did not change a row add zero to it.  The copies' deltas are added
    one after the other, in the order given (copy order), each times ``1/copies``, so
    every worker computes the same bits (one pass over the rows,
    :func:`hsmcy._exchange.add_deltas`).
    """
    ids_per_copy, deltas_per_copy = _checked_deltas(ids_per_copy, deltas_per_copy, base)
    if _exchange.add_deltas(base, work, ids_per_copy, deltas_per_copy, np.float32(1.0 / copies)):
        raise FloatingPointError(_DIVERGED)


def _checked_deltas(ids_per_copy, deltas_per_copy, base):
    """The copies' deltas, each checked by :func:`_check_delta` against ``base``: two lists."""
    checked = [_check_delta(ids, delta, len(base), base.shape[1]) for ids, delta in zip(ids_per_copy, deltas_per_copy)]
    return [ids for ids, _ in checked], [delta for _, delta in checked]


_DIVERGED = ("training diverged: averaging the copies' changes gave NaN or infinite values; lower alpha "
             "(copies train at up to alpha times their number)")


def _worker_threads(static):
    if static.threads is not None:
        return static.threads
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return os.cpu_count() or 1


# ---------------------------------------------------------------- exchange
class _AttemptAborted(Exception):
    """The client aborted this attempt at an epoch (a worker taking part was lost)."""


class _ExchangeFailed(Exception):
    """Sending to or hearing from a peer worker failed; the client runs the epoch again."""


class _Mailbox:
    """Messages from peer workers, keyed ``(run id, epoch, attempt, round, sender, part)``."""

    def __init__(self):
        self.changed = threading.Condition()
        self.messages = {}
        self.aborted = set()     # (run id, epoch, attempt)
        self.ended = set()       # run ids

    def put(self, key, payload):
        with self.changed:
            if key[:3] not in self.aborted and key[0] not in self.ended:
                self.messages[key] = payload
            self.changed.notify_all()

    def take(self, key, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while key not in self.messages:
                if key[:3] in self.aborted:
                    raise _AttemptAborted(f"epoch {key[1]}, attempt {key[2]} was aborted by the client")
                if key[0] in self.ended:
                    raise _AttemptAborted(f"run {key[0]} has ended")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _ExchangeFailed(f"no message from worker {key[4]} for round {key[3]} of epoch {key[1]} "
                                          f"within {timeout:.0f}s")
                self.changed.wait(min(left, 1.0))
            return self.messages.pop(key)

    def abort(self, run_id, epoch, attempt):
        with self.changed:
            self.aborted.add((run_id, epoch, attempt))
            for key in [k for k in self.messages if k[:3] == (run_id, epoch, attempt)]:
                del self.messages[key]
            self.changed.notify_all()

    def check(self, run_id, epoch, attempt):
        """Raise ``_AttemptAborted`` if the attempt was aborted or the run has ended."""
        with self.changed:
            if (run_id, epoch, attempt) in self.aborted or run_id in self.ended:
                raise _AttemptAborted(f"epoch {epoch}, attempt {attempt} of run {run_id} was aborted or has ended")

    def has_ended(self, run_id):
        with self.changed:
            return run_id in self.ended

    def forget(self, run_id):
        """The run has ended: drop its messages; its threads waiting here stop."""
        with self.changed:
            for key in [k for k in self.messages if k[0] == run_id]:
                del self.messages[key]
            self.aborted = {k for k in self.aborted if k[0] != run_id}
            self.ended.add(run_id)
            self.changed.notify_all()


_MAILBOX = _Mailbox()


async def _deliver(run_id=None, epoch=None, attempt=None, round=None, sender=None, part=None, payload=None):
    """Handler ``hsmcy_deliver`` on every worker: file a peer's message for the training thread."""
    _MAILBOX.put((run_id, epoch, attempt, round, sender, part), payload)
    return "ok"


def _link_address(worker_address):
    """Where and how a peer opens a direct link to this worker (:mod:`hsmcy._links`): its
    listener, on the host of its Dask address, made on first use."""
    host = _tcp_host(worker_address)
    if host is None:
        raise ValueError(f"no direct links to a worker at {worker_address!r} (only tcp://)")
    end = _links.listener(host, _MAILBOX.put)
    return {"host": end.host, "port": end.port, "secret": end.secret.hex()}


class _ExchangePlugin(_WorkerPlugin):
    """Adds the ``hsmcy_deliver`` and ``hsmcy_link`` handlers to every worker (and to workers
    that join later).

    This is how Dask's own extensions add handlers; it lets training threads send
    deltas straight to each other, without a round trip through the scheduler.
    """

    name = "hsmcy-distributed-exchange"

    def setup(self, worker):
        async def link_address():   # handler hsmcy_link: the answer travels over Dask's comm
            return _link_address(worker.address)

        worker.handlers["hsmcy_deliver"] = _deliver
        worker.handlers["hsmcy_link"] = link_address


def _abort_attempts(run_id, attempts):
    """Run on every worker by the client: wake and stop the threads of aborted attempts
    (``(epoch, attempt)`` pairs)."""
    for epoch, attempt in attempts:
        _MAILBOX.abort(run_id, epoch, attempt)


def _tcp_host(address):
    """The host of a ``tcp://host:port`` Dask address; ``None`` for any other scheme (TLS,
    in-process, UCX: their traffic stays on Dask's comm)."""
    if not isinstance(address, str) or not address.startswith("tcp://"):
        return None
    from distributed.comm import get_address_host
    return get_address_host(address)


def _open_links(spec, peers):
    """Direct links (:mod:`hsmcy._links`) from this worker to each peer for this attempt at the
    epoch, ``{address: Link}``; a peer a link cannot reach (another scheme, a firewall,
    anything failing within the timeouts) is left to Dask's RPC, and logged."""
    from distributed import get_worker

    worker = get_worker()
    if _tcp_host(worker.address) is None:
        return {}
    origin = {"run_id": spec.run_id, "epoch": spec.epoch, "attempt": spec.attempt, "sender": spec.worker}
    links = {}
    for address in peers:
        host = _tcp_host(address)
        with _RUNS_LOCK:
            unlinked = (spec.run_id, address) in _UNLINKED
        if host is None or unlinked:
            continue
        try:
            asking = asyncio.run_coroutine_threadsafe(worker.rpc(address).hsmcy_link(), worker.loop.asyncio_loop)
            deadline = time.monotonic() + _LINK_SECONDS
            while True:   # in short waits: an attempt the client aborts meanwhile stops here
                _MAILBOX.check(spec.run_id, spec.epoch, spec.attempt)
                try:
                    where = asking.result(timeout=min(0.5, max(deadline - time.monotonic(), 0.0)))
                    break
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        asking.cancel()
                        raise
            links[address] = _links.Link(where["host"], int(where["port"]), bytes.fromhex(where["secret"]), origin,
                                         connect_seconds=_LINK_SECONDS, send_seconds=_EXCHANGE_TIMEOUT)
        except _AttemptAborted:
            _close_links(links, failed=True)
            raise
        except Exception as error:   # anything else: this peer's messages go through Dask's RPC instead
            logger.info("no direct link to %s (%s: %s); its deltas go through Dask's comm for the rest of "
                        "this run", address, type(error).__name__, error)
            with _RUNS_LOCK:   # a firewall would cost the timeout again every epoch
                _UNLINKED.add((spec.run_id, address))
    return links


_UNLINKED = set()   # (run id, peer address): no direct link could be opened (under _RUNS_LOCK); dropped with the run


def _close_links(links, failed):
    for link in links.values():
        if failed:
            link.abort()
        else:
            link.close()


def _send_to_peers(spec, round_index, part, payload, peers, links=None):
    """Start sending ``payload`` (``part`` of a round's deltas) to every peer worker; returns
    futures that are done when every peer has it (through a direct link of ``links``: the
    kernel holds it all; through Dask's RPC: the peer has filed it).

    The training thread goes on meanwhile (taking the next part, waiting for its
    peers' messages): sending overlaps with that work and with the other direction.
    """
    from distributed import get_worker
    from distributed.protocol import to_serialize

    links = links or {}
    futures = [links[address].send(round_index, part, payload) for address in peers if address in links]
    through_dask = [address for address in peers if address not in links]
    if through_dask:
        worker = get_worker()
        message = {"run_id": spec.run_id, "epoch": spec.epoch, "attempt": spec.attempt, "round": round_index,
                   "sender": spec.worker, "part": part}

        async def send_all():
            await asyncio.gather(*(worker.rpc(address).hsmcy_deliver(payload=to_serialize(payload), **message)
                                   for address in through_dask))

        futures.append(asyncio.run_coroutine_threadsafe(send_all(), worker.loop.asyncio_loop))
    return futures


def _sent(sending, spec, round_index):
    """Wait until the sends started by :func:`_send_to_peers` for a round are done; a failure
    becomes ``_ExchangeFailed``."""
    try:
        for futures in sending:
            for future in futures:
                future.result(timeout=_EXCHANGE_TIMEOUT)
    except Exception as error:  # any failure to reach a peer: the client decides what to do
        raise _ExchangeFailed(f"could not send round {round_index} of epoch {spec.epoch} to a peer: "
                              f"{type(error).__name__}: {error}") from error


# ---------------------------------------------------------------- an epoch
def _train_epoch(spec, static, state, after=None):
    """One worker's part of an epoch: train its copies round by round, averaging with its peers.

    ``state`` holds the parameters at the start of the epoch when this worker may not
    have them (the first epoch, a new worker, a repeated epoch); otherwise ``None``
    and the worker's replica must stand at ``spec.first_round``.  ``after`` is this
    worker's result of the previous epoch when the client queued this task behind it
    (unused: it only orders the tasks).  Returns totals (words, loss, bytes, seconds),
    the replica's checksum and, from worker 0, the parameters at the end.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    replica = _replica(spec.run_id, static, create=state is not None)
    if replica is None:  # this worker holds no parameters of the run (e.g. restarted): its peers wait for them
        return {"need_state": True, "worker": spec.worker, "replica_version": -1}
    with replica.lock:  # one epoch task at a time trains on this worker's replica
        if state is not None:
            replica.install(state, spec.first_round)
        elif replica.version != spec.first_round:
            return {"need_state": True, "worker": spec.worker, "replica_version": replica.version}
        replica.version = -1  # until the epoch completes: an aborted epoch leaves no usable replica
        with _links_to_peers(spec) as links:
            totals = _run_rounds(spec, static, replica, links)
        replica.version = spec.first_round + spec.rounds
        result = {"need_state": False, "worker": spec.worker, **totals, "checksum": replica.checksum(),
                  "seconds": time.perf_counter() - started,
                  "cpu_seconds_workers": time.process_time() - cpu_started}   # the whole worker process
        if spec.worker == 0:
            result["state"] = replica.checkpoint(spec.epoch)
        return result


def _copy_corpus(replica, run_id, copy, shards):
    """A copy's shards as one encoded stream (in shard order), cached on this worker."""
    key = ("copy", copy, tuple(shard for shard, _ in shards))
    corpus = replica.encoded.get(key)
    if corpus is None:
        parts = [_encoded_shard(replica, run_id, shard, path)[0] for shard, path in shards]
        if len(parts) == 1:
            corpus = parts[0]
        else:
            offsets = np.cumsum([0] + [part.n_words for part in parts])
            bounds = [parts[0].sentence_bounds[:1].astype(np.int64)]
            bounds += [np.asarray(part.sentence_bounds[1:], dtype=np.int64) + offset
                       for part, offset in zip(parts, offsets)]
            corpus = corpus_io.EncodedCorpus(np.concatenate([np.asarray(part.token_ids) for part in parts]),
                                             np.concatenate(bounds))
            for shard, _ in shards:  # the stream replaces them
                replica.encoded.pop(shard, None)
        replica.encoded[key] = corpus
    return corpus


def _peers(spec):
    """``(position, address)`` of the workers this one exchanges deltas with: those hosting copies."""
    return [(i, address) for i, address in enumerate(spec.addresses) if i != spec.worker and spec.hosting[i]]


@contextlib.contextmanager
def _links_to_peers(spec):
    """Direct links to this worker's peers for the attempt (:func:`_open_links`), closed at the end:
    after the last writes, or at once if the attempt failed (a write blocked on a stopped peer fails)."""
    peers = [address for _, address in _peers(spec)]
    links = _open_links(spec, peers) if peers else {}
    try:
        yield links
    except BaseException:
        _close_links(links, failed=True)
        raise
    _close_links(links, failed=False)


def _run_rounds(spec, static, replica, links):
    """Train this worker's copies round by round; ``links``: direct links to peers (the others
    go through Dask's RPC)."""
    hosted = spec.hosting[spec.worker]
    vocab_size = len(static.words)
    corpora = {copy: _copy_corpus(replica, spec.run_id, copy, shards) for copy, shards in hosted}
    peer_ids, peers = [i for i, _ in _peers(spec)], [address for _, address in _peers(spec)]
    threads = _worker_threads(static)
    matrices = (replica.input, replica.inner)
    if (spec.momentum > 0) != all(m.velocity is not None for m in matrices):
        raise RuntimeError("the replica's parameters and the epoch disagree on block momentum")
    tables = _MomentumTables.make(spec.momentum, spec.rounds) if spec.momentum > 0 else None
    totals = {"words_seen": 0, "words_trained": 0, "loss": 0.0, "bytes_sent": 0, "bytes_sent_direct": 0,
              "seconds_training": 0.0, "seconds_exchanging": 0.0, "cpu_seconds_training": 0.0}

    def alpha_at(global_round):
        progress = global_round / spec.total_rounds
        return spec.gain * (spec.alpha + (spec.min_alpha - spec.alpha) * progress)

    def touched(round_index):  # per hosted copy: the rows its slice of the round can change
        rows = {}
        for copy, corpus in corpora.items():
            first, last = _slice_sentences(corpus.sentence_bounds, round_index, spec.rounds)
            words = corpus.token_ids[corpus.sentence_bounds[first]:corpus.sentence_bounds[last]]
            rows[copy] = (first, last, _touched_rows(np.asarray(words), static, vocab_size))
        return rows

    last_copy = list(corpora)[-1]   # its take completes a part of the round's message
    sending = []   # the last round's messages to the peers, until they confirm them
    next_rows = touched(0)
    for round_index in range(spec.rounds):
        round_started, round_cpu = time.perf_counter(), time.process_time()
        global_round = spec.first_round + round_index
        this_rows = next_rows
        own = [[] for _ in matrices]   # per matrix (message part): [(copy, ids, bfloat16 deltas), ...]
        for copy, corpus in corpora.items():
            first, last, rows = this_rows[copy]   # (input rows, inner rows)
            try:
                for matrix, matrix_rows in zip(matrices, rows):
                    matrix.start(matrix_rows, round_index, tables)
                seen, trained, loss = _train_slice(static, corpus, first, last, replica.input.work,
                                                   replica.inner.work, alpha_at(global_round),
                                                   alpha_at(global_round + 1), [spec.seed, copy, global_round],
                                                   threads)
                totals["words_seen"] += seen
                totals["words_trained"] += trained
                totals["loss"] += loss
                for part, (matrix, matrix_rows) in enumerate(zip(matrices, rows)):
                    own[part].append((copy, *matrix.take(matrix_rows, round_index, tables, copy)))
                    if copy == last_copy and peers:
                        # every hosted copy's part is taken: it travels while the next part is taken
                        if part == 0 and sending:  # the last round's reached the peers long ago: no wait
                            _sent(sending, spec, round_index - 1)
                            sending = []
                        sending.append(_send_to_peers(spec, round_index, part, own[part], peers, links))
                        message_bytes = sum(a.nbytes for entry in own[part] for a in entry[1:])
                        totals["bytes_sent"] += message_bytes * len(peers)
                        totals["bytes_sent_direct"] += message_bytes * len(links)
            except BaseException:
                for matrix in matrices:   # a half-trained working copy must not leak into anything else
                    matrix.discard_work()
                raise
        exchange_started = time.perf_counter()
        totals["seconds_training"] += exchange_started - round_started
        totals["cpu_seconds_training"] += time.process_time() - round_cpu   # training and taking the deltas
        if round_index + 1 < spec.rounds:
            next_rows = touched(round_index + 1)   # while the peers' deltas travel
        for part, matrix in enumerate(matrices):
            received = list(own[part])
            for sender in peer_ids:
                received.extend(_MAILBOX.take((spec.run_id, spec.epoch, spec.attempt, round_index, sender, part),
                                              _EXCHANGE_TIMEOUT))
            received.sort(key=lambda entry: entry[0])  # copy order: every worker sums alike
            if len(received) != spec.copies:
                raise RuntimeError(f"round {global_round}: deltas of {len(received)} copies, "
                                   f"expected {spec.copies}")
            matrix.average([e[1] for e in received], [e[2] for e in received], spec.copies, round_index, tables)
        totals["seconds_exchanging"] += time.perf_counter() - exchange_started
    for matrix in matrices:
        matrix.settle(spec.rounds - 1, tables)
    if sending:  # the epoch ends when every peer (or, over a link, its kernel) holds our last delta
        _sent(sending, spec, spec.rounds - 1)
    return totals


def _forget_run(run_id):
    """Drop everything a worker holds for a run (called on every worker at the end, also
    when training failed): a task of the run still running stops at its next exchange,
    one that starts later stops at once."""
    _MAILBOX.forget(run_id)   # first: from now on nothing of the run is stored (_refuse_ended)
    with _RUNS_LOCK:
        for key in [k for k in _RUNS if k == run_id or (isinstance(k, tuple) and k[0] == run_id)]:
            del _RUNS[key]
        _HEAP.release(run_id)   # after the replica is dropped: its memory goes back too
        _UNLINKED.difference_update([key for key in _UNLINKED if key[0] == run_id])


# =============================================================== client side
def _check_parameters(corpus_files, word2vec_parameters, sync_every, syncs_per_epoch, replicas):
    if isinstance(corpus_files, (str, bytes, os.PathLike)):
        raise TypeError("corpus_files must be a list of corpus file paths (one shard or more per worker), "
                        f"got a single path {corpus_files!r}: wrap it in a list")
    try:
        files = [os.fspath(path) for path in corpus_files]
    except TypeError as error:
        raise TypeError(f"corpus_files must be a list of paths: {error}") from None
    if not files:
        raise ValueError("corpus_files is empty: give at least one corpus file")
    for name in _REFUSED_PARAMETERS:
        if name in word2vec_parameters:
            raise TypeError(f"{name} is not a parameter of hsmcy.distributed.train: the corpus is corpus_files")
    if "averaging" in word2vec_parameters:
        raise TypeError("averaging is no longer a parameter of hsmcy.distributed.train: the copies are averaged "
                        "with the learning rate scaled by their number (docs/distributed.md)")
    if sync_every is not None and syncs_per_epoch is not None:
        raise ValueError("give sync_every or syncs_per_epoch, not both")
    # Each round is a synchronisation of every worker (tens of milliseconds at least): beyond
    # 100,000 per epoch, rounds would cost hours and train a sliver of a batch each.
    if syncs_per_epoch is not None and (isinstance(syncs_per_epoch, bool) or not isinstance(syncs_per_epoch, int)
                                        or not 1 <= syncs_per_epoch <= 100_000):
        raise ValueError(f"syncs_per_epoch must be an integer in [1, 100000], got {syncs_per_epoch!r}")
    if sync_every is not None and (isinstance(sync_every, bool) or not isinstance(sync_every, int)
                                   or sync_every < 1):
        raise ValueError(f"sync_every must be an integer >= 1 (words), got {sync_every!r}")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)
                                 or not 1 <= replicas <= len(files)):
        raise ValueError(f"replicas must be an integer from 1 to the number of shards ({len(files)}), "
                         f"got {replicas!r}")
    return files


def _nbytes(*arrays):
    return int(sum(np.asarray(a).nbytes for a in arrays))


def train(client, corpus_files, *, sync_every=None, syncs_per_epoch=None, replicas=None, **word2vec_parameters):
    """Train a :class:`hsmcy.Word2Vec` on a Dask cluster, one or more corpus files per worker.

    Parameters
    ----------
    client : dask.distributed.Client
    corpus_files : list of str or PathLike
        The shards: UTF-8 text files, one sentence per line, readable by the workers
        under these paths.  They are dealt round robin to the model copies, and each
        copy to a worker, so give at least as many shards as workers to use them all.
    sync_every : int, optional
        Average the copies after about this many words, counted over all copies.
    syncs_per_epoch : int, optional
        Average the copies this many times per epoch (give this or ``sync_every``).
        Default: about every 25,000 words per copy for CBOW, 32,000 for skip-gram
        (at least 16 times per epoch), measured: ``docs/distributed.md``.  Longer
        intervals save messages and cost quality.
    replicas : int, optional
        Model copies trained in parallel and averaged (at most the number of shards).
        Default: the number of workers (at most the number of shards).  The vectors
        depend on it, not on the workers: a worker hosts several copies if needed,
        e.g. after losing a worker.
    **word2vec_parameters
        :class:`hsmcy.Word2Vec`'s parameters (``vector_size``, ``window``, ``min_count``,
        ``sg``, ``epochs``, ``alpha``, ``seed``, ...).  ``workers`` is the number of
        training threads per Dask worker (default: the worker's own ``nthreads``).
        ``callbacks`` get ``on_train_begin/end`` and ``on_epoch_begin/end`` with the
        client's model, which holds the averaged parameters after each epoch (the
        workers are already training the next epoch then: a callback reads the
        model, its changes do not reach the workers).

    Returns
    -------
    hsmcy.Word2Vec
        An ordinary model (``wv``, ``syn1``, ``save``, ``to_gensim()``), with one extra
        attribute ``distributed_report``, a dict: ``n_workers``, ``shards``,
        ``replicas``, ``rounds``, ``syncs_per_epoch``, ``words_per_epoch``,
        ``words_seen`` (always ``epochs x words_per_epoch``: every shard's every slice
        was trained once, in the attempt that completed), ``words_trained``,
        ``learning_rate_gain`` and ``block_momentum`` (the combination rule:
        ``replicas`` and 0 for CBOW, 1 and ``1 - 1/replicas`` for skip-gram), ``bytes_per_sync`` (deltas sent
        between workers per round, all workers together), ``bytes_sent`` and
        ``bytes_sent_direct`` (of those, over direct links between the workers rather than
        Dask's RPC, :mod:`hsmcy._links`), ``model_bytes``, ``workers_lost``, ``epochs_repeated``,
        ``tasks_recomputed`` and the ``recomputed`` task keys (the tasks of aborted
        attempts), ``state_sends``, ``seconds``, ``words_per_second``.

    Raises
    ------
    ValueError, TypeError
        Bad parameters or corpus files (missing, empty, no word reaching ``min_count``),
        before any training.

    Examples
    --------
    >>> from dask.distributed import Client, LocalCluster                 # doctest: +SKIP
    >>> import hsmcy.distributed
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> model = hsmcy.distributed.train(client, ["part-0.txt", "part-1.txt"], vector_size=100,
    ...                                 sg=1, epochs=5)                    # doctest: +SKIP
    >>> model.to_gensim().wv.most_similar("king")                        # doctest: +SKIP
    """
    files = _check_parameters(corpus_files, word2vec_parameters, sync_every, syncs_per_epoch, replicas)
    threads = word2vec_parameters.pop("workers", None)
    callbacks = tuple(word2vec_parameters.pop("callbacks", None) or ())
    model = Word2Vec(**word2vec_parameters)  # validates every parameter, trains nothing
    if threads is not None:
        model.workers = threads = _check_int("workers", threads, 1)
    if _WorkerPlugin is object:
        raise ImportError("hsmcy.distributed needs dask.distributed: pip install 'hsmcy[dask]'")
    started = time.perf_counter()
    run_id = f"hsmcy-{uuid.uuid4().hex[:12]}"
    report = {"run_id": run_id, "shards": len(files), "workers_lost": [], "epochs_repeated": 0,
              "tasks_recomputed": 0, "recomputed": [], "state_sends": 0, "bytes_state_sent": 0,
              "bytes_sent": 0, "bytes_sent_direct": 0, "words_seen": 0, "words_trained": 0, "seconds_training": 0.0,
              "seconds_exchanging": 0.0, "cpu_seconds_training": 0.0, "cpu_seconds_workers": 0.0}
    try:
        _train(client, files, model, run_id, report, threads, callbacks, sync_every, syncs_per_epoch, replicas)
    finally:
        try:
            client.run(_forget_run, run_id)
        except Exception as error:  # noqa: BLE001 -- cleanup must not mask the real outcome
            logger.warning("could not drop the run's worker caches: %s", error)
    expected = report["words_per_epoch"] * report["epochs"]
    if report["words_seen"] != expected:  # cannot happen unless a slice was lost or counted twice
        raise RuntimeError(f"distributed training counted {report['words_seen']} words instead of {expected}")
    elapsed = time.perf_counter() - started
    report["seconds"] = elapsed
    report["words_per_second"] = report["words_seen"] / elapsed if elapsed > 0 else 0.0
    report["bytes_per_sync"] = report["bytes_sent"] / max(report["rounds"], 1)
    model.distributed_report = report
    model.total_train_time += elapsed
    model.train_count += 1
    model.min_alpha_yet_reached = model.min_alpha
    refill_norms(model.wv)
    if report["workers_lost"] or report["epochs_repeated"]:
        logger.warning("distributed training completed after losing %d worker(s) (%s); %d epoch attempt(s) were "
                       "aborted and run again from the last checkpoint (%d task(s)), no shard's updates were dropped",
                       len(report["workers_lost"]), ", ".join(report["workers_lost"]) or "-",
                       report["epochs_repeated"], report["tasks_recomputed"])
    logger.info("distributed training: %d shards, %d copies on %d workers, %d rounds, %d words in %.1fs "
                "(%.0f words/s), %.0f bytes between workers per round", len(files), report["replicas"],
                report["n_workers"], report["rounds"], report["words_seen"], elapsed, report["words_per_second"],
                report["bytes_per_sync"])
    return model


def _build_vocabulary(client, files, model, run_id, preferred):
    """Map-reduce of word counts; returns (Vocabulary, tree, n_sentences)."""
    counted = [client.submit(_count_shard, run_id, path, key=f"{run_id}-count-{i}", workers=preferred(i),
                             allow_other_workers=True, pure=False)
               for i, path in enumerate(files)]
    level = 0
    while len(counted) > 1:  # pairwise tree reduction, left before right: first-appearance order is kept
        level += 1
        counted = [client.submit(_merge_counts, counted[i], counted[i + 1], key=f"{run_id}-merge-{level}-{i}",
                                 pure=False) if i + 1 < len(counted) else counted[i]
                   for i in range(0, len(counted), 2)]
    words, counts, n_sentences = counted[0].result()
    del counted
    if not len(counts) or int(np.sum(counts)) == 0:
        raise ValueError(f"corpus_files {files!r} are empty: they hold no tokens")
    vocabulary, _ = model._vocabulary_rules(words, counts)
    if len(vocabulary) == 0:
        raise ValueError(f"no word occurs at least min_count={model.min_count} times in corpus_files "
                         f"({len(words)} distinct words, the most frequent {int(np.max(counts))} times): "
                         "lower min_count")
    model.corpus_count = int(n_sentences)
    model.corpus_total_words = int(np.sum(counts))
    return vocabulary, HuffmanTree.from_counts(vocabulary.counts)



def _live_workers(client):
    """Addresses of the workers the scheduler knows now, sorted."""
    return client.run_on_scheduler(_scheduler_workers)


def _scheduler_workers(dask_scheduler=None):
    return sorted(dask_scheduler.workers)


def _rounds_per_epoch(words_per_epoch, copies, sg, sync_every, syncs_per_epoch):
    if syncs_per_epoch is not None:
        return syncs_per_epoch
    if sync_every is not None:
        return max(1, round(words_per_epoch / sync_every))
    if copies == 1:
        return 1  # nothing to average
    rule = _RULES["sg" if sg else "cbow"]
    return max(rule.min_rounds, math.ceil(words_per_epoch / (copies * rule.round_words)))


def _host(copies, workers, previous=None):
    """Copy -> worker address: round robin over ``workers``, keeping live ones where they were."""
    placement = {}
    for copy in range(copies):
        if previous is not None and previous.get(copy) in workers:
            placement[copy] = previous[copy]
        else:
            placement[copy] = workers[copy % len(workers)]
    return placement


def _wait_for_epoch(client, futures, addresses, report):
    """Wait for an epoch's tasks; ``(results, None)``, or ``(None, reason)`` if the attempt must be repeated.

    A worker taking part that leaves the cluster, or an exchange that fails, makes the
    attempt repeatable; any other error in a task is raised.
    """
    from distributed import wait

    lost_error = _lost_data_errors()
    results = {}

    def lost_workers():  # the workers taking part that have left the cluster (recorded in the report)
        live = set(_live_workers(client))
        lost = [address for address in addresses if address not in live]
        report["workers_lost"].extend(a for a in lost if a not in report["workers_lost"])
        return lost

    while True:
        pending = [f for f in futures if f.key not in results]
        try:
            wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        lost = lost_workers()
        if lost:
            return None, f"worker(s) {', '.join(lost)} left the cluster"
        for future in futures:
            if future.key in results:
                continue
            try:  # a finished task's result can still die with its worker before it reaches this client
                result = future.result() if future.status in ("error", "cancelled", "finished") else None
            except (_ExchangeFailed, _AttemptAborted) as error:
                return None, f"{type(error).__name__}: {error}"
            except lost_error as error:
                lost_workers()
                return None, f"task {future.key} or its result was lost with its worker ({type(error).__name__})"
            if result is None:
                continue
            if result["need_state"]:  # its peers wait for it: repeat with the parameters
                return None, f"worker {result['worker']} did not hold the parameters"
            results[future.key] = result
        if len(results) == len(futures):
            return [results[f.key] for f in futures], None


def _check_replicas_agree(results, epoch):
    """Every worker must end an epoch with the same bits (the checkpoint is worker 0's)."""
    checksums = {result["worker"]: result["checksum"] for result in results}
    if len(set(checksums.values())) > 1:
        raise RuntimeError(f"after epoch {epoch + 1} the workers' parameters differ (CRC-32 per worker: "
                           f"{checksums}); every worker must compute the same bits: this is a bug in "
                           "hsmcy.distributed, please report it")


def _lost_data_errors():
    """What ``Future.result()`` raises when a task's inputs or result died with a worker."""
    from concurrent.futures import CancelledError  # FutureCancelledError derives from it
    from distributed.scheduler import KilledWorker
    return (CancelledError, KilledWorker)


@dataclass
class _Attempt:
    """An attempt at an epoch, as the client submitted it: one task per worker of ``addresses``."""

    epoch: int
    attempt: int
    addresses: list
    hosting: list
    futures: list


def _train(client, files, model, run_id, report, threads, callbacks, sync_every, syncs_per_epoch, replicas):
    workers = _live_workers(client)
    if not workers:
        raise ValueError("the Dask client has no workers")
    copies = replicas if replicas is not None else min(len(workers), len(files))
    shards_of = {copy: [(shard, files[shard]) for shard in range(copy, len(files), copies)] for copy in range(copies)}
    placement = _host(copies, workers)

    def preferred(shard):  # where a shard is counted: the worker that will train it
        return [placement[shard % copies]]

    report.update(n_workers=len(workers), replicas=copies)
    vocabulary_started = time.perf_counter()
    vocabulary, tree = _build_vocabulary(client, files, model, run_id, preferred)
    report["seconds_vocabulary"] = time.perf_counter() - vocabulary_started
    model._set_vocabulary(vocabulary.words, vocabulary.counts, tree)
    model.effective_min_count = int(vocabulary.counts.min())
    model._init_weights()
    input_vectors, syn1 = model.wv.vectors, model.syn1

    # Every in-vocabulary token is trained once per epoch, wherever it lives.
    words_per_epoch = int(vocabulary.counts.sum())
    rounds = _rounds_per_epoch(words_per_epoch, copies, model.sg, sync_every, syncs_per_epoch)
    epochs = model.epochs
    model_bytes = _nbytes(input_vectors, syn1)
    gain, momentum = _RULES["sg" if model.sg else "cbow"].gain_and_momentum(copies)
    # the checkpoint of block momentum's velocities, as the model holds the parameters' (not saved with it)
    velocities = (np.zeros_like(input_vectors), np.zeros_like(syn1)) if momentum > 0 else (None, None)
    report.update(words_per_epoch=words_per_epoch, syncs_per_epoch=rounds, epochs=epochs, rounds=epochs * rounds,
                  vocab_size=len(vocabulary), vector_size=model.vector_size, model_bytes=model_bytes,
                  learning_rate_gain=gain, block_momentum=momentum)

    static = _Static(words=list(vocabulary.words), keep_probability=model._keep_probability,
                     path_nodes=tree.path_nodes, path_codes=tree.path_codes, path_offsets=tree.path_offsets,
                     vector_size=model.vector_size, sg=bool(model.sg), window=model.window,
                     shrink_windows=model.shrink_windows, cbow_mean=bool(model.cbow_mean),
                     batch_words=model.batch_words, threads=threads, compute_loss=model.compute_loss,
                     kernel=model.kernel)
    static_future = client.scatter(static, broadcast=True, hash=False)
    client.register_plugin(_ExchangePlugin(), name=_ExchangePlugin.name)
    model.running_training_loss = 0.0
    holding = set()  # workers whose replica stands at the start of the next epoch
    submissions = [0] * epochs   # attempts submitted per epoch: each has its own task keys and messages

    def submit(epoch, addresses, hosting, needing, after=None):
        """Submit an attempt at ``epoch``, one task per worker of ``addresses``; the workers of
        ``needing`` get the client's checkpoint; with ``after`` (a future per worker) each
        task runs when the worker's task of the previous epoch has ended."""
        attempt = submissions[epoch]
        submissions[epoch] += 1
        state_future = None
        if needing:  # the parameters at the start of this epoch, the client's checkpoint
            state = _Rows(input_vectors, syn1, *velocities)
            state_future = client.scatter(state, workers=needing, broadcast=True, hash=False)
            report["state_sends"] += len(needing)
            report["bytes_state_sent"] += state.nbytes * len(needing)
        futures = []
        for index, address in enumerate(addresses):
            spec = _EpochSpec(run_id=run_id, attempt=attempt, epoch=epoch, worker=index, addresses=addresses,
                              hosting=hosting, copies=copies, gain=gain,
                              momentum=momentum, rounds=rounds, first_round=epoch * rounds,
                              total_rounds=epochs * rounds, alpha=model.alpha, min_alpha=model.min_alpha,
                              seed=model.seed)
            futures.append(client.submit(_train_epoch, spec, static_future,
                                         state_future if address in needing else None,
                                         None if after is None else after[index],
                                         key=f"{run_id}-e{epoch}-a{attempt}-w{index}", workers=[address],
                                         allow_other_workers=False, pure=False))
        return _Attempt(epoch, attempt, addresses, hosting, futures)

    ahead = None   # the next epoch's attempt, submitted while this one runs

    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)
    for epoch in range(epochs):
        epoch_started = time.perf_counter()
        for callback in callbacks:
            if hasattr(callback, "on_epoch_begin"):
                callback.on_epoch_begin(model)
        for _ in range(_MAX_ATTEMPTS):
            if ahead is not None:   # submitted while the previous epoch ran
                current, ahead = ahead, None
            else:
                live = _live_workers(client)
                if not live:
                    raise RuntimeError(f"epoch {epoch + 1}: the Dask cluster has no workers left")
                placement = _host(copies, live, placement)
                addresses = sorted(set(placement.values()), key=live.index)
                hosting = [[(copy, shards_of[copy]) for copy in range(copies) if placement[copy] == address]
                           for address in addresses]
                current = submit(epoch, addresses, hosting, [a for a in addresses if a not in holding])
            if epoch + 1 < epochs:
                # the next epoch waits on each worker for this one's task and starts the moment it
                # ends: the workers do not idle while the checkpoint travels to this client
                ahead = submit(epoch + 1, current.addresses, current.hosting, [], after=current.futures)
            results, reason = _wait_for_epoch(client, current.futures, current.addresses, report)
            if results is not None:
                break
            # abort: stop the attempt's threads everywhere (and the next epoch's, which would
            # start from it), forget their tasks, start again from the checkpoint
            logger.warning("epoch %d, attempt %d aborted (%s): running it again from the parameters at its start",
                           epoch + 1, current.attempt + 1, reason)
            aborted = [current] + ([ahead] if ahead is not None else [])
            try:
                client.run(_abort_attempts, run_id, [(a.epoch, a.attempt) for a in aborted])
            except Exception as error:  # noqa: BLE001 -- a worker dying right now: its threads die with it
                logger.warning("could not reach every worker to abort the attempt: %s", error)
            for attempt in aborted:
                client.cancel(attempt.futures)
                report["tasks_recomputed"] += len(attempt.futures)
                report["recomputed"].extend(f.key for f in attempt.futures)
            report["epochs_repeated"] += 1
            holding, ahead, current, aborted = set(), None, None, None
        else:
            raise RuntimeError(f"epoch {epoch + 1} could not be completed in {_MAX_ATTEMPTS} attempts: workers kept "
                               "failing (see the log)")
        _check_replicas_agree(results, epoch)
        holding = set(current.addresses)
        current = None   # its tasks' results (worker 0's checkpoint copy) can go
        state = results[0].pop("state")
        input_vectors[...] = state.input_values
        syn1[...] = state.inner_values
        for kept, new in zip(velocities, (state.input_velocity, state.inner_velocity)):
            if kept is not None:
                kept[...] = new
        del state
        for result in results:
            for key in ("words_seen", "words_trained", "bytes_sent", "bytes_sent_direct", "seconds_training",
                        "seconds_exchanging",
                        "cpu_seconds_training", "cpu_seconds_workers"):
                report[key] += result[key]
            model.running_training_loss += result["loss"]
        refill_norms(model.wv)
        logger.info("EPOCH %d: %d of %d words done, %.1fs", epoch, report["words_seen"], words_per_epoch * epochs,
                    time.perf_counter() - epoch_started)
        for callback in callbacks:
            if hasattr(callback, "on_epoch_end"):
                callback.on_epoch_end(model)
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(model)
