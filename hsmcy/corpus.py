"""Reading corpora once and encoding them as int32 word ids.

A corpus is read a single time.  While counting words we already give every
distinct token a *provisional* id (its order of first appearance) and store the
ids in a compact int32 buffer; when the vocabulary is final, one vectorised remap
turns provisional ids into vocabulary ids and drops the words that did not make it.
Training epochs then run on that buffer without any Python-level token work.

The buffer lives in memory, or -- for corpora larger than RAM -- in a file that is
memory-mapped (``buffer_path``).  While it is written and checked, a mapped
buffer is read chunk by chunk and each chunk's pages are released from the
process once used (``release_pages``); training reads it batch by batch with
``pread`` (``BatchReader``).  Either way the pages stay in the OS page cache, and
the process's resident memory does not grow with the corpus.
"""
from __future__ import annotations

import logging
import mmap
import os
from array import array
from collections import defaultdict
from collections.abc import Sequence
from types import GeneratorType

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["EncodedCorpus", "RawScan", "scan_iterable", "scan_file", "encode_iterable", "encode_file",
           "check_corpus_file", "check_corpus_iterable", "map_id_file", "release_pages", "chunks_of", "MappedIds",
           "BatchReader", "bounds_dtype"]

# Tokens are appended to the id buffer in chunks of this many before they are
# moved to a NumPy array (or flushed to the memory-mapped file).
_CHUNK_TOKENS = 1 << 18


class EncodedCorpus:
    """A corpus as vocabulary ids: sentence ``s`` is ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``.

    Attributes
    ----------
    token_ids : ndarray of int32 (possibly a read-only file mapping, ``map_id_file``)
    sentence_bounds : ndarray of int32 or int64, shape (n_sentences + 1,)
        int32 while the corpus has fewer than 2**31 tokens (``bounds_dtype``), and an
        int64 read-only file mapping when ``token_ids`` is one (``map_bounds``).
    path : str or None
        The file ``token_ids`` is mapped from, if any.
    raw_words : int
        Tokens in the text it was encoded from, out-of-vocabulary ones included
        (what gensim's ``train()`` reports as words read).
    """

    def __init__(self, token_ids, sentence_bounds, path=None, raw_words=None):
        self.token_ids = token_ids
        self.sentence_bounds = sentence_bounds
        self.path = path
        self.raw_words = int(sentence_bounds[-1]) if raw_words is None else int(raw_words)

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_bounds) - 1

    @property
    def n_words(self) -> int:
        return int(self.sentence_bounds[-1])

    @property
    def longest_sentence(self) -> int:
        return max((int(lengths.max()) for lengths in self._sentence_lengths()), default=0)

    def _sentence_lengths(self):
        """Sentence lengths chunk by chunk (one np.diff of all bounds would be a
        temporary of 8 bytes per sentence, held in the peak memory)."""
        bounds = self.sentence_bounds
        for start in range(0, len(bounds) - 1, _CHUNK_TOKENS):
            yield np.diff(bounds[start:start + _CHUNK_TOKENS + 1])
            release_pages(bounds, start, start + _CHUNK_TOKENS + 1)

    def check(self, vocab_size: int) -> None:
        """Raise ``ValueError`` unless every id is a valid row of a ``vocab_size`` vocabulary."""
        bounds = self.sentence_bounds
        if bounds.dtype not in (np.int32, np.int64) or bounds.ndim != 1 or len(bounds) < 1 or bounds[0] != 0:
            raise ValueError("encoded corpus: sentence_bounds must be int32 or int64, starting at 0")
        if any(lengths.min() < 0 for lengths in self._sentence_lengths()) or bounds[-1] != len(self.token_ids):
            raise ValueError("encoded corpus: sentence_bounds must not decrease and must end at len(token_ids)")
        if self.token_ids.dtype != np.int32:
            raise ValueError("encoded corpus: token_ids must be int32")
        for start, chunk in chunks_of(self.token_ids):
            if chunk.min() < 0 or chunk.max() >= vocab_size:
                raise ValueError(f"encoded corpus: word ids must lie in [0, {vocab_size})")


def bounds_dtype(n_tokens):
    """Sentence bounds of a corpus of ``n_tokens`` tokens in memory: int32 if they fit
    (4 bytes a sentence), else int64."""
    return np.dtype(np.int32) if n_tokens < 2**31 else np.dtype(np.int64)


