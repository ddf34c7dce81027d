"""Using a trained hierarchical softmax: probabilities, top-k, sampling, scores.

Two layers:

1. *Row operations* on any tree (:class:`hsmcy.BinaryTree`) and inner-node
   weights, for a matrix ``hidden`` of row vectors: :func:`log_prob_rows`,
   :func:`loss_and_grad_rows`, :func:`sgd_rows`, :func:`distribution_rows`,
   :func:`top_k_rows`, :func:`sample_rows`.  Each checks its inputs here, in Python,
   then splits the rows into chunks that worker threads run through the ``nogil``
   kernels of ``hsmcy._inference`` (one GIL release per chunk).
   :class:`hsmcy.HierarchicalSoftmax` is built on these.
2. *Word2Vec queries* (:func:`score`, :func:`score_words`, :func:`predict_output_word`,
   :func:`log_prob`, :func:`predict_proba` and the batched ``*_ids`` forms), which
   :class:`hsmcy.Word2Vec` exposes as methods.

Costs per row, with V leaves and mean depth L ~ log2(V): ``log_prob`` O(L) dot
products; full distribution O(V) (one dot product per inner node, top-down);
exact top-k by best-first search typically O(k L) and never more than O(V);
sampling O(L) per draw.
"""
from __future__ import annotations

import itertools
import logging
import math
import numbers
import time

import numpy as np

from . import _inference
from ._runner import run_batches
from .memory import check_fits_in_memory

logger = logging.getLogger(__name__)

__all__ = [
    "log_prob_rows", "loss_and_grad_rows", "sgd_rows", "distribution_rows", "top_k_rows", "sample_rows",
    "score", "score_words", "predict_output_word", "log_prob", "predict_proba",
    "log_prob_ids", "predict_proba_ids", "predict_output_word_ids",
]

# Rows below this count run in the calling thread: starting threads costs more.
_MIN_ROWS_PER_THREAD = 32


# ====================================================================== checks
def check_workers(workers, name="workers"):
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {workers!r}")
    return int(workers)


def check_hidden(hidden, dim, name="H"):
    """``hidden`` as a C-contiguous float32 (n, dim) array; errors name ``name``."""
    if not isinstance(hidden, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of float32, got {type(hidden).__name__}")
    if hidden.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {hidden.dtype} (convert with {name}.astype(np.float32))")
    if hidden.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_rows, {dim}), got shape {hidden.shape}")
    if hidden.shape[1] != dim:
        raise ValueError(f"{name} has {hidden.shape[1]} columns, but the layer's input dimension is {dim}")
    if not np.all(np.isfinite(hidden)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(hidden), axis=1))[0])
        raise ValueError(f"{name} holds NaN or infinite values (first in row {bad})")
    return np.ascontiguousarray(hidden)


def check_labels(labels, n_rows, n_classes, name="y"):
    """``labels`` as int64 (n_rows,) with every value in ``[0, n_classes)``."""
    labels = np.asarray(labels)
    if labels.dtype == bool or labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    if len(labels) != n_rows:
        raise ValueError(f"{name} has {len(labels)} entries for {n_rows} rows")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{name} holds class id {bad}, outside [0, {n_classes})")
    return np.ascontiguousarray(labels, dtype=np.int64)


def check_k(k, n_classes, name="k"):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if k > n_classes:
        raise ValueError(f"{name}={k} exceeds the number of classes ({n_classes})")
    return int(k)


def check_inner_node_vectors(inner_node_vectors, tree, dim, name="inner_node_vectors"):
    """The weights a kernel may index with ``tree``'s node ids, ``dim`` floats per row."""
    if not isinstance(inner_node_vectors, np.ndarray) or inner_node_vectors.dtype != np.float32 \
            or inner_node_vectors.ndim != 2:
        raise TypeError(f"{name} must be a 2-D float32 array")
    if inner_node_vectors.shape[0] < tree.n_inner:
        raise ValueError(f"{name} has {inner_node_vectors.shape[0]} rows, the tree needs {tree.n_inner}")
    if inner_node_vectors.shape[1] != dim:
        raise ValueError(f"{name} has {inner_node_vectors.shape[1]} columns, expected {dim}")
    if not inner_node_vectors.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return inner_node_vectors


