"""hsmcy's own file format: NumPy arrays and JSON metadata in one zip file, no pickle.

A model file is an uncompressed zip archive holding ``metadata.json`` and one
``.npy`` file per array.  Arrays are read with ``allow_pickle=False``, so loading a
file can never run code (unlike pickle, and so unlike gensim's native ``.save``
format).  Because members are stored uncompressed, a large array can be
memory-mapped straight out of the archive (``mmap="r"``).

Writes are atomic: the archive is written to a temporary file in the same folder,
flushed to disk (``fsync``) and renamed over the target, so a crash or a full disk
during ``save`` leaves any previous file intact.

Strings (vocabularies, labels) are stored as one UTF-8 byte array plus int64
offsets, see :func:`encode_strings`.
"""
from __future__ import annotations

import functools
import json
import math
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from .checks import check_array, check_dtype_and_shape, check_finite

__all__ = [
    "ArchiveReader",
    "FORMAT_VERSION",
    "read_tree",
    "decode_strings",
    "encode_strings",
    "load_archive",
    "load_doc2vec",
    "load_word2vec",
    "malformed_file_is_value_error",
    "save_archive",
    "save_doc2vec",
    "save_word2vec",
]

# Everything the zip and .npy readers raise on damaged input (EOFError for a cut member,
# NotImplementedError for an unknown compression method, RuntimeError for encryption,
# SyntaxError or RecursionError for a dtype string whose sub-array part, as in
# "(2,)<f4", numpy parses with ast.literal_eval, ...).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                struct.error, UnicodeDecodeError, OverflowError, SyntaxError, RecursionError)

FORMAT_NAME = "hsmcy"
FORMAT_VERSION = 1
_METADATA = "metadata.json"


def encode_strings(strings):
    """Strings -> (uint8 UTF-8 bytes, int64 offsets) with ``len(offsets) == len(strings) + 1``."""
    encoded = [s.encode("utf-8", errors="surrogatepass") if isinstance(s, str) else None for s in strings]
    for position, item in enumerate(encoded):
        if item is None:
            raise TypeError(f"only string keys can be saved; item {position} is {type(strings[position]).__name__}")
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return blob, offsets


def decode_strings(blob, offsets, what="strings"):
    """Inverse of :func:`encode_strings`, validating the offsets."""
    blob = np.asarray(blob)
    offsets = np.asarray(offsets)
    if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.dtype != np.int64 or offsets.ndim != 1:
        raise ValueError(f"{what}: expected uint8 bytes and int64 offsets")
    if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{what}: offsets are inconsistent with the stored bytes")
    data = blob.tobytes()
    try:
        return [data[offsets[i]:offsets[i + 1]].decode("utf-8", errors="surrogatepass")
                for i in range(len(offsets) - 1)]
    except UnicodeDecodeError as error:
        raise ValueError(f"{what}: not valid UTF-8 ({error})") from error


