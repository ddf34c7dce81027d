"""Data-parallel training on a Dask cluster (``pip install hsmcy[dask]``).

:func:`train` trains one :class:`hsmcy.Word2Vec` from several corpus files (shards)
on the workers of a ``dask.distributed.Client``, by *local SGD*:

1. **Vocabulary.**  Every shard is counted on a worker (:func:`hsmcy.corpus.scan_file`);
   the counts are merged pairwise on the workers (a tree reduction that keeps the
   order of first appearance, so ties sort as in a single-machine run), and the
   client applies gensim's vocabulary rules once
   (:meth:`hsmcy.vocab.Vocabulary.from_raw_counts`) and builds the Huffman tree once.
   Words, down-sampling probabilities and tree are broadcast to every worker.
2. **Rounds.**  An epoch is cut into ``syncs_per_epoch`` rounds.  In round ``r`` every
   shard trains the ``r``-th slice of its sentences, starting from the same
   parameters (*version* ``r``), with the nogil kernels on all the threads of its
   worker.  Its task returns only the rows it changed: ``(row ids, new - old)`` for
   the input vectors and for the inner-node vectors.
3. **Synchronisation.**  The client combines the deltas row by row (see
   ``averaging``), applies them to its own copy of the parameters, and broadcasts the
   merged rows (ids and new values) back.  A worker applies them to its replica when
   its next task starts.  Replicas therefore stay bit-identical to the client's copy.
4. **Learning rate.**  It follows *global* progress: round ``r`` of epoch ``e`` runs
   from ``alpha(e + r / S)`` to ``alpha(e + (r + 1) / S)`` on the linear schedule over
   all words of all epochs, since all shards advance through their slices together.
5. **Failures.**  A round's task is a pure function of (shard, round, parameters at
   version ``r``): the worker-side caches (replica, encoded shard) only save work.
   If a worker dies, Dask reschedules its tasks (and recomputes finished results that
   died with it) on another worker, which re-reads and re-encodes the shard if it has
   not got it, and receives the full parameters if it holds no up-to-date replica.
   The client merges a round only when every shard's result is in, so no shard's
   updates are dropped; what happened is counted in ``model.distributed_report``
   (from the scheduler's task history) and logged.

Corpus files must be readable by the workers under the same path (a shared or
replicated file system), one sentence per line, as for ``Word2Vec(corpus_file=...)``.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from . import corpus as corpus_io
from ._training import DEFAULT_KERNEL, TrainingRun
from .tree import BinaryTree, HuffmanTree
from .vocab import Vocabulary
from .word2vec import Word2Vec, _check_int

logger = logging.getLogger(__name__)

__all__ = ["train", "AVERAGING_RULES"]

#: How the deltas of one row from several shards are combined at a synchronisation.
#: ``"sum"``: add the deltas (as if the shards' updates had been applied one after
#: the other, Hogwild-style): single-process progress per word, but ``K`` copies of
#: the same step add up on rows that every shard drives to the same optimum (the
#: top inner nodes, frequent words), which oscillates and, for ``K > 2``, diverges.
#: ``"mean"``: average over all shards of the round (model averaging); a shard that
#: did not touch the row contributes a zero delta, so rare words learn ``K`` times
#: slower.  ``"touched"``: average over the shards that changed the row (Spark
#: MLlib's rule).  ``"adaptive"`` (default): per row, between the two -- the sum
#: scaled by ``f(sum_k n_k) / sum_k f(n_k)`` with ``f(n) = 1 - exp(-alpha c n)``, the
#: fraction of the way to its optimum that ``n`` SGD steps move a row of curvature
#: ``c``; ``n_k`` is the number of updates the row got in shard ``k``'s slice and
#: ``c`` an upper estimate from the current vectors (:func:`_curvatures`).  Rows far
#: from saturation are summed, rows that every shard saturated are averaged.
AVERAGING_RULES = ("adaptive", "sum", "mean", "touched")

# Multiplies the "adaptive" rule's curvature estimates (see _curvatures); 1 is the
# estimate itself, smaller values lean towards "sum", larger towards "mean".
_CURVATURE = 1.0

# Without sync_every / syncs_per_epoch: about this many words per shard between two
# synchronisations (at least 4 per epoch).  On a 3M-token corpus, 92k words per shard
# and round came within 0.7 analogy points of single-process training, 367k within 1.4.
_DEFAULT_SHARD_WORDS_PER_ROUND = 100_000

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


@dataclass
class _RoundSpec:
    """Which slice of which shard to train in a round, and with what learning rates."""

    run_id: str
    round: int           # global round number = parameter version trained from
    epoch: int
    slice_index: int     # position of the round within its epoch
    slices: int          # rounds per epoch
    shard: int
    path: str
    alpha_start: float
    alpha_end: float
    seed: int


@dataclass
class _Rows:
    """Rows of both parameter matrices: the merged update of a round (or, all rows, a full state)."""

    input_ids: np.ndarray | None
    input_values: np.ndarray
    inner_ids: np.ndarray | None
    inner_values: np.ndarray

    @classmethod
    def full(cls, input_vectors, inner_vectors):
        return cls(None, input_vectors, None, inner_vectors)

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.input_ids, self.input_values, self.inner_ids, self.inner_values)
                   if a is not None)


@dataclass
class _Replica:
    """One worker's copy of a run: parameters at ``version``, encoded shards, scratch."""

    static: _Static
    version: int = -1
    base_input: np.ndarray | None = None      # parameters at `version`
    base_inner: np.ndarray | None = None
    work_input: np.ndarray | None = None      # trained in place; equal to base between tasks
    work_inner: np.ndarray | None = None
    word_index: dict | None = None
    encoded: dict = field(default_factory=dict)     # shard -> EncodedCorpus
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, state, version):
        # copies: the scattered data belongs to Dask and may serve other tasks
        self.base_input = np.array(state.input_values, dtype=np.float32, order="C")
        self.base_inner = np.array(state.inner_values, dtype=np.float32, order="C")
        self.work_input = self.base_input.copy()
        self.work_inner = self.base_inner.copy()
        self.version = version

    def apply(self, update, version):
        for ids, values, base, work in ((update.input_ids, update.input_values, self.base_input, self.work_input),
                                        (update.inner_ids, update.inner_values, self.base_inner, self.work_inner)):
            base[ids] = values
            work[ids] = values
        self.version = version


