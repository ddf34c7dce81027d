"""Reading corpora once and encoding them as int32 word ids.

A corpus is read a single time.  While counting words we already give every
distinct token a *provisional* id (its order of first appearance) and store the
ids in a compact int32 buffer; when the vocabulary is final, one vectorised remap
turns provisional ids into vocabulary ids and drops the words that did not make it.
Training epochs then run on that buffer without any Python-level token work.

The buffer lives in memory, or -- for corpora larger than RAM -- in a file
(``buffer_path``, a :class:`FileArray`).  A buffer file is never memory-mapped: it
is read and written in chunks with ``pread``/``pwrite`` through a descriptor held
open, so the process's resident memory does not grow with the corpus, and a file
shortened by someone else while in use is a ``ValueError`` naming it, never a
``SIGBUS``.

Corpus files compressed with gzip, bzip2 or xz are decompressed while they are
read (:func:`open_corpus_file`), as gensim's ``LineSentence`` does.
"""
from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import mmap
import operator
import os
import tempfile
import warnings
import zlib
from array import array
from collections import defaultdict
from collections.abc import Sequence
from types import GeneratorType

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["EncodedCorpus", "RawScan", "scan_iterable", "scan_file", "encode_iterable", "encode_file",
           "check_corpus_file", "check_corpus_iterable", "check_buffer_location", "open_corpus_file", "chunks_of",
           "FileArray", "BatchReader", "bounds_dtype"]

# Tokens are appended to the id buffer in chunks of this many before they are
# moved to a NumPy array (or written to the buffer file).
_CHUNK_TOKENS = 1 << 18


class EncodedCorpus:
    """A corpus as vocabulary ids: sentence ``s`` is ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``.

    Attributes
    ----------
    token_ids : ndarray of int32, or a :class:`FileArray` of int32
    sentence_bounds : ndarray of int32 or int64, or a :class:`FileArray` of int64, shape (n_sentences + 1,)
        In memory: int32 while the corpus has fewer than 2**31 tokens (``bounds_dtype``).
        In a file when ``token_ids`` is (the same file, after the ids).
    raw_words : int
        Tokens in the text it was encoded from, out-of-vocabulary ones included
        (what gensim's ``train()`` reports as words read).
    """

    def __init__(self, token_ids, sentence_bounds, raw_words=None):
        self.token_ids = token_ids
        self.sentence_bounds = sentence_bounds
        self.raw_words = int(sentence_bounds[-1]) if raw_words is None else int(raw_words)

    @property
    def file_backed(self) -> bool:
        """Whether the ids live in a buffer file (read them with a :class:`BatchReader`)."""
        return isinstance(self.token_ids, FileArray)

    @property
    def path(self):
        """The name of the buffer file the ids live in (None in memory, or for an unnamed file)."""
        return self.token_ids.path if self.file_backed else None

    @property
    def description(self) -> str:
        """What to call the corpus in a message: its buffer file, or "the encoded corpus"."""
        return self.token_ids.description if self.file_backed else "the encoded corpus"

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

    def check(self, vocab_size: int) -> None:
        """Raise ``ValueError`` unless every id is a valid row of a ``vocab_size`` vocabulary."""
        bounds, where = self.sentence_bounds, self.description
        if bounds.dtype not in (np.int32, np.int64) or bounds.ndim != 1 or len(bounds) < 1 or bounds[0] != 0:
            raise ValueError(f"{where}: sentence_bounds must be int32 or int64, starting at 0")
        if any(lengths.min() < 0 for lengths in self._sentence_lengths()) or bounds[-1] != len(self.token_ids):
            raise ValueError(f"{where}: sentence_bounds must not decrease and must end at len(token_ids)")
        if self.token_ids.dtype != np.int32:
            raise ValueError(f"{where}: token_ids must be int32")
        for start, chunk in chunks_of(self.token_ids):
            if chunk.min() < 0 or chunk.max() >= vocab_size:
                raise ValueError(f"{where}: word ids must lie in [0, {vocab_size})")