class MappedIds(np.ndarray):
    """An array memory-mapped from a file by ``map_id_file`` (ids, or sentence bounds);
    its views know the mapping and the file too."""

    def __array_finalize__(self, obj):
        self.mapping = getattr(obj, "mapping", None)
        self.path = getattr(obj, "path", None)


def map_id_file(path, length, writable=False, dtype=np.int32) -> np.ndarray:
    """The first ``length`` values (int32 ids by default) of the file at ``path``, memory-mapped (a ``MappedIds``)."""
    dtype = np.dtype(dtype)
    if length == 0:
        return np.zeros(0, dtype=dtype)
    with open(path, "r+b" if writable else "rb") as handle:
        mapping = mmap.mmap(handle.fileno(), length * dtype.itemsize,
                            access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
    values = np.frombuffer(mapping, dtype=dtype).view(MappedIds)
    values.mapping = mapping
    values.path = os.fspath(path)
    return values


def map_bounds(bounds, ids_path) -> np.ndarray:
    """Sentence bounds written beside the id file ``ids_path`` and mapped back read-only.

    With a file-backed corpus, gensim-sized memory must not grow with the number of
    sentences either (8 bytes each).
    """
    path = os.fspath(ids_path) + ".bounds"
    with open(path, "wb") as handle:
        for _, chunk in chunks_of(bounds):
            handle.write(chunk.astype(np.int64).tobytes())
    return map_id_file(path, len(bounds), dtype=np.int64)


def _offset_in_mapping(values) -> int:
    """Byte offset of a ``MappedIds`` (or a view of one) from the start of its mapping: of its file."""
    return values.ctypes.data - np.frombuffer(values.mapping, dtype=np.uint8, count=1).ctypes.data


def release_pages(ids, start, stop) -> None:
    """Drop the pages of ``ids[start:stop]`` from this process's resident memory.

    Only for ids mapped from a file (``MappedIds``); anything else is left alone.
    Written pages are first written back to the file; all stay in the OS page
    cache and are mapped again on the next access, so this changes no value, only
    what counts towards the process's RSS.
    """
    mapping = ids.mapping if isinstance(ids, MappedIds) else None
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    offset = _offset_in_mapping(ids)
    first = (offset + max(start, 0) * ids.itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
    last = min(offset + min(stop, len(ids)) * ids.itemsize, len(mapping))
    if last <= first:
        return
    if ids.flags.writeable:
        mapping.flush(first, last - first)
    mapping.madvise(mmap.MADV_DONTNEED, first, last - first)


def chunks_of(ids, chunk=None):
    """``(start, ids[start:start + chunk])`` over ``ids``, releasing each mapped chunk once used."""
    chunk = chunk or _CHUNK_TOKENS
    for start in range(0, len(ids), chunk):
        yield start, ids[start:start + chunk]
        release_pages(ids, start, start + chunk)


class BatchReader:
    """Reads a file-backed corpus batch by batch with ``pread``, not through its mappings.

    Every page touched through a mapping counts in the process's RSS, and a fault
    maps a whole page-cache folio (up to 2 MB) at once.  Read with ``pread``, a
    batch's ids and sentence bounds land in small arrays of their own and the files
    stay in the OS page cache only, so training a file-backed corpus adds nothing to
    the RSS but one batch per worker.

    Each batch is checked as it is read: the files can be changed by another process
    after the corpus was checked, and an id out of range must be an error, not a
    write outside the weights.  Thread-safe (``pread`` keeps no file position); use
    as a context manager, or :meth:`close` it.
    """

    def __init__(self, corpus, vocab_size):
        self.corpus = corpus
        self.vocab_size = int(vocab_size)
        self._files = {}
        for part in (corpus.token_ids, corpus.sentence_bounds):
            if isinstance(part, MappedIds) and part.path is not None and part.path not in self._files:
                self._files[part.path] = os.open(part.path, os.O_RDONLY)

    def _read(self, array, start, stop):
        """``array[start:stop]`` as a new array: by ``pread`` if it is mapped from a file."""
        if not isinstance(array, MappedIds) or array.path not in self._files:
            return np.array(array[start:stop])
        values = np.empty(stop - start, dtype=array.dtype)
        view = memoryview(values).cast("B")
        offset = _offset_in_mapping(array) + start * array.itemsize
        done = 0
        while done < len(view):
            got = os.preadv(self._files[array.path], [view[done:]], offset + done)
            if got <= 0:
                raise ValueError(f"corpus buffer {array.path!r} ended at byte {offset + done}: "
                                 "it was truncated while training")
            done += got
        return values

    def read(self, first, last):
        """Sentences ``first .. last - 1``: ``(token_ids, bounds)``, the bounds counted from 0."""
        bounds = self._read(self.corpus.sentence_bounds, first, last + 1)
        if len(bounds) != last + 1 - first or bounds[0] < 0 or np.any(np.diff(bounds) < 0) \
                or bounds[-1] > len(self.corpus.token_ids):
            raise ValueError(f"corpus buffer {self.corpus.path!r}: the sentence bounds of sentences {first}..{last} "
                             "are out of order: the buffer was changed while training")
        ids = self._read(self.corpus.token_ids, int(bounds[0]), int(bounds[-1]))
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"corpus buffer {self.corpus.path!r} holds ids outside [0, {self.vocab_size}) in "
                             f"sentences {first}..{last}: it was changed while training")
        bounds -= bounds[0]
        return ids, bounds

    def close(self):
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
            return map_id_file(self.path, self.length, writable=True)
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
    words : sequence of str
        Distinct tokens in order of first appearance (provisional id = position):
        a list from :func:`scan_iterable`, a :class:`TableWords` from :func:`scan_file`.
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
        raw_words = len(ids)   # before the buffer shrinks in place
        new_bounds = np.zeros(len(bounds), dtype=bounds_dtype(len(ids)))
        write = 0          # kept tokens so far = where the next kept token goes
        bound_cursor = 0   # first sentence bound not yet translated
        for start in range(0, len(ids), _CHUNK_TOKENS):
            chunk = remap[ids[start:start + _CHUNK_TOKENS]]
            written_before = write
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
            release_pages(ids, written_before, write)
            release_pages(ids, start, start + len(chunk))
        new_bounds[bound_cursor:] = write
        path = self.corpus.path if isinstance(ids, MappedIds) else None
        if path is not None:
            ids.mapping.flush()
            new_ids = map_id_file(path, write)  # read-only from here on
            if isinstance(new_ids, MappedIds):
                new_bounds = map_bounds(new_bounds, path)
        else:
            new_ids = ids
            if write < len(ids):
                try:  # shrink in place: no second copy of a large buffer
                    new_ids.resize(write, refcheck=False)
                except ValueError:
                    new_ids = ids[:write].copy()
        self.corpus = None  # the provisional buffer has been consumed
        return EncodedCorpus(new_ids, new_bounds, path, raw_words=raw_words)


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
    for _, chunk in chunks_of(ids):
        counts += np.bincount(chunk, minlength=len(words))
    corpus = EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy(), buffer.path)
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


