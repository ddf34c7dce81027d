"""Word2Vec with hierarchical softmax: gensim's API on hsmcy's kernels.

``hsmcy.Word2Vec`` takes gensim's constructor arguments and methods
(``build_vocab``, ``train``, ``wv``, ``syn1``, ``get_latest_training_loss``) so that
code written for ``gensim.models.Word2Vec(hs=1, negative=0)`` runs unchanged.  Its
``wv`` *is* a :class:`gensim.models.KeyedVectors`, so every gensim tool works on it.

What differs from gensim, on purpose:

* the gradient is exact: nodes whose sigmoid saturates (``|h.v| >= 6``) are still
  updated, where gensim and word2vec.c skip them;
* a corpus is read and encoded once (``build_vocab``); ``train`` on the same corpus
  reuses the encoded ids, and every epoch runs on them without Python token work;
* sentences longer than 10,000 tokens are trained whole (gensim truncates them);
* ``compute_loss`` sums the exact loss per worker in double precision;
* the model file format (``save``/``load``) holds no pickle.
"""
from __future__ import annotations

import logging
import math
import numbers
import os
import threading
import time

import numpy as np
from gensim.models import KeyedVectors

from . import corpus as corpus_io
from . import persistence
from ._training import DEFAULT_KERNEL, KERNELS, MAX_WORKERS, TrainingRun, private_tree_rows
from .checks import all_finite, check_integer
from .memory import CACHE_LINE, aligned_zeros, check_fits_in_memory, return_free_memory
from .progress import TrainingProgress
from .rehearsal import DEFAULT_REHEARSAL_WORDS, RehearsalSample
from .tree import HuffmanTree, check_counts
from .vocab import Vocabulary, keep_probabilities

logger = logging.getLogger(__name__)

__all__ = ["Word2Vec"]


# The kernels take the window as a C int.
_MAX_WINDOW = 2**31 - 1

#: ``build_vocab(update=True)`` logs a warning suggesting :meth:`Word2Vec.rebuild_tree` when the
#: grown tree's mean path length per word occurrence exceeds a fresh Huffman tree's by this factor.
REBUILD_SUGGESTED_ABOVE = 1.05


_check_int = check_integer