def bounds_dtype(n_tokens):
    """Sentence bounds of a corpus of ``n_tokens`` tokens in memory: int32 if they fit
    (4 bytes a sentence), else int64."""
    return np.dtype(np.int32) if n_tokens < 2**31 else np.dtype(np.int64)


class _BufferFile:
    """A corpus buffer file, read and written with ``pread``/``pwrite`` through a descriptor held open.

    ``location`` a directory: an unnamed file in it (``tempfile.TemporaryFile``).
    Nobody else can open it, two models never share one, and its space is freed
    when it is closed, even if the process dies.

    ``location`` a file path: a new file with a unique temporary name beside it,
    renamed to ``location`` by :meth:`publish` once complete (an existing file
    there is replaced, not rewritten: another model still reading it keeps its
    own), and deleted if it never is.

    Either way the descriptor keeps this very file: another process can still
    shorten it, and then a read comes up short, which is a ``ValueError`` naming
    the file (``read_into``) -- never a signal, as an access past the end of a
    memory mapping would be.
    """

    def __init__(self, location):
        location = os.fspath(location)
        if os.path.isdir(location):
            with tempfile.TemporaryFile(dir=location) as handle:
                self.fd = os.dup(handle.fileno())
            self.name = None
            self._unpublished = None
            self.description = f"corpus buffer (an unnamed file in {location!r})"
        else:
            folder, base = os.path.split(os.path.abspath(location))
            self.fd, self._unpublished = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".partial")
            self.name = location
            self.description = f"corpus buffer {location!r}"

    def write_at(self, data, offset):
        """Write all of ``data`` (bytes-like) at byte ``offset``."""
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.pwrite(self.fd, view[done:], offset + done)
        except OSError as error:
            raise OSError(error.errno, f"writing the {self.description}: {error.strerror}") from error

    def read_into(self, values, offset):
        """Fill the array ``values`` from byte ``offset``; ``ValueError`` if the file ends before."""
        view = memoryview(values).cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done:]], offset + done)
            if got <= 0:
                size = os.fstat(self.fd).st_size
                raise ValueError(f"{self.description} is {size} bytes long, but bytes {offset}..{offset + len(view)} "
                                 "are needed: it was truncated or rewritten by someone else while in use")
            done += got

    def truncate(self, size):
        os.ftruncate(self.fd, size)

    def publish(self):
        """Give a named buffer its name, now that it is complete (nothing to do for an unnamed one)."""
        if self._unpublished is not None:
            os.replace(self._unpublished, self.name)
            self._unpublished = None

    # A copy would hold the same descriptor number and close it a second time, perhaps
    # by then another file's: copies share the one object, and pickling is refused.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError(f"the {self.description} cannot be pickled: it is an open file of this process")

    def __del__(self):
        fd, self.fd = getattr(self, "fd", None), None
        unpublished, self._unpublished = getattr(self, "_unpublished", None), None
        try:
            if fd is not None:
                os.close(fd)
            if unpublished is not None:   # never completed: nobody will read it
                os.unlink(unpublished)
        except OSError:
            pass


