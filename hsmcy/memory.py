"""How much memory a model needs: ``Word2Vec.estimate_memory``.

What is counted (bytes), each an entry of the report:

* ``vectors``: the input vectors, ``V x vector_size`` float32;
* ``syn1``: the inner-node vectors, ``V x vector_size`` float32 (gensim's layout:
  V - 1 inner nodes plus one unused row);
* ``tree``: the flat paths, 4 + 1 bytes per (word, node) step plus 8 per word;
* ``vocab``: the Python side of the vocabulary (``wv.index_to_key``,
  ``wv.key_to_index``, the word strings, counts and down-sampling tables), and
  during ``build_vocab`` the raw-word table it is built from: a per-word figure
  measured on CPython 3.11, see ``BYTES_PER_WORD``;
* ``encoded_corpus``: the corpus as int32 ids, 4 bytes per token, plus 12 bytes per
  sentence (its int32 end offset, and the int64 one it is made from while
  ``build_vocab`` drops the words that missed ``min_count``); 0 when ids and
  offsets are read from the ``corpus_buffer`` file batch by batch, whose pages the OS manages;
* ``worker_scratch``: per worker thread, two vectors and one sentence of ids;
* ``private_tree_rows``: with several workers and the window kernel, each worker's
  private copies of the top tree levels and their starting values (2 x
  ``min(2**levels - 1, V - 1)`` rows; ``hsmcy._training.PRIVATE_TOP_LEVELS``), each
  padded to whole cache lines (``whole_line_floats``), an upper bound since only
  the rows that paths reach become resident;
* ``rehearsal_sample``: the sample of trained sentences a model keeps for online
  training (``hsmcy.rehearsal``): ``min(corpus words, rehearsal_words)`` ids of 4
  bytes and 8 bytes per sampled sentence, made at the end of ``train()`` while the
  encoded corpus is still held;
* ``build_vocab_scratch``: temporaries of ``build_vocab`` while it encodes the
  corpus chunk by chunk (about 21 bytes per token of one chunk of
  ``hsmcy.corpus._CHUNK_TOKENS`` tokens).

Not counted: the Python interpreter and imported libraries (numpy, scipy, gensim:
about 120 MB, present before any model exists); whatever the caller holds (e.g. a
list-of-lists corpus, typically far larger than its encoded form); raw words that
miss ``min_count`` (about 100 bytes each from a corpus file, where they never
become Python strings, about 200 from an iterable; only during ``build_vocab``;
their number is unknown before the corpus is read).
"""
from __future__ import annotations

import ctypes
import math
import os

import numpy as np

from .corpus import _CHUNK_TOKENS

__all__ = ["BYTES_PER_WORD", "aligned_zeros", "estimate", "return_free_memory", "whole_line_floats"]

#: Bytes of a cache line: weight matrices start on one.
CACHE_LINE = 64


def aligned_zeros(shape, dtype=np.float32):
    """A zeroed C-contiguous array whose first element starts a cache line.

    NumPy's allocator returns addresses 16 bytes into a cache line, so with rows a
    whole number of lines long (``vector_size`` a multiple of 16 floats: 64, 128,
    256, ...) every row would straddle one more line than it needs, and every
    wide-vector load in the kernels would be split between two lines.  Measured:
    one-worker skip-gram with ``vector_size=112`` 0.76M words/s unaligned, 0.97M
    aligned (benchmarks/NOTES.md).
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape) if isinstance(shape, tuple) else int(shape)
    raw = np.zeros(count * dtype.itemsize + CACHE_LINE, dtype=np.uint8)
    skip = -raw.ctypes.data % CACHE_LINE
    return raw[skip:skip + count * dtype.itemsize].view(dtype).reshape(shape)


def whole_line_floats(vector_size):
    """Floats in the smallest whole number of cache lines that holds ``vector_size``
    float32 values: the row stride of the workers' private tree rows (112 for 100)."""
    per_line = CACHE_LINE // 4
    return -(-vector_size // per_line) * per_line


def return_free_memory():
    """Hand memory that Python has freed back to the operating system (glibc only).

    ``build_vocab`` frees the raw-word table (the reader's entry for every distinct
    token, however rare, and from an iterable a string for each) before the weights
    are allocated.  Those blocks were small, so the C allocator keeps the freed
    space in its heap, and it would still count in the process's resident size
    (and its peak) for the whole training run.  ``malloc_trim`` returns the free
    pages; elsewhere this does nothing.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None

# Python objects per vocabulary word at the peak of build_vocab, measured with
# tests/memory_probe.py (words like "w123456"): the string (~56 B), three dicts
# mapping it to an id (raw scan, Vocabulary, KeyedVectors: ~50 B per entry each,
# plus a 32 B int object per value), two lists, counts/sample tables.
BYTES_PER_WORD = 310

# build_vocab drops the words that missed min_count chunk by chunk; the temporaries
# of one chunk (ids remapped, a keep mask, int64 running counts) take about this much
# per token of a chunk.
_BUILD_BYTES_PER_CHUNK_TOKEN = 21


def estimate(*, vocab_size, vector_size, corpus_words, corpus_sentences, workers, longest_sentence,
             path_steps=None, average_word_bytes=8, corpus_in_memory=True, private_rows_per_worker=0,
             rehearsal_words=0):
    """Bytes per component and ``total`` (see the module docstring)."""
    if path_steps is None:  # a balanced tree: log2(V) steps per word
        path_steps = vocab_size * max(math.ceil(math.log2(max(vocab_size, 2))), 1)
    report = {
        "vocab": int(vocab_size * (BYTES_PER_WORD + average_word_bytes)),
        "vectors": int(vocab_size * vector_size * 4),
        "syn1": int(max(vocab_size, 1) * vector_size * 4),
        "tree": int(path_steps * 5 + (vocab_size + 1) * 8),
        "encoded_corpus": int(corpus_words * 4 + (corpus_sentences + 1) * 12) if corpus_in_memory else 0,
        "worker_scratch": int(workers * (2 * vector_size * 4 + max(longest_sentence, 1) * 4)),
        "private_tree_rows": int(workers * 2 * private_rows_per_worker * whole_line_floats(vector_size) * 4),
        "build_vocab_scratch": int(min(corpus_words, _CHUNK_TOKENS) * _BUILD_BYTES_PER_CHUNK_TOKEN),
    }
    sampled = min(corpus_words, rehearsal_words)
    report["rehearsal_sample"] = int(sampled * 4 + (corpus_sentences * sampled / max(corpus_words, 1) + 1) * 8)
    report["total"] = sum(report.values())
    return report


def physical_memory():
    """Bytes of physical memory of this machine, or ``None`` where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(nbytes, what):
    """``ValueError`` naming ``what`` if ``nbytes`` exceed the machine's physical memory.

    For arrays whose size a caller chooses (draws per row, document rows): refused at
    once with the reason, instead of an allocation that the OS grants lazily and then
    kills the process for, or a ``MemoryError`` that does not say which parameter asked.
    """
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ValueError(f"{what} needs {nbytes / 2**30:,.1f} GiB, more than this machine's "
                         f"{total / 2**30:,.1f} GiB of memory")

