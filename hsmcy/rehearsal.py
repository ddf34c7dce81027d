"""Rehearsal: keep a sample of the text a model learnt from, and train it again beside new text.

Why
---
Training a grown model (``build_vocab(update=True)``) on the new text alone moves every
vector it touches toward what that text says, and away from what the earlier text
taught: with the same two training calls and no vocabulary change at all, analogy
accuracy on the old words ends 3-4 points below one run over both texts
(docs/online.md, "Why the second call forgets").  The tree is not the cause; the
missing old text is.  Neural-network practice calls the cure *rehearsal* (or
experience replay): keep some of the old examples and mix them into the new ones.

What
----
A model keeps a uniform random sample of the sentences of its training calls, as
vocabulary ids, up to ``rehearsal_words`` words (4 bytes a word).  Ids stay valid across
an update because old words keep their ids (new ones are appended).  A training call
after ``build_vocab(update=True)`` trains the new sentences interleaved with sampled
old sentences: as many old words as the sample holds, but never more than the new text
has, so the call costs at most twice the new text.  When the sample holds all of the
old text and the new text is as large, this is one more run over both texts, which is
what closes the gap.

The sample is uniform over every sentence the model has been trained on: after a call
on ``n`` new words, with ``W`` words seen before, each sentence ends up in the sample with
probability ``q = min(1, rehearsal_words / (W + n))`` (old sampled sentences are kept with
probability ``q / q_before``).  The draws come from the model's seed and the number of
completed training calls, so an interrupted call resumes on the same mixture.
"""
from __future__ import annotations

import numpy as np

from . import corpus as corpus_io

__all__ = ["RehearsalSample", "DEFAULT_REHEARSAL_WORDS"]

# 10M words (40 MB of ids) by default: all of a corpus of that size, and a useful
# sample of a larger one.  0 turns rehearsal off (gensim's behaviour).
DEFAULT_REHEARSAL_WORDS = 10_000_000

# Names the random streams, apart from every other use of the model's seed.
_STREAM = 0x72656865   # "rehe"


def _rng(seed, calls, purpose):
    return np.random.default_rng([int(seed), int(calls), _STREAM, purpose])


# Read at most about this many tokens of a corpus at once (a buffer file's, too).
_BLOCK_TOKENS = 1 << 18
# Old sentences are spread over the new text in this many blocks (fewer for a small text).
_MIX_BLOCKS = 4096


def _positions(starts, sizes):
    """Every position of every run: ``starts[i], ..., starts[i] + sizes[i] - 1``, runs in order."""
    return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))


def _sentence_blocks(corpus):
    """``(first, bounds)`` per block of whole sentences: ``bounds`` (int64, in memory) are
    ``sentence_bounds[first:first + len(bounds)]``; a block spans at most ~_BLOCK_TOKENS
    tokens, or one sentence."""
    all_bounds, n = corpus.sentence_bounds, corpus.n_sentences
    first = 0
    while first < n:
        bounds = np.asarray(all_bounds[first:min(first + 65536, n) + 1], dtype=np.int64)
        fit = int(np.searchsorted(bounds, bounds[0] + _BLOCK_TOKENS, side="right")) - 1
        bounds = bounds[:max(fit, 1) + 1]
        yield first, bounds
        first += len(bounds) - 1


def _chosen_sizes(corpus, keep):
    """Lengths of the sentences ``keep`` (a boolean mask) of ``corpus``, in order."""
    return np.concatenate([np.diff(bounds)[keep[first:first + len(bounds) - 1]]
                           for first, bounds in _sentence_blocks(corpus)] or [np.zeros(0, np.int64)])


def _gather(corpus, keep, out, at):
    """Copy the sentences ``keep`` of ``corpus``, in order, into ``out[at:]``; returns the new ``at``."""
    for first, bounds in _sentence_blocks(corpus):
        chosen = np.flatnonzero(keep[first:first + len(bounds) - 1])
        if not len(chosen):
            continue
        ids = np.asarray(corpus.token_ids[int(bounds[0]):int(bounds[-1])])
        positions = _positions(bounds[chosen] - bounds[0], bounds[chosen + 1] - bounds[chosen])
        out[at:at + len(positions)] = ids[positions]
        at += len(positions)
    return at


