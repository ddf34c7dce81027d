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


def _sentences_of(corpus, keep):
    """``(token_ids, bounds)`` of the sentences ``keep`` (a boolean mask) of ``corpus``, in order.

    Reads a buffer-file corpus chunk by chunk (never all of it at once).
    """
    bounds = corpus.sentence_bounds
    pieces, lengths = [], []
    step = 1 << 16
    for first in range(0, len(keep), step):
        chosen = np.flatnonzero(keep[first:first + step])
        if not len(chosen):
            continue
        block_bounds = np.asarray(bounds[first:min(first + step, len(keep)) + 1], dtype=np.int64)
        ids = np.asarray(corpus.token_ids[int(block_bounds[0]):int(block_bounds[-1])])
        starts = block_bounds[chosen] - block_bounds[0]
        ends = block_bounds[chosen + 1] - block_bounds[0]
        sizes = ends - starts
        # every position of every chosen sentence: starts[i], ..., ends[i] - 1
        offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        pieces.append(ids[offsets])
        lengths.append(sizes)
    token_ids = np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.zeros(0, np.int32)
    sizes = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    return token_ids, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


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
        old_ids, old_bounds = _sentences_of(self.as_corpus(), keep_old)
        new_ids, new_bounds = _sentences_of(corpus, keep_new)
        token_ids = np.concatenate([old_ids, new_ids])
        bounds = np.concatenate([old_bounds, new_bounds[1:] + old_bounds[-1]])
        if len(token_ids) > budget:   # a hard cap: drop whole sentences at random
            order = rng.permutation(len(bounds) - 1)
            sizes = np.diff(bounds)[order]
            keep = np.zeros(len(bounds) - 1, dtype=bool)
            keep[order[np.cumsum(sizes) <= budget]] = True
            token_ids, bounds = _sentences_of(corpus_io.EncodedCorpus(token_ids, bounds), keep)
        return RehearsalSample(token_ids, bounds, words_seen, inclusion)

    def as_corpus(self):
        return corpus_io.EncodedCorpus(self.token_ids, self.sentence_bounds)

    def mixed_into(self, corpus, seed, calls):
        """``corpus`` with sampled sentences interleaved: at most as many old words as ``corpus`` has.

        Returns ``(mixed EncodedCorpus, old words added)``.  The old sentences are spread
        evenly among the new ones, so every part of the call (and of its falling
        learning rate) sees both.
        """
        rng = _rng(seed, calls, 2)
        # old sentences in random order, as many as fit in the new text's number of words
        order = rng.permutation(self.n_sentences)
        sizes = np.diff(self.sentence_bounds)[order]
        order = order[np.cumsum(sizes) <= corpus.n_words]
        if not len(order):
            return corpus, 0
        keep = np.zeros(self.n_sentences, dtype=bool)
        keep[order] = True
        old_ids, old_bounds = _sentences_of(self.as_corpus(), keep)   # in sample order
        n_old, n_new = len(order), corpus.n_sentences
        old_order = np.searchsorted(np.sort(order), order)   # the drawn order, as positions in old_ids
        new_ids = np.asarray(corpus.token_ids[:corpus.n_words])
        new_bounds = np.asarray(corpus.sentence_bounds, dtype=np.int64)
        # sentence k of each part goes to position (k + 0.5) / count: an even interleave
        where = np.concatenate([(np.arange(n_new) + 0.5) / n_new, (np.arange(n_old) + 0.5) / n_old])
        source = np.concatenate([np.zeros(n_new, np.int8), np.ones(n_old, np.int8)])
        index = np.concatenate([np.arange(n_new), old_order])
        sequence = np.argsort(where, kind="stable")
        all_ids = np.concatenate([new_ids, old_ids])
        starts = np.concatenate([new_bounds[:-1], old_bounds[:-1] + len(new_ids)])
        sizes = np.concatenate([np.diff(new_bounds), np.diff(old_bounds)])
        pick = np.where(source[sequence] == 0, index[sequence], n_new + index[sequence])
        chosen_starts, chosen_sizes = starts[pick], sizes[pick]
        offsets = (np.repeat(chosen_starts - np.cumsum(chosen_sizes) + chosen_sizes, chosen_sizes)
                   + np.arange(int(chosen_sizes.sum())))
        bounds = np.concatenate([[0], np.cumsum(chosen_sizes)])
        mixed = corpus_io.EncodedCorpus(all_ids[offsets].astype(np.int32, copy=False),
                                        bounds.astype(corpus_io.bounds_dtype(len(offsets))),
                                        raw_words=corpus.raw_words + len(old_ids))
        return mixed, len(old_ids)