# Per-process state of the runs this worker takes part in: run id -> _Replica.
# Also holds raw scans from the counting phase, keyed (run id, path), until the
# vocabulary is known.
_RUNS: dict = {}
_RUNS_LOCK = threading.Lock()


def _count_shard(run_id, path):
    """Map step: count one shard's words (kept on the worker in provisional ids)."""
    scan = corpus_io.scan_file(path)
    with _RUNS_LOCK:
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


def _replica(run_id, static) -> _Replica:
    with _RUNS_LOCK:
        replica = _RUNS.get(run_id)
        if replica is None:
            replica = _Replica(static=static)
            _RUNS[run_id] = replica
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


def _train_slice(static, corpus, first, last, input_vectors, inner_vectors, alpha_start, alpha_end, seed,
                 threads):
    """Train sentences ``[first, last)`` once, on ``threads`` threads; returns (seen, trained, loss).

    This is single-process training (:class:`hsmcy._training.TrainingRun`, one epoch
    from ``alpha_start`` to ``alpha_end``): the same workers, private tree rows,
    batches and finiteness checks.  ``seed`` is a sequence of integers (run seed,
    shard, round) that names the random streams.
    """
    if last <= first:
        return 0, 0, 0.0
    start, stop = int(corpus.sentence_bounds[first]), int(corpus.sentence_bounds[last])
    if stop == start:
        return 0, 0, 0.0
    piece = corpus_io.EncodedCorpus(corpus.token_ids[start:stop],
                                    np.asarray(corpus.sentence_bounds[first:last + 1], dtype=np.int64) - start)
    tree = BinaryTree(static.path_nodes, static.path_codes, static.path_offsets, validate=False)
    run = TrainingRun(corpus=piece, input_vectors=input_vectors, syn1=inner_vectors, tree=tree,
                      keep_probability=static.keep_probability, sg=static.sg, window=static.window,
                      shrink_windows=static.shrink_windows, cbow_mean=static.cbow_mean, kernel=static.kernel,
                      epochs=1, start_alpha=alpha_start, end_alpha=alpha_end, workers=threads,
                      batch_words=static.batch_words, compute_loss=static.compute_loss,
                      seed=int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0]), report_delay=None)
    trained, _ = run.run()
    return run.words_seen, trained, run.total_loss