def _check_float(name, value, minimum=None, strictly_above=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_above is not None and value <= strictly_above:
        raise ValueError(f"{name} must be > {strictly_above}, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value



def refill_norms(keyed_vectors):
    """The vectors of ``keyed_vectors`` moved: norms a reader had gensim fill are filled again.

    Not reset to ``None`` (gensim's other sanctioned way): a ``most_similar`` in
    another thread between its ``fill_norms()`` and its use of ``norms`` would then
    fail with a TypeError.  Norms nobody asked for stay unfilled (lazy).
    """
    if keyed_vectors.norms is not None:
        keyed_vectors.fill_norms(force=True)

class Word2Vec:
    """Word vectors trained with hierarchical softmax (skip-gram or CBOW).

    Parameters follow :class:`gensim.models.Word2Vec`; those that select negative
    sampling are refused, since this package is hierarchical softmax.

    Parameters
    ----------
    sentences : iterable of list of str, optional
        A re-iterable corpus of token lists.  If given (or ``corpus_file``), the
        vocabulary is built and the model trained right away.
    corpus_file : str or PathLike, optional
        A UTF-8 text file, one sentence per line, tokens separated by whitespace.
        Invalid UTF-8 is replaced, not fatal.
    vector_size : int, default 100
    alpha : float, default 0.025
        Initial learning rate.
    window : int, default 5
        Maximum distance between the centre word and a context word.
    min_count : int, default 5
        Words with fewer occurrences are ignored.
    max_vocab_size : int, optional
        Consider only this many most frequent raw words.
    sample : float, default 1e-3
        Down-sampling threshold for frequent words (0 disables).
    seed : int, default 1
        Seeds the initial vectors and the worker random streams.
    workers : int, default 3
        Training threads (at most 1,024).
    min_alpha : float, default 0.0001
        Learning rate at the end of training (linear decay).
    sg : {0, 1}, default 0
        1 for skip-gram, 0 for CBOW.
    hs : {1}, default 1
        Must be 1.
    negative : {0}, default 0
        Must be 0.
    cbow_mean : {0, 1}, default 1
        CBOW hidden vector: 1 = mean of the context vectors, 0 = their sum.
    epochs : int, default 5
    sorted_vocab : {0, 1}, default 1
        Sort the vocabulary by descending count.
    batch_words : int, default 10000
        Target words per job; each job is one ``nogil`` kernel call.
    compute_loss : bool, default False
        Sum the training loss (see :meth:`get_latest_training_loss`).
    callbacks : sequence of gensim ``CallbackAny2Vec``, optional
    max_final_vocab : int, optional
        Raise ``min_count`` until at most this many words remain.
    shrink_windows : bool, default True
        Draw each window size uniformly from 1..``window``, as word2vec.c.
    trim_rule : callable, optional
        gensim's ``trim_rule(word, count, min_count)`` vocabulary hook.
    corpus_buffer : str or PathLike, optional
        Keep the encoded corpus (4 bytes per token, 8 per sentence) in a file
        instead of in RAM: for corpora larger than memory.  A directory: an unnamed
        file in it, private to this model and this corpus, whose space is freed
        when the model no longer needs it (after training), or when the process
        ends, however it ends.  A file path: the buffer is written under a temporary
        name beside it and then renamed to it (replacing a file there; another
        model still reading that one keeps it); the corpus file itself is refused.
        ``build_vocab`` writes it and training reads it chunk by chunk with
        ``pread``/``pwrite`` (never memory-mapped), so the process's resident memory
        does not grow with the corpus (the OS page cache may still hold the file),
        and a buffer changed or shortened by another process is a ``ValueError``
        naming it.
    kernel : {"fast", "blas"}, default "fast"
        The training kernel (saved with the model).  ``"fast"``: skip-gram one window
        at a time (all context words of a centre word share its path, so each path
        row is read and written once per window; ``hsmcy.reference.sg_window_step``),
        in hand-vectorised C, with private copies of the top of the tree per worker;
        it does not call BLAS.  ``"blas"``: pair by pair, exactly as word2vec.c and
        gensim order the updates (``hsmcy.reference.sg_pair_step``), every dot product
        and row update a BLAS call (``scipy.linalg.cython_blas``): the readable kernel,
        about gensim's speed, 3-4x slower than ``"fast"``.  CBOW takes the same step in
        both, vectorised or through BLAS.
    rehearsal_words : int, default 10,000,000
        Online training (``build_vocab(update=True)``): the model keeps a uniform
        random sample of the sentences it was trained on, up to this many words (4
        bytes a word, saved with the model), and every ``train()`` call after a
        vocabulary update trains sampled old sentences interleaved with the new ones
        (at most as many old words as the new text has), so that the old text is not
        forgotten (:mod:`hsmcy.rehearsal`, docs/online.md).  0: no sample, and
        training after an update sees the new text only, as in gensim.
    null_word, hashfxn, ns_exponent, comment :
        Accepted for signature compatibility with gensim; they do not affect
        hierarchical-softmax training (``null_word`` must be 0).

    Attributes
    ----------
    wv : gensim.models.KeyedVectors
        The word vectors (``wv.vectors`` is trained in place).
    syn1 : ndarray of float32, shape (len(wv), vector_size)
        Inner-node vectors in gensim's layout: row ``i < V-1`` is inner node ``i``
        (the root is ``V-2``); the last row is unused and stays zero.
    tree : hsmcy.BinaryTree
        Every word's path: ``tree.path(i)`` is gensim's ``(point, code)`` of word ``i``.
    training_state : dict or None
        Where an unfinished ``train()`` stopped (Ctrl-C, an error, or a checkpoint
        saved mid-run); :meth:`resume_training` continues from it.  ``None`` once a
        run has finished.  Saved with the model.
    rehearsal_sample_words : (int, int)
        Words in the rehearsal sample, and words of training text it was drawn from.
    last_rehearsed_words : int
        Words of earlier text that the last ``train()`` interleaved with its corpus
        in each epoch (0 unless it followed a vocabulary update); ``train()``'s
        returned counts include them.

    Examples
    --------
    Train in one call (the vocabulary is built, then the model trained):

    >>> from gensim.test.utils import datapath
    >>> from hsmcy import Word2Vec
    >>> model = Word2Vec(corpus_file=datapath("lee_background.cor"), vector_size=50, epochs=2, workers=2)
    >>> model.wv.most_similar("government", topn=3)  # doctest: +SKIP

    Or in steps, with a progress bar, the loss and gensim callbacks:

    >>> model = Word2Vec(vector_size=50, sg=1, epochs=2, workers=2)
    >>> model.build_vocab(corpus_file=datapath("lee_background.cor"))
    >>> trained, seen = model.train(corpus_file=datapath("lee_background.cor"), epochs=model.epochs,
    ...                             compute_loss=True, progress=False)
    >>> model.get_latest_training_loss() > 0
    True

    ``wv`` is a gensim ``KeyedVectors``; the whole model goes to gensim and back, or to
    a pickle-free file:

    >>> gensim_model = model.to_gensim()  # gensim.models.Word2Vec(hs=1, negative=0)
    >>> model.save("model.hsmcy"); model = Word2Vec.load("model.hsmcy")  # doctest: +SKIP
    >>> model.predict_output_word(["Prime", "John", "Howard"], topn=3)  # doctest: +SKIP
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, alpha=0.025, window=5, min_count=5,
                 max_vocab_size=None, sample=1e-3, seed=1, workers=3, min_alpha=0.0001, sg=0, hs=1, negative=0,
                 ns_exponent=0.75, cbow_mean=1, hashfxn=hash, epochs=5, null_word=0, trim_rule=None,
                 sorted_vocab=1, batch_words=10000, compute_loss=False, callbacks=(), comment=None,
                 max_final_vocab=None, shrink_windows=True, corpus_buffer=None, kernel=DEFAULT_KERNEL,
                 rehearsal_words=DEFAULT_REHEARSAL_WORDS):
        if hs != 1:
            raise ValueError(f"hs must be 1: hsmcy trains hierarchical softmax only (got hs={hs!r}); "
                             "use gensim for negative sampling")
        if negative:
            raise ValueError(f"negative must be 0: hsmcy trains hierarchical softmax only (got negative={negative!r})")
        if null_word:
            raise ValueError("null_word is not supported (it only pads CBOW windows for negative sampling in gensim)")
        self.vector_size = _check_int("vector_size", vector_size, 1)
        self.alpha = _check_float("alpha", alpha, strictly_above=0.0)
        self.min_alpha = _check_float("min_alpha", min_alpha, minimum=0.0)
        self.window = _check_int("window", window, 1, _MAX_WINDOW)
        self.min_count = _check_int("min_count", min_count, 0)
        self.max_vocab_size = None if max_vocab_size is None else _check_int("max_vocab_size", max_vocab_size, 1)
        self.max_final_vocab = None if max_final_vocab is None else _check_int("max_final_vocab", max_final_vocab, 1)
        self.sample = _check_float("sample", sample, minimum=0.0)
        self.seed = _check_int("seed", seed, 0)
        self.workers = _check_int("workers", workers, 1, MAX_WORKERS)
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel = kernel
        self.rehearsal_words = _check_int("rehearsal_words", rehearsal_words, 0)
        if sg not in (0, 1, True, False):
            raise ValueError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {sg!r}")
        self.sg = int(sg)
        if cbow_mean not in (0, 1, True, False):
            raise ValueError(f"cbow_mean must be 0 or 1, got {cbow_mean!r}")
        self.cbow_mean = int(cbow_mean)
        self.epochs = _check_int("epochs", epochs, 1)
        self.sorted_vocab = int(bool(sorted_vocab))
        self.batch_words = _check_int("batch_words", batch_words, 1)
        self.compute_loss = bool(compute_loss)
        self.callbacks = tuple(callbacks or ())
        self.shrink_windows = bool(shrink_windows)
        self.trim_rule = trim_rule
        self.corpus_buffer = corpus_buffer
        self.hs, self.negative = 1, 0
        self.ns_exponent, self.hashfxn, self.null_word, self.comment = ns_exponent, hashfxn, 0, comment

        self.wv = KeyedVectors(self.vector_size)
        self.syn1 = np.zeros((0, self.vector_size), dtype=np.float32)
        self.tree = None
        self.corpus_count = 0
        self.corpus_total_words = 0
        self.effective_min_count = self.min_count
        self.train_count = 0
        self.total_train_time = 0.0
        self.running_training_loss = 0.0
        self.min_alpha_yet_reached = self.alpha
        self._keep_probability = np.zeros(0, dtype=np.float32)
        self._encoded = None          # EncodedCorpus of the corpus given to build_vocab
        self._encoded_source = None   # what it was read from, to recognise it in train()
        self._current_run = None
        self.training_state = None    # where an unfinished run stopped, see resume_training()
        self._rehearsal = RehearsalSample()   # sentences trained on so far (hsmcy.rehearsal)
        self._rehearse = False        # whether train() mixes them in: after a vocabulary update
        self.last_rehearsed_words = 0  # words of earlier text the last train() added to each epoch

        if sentences is not None or corpus_file is not None:
            self._check_one_corpus(sentences, corpus_file, "sentences")
            # build_vocab and train each read the corpus: a one-shot generator cannot serve both.
            corpus_io.check_corpus_iterable(sentences, "sentences", passes=2)
            self.build_vocab(corpus_iterable=sentences, corpus_file=corpus_file, trim_rule=trim_rule)
            self.train(corpus_iterable=sentences, corpus_file=corpus_file, total_examples=self.corpus_count,
                       total_words=self.corpus_total_words, epochs=self.epochs, start_alpha=self.alpha,
                       end_alpha=self.min_alpha, compute_loss=self.compute_loss, callbacks=self.callbacks)

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _check_one_corpus(corpus_iterable, corpus_file, iterable_name="corpus_iterable"):
        if corpus_iterable is not None and corpus_file is not None:
            raise ValueError(f"give either {iterable_name} or corpus_file, not both")
        if corpus_iterable is None and corpus_file is None:
            raise ValueError(f"give one of {iterable_name} or corpus_file")

    def _buffer_path(self):
        """Where to keep the encoded corpus: None (memory), a directory or a file path.

        ``hsmcy.corpus`` checks it, against the corpus file too, before opening anything.
        """
        if self.corpus_buffer is None:
            return None
        return corpus_io.check_buffer_location(self.corpus_buffer)

    @staticmethod
    def _source_key(corpus_iterable, corpus_file):
        """What identifies a corpus: a file by path, size and mtime; an iterable by identity.

        The iterable itself is part of the key (compared with ``is``), so that a new
        object that happens to get a dead one's ``id`` is never mistaken for it.
        """
        if corpus_file is not None:
            path = os.path.abspath(os.fspath(corpus_file))
            stat = os.stat(path)
            return ("file", path, stat.st_size, stat.st_mtime_ns)
        return ("iterable", _Identity(corpus_iterable))

    @property
    def layer1_size(self):
        """gensim's name for the vector width."""
        return self.vector_size

    @property
    def inner_node_vectors(self):
        """The ``V - 1`` inner-node vectors (a view of ``syn1`` without its unused last row)."""
        return self.syn1[:max(len(self.wv) - 1, 0)]

    def __str__(self):
        return f"Word2Vec<vocab={len(self.wv)}, vector_size={self.vector_size}, alpha={self.alpha}, sg={self.sg}, hs=1>"

    __repr__ = __str__

    # ------------------------------------------------------------ vocabulary
    def _vocabulary_rules(self, words, counts, trim_rule=None, sorted_vocab=None):
        """gensim's vocabulary rules with this model's settings: ``(Vocabulary, raw id -> kept id or -1)``."""
        return Vocabulary.from_raw_counts(
            words, counts, min_count=self.min_count, max_vocab_size=self.max_vocab_size,
            max_final_vocab=self.max_final_vocab, sample=self.sample,
            sorted_vocab=self.sorted_vocab if sorted_vocab is None else sorted_vocab,
            trim_rule=trim_rule if trim_rule is not None else self.trim_rule)

    def _vocabulary_of_scan(self, scan, trim_rule):
        """The vocabulary rules applied to a corpus scan; an empty result is an error saying why."""
        vocabulary, remap = self._vocabulary_rules(scan.words, scan.counts, trim_rule)
        if len(vocabulary) == 0:
            raise ValueError(f"no word occurs at least min_count={self.min_count} times "
                             f"(the corpus has {len(scan.words)} distinct words, the most frequent "
                             f"{int(scan.counts.max())} times): lower min_count")
        return vocabulary, remap

    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False, progress_per=10000,
                    keep_raw_vocab=False, trim_rule=None, **kwargs):
        """Read the corpus once: count words, build the vocabulary and Huffman tree, reset weights.

        The corpus is encoded into int32 ids during the same pass and kept until the
        next :meth:`train` on the same corpus, which then needs no second reading.

        Parameters
        ----------
        corpus_iterable : iterable of list of str, optional
        corpus_file : str or PathLike, optional
            Exactly one of the two.
        update : bool
            Grow the vocabulary of a trained model instead of replacing it (online
            training, gensim's ``update=True``): the counts of this corpus are added,
            its new words that pass ``min_count`` (on this corpus's counts, as gensim)
            are appended after the old ones, and the tree *grows*: every old word
            keeps its path and its trained inner-node vectors (see
            :meth:`grow_vocabulary` and ``hsmcy.tree_growth``).  Old weights are kept;
            new words' input vectors start as gensim's do.
        trim_rule : callable, optional
            Overrides the constructor's ``trim_rule``.
        """
        if kwargs:
            raise TypeError(f"build_vocab() got unexpected arguments: {sorted(kwargs)}")
        self._check_one_corpus(corpus_iterable, corpus_file)
        if update:
            self._check_growable()
        started = time.perf_counter()
        if corpus_file is not None:
            scan = corpus_io.scan_file(corpus_file, buffer_path=self._buffer_path())
        else:
            scan = corpus_io.scan_iterable(corpus_iterable, buffer_path=self._buffer_path(),
                                           progress_per=progress_per)
        if scan.corpus.n_sentences == 0 or scan.corpus.n_words == 0:
            source = f"corpus_file {os.fspath(corpus_file)!r}" if corpus_file is not None else "corpus_iterable"
            raise ValueError(f"{source} is empty: it holds no tokens")
        if update:
            remap = self._grow_from_raw_counts(scan.words, scan.counts, trim_rule)
            self.corpus_count = scan.corpus.n_sentences
            self.corpus_total_words = int(scan.counts.sum())
            self._encoded = scan.encode(remap)
            self._encoded_source = self._source_key(corpus_iterable, corpus_file)
            logger.info("build_vocab(update=True): %d sentences, %d tokens (%d in vocabulary) read in %.2fs",
                        self.corpus_count, self.corpus_total_words, self._encoded.n_words,
                        time.perf_counter() - started)
            return
        vocabulary, remap = self._vocabulary_of_scan(scan, trim_rule)
        self.corpus_count = scan.corpus.n_sentences
        self.corpus_total_words = int(scan.counts.sum())
        self._encoded = scan.encode(remap)
        self._encoded_source = self._source_key(corpus_iterable, corpus_file)
        del scan, remap  # the raw word list (every type, however rare) goes before the weights come
        return_free_memory()
        self._set_vocabulary(vocabulary.words, vocabulary.counts, HuffmanTree.from_counts(vocabulary.counts))
        self.effective_min_count = int(vocabulary.counts.min())
        self._init_weights()
        self._forget_rehearsal()
        depths = self.tree.path_lengths
        logger.info("build_vocab: %d words, %d sentences, %d tokens (%d in vocabulary) in %.2fs; Huffman paths of "
                    "%d to %d nodes, %.2f per token", len(vocabulary), self.corpus_count, self.corpus_total_words,
                    self._encoded.n_words, time.perf_counter() - started, depths.min(), depths.max(),
                    self.tree.weighted_path_length(vocabulary.counts) / max(int(vocabulary.counts.sum()), 1))

    def build_vocab_from_freq(self, word_freq, keep_raw_vocab=False, corpus_count=None, trim_rule=None,
                              update=False):
        """Build the vocabulary from a ``{word: count}`` mapping instead of a corpus.

        Parameters
        ----------
        word_freq : dict of str -> int
            Every word's count; words below ``min_count`` are dropped.
        corpus_count : int, optional
            Number of sentences the counts came from (kept as ``corpus_count``).
        trim_rule : callable, optional
            Overrides the constructor's ``trim_rule``.
        update : bool
            Grow the vocabulary of a trained model, as ``build_vocab(update=True)``.
        keep_raw_vocab :
            gensim compatibility.
        """
        if not hasattr(word_freq, "keys") or not hasattr(word_freq, "__getitem__"):
            raise TypeError(f"word_freq must be a mapping of word -> count, got {type(word_freq).__name__}")
        words = list(word_freq)
        if not words:
            raise ValueError("word_freq is empty")
        # Checked before any conversion: a count of 3.7 is refused (naming its word), not
        # truncated to 3, and counts whose total exceeds int64 (corpus_total_words) are refused.
        counts = check_counts([word_freq[w] for w in words], len(words), "word_freq count", names=words)
        if update:
            self._check_growable()
            self._grow_from_raw_counts(words, counts, trim_rule)
            self.corpus_count = int(corpus_count or 0)
            self.corpus_total_words = int(counts.sum())
            self._encoded, self._encoded_source = None, None
            return
        vocabulary, _ = self._vocabulary_rules(words, counts, trim_rule)
        if len(vocabulary) == 0:
            raise ValueError(f"no word in word_freq reaches min_count={self.min_count}")
        if corpus_count is not None and (isinstance(corpus_count, bool)
                                         or not isinstance(corpus_count, (int, np.integer))
                                         or not 0 <= corpus_count <= np.iinfo(np.int64).max):
            raise ValueError(f"corpus_count must be a non-negative integer, got {corpus_count!r}")
        self.corpus_count = int(corpus_count or 0)
        self.corpus_total_words = int(counts.sum())
        self._encoded, self._encoded_source = None, None
        self._set_vocabulary(vocabulary.words, vocabulary.counts, HuffmanTree.from_counts(vocabulary.counts))
        self._init_weights()
        self._forget_rehearsal()

    # -------------------------------------------------- online vocabulary growth
    def _check_growable(self):
        """What ``update=True`` needs: a vocabulary to grow, no training running, nothing unfinished."""
        if self.tree is None or not len(self.wv.index_to_key):
            raise RuntimeError("build_vocab(update=True) grows an existing vocabulary, and this model has none: "
                               "call build_vocab() without update first")
        if self._current_run is not None:
            raise RuntimeError("cannot grow the vocabulary while train() is running on this model")
        if self.training_state is not None:
            raise ValueError("this model has an unfinished training run (training_state): finish it with "
                             "resume_training(), or discard it with model.training_state = None, before "
                             "growing the vocabulary")

    def _grow_from_raw_counts(self, raw_words, raw_counts, trim_rule):
        """Add a corpus's raw counts to the vocabulary; returns ``remap`` (raw id -> word id, -1 dropped).

        gensim's rules: every known word's count grows by its count here; an unknown
        word joins if it passes ``min_count`` / ``trim_rule`` / ``max_vocab_size`` /
        ``max_final_vocab`` on this corpus's counts; new words are appended in order
        of first appearance.
        """
        raw_counts = np.asarray(raw_counts, dtype=np.int64)
        word_index = self.wv.key_to_index
        known = np.fromiter((word_index.get(word, -1) for word in raw_words), dtype=np.int64, count=len(raw_words))
        _, kept = self._vocabulary_rules(raw_words, raw_counts, trim_rule, sorted_vocab=False)
        new_raw_ids = np.flatnonzero((kept >= 0) & (known < 0))   # ascending raw id = first appearance
        added = np.zeros(len(self.wv.index_to_key), dtype=np.int64)
        added[known[known >= 0]] = raw_counts[known >= 0]
        remap = known.astype(np.int32)
        remap[new_raw_ids] = len(self.wv.index_to_key) + np.arange(len(new_raw_ids), dtype=np.int32)
        self.grow_vocabulary([raw_words[i] for i in new_raw_ids], raw_counts[new_raw_ids], added_counts=added)
        return remap

    def grow_vocabulary(self, new_words, new_counts, added_counts=None):
        """Append words to a trained model's vocabulary, growing its tree (what ``build_vocab(update=True)`` does).

        Parameters
        ----------
        new_words : sequence of str
            Words not yet in the vocabulary; they get the ids ``len(wv)``, ``len(wv) + 1``, ...
        new_counts : array_like of int, shape (len(new_words),)
            Their counts.
        added_counts : array_like of int, shape (len(wv),), optional
            Counts to add to the existing words (default none).

        Notes
        -----
        The tree grows by splitting leaves (``hsmcy.tree_growth``): every old word
        keeps its path, node ids and branch bits, and the new inner nodes start at
        zero, so right after the update and for every context::

            log P_new(w | context) = log P_old(w | context) - k_w * log 2

        where ``k_w`` is the number of times word ``w``'s leaf was split (0 for all
        but a few rare words; ``grown_depth - old_depth`` per word).  The new words'
        input vectors are the rows gensim gives them (a uniform draw seeded by
        ``seed``); ``syn1`` keeps gensim's layout (``len(wv)`` rows, row ``n`` = inner
        node ``n``, the last unused), old rows unchanged.  Down-sampling
        probabilities are recomputed from the summed counts.  :meth:`tree_cost`
        says how far the grown tree is from a fresh Huffman tree, and
        :meth:`rebuild_tree` rebuilds it.
        """
        from .tree_growth import grow_tree
        self._check_growable()
        wv = self.wv
        n_old = len(wv.index_to_key)
        new_words = list(new_words)
        bad = next((w for w in new_words if not isinstance(w, str)), None)
        if bad is not None:
            raise TypeError(f"new_words must be strings, got {bad!r}")
        if len(set(new_words)) != len(new_words):
            raise ValueError("new_words lists a word twice")
        known = [w for w in new_words if w in wv.key_to_index]
        if known:
            raise ValueError(f"new_words holds {len(known)} words already in the vocabulary, e.g. {known[0]!r}")
        new_counts = np.asarray(new_counts)
        if new_counts.shape != (len(new_words),):
            raise ValueError(f"new_counts must have one count per new word ({len(new_words)}), "
                             f"got shape {new_counts.shape}")
        old_counts = np.asarray(wv.expandos["count"], dtype=np.int64)
        if added_counts is not None:
            added_counts = np.asarray(added_counts)
            if added_counts.shape != (n_old,):
                raise ValueError(f"added_counts must have one count per existing word ({n_old}), "
                                 f"got shape {added_counts.shape}")
            if added_counts.dtype.kind not in "iu" or (n_old and added_counts.min() < 0):
                raise ValueError("added_counts must be non-negative integers")
            old_counts = old_counts + added_counts.astype(np.int64)
        if n_old + len(new_words) > np.iinfo(np.int32).max - 1:
            raise ValueError(f"{n_old} + {len(new_words)} words exceed the kernels' int32 word ids")
        old_depths = self.tree.path_lengths
        tree = grow_tree(self.tree, old_counts, new_counts)   # validates new_counts
        new_counts = new_counts.astype(np.int64)
        n_total = n_old + len(new_words)

        # Input vectors: old rows kept; new rows as gensim's prep_vectors (one uniform
        # draw of the whole grown shape, seeded by `seed`, old rows written over it).
        vectors = aligned_zeros((n_total, self.vector_size))
        np.random.default_rng(self.seed).random(out=vectors, dtype=np.float32)
        vectors *= 2.0
        vectors -= 1.0
        vectors /= self.vector_size
        vectors[:n_old] = wv.vectors
        # Inner nodes 0 .. n_old - 2 keep their rows; rows from n_old - 1 on are the new nodes (zero).
        syn1 = aligned_zeros((max(n_total, 1), self.vector_size))
        syn1[:max(n_old - 1, 0)] = self.syn1[:max(n_old - 1, 0)]

        # wv is updated in place, as gensim does (references to model.wv stay valid).
        wv.index_to_key = list(wv.index_to_key) + new_words
        for position, word in enumerate(new_words):
            wv.key_to_index[word] = n_old + position
        wv.allocate_vecattrs()
        self._set_counts(np.concatenate([old_counts, new_counts]))
        wv.vectors = vectors
        wv.norms = None
        self.syn1 = syn1
        self.tree = tree
        self._rehearse = True   # the next train() rehearses the earlier text (hsmcy.rehearsal)
        cost = self.tree_cost()
        split = int(np.count_nonzero(tree.path_lengths[:n_old] > old_depths))
        logger.info("grew the vocabulary from %d to %d words (%d old words moved one or more levels down); "
                    "mean path length per word occurrence %.3f against %.3f for a fresh Huffman tree (%.2f%% more)",
                    n_old, n_total, split, cost["mean_path_length"], cost["huffman_mean_path_length"],
                    100.0 * (cost["ratio"] - 1.0))
        if cost["ratio"] > REBUILD_SUGGESTED_ABOVE:
            logger.warning("the grown tree's paths are %.1f%% longer than a fresh Huffman tree's: "
                           "model.rebuild_tree() rebuilds it", 100.0 * (cost["ratio"] - 1.0))

    def tree_cost(self):
        """How much longer the tree's paths are than a fresh Huffman tree's, per word occurrence.

        After :meth:`grow_vocabulary` (``build_vocab(update=True)``) the tree is no
        longer the Huffman tree of the summed counts; training time per word grows
        with the mean path length.

        Returns
        -------
        dict
            ``mean_path_length``: ``sum(count x depth) / sum(count)`` of the current tree;
            ``huffman_mean_path_length``: the same for ``HuffmanTree.from_counts(counts)``;
            ``ratio``: their quotient (1.0 for a fresh tree).
        """
        from .tree_growth import path_length_cost
        if self.tree is None:
            raise RuntimeError("the model has no vocabulary yet")
        return path_length_cost(self.tree, self.wv.expandos["count"])

    def rebuild_tree(self, fit_iterations=10, fit_samples=512):
        """Replace the tree by the Huffman tree of the current counts, carrying the trained inner-node vectors over.

        For a model whose vocabulary has grown (see :meth:`tree_cost`): training
        time per word follows the mean path length, which a grown tree lets rise.
        A rebuilt tree has a different shape, so its inner nodes need new vectors:

        1. a node that separates exactly the same two sets of words as an old node
           takes that node's vector (negated if the sides are swapped): its branch
           probabilities are unchanged (``hsmcy.tree_growth.map_inner_vectors``);
        2. all inner-node vectors are then fitted so that the new tree's
           distribution matches the old one on ``fit_samples`` hidden vectors drawn
           from the corpus given to the last ``build_vocab`` (if it has not been
           trained on yet; else from the input vectors of words drawn by frequency):
           ``fit_iterations`` L-BFGS steps on ``KL(P_old || P_new)``
           (``hsmcy.tree_growth.fit_inner_vectors``).  ``fit_iterations=0`` skips it
           (nodes not carried over stay zero).

        Words, ids and input vectors do not change; ``syn1`` is rewritten in
        gensim's layout (the root is again row ``V - 2``).  docs/online.md has the
        measured effect on probabilities, time and trained vectors.

        Parameters
        ----------
        fit_iterations : int, default 10
        fit_samples : int, default 512
            Hidden vectors to fit on (fewer for large vocabularies: at most
            ``2**25 / V``, to bound the memory of the targets).

        Returns
        -------
        dict
            :meth:`tree_cost` ``before`` and ``after``, ``carried`` (fraction of inner
            nodes that kept an old vector) and the fit's ``initial_loss`` / ``final_loss``.
        """
        from .tree_growth import fit_inner_vectors, map_inner_vectors
        if self.tree is None:
            raise RuntimeError("the model has no vocabulary yet: nothing to rebuild")
        if self._current_run is not None:
            raise RuntimeError("cannot rebuild the tree while train() is running on this model")
        if self.training_state is not None:
            raise ValueError("this model has an unfinished training run (training_state): finish it with "
                             "resume_training(), or discard it with model.training_state = None, first")
        fit_iterations = _check_int("fit_iterations", fit_iterations, 0)
        fit_samples = _check_int("fit_samples", fit_samples, 1)
        before = self.tree_cost()
        counts = np.asarray(self.wv.expandos["count"], dtype=np.int64)
        tree = HuffmanTree.from_counts(counts)
        vectors, carried = map_inner_vectors(self.tree, self.syn1, tree)
        report = {"initial_loss": None, "final_loss": None}
        if fit_iterations and tree.n_inner:
            n_samples = max(1, min(fit_samples, (1 << 25) // tree.n_inner))
            hidden = self._hidden_samples(n_samples)
            vectors, report = fit_inner_vectors(self.tree, self.syn1, tree, hidden, initial=vectors,
                                                iterations=fit_iterations, workers=self.workers)
        syn1 = aligned_zeros(self.syn1.shape)
        syn1[:tree.n_inner] = vectors
        self.syn1 = syn1
        self.tree = tree
        after = self.tree_cost()
        logger.info("rebuilt the Huffman tree: mean path length per word occurrence %.3f -> %.3f; %.1f%% of the "
                    "inner nodes kept their vector", before["mean_path_length"], after["mean_path_length"],
                    100.0 * float(carried.mean()) if len(carried) else 100.0)
        return {"before": before, "after": after, "carried": float(carried.mean()) if len(carried) else 1.0,
                **report}

    def _hidden_samples(self, n_samples):
        """Hidden vectors as training forms them: from the encoded corpus if there is one, else from word counts.

        skip-gram: the input vector of a context word (a token drawn at random);
        CBOW: the mean (or sum) of the input vectors of a full window around a
        random position.  Without an encoded corpus, words are drawn by their
        down-sampled frequency and their vectors used alone.
        """
        rng = np.random.default_rng(self.seed)
        vectors = self.wv.vectors
        encoded = self._encoded
        if encoded is None or encoded.n_words == 0:
            weights = self.wv.expandos["count"] * self._keep_probability.astype(np.float64)
            weights = weights / weights.sum() if weights.sum() > 0 else None
            words = rng.choice(len(vectors), size=n_samples, p=weights)
            return np.ascontiguousarray(vectors[words], dtype=np.float32)
        token_ids, bounds = encoded.token_ids, np.asarray(encoded.sentence_bounds)
        positions = np.sort(rng.integers(0, encoded.n_words, size=n_samples))
        if self.sg:
            return np.ascontiguousarray(vectors[np.asarray(token_ids[positions])], dtype=np.float32)
        hidden = np.zeros((n_samples, self.vector_size), dtype=np.float32)
        sentence = np.searchsorted(bounds, positions, side="right") - 1
        for row, (position, first, last) in enumerate(zip(positions.tolist(), bounds[sentence].tolist(),
                                                           bounds[sentence + 1].tolist())):
            context = [token_ids[j] for j in range(max(first, position - self.window),
                                                   min(last, position + self.window + 1)) if j != position]
            if context:
                hidden[row] = vectors[context].sum(axis=0)
                if self.cbow_mean:
                    hidden[row] /= len(context)
        return hidden

    def _set_vocabulary(self, words, counts, tree):
        """Install words, counts and tree into ``wv`` (gensim's attribute layout)."""
        counts = np.asarray(counts, dtype=np.int64)
        wv = KeyedVectors(self.vector_size, count=0)
        wv.index_to_key = list(words)
        wv.key_to_index = {word: i for i, word in enumerate(wv.index_to_key)}
        wv.expandos = {}
        self.wv = wv
        self._set_counts(counts)
        self.tree = tree

    def _set_counts(self, counts):
        """Word counts, and the down-sampling probabilities that follow from them, into ``wv``'s expandos."""
        wv = self.wv
        wv.allocate_vecattrs(["count"], [np.int64])
        wv.expandos["count"][:] = counts
        self._keep_probability = keep_probabilities(counts, self.sample)
        # gensim's own encoding of the down-sampling probability, for to_gensim().
        wv.allocate_vecattrs(["sample_int"], [np.uint32])
        wv.expandos["sample_int"][:] = (self._keep_probability.astype(np.float64) * (2 ** 32 - 1)).astype(np.uint32)

    def _init_weights(self):
        """gensim 4's initialisation: input vectors uniform in [-1/size, 1/size), ``syn1`` zero."""
        vocab_size = len(self.wv.index_to_key)
        check_fits_in_memory(2 * max(vocab_size, 1) * self.vector_size * 4,
                             f"vector_size = {self.vector_size} for {vocab_size:,} words (wv.vectors and syn1)")
        rng = np.random.default_rng(self.seed)
        vectors = aligned_zeros((vocab_size, self.vector_size))   # whole rows on cache lines: memory.py
        rng.random(out=vectors, dtype=np.float32)
        vectors *= 2.0
        vectors -= 1.0
        vectors /= self.vector_size
        self.wv.vectors = vectors
        self.wv.norms = None
        self.syn1 = aligned_zeros((max(vocab_size, 1), self.vector_size))

    # ------------------------------------------------------------- training
    def _encoded_corpus_for(self, corpus_iterable, corpus_file):
        """The encoded corpus to train on: the one from build_vocab if it is the same source."""
        key = self._source_key(corpus_iterable, corpus_file)
        if self._encoded is not None and key == self._encoded_source:
            return self._encoded
        word_index = self.wv.key_to_index
        if corpus_file is not None:
            return corpus_io.encode_file(corpus_file, word_index, buffer_path=self._buffer_path())
        return corpus_io.encode_iterable(corpus_iterable, word_index, buffer_path=self._buffer_path())

    def train(self, corpus_iterable=None, corpus_file=None, total_examples=None, total_words=None, epochs=None,
              start_alpha=None, end_alpha=None, word_count=0, queue_factor=2, report_delay=1.0,
              compute_loss=False, callbacks=(), progress=False, **kwargs):
        """Train the vectors on a corpus (gensim's signature).

        Parameters
        ----------
        corpus_iterable, corpus_file :
            Exactly one.  If it is the corpus given to :meth:`build_vocab`, its encoded
            form is reused; otherwise it is read and encoded once (unknown words dropped).
        total_examples, total_words : int, optional
            Accepted for gensim compatibility.  hsmcy knows the exact corpus size once
            encoded, so these are only compared with it (a mismatch is logged).
        epochs : int, optional
            Defaults to the model's ``epochs``.
        start_alpha, end_alpha : float, optional
            Learning rate at the start and end of this call (defaults: ``alpha``, ``min_alpha``).
        compute_loss : bool
            Accumulate the exact loss, see :meth:`get_latest_training_loss`.
        callbacks : sequence
            gensim ``CallbackAny2Vec`` objects (``on_train_begin/end``, ``on_epoch_begin/end``,
            ``on_batch_begin/end``).
        progress : bool
            Show a progress bar on stderr (words/s, ETA, learning rate, and the mean
            loss per word of the current epoch when ``compute_loss``): tqdm's when
            tqdm is installed, else a plain one-line bar.  See :mod:`hsmcy.progress`.
        word_count, queue_factor :
            Accepted for gensim compatibility; unused.

        Returns
        -------
        (int, int)
            Words trained after down-sampling, and words read, summed over epochs.
        """
        if kwargs:
            raise TypeError(f"train() got unexpected arguments: {sorted(kwargs)}")
        if self.tree is None or not len(self.wv.index_to_key):
            raise RuntimeError("you must build the vocabulary (build_vocab) before training the model")
        epochs = self.epochs if epochs is None else _check_int("epochs", epochs, 1)
        start_alpha = self.alpha if start_alpha is None else _check_float("start_alpha", start_alpha,
                                                                          strictly_above=0.0)
        end_alpha = self.min_alpha if end_alpha is None else _check_float("end_alpha", end_alpha, minimum=0.0)
        return self._run(corpus_iterable, corpus_file, callbacks, report_delay, progress, total_examples=total_examples,
                         epochs=epochs, start_alpha=start_alpha, end_alpha=end_alpha, compute_loss=bool(compute_loss),
                         workers=self.workers, batch_words=self.batch_words, seed=self.seed + self.train_count)

    # Runs started on any model, to refuse a second concurrent train() of the same model.
    _RUNS_LOCK = threading.Lock()

    def _run(self, corpus_iterable, corpus_file, callbacks, report_delay, progress, *, total_examples=None,
             resume=None, **settings):
        """The one way a run starts (``train`` and ``resume_training``): check, encode, run."""
        self._check_one_corpus(corpus_iterable, corpus_file)
        if corpus_file is not None:
            corpus_io.check_corpus_file(corpus_file)
        else:
            corpus_io.check_corpus_iterable(corpus_iterable)
        encoded = self._encoded_corpus_for(corpus_iterable, corpus_file)
        if encoded.n_words == 0:
            raise ValueError("the corpus to train on has no word of the vocabulary (or is empty/exhausted)")
        if total_examples is not None and total_examples != encoded.n_sentences and total_examples != self.corpus_count:
            logger.warning("total_examples=%s but the corpus has %d sentences; using the real count",
                           total_examples, encoded.n_sentences)
        encoded.check(len(self.wv.index_to_key))
        self._check_trainable()
        # checked before training: an edited attribute must not fail a finished run
        rehearsal_budget = check_integer("rehearsal_words", self.rehearsal_words, 0)
        trained_on = self._with_rehearsal(encoded)
        self._align_weights()
        progress_bar = TrainingProgress(trained_on.n_words * settings["epochs"]) if progress else None
        run = TrainingRun(
            corpus=trained_on, input_vectors=self.wv.vectors, syn1=self.syn1, tree=self.tree,
            keep_probability=self._keep_probability, sg=self.sg, window=self.window,
            shrink_windows=self.shrink_windows, cbow_mean=self.cbow_mean, kernel=self.kernel,
            callbacks=tuple(callbacks or ()), model=self, report_delay=report_delay, progress_bar=progress_bar,
            resume=resume, **self._more_inputs(), **settings)
        with Word2Vec._RUNS_LOCK:
            if self._current_run is not None:
                raise RuntimeError("this model is already training (train() runs in another thread); "
                                   "wait for it to finish")
            self._current_run = run
        self.epochs = run.epochs
        self.compute_loss = run.compute_loss
        if resume is None:
            self.running_training_loss = 0.0
        result = self._execute_run(run, encoded, progress_bar)
        self._remember_for_rehearsal(encoded, rehearsal_budget)
        return result

    # -------------------------------------------------- rehearsal (hsmcy.rehearsal)
    _collects_rehearsal = True   # Doc2Vec: False (its sentences carry document tags)

    def _forget_rehearsal(self):
        """A new vocabulary: the sample's ids mean nothing any more."""
        self._rehearsal, self._rehearse = RehearsalSample(), False

    def _with_rehearsal(self, encoded):
        """What a training call trains on: ``encoded``, and after a vocabulary update sampled old sentences too."""
        sample = self._rehearsal
        self.last_rehearsed_words = 0
        if not (self._collects_rehearsal and self._rehearse):
            return encoded
        if not sample.n_words:
            if self.rehearsal_words:
                logger.info("no rehearsal: this model holds no sample of earlier text (made by from_gensim or "
                            "hsmcy.distributed, loaded from a file saved without one, or not trained yet)")
            return encoded
        sample.check(len(self.wv.index_to_key))   # it may have been edited since it was made
        if encoded.file_backed:
            logger.warning("the corpus is in a corpus_buffer file: training on the new text only, without "
                           "rehearsing the %d sampled words of earlier text", sample.n_words)
            return encoded
        mixed, old_words = sample.mixed_into(encoded, self.seed, self.train_count)
        self.last_rehearsed_words = old_words
        logger.info("rehearsal: %d words of earlier text (from a sample of %d of the %d trained on before) "
                    "interleaved with the %d new words", old_words, sample.n_words, sample.words_seen,
                    encoded.n_words)
        return mixed

    def _remember_for_rehearsal(self, encoded, budget):
        """After a completed training call: its sentences join the sample's population."""
        if self._collects_rehearsal:
            self._rehearsal = self._rehearsal.after_training_on(encoded, budget, self.seed, self.train_count)

    @property
    def rehearsal_sample_words(self):
        """Words in the rehearsal sample (see ``rehearsal_words``), and how many words it was drawn from."""
        return self._rehearsal.n_words, self._rehearsal.words_seen

    def _more_inputs(self):
        """Input rows beyond the words for the training run: none here (``hsmcy.Doc2Vec``
        adds its document vectors)."""
        return {}

    def _check_trainable(self):
        width = getattr(self.wv.vectors, "shape", (0, 0))[-1]
        if self.vector_size != width:
            raise ValueError(f"model.vector_size is {self.vector_size!r} but wv.vectors has {width} columns "
                             "(was one of them edited?)")
        for name, array in (("wv.vectors", self.wv.vectors), ("syn1", self.syn1)):
            if not all_finite(array):
                raise ValueError(f"{name} holds NaN or infinite values (an earlier run diverged?): "
                                 "reload a checkpoint before training")

    def _align_weights(self):
        """Copy weights loaded from a file or from gensim onto cache-line boundaries
        where that puts every row on whole cache lines (``memory.aligned_zeros``)."""
        for owner, name in ((self.wv, "vectors"), (self, "syn1")):
            array = getattr(owner, name)
            if not isinstance(array, np.ndarray) or array.ndim != 2 or not array.flags.writeable:
                continue   # the training workers refuse it, with the reason
            if array.shape[1] * array.itemsize % CACHE_LINE == 0 and array.ctypes.data % CACHE_LINE:
                aligned = aligned_zeros(array.shape, array.dtype)
                aligned[...] = array
                setattr(owner, name, aligned)

    def _execute_run(self, run, encoded, progress_bar=None):
        """Run ``run``; on any exception keep the model consistent, remember where it stopped, re-raise."""
        self.training_state = None
        started = time.perf_counter()
        try:
            trained, seen = run.run()
        except BaseException as error:
            # Workers have stopped (whole batches only): the model is consistent and
            # saveable, and training_state says where to resume.
            self._finish_run(run, started, completed=False)
            self.training_state = run.resume_state()
            progress = run.progress()
            if not isinstance(error, FloatingPointError):
                progress += ("; the weights hold whole batches only, so the model can be saved, and "
                             "resume_training() continues where it stopped")
            logger.warning("%s: %s", type(error).__name__, progress)
            if hasattr(error, "add_note"):
                error.add_note(f"hsmcy: {progress}")
            raise
        finally:
            if progress_bar is not None:
                progress_bar.close()
        self._finish_run(run, started)
        if self._encoded is encoded:
            self._encoded, self._encoded_source = None, None  # free the buffer: training is done
        elapsed = time.perf_counter() - started
        logger.info("training on %d raw words (%d effective words) took %.1fs, %.0f effective words/s",
                    seen, trained, elapsed, trained / elapsed if elapsed > 0 else 0.0)
        return trained, seen

    def resume_training(self, corpus_iterable=None, corpus_file=None, callbacks=(), report_delay=1.0,
                        progress=False):
        """Finish a training run that was interrupted, failed, or checkpointed, where it stopped.

        The run continues with its own epochs, learning-rate schedule (``start_alpha``
        to ``end_alpha`` over all words of all its epochs), random streams, word
        counters and loss, skipping the batches already trained.  With ``workers=1``
        the result is bit-for-bit the one of the uninterrupted run.

        Parameters
        ----------
        corpus_iterable, corpus_file :
            The same corpus as the interrupted run (checked: same words per epoch and
            same batches).
        callbacks, report_delay, progress :
            As in :meth:`train`.

        Returns
        -------
        (int, int)
            Words trained and words read over the whole run, as :meth:`train` returns.

        See Also
        --------
        hsmcy.callbacks.Checkpoint : save the model (and this state) after every epoch.
        """
        state = self.training_state
        if state is None:
            raise ValueError("nothing to resume: this model has no unfinished training run "
                             "(training_state is None: the last run finished, or none was saved)")
        logger.info("resuming training at epoch %d of %d (%d batches of it already done)",
                    state["epoch"] + 1, state["epochs"], len(state["batches_done"]))
        return self._run(corpus_iterable, corpus_file, callbacks, report_delay, progress, resume=state,
                         epochs=state["epochs"], start_alpha=state["start_alpha"], end_alpha=state["end_alpha"],
                         compute_loss=bool(state["compute_loss"]), workers=len(state["rng_states"]),
                         batch_words=state["batch_words"], seed=state["seed"])

    def _finish_run(self, run, started, completed=True):
        self._on_epoch_end_of_run(run)
        self.total_train_time += time.perf_counter() - started
        if completed:  # an unfinished run is not counted: resuming it keeps its random seed
            self.train_count += 1
        self.min_alpha_yet_reached = run.alpha_at(run.epochs_done, 0) if run.epochs_done else run.start_alpha
        self._current_run = None
        self._vectors_changed()

    def _on_epoch_end_of_run(self, run):
        """Called by the training run after each epoch: publish the loss so far."""
        self.running_training_loss = run.total_loss
        self._vectors_changed()

    def _vectors_changed(self):
        """Training moved the vectors (after each epoch and at the end): :func:`refill_norms`."""
        refill_norms(self.wv)

    def get_latest_training_loss(self):
        """Summed loss (``-log P`` of every trained centre word along its path) of the latest ``train()``.

        Exact, accumulated per worker in double precision; 0.0 unless the training
        call had ``compute_loss=True``.  During training (e.g. in a callback) it is
        the loss so far.
        """
        run = self._current_run
        return run.total_loss if run is not None else self.running_training_loss

    # ------------------------------------------------------------- memory
    def estimate_memory(self, vocab_size=None, report=None):
        """Estimate the memory training needs, in bytes, per component (like gensim's).

        Counts the vectors, ``syn1``, the tree's path arrays, the vocabulary's Python
        objects, the encoded corpus (4 bytes per token), the rehearsal sample and
        per-worker scratch; see
        :mod:`hsmcy.memory` for what each entry means.  It matches the growth of the
        process's peak RSS over ``build_vocab`` + ``train`` within 20% (tested).

        Parameters
        ----------
        vocab_size : int, optional
            Defaults to the current vocabulary; give one to plan before ``build_vocab``.
        report : dict, optional
            Filled in place (gensim's signature) and returned.

        Returns
        -------
        dict
            Component name -> bytes, and ``"total"``.
        """
        from .memory import estimate
        current = len(self.wv.index_to_key)
        vocab_size = current if vocab_size is None else _check_int("vocab_size", vocab_size, 1)
        encoded = self._encoded
        path_steps = len(self.tree.path_nodes) if self.tree is not None and vocab_size == current else None
        words = self.wv.index_to_key
        average_word_bytes = (sum(len(w) for w in words[:10000]) / min(len(words), 10000)) if words else 8
        result = estimate(
            vocab_size=vocab_size, vector_size=self.vector_size,
            corpus_words=encoded.n_words if encoded is not None else self.corpus_total_words,
            corpus_sentences=encoded.n_sentences if encoded is not None else self.corpus_count,
            workers=self.workers, longest_sentence=encoded.longest_sentence if encoded is not None else 10000,
            path_steps=path_steps, average_word_bytes=average_word_bytes,
            corpus_in_memory=self.corpus_buffer is None,
            private_rows_per_worker=private_tree_rows(self.workers, self.sg, self.kernel, vocab_size),
            rehearsal_words=self.rehearsal_words if self._collects_rehearsal else 0)
        if report is None:
            report = {}
        report.update(result)
        logger.info("estimated required memory for %d words and %d dimensions: %d bytes", vocab_size,
                    self.vector_size, result["total"])
        return report

    # --------------------------------------------------------- persistence
    def save(self, path):
        """Save to ``path`` in hsmcy's format: arrays + JSON, no pickle, written atomically.

        Parameters
        ----------
        path : str or PathLike
            The file to write (replaced atomically if it exists).

        gensim's own ``.save`` format is pickle-based, and loading such a file from
        an untrusted source runs arbitrary code; this format cannot.  Use
        :meth:`to_gensim` for gensim formats.  The layout is in :mod:`hsmcy.persistence`.
        """
        persistence.save_word2vec(self, path)

    @classmethod
    @persistence.malformed_file_is_value_error
    def load(cls, path, mmap=None):
        """Load a model saved by :meth:`save`, validating every array before use.

        Parameters
        ----------
        path : str or PathLike
            A file written by :meth:`save`.
        mmap : None or "r"
            ``"r"`` memory-maps the large arrays read-only (fast, shared between
            processes); such a model can be queried but not trained.
        """
        return persistence.load_word2vec(cls, path, mmap)

    # ---------------------------------------------------------- gensim interop
    def to_gensim(self):
        """A :class:`gensim.models.Word2Vec` (hs=1, negative=0) holding this model.

        It carries the vectors, ``syn1``, counts and every word's ``code`` and
        ``point``, so gensim's own ``score()`` and ``train()`` continue from it.
        """
        from .gensim_compat import to_gensim
        return to_gensim(self)

    @classmethod
    def from_gensim(cls, gensim_model):
        """Import a gensim ``Word2Vec`` trained with ``hs=1``, keeping its tree as it is.

        Parameters
        ----------
        gensim_model : gensim.models.Word2Vec
            A model with ``hs=1`` (its ``syn1``, ``code`` and ``point`` are imported;
            a ``syn1neg`` is not).

        Returns
        -------
        hsmcy.Word2Vec
            Ready to train further or to query.
        """
        from .gensim_compat import from_gensim
        return from_gensim(cls, gensim_model)

    # ------------------------------------------------ querying the model (hsmcy.inference)
    def score(self, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2, report_delay=1):
        """Log-likelihood of each sentence, as gensim's ``score()`` defines it but exact.

        Unknown words are dropped; the full window is used (no shrinking, no
        subsampling).  Skip-gram sums ``log P(w_i | w_j)`` over every pair within
        ``window``; CBOW sums ``log P(w_i | context)``.  gensim skips every node with
        ``|h . v| >= 6`` and reads a log-sigmoid table; here every node counts
        exactly.  Sentences are scored by ``workers`` threads in ``nogil`` kernels.

        Parameters
        ----------
        sentences : iterable of list of str
            The sentences to score, as token lists.
        total_sentences : int, default 1,000,000
            Score at most this many sentences (as gensim).
        chunksize, queue_factor, report_delay :
            Accepted for gensim compatibility.

        Returns
        -------
        ndarray of float64, one score per sentence (at most ``total_sentences``).
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.score(self, sentences, total_sentences, chunksize, queue_factor, report_delay)

    def score_words(self, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2, report_delay=1):
        """Per-token terms of :meth:`score`: one float64 array per sentence, ``NaN`` for unknown tokens.

        Parameters
        ----------
        sentences : iterable of list of str
            The sentences to score.
        total_sentences, chunksize, queue_factor, report_delay :
            As in :meth:`score`.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.score_words(self, sentences, total_sentences, chunksize, queue_factor, report_delay)

    def predict_output_word(self, context_words_list, topn=10):
        """The ``topn`` most probable centre words given context words, by exact best-first search.

        As gensim's method (which supports only negative sampling): the hidden vector
        is the mean (``cbow_mean=1``) or sum of the known context words' vectors;
        unknown words are ignored; returns ``[(word, probability), ...]``, most
        probable first, or ``None`` if no context word is known.

        Parameters
        ----------
        context_words_list : list of str
            The context words.
        topn : int, default 10
            How many words to return.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.predict_output_word(self, context_words_list, topn)

    def log_prob(self, word, context):
        """``log P(word | context)`` with ``context`` a list of words (unknown ones ignored).

        Parameters
        ----------
        word : str
            The centre word, in the vocabulary.
        context : list of str
            Context words; their mean (``cbow_mean=1``) or sum is the hidden vector.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.log_prob(self, word, context)

    def predict_proba(self, context):
        """Distribution over the vocabulary (float32, ``len(wv)``, sums to 1) given a list of context words.

        Parameters
        ----------
        context : list of str
            Context words (unknown ones ignored).
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.predict_proba(self, context)

    def log_prob_ids(self, word_ids, context_ids):
        """Batched :meth:`log_prob`: ``word_ids`` (n,), ``context_ids`` (n, c) int with ``-1`` padding.

        Parameters
        ----------
        word_ids : array_like of int, shape (n,)
            Centre word ids (indices into ``wv``).
        context_ids : array_like of int, shape (n, c)
            Context word ids per row; ``-1`` marks padding.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.log_prob_ids(self, word_ids, context_ids)

    def predict_proba_ids(self, context_ids):
        """Batched :meth:`predict_proba`: float32 ``(n, len(wv))`` for ``context_ids`` (n, c), ``-1`` padding.

        Parameters
        ----------
        context_ids : array_like of int, shape (n, c)
            Context word ids per row; ``-1`` marks padding.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.predict_proba_ids(self, context_ids)

    def predict_output_word_ids(self, context_ids, topn=10):
        """Batched :meth:`predict_output_word` on word ids: ``(ids int64 (n, k), probs float32 (n, k))``.

        Parameters
        ----------
        context_ids : array_like of int, shape (n, c)
            Context word ids per row; ``-1`` marks padding.
        topn : int, default 10
            Words per row.
        """
        from . import inference  # on first use (see hsmcy/__init__.py)
        return inference.predict_output_word_ids(self, context_ids, topn)


class _Identity:
    """Wraps an object so that equality means identity (``is``), whatever its ``__eq__``."""

    __slots__ = ("target",)

    def __init__(self, target):
        self.target = target

    def __eq__(self, other):
        return isinstance(other, _Identity) and other.target is self.target

    def __hash__(self):
        return id(self.target)