class FileArray:
    """A one-dimensional int32 or int64 array kept in a corpus buffer file: ids, or sentence bounds.

    Indexing reads: ``values[a:b]``, ``values[i]`` and ``values[indices]`` return
    new NumPy values, read with ``pread`` (thread-safe: no file position); a slice
    can be assigned (``pwrite``) while the buffer is being built.  Nothing is
    memory-mapped, so reading a huge buffer adds only what is read to the RSS, and
    a file shortened by someone else is a ``ValueError`` naming it, never a crash.
    ``np.asarray(values)`` reads the whole array.
    """

    ndim = 1

    def __init__(self, file, offset, length, dtype, writable=False):
        self.file = file
        self.offset = int(offset)
        self.length = int(length)
        self.dtype = np.dtype(dtype)
        self.writable = writable

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def shape(self):
        return (self.length,)

    @property
    def path(self):
        """The buffer file's name (None for an unnamed file)."""
        return self.file.name

    @property
    def description(self) -> str:
        return self.file.description

    def __len__(self):
        return self.length

    def __repr__(self):
        return f"<FileArray of {self.length} {self.dtype} values in the {self.description}>"

    def read(self, start, stop) -> np.ndarray:
        """``values[start:stop]`` (``0 <= start <= stop <= len``) as a new array."""
        if not 0 <= start <= stop <= self.length:
            raise ValueError(f"{self.description}: values [{start}, {stop}) requested of {self.length}")
        values = np.empty(stop - start, dtype=self.dtype)
        self.file.read_into(values, self.offset + start * self.itemsize)
        return values

    def write(self, start, values) -> None:
        """Store ``values`` at ``start`` (a buffer being built only)."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if not self.writable or not 0 <= start <= start + len(values) <= self.length:
            raise ValueError(f"{self.description}: cannot write values [{start}, {start + len(values)})")
        self.file.write_at(values, self.offset + start * self.itemsize)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.length)
            if step == 1:
                return self.read(start, max(start, stop))
            key = np.arange(start, stop, step)
        elif not isinstance(key, np.ndarray) and not isinstance(key, (list, tuple)):
            index = operator.index(key)
            if not -self.length <= index < self.length:
                raise IndexError(f"index {index} out of range for {self.length} values")
            index %= self.length
            return self.read(index, index + 1)[0]
        indices = np.asarray(key)
        if indices.dtype.kind not in "iu" or indices.ndim != 1:
            raise IndexError("a FileArray is indexed by integers, slices or one-dimensional integer arrays")
        indices = np.where(indices < 0, indices + self.length, indices) if indices.dtype.kind == "i" else indices
        if len(indices) and (indices.min() < 0 or indices.max() >= self.length):
            raise IndexError(f"indices out of range for {self.length} values")
        values = np.empty(indices.shape, dtype=self.dtype)
        for position, index in enumerate(indices.tolist()):   # few: batch edges
            values[position] = self.read(index, index + 1)[0]
        return values

    def __setitem__(self, key, values):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("only contiguous slices of a FileArray can be assigned")
        start, stop, _ = key.indices(self.length)
        values = np.asarray(values)
        if len(values) != max(stop - start, 0):
            raise ValueError(f"cannot assign {len(values)} values to a slice of {max(stop - start, 0)}")
        self.write(start, values)

    def __array__(self, dtype=None, copy=None):
        values = self.read(0, self.length)
        return values if dtype is None else values.astype(dtype)

    def __iter__(self):
        for _, chunk in chunks_of(self):
            yield from chunk

    def tolist(self):
        return np.asarray(self).tolist()


def chunks_of(values, chunk=None):
    """``(start, values[start:start + chunk])`` over ``values``: never a whole buffer file at once."""
    chunk = chunk or _CHUNK_TOKENS
    for start in range(0, len(values), chunk):
        yield start, values[start:start + chunk]


def _store_bounds(file, n_ids, bounds):
    """Finish a buffer: sentence bounds (int64) after its ``n_ids`` ids, the file cut there and published.

    Returns the ids and the bounds as read-only :class:`FileArray` views of the file.
    """
    offset = -(-n_ids * 4 // 8) * 8   # the bounds start on 8 bytes
    for start, chunk in chunks_of(bounds):
        file.write_at(np.ascontiguousarray(chunk, dtype=np.int64), offset + 8 * start)
    file.truncate(offset + 8 * len(bounds))
    file.publish()
    return FileArray(file, 0, n_ids, np.int32), FileArray(file, offset, len(bounds), np.int64)


class BatchReader:
    """Reads a file-backed corpus batch by batch, each batch into small arrays of its own.

    A batch's ids and sentence bounds are read with ``pread`` (:class:`FileArray`):
    the file stays in the OS page cache only, so training a file-backed corpus adds
    nothing to the RSS but one batch per worker.

    Each batch is checked as it is read: the file can be changed by another process
    after the corpus was checked, and an id out of range must be an error, not a
    write outside the weights; a file shortened meanwhile is an error too.  Every
    message names the file.  Thread-safe (``pread`` keeps no file position); use as
    a context manager, or :meth:`close` it.
    """

    def __init__(self, corpus, vocab_size):
        self.corpus = corpus
        self.vocab_size = int(vocab_size)

    @staticmethod
    def _read(values, start, stop):
        """``values[start:stop]`` as a new array."""
        if isinstance(values, FileArray):
            return values.read(start, stop)
        return np.array(values[start:stop])

    def read(self, first, last, expected_words=None):
        """Sentences ``first .. last - 1``: ``(token_ids, bounds)``, the bounds counted from 0.

        ``expected_words``, the ``(start, stop)`` token range of these sentences when
        training began, catches bounds rewritten with values that are in order but
        wrong (all zeros, say), which would otherwise train an empty batch.
        """
        where = self.corpus.description
        if not 0 <= first <= last < len(self.corpus.sentence_bounds):
            raise ValueError(f"{where}: sentences {first}..{last} are not in the corpus: it was changed while "
                             "training")
        bounds = self._read(self.corpus.sentence_bounds, first, last + 1)
        if len(bounds) != last + 1 - first or bounds[0] < 0 or np.any(np.diff(bounds) < 0) \
                or bounds[-1] > len(self.corpus.token_ids):
            raise ValueError(f"{where}: the sentence bounds of sentences {first}..{last} "
                             "are out of order: the buffer was changed while training")
        if expected_words is not None and (int(bounds[0]), int(bounds[-1])) != tuple(map(int, expected_words)):
            raise ValueError(f"{where}: sentences {first}..{last} now span tokens {int(bounds[0])}..{int(bounds[-1])}"
                             f", not {expected_words[0]}..{expected_words[1]}: the buffer was changed while training")
        ids = self._read(self.corpus.token_ids, int(bounds[0]), int(bounds[-1]))
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"{where} holds ids outside [0, {self.vocab_size}) in "
                             f"sentences {first}..{last}: it was changed while training")
        bounds -= bounds[0]
        return ids, bounds

    def close(self):
        """Nothing to release: the corpus holds its file (kept for the context-manager protocol)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _IdBuffer:
    """Growable int32 buffer, in memory or written to a buffer file (``location``, see :class:`_BufferFile`)."""

    def __init__(self, location=None):
        self.file = _BufferFile(location) if location is not None else None
        self._chunks = []
        self.current = array("i")
        self.length = 0

    def flush_if_large(self):
        if len(self.current) >= _CHUNK_TOKENS:
            self._flush()

    def _flush(self):
        if not len(self.current):
            return
        chunk = np.frombuffer(self.current, dtype=np.int32)
        if self.file is not None:
            self.file.write_at(chunk, 4 * self.length)
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

    def finish(self):
        """The ids: an ndarray, or a writable :class:`FileArray` of the buffer file."""
        self._flush()
        if self.file is not None:
            return FileArray(self.file, 0, self.length, np.int32, writable=True)
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
        place, chunk by chunk, so a buffer file is never loaded whole.
        """
        remap = np.asarray(remap, dtype=np.int32)
        ids = self.corpus.token_ids
        bounds = self.corpus.sentence_bounds
        raw_words = len(ids)   # before the buffer shrinks in place
        new_bounds = np.zeros(len(bounds), dtype=bounds_dtype(len(ids)))
        write = 0          # kept tokens so far = where the next kept token goes
        bound_cursor = 0   # first sentence bound not yet translated
        for start in range(0, len(ids), _CHUNK_TOKENS):
            provisional = ids[start:start + _CHUNK_TOKENS]
            if len(provisional) and (provisional.min() < 0 or provisional.max() >= len(remap)):
                raise ValueError(f"{self.corpus.description} holds ids outside [0, {len(remap)}): "
                                 "it was changed by someone else while the vocabulary was built")
            chunk = remap[provisional]
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
        if isinstance(ids, FileArray):
            new_ids, new_bounds = _store_bounds(ids.file, write, new_bounds)   # read-only from here on
        else:
            new_ids = ids
            if write < len(ids):
                try:  # shrink in place: no second copy of a large buffer
                    new_ids.resize(write, refcheck=False)
                except ValueError:
                    new_ids = ids[:write].copy()
        self.corpus = None  # the provisional buffer has been consumed
        return EncodedCorpus(new_ids, new_bounds, raw_words=raw_words)


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


def check_buffer_location(location, corpus_file=None, name="corpus_buffer"):
    """Raise a clear error unless a corpus buffer can be written at ``location``.

    ``location`` is a directory (an unnamed file is made in it) or a file path in
    an existing directory (see :class:`_BufferFile`).  A path that is the corpus
    file itself (same name, or the same file through a link) is refused: the
    buffer would replace the corpus.  Checked before anything is opened.
    """
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"{name} must be a directory or file path, got {type(location).__name__}")
    path = os.fspath(location)
    if isinstance(path, bytes):
        raise TypeError(f"{name} must be a str or PathLike path, got bytes {path!r}")
    if not path:
        raise ValueError(f"{name} is an empty path: give a directory or a file path")
    is_directory = os.path.isdir(path)
    if not is_directory and path.endswith((os.sep, os.altsep or os.sep)):
        raise ValueError(f"{name} {path!r} ends with a path separator but is not an existing directory")
    folder = path if is_directory else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {path!r}: the directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path!r}: the directory {folder!r} is not writable")
    if is_directory:
        return path
    if os.path.lexists(path) and not os.path.isfile(path):
        raise ValueError(f"{name} {path!r} exists and is not a regular file or a directory")
    if corpus_file is not None:
        corpus = os.fspath(corpus_file)
        if os.path.abspath(path) == os.path.abspath(corpus) or (
                os.path.exists(path) and os.path.exists(corpus) and os.path.samefile(path, corpus)):
            raise ValueError(f"{name} {path!r} is the corpus file itself: the buffer would replace the corpus; "
                             "give a directory or another file name")
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
    corpus = EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy())
    return RawScan(words, counts, corpus)


def scan_iterable(corpus_iterable, buffer_path=None, progress_per=100_000) -> RawScan:
    """Count and encode an iterable of token lists in one pass.

    Raises
    ------
    TypeError
        If a sentence is a plain string (``['hello world', ...]``) rather than a
        list of tokens, or a token is not a ``str`` (ints, bytes, None, lists: a model
        could neither save nor score them).
    """
    check_corpus_iterable(corpus_iterable)
    if buffer_path is not None:
        check_buffer_location(buffer_path)
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
        try:
            buffer.current.extend(map(lookup, sentence))
        except TypeError as error:   # an unhashable token (a list), or a sentence that is not iterable
            raise TypeError(f"corpus_iterable: sentence #{sentence_no} must be a list of str tokens: {error}") from None
        total = buffer.length + len(buffer.current)
        bounds.append(total)
        buffer.flush_if_large()
        if progress_per and sentence_no % progress_per == 0 and sentence_no:
            logger.info("PROGRESS: at sentence #%i, processed %i words, keeping %i word types",
                        sentence_no, total, len(token_index))
    # Checked once per distinct word, not per token: cheap, and the token loop stays in C.
    for word in token_index:
        if not isinstance(word, str):
            raise TypeError(f"corpus_iterable: token {word!r} is a {type(word).__name__}; tokens must be str "
                            "(decode bytes, convert numbers with str())")
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


def _merge_equal_words(table, counts, ids, replaced):
    """Give one provisional id to distinct byte strings that decode to the same word.

    Only invalid UTF-8 can cause this (``b"\\xff"`` and ``b"\\xfe"`` both decode to
    U+FFFD), so only the words holding U+FFFD (``replaced``, the table's
    ``ids_with_replacement_character``) are compared.  The first appearance keeps
    its place, as in the Python reader.  Returns ``(words, counts)``.
    """
    first_of = {}
    remap = np.arange(len(counts), dtype=np.int64)   # provisional id -> first id of the same word
    for token in replaced:
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


# Compressed corpora, read as gensim's LineSentence reads them (smart_open picks a
# decompressor by the file name's extension): by extension, and also by the
# format's magic bytes, so that a compressed file under any name is read as the
# text it holds, never trained as junk.  None of these magic numbers can begin a
# UTF-8 text (0x8b and 0xfd are not first bytes; bzip2's is followed by its block
# magic).  (name, extensions, opener, recognises the first bytes)
_COMPRESSIONS = (
    ("gzip", (".gz", ".gzip"), gzip.open, lambda head: head.startswith(b"\x1f\x8b")),
    ("bzip2", (".bz2",), bz2.open,
     lambda head: head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")),
    ("xz", (".xz",), lzma.open, lambda head: head.startswith(b"\xfd7zXZ\x00")),
)
# Formats recognised by their first bytes that we cannot read as a corpus: a clear
# error beats training on their bytes.
_UNREADABLE = (
    ("a zstd-compressed file", lambda head: head.startswith(b"\x28\xb5\x2f\xfd"), ": decompress it first"),
    ("a zip archive", lambda head: head.startswith(b"PK\x03\x04"), " (an hsmcy model file?): give the text file"),
)


def corpus_compression(corpus_file, name="corpus_file"):
    """How ``corpus_file`` is compressed: ``"gzip"``, ``"bzip2"``, ``"xz"`` or None (plain text).

    Decided by the extension (as gensim/smart_open) or the first bytes.  A zstd file
    or a zip archive (by their first bytes) is a ``ValueError``.
    """
    path = os.fspath(corpus_file)
    lowered = os.fsdecode(path).lower()
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise ValueError(f"{name} {path!r} could not be read: {error}") from error
    for kind, recognises, advice in _UNREADABLE:
        if recognises(head):
            raise ValueError(f"{name} {path!r} is {kind}, not a text corpus{advice} "
                             "(hsmcy reads plain, gzip, bzip2 and xz text)")
    for kind, extensions, _, recognises in _COMPRESSIONS:
        if lowered.endswith(extensions) or recognises(head):
            if not lowered.endswith(extensions):
                logger.info("%s %r is %s-compressed (by its first bytes): decompressing it while reading",
                            name, path, kind)
            return kind
    return None


def open_corpus_file(corpus_file, name="corpus_file"):
    """Open a corpus file for reading bytes, decompressing gzip, bzip2 and xz on the fly.

    Returns ``(handle, compression)``: a binary file object, and ``"gzip"``,
    ``"bzip2"``, ``"xz"`` or None.  Reading a damaged compressed file raises
    ``OSError``, ``EOFError``, ``lzma.LZMAError`` or ``zlib.error``
    (``_DECOMPRESSION_ERRORS``); :func:`scan_file` turns them into a ``ValueError``
    naming the file.
    """
    path = check_corpus_file(corpus_file, name)
    compression = corpus_compression(path, name)
    opener = next((opener for kind, _, opener, _ in _COMPRESSIONS if kind == compression), open)
    try:
        return opener(path, "rb"), compression
    except OSError as error:
        raise ValueError(f"{name} {path!r} could not be opened: {error}") from error


_DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)

# A corpus file gets a warning (it is probably not UTF-8 text: Latin-1, UTF-16, a
# binary or a compressed file of another format) when at least this share of its
# tokens holds bytes that are not UTF-8, or when any token holds a NUL byte.
_INVALID_TOKEN_SHARE_WARNING = 0.05


def _warn_if_not_text(path, counts, replaced, with_nul, compression, name="corpus_file"):
    """Log and ``warnings.warn`` when a corpus file does not look like UTF-8 text (see above)."""
    total = int(counts.sum())
    if total == 0:
        return
    invalid = int(counts[replaced].sum()) if len(replaced) else 0
    nul = int(counts[with_nul].sum()) if len(with_nul) else 0
    if invalid < _INVALID_TOKEN_SHARE_WARNING * total and nul == 0:
        return
    problems = []
    if invalid >= _INVALID_TOKEN_SHARE_WARNING * total:
        problems.append(f"{invalid:,} of its {total:,} tokens ({100 * invalid / total:.1f}%) hold bytes that are "
                        "not UTF-8 (read as U+FFFD)")
    if nul:
        problems.append(f"{nul:,} tokens hold NUL bytes")
    read_as = f"{compression}-decompressed " if compression else ""
    hint = ""
    try:
        with open(path, "rb") as handle:
            if compression is None and handle.read(2) in (b"\xff\xfe", b"\xfe\xff"):
                hint = " It starts with a UTF-16 byte-order mark: convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)."
    except OSError:
        pass
    message = (f"{name} {os.fspath(path)!r} does not look like UTF-8 text: {' and '.join(problems)}.{hint} "
               f"Is it binary, compressed in another format, or in another encoding (Latin-1, UTF-16)? "
               f"hsmcy reads {read_as}text as UTF-8, one sentence per line")
    logger.warning("%s", message)
    warnings.warn(message, UnicodeWarning, stacklevel=4)


def scan_file(corpus_file, buffer_path=None) -> RawScan:
    """Count and encode a text file: one sentence per line, tokens separated by whitespace.

    The tokens are those of ``line.split()`` over the file read as UTF-8 (invalid
    bytes become U+FFFD) with universal newlines; the splitting and counting run in
    compiled code (``hsmcy._text``).  A gzip, bzip2 or xz file is decompressed while
    it is read (:func:`open_corpus_file`).  A file that does not look like UTF-8
    text (many invalid bytes, NUL bytes) is read all the same, with a warning.  The
    scan's ``words`` are a :class:`TableWords` sequence: a word becomes a Python
    string only when it is read.
    """
    from hsmcy._text import TokenTable

    path = check_corpus_file(corpus_file)
    if buffer_path is not None:
        check_buffer_location(buffer_path, corpus_file=path)
    handle, compression = open_corpus_file(path)
    table = TokenTable()
    bounds = array("q", [0])
    with handle:
        buffer = _IdBuffer(buffer_path)
        try:
            _scan_pieces(handle, table, buffer, bounds)
        except _DECOMPRESSION_ERRORS as error:
            what = f" as {compression}-compressed text" if compression else ""
            raise ValueError(f"corpus_file {path!r} could not be read{what}: {error}") from error
    ids = buffer.finish()
    table.finish_scanning()
    counts = table.counts()
    replaced = table.ids_with_replacement_character()
    _warn_if_not_text(path, counts, replaced, table.ids_with_nul(), compression)
    words, counts = _merge_equal_words(table, counts, ids, replaced)
    corpus = EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).copy())
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
    if isinstance(ids, FileArray):
        ids, bounds = _store_bounds(ids.file, len(ids), np.frombuffer(bounds, dtype=np.int64))
        return EncodedCorpus(ids, bounds, raw_words=raw_words)
    return EncodedCorpus(ids, np.frombuffer(bounds, dtype=np.int64).astype(bounds_dtype(len(ids))), raw_words=raw_words)


def encode_iterable(corpus_iterable, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode an iterable of token lists with the vocabulary ``word_index`` (word -> id)."""
    check_corpus_iterable(corpus_iterable)
    if buffer_path is not None:
        check_buffer_location(buffer_path)
    return _encode_tokens(corpus_iterable, word_index, buffer_path)


def encode_file(corpus_file, word_index, buffer_path=None) -> EncodedCorpus:
    """Encode a text file with the vocabulary ``word_index`` (word -> id), dropping unknown words."""
    scan = scan_file(corpus_file, buffer_path)
    remap = np.fromiter((word_index.get(word, -1) for word in scan.words), dtype=np.int32, count=len(scan.words))
    return scan.encode(remap)