def _touched_rows(token_ids, static, vocab_size):
    """Rows a slice can change: its words' input vectors and the inner nodes on their paths."""
    present = np.bincount(token_ids, minlength=vocab_size) > 0
    lengths = np.diff(static.path_offsets)
    on_path = np.repeat(present, lengths)
    inner_rows = np.unique(static.path_nodes[on_path]).astype(np.int32)
    return np.flatnonzero(present).astype(np.int32), inner_rows


def _update_counts(token_ids, static, vocab_size):
    """Expected number of SGD updates each row gets from a slice: ``(per input row, per inner node)``.

    A kept occurrence is a context word in about ``window + 1`` windows (``2 * window``
    without shrinking); its path is walked once per CBOW centre word, once per
    context pair in skip-gram.
    """
    kept = np.bincount(token_ids, minlength=vocab_size) * static.keep_probability.astype(np.float64)
    pairs = (static.window + 1) if static.shrink_windows else 2 * static.window
    lengths = np.diff(static.path_offsets)
    walks = kept * pairs if static.sg else kept
    inner = np.bincount(static.path_nodes, weights=np.repeat(walks, lengths),
                        minlength=max(vocab_size - 1, 1))
    return kept * pairs, inner


def _changed(rows, work, base):
    """``(ids, work - base)`` for the rows that changed; resets ``work`` to ``base`` there."""
    delta = work[rows] - base[rows]
    moved = np.any(delta != 0, axis=1)
    work[rows] = base[rows]
    return rows[moved], np.ascontiguousarray(delta[moved])


def _worker_threads(static):
    if static.threads is not None:
        return static.threads
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return os.cpu_count() or 1


def _train_round(spec, static, update, full_state):
    """One shard's round: bring the replica to version ``spec.round``, train the slice, return deltas.

    ``update`` holds the rows merged at the end of the previous round (version
    ``round - 1`` -> ``round``); ``full_state`` the whole parameters at version
    ``round`` (round 0, or a worker without an up-to-date replica).  Without either
    usable, the task asks the client for the full state instead of guessing.
    """
    started = time.perf_counter()
    replica = _replica(spec.run_id, static)
    with replica.lock:  # one task at a time trains on this worker's working copy
        if replica.version != spec.round:
            if full_state is not None:
                replica.install(full_state, spec.round)
            elif update is not None and replica.version == spec.round - 1:
                replica.apply(update, spec.round)
            else:
                return {"need_state": True, "shard": spec.shard, "round": spec.round,
                        "replica_version": replica.version}
        corpus, how = _encoded_shard(replica, spec.run_id, spec.shard, spec.path)
        first, last = _slice_sentences(corpus.sentence_bounds, spec.slice_index, spec.slices)
        try:
            seen, trained, loss = _train_slice(
                static, corpus, first, last, replica.work_input, replica.work_inner, spec.alpha_start,
                spec.alpha_end, [spec.seed, spec.shard, spec.round], _worker_threads(static))
            words = corpus.token_ids[corpus.sentence_bounds[first]:corpus.sentence_bounds[last]]
            input_rows, inner_rows = _touched_rows(np.asarray(words), static, len(static.words))
            input_ids, input_delta = _changed(input_rows, replica.work_input, replica.base_input)
            inner_ids, inner_delta = _changed(inner_rows, replica.work_inner, replica.base_inner)
        except BaseException:
            # a half-trained working copy must not leak into a retry on this worker
            replica.work_input[...] = replica.base_input
            replica.work_inner[...] = replica.base_inner
            raise
        input_updates, inner_updates = _update_counts(np.asarray(words), static, len(static.words))
    try:
        from distributed import get_worker
        address = get_worker().address
    except (ImportError, ValueError):
        address = None
    return {"need_state": False, "shard": spec.shard, "round": spec.round, "words_seen": seen,
            "words_trained": trained, "loss": loss, "input_ids": input_ids, "input_delta": input_delta,
            "inner_ids": inner_ids, "inner_delta": inner_delta,
            "input_updates": input_updates[input_ids].astype(np.float32),
            "inner_updates": inner_updates[inner_ids].astype(np.float32), "worker": address, "encoding": how,
            "seconds": time.perf_counter() - started}


def _forget_run(run_id):
    """Drop everything a worker holds for a run (called on every worker at the end)."""
    with _RUNS_LOCK:
        for key in [k for k in _RUNS if k == run_id or (isinstance(k, tuple) and k[0] == run_id)]:
            del _RUNS[key]


