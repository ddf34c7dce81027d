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

from .checks import check_array, check_finite, check_tree_arrays

__all__ = [
    "FORMAT_VERSION",
    "decode_strings",
    "encode_strings",
    "load_archive",
    "load_word2vec",
    "malformed_file_is_value_error",
    "save_archive",
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


def _read_member(archive, raw, info, mmap):
    """One ``.npy`` member as an array: its header is checked against the member's size first.

    A corrupted or hostile header could otherwise declare a huge shape (and make us
    allocate it) or an object dtype (which would need pickle): both are refused
    before any data is read.
    """
    with archive.open(info) as handle:
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
    order = "F" if fortran else "C"
    if mmap and info.compress_type == zipfile.ZIP_STORED and n_bytes:
        offset = _member_data_offset(raw, info) + header_length
        if offset + n_bytes > os.fstat(raw.fileno()).st_size:
            raise ValueError("the array data runs past the end of the file (truncated?)")
        return np.memmap(raw.name, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
    with archive.open(info) as handle:  # reading through the zip module checks the CRC
        return np.lib.format.read_array(handle, allow_pickle=False)


def load_archive(path, kind=None, mmap=None):
    """Read an archive written by :func:`save_archive`.

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
    path = os.fspath(path)
    if mmap not in (None, "r"):
        raise ValueError(f"mmap must be None or 'r', got {mmap!r}")
    if not os.path.isfile(path):
        raise ValueError(f"model file {path!r} does not exist or is not a file")
    try:
        archive = zipfile.ZipFile(path, "r")
    except _READ_ERRORS as error:
        from .formats import describe_foreign_file

        foreign = describe_foreign_file(path, kind)
        if foreign is not None:
            raise ValueError(f"model file {path!r} is {foreign}") from None
        raise ValueError(f"model file {path!r} is not an hsmcy model file (not a readable zip archive: {error})") \
            from error
    with archive:
        try:
            header = json.loads(archive.read(_METADATA).decode("utf-8"))
        except KeyError:
            raise ValueError(f"model file {path!r} has no {_METADATA}: not an hsmcy model file") from None
        except _READ_ERRORS as error:
            raise ValueError(f"model file {path!r}: unreadable {_METADATA} ({error})") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ValueError(f"model file {path!r} is not an hsmcy model file")
        version = header.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise ValueError(f"model file {path!r} has format version {version!r}; "
                             f"this hsmcy reads versions 1 to {FORMAT_VERSION}")
        if kind is not None and header.get("kind") != kind:
            raise ValueError(f"model file {path!r} holds a {header.get('kind')!r}, not a {kind!r}")
        declared = header.get("arrays")
        if not isinstance(header.get("metadata", {}), dict):
            raise ValueError(f"model file {path!r}: metadata is not a mapping")
        if not isinstance(declared, dict):
            raise ValueError(f"model file {path!r}: metadata does not list its arrays")
        arrays = {}
        with open(path, "rb") as raw:
            for name, spec in declared.items():
                member = name + ".npy"
                try:
                    info = archive.getinfo(member)
                except KeyError:
                    raise ValueError(f"model file {path!r} is missing array {name!r}") from None
                try:
                    array = _read_member(archive, raw, info, mmap)
                except _READ_ERRORS as error:
                    raise ValueError(f"model file {path!r}: array {name!r} is unreadable ({error})") from error
                if not isinstance(spec, dict):
                    raise ValueError(f"model file {path!r}: metadata of array {name!r} is not a mapping")
                if array.dtype.str != spec.get("dtype") or list(array.shape) != spec.get("shape"):
                    raise ValueError(f"model file {path!r}: array {name!r} is {array.dtype.str} {list(array.shape)}, "
                                     f"metadata says {spec.get('dtype')} {spec.get('shape')}")
                arrays[name] = array
    return header.get("metadata", {}), arrays


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


# ------------------------------------------------------------ Word2Vec's file layout
# Everything a Word2Vec file holds; the two methods of Word2Vec call these.
_WORD2VEC_KIND = "word2vec"
_WORD2VEC_ARRAYS = ("input_vectors", "syn1", "counts", "words_utf8", "words_offsets", "path_nodes", "path_codes",
                    "path_offsets")
WORD2VEC_PARAMETERS = ("vector_size", "alpha", "window", "min_count", "max_vocab_size", "sample", "seed", "workers",
                       "min_alpha", "sg", "cbow_mean", "epochs", "sorted_vocab", "batch_words", "compute_loss",
                       "max_final_vocab", "shrink_windows")


def save_word2vec(model, path):
    """Write ``model`` (an ``hsmcy.Word2Vec``) to ``path``: see :meth:`hsmcy.Word2Vec.save`."""
    if model.tree is None:
        raise RuntimeError("nothing to save: the model has no vocabulary yet")
    for name, array in (("wv.vectors", model.wv.vectors), ("syn1", model.syn1)):
        check_finite(array, name, "refusing to save a diverged model")
    words_blob, words_offsets = encode_strings(model.wv.index_to_key)
    metadata = {name: getattr(model, name) for name in WORD2VEC_PARAMETERS}
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
    save_archive(path, _WORD2VEC_KIND, metadata, arrays)


def load_word2vec(cls, path, mmap=None):
    """Read a file written by :func:`save_word2vec` into a new ``cls`` (``hsmcy.Word2Vec``), every array checked."""
    from ._training import validate_resume_state
    from .tree import BinaryTree

    metadata, arrays = load_archive(path, kind=_WORD2VEC_KIND, mmap=mmap)
    where = f"model file {os.fspath(path)!r}"
    try:
        parameters = {name: metadata[name] for name in WORD2VEC_PARAMETERS}
    except KeyError as missing:
        raise ValueError(f"{where}: metadata lacks {missing}") from None
    try:
        model = cls(**parameters)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: invalid parameters ({error})") from error
    missing = [name for name in _WORD2VEC_ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"{where}: arrays missing: {missing}")
    words = decode_strings(arrays["words_utf8"], arrays["words_offsets"], f"{where}: words")
    vocab_size = len(words)
    if len(set(words)) != vocab_size:
        raise ValueError(f"{where}: duplicate words in the vocabulary")
    counts = check_array(arrays["counts"], "counts", np.int64, (vocab_size,), where, non_negative=True)
    input_vectors = np.ascontiguousarray(arrays["input_vectors"]) if not mmap else arrays["input_vectors"]
    syn1 = np.ascontiguousarray(arrays["syn1"]) if not mmap else arrays["syn1"]
    check_array(input_vectors, "input_vectors", np.float32, (vocab_size, model.vector_size), where)
    check_array(syn1, "syn1", np.float32, (max(vocab_size, 1), model.vector_size), where)
    for name, array in (("input_vectors", input_vectors), ("syn1", syn1)):
        check_finite(array, name, where)
    check_tree_arrays(arrays, where)
    try:
        tree = BinaryTree(arrays["path_nodes"], arrays["path_codes"], arrays["path_offsets"])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    if tree.n_leaves != vocab_size:
        raise ValueError(f"{where}: the tree has {tree.n_leaves} leaves for {vocab_size} words")
    state = metadata.get("training_state")
    if state is not None:
        try:
            validate_resume_state(state)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
    model._set_vocabulary(words, counts, tree)
    model.training_state = state
    model.wv.vectors = input_vectors
    model.syn1 = syn1
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