# ===================================================================== threads
def run_chunks(n_items, workers, job, min_per_thread=_MIN_ROWS_PER_THREAD, chunk_items=None):
    """Call ``job(start, end)`` over ``[0, n_items)`` split into chunks, on up to ``workers`` threads.

    Each chunk is one kernel call, i.e. one GIL release.  Several threads go through
    the one thread runner (:func:`hsmcy._runner.run_batches`): a worker's exception
    stops the remaining chunks and is re-raised here, and a Ctrl-C waits for the
    running chunks only, which ``chunk_items`` (items per chunk) bounds.  One thread
    runs the chunks in the calling thread: small queries pay for no thread.
    """
    if n_items <= 0:
        return
    n_threads = min(workers, max(1, n_items // min_per_thread))
    if n_threads == 1:
        step = chunk_items or n_items
        for start in range(0, n_items, step):
            job(start, min(start + step, n_items))
        return
    # A few chunks per thread balance uneven rows (long paths, long sentences).
    n_chunks = min(n_items, 4 * n_threads)
    if chunk_items:
        n_chunks = max(n_chunks, -(-n_items // chunk_items))
    edges = np.linspace(0, n_items, n_chunks + 1).astype(np.int64)
    run_batches(range(n_chunks), n_threads, lambda _, chunk: job(int(edges[chunk]), int(edges[chunk + 1])),
                name="hsmcy-inference")


# ============================================================ row operations
def _checked_row_inputs(tree, inner_node_vectors, hidden, labels):
    """The labels a row kernel will index paths with, checked where they are used.

    Callers check first, with their own names (:func:`check_hidden`, :func:`check_labels`);
    this is the last line, cheap (O(1) plus a min/max of the labels), so that no caller
    can forget: ``Doc2Vec.score`` with an edited vocabulary once handed word ids beyond
    the tree to the kernel (SIGSEGV).
    """
    if not (isinstance(hidden, np.ndarray) and hidden.dtype == np.float32 and hidden.ndim == 2
            and hidden.flags.c_contiguous):
        raise ValueError("hidden rows must be a C-contiguous 2-D float32 array")
    check_inner_node_vectors(inner_node_vectors, tree, hidden.shape[1])
    return check_labels(labels, len(hidden), tree.n_leaves, "labels")


def log_prob_rows(tree, inner_node_vectors, hidden, labels, workers=1):
    """``log P(labels[i] | hidden[i])`` for every row (float64, shape (n,)).

    ``hidden`` and ``labels`` must already be checked (:func:`check_hidden`, :func:`check_labels`).
    """
    labels = _checked_row_inputs(tree, inner_node_vectors, hidden, labels)
    out = np.zeros(len(hidden), dtype=np.float64)
    if tree.n_inner == 0:
        return out  # one class: probability 1
    run_chunks(len(hidden), workers, lambda start, end: _inference.log_prob_rows(
        hidden, inner_node_vectors, tree.path_nodes, tree.path_codes, tree.path_offsets, labels, out, start, end))
    return out


def loss_and_grad_rows(tree, inner_node_vectors, hidden, labels, workers=1):
    """Per-row losses and exact gradients, without changing the weights.

    Returns
    -------
    losses : ndarray of float64, shape (n,)
        ``-log P(labels[i] | hidden[i])``.
    hidden_grad : ndarray of float32, shape (n, dim)
        ``d losses[i] / d hidden[i]``.
    grad_nodes : ndarray of int32, shape (m,)
        Inner node of each path position of each row, rows in order (with repeats).
    grad_values : ndarray of float32, shape (m, dim)
        ``d losses[i] / d inner_node_vectors[grad_nodes[p]]`` for that position.
    """
    labels = _checked_row_inputs(tree, inner_node_vectors, hidden, labels)
    n, dim = hidden.shape
    lengths = np.diff(tree.path_offsets)[labels] if n else np.zeros(0, dtype=np.int64)
    grad_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=grad_offsets[1:])
    losses = np.zeros(n, dtype=np.float64)
    hidden_grad = np.zeros((n, dim), dtype=np.float32)
    grad_nodes = np.empty(int(grad_offsets[-1]), dtype=np.int32)
    grad_values = np.empty((int(grad_offsets[-1]), dim), dtype=np.float32)
    if tree.n_inner:
        run_chunks(n, workers, lambda start, end: _inference.loss_grad_rows(
            hidden, inner_node_vectors, tree.path_nodes, tree.path_codes, tree.path_offsets, labels, grad_offsets,
            losses, hidden_grad, grad_nodes, grad_values, start, end))
    return losses, hidden_grad, grad_nodes, grad_values


def coalesce_rows(nodes, values):
    """Sum the rows of ``values`` that belong to the same node: ``(unique_nodes, summed_values)``."""
    if len(nodes) == 0:
        return nodes.astype(np.int64), values
    order = np.argsort(nodes, kind="stable")
    sorted_nodes = nodes[order]
    starts = np.flatnonzero(np.r_[True, sorted_nodes[1:] != sorted_nodes[:-1]])
    summed = np.add.reduceat(values[order], starts, axis=0)
    return sorted_nodes[starts].astype(np.int64), summed


def sgd_rows(tree, inner_node_vectors, hidden, labels, learning_rate, workers=1):
    """One SGD step per row on ``inner_node_vectors`` (in place); returns ``(losses, hidden_grad)``.

    Rows are applied one after another, as word2vec does, each with the gradient
    taken at the weights left by the rows before it; ``hidden_grad[i]`` is
    ``d loss_i / d hidden[i]`` at those same weights.  With ``workers > 1`` chunks
    of rows run concurrently on the shared weights (Hogwild); ``workers=1`` is
    deterministic.
    """
    labels = _checked_row_inputs(tree, inner_node_vectors, hidden, labels)
    n, dim = hidden.shape
    losses = np.zeros(n, dtype=np.float64)
    hidden_grad = np.zeros((n, dim), dtype=np.float32)
    if tree.n_inner:
        run_chunks(n, workers, lambda start, end: _inference.sgd_rows(
            hidden, inner_node_vectors, tree.path_nodes, tree.path_codes, tree.path_offsets, labels,
            learning_rate, losses, hidden_grad, start, end))
    return losses, hidden_grad


def distribution_rows(tree, inner_node_vectors, hidden, log=False, workers=1):
    """The full distribution ``P(w | hidden[i])`` over all leaves (float32, (n, V)), or its log."""
    n = len(hidden)
    if tree.n_inner == 0:
        return np.full((n, 1), 0.0 if log else 1.0, dtype=np.float32)
    out = np.empty((n, tree.n_leaves), dtype=np.float32)
    run_chunks(n, workers, lambda start, end: _inference.distribution_rows(
        hidden, inner_node_vectors, tree.children, tree.inner_nodes_top_down, out, bool(log), start, end),
        min_per_thread=1)
    return out


def top_k_rows(tree, inner_node_vectors, hidden, k, workers=1):
    """The ``k`` most probable leaves per row, best first: ``(ids int64 (n, k), probs float32 (n, k))``.

    Exact (best-first search over the tree), up to the order of equally probable leaves.
    """
    n = len(hidden)
    ids = np.empty((n, k), dtype=np.int64)
    probs = np.empty((n, k), dtype=np.float32)
    if tree.n_inner == 0:
        ids[:] = 0
        probs[:] = 1.0
        return ids, probs
    run_chunks(n, workers, lambda start, end: _inference.top_k_rows(
        hidden, inner_node_vectors, tree.children, tree.root, tree.n_leaves, ids, probs, start, end))
    return ids, probs


def seed_from(rng):
    """One 64-bit seed from ``rng``: None (fresh entropy), an int, or a ``numpy.random.Generator``."""
    if rng is None:
        rng = np.random.default_rng()
    elif isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")
    return int(rng.integers(0, 2 ** 64, dtype=np.uint64))


def sample_rows(tree, inner_node_vectors, hidden, n_samples, seed, workers=1):
    """``n_samples`` draws per row from ``P(. | hidden[i])``: int64 (n, n_samples).

    Row ``i``'s draws depend only on ``seed`` and ``i``, not on ``workers``.
    """
    n = len(hidden)
    check_fits_in_memory(n * n_samples * 8, f"n_samples = {n_samples} draws for each of {n} rows")
    out = np.zeros((n, n_samples), dtype=np.int64)
    if tree.n_inner:
        run_chunks(n, workers, lambda start, end: _inference.sample_rows(
            hidden, inner_node_vectors, tree.children, tree.root, np.uint64(seed), out, start, end))
    return out


# ============================================================ Word2Vec queries
def _check_model(model):
    if model.tree is None or not len(model.wv.index_to_key):
        raise RuntimeError("the model has no vocabulary yet: build_vocab and train it first")
    vectors = model.wv.vectors
    if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32 or not vectors.flags.c_contiguous or vectors.shape != \
            (len(model.wv.index_to_key), model.vector_size):
        raise ValueError("model.wv.vectors must be a C-contiguous float32 (vocab size, vector_size) array")
    if model.tree.n_leaves != len(vectors):
        raise ValueError(f"model.tree has {model.tree.n_leaves} leaves for {len(vectors)} words")
    inner = model.inner_node_vectors
    check_inner_node_vectors(inner, model.tree, vectors.shape[1], "model.syn1")
    window = model.window
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or not 1 <= window <= 2**31 - 1:
        raise ValueError(f"model.window must be an integer in [1, 2**31 - 1], got {window!r}")
    return vectors, inner


def _context_ids(model, context_words, name="context"):
    """Vocabulary ids of the known words of ``context_words`` (a list of str); unknown ones are dropped."""
    if isinstance(context_words, str):
        raise TypeError(f"{name} must be a list of words, not a single string (did you mean [{context_words!r}]?)")
    try:
        words = list(context_words)
    except TypeError:
        raise TypeError(f"{name} must be a list of words, got {type(context_words).__name__}") from None
    # Bytes are refused, not dropped as unknown: b"the" is never a key, and a silent None
    # would hide text that was not decoded (score() refuses bytes sentences the same way).
    for word in words:
        if isinstance(word, (bytes, bytearray)):
            raise TypeError(f"{name} must hold str words, got {word!r}: decode the text first")
    index = model.wv.key_to_index
    return np.array([index[word] for word in words if word in index], dtype=np.int64)


def _hidden_from_ids(model, vectors, context_ids, name="context_ids"):
    """Hidden vectors of a 2-D array of context ids (``-1`` = padding): the mean or sum of the context vectors.

    As gensim's ``predict_output_word``: mean if ``model.cbow_mean`` else sum, for
    skip-gram and CBOW models alike (for one context word, skip-gram's exact input).
    """
    context_ids = np.asarray(context_ids)
    if context_ids.dtype == bool or context_ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of word ids, got dtype {context_ids.dtype}")
    if context_ids.ndim == 1:
        context_ids = context_ids[None, :]
    if context_ids.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_queries, max_context), -1 for padding; got shape {context_ids.shape}")
    vocab_size = len(vectors)
    # Checked before the conversion: an unsigned 2**64 - 1 would become -1 (padding).
    if context_ids.size and (context_ids.min() < -1 or context_ids.max() >= vocab_size):
        raise ValueError(f"{name} holds ids outside [0, {vocab_size}) (use -1 only for padding)")
    context_ids = context_ids.astype(np.int64)
    present = context_ids >= 0
    counts = present.sum(axis=1)
    if np.any(counts == 0):
        raise ValueError(f"{name}: row {int(np.flatnonzero(counts == 0)[0])} has no context word")
    hidden = np.zeros((len(context_ids), vectors.shape[1]), dtype=np.float32)
    for column in range(context_ids.shape[1]):
        rows = np.flatnonzero(present[:, column])
        hidden[rows] += vectors[context_ids[rows, column]]
    if model.cbow_mean:
        hidden /= counts[:, None].astype(np.float32)
    return hidden


def log_prob_ids(model, word_ids, context_ids):
    """``log P(word_ids[i] | context_ids[i])`` for a batch (float64, shape (n,)); ``-1`` pads contexts."""
    vectors, inner = _check_model(model)
    hidden = _hidden_from_ids(model, vectors, context_ids)
    labels = check_labels(np.atleast_1d(np.asarray(word_ids)), len(hidden), len(vectors), "word_ids")
    return log_prob_rows(model.tree, inner, hidden, labels, model.workers)


def predict_proba_ids(model, context_ids):
    """Full distribution over the vocabulary for each row of ``context_ids``: float32 (n, V)."""
    vectors, inner = _check_model(model)
    hidden = _hidden_from_ids(model, vectors, context_ids)
    return distribution_rows(model.tree, inner, hidden, workers=model.workers)


def predict_output_word_ids(model, context_ids, topn=10):
    """Exact top-``topn`` centre words for each row of ``context_ids``: ``(ids (n, k), probs (n, k))``.

    ``topn`` larger than the vocabulary is reduced to its size.
    """
    vectors, inner = _check_model(model)
    if isinstance(topn, bool) or not isinstance(topn, numbers.Integral) or topn < 1:
        raise ValueError(f"topn must be an integer >= 1, got {topn!r}")
    hidden = _hidden_from_ids(model, vectors, context_ids)
    return top_k_rows(model.tree, inner, hidden, min(int(topn), len(vectors)), model.workers)


def predict_output_word(model, context_words_list, topn=10):
    """gensim's ``predict_output_word`` for hierarchical softmax, exact.

    Returns a list of ``(word, probability)``, most probable first, or ``None`` when
    no context word is in the vocabulary (gensim's behaviour).
    """
    _check_model(model)
    context = _context_ids(model, context_words_list, "context_words_list")
    if len(context) == 0:
        logger.warning("all the input context words are out-of-vocabulary for the current model")
        return None
    ids, probs = predict_output_word_ids(model, context[None, :], topn)
    words = model.wv.index_to_key
    return [(words[i], float(p)) for i, p in zip(ids[0], probs[0])]


def log_prob(model, word, context):
    """``log P(word | context)``: ``word`` a vocabulary word, ``context`` a list of words (unknown ones ignored)."""
    _check_model(model)
    if word not in model.wv.key_to_index:
        raise KeyError(f"word {word!r} not in vocabulary")
    context_ids = _context_ids(model, context)
    if len(context_ids) == 0:
        raise ValueError("context has no word in the vocabulary")
    return float(log_prob_ids(model, [model.wv.key_to_index[word]], context_ids[None, :])[0])


def predict_proba(model, context):
    """Full distribution over the vocabulary (float32, length V, sums to 1) given a list of context words."""
    _check_model(model)
    context_ids = _context_ids(model, context)
    if len(context_ids) == 0:
        raise ValueError("context has no word in the vocabulary")
    return predict_proba_ids(model, context_ids[None, :])[0]


# ------------------------------------------------------------------- scoring
def _encode_sentences(model, sentences, limit):
    """Up to ``limit`` sentences as int32 ids (``-1`` for unknown words) + int64 bounds."""
    index_get = model.wv.key_to_index.get
    ids, bounds = [], [0]
    total = 0
    for number, sentence in enumerate(itertools.islice(sentences, limit)):
        if isinstance(sentence, (str, bytes)):
            kind = "string" if isinstance(sentence, str) else "bytes object"
            raise TypeError(f"sentences must be lists of tokens, got a plain {kind} "
                            f"({sentence[:30]!r}...); split it into words first")
        tokens = [index_get(token, -1) if isinstance(token, str) else _not_a_token(token, number)
                  for token in sentence]
        ids.extend(tokens)
        total += len(tokens)
        bounds.append(total)
    # The ids come from model.wv.key_to_index, which a user can edit: a kernel indexes
    # with them, so they are checked here, not trusted.
    ids = np.array(ids, dtype=np.int64)
    vocab_size = len(model.wv.vectors)
    if len(ids) and (ids.min() < -1 or ids.max() >= vocab_size):
        bad = int(ids[(ids < -1) | (ids >= vocab_size)][0])
        raise ValueError(f"model.wv.key_to_index maps a word to {bad}, outside the {vocab_size} rows of "
                         "model.wv.vectors: the vocabulary was edited")
    return ids.astype(np.int32), np.array(bounds, dtype=np.int64)


def _not_a_token(token, sentence_number):
    raise TypeError(f"sentence {sentence_number} holds a {type(token).__name__} token ({token!r}); "
                    "tokens must be str (decode bytes first)")


def _score(model, sentences, total_sentences, chunksize, queue_factor, report_delay, with_tokens):
    vectors, inner = _check_model(model)
    if isinstance(sentences, str):
        raise TypeError("sentences must be an iterable of token lists, not a string")
    if total_sentences is None:
        total_sentences = math.inf
    elif isinstance(total_sentences, bool) or not isinstance(total_sentences, numbers.Integral) \
            or total_sentences < 0:
        raise ValueError(f"total_sentences must be an integer >= 0, got {total_sentences!r}")
    if isinstance(chunksize, bool) or not isinstance(chunksize, numbers.Integral) or chunksize < 1:
        raise ValueError(f"chunksize must be an integer >= 1, got {chunksize!r}")
    if isinstance(queue_factor, bool) or not isinstance(queue_factor, numbers.Integral) or queue_factor < 1:
        raise ValueError(f"queue_factor must be an integer >= 1, got {queue_factor!r}")
    workers = check_workers(model.workers, "model.workers")
    tree = model.tree
    # Read and score in blocks, so memory stays bounded for long streams.
    block = max(chunksize * workers * queue_factor, 10_000)
    iterator = iter(sentences)
    scores, token_scores = [], []
    done, started, next_report = 0, time.perf_counter(), time.perf_counter() + report_delay
    while done < total_sentences:
        token_ids, bounds = _encode_sentences(model, iterator, int(min(block, total_sentences - done)))
        n = len(bounds) - 1
        if n == 0:
            break
        block_scores = np.zeros(n, dtype=np.float64)
        block_tokens = np.full(len(token_ids) if with_tokens else 0, np.nan, dtype=np.float64)
        if with_tokens:
            block_tokens[token_ids >= 0] = 0.0
        if tree.n_inner:
            run_chunks(n, workers, lambda start, end: _inference.score_sentence_rows(
                bool(model.sg), token_ids, bounds, vectors, inner, tree.path_nodes, tree.path_codes,
                tree.path_offsets, tree.max_depth, int(model.window), bool(model.cbow_mean), block_scores, block_tokens,
                start, end), min_per_thread=chunksize, chunk_items=chunksize)
        scores.append(block_scores)
        if with_tokens:
            token_scores.extend(np.split(block_tokens, bounds[1:-1]))
        done += n
        now = time.perf_counter()
        if now >= next_report:
            logger.info("SCORING: %d sentences, %.0f sentences/s", done, done / (now - started))
            next_report = now + report_delay
    elapsed = time.perf_counter() - started
    logger.info("scored %d sentences in %.2fs", done, elapsed)
    return (np.concatenate(scores) if scores else np.zeros(0)), token_scores


def score(model, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2, report_delay=1):
    """Log-likelihood of each sentence (float64, one per sentence), as gensim's ``score()`` defines it.

    Unknown words are dropped; then, with the *full* window (no random window
    shrinking, no subsampling), skip-gram sums ``log P(word_i | word_j)`` over every
    pair within ``window``, CBOW sums ``log P(word_i | context of i)``.  Unlike gensim,
    every node counts exactly: gensim skips nodes with ``|h . v| >= 6`` and reads
    the others from a 1000-entry log-sigmoid table.  Only the first
    ``total_sentences`` sentences are scored, as in gensim.
    """
    return _score(model, sentences, total_sentences, chunksize, queue_factor, report_delay, False)[0]


def score_words(model, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2, report_delay=1):
    """Per-token log-probabilities: one float64 array per sentence, aligned with its tokens.

    A token's entry is its own term of :func:`score` (skip-gram: the sum over its
    context words of ``log P(token | context word)``; CBOW: ``log P(token | context)``),
    ``NaN`` for a token not in the vocabulary.  Each sentence's finite entries sum to
    its :func:`score`.
    """
    return _score(model, sentences, total_sentences, chunksize, queue_factor, report_delay, True)[1]