def save_archive(path, kind, metadata, arrays):
    """Write ``arrays`` (name -> ndarray) and ``metadata`` (JSON-able dict) to ``path`` atomically."""
    from .formats import check_hsmcy_output

    path = os.fspath(path)
    check_hsmcy_output(path, kind)
    folder = os.path.dirname(os.path.abspath(path))
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind, "metadata": metadata,
              "arrays": {}}
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
        header["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}
    handle, temporary = tempfile.mkstemp(prefix=".hsmcy-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                archive.writestr(_METADATA, json.dumps(header, indent=1, sort_keys=True))
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        pass


def _member_data_offset(raw, info):
    """Byte offset of a stored zip member's data inside the archive file."""
    raw.seek(info.header_offset)
    local_header = raw.read(30)
    if len(local_header) != 30 or local_header[:4] != b"PK\x03\x04":
        raise ValueError("corrupt zip local header")
    name_length, extra_length = struct.unpack("<HH", local_header[26:30])
    return info.header_offset + 30 + name_length + extra_length


# metadata.json holds parameters and a training state (a few bytes per batch of an
# epoch): far below this even for billions of words, and JSON parsing costs ~10x its size.
_MAX_METADATA_BYTES = 64 << 20


class ArchiveReader:
    """An hsmcy archive opened for reading: the header is checked on opening, arrays are read
    one at a time, on request, and each is checked before anything is allocated for it.

    What makes a hostile file harmless:

    * one open file descriptor serves the zip reader and the memory maps, so every
      array comes from the same file, even if the path is replaced meanwhile;
    * members must be stored (uncompressed) and lie inside the file: no member can
      inflate beyond the file's own size (a 1.5 MB deflated member can hold 1.5 GB);
    * an array's ``.npy`` header must agree with the metadata's declaration, with the
      member's size, and with the dtype and shape the caller expects (from the
      vocabulary and parameters read before) -- all before its data is read;
    * members that the caller does not ask for are never read;
    * only arrays the caller allows are memory-mapped (the weights); everything a
      kernel indexes by (tree paths, offsets, words) is read into memory, so it
      cannot change after it was validated, even if the file is overwritten in place.

    Parameters
    ----------
    path : str or PathLike
    kind : str, optional
        Expected kind (``"word2vec"``, ...); a different one is an error.

    Attributes
    ----------
    metadata : dict
        The model's metadata (parameters, counters, ...), unchecked.
    where : str
        ``"model file '...'"``, the start of every error message.
    """

    def __init__(self, path, kind=None):
        path = os.fspath(path)
        self.path, self.where = path, f"model file {path!r}"
        if not os.path.isfile(path):
            raise ValueError(f"{self.where} does not exist or is not a file")
        self._raw = open(path, "rb")
        try:
            self._open(kind)
        except BaseException:
            self._raw.close()
            raise

    def _open(self, kind):
        self._size = os.fstat(self._raw.fileno()).st_size
        try:
            self._zip = zipfile.ZipFile(self._raw, "r")
        except _READ_ERRORS as error:
            from .formats import describe_foreign_file

            foreign = describe_foreign_file(self.path, kind)
            if foreign is not None:
                raise ValueError(f"{self.where} is {foreign}") from None
            raise ValueError(f"{self.where} is not an hsmcy model file (not a readable zip archive: {error})") \
                from error
        try:
            info = self._zip.getinfo(_METADATA)
        except KeyError:
            raise ValueError(f"{self.where} has no {_METADATA}: not an hsmcy model file") from None
        try:
            self._check_stored(info)
            if info.file_size > _MAX_METADATA_BYTES:
                raise ValueError(f"{info.file_size} bytes, more than the {_MAX_METADATA_BYTES >> 20} MiB "
                                 "a model's metadata can need")
            header = json.loads(self._zip.read(info).decode("utf-8"))
        except _READ_ERRORS as error:
            raise ValueError(f"{self.where}: unreadable {_METADATA} ({error})") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ValueError(f"{self.where} is not an hsmcy model file")
        version = header.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise ValueError(f"{self.where} has format version {version!r}; "
                             f"this hsmcy reads versions 1 to {FORMAT_VERSION}")
        if kind is not None and header.get("kind") != kind:
            raise ValueError(f"{self.where} holds a {header.get('kind')!r}, not a {kind!r}")
        if not isinstance(header.get("metadata", {}), dict):
            raise ValueError(f"{self.where}: metadata is not a mapping")
        if not isinstance(header.get("arrays"), dict):
            raise ValueError(f"{self.where}: metadata does not list its arrays")
        self.metadata, self._declared = header.get("metadata", {}), header["arrays"]

    # ------------------------------------------------------------ arrays
    def __contains__(self, name):
        return name in self._declared

    def _check_stored(self, info):
        """The member is stored (not compressed, not encrypted) and its data lies inside the file."""
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"member {info.filename!r} is compressed (method {info.compress_type}); hsmcy writes "
                             "and reads uncompressed members only, so that no member can inflate beyond the "
                             "file's size: re-save the model with hsmcy")
        if info.flag_bits & 0x1:
            raise ValueError(f"member {info.filename!r} is encrypted")
        if info.compress_size != info.file_size:
            raise ValueError(f"member {info.filename!r} declares {info.file_size} bytes but stores "
                             f"{info.compress_size}")
        if _member_data_offset(self._raw, info) + info.file_size > self._size:
            raise ValueError(f"member {info.filename!r} runs past the end of the file (truncated?)")

    def array(self, name, dtype, shape, mmap=False):
        """Read array ``name``, which must have exactly ``dtype`` and ``shape`` (``None``: any length).

        Parameters
        ----------
        name : str
            A declared array.
        dtype, shape :
            What the caller needs; checked against the stored header before any data is read.
        mmap : bool
            Memory-map the data read-only instead of reading it (only for arrays that no
            kernel indexes by: the mapping reflects later changes of the file).

        Returns
        -------
        ndarray, C-contiguous (a Fortran-ordered member is copied into C order, or refused
        when memory-mapped).
        """
        spec = self._declared.get(name)
        try:
            info = self._zip.getinfo(name + ".npy")
        except KeyError:
            info = None
        if spec is None or info is None:
            raise ValueError(f"{self.where} is missing array {name!r}")
        if not isinstance(spec, dict):
            raise ValueError(f"{self.where}: metadata of array {name!r} is not a mapping")
        try:
            self._check_stored(info)
            stored_dtype, stored_shape, fortran, data_offset = self._read_header(info)
        except _READ_ERRORS as error:
            raise ValueError(f"{self.where}: array {name!r} is unreadable ({error})") from error
        if stored_dtype.str != spec.get("dtype") or list(stored_shape) != spec.get("shape"):
            raise ValueError(f"{self.where}: array {name!r} is {stored_dtype.str} {list(stored_shape)}, "
                             f"metadata says {spec.get('dtype')} {spec.get('shape')}")
        check_dtype_and_shape(name, stored_dtype, stored_shape, dtype, shape, self.where)
        column_major = fortran and len(stored_shape) > 1
        if mmap and column_major:
            raise ValueError(f"{self.where}: array {name!r} is stored in Fortran (column) order, which the "
                             "kernels cannot read in place: load without mmap (it is then copied into row order)")
        try:
            if mmap and info.file_size > data_offset:
                return np.memmap(self._raw, dtype=stored_dtype, mode="r", offset=self._data_start(info) + data_offset,
                                 shape=stored_shape, order="C")
            with self._zip.open(info) as handle:  # through the zip module: the CRC is checked
                array = np.lib.format.read_array(handle, allow_pickle=False)
        except _READ_ERRORS as error:
            raise ValueError(f"{self.where}: array {name!r} is unreadable ({error})") from error
        return np.ascontiguousarray(array) if column_major else array

    def _data_start(self, info):
        return _member_data_offset(self._raw, info)

    def _read_header(self, info):
        """(dtype, shape, fortran_order, header length) of a ``.npy`` member, checked against its size.

        A corrupted or hostile header could otherwise declare a huge shape (and make us
        allocate it) or an object dtype (which would need pickle): both are refused
        before any data is read.
        """
        with self._zip.open(info) as handle:
            npy_version = np.lib.format.read_magic(handle)
            if npy_version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif npy_version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f".npy format version {npy_version} is not supported")
            header_length = handle.tell()
        if dtype.hasobject:
            raise ValueError("object arrays are not allowed (they would need pickle)")
        n_bytes = math.prod(int(n) for n in shape) * dtype.itemsize  # Python ints: no overflow
        if header_length + n_bytes != info.file_size:
            raise ValueError(f"the header declares {dtype.str} {list(shape)} = {n_bytes} bytes, "
                             f"but the member holds {info.file_size - header_length} bytes of data")
        return dtype, tuple(int(n) for n in shape), bool(fortran), header_length

    # ------------------------------------------------------------ closing
    def close(self):
        self._zip.close()
        self._raw.close()  # memory maps made from it stay valid

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def load_archive(path, kind=None, mmap=None):
    """Read an archive written by :func:`save_archive`: its metadata and every declared array.

    For tools and tests: the model loaders use :class:`ArchiveReader` and read only
    the arrays they know, each with the dtype and shape they need.

    Parameters
    ----------
    path : str or PathLike
    kind : str, optional
        Expected kind (``"word2vec"``, ...); a different one is an error.
    mmap : None or "r"
        ``"r"`` memory-maps the arrays read-only instead of reading them.

    Returns
    -------
    metadata : dict
    arrays : dict of name -> ndarray
    """
    mmap = _check_mmap(mmap)
    with ArchiveReader(path, kind) as archive:
        arrays = {}
        for name, spec in archive._declared.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list):
                raise ValueError(f"{archive.where}: metadata of array {name!r} is not a mapping with a shape")
            try:
                dtype = np.dtype(spec.get("dtype"))
            except (TypeError, ValueError, SyntaxError, RecursionError) as error:
                raise ValueError(f"{archive.where}: array {name!r} has an unreadable dtype ({error})") from None
            arrays[name] = archive.array(name, dtype, [None] * len(spec["shape"]), mmap=mmap)
        return archive.metadata, arrays