class RehearsalSample:
    """A uniform sample of the sentences a model was trained on (vocabulary ids).

    Attributes
    ----------
    token_ids : int32 array
    sentence_bounds : int64 array, ``n_sentences + 1`` entries from 0
    words_seen : int
        Words (in-vocabulary tokens) of all the sentences it was drawn from.
    inclusion : float
        The probability with which each of those sentences is in the sample.
    """

    def __init__(self, token_ids=None, sentence_bounds=None, words_seen=0, inclusion=1.0):
        self.token_ids = np.zeros(0, np.int32) if token_ids is None else token_ids
        self.sentence_bounds = np.zeros(1, np.int64) if sentence_bounds is None else sentence_bounds
        self.words_seen = int(words_seen)
        self.inclusion = float(inclusion)

    @property
    def n_words(self) -> int:
        return len(self.token_ids)

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_bounds) - 1

    def check(self, vocab_size, where="the rehearsal sample"):
        """Raise ``ValueError`` unless the sample is well formed for a ``vocab_size`` vocabulary."""
        ids, bounds = self.token_ids, self.sentence_bounds
        if not (isinstance(ids, np.ndarray) and ids.dtype == np.int32 and ids.ndim == 1):
            raise ValueError(f"{where}: token ids must be a 1-D int32 array")
        if not (isinstance(bounds, np.ndarray) and bounds.dtype == np.int64 and bounds.ndim == 1 and len(bounds)
                and bounds[0] == 0 and bounds[-1] == len(ids) and np.all(np.diff(bounds) >= 0)):
            raise ValueError(f"{where}: sentence bounds must be int64, start at 0, never decrease and end at "
                             "the number of token ids")
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"{where}: word ids must lie in [0, {vocab_size})")
        if not (isinstance(self.words_seen, int) and self.words_seen >= len(ids)):
            raise ValueError(f"{where}: words_seen must be an integer >= the sample's size")
        if not 0.0 < self.inclusion <= 1.0:
            raise ValueError(f"{where}: inclusion must lie in (0, 1], got {self.inclusion!r}")

    def after_training_on(self, corpus, budget, seed, calls):
        """The sample once ``corpus`` (an EncodedCorpus just trained on) is part of what was seen."""
        words_seen = self.words_seen + corpus.n_words
        if budget <= 0 or words_seen == 0:
            return RehearsalSample(words_seen=words_seen)
        inclusion = min(1.0, budget / words_seen)
        rng = _rng(seed, calls, 1)
        keep_old = rng.random(self.n_sentences) < inclusion / self.inclusion
        keep_new = rng.random(corpus.n_sentences) < inclusion
        sizes = np.concatenate([np.diff(self.sentence_bounds)[keep_old], _chosen_sizes(corpus, keep_new)])
        if sizes.sum() > budget:   # a hard cap: drop whole sentences at random
            order = rng.permutation(len(sizes))
            kept = np.zeros(len(sizes), dtype=bool)
            kept[order[np.cumsum(sizes[order]) <= budget]] = True
            n_old = int(keep_old.sum())
            keep_old[np.flatnonzero(keep_old)[~kept[:n_old]]] = False
            keep_new[np.flatnonzero(keep_new)[~kept[n_old:]]] = False
            sizes = sizes[kept]
        # one array for the sample: it is made while the trained corpus is still held
        token_ids = np.empty(int(sizes.sum()), dtype=np.int32)
        at = _gather(self.as_corpus(), keep_old, token_ids, 0)
        _gather(corpus, keep_new, token_ids, at)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return RehearsalSample(token_ids, bounds, words_seen, inclusion)

    def as_corpus(self):
        return corpus_io.EncodedCorpus(self.token_ids, self.sentence_bounds)

    def mixed_into(self, corpus, seed, calls):
        """``corpus`` (in memory) with sampled sentences interleaved: at most as many old words as it has.

        Returns ``(mixed EncodedCorpus, old words added)``.  The old sentences, drawn in
        random order, are spread evenly among the new ones (in up to ``_MIX_BLOCKS``
        blocks), so every part of the call, and of its falling learning rate, sees both.
        """
        rng = _rng(seed, calls, 2)
        # old sentences in random order, as many as fit in the new text's number of words
        order = rng.permutation(self.n_sentences)
        old_sizes = np.diff(self.sentence_bounds)[order]
        fits = np.cumsum(old_sizes) <= corpus.n_words
        order, old_sizes = order[fits], old_sizes[fits]
        if not len(order):
            return corpus, 0
        n_new, n_old, old_words = corpus.n_sentences, len(order), int(old_sizes.sum())
        new_bounds = np.asarray(corpus.sentence_bounds, dtype=np.int64)
        blocks = max(1, min(n_new, n_old, _MIX_BLOCKS))
        new_cut = np.arange(blocks + 1) * n_new // blocks     # block b: new sentences new_cut[b]:new_cut[b + 1]
        old_cut = np.arange(blocks + 1) * n_old // blocks     # then old ones old_cut[b]:old_cut[b + 1]
        token_ids = np.empty(corpus.n_words + old_words, dtype=np.int32)
        bounds = np.empty(n_new + n_old + 1, dtype=np.int64)
        bounds[0] = at = sentence = 0
        for b in range(blocks):
            first, last = new_cut[b], new_cut[b + 1]
            low, high = new_bounds[first], new_bounds[last]
            token_ids[at:at + high - low] = corpus.token_ids[low:high]
            bounds[sentence + 1:sentence + 1 + last - first] = new_bounds[first + 1:last + 1] - low + at
            at, sentence = at + high - low, sentence + last - first
            sizes = old_sizes[old_cut[b]:old_cut[b + 1]]
            starts = self.sentence_bounds[order[old_cut[b]:old_cut[b + 1]]]
            positions = _positions(starts, sizes)
            token_ids[at:at + len(positions)] = self.token_ids[positions]
            bounds[sentence + 1:sentence + 1 + len(sizes)] = at + np.cumsum(sizes)
            at, sentence = at + len(positions), sentence + len(sizes)
        mixed = corpus_io.EncodedCorpus(token_ids, bounds.astype(corpus_io.bounds_dtype(len(token_ids))),
                                        raw_words=corpus.raw_words + old_words)
        return mixed, old_words
