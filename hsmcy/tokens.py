"""Texts to tokens, and tokens to the rows of a classifier: tokenising, labels, n-gram hashing.

Used by :class:`hsmcy.HSClassifier`.  A text is a string (split on whitespace) or a
list of string tokens; its features are its words and, with ``word_ngrams = n > 1``,
its word 2- to n-grams, each hashed into one of ``bucket`` rows (fastText's scheme:
a rolling hash of stable per-token hashes, so a model's n-gram rows are the same in
every process).
"""
from __future__ import annotations

import hashlib
import itertools
import numbers

import numpy as np

__all__ = ["as_list", "hashed_ngrams", "is_label", "labels_per_text", "token_hash", "tokenize", "unique_codes"]

# Multiplier of the rolling n-gram hash (an odd 64-bit constant: 2^64 / golden ratio).
NGRAM_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def is_label(value):
    return isinstance(value, (str, numbers.Integral)) and not isinstance(value, (bool, np.bool_))


# A token that whitespace splitting can never produce inside a text is not available
# (a text may hold any character), so the fast path checks that the separator shows
# up exactly where it was put, and falls back to splitting text by text otherwise.
_SEPARATOR = "\x00"


def as_list(values, what, kind):
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of {kind}, not a single string; wrap it in a list")
    try:
        return list(values)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of {kind}, got {type(values).__name__}") from None


def tokenize(texts, what="texts"):
    """Texts (strings split on whitespace, or token lists) -> (codes, distinct, lengths).

    ``distinct`` lists the distinct tokens in order of first appearance, ``codes``
    (int64) numbers every token of every text by that list, ``lengths`` (int64) is the
    number of tokens of each text.  No Python list per text is kept alive, so
    millions of texts cost neither memory nor garbage-collector time.
    """
    texts = as_list(texts, what, "texts (strings or token lists)")
    if not texts:
        raise ValueError(f"{what} is empty")
    if all(type(text) is str for text in texts):
        # One C-level split of all texts joined by a separator token, then drop the separators.
        codes, distinct = unique_codes(f" {_SEPARATOR} ".join(texts).split())
        if len(texts) == 1 or _SEPARATOR not in distinct:
            lengths = np.array([len(codes)], dtype=np.int64)
            if len(texts) == 1:
                return _check_nonempty(codes, distinct, lengths, what)
        else:
            separator = distinct.index(_SEPARATOR)
            at_separator = np.flatnonzero(codes == separator)
            if len(at_separator) == len(texts) - 1:
                lengths = np.diff(np.concatenate([[-1], at_separator, [len(codes)]])) - 1
                codes = np.delete(codes, at_separator)
                codes -= codes > separator
                del distinct[separator]
                return _check_nonempty(codes, distinct, lengths, what)
    tokens, lengths = [], np.empty(len(texts), dtype=np.int64)
    for position, text in enumerate(texts):
        if isinstance(text, str):
            text_tokens = text.split()
        elif isinstance(text, (list, tuple)):
            text_tokens = text
            if not all(type(token) is str for token in text_tokens):
                bad = next(token for token in text_tokens if not isinstance(token, str))
                raise TypeError(f"{what}[{position}] holds a {type(bad).__name__}; tokens must be strings")
        else:
            raise TypeError(f"{what}[{position}] is a {type(text).__name__}; a text must be a string or a "
                            "list of string tokens")
        tokens.extend(text_tokens)
        lengths[position] = len(text_tokens)
    codes, distinct = unique_codes(tokens)
    return _check_nonempty(codes, distinct, lengths, what)


def _check_nonempty(codes, distinct, lengths, what):
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        raise ValueError(f"{what}[{empty[0]}] is empty (no tokens)")
    return codes, distinct, lengths


def labels_per_text(labels, n_texts, what="labels"):
    """One label or a list of labels per text -> (flat labels, label_bounds int64)."""
    labels = as_list(labels, what, "labels (one label or a list of labels per text)")
    if len(labels) != n_texts:
        raise ValueError(f"{what} has {len(labels)} entries for {n_texts} texts")
    if all(type(label) is str for label in labels) or all(type(label) is int for label in labels):
        return labels, np.arange(n_texts + 1, dtype=np.int64)  # the common case: one label per text
    flat, counts = [], np.empty(n_texts, dtype=np.int64)
    for position, item in enumerate(labels):
        if is_label(item):
            item = [item]
        elif isinstance(item, (list, tuple, set, frozenset, np.ndarray)):
            item = list(item)
            if not item:
                raise ValueError(f"{what}[{position}] is an empty list of labels")
            bad = [label for label in item if not is_label(label)]
            if bad:
                raise TypeError(f"{what}[{position}] holds {bad[0]!r}; labels must be strings or integers")
        else:
            raise TypeError(f"{what}[{position}] is {item!r}; a label must be a string or an integer "
                            "(or a list of them)")
        flat.extend(label if isinstance(label, str) else int(label) for label in item)
        counts[position] = len(item)
    bounds = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return flat, bounds


def unique_codes(tokens):
    """Number the distinct tokens in order of first appearance: (codes int64, distinct tokens)."""
    first_position = {}
    # setdefault keeps the position of each token's first occurrence (all C-level iteration)
    positions = np.fromiter(map(first_position.setdefault, tokens, itertools.count()), dtype=np.int64,
                            count=len(tokens))
    is_first = positions == np.arange(len(positions))
    rank = np.cumsum(is_first) - 1
    return rank[positions], list(first_position)


def token_hash(token):
    """Stable 64-bit hash of a token (same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def hashed_ngrams(codes, lengths, distinct, word_ngrams, bucket):
    """The hashed word n-grams (n = 2 .. ``word_ngrams``) of every text.

    ``codes`` number the ``distinct`` tokens of all texts laid end to end, text ``i``
    holding ``lengths[i]`` of them (:func:`tokenize`).  N-grams run over all tokens,
    in or out of a vocabulary.  Yields, for each ``n``, ``(rows, first)``: the bucket
    row (``0 .. bucket - 1``, int64) of every n-gram and the position of its first
    token in ``codes``.
    """
    if word_ngrams < 2:
        return
    hash_of_distinct = np.fromiter((token_hash(token) for token in distinct), dtype=np.uint64, count=len(distinct))
    token_hashes = hash_of_distinct[codes]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position_in_text = np.arange(len(codes), dtype=np.int64) - starts
    remaining = np.repeat(lengths, lengths) - position_in_text  # tokens from here to the end of the text
    longest = int(lengths.max()) if len(lengths) else 0
    for n in range(2, min(word_ngrams, longest) + 1):   # no text has an n-gram longer than itself
        first = np.flatnonzero(remaining >= n)
        rolling = token_hashes[first].copy()
        for offset in range(1, n):
            rolling = rolling * NGRAM_HASH_MULTIPLIER + token_hashes[first + offset]
        yield (rolling % np.uint64(bucket)).astype(np.int64), first