def _check_mmap(mmap):
    if mmap not in (None, "r"):
        raise ValueError(f"mmap must be None or 'r', got {mmap!r}")
    return mmap == "r"


# ------------------------------------------------------------ helpers for loaders
def malformed_file_is_value_error(load):
    """Decorate a ``load(cls, path, ...)``: a file whose metadata has the wrong types or
    misses keys (KeyError, TypeError, ...) gets a ``ValueError`` naming the file, as
    every other defect of a model file does."""
    @functools.wraps(load)
    def checked(cls, path, *args, **kwargs):
        try:
            return load(cls, path, *args, **kwargs)
        except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as error:
            raise ValueError(f"model file {os.fspath(path)!r} is malformed "
                             f"({type(error).__name__}: {error})") from error
    return checked


def read_tree(archive):
    """The tree stored in ``archive`` (an :class:`ArchiveReader`): its three index arrays, in memory, validated."""
    from .tree import BinaryTree

    arrays = [archive.array(name, dtype, (None,))
              for name, dtype in (("path_nodes", np.int32), ("path_codes", np.uint8), ("path_offsets", np.int64))]
    try:
        return BinaryTree(*arrays)
    except ValueError as error:
        raise ValueError(f"{archive.where}: {error}") from error


# ------------------------------------------------------------ Word2Vec's file layout
# Everything a Word2Vec file holds; the two methods of Word2Vec call these.
_WORD2VEC_KIND = "word2vec"
WORD2VEC_PARAMETERS = ("vector_size", "alpha", "window", "min_count", "max_vocab_size", "sample", "seed", "workers",
                       "min_alpha", "sg", "cbow_mean", "epochs", "sorted_vocab", "batch_words", "compute_loss",
                       "max_final_vocab", "shrink_windows")