def _round_status(keys, dask_scheduler=None):
    """On the scheduler: the live workers, and for each task how often it was started / lost with a worker."""
    history = {}
    for key in keys:
        starts = sum(1 for entry in dask_scheduler.story(key) if len(entry) > 2 and entry[2] == "processing")
        task = dask_scheduler.tasks.get(key)
        history[key] = (starts, task.suspicious if task is not None else 0)
    return sorted(dask_scheduler.workers), history


# =============================================================== client side
def _top_eigenvalue(vectors, weights, samples=4096, iterations=200):
    """Largest eigenvalue of ``sum_i weights[i] x_i x_i^T`` (non-negative ``weights``).

    The moment is exact up to ``samples`` rows; beyond, estimated from ``samples``
    rows drawn with probability proportional to ``weights`` (a fixed stream), an
    unbiased estimate costing ``samples x d^2`` instead of ``V x d^2`` per round.  Its
    top eigenvalue comes from power iteration on the ``d x d`` moment.
    """
    weights = np.asarray(weights, dtype=np.float64)
    total = float(weights.sum())
    if total <= 0 or len(weights) == 0:
        return 0.0
    if len(weights) <= samples:
        rows = np.asarray(vectors, dtype=np.float32)
        moment = (rows * (weights / total).astype(np.float32)[:, None]).T @ rows
    else:
        picked = np.random.default_rng(len(weights)).choice(len(weights), size=samples, p=weights / total)
        rows = np.asarray(vectors[picked], dtype=np.float32)
        moment = rows.T @ rows / np.float32(samples)
    # float32 throughout: on some OpenBLAS builds double-precision gemv/gemm is far slower
    direction = np.sqrt(np.maximum(np.diag(moment), 0.0)).astype(np.float32) + np.float32(1e-6)
    for _ in range(iterations):  # power iteration; the start is not orthogonal to the top eigenvector
        image = moment @ direction
        norm = float(np.sqrt(image @ image))
        if norm == 0.0:
            return 0.0
        direction = image / np.float32(norm)
    return total * float(direction @ (moment @ direction))


def _curvatures(input_vectors, inner_vectors, tree, counts, sg=True, cbow_mean=True, contexts=1.0):
    """Estimates of the loss curvature per update of an inner-node row and of an input row.

    What saturates a row within a round is its expected Hessian, ``E[sigmoid' h h^T]``
    for an inner node (``h`` the hidden vector) and ``E[sum over the centre word's path
    of sigmoid' v v^T]`` for an input row.  With ``sigmoid' <= 1/4`` their largest
    eigenvalues are at most a quarter of those of the count-weighted second moments
    ``sum_w p(w) u_w u_w^T`` (a CBOW mean of context vectors has a smaller one; a CBOW
    sum of ``contexts`` vectors at most ``contexts^2`` times larger) and
    ``sum_nodes P(node on the path) v v^T``.  In CBOW with the mean, moving one context
    vector by ``d`` moves ``h`` by ``d / contexts``, dividing its curvature by ``contexts``.
    """
    weights = np.asarray(counts, dtype=np.float64)
    weights = weights / max(weights.sum(), 1.0)
    inner_curvature = 0.25 * _top_eigenvalue(input_vectors, weights)
    n_inner = tree.n_inner
    if n_inner and len(tree.path_nodes):
        usage = np.bincount(tree.path_nodes, weights=np.repeat(weights, np.diff(tree.path_offsets)),
                            minlength=n_inner)[:n_inner]
        input_curvature = 0.25 * _top_eigenvalue(inner_vectors[:n_inner], usage)
    else:
        input_curvature = 0.0
    if not sg:
        if cbow_mean:
            input_curvature /= contexts
        else:
            inner_curvature *= contexts ** 2
    return max(inner_curvature, 0.0), max(input_curvature, 0.0)