# Bytes read from a corpus file at a time: a few pieces of this size (the read, the
# carried-over tail joined to it, their ids) are the reader's whole working memory;
# 1 MB pieces added ~4 MB to the peak of a small model and were no faster.
_READ_BYTES = 1 << 18


def _scan_pieces(handle, table, buffer, bounds):
    """Feed a binary file to a ``TokenTable`` piece by piece; ids into ``buffer``, ends into ``bounds``."""
    pending = b""
    while True:
        piece = handle.read(_READ_BYTES)
        text = pending + piece if pending else piece
        ids, ends, consumed = table.scan(text, not piece)
        ends += buffer.length + len(buffer.current)
        buffer.current.frombytes(memoryview(ids).cast("B"))
        bounds.frombytes(memoryview(ends).cast("B"))
        buffer.flush_if_large()
        pending = text[consumed:]
        if not piece:
            return


class TableWords(Sequence):
    """The words of a ``TokenTable`` as a read-only sequence, decoded one by one when read.

    ``token_ids[i]`` is the table's provisional id of word ``i`` (default: the
    table's own order).  Reading every word is as costly as a list; reading only
    the words a vocabulary keeps creates only those strings.
    """

    def __init__(self, table, token_ids=None):
        self._table = table
        self._token_ids = token_ids

    def __len__(self):
        return len(self._table) if self._token_ids is None else len(self._token_ids)

    def __getitem__(self, index):
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"word indices must be integers, not {type(index).__name__}")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"word index {index} out of range for {len(self)} words")
        return self._table.word(int(index if self._token_ids is None else self._token_ids[index]))

    def __repr__(self):
        return f"<{len(self)} words of a scanned file, decoded when read>"