def _word2vec_parameters_saved_later():
    """Parameters saved since a later version, with the value a file without them gets."""
    from ._training import DEFAULT_KERNEL

    from .rehearsal import DEFAULT_REHEARSAL_WORDS

    return {"kernel": DEFAULT_KERNEL, "rehearsal_words": DEFAULT_REHEARSAL_WORDS}


def save_word2vec(model, path):
    """Write ``model`` (an ``hsmcy.Word2Vec``) to ``path``: see :meth:`hsmcy.Word2Vec.save`."""
    metadata, arrays = _word_model_contents(model, (*WORD2VEC_PARAMETERS, *_word2vec_parameters_saved_later()))
    save_archive(path, _WORD2VEC_KIND, metadata, arrays)


def _word_model_contents(model, parameters):
    """``(metadata, arrays)`` of what a Word2Vec file holds (a Doc2Vec file holds it too)."""
    if model.tree is None:
        raise RuntimeError("nothing to save: the model has no vocabulary yet")
    for name, array in (("wv.vectors", model.wv.vectors), ("syn1", model.syn1)):
        check_finite(array, name, "refusing to save a diverged model")
    words_blob, words_offsets = encode_strings(model.wv.index_to_key)
    metadata = {name: getattr(model, name) for name in parameters}
    metadata.update(corpus_count=model.corpus_count, corpus_total_words=model.corpus_total_words,
                    train_count=model.train_count, total_train_time=model.total_train_time,
                    running_training_loss=model.running_training_loss,
                    min_alpha_yet_reached=model.min_alpha_yet_reached,
                    vocab_size=len(model.wv.index_to_key), tree_depth=model.tree.depth_statistics())
    # During training (a Checkpoint callback) the state of the running run, else that of
    # the last unfinished one: either lets resume_training() continue from the file.
    run = model._current_run
    metadata["training_state"] = run.resume_state() if run is not None else model.training_state
    arrays = {
        "input_vectors": model.wv.vectors, "syn1": model.syn1, "counts": model.wv.expandos["count"],
        "words_utf8": words_blob, "words_offsets": words_offsets,
        "path_nodes": model.tree.path_nodes, "path_codes": model.tree.path_codes,
        "path_offsets": model.tree.path_offsets,
    }
    sample = model._rehearsal   # hsmcy.rehearsal: what online training rehearses
    metadata.update(rehearse=bool(model._rehearse), rehearsal_words_seen=sample.words_seen,
                    rehearsal_inclusion=sample.inclusion)
    if sample.n_sentences:
        try:
            sample.check(len(model.wv.index_to_key), "the rehearsal sample")
        except ValueError as error:
            raise ValueError(f"refusing to save: {error} (the vocabulary, wv.index_to_key, has "
                             f"{len(model.wv.index_to_key)} words: was it edited?)") from None
        arrays.update(rehearsal_token_ids=sample.token_ids, rehearsal_sentence_bounds=sample.sentence_bounds)
    return metadata, arrays