def _combine(results, name, matrix, rule, alpha=None, curvature=None):
    """Apply the shards' deltas of one parameter matrix; returns the merged ``(ids, new values)``.

    The ``"adaptive"`` rule needs the round's mean learning rate ``alpha`` and the
    curvature per update of this matrix's rows (:func:`_curvatures`).
    """
    n_shards = len(results)
    ids_all = [r[f"{name}_ids"] for r in results]
    if not any(len(ids) for ids in ids_all):
        return np.zeros(0, dtype=np.int32), np.zeros((0, matrix.shape[1]), dtype=np.float32)
    rows = np.unique(np.concatenate(ids_all)).astype(np.int32)
    position = np.full(matrix.shape[0], -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    summed = np.zeros((len(rows), matrix.shape[1]), dtype=np.float32)
    count = np.zeros(len(rows), dtype=np.int32)
    step = _CURVATURE * (curvature or 0.0) * (alpha or 0.0)  # fraction of the way to the optimum per update
    updates = np.zeros(len(rows), dtype=np.float64)       # sum of n_k
    saturation = np.zeros(len(rows), dtype=np.float64)    # sum of f(n_k)
    for result in results:  # in shard order: a deterministic summation order
        where = position[result[f"{name}_ids"]]
        summed[where] += result[f"{name}_delta"]  # ids are unique within one shard's result
        count[where] += 1
        if rule == "adaptive":
            n = result[f"{name}_updates"].astype(np.float64)
            updates[where] += n
            saturation[where] += -np.expm1(-step * n)
    if rule == "adaptive":
        # f(n) = 1 - exp(-alpha c n): how far n updates move a row towards its optimum
        # (curvature c).  Scale the sum of deltas by f(sum n_k) / sum f(n_k): 1 for
        # rows far from saturation (sum, as sequential SGD), 1/K for rows every shard
        # saturated (mean: K copies of the same step must not add up).
        scale = np.ones(len(rows), dtype=np.float64)
        positive = saturation > 0
        scale[positive] = -np.expm1(-step * updates[positive]) / saturation[positive]
        summed *= np.clip(scale, 1.0 / n_shards, 1.0).astype(np.float32)[:, None]
    elif rule == "mean":
        summed /= np.float32(n_shards)
    elif rule == "touched":
        summed /= count[:, None].astype(np.float32)
    matrix[rows] += summed
    return rows, matrix[rows].copy()


def _check_parameters(corpus_files, word2vec_parameters, sync_every, syncs_per_epoch, averaging):
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
    if averaging not in AVERAGING_RULES:
        raise ValueError(f"averaging must be one of {AVERAGING_RULES}, got {averaging!r}")
    return files


def _nbytes(*arrays):
    return int(sum(np.asarray(a).nbytes for a in arrays))


def train(client, corpus_files, *, sync_every=None, syncs_per_epoch=None, averaging="adaptive",
          **word2vec_parameters):
    """Train a :class:`hsmcy.Word2Vec` on a Dask cluster, one or more corpus files per worker.

    Parameters
    ----------
    client : dask.distributed.Client
    corpus_files : list of str or PathLike
        The shards: UTF-8 text files, one sentence per line, readable by the workers
        under these paths.  Each shard's rounds prefer one worker (round robin), so
        give at least as many shards as workers to use them all.
    sync_every : int, optional
        Synchronise after about this many words, counted over all workers.
    syncs_per_epoch : int, optional
        Synchronise this many times per epoch (give this or ``sync_every``).  Default:
        about every 100,000 words per shard, at least 4 times per epoch.  Shorter
        intervals cost traffic and latency and buy quality (``docs/distributed.md``).
    averaging : {"adaptive", "sum", "mean", "touched"}, default "adaptive"
        How a row changed by several shards is combined: see :data:`AVERAGING_RULES`.
    **word2vec_parameters
        :class:`hsmcy.Word2Vec`'s parameters (``vector_size``, ``window``, ``min_count``,
        ``sg``, ``epochs``, ``alpha``, ``seed``, ...).  ``workers`` is the number of
        training threads per Dask worker (default: the worker's own ``nthreads``).
        ``callbacks`` get ``on_train_begin/end`` and ``on_epoch_begin/end`` with the
        client's model, which holds the merged parameters.

    Returns
    -------
    hsmcy.Word2Vec
        An ordinary model (``wv``, ``syn1``, ``save``, ``to_gensim()``), with one extra
        attribute ``distributed_report``, a dict: ``n_workers``, ``shards``, ``rounds``,
        ``syncs_per_epoch``, ``words_per_epoch``, ``words_seen`` (always ``epochs x
        words_per_epoch``: every shard's every slice was merged), ``words_trained``,
        ``bytes_up_per_sync`` / ``bytes_down_per_sync`` (payload: row ids and values,
        all workers together), ``workers_lost``, ``tasks_recomputed`` and the
        ``recomputed`` task keys (re-run by Dask, or submitted again by hsmcy), of
        which ``tasks_resubmitted`` / ``resubmitted`` were submitted again (their
        scattered inputs died with a worker) with the full state, ``state_resends``, ``seconds``, ``words_per_second``.

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
    ...                                 sg=1, epochs=5, syncs_per_epoch=8)  # doctest: +SKIP
    >>> model.to_gensim().wv.most_similar("king")                        # doctest: +SKIP
    """
    files = _check_parameters(corpus_files, word2vec_parameters, sync_every, syncs_per_epoch, averaging)
    threads = word2vec_parameters.pop("workers", None)
    callbacks = tuple(word2vec_parameters.pop("callbacks", None) or ())
    model = Word2Vec(**word2vec_parameters)  # validates every parameter, trains nothing
    if threads is not None:
        model.workers = threads = _check_int("workers", threads, 1)
    started = time.perf_counter()
    run_id = f"hsmcy-{uuid.uuid4().hex[:12]}"
    report = {"run_id": run_id, "shards": len(files), "averaging": averaging, "workers_lost": [],
              "tasks_recomputed": 0, "recomputed": [], "tasks_resubmitted": 0, "resubmitted": [],
              "state_resends": 0, "bytes_resent": 0, "bytes_up": [],
              "bytes_down": [], "words_seen": 0, "words_trained": 0}
    try:
        _train(client, files, model, run_id, report, threads, callbacks, sync_every, syncs_per_epoch, averaging)
    finally:
        try:
            client.run(_forget_run, run_id)
        except Exception as error:  # noqa: BLE001 -- cleanup must not mask the real outcome
            logger.warning("could not drop the run's worker caches: %s", error)
    expected = report["words_per_epoch"] * report["epochs"]
    if report["words_seen"] != expected:  # cannot happen unless a slice was lost or merged twice
        raise RuntimeError(f"distributed training merged {report['words_seen']} words instead of {expected}")
    elapsed = time.perf_counter() - started
    report["seconds"] = elapsed
    report["words_per_second"] = report["words_seen"] / elapsed if elapsed > 0 else 0.0
    report["bytes_up_per_sync"] = float(np.mean(report["bytes_up"])) if report["bytes_up"] else 0.0
    report["bytes_down_per_sync"] = float(np.mean(report["bytes_down"])) if report["bytes_down"] else 0.0
    model.distributed_report = report
    model.total_train_time += elapsed
    model.train_count += 1
    model.min_alpha_yet_reached = model.min_alpha
    model.wv.norms = None
    if report["tasks_recomputed"] or report["workers_lost"] or report["tasks_resubmitted"]:
        logger.warning("distributed training completed after losing %d worker(s) (%s); %d task(s) were recomputed "
                       "on other workers (%d resubmitted with the full state), no shard's updates were dropped",
                       len(report["workers_lost"]), ", ".join(report["workers_lost"]) or "-",
                       report["tasks_recomputed"], report["tasks_resubmitted"])
    logger.info("distributed training: %d shards, %d rounds, %d words in %.1fs (%.0f words/s), "
                "%.0f bytes up + %.0f bytes down per synchronisation", len(files), report["rounds"],
                report["words_seen"], elapsed, report["words_per_second"], report["bytes_up_per_sync"],
                report["bytes_down_per_sync"])
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
    vocabulary, _ = Vocabulary.from_raw_counts(
        words, counts, min_count=model.min_count, max_vocab_size=model.max_vocab_size,
        max_final_vocab=model.max_final_vocab, sample=model.sample, sorted_vocab=model.sorted_vocab,
        trim_rule=model.trim_rule)
    if len(vocabulary) == 0:
        raise ValueError(f"no word occurs at least min_count={model.min_count} times in corpus_files "
                         f"({len(words)} distinct words, the most frequent {int(np.max(counts))} times): "
                         "lower min_count")
    model.corpus_count = int(n_sentences)
    model.corpus_total_words = int(np.sum(counts))
    return vocabulary, HuffmanTree.from_counts(vocabulary.counts)


# A round whose inputs keep vanishing is given up after this many resubmissions.
_MAX_ROUND_RESUBMISSIONS = 5


def _lost_data_errors():
    """What ``Future.result()`` raises when a task's inputs or result died with a worker."""
    from concurrent.futures import CancelledError  # FutureCancelledError derives from it
    from distributed.scheduler import KilledWorker
    return (CancelledError, KilledWorker)


def _run_round(client, specs, keys, static, static_future, update_future, state_future, input_vectors,
               inner_vectors, preferred, report):
    """Run one round's tasks until every shard has a result; returns ``(results, static_future)``.

    Dask re-runs a task whose worker died, but not data that was scattered: the
    scheduler's active memory manager trims broadcast copies down to one, and when
    the worker holding the last copy dies the data is forgotten and every task
    needing it is cancelled.  Such tasks are submitted again here with freshly
    scattered inputs and the full parameters at this round's version (the client's
    ``input_vectors``/``inner_vectors``): a task is a pure function of (shard,
    round, parameters), a failed task changed no replica, and a replica either
    installs the full state or already holds exactly this version, so a shard's
    updates are counted once.  Workers without a replica at this version (new or
    restarted) ask for the full state the same way.  ``keys`` gets the keys of
    the extra tasks, for the recomputation report.
    """
    lost_data = _lost_data_errors()
    results = [None] * len(specs)
    pending = {i: client.submit(_train_round, spec, static_future, update_future, state_future, key=key,
                                workers=preferred(spec.shard), allow_other_workers=True, pure=False)
               for i, (spec, key) in enumerate(zip(specs, keys))}
    resubmissions = 0
    while pending:
        need_state, lost = [], []
        for i, future in pending.items():
            try:
                result = future.result()
            except lost_data as error:
                lost.append(i)
                report["resubmitted"].append(future.key)
                report["recomputed"].append(future.key)
                report["tasks_recomputed"] += 1
                logger.warning("task %s lost its inputs or its worker (%s: %s); submitting it again with "
                               "the full state", future.key, type(error).__name__, error)
                continue
            if result["need_state"]:
                need_state.append(i)
            else:
                results[i] = result
        pending = {}
        if not (need_state or lost):
            break
        resubmissions += 1
        if resubmissions > _MAX_ROUND_RESUBMISSIONS:
            raise RuntimeError(f"round {specs[0].round}: shard tasks kept losing their inputs to dying workers "
                               f"after {_MAX_ROUND_RESUBMISSIONS} resubmissions")
        if lost:
            # the shared inputs may be gone for good: scatter them again
            static_future = client.scatter(static, broadcast=True, hash=False)
            report["tasks_resubmitted"] += len(lost)
        full = client.scatter(_Rows.full(input_vectors, inner_vectors), hash=False)
        report["state_resends"] += len(need_state) + len(lost)
        report["bytes_resent"] += _nbytes(input_vectors, inner_vectors) * (len(need_state) + len(lost))
        suffix = "-full" if resubmissions == 1 else f"-full{resubmissions}"
        for i in need_state + lost:
            key = f"{keys[i]}{suffix}"
            pending[i] = client.submit(_train_round, specs[i], static_future, None, full, key=key, pure=False)
            keys.append(key)
        del full
    return results, static_future


def _train(client, files, model, run_id, report, threads, callbacks, sync_every, syncs_per_epoch, averaging):
    workers, _ = client.run_on_scheduler(_round_status, [])
    if not workers:
        raise ValueError("the Dask client has no workers")
    home = {}  # shard -> preferred worker (its cache lives there)

    def preferred(shard):
        address = home.get(shard)
        return [address] if address is not None else None

    for shard in range(len(files)):
        home[shard] = workers[shard % len(workers)]
    report["n_workers"] = len(workers)
    live = workers

    vocabulary, tree = _build_vocabulary(client, files, model, run_id, preferred)
    model._set_vocabulary(vocabulary.words, vocabulary.counts, tree)
    model.effective_min_count = int(vocabulary.counts.min())
    model._init_weights()
    input_vectors, syn1 = model.wv.vectors, model.syn1

    # Every in-vocabulary token is trained once per epoch, wherever it lives.
    words_per_epoch = int(vocabulary.counts.sum())
    if syncs_per_epoch is None:
        syncs_per_epoch = (max(1, round(words_per_epoch / sync_every)) if sync_every is not None
                           else max(4, math.ceil(words_per_epoch / (len(files) * _DEFAULT_SHARD_WORDS_PER_ROUND))))
    epochs = model.epochs
    n_rounds = epochs * syncs_per_epoch
    report.update(words_per_epoch=words_per_epoch, syncs_per_epoch=syncs_per_epoch, epochs=epochs,
                  rounds=n_rounds, vocab_size=len(vocabulary), vector_size=model.vector_size)

    static = _Static(words=list(vocabulary.words), keep_probability=model._keep_probability,
                     path_nodes=tree.path_nodes, path_codes=tree.path_codes, path_offsets=tree.path_offsets,
                     vector_size=model.vector_size, sg=bool(model.sg), window=model.window,
                     shrink_windows=model.shrink_windows, cbow_mean=bool(model.cbow_mean),
                     batch_words=model.batch_words, threads=threads, compute_loss=model.compute_loss,
                     kernel=model.kernel)
    static_future = client.scatter(static, broadcast=True, hash=False)
    state_future = client.scatter(_Rows.full(input_vectors, syn1), broadcast=True, hash=False)
    report["bytes_broadcast_once"] = _nbytes(input_vectors, syn1) * len(workers)
    update_future = None
    total_rounds_words = max(words_per_epoch * epochs, 1)
    model.running_training_loss = 0.0

    # context words per CBOW window, on average (window sizes drawn from 1..window when shrinking)
    contexts = float(model.window + 1) if model.shrink_windows else float(2 * model.window)

    def alpha_at(fraction_of_training):
        return model.alpha + (model.min_alpha - model.alpha) * fraction_of_training

    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)
    epoch_started = time.perf_counter()
    for round_no in range(n_rounds):
        epoch, slice_index = divmod(round_no, syncs_per_epoch)
        if slice_index == 0:
            epoch_started = time.perf_counter()
            for callback in callbacks:
                if hasattr(callback, "on_epoch_begin"):
                    callback.on_epoch_begin(model)
        for shard, address in home.items():
            if address not in live and live:
                home[shard] = live[shard % len(live)]  # its cache went with the worker: any live one will do
        specs = [_RoundSpec(run_id=run_id, round=round_no, epoch=epoch, slice_index=slice_index,
                            slices=syncs_per_epoch, shard=shard, path=path,
                            alpha_start=alpha_at(round_no / n_rounds), alpha_end=alpha_at((round_no + 1) / n_rounds),
                            seed=model.seed)
                 for shard, path in enumerate(files)]
        keys = [f"{run_id}-r{round_no}-s{spec.shard}" for spec in specs]
        results, static_future = _run_round(client, specs, keys, static, static_future, update_future,
                                            state_future, input_vectors, syn1, preferred, report)
        previous = set(live)
        live, history = client.run_on_scheduler(_round_status, keys)
        report["workers_lost"].extend(sorted(previous - set(live)))
        for key, (starts, suspicious) in history.items():
            if (starts > 1 or suspicious) and key not in report["resubmitted"]:  # those are counted already
                report["tasks_recomputed"] += max(starts - 1, suspicious, 1)
                report["recomputed"].append(key)
                logger.warning("task %s was re-run (%d starts, %d lost with a worker): its worker died; "
                               "its updates are included", key, starts, suspicious)

        for result in results:
            report["words_seen"] += result["words_seen"]
            report["words_trained"] += result["words_trained"]
            model.running_training_loss += result["loss"]
        report["bytes_up"].append(sum(_nbytes(r["input_ids"], r["input_delta"], r["inner_ids"], r["inner_delta"])
                                      for r in results))
        round_alpha = 0.5 * (specs[0].alpha_start + specs[0].alpha_end)
        inner_curvature, input_curvature = (_curvatures(input_vectors, syn1, tree, vocabulary.counts, static.sg,
                                                        static.cbow_mean, contexts)
                                            if averaging == "adaptive" else (None, None))
        input_ids, input_values = _combine(results, "input", input_vectors, averaging, round_alpha, input_curvature)
        inner_ids, inner_values = _combine(results, "inner", syn1, averaging, round_alpha, inner_curvature)
        del results
        if round_no + 1 < n_rounds:
            update = _Rows(input_ids, input_values, inner_ids, inner_values)
            update_future = client.scatter(update, broadcast=True, hash=False)
            report["bytes_down"].append(update.nbytes * len(live))
        state_future = None  # only round 0 starts from the broadcast initial state
        if slice_index == syncs_per_epoch - 1:
            model.wv.norms = None
            seconds = time.perf_counter() - epoch_started
            logger.info("EPOCH %d: %d of %d words done, alpha %.6f, %.1fs", epoch, report["words_seen"],
                        total_rounds_words, alpha_at((round_no + 1) / n_rounds), seconds)
            for callback in callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(model)
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(model)