def _merge_equal_words(table, counts, ids):
    """Give one provisional id to distinct byte strings that decode to the same word.

    Only invalid UTF-8 can cause this (``b"\\xff"`` and ``b"\\xfe"`` both decode to
    U+FFFD), so only the words holding U+FFFD are compared.  The first appearance
    keeps its place, as in the Python reader.  Returns ``(words, counts)``.
    """
    first_of = {}
    remap = np.arange(len(counts), dtype=np.int64)   # provisional id -> first id of the same word
    for token in table.ids_with_replacement_character():
        remap[token] = first_of.setdefault(table.word(int(token)), token)
    kept = np.flatnonzero(remap == np.arange(len(counts)))
    if len(kept) == len(counts):
        return TableWords(table), counts
    new_id = np.empty(len(counts), dtype=np.int32)
    new_id[kept] = np.arange(len(kept), dtype=np.int32)
    new_id = new_id[remap]
    merged_counts = np.zeros(len(kept), dtype=np.int64)
    np.add.at(merged_counts, new_id, counts)
    for start, chunk in chunks_of(ids):
        ids[start:start + len(chunk)] = new_id[chunk]
    return TableWords(table, kept), merged_counts


def scan_file(corpus_file, buffer_path=None) -> RawScan:
    """Count and encode a text file: one sentence per line, tokens separated by whitespace.

    The tokens are those of ``line.split()`` over the file read as UTF-8 (invalid
    bytes become U+FFFD) with universal newlines; the splitting and counting run in
    compiled code (``hsmcy._text``).  The scan's ``words`` are a :class:`TableWords`
    sequence: a word becomes a Python string only when it is read.
    """
    from hsmcy._text import TokenTable

    path = check_corpus_file(corpus_file)
    table = TokenTable()
    buffer = _IdBuffer(buffer_path)
    bounds = array("q", [0])
    try:
        with open(path, "rb") as handle:
            _scan_pieces(handle, table, buffer, bounds)
    except OSError as error:
        raise ValueError(f"corpus_file {path!r} could not be read: {error}") from error
    ids = buffer.finish()
    table.finish_scanning()
    words, counts = _merge_equal_words(table, table.counts(), ids)
    corpus = EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy(), buffer.path)
    return RawScan(words, counts, corpus)


def _encode_tokens(sentences, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode token lists with a fixed vocabulary, dropping unknown words."""
    buffer = _IdBuffer(buffer_path)
    bounds = array("q", [0])
    lookup = word_index.get
    raw_words = 0
    for sentence_no, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)):
            raise TypeError(
                f"corpus_iterable: sentence #{sentence_no} is a {type(sentence).__name__}; "
                "each sentence must be a list of tokens"
            )
        ids = [i for i in map(lookup, sentence) if i is not None]
        raw_words += len(sentence)
        buffer.current.extend(ids)
        bounds.append(buffer.length + len(buffer.current))
        buffer.flush_if_large()
    ids = buffer.finish()
    bounds = np.frombuffer(bounds, dtype=np.int64).astype(bounds_dtype(len(ids)))
    if buffer.path is not None and len(ids):
        ids = map_id_file(buffer.path, len(ids))  # read-only
        bounds = map_bounds(bounds, buffer.path)
    return EncodedCorpus(ids, bounds, buffer.path, raw_words=raw_words)


def encode_iterable(corpus_iterable, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode an iterable of token lists with the vocabulary ``word_index`` (word -> id)."""
    check_corpus_iterable(corpus_iterable)
    return _encode_tokens(corpus_iterable, word_index, buffer_path)


def encode_file(corpus_file, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode a text file with the vocabulary ``word_index`` (word -> id), dropping unknown words."""
    scan = scan_file(corpus_file, buffer_path)
    remap = np.fromiter((word_index.get(word, -1) for word in scan.words), dtype=np.int32, count=len(scan.words))
    return scan.encode(remap)