def load_word2vec(cls, path, mmap=None):
    """Read a file written by :func:`save_word2vec` into a new ``cls`` (``hsmcy.Word2Vec``), every array checked.

    The small arrays come first (words, counts, tree), read into memory; the two weight
    matrices last, with the shape the vocabulary and ``vector_size`` require checked
    before they are read or mapped.
    """
    mapped = _check_mmap(mmap)
    with ArchiveReader(path, _WORD2VEC_KIND) as archive:
        return _read_word_model(archive, cls, WORD2VEC_PARAMETERS, _word2vec_parameters_saved_later(), mapped)


def _read_word_model(archive, cls, parameter_names, parameters_saved_later, mapped):
    """A new ``cls`` made from what :func:`_word_model_contents` wrote into ``archive``, every array checked."""
    from ._training import validate_resume_state

    metadata, where = archive.metadata, archive.where
    try:
        parameters = {name: metadata[name] for name in parameter_names}
    except KeyError as missing:
        raise ValueError(f"{where}: metadata lacks {missing}") from None
    for name, default in parameters_saved_later.items():   # files written before they were saved
        parameters[name] = metadata.get(name, default)
    try:
        model = cls(**parameters)   # checks every parameter, with upper bounds (workers, window)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: invalid parameters ({error})") from error
    words = decode_strings(archive.array("words_utf8", np.uint8, (None,)),
                           archive.array("words_offsets", np.int64, (None,)), f"{where}: words")
    vocab_size = len(words)
    if len(set(words)) != vocab_size:
        raise ValueError(f"{where}: duplicate words in the vocabulary")
    counts = check_array(archive.array("counts", np.int64, (vocab_size,)), "counts", np.int64, (vocab_size,),
                         where, non_negative=True)
    tree = read_tree(archive)
    if tree.n_leaves != vocab_size:
        raise ValueError(f"{where}: the tree has {tree.n_leaves} leaves for {vocab_size} words")
    state = metadata.get("training_state")
    if state is not None:
        try:
            validate_resume_state(state)   # also bounds its number of workers (random streams)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
    weights = {}
    for name, rows in (("input_vectors", vocab_size), ("syn1", max(vocab_size, 1))):
        weights[name] = check_finite(archive.array(name, np.float32, (rows, model.vector_size), mmap=mapped),
                                     name, where)
    model._set_vocabulary(words, counts, tree)
    model.training_state = state
    _read_rehearsal(archive, model, vocab_size)
    model.wv.vectors = weights["input_vectors"]
    model.syn1 = weights["syn1"]
    for name in ("corpus_count", "corpus_total_words", "train_count"):
        value = metadata.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where}: metadata {name!r} must be a non-negative integer, got {value!r}")
        setattr(model, name, value)
    for name in ("total_train_time", "running_training_loss", "min_alpha_yet_reached"):
        value = metadata.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: metadata {name!r} must be a number, got {value!r}")
        setattr(model, name, float(value))
    return model


