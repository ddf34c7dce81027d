"""Word-vector and model file formats: which one a file is, reading and writing each.

The formats (the names ``hsmcy --format`` takes):

* ``gensim`` -- gensim's native ``KeyedVectors.save`` (``.kv``): word vectors.
* ``gensim-model`` -- a full gensim ``Word2Vec`` (hs=1) saved by gensim (``.model``):
  ``gensim.models.Word2Vec.load`` reads it and can train it further.
  Both gensim formats are pickle-based: loading such a file from an untrusted source
  can run arbitrary code.
* ``word2vec`` / ``word2vec-binary`` -- the word2vec.c formats (``.txt``/``.vec``, ``.bin``).
* ``hsmcy`` -- hsmcy's full model (vectors, inner-node vectors and tree; no pickle).

Reading, a format is recognised from the file's first bytes (:func:`detect_format`);
writing, from the extension (:func:`format_for_output`).
"""
from __future__ import annotations

import os
import re

__all__ = ["FORMATS", "FormatError", "detect_format", "format_for_output", "load_model", "load_vectors", "save"]

FORMATS = ("gensim", "gensim-model", "word2vec", "word2vec-binary", "hsmcy")
_GENSIM_PICKLES = ("gensim", "gensim-model")
EXTENSIONS = {".kv": "gensim", ".model": "gensim-model", ".txt": "word2vec", ".vec": "word2vec",
              ".bin": "word2vec-binary", ".hsmcy": "hsmcy"}


class FormatError(ValueError):
    """A file that is not in the expected format, or a format that cannot hold what is asked."""


def check_input_file(path, what):
    """``FormatError`` unless ``path`` is an existing, readable file; ``what`` names it in the message."""
    if not os.path.exists(path):
        raise FormatError(f"{what} {path!r} does not exist")
    if not os.path.isfile(path):
        raise FormatError(f"{what} {path!r} is not a file")
    if not os.access(path, os.R_OK):
        raise FormatError(f"{what} {path!r} is not readable")


def detect_format(path):
    """Guess the format of an existing file from its first bytes.

    Parameters
    ----------
    path : str
        The file to look at.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    FormatError
        If the file is none of them.
    """
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if head[:4] == b"PK\x03\x04":
        return "hsmcy"
    if head[:1] == b"\x80":  # a pickle (protocol 2 or later): gensim's native format
        return "gensim"
    first_line, _, rest = head.partition(b"\n")
    header = re.fullmatch(rb"\s*(\d+)\s+(\d+)\s*", first_line)
    if header:
        width = int(header.group(2))
        line = rest.partition(b"\n")[0]
        try:
            fields = line.decode("utf-8").split()
            if len(fields) == width + 1:
                [float(x) for x in fields[1:]]
                return "word2vec"
        except (UnicodeDecodeError, ValueError):
            pass
        return "word2vec-binary"
    raise FormatError(f"cannot read {path!r}: not a gensim, word2vec (text or binary) or hsmcy file")


def format_for_output(path, requested=None):
    """The format to write ``path`` in: ``requested`` if given, else the one its extension names."""
    if requested is not None:
        return requested
    return EXTENSIONS.get(os.path.splitext(path)[1].lower(), "gensim")


def _load_gensim_object(path):
    from gensim.utils import SaveLoad
    try:
        return SaveLoad.load(path)
    except Exception as error:  # a foreign or broken pickle can raise anything
        raise FormatError(f"cannot read {path!r} as a gensim file: {error}") from None


def _load_hsmcy(path):
    from .word2vec import Word2Vec
    try:
        return Word2Vec.load(path)
    except ValueError as error:
        raise FormatError(str(error)) from None


def load_vectors(path, fmt=None):
    """Load word vectors (a gensim ``KeyedVectors``) from a file in any of :data:`FORMATS`.

    Parameters
    ----------
    path : str
        The file.
    fmt : str, optional
        One of :data:`FORMATS`; guessed from the contents when omitted.

    Returns
    -------
    gensim.models.KeyedVectors
    """
    from gensim.models import KeyedVectors

    check_input_file(path, "vectors file")
    fmt = fmt or detect_format(path)
    try:
        if fmt == "hsmcy":
            return _load_hsmcy(path).wv
        if fmt in _GENSIM_PICKLES:
            loaded = _load_gensim_object(path)
            wv = getattr(loaded, "wv", loaded)
            if not isinstance(wv, KeyedVectors):
                raise FormatError(f"{path!r} holds a {type(loaded).__name__}, not word vectors")
            return wv
        return KeyedVectors.load_word2vec_format(path, binary=(fmt == "word2vec-binary"))
    except FormatError:
        raise
    except (ValueError, EOFError, UnicodeDecodeError, OSError) as error:
        raise FormatError(f"cannot read {path!r} as {fmt}: {error}") from None


def load_model(path, fmt=None):
    """Load a full model (with its tree): hsmcy's format, or a gensim ``Word2Vec`` trained with hs=1.

    Parameters
    ----------
    path : str
        The file.
    fmt : {"hsmcy", "gensim", "gensim-model"}, optional
        Guessed from the contents when omitted.

    Returns
    -------
    hsmcy.Word2Vec
    """
    from gensim.models import Word2Vec as GensimWord2Vec

    from .word2vec import Word2Vec

    check_input_file(path, "model file")
    fmt = fmt or detect_format(path)
    if fmt == "hsmcy":
        return _load_hsmcy(path)
    if fmt in _GENSIM_PICKLES:
        loaded = _load_gensim_object(path)
        if isinstance(loaded, GensimWord2Vec):
            try:
                return Word2Vec.from_gensim(loaded)
            except ValueError as error:
                raise FormatError(f"{path!r}: {error}") from None
        raise FormatError(f"{path!r} holds a {type(loaded).__name__}: word vectors only, without the "
                          "hierarchical-softmax tree; a full model is needed (train with `-o MODEL.hsmcy`)")
    raise FormatError(f"{path!r} is in {fmt} format: word vectors only, without the hierarchical-softmax "
                      "tree; a full model is needed (train with `-o MODEL.hsmcy`)")


def save(model_or_wv, path, fmt):
    """Write a model (``hsmcy.Word2Vec``) or word vectors (``KeyedVectors``) to ``path`` in ``fmt``."""
    from .word2vec import Word2Vec

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FormatError(f"cannot write {path!r}: folder {folder!r} does not exist")
    is_model = isinstance(model_or_wv, Word2Vec)
    wv = model_or_wv.wv if is_model else model_or_wv
    try:
        if fmt == "hsmcy":
            if not is_model:
                raise FormatError("the hsmcy format holds a full model, and the input has word vectors only "
                                  "(no hierarchical-softmax tree)")
            model_or_wv.save(path)
        elif fmt == "gensim-model":
            if not is_model:
                raise FormatError("the gensim-model format holds a full model, and the input has word vectors "
                                  "only (no hierarchical-softmax tree)")
            model_or_wv.to_gensim().save(path)
        elif fmt == "gensim":
            wv.save(path)
        else:
            wv.save_word2vec_format(path, binary=(fmt == "word2vec-binary"))
    except OSError as error:
        raise FormatError(f"cannot write {path!r}: {error.strerror or error}") from None
