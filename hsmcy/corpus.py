"""Reading corpora once and encoding them as int32 word ids.

A corpus is read a single time.  While counting words we already give every
distinct token a *provisional* id (its order of first appearance) and store the
ids in a compact int32 buffer; when the vocabulary is final, one vectorised remap
turns provisional ids into vocabulary ids and drops the words that did not make it.
Training epochs then run on that buffer without any Python-level token work.

The buffer lives in memory, or -- for corpora larger than RAM -- in a file that is
memory-mapped (``buffer_path``).
"""
from __future__ import annotations

import logging
import mmap
import os
from array import array
from collections import defaultdict
from types import GeneratorType

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["EncodedCorpus", "RawScan", "scan_iterable", "scan_file", "encode_iterable", "encode_file",
           "check_corpus_file", "check_corpus_iterable"]

# Tokens are appended to the id buffer in chunks of this many before they are
# moved to a NumPy array (or flushed to the memory-mapped file).
_CHUNK_TOKENS = 1 << 18


class EncodedCorpus:
    """A corpus as vocabulary ids: sentence ``s`` is ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``.

    Attributes
    ----------
    token_ids : ndarray of int32 (possibly a read-only memmap)
    sentence_bounds : ndarray of int64, shape (n_sentences + 1,)
    """

    def __init__(self, token_ids, sentence_bounds):
        self.token_ids = token_ids
        self.sentence_bounds = sentence_bounds

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_bounds) - 1

    @property
    def n_words(self) -> int:
        return int(self.sentence_bounds[-1])

    @property
    def longest_sentence(self) -> int:
        return int(np.diff(self.sentence_bounds).max()) if self.n_sentences else 0

    def check(self, vocab_size: int) -> None:
        """Raise ``ValueError`` unless every id is a valid row of a ``vocab_size`` vocabulary."""
        bounds = self.sentence_bounds
        if bounds.dtype != np.int64 or bounds.ndim != 1 or len(bounds) < 1 or bounds[0] != 0:
            raise ValueError("encoded corpus: sentence_bounds must be int64, starting at 0")
        if np.any(np.diff(bounds) < 0) or bounds[-1] != len(self.token_ids):
            raise ValueError("encoded corpus: sentence_bounds must not decrease and must end at len(token_ids)")
        if self.token_ids.dtype != np.int32:
            raise ValueError("encoded corpus: token_ids must be int32")
        if len(self.token_ids) and (self.token_ids.min() < 0 or self.token_ids.max() >= vocab_size):
            raise ValueError(f"encoded corpus: word ids must lie in [0, {vocab_size})")


class _IdBuffer:
    """Growable int32 buffer, in memory or spilled to a raw file for memory-mapping."""

    def __init__(self, path=None):
        self.path = path
        self._chunks = []
        self._file = open(path, "wb") if path is not None else None
        self.current = array("i")
        self.length = 0

    def flush_if_large(self):
        if len(self.current) >= _CHUNK_TOKENS:
            self._flush()

    def _flush(self):
        if not len(self.current):
            return
        chunk = np.frombuffer(self.current, dtype=np.int32)
        if self._file is not None:
            self._file.write(chunk.tobytes())
        else:
            # Each chunk lives in its own anonymous memory map, so that when finish()
            # frees the chunks it has copied, their pages go straight back to the OS.
            # (Freed malloc blocks of this size tend to stay in the heap, and the corpus
            # would briefly count twice in the peak RSS.)
            held = np.frombuffer(mmap.mmap(-1, chunk.nbytes), dtype=np.int32)
            held[:] = chunk
            self._chunks.append(held)
        self.length += len(self.current)
        self.current = array("i")

    def finish(self) -> np.ndarray:
        self._flush()
        if self._file is not None:
            self._file.close()
            if self.length == 0:
                return np.zeros(0, dtype=np.int32)
            return np.memmap(self.path, dtype=np.int32, mode="r+", shape=(self.length,))
        if not self._chunks:
            return np.zeros(0, dtype=np.int32)
        if len(self._chunks) == 1:
            return self._chunks.pop()  # a writable view of the chunk's memory: no copy
        # Chunk by chunk into the result, each freed once copied: the peak is the
        # corpus plus one chunk, not twice the corpus (np.concatenate).
        ids = np.empty(self.length, dtype=np.int32)
        position = 0
        while self._chunks:
            chunk = self._chunks.pop(0)
            ids[position:position + len(chunk)] = chunk
            position += len(chunk)
        return ids


