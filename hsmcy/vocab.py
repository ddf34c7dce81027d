"""The vocabulary: which words are kept, their counts, and how often each is down-sampled.

Rules follow gensim's ``Word2Vec`` so that the same corpus and parameters give the
same vocabulary, in the same order:

* ``max_vocab_size``: only the ``max_vocab_size`` most frequent raw words are
  considered.  (gensim prunes approximately while counting, to bound memory; we
  count every word exactly and then keep the most frequent, which is what gensim's
  pruning approximates.)
* ``min_count``: words rarer than this are dropped; ``trim_rule(word, count,
  min_count)`` may override that per word, as in gensim.
* ``max_final_vocab``: if more words survive, ``min_count`` is raised until at most
  that many do (gensim's rule: one above the count of the first word that does not fit).
* ``sorted_vocab``: by descending count; ties put the word seen *later* first
  (gensim's ``sort_by_descending_frequency``).
* ``sample``: a word with count ``c`` is kept with probability
  ``(sqrt(c / t) + 1) * t / c`` (at most 1), where ``t = sample * total``
  (``sample >= 1`` means the threshold count itself, as gensim's shorthand).
"""
from __future__ import annotations

import logging

import numpy as np

from .tree import check_counts

logger = logging.getLogger(__name__)

__all__ = ["Vocabulary", "keep_probabilities"]

RULE_DEFAULT, RULE_DISCARD, RULE_KEEP = 0, 1, 2  # gensim.utils values


def keep_probabilities(counts, sample) -> np.ndarray:
    """Probability of keeping each occurrence of a word under down-sampling."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if not sample or total == 0:
        return np.ones(len(counts), dtype=np.float32)
    threshold = sample * total if sample < 1.0 else int(sample * (3 + np.sqrt(5)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        probability = (np.sqrt(counts / threshold) + 1) * (threshold / counts)
    probability[~np.isfinite(probability)] = 1.0
    return np.minimum(probability, 1.0).astype(np.float32)


class Vocabulary:
    """Final vocabulary: ``words[i]`` has id ``i`` and occurs ``counts[i]`` times."""

    def __init__(self, words, counts, sample=1e-3):
        self.words = list(words)
        if len(self.words) != len(counts):
            raise ValueError(f"vocabulary: {len(self.words)} words but {len(counts)} counts")
        # checked before conversion: 3.7 is refused, not truncated to 3; the total must fit int64
        self.counts = check_counts(counts, len(self.words), "vocabulary: count", names=self.words)
        self.word_index = {word: i for i, word in enumerate(self.words)}
        if len(self.word_index) != len(self.words):
            raise ValueError("vocabulary: words must be unique")
        self.keep_probability = keep_probabilities(self.counts, sample)

    def __len__(self):
        return len(self.words)

    @classmethod
    def from_raw_counts(cls, raw_words, raw_counts, *, min_count=5, max_vocab_size=None, max_final_vocab=None,
                        sample=1e-3, sorted_vocab=True, trim_rule=None):
        """Apply gensim's vocabulary rules to raw counts.

        Returns
        -------
        vocabulary : Vocabulary
        remap : ndarray of int32
            ``remap[raw_id]`` is the word's vocabulary id, or -1 if it was dropped.
        """
        if len(raw_words) != len(raw_counts):
            raise ValueError(f"vocabulary: {len(raw_words)} words but {len(raw_counts)} counts")
        raw_counts = check_counts(raw_counts, len(raw_counts), "count", names=raw_words)
        candidates = np.arange(len(raw_counts))
        if max_vocab_size is not None and len(candidates) > max_vocab_size:
            by_count = np.argsort(-raw_counts, kind="stable")[:max_vocab_size]
            candidates = np.sort(by_count)
        counts = raw_counts[candidates]
        keep = counts >= min_count
        if trim_rule is not None:
            for position, raw_id in enumerate(candidates):
                rule = trim_rule(raw_words[raw_id], int(counts[position]), min_count)
                if rule == RULE_KEEP:
                    keep[position] = True
                elif rule == RULE_DISCARD:
                    keep[position] = False
        if max_final_vocab is not None and keep.sum() > max_final_vocab:
            kept_counts = np.sort(counts[keep])[::-1]
            raised_min_count = int(kept_counts[max_final_vocab]) + 1
            logger.info("max_final_vocab=%d raises min_count from %d to %d", max_final_vocab, min_count,
                        raised_min_count)
            keep &= counts >= raised_min_count
        retained = candidates[keep]
        if sorted_vocab:
            # gensim's order: descending count, ties by *descending* first appearance.
            retained = retained[np.lexsort((-retained, -raw_counts[retained]))]
        remap = np.full(len(raw_counts), -1, dtype=np.int32)
        remap[retained] = np.arange(len(retained), dtype=np.int32)
        vocabulary = cls([raw_words[i] for i in retained], raw_counts[retained], sample=sample)
        logger.info("min_count=%d retains %d unique words (%.2f%% of %d), %d of %d tokens",
                    min_count, len(retained), 100.0 * len(retained) / max(len(raw_counts), 1), len(raw_counts),
                    int(vocabulary.counts.sum()), int(raw_counts.sum()))
        return vocabulary, remap
