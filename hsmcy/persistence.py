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

__all__ = [
    "FORMAT_VERSION",
    "check_array",
    "check_finite",
    "check_tree_arrays",
    "decode_strings",
    "encode_strings",
    "load_archive",
    "malformed_file_is_value_error",
    "save_archive",
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
    path = os.fspath(path)
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


def check_array(array, name, dtype, shape, where, non_negative=False):
    """``ValueError`` unless ``array`` has exactly this dtype and shape (and no negative value)."""
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != tuple(shape):
        raise ValueError(f"{where}: {name} must be {np.dtype(dtype).name} {tuple(shape)}, got "
                         f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}")
    if non_negative and array.size and array.min() < 0:
        raise ValueError(f"{where}: {name} holds negative values")
    return array


def check_tree_arrays(arrays, where, names=("path_nodes", "path_codes", "path_offsets")):
    """The stored tree arrays must already have the kernels' dtypes (a cast could wrap ids into range)."""
    for name, dtype in zip(names, (np.int32, np.uint8, np.int64)):
        array = arrays.get(name)
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
            raise ValueError(f"{where}: {name} must be a 1-D {np.dtype(dtype).name} array")


def check_finite(array, name, where):
    """``ValueError`` if a float array holds NaN or infinity (summed in float64 chunks, no big temporary)."""
    for start in range(0, len(array), 1 << 14):
        if not math.isfinite(np.add.reduce(array[start:start + (1 << 14)], axis=None, dtype=np.float64)):
            raise ValueError(f"{where}: {name} holds NaN or infinite values")