def _read_rehearsal(archive, model, vocab_size):
    """The rehearsal sample and how many words it was drawn from (files before online
    rehearsal have none: an empty sample), checked."""
    from .rehearsal import RehearsalSample

    metadata, where = archive.metadata, archive.where
    rehearse = metadata.get("rehearse", False)
    if not isinstance(rehearse, bool):
        raise ValueError(f"{where}: metadata 'rehearse' must be true or false, got {rehearse!r}")
    model._rehearse = rehearse
    words_seen, inclusion = metadata.get("rehearsal_words_seen", 0), metadata.get("rehearsal_inclusion", 1.0)
    if isinstance(words_seen, bool) or not isinstance(words_seen, int):
        raise ValueError(f"{where}: metadata 'rehearsal_words_seen' must be an integer, got {words_seen!r}")
    if isinstance(inclusion, bool) or not isinstance(inclusion, (int, float)):
        raise ValueError(f"{where}: metadata 'rehearsal_inclusion' must be a number, got {inclusion!r}")
    token_ids = bounds = None   # an empty sample
    if "rehearsal_token_ids" in archive:
        token_ids = np.array(archive.array("rehearsal_token_ids", np.int32, (None,)))
        bounds = np.array(archive.array("rehearsal_sentence_bounds", np.int64, (None,)))
    sample = RehearsalSample(token_ids, bounds, words_seen, inclusion)
    sample.check(vocab_size, f"{where}: rehearsal sample")
    model._rehearsal = sample


# ------------------------------------------------------------ Doc2Vec's file layout
# A Word2Vec file's contents, plus the document vectors and their tags: ``int_tags``
# int tags (rows 0 .. int_tags - 1), then the string tags (UTF-8 + offsets), and each
# tag's document and word counts.
_DOC2VEC_KIND = "doc2vec"
DOC2VEC_PARAMETERS = ("vector_size", "alpha", "window", "min_count", "max_vocab_size", "sample", "seed", "workers",
                      "min_alpha", "dm", "dbow_words", "dm_tag_count", "cbow_mean", "epochs", "sorted_vocab",
                      "batch_words", "compute_loss", "max_final_vocab", "shrink_windows", "kernel")
# Document rows are int32 in the kernels.
MAX_DOCUMENT_ROWS = 2**31 - 1


def save_doc2vec(model, path):
    """Write ``model`` (an ``hsmcy.Doc2Vec``) to ``path``: see :meth:`hsmcy.Doc2Vec.save`."""
    metadata, arrays = _word_model_contents(model, DOC2VEC_PARAMETERS)
    check_finite(model.dv.vectors, "dv.vectors", "refusing to save a diverged model")
    int_tags, string_tags = model._tag_layout()
    tags_blob, tags_offsets = encode_strings(string_tags)
    metadata["int_tags"] = int_tags
    arrays.update(document_vectors=model.dv.vectors, string_tags_utf8=tags_blob, string_tags_offsets=tags_offsets,
                  document_counts=model._document_counts("doc_count"),
                  document_word_counts=model._document_counts("word_count"))
    save_archive(path, _DOC2VEC_KIND, metadata, arrays)


def load_doc2vec(cls, path, mmap=None):
    """Read a file written by :func:`save_doc2vec` into a new ``cls`` (``hsmcy.Doc2Vec``), every array checked."""
    mapped = _check_mmap(mmap)
    with ArchiveReader(path, _DOC2VEC_KIND) as archive:
        where = archive.where
        model = _read_word_model(archive, cls, DOC2VEC_PARAMETERS, {}, mapped)
        int_tags = archive.metadata.get("int_tags")
        if isinstance(int_tags, bool) or not isinstance(int_tags, int) or not 0 <= int_tags <= MAX_DOCUMENT_ROWS:
            raise ValueError(f"{where}: metadata 'int_tags' must be an integer in [0, {MAX_DOCUMENT_ROWS}], "
                             f"got {int_tags!r}")
        string_tags = decode_strings(archive.array("string_tags_utf8", np.uint8, (None,)),
                                     archive.array("string_tags_offsets", np.int64, (None,)), f"{where}: tags")
        if len(set(string_tags)) != len(string_tags):
            raise ValueError(f"{where}: duplicate string tags")
        n_documents = int_tags + len(string_tags)
        if n_documents > MAX_DOCUMENT_ROWS:
            raise ValueError(f"{where}: more than {MAX_DOCUMENT_ROWS} document vectors")
        counts = {name: check_array(archive.array(name, np.int64, (n_documents,)), name, np.int64, (n_documents,),
                                    where, non_negative=True)
                  for name in ("document_counts", "document_word_counts")}
        vectors = check_finite(archive.array("document_vectors", np.float32, (n_documents, model.vector_size),
                                             mmap=mapped), "document_vectors", where)
    model._install_documents(int_tags, string_tags, vectors, counts["document_counts"],
                             counts["document_word_counts"])
    return model