class RawScan:
    """What one pass over a corpus yields before the vocabulary is known.

    Attributes
    ----------
    words : list
        Distinct tokens in order of first appearance (provisional id = position).
    counts : ndarray of int64
        Occurrences of each of them.
    corpus : EncodedCorpus
        The corpus in provisional ids.
    """

    def __init__(self, words, counts, corpus):
        self.words = words
        self.counts = counts
        self.corpus = corpus

    def encode(self, remap) -> EncodedCorpus:
        """Map provisional ids through ``remap`` (-1 = drop the token); returns the final corpus.

        Dropped tokens disappear before windows are formed, as in gensim.  Works in
        place, chunk by chunk, so a memory-mapped buffer is never loaded whole.
        """
        remap = np.asarray(remap, dtype=np.int32)
        ids = self.corpus.token_ids
        bounds = self.corpus.sentence_bounds
        new_bounds = np.zeros(len(bounds), dtype=np.int64)
        write = 0          # kept tokens so far = where the next kept token goes
        bound_cursor = 0   # first sentence bound not yet translated
        for start in range(0, len(ids), _CHUNK_TOKENS):
            chunk = remap[ids[start:start + _CHUNK_TOKENS]]
            keep = chunk >= 0
            # kept_before[i] = kept tokens before position start + i
            kept_before = np.zeros(len(chunk) + 1, dtype=np.int64)
            np.cumsum(keep, out=kept_before[1:])
            kept_before += write
            stop = np.searchsorted(bounds, start + len(chunk), side="left")
            new_bounds[bound_cursor:stop] = kept_before[bounds[bound_cursor:stop] - start]
            bound_cursor = stop
            kept = chunk[keep]
            ids[write:write + len(kept)] = kept
            write += len(kept)
        new_bounds[bound_cursor:] = write
        if isinstance(ids, np.memmap):
            ids.flush()
            new_ids = np.memmap(ids.filename, dtype=np.int32, mode="r", shape=(write,)) if write else \
                np.zeros(0, dtype=np.int32)
        else:
            new_ids = ids
            if write < len(ids):
                try:  # shrink in place: no second copy of a large buffer
                    new_ids.resize(write, refcheck=False)
                except ValueError:
                    new_ids = ids[:write].copy()
        self.corpus = None  # the provisional buffer has been consumed
        return EncodedCorpus(new_ids, new_bounds)


def check_corpus_iterable(corpus_iterable, name="corpus_iterable", passes=1):
    """Reject the corpus shapes that cannot be what the caller meant.

    A single string, or a sequence of strings (sentences must be token lists), gets
    a ``TypeError``; so does a one-shot iterator or generator when ``passes > 1``.
    """
    if corpus_iterable is None:
        return
    if isinstance(corpus_iterable, (str, bytes)):
        raise TypeError(f"{name} must be an iterable of token lists, got a single {type(corpus_iterable).__name__}")
    if not hasattr(corpus_iterable, "__iter__"):
        raise TypeError(f"{name} must be an iterable of token lists, got {type(corpus_iterable).__name__}")
    if passes > 1 and (isinstance(corpus_iterable, GeneratorType) or iter(corpus_iterable) is corpus_iterable):
        raise TypeError(
            f"{name} is a generator or iterator, which can be read only once, but {passes} passes are needed; "
            "pass a re-iterable sequence (a list, or an object whose __iter__ restarts)"
        )


