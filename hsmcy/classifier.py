"""HSClassifier: fastText-style text classification with a hierarchical-softmax output.

The model
---------
A text is a bag of tokens: its words (those seen at least ``min_count`` times in
training) and, with ``word_ngrams = n > 1``, its word 2- to n-grams, each hashed
into one of ``bucket`` extra rows.  Every token owns an input vector; the text's
hidden vector is their **mean**, ``h = (1 / T) sum_t e_t``.  The labels are the
leaves of a binary tree (Huffman by label frequency, balanced, or a user hierarchy)
and ``P(label | h)`` is the hierarchical softmax of :mod:`hsmcy.reference`: the
product of the branch sigmoids along the label's path.

Training
--------
SGD on ``sum over the text's labels of -log P(label | h)``: every label of a
multi-label example is trained, each along its own path from the same ``h``
(fastText instead samples one label per example).  The step for ``h`` is summed over
the labels and then spread over the tokens: **each token vector receives
step / T**, because ``d h / d e_t = 1 / T``.  This is the exact gradient of the
loss (so the reference and finite differences agree), it keeps the step of a
token independent of the length of its text, and it is also what fastText's
supervised mode does (word2vec's CBOW instead adds the whole step to every context
vector).  The learning rate falls linearly from ``lr`` to 0 over all examples of
all epochs; examples are shuffled (seeded) every epoch and trained by ``workers``
threads Hogwild-style, each releasing the GIL once per batch of ~10,000 tokens.

The nogil kernels are in ``hsmcy/_classifier.pyx``; ``hsmcy.reference.text_vectors``
and ``hsmcy.reference.classifier_step`` state the same maths in NumPy, and the tests
hold the kernels to them.  Texts become tokens, and tokens ids, in :mod:`hsmcy.tokens`.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import numbers
import os
import threading

import numpy as np

from . import _classifier
from ._runner import run_batches
from .checks import INT64_MAX, check_array, check_finite
from .persistence import (ArchiveReader, decode_strings, encode_strings, malformed_file_is_value_error, read_tree,
                          save_archive)
from .tokens import hashed_ngrams, labels_per_text, tokenize, unique_codes
from .tree import BinaryTree, HuffmanTree

from .layer import HierarchicalSoftmax  # exact top-k and full distributions in nogil kernels
from .memory import aligned_zeros, check_fits_in_memory

logger = logging.getLogger(__name__)

__all__ = ["HSClassifier", "read_fasttext_file"]

#: Longest word n-gram: far beyond useful (fastText's are 1 to 5), and small enough that
#: a model file cannot make every prediction loop for hours.
MAX_WORD_NGRAMS = 100
_PARAMS = ("dim", "epochs", "lr", "word_ngrams", "min_count", "bucket", "workers", "tree", "seed")
_KIND = "hs_classifier"
# Guards the check-and-set of HSClassifier._fitting (one fit at a time per object).
_FITTING_LOCK = threading.Lock()
_BATCH_TOKENS = 10_000


# ----------------------------------------------------------------------------- input
def read_fasttext_file(path, label_prefix="__label__"):
    """Read a file in fastText's supervised format.

    Every line is one example: the tokens that start with ``label_prefix`` are its
    labels (prefix removed), the other tokens its text.  Blank lines are skipped, and
    so are lines with labels but no text, as fastText skips them (a warning gives how
    many and the first one's line number); invalid UTF-8 is replaced.

    Parameters
    ----------
    path : str or PathLike
    label_prefix : str, default "__label__"

    Returns
    -------
    texts : list of str
        The non-label tokens of each line, joined by single spaces.
    labels : list of list of str
        The labels of each line.

    Raises
    ------
    ValueError
        Missing file, or a non-blank line without a label (the message gives its number).
    """
    if not isinstance(label_prefix, str) or not label_prefix:
        raise ValueError("label_prefix must be a non-empty string")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} does not exist or is not a file")
    texts, labels = [], []
    label_only = []  # line numbers of lines with labels and no text
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                continue
            line_labels = [token[len(label_prefix):] for token in tokens if token.startswith(label_prefix)]
            if not line_labels:
                raise ValueError(f"{path}:{line_number}: no token starts with {label_prefix!r} (no label)")
            text = [token for token in tokens if not token.startswith(label_prefix)]
            if not text:
                label_only.append(line_number)
                continue
            texts.append(" ".join(text))
            labels.append(line_labels)
    if label_only:
        logger.warning("%s: skipped %d line%s with labels but no text (as fastText does), the first at line %d",
                       path, len(label_only), "s" if len(label_only) > 1 else "", label_only[0])
    return texts, labels


# ------------------------------------------------------------------------ estimator
class HSClassifier:
    """Text classifier over many labels: mean of token embeddings -> hierarchical softmax.

    Parameters
    ----------
    dim : int, default 100
        Size of the token embeddings (and of the inner-node vectors).
    epochs : int, default 5
    lr : float, default 0.1
        Initial learning rate; it falls linearly to 0 over all examples of all epochs.
    word_ngrams : int, default 1
        Also use word n-grams up to this length (hashed into ``bucket`` rows); at most 100.
    min_count : int, default 1
        Words seen fewer times in training are ignored (they still take part in n-grams).
    bucket : int, default 2_000_000
        Number of hash rows for word n-grams (allocated only when ``word_ngrams > 1``).
    workers : int, default 3
        Training threads (Hogwild on the shared arrays; ``workers=1`` with a fixed
        ``seed`` is reproducible bit for bit).
    tree : "huffman", "balanced" or list of (child, parent) pairs, default "huffman"
        Huffman by label frequency (short paths for frequent labels), a balanced
        tree, or a user hierarchy whose leaves are exactly the training labels (see
        :meth:`hsmcy.BinaryTree.from_edges`).
    seed : int, default 1
        Seeds the initial vectors and the example order.

    Attributes
    ----------
    classes_ : ndarray
        The labels, in leaf order (``classes_[w]`` is leaf ``w``).
    tree_ : hsmcy.BinaryTree
    input_vectors_ : ndarray, float32, shape (n_words + n_buckets, dim)
    inner_node_vectors_ : ndarray, float32, shape (n_inner, dim)
    vocabulary_ : dict of str -> int
    training_loss_ : list of float
        Mean loss per trained example, for each epoch.
    """

    def __init__(self, dim=100, epochs=5, lr=0.1, word_ngrams=1, min_count=1, bucket=2_000_000, workers=3,
                 tree="huffman", seed=1):
        self.dim = dim
        self.epochs = epochs
        self.lr = lr
        self.word_ngrams = word_ngrams
        self.min_count = min_count
        self.bucket = bucket
        self.workers = workers
        self.tree = tree
        self.seed = seed
        self._check_params()

    # ------------------------------------------------------------------ params
    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn's estimator protocol).

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn compatibility (there are no nested estimators).
        """
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params):
        """Set constructor parameters (checked); returns ``self``.

        Parameters
        ----------
        **params :
            Any of the constructor's parameters, e.g. ``set_params(epochs=10)``.
        """
        for name in params:
            if name not in _PARAMS:
                raise ValueError(f"invalid parameter {name!r} for HSClassifier; valid: {', '.join(_PARAMS)}")
        old = self.get_params()
        for name, value in params.items():
            setattr(self, name, value)
        try:
            self._check_params()
        except (TypeError, ValueError):
            for name, value in old.items():
                setattr(self, name, value)
            raise
        return self

    def _check_params(self):
        for name, low in (("dim", 1), ("epochs", 1), ("word_ngrams", 1), ("min_count", 1), ("bucket", 1),
                          ("workers", 1)):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if self.word_ngrams > MAX_WORD_NGRAMS:  # each n costs a pass over every text, at fit and predict
            raise ValueError(f"word_ngrams must be at most {MAX_WORD_NGRAMS}, got {self.word_ngrams}")
        if isinstance(self.lr, (bool, np.bool_)) or not isinstance(self.lr, numbers.Real):
            raise TypeError(f"lr must be a number, got {self.lr!r}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")
        if isinstance(self.seed, (bool, np.bool_)) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.tree, str):
            if self.tree not in ("huffman", "balanced"):
                raise ValueError(f"tree must be 'huffman', 'balanced' or a list of (child, parent) edges, "
                                 f"got {self.tree!r}")
        elif not isinstance(self.tree, (list, tuple)):
            raise TypeError(f"tree must be 'huffman', 'balanced' or a list of (child, parent) edges, "
                            f"got {type(self.tree).__name__}")

    def __repr__(self):
        shown = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items() if name != "tree")
        tree = self.tree if isinstance(self.tree, str) else f"<{len(self.tree)} edges>"
        return f"HSClassifier({shown}, tree={tree!r})"

    # ------------------------------------------------------------------ fitting
    def fit(self, texts, labels):
        """Build the vocabulary, the label tree and train.

        Parameters
        ----------
        texts : sequence of str or of list of str
            Strings are split on whitespace.
        labels : sequence
            One label (str or int) or a list of labels per text.

        Returns
        -------
        self
        """
        return self._fit_alone(self._fit, texts, labels)

    def _fit_alone(self, fit, texts, labels):
        """``fit(texts, labels)`` unless this object is being fitted already: a second concurrent fit is refused
        (two fits would write the same weight arrays from two sets of threads)."""
        with _FITTING_LOCK:
            if getattr(self, "_fitting", False):
                raise RuntimeError("this HSClassifier is already being fitted (fit() or partial_fit() runs in "
                                   "another thread); fit another instance, or wait for that fit to finish")
            self._fitting = True
        try:
            return fit(texts, labels)
        finally:
            self._fitting = False

    def _fit(self, texts, labels):
        self._check_params()
        codes, distinct, lengths = tokenize(texts)
        flat_labels, label_bounds = labels_per_text(labels, len(lengths))
        token_counts = np.bincount(codes, minlength=len(distinct))
        frequent = np.flatnonzero(token_counts >= self.min_count)
        if len(frequent) == 0:
            raise ValueError(f"no word occurs at least min_count={self.min_count} times")
        frequent = frequent[np.argsort(-token_counts[frequent], kind="stable")]  # most frequent first
        self.vocabulary_ = {distinct[code]: word for word, code in enumerate(frequent.tolist())}
        self.word_counts_ = token_counts[frequent]
        word_of_code = np.full(len(distinct), -1, dtype=np.int64)
        word_of_code[frequent] = np.arange(len(frequent))

        label_codes, distinct_labels = unique_codes(flat_labels)
        if len({type(label) for label in distinct_labels}) > 1:
            raise TypeError("labels must be all strings or all integers, not a mix")
        label_counts = np.bincount(label_codes, minlength=len(distinct_labels))
        by_frequency = np.argsort(-label_counts, kind="stable")
        classes = [distinct_labels[code] for code in by_frequency.tolist()]
        self.tree_ = self._build_tree(classes, label_counts[by_frequency])
        if isinstance(self.tree, (list, tuple)):
            classes = self.tree_.labels  # the hierarchy fixes the leaf order
        self.classes_ = np.array(classes)
        self._class_index = {label: index for index, label in enumerate(classes)}
        class_of_code = np.fromiter(map(self._class_index.__getitem__, distinct_labels), dtype=np.int64,
                                    count=len(distinct_labels))
        label_ids = class_of_code[label_codes].astype(np.int32)
        self.class_counts_ = np.bincount(label_ids, minlength=len(classes)).astype(np.int64)

        token_ids, text_bounds = self._encode(codes, lengths, distinct, word_of_code)

        rng = np.random.default_rng(self.seed)
        n_rows = len(self.vocabulary_) + (self.bucket if self.word_ngrams > 1 else 0)
        if n_rows > np.iinfo(np.int32).max:
            raise ValueError(f"bucket={self.bucket} plus {len(self.vocabulary_)} words exceeds the int32 token ids")
        check_fits_in_memory((n_rows + self.tree_.n_inner) * self.dim * 4,
                             f"dim = {self.dim} for {n_rows:,} input rows (words + bucket) and {self.tree_.n_inner:,} "
                             "inner nodes")
        # Rows on cache lines (memory.aligned_zeros).
        self.input_vectors_ = aligned_zeros((n_rows, self.dim))
        self.input_vectors_[...] = rng.uniform(-1.0 / self.dim, 1.0 / self.dim, size=(n_rows, self.dim))
        self.inner_node_vectors_ = aligned_zeros((max(self.tree_.n_inner, 1), self.dim))
        self._train(token_ids, text_bounds, label_ids, label_bounds, rng)
        return self

    def partial_fit(self, texts, labels):
        """Continue training a fitted classifier on more examples, growing its words and labels.

        The first call on an unfitted model is :meth:`fit`.  After that, each call:

        * adds the words of ``texts`` that occur at least ``min_count`` times in them
          and are not yet known (their vectors start as in :meth:`fit`; the n-gram
          buckets keep their trained rows);
        * adds the labels not yet known as new leaves of the label tree
          (``hsmcy.HierarchicalSoftmax.add_classes``): every known label keeps its
          path and trained inner-node vectors, so until training moves them its
          probabilities are unchanged, except for the few labels whose leaf was
          split to make room, which lose half (documented in ``hsmcy.tree_growth``);
          new labels are appended to ``classes_`` by descending frequency;
        * trains ``epochs`` passes over the given examples, the learning rate falling
          from ``lr`` to 0, as :meth:`fit` does.

        Unlike scikit-learn's ``partial_fit`` (one pass, classes declared up front), a
        call runs ``epochs`` passes and needs no ``classes=``.  With a user label
        hierarchy (``tree=`` edges) new labels cannot be placed and are refused.

        Parameters
        ----------
        texts : sequence of str or of list of str
        labels : sequence
            One label or a list of labels per text.

        Returns
        -------
        self
        """
        if not hasattr(self, "inner_node_vectors_"):
            return self.fit(texts, labels)
        return self._fit_alone(self._partial_fit, texts, labels)

    def _partial_fit(self, texts, labels):
        self._check_params()
        codes, distinct, lengths = tokenize(texts)
        flat_labels, label_bounds = labels_per_text(labels, len(lengths))
        label_codes, distinct_labels = unique_codes(flat_labels)
        label_types = {type(label) for label in distinct_labels} | {type(label) for label in self.classes_.tolist()}
        if len(label_types) > 1:
            raise TypeError("labels must be all strings or all integers, like the labels the model was fitted on")
        label_counts = np.bincount(label_codes, minlength=len(distinct_labels))
        unknown = [code for code, label in enumerate(distinct_labels) if label not in self._class_index]
        if unknown and not isinstance(self.tree, str):
            shown = ", ".join(repr(distinct_labels[code]) for code in unknown[:5])
            raise ValueError(f"labels {shown} are not in the label hierarchy (tree=...): a user hierarchy "
                             "cannot place new labels; refit with a hierarchy that has them")

        # New words: frequent enough in these texts, not known yet; appended before the n-gram rows.
        token_counts = np.bincount(codes, minlength=len(distinct))
        known_word = np.fromiter(map(self.vocabulary_.get, distinct, itertools.repeat(-1)), dtype=np.int64,
                                 count=len(distinct))
        fresh = np.flatnonzero((known_word < 0) & (token_counts >= self.min_count))
        fresh = fresh[np.argsort(-token_counts[fresh], kind="stable")]
        n_words = len(self.vocabulary_)
        n_rows = n_words + len(fresh) + (self.bucket if self.word_ngrams > 1 else 0)
        if n_rows > np.iinfo(np.int32).max:
            raise ValueError(f"bucket={self.bucket} plus {n_words + len(fresh)} words exceeds the int32 token ids")
        rng = np.random.default_rng([self.seed, getattr(self, "n_updates_", 0) + 1])
        input_vectors = aligned_zeros((n_rows, self.dim))
        input_vectors[:n_words] = self.input_vectors_[:n_words]
        input_vectors[n_words:n_words + len(fresh)] = rng.uniform(-1.0 / self.dim, 1.0 / self.dim,
                                                                   size=(len(fresh), self.dim))
        input_vectors[n_words + len(fresh):] = self.input_vectors_[n_words:]
        word_counts = self.word_counts_.copy()
        word_counts[known_word[known_word >= 0]] += token_counts[known_word >= 0]

        # New labels: new leaves (most frequent first), known labels' counts summed.
        new_codes = np.array(unknown, dtype=np.int64)
        new_codes = new_codes[np.argsort(-label_counts[new_codes], kind="stable")]
        class_counts = self.class_counts_.copy()
        for code, label in enumerate(distinct_labels):
            if label in self._class_index:
                class_counts[self._class_index[label]] += label_counts[code]
        layer = HierarchicalSoftmax(self.tree_, self.dim, workers=self.workers)
        layer.inner_node_vectors = np.ascontiguousarray(self.inner_node_vectors_[:self.tree_.n_inner])
        layer.add_classes(label_counts[new_codes], counts=class_counts)

        # Everything checked and built: install.
        for position, code in enumerate(fresh.tolist()):
            self.vocabulary_[distinct[code]] = n_words + position
        self.word_counts_ = np.concatenate([word_counts, token_counts[fresh]]).astype(np.int64)
        self.input_vectors_ = input_vectors
        classes = self.classes_.tolist() + [distinct_labels[code] for code in new_codes.tolist()]
        self.classes_ = np.array(classes)
        self._class_index = {label: index for index, label in enumerate(classes)}
        self.class_counts_ = np.concatenate([class_counts, label_counts[new_codes]]).astype(np.int64)
        self.tree_ = layer.tree
        self.inner_node_vectors_ = aligned_zeros((max(layer.tree.n_inner, 1), self.dim))
        self.inner_node_vectors_[:layer.tree.n_inner] = layer.inner_node_vectors
        self.n_updates_ = getattr(self, "n_updates_", 0) + 1

        word_of_code = np.fromiter(map(self.vocabulary_.get, distinct, itertools.repeat(-1)), dtype=np.int64,
                                   count=len(distinct))
        class_of_code = np.fromiter(map(self._class_index.__getitem__, distinct_labels), dtype=np.int64,
                                    count=len(distinct_labels))
        label_ids = class_of_code[label_codes].astype(np.int32)
        token_ids, text_bounds = self._encode(codes, lengths, distinct, word_of_code)
        self._train(token_ids, text_bounds, label_ids, label_bounds, rng)
        return self

    def _build_tree(self, classes, counts):
        if isinstance(self.tree, str):
            if self.tree == "huffman":
                return HuffmanTree.from_counts(counts)
            return BinaryTree.balanced(len(classes))
        try:
            return BinaryTree.from_edges(self.tree, labels=classes, counts=counts)
        except ValueError as error:
            raise ValueError(f"tree: {error}") from None

    def _encode_texts(self, texts):
        """Texts -> (token_ids, text_bounds) with the fitted vocabulary."""
        codes, distinct, lengths = tokenize(texts)
        word_of_code = np.fromiter(map(self.vocabulary_.get, distinct, itertools.repeat(-1)), dtype=np.int64,
                                   count=len(distinct))
        return self._encode(codes, lengths, distinct, word_of_code)

    def _encode(self, codes, lengths, distinct, word_of_code):
        """Token codes -> (token_ids int32, text_bounds int64): word ids, then n-gram rows, per text.

        ``codes`` number the ``distinct`` tokens; ``word_of_code`` is each one's word
        id (-1 outside the vocabulary).  Word n-grams are taken over all tokens,
        in or out of the vocabulary, and hashed into ``bucket`` rows after the words.
        """
        n_texts = len(lengths)
        token_words = word_of_code[codes]
        text_of_token = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
        keep = token_words >= 0
        ids = [token_words[keep]]
        owners = [text_of_token[keep]]
        for n_gram_rows, first in hashed_ngrams(codes, lengths, distinct, self.word_ngrams, self.bucket):
            ids.append(len(self.vocabulary_) + n_gram_rows)   # n-gram rows come after the words
            owners.append(text_of_token[first])
        regroup = len(ids) > 1  # n-gram rows were appended after all words: regroup them by text
        ids = np.concatenate(ids)
        owners = np.concatenate(owners)
        if regroup:
            order = np.argsort(owners, kind="stable")
            ids, owners = ids[order], owners[order]
        token_ids = np.ascontiguousarray(ids, dtype=np.int32)
        text_bounds = np.zeros(n_texts + 1, dtype=np.int64)
        np.cumsum(np.bincount(owners, minlength=n_texts), out=text_bounds[1:])
        return token_ids, text_bounds

    def _train(self, token_ids, text_bounds, label_ids, label_bounds, rng):
        """Epochs of shuffled batches, trained by worker threads in nogil kernel calls (``hsmcy._runner``)."""
        n_texts = len(text_bounds) - 1
        has_tokens = np.diff(text_bounds) > 0
        trainable = np.flatnonzero(has_tokens).astype(np.int64)
        self.n_skipped_texts_ = int(n_texts - len(trainable))
        if len(trainable) == 0:
            raise ValueError("no text has a word in the vocabulary (min_count too high?)")
        if self.epochs > INT64_MAX // len(trainable):   # the schedule counts examples in int64: it would never end
            raise ValueError(f"epochs = {self.epochs} x {len(trainable):,} texts is more examples than a run can count "
                             "(2**63 - 1)")
        # The run's own references: whatever happens to the attributes meanwhile,
        # the workers index these arrays, which the ids were made for.
        input_vectors, inner_node_vectors, tree = self.input_vectors_, self.inner_node_vectors_, self.tree_
        path_nodes = tree.path_nodes if len(tree.path_nodes) else np.zeros(1, dtype=np.int32)
        path_codes = tree.path_codes if len(tree.path_codes) else np.zeros(1, dtype=np.uint8)
        mean_tokens = max(len(token_ids) / len(trainable), 1.0)
        batch_size = max(1, int(_BATCH_TOKENS / mean_tokens))
        total = self.epochs * len(trainable)
        self.training_loss_ = []
        lock = threading.Lock()

        def scratch(thread_index):
            return np.zeros(self.dim, dtype=np.float32), np.zeros(self.dim, dtype=np.float32)

        # What the note on an interrupting error reports; a Ctrl-C can also land between
        # epochs, outside the worker loop, when no thread is running.
        progress = {"epoch": 0, "batches": 0, "done": 0}
        try:
            for epoch in range(self.epochs):
                order = rng.permutation(trainable)
                edges = list(range(0, len(order), batch_size)) + [len(order)]
                progress.update(epoch=epoch, batches=len(edges) - 1, done=0)
                totals = {"loss": 0.0, "trained": 0}

                def lr_at(position, epoch=epoch):
                    return self.lr * (1.0 - (epoch * len(trainable) + position) / total)

                def work(buffers, batch, edges=edges, order=order, totals=totals):
                    start, stop = edges[batch], edges[batch + 1]
                    trained, loss = _classifier.train_batch(
                        token_ids, text_bounds, label_ids, label_bounds, order[start:stop], input_vectors,
                        inner_node_vectors, path_nodes, path_codes, tree.path_offsets, lr_at(start), lr_at(stop),
                        buffers[0], buffers[1], True)
                    with lock:
                        totals["loss"] += loss
                        totals["trained"] += trained
                        progress["done"] += 1

                run_batches(range(len(edges) - 1), self.workers, work, make_state=scratch,
                            name="hsmcy-classifier")
                self.training_loss_.append(totals["loss"] / max(totals["trained"], 1))
        except BaseException as error:
            if hasattr(error, "add_note"):
                error.add_note(f"hsmcy: HSClassifier.fit stopped in epoch {progress['epoch'] + 1} of {self.epochs}, "
                               f"after {progress['done']} of {progress['batches']} batches; "
                               "the weights hold whole batches only: the model predicts and saves")
            raise

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if not hasattr(self, "inner_node_vectors_"):
            raise ValueError("this HSClassifier is not fitted yet: call fit(texts, labels) first")

    def _mean_vectors(self, token_ids, text_bounds):
        """The kernel's ``text_vectors`` after checking what it will read (attributes may have been replaced)."""
        vectors = self.input_vectors_
        if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32 or vectors.ndim != 2 \
                or not vectors.flags.c_contiguous:
            raise ValueError("input_vectors_ must be a C-contiguous 2-D float32 array")
        if vectors.shape[1] != self.dim:
            raise ValueError(f"input_vectors_ has width {vectors.shape[1]}, expected dim={self.dim}")
        if len(token_ids) and int(token_ids.max()) >= vectors.shape[0]:
            raise ValueError(f"input_vectors_ has {vectors.shape[0]} rows, fewer than the vocabulary and "
                             "n-gram buckets need")
        hidden = np.empty((len(text_bounds) - 1, self.dim), dtype=np.float32)
        _classifier.text_vectors(token_ids, text_bounds, vectors, hidden)
        return hidden

    def text_vectors(self, texts):
        """The hidden vector of each text: the mean of its token vectors, float32 (n, dim).

        A text none of whose tokens is known gets the zero vector (its prediction is
        then the tree's prior, ``2 ** -depth`` per label).

        Parameters
        ----------
        texts : list of str or list of list of str
            Texts as strings (split on whitespace) or token lists.
        """
        self._check_fitted()
        return self._mean_vectors(*self._encode_texts(texts))

    def _layer(self):
        """The output layer over this model's tree, sharing (not copying) its inner-node vectors."""
        weights = self.inner_node_vectors_[:self.tree_.n_inner]
        layer = getattr(self, "_output_layer", None)
        if layer is None or layer.tree is not self.tree_:
            layer = HierarchicalSoftmax(self.tree_, self.dim, workers=self.workers)
            self._output_layer = layer
        layer.inner_node_vectors = weights
        layer.workers = self.workers
        return layer

    def predict_proba(self, texts):
        """P(label | text) for every label, shape (n_texts, n_classes), columns in ``classes_`` order.

        Parameters
        ----------
        texts : list of str or list of list of str
            Texts as strings (split on whitespace) or token lists.
        """
        hidden = self.text_vectors(texts)
        return np.asarray(self._layer().predict_proba(hidden), dtype=np.float64)

    def predict_top(self, texts, k=1):
        """The ``k`` most probable labels of each text, best first.

        Parameters
        ----------
        texts : list of str or list of list of str
            Texts as strings (split on whitespace) or token lists.
        k : int, default 1
            Labels per text.

        Returns
        -------
        labels : ndarray, shape (n_texts, k)
        probabilities : ndarray of float, shape (n_texts, k)
        """
        self._check_fitted()
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
            raise TypeError(f"k must be an integer, got {k!r}")
        if not 1 <= k <= len(self.classes_):
            raise ValueError(f"k must be in [1, {len(self.classes_)}] (the number of classes), got {k}")
        hidden = self.text_vectors(texts)
        ids, probabilities = self._layer().predict(hidden, int(k))
        return self.classes_[np.asarray(ids)], np.asarray(probabilities, dtype=np.float64)

    def predict(self, texts):
        """The most probable label of each text, shape (n_texts,).

        Parameters
        ----------
        texts : list of str or list of list of str
            Texts as strings (split on whitespace) or token lists.
        """
        labels, _ = self.predict_top(texts, 1)
        return labels[:, 0]

    def score(self, texts, labels):
        """Accuracy: the fraction of texts whose top label is (one of) their label(s), i.e. P@1.

        Parameters
        ----------
        texts : list of str or list of list of str
            Texts as strings (split on whitespace) or token lists.
        labels : list
            One label, or a list of labels, per text.
        """
        self._check_fitted()
        token_ids, text_bounds = self._encode_texts(texts)
        flat_labels, label_bounds = labels_per_text(labels, len(text_bounds) - 1)
        unknown = sorted({repr(label) for label in flat_labels if label not in self._class_index})
        if unknown:
            raise ValueError(f"labels unseen in training: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        label_ids = np.fromiter(map(self._class_index.__getitem__, flat_labels), dtype=np.int64,
                                count=len(flat_labels))
        hidden = self._mean_vectors(token_ids, text_bounds)
        predicted, _ = self._layer().predict(hidden, 1)
        hit = np.repeat(predicted[:, 0], np.diff(label_bounds)) == label_ids
        return float(np.mean(np.logical_or.reduceat(hit, label_bounds[:-1])))

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save to ``path`` in hsmcy's pickle-free format (zip of .npy + JSON, written atomically).

        Vectors holding NaN or infinity are refused (``ValueError``), as :meth:`load`
        would refuse them.

        Parameters
        ----------
        path : str or PathLike
            The file to write.
        """
        self._check_fitted()
        for name in ("input_vectors_", "inner_node_vectors_"):
            check_finite(getattr(self, name), name.rstrip("_"), "refusing to save a diverged model")
        words = sorted(self.vocabulary_, key=self.vocabulary_.get)
        word_bytes, word_offsets = encode_strings(words)
        arrays = {
            "input_vectors": self.input_vectors_, "inner_node_vectors": self.inner_node_vectors_,
            "path_nodes": self.tree_.path_nodes, "path_codes": self.tree_.path_codes,
            "path_offsets": self.tree_.path_offsets, "word_bytes": word_bytes, "word_offsets": word_offsets,
            "word_counts": self.word_counts_, "class_counts": self.class_counts_,
        }
        if self.classes_.dtype.kind == "U":
            arrays["class_bytes"], arrays["class_offsets"] = encode_strings(self.classes_.tolist())
        else:
            arrays["class_ids"] = self.classes_.astype(np.int64)
        params = self.get_params()
        if not isinstance(self.tree, str):
            params["tree"] = [list(edge) for edge in self.tree]
        try:
            metadata = {"params": params, "tree_depth": self.tree_.depth_statistics(),
                        "training_loss": list(self.training_loss_),
                        "n_skipped_texts": self.n_skipped_texts_}
            json.dumps(metadata)
        except TypeError:
            raise TypeError("tree: only hierarchies whose node names are strings or integers can be saved") from None
        save_archive(path, _KIND, metadata, arrays)

    @classmethod
    @malformed_file_is_value_error
    def load(cls, path, mmap=None):
        """Load a model written by :meth:`save`.

        Everything is validated first (parameters, tree, shapes, dtypes, counts, finite
        values); a defective file gets a ``ValueError`` naming it.

        Parameters
        ----------
        path : str or PathLike
            A file written by :meth:`save`.
        mmap : None or "r"
            ``"r"`` maps the vectors read-only.
        """
        if mmap not in (None, "r"):
            raise ValueError(f"mmap must be None or 'r', got {mmap!r}")
        with ArchiveReader(path, _KIND) as archive:
            metadata, where = archive.metadata, archive.where
            params = dict(metadata["params"])
            if isinstance(params["tree"], list):
                params["tree"] = [tuple(edge) for edge in params["tree"]]
            try:
                model = cls(**params)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from error
            tree = read_tree(archive)
            words = decode_strings(archive.array("word_bytes", np.uint8, (None,)),
                                   archive.array("word_offsets", np.int64, (None,)), f"{where}: vocabulary")
            if "class_bytes" in archive:
                classes = decode_strings(archive.array("class_bytes", np.uint8, (None,)),
                                         archive.array("class_offsets", np.int64, (None,)), f"{where}: classes")
            else:
                classes = archive.array("class_ids", np.int64, (None,)).tolist()
            if tree.n_leaves != len(classes):
                raise ValueError(f"{where}: the tree has {tree.n_leaves} leaves for {len(classes)} classes")
            if len(set(words)) != len(words) or len(set(classes)) != len(classes):
                raise ValueError(f"{where}: duplicate words or classes")
            word_counts = check_array(archive.array("word_counts", np.int64, (len(words),)), "word_counts",
                                      np.int64, (len(words),), where, non_negative=True)
            class_counts = check_array(archive.array("class_counts", np.int64, (len(classes),)), "class_counts",
                                       np.int64, (len(classes),), where, non_negative=True)
            n_rows = len(words) + (model.bucket if model.word_ngrams > 1 else 0)
            vectors = {}
            for name, rows in (("input_vectors", n_rows), ("inner_node_vectors", max(tree.n_inner, 1))):
                array = archive.array(name, np.float32, (rows, model.dim), mmap=mmap == "r")
                vectors[name] = check_finite(array, name, where)
        if not isinstance(model.tree, str):
            try:  # the saved hierarchy must still be valid
                model._build_tree(classes, class_counts)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from error
        losses, skipped = metadata.get("training_loss", []), metadata.get("n_skipped_texts", 0)
        if not isinstance(losses, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                   for x in losses):
            raise ValueError(f"{where}: training_loss must be a list of numbers")
        if isinstance(skipped, bool) or not isinstance(skipped, int) or skipped < 0:
            raise ValueError(f"{where}: n_skipped_texts must be a non-negative integer")
        model.tree_ = tree
        model.vocabulary_ = {word: index for index, word in enumerate(words)}
        model.word_counts_ = word_counts
        model.classes_ = np.array(classes)
        model.class_counts_ = class_counts
        model._class_index = {label: index for index, label in enumerate(classes)}
        model.input_vectors_ = vectors["input_vectors"]
        model.inner_node_vectors_ = vectors["inner_node_vectors"]
        model.training_loss_ = list(losses)
        model.n_skipped_texts_ = skipped
        return model


# ----------------------------------------------------------------------------- reference (the tests' oracle)