def check_corpus_file(corpus_file, name="corpus_file"):
    """Raise a clear error unless ``corpus_file`` names a readable regular file."""
    if not isinstance(corpus_file, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path, got {type(corpus_file).__name__}")
    path = os.fspath(corpus_file)
    if not os.path.exists(path):
        raise ValueError(f"{name} {path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"{name} {path!r} is not a regular file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{name} {path!r} is not readable")
    return path


def _new_token_index():
    """A dict that gives every new key the next provisional id on first lookup."""
    token_index = defaultdict()
    token_index.default_factory = token_index.__len__
    return token_index


def _finish_scan(token_index, buffer, bounds) -> RawScan:
    ids = buffer.finish()
    words = list(token_index)
    # The index's default factory is its own __len__: a reference cycle that would
    # keep every raw word alive until the cyclic garbage collector happens to run.
    token_index.default_factory = None
    token_index.clear()
    counts = np.zeros(len(words), dtype=np.int64)
    # Chunk by chunk: np.bincount converts its input to int64, i.e. a temporary
    # twice the size of the whole id buffer.
    for start in range(0, len(ids), _CHUNK_TOKENS):
        counts += np.bincount(ids[start:start + _CHUNK_TOKENS], minlength=len(words))
    corpus = EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy())
    return RawScan(words, counts, corpus)


def scan_iterable(corpus_iterable, buffer_path=None, progress_per=100_000) -> RawScan:
    """Count and encode an iterable of token lists in one pass.

    Raises
    ------
    TypeError
        If a sentence is a plain string (``['hello world', ...]``) rather than a
        list of tokens.
    """
    check_corpus_iterable(corpus_iterable)
    token_index = _new_token_index()
    lookup = token_index.__getitem__
    buffer = _IdBuffer(buffer_path)
    bounds = array("q", [0])
    total = 0
    for sentence_no, sentence in enumerate(corpus_iterable):
        if isinstance(sentence, (str, bytes)):
            raise TypeError(
                f"corpus_iterable: sentence #{sentence_no} is a {type(sentence).__name__} ({sentence[:40]!r}); "
                "each sentence must be a list of tokens, e.g. 'hello world'.split()"
            )
        buffer.current.extend(map(lookup, sentence))
        total = buffer.length + len(buffer.current)
        bounds.append(total)
        buffer.flush_if_large()
        if progress_per and sentence_no % progress_per == 0 and sentence_no:
            logger.info("PROGRESS: at sentence #%i, processed %i words, keeping %i word types",
                        sentence_no, total, len(token_index))
    return _finish_scan(token_index, buffer, bounds)


def _file_lines(path):
    """Lines of a UTF-8 text file; invalid bytes become U+FFFD instead of failing."""
    with open(path, "r", encoding="utf-8", errors="replace", newline=None) as handle:
        yield from handle


def scan_file(corpus_file, buffer_path=None) -> RawScan:
    """Count and encode a text file: one sentence per line, tokens separated by whitespace."""
    path = check_corpus_file(corpus_file)
    token_index = _new_token_index()
    lookup = token_index.__getitem__
    buffer = _IdBuffer(buffer_path)
    bounds = array("q", [0])
    ids = buffer.current
    try:
        for line in _file_lines(path):
            tokens = line.split()
            if not tokens:
                continue
            ids.extend(map(lookup, tokens))
            bounds.append(buffer.length + len(ids))
            if len(ids) >= _CHUNK_TOKENS:
                buffer.flush_if_large()
                ids = buffer.current
    except OSError as error:
        raise ValueError(f"corpus_file {path!r} could not be read: {error}") from error
    return _finish_scan(token_index, buffer, bounds)


def _encode_tokens(sentences, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode token lists with a fixed vocabulary, dropping unknown words."""
    buffer = _IdBuffer(buffer_path)
    bounds = array("q", [0])
    lookup = word_index.get
    for sentence_no, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)):
            raise TypeError(
                f"corpus_iterable: sentence #{sentence_no} is a {type(sentence).__name__}; "
                "each sentence must be a list of tokens"
            )
        ids = [i for i in map(lookup, sentence) if i is not None]
        buffer.current.extend(ids)
        bounds.append(buffer.length + len(buffer.current))
        buffer.flush_if_large()
    ids = buffer.finish()
    return EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy())


def encode_iterable(corpus_iterable, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode an iterable of token lists with the vocabulary ``word_index`` (word -> id)."""
    check_corpus_iterable(corpus_iterable)
    return _encode_tokens(corpus_iterable, word_index, buffer_path)


def encode_file(corpus_file, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode a text file with the vocabulary ``word_index`` (word -> id)."""
    path = check_corpus_file(corpus_file)
    try:
        return _encode_tokens((line.split() for line in _file_lines(path)), word_index, buffer_path)
    except OSError as error:
        raise ValueError(f"corpus_file {path!r} could not be read: {error}") from error
