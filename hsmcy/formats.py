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
# One table for the whole package: an extension names one format, whoever writes the
# file (``hsmcy train -o``, ``hsmcy convert``, or ``save()`` in Python, which refuses an
# extension that names another format).
EXTENSIONS = {".hsmcy": "hsmcy", ".model": "gensim-model", ".kv": "gensim", ".txt": "word2vec",
              ".vec": "word2vec", ".bin": "word2vec-binary"}
DESCRIPTIONS = {
    "hsmcy": "an hsmcy model (no pickle)",
    "gensim-model": "a gensim Word2Vec (gensim.models.Word2Vec.load reads it; a pickle)",
    "gensim": "gensim KeyedVectors (gensim.models.KeyedVectors.load reads it; a pickle)",
    "word2vec": "word2vec text vectors (KeyedVectors.load_word2vec_format reads it)",
    "word2vec-binary": "word2vec binary vectors (KeyedVectors.load_word2vec_format(binary=True) reads it)",
}


def extensions_help():
    """``.hsmcy (hsmcy), .model (gensim-model), ...``: the table, for messages and ``--help``."""
    return ", ".join(f"{extension} ({fmt})" for extension, fmt in EXTENSIONS.items())


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
    """The format to write ``path`` in: ``requested`` if given, else the one its extension names.

    Returns ``None`` when there is no request and the extension names no format
    (the caller asks the user to choose rather than guess).
    """
    if requested is not None:
        return requested
    return EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())


def check_hsmcy_output(path, kind):
    """``ValueError`` if ``path``'s extension names another format than hsmcy's (``kind``: what is saved).

    Called by every ``save()`` of hsmcy's own format, so that ``x.model`` is always a
    gensim file, ``x.bin`` always word2vec binary vectors, and so on.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    fmt = EXTENSIONS.get(extension, "hsmcy")
    if fmt == "hsmcy":
        return
    suggestion = f"save hsmcy's format under {os.path.splitext(path)[0] + '.hsmcy'!r}"
    if kind == "word2vec":
        gensim_call = {"gensim-model": "model.to_gensim().save(path)", "gensim": "model.wv.save(path)",
                       "word2vec": "model.wv.save_word2vec_format(path)",
                       "word2vec-binary": "model.wv.save_word2vec_format(path, binary=True)"}[fmt]
        suggestion += f", or write that format with {gensim_call.replace('path', repr(path))}"
    raise ValueError(f"cannot save to {path!r}: the extension {extension} means {DESCRIPTIONS[fmt]} "
                     f"everywhere in hsmcy, not hsmcy's format; {suggestion}")


def _pickled_class(path):
    """``"module.Name"`` of the first class a pickle file refers to, read without unpickling (or None)."""
    import io
    import pickletools

    strings = []
    try:
        with open(path, "rb") as handle:
            # parsed from a bounded in-memory copy: a length field in the file (up to 2**64) is then
            # never a size to allocate, and the class comes in the first opcodes anyway
            head = io.BytesIO(handle.read(1 << 16))
            for count, (opcode, argument, _) in enumerate(pickletools.genops(head)):
                if opcode.name == "GLOBAL":      # protocols 0-3: "module name"
                    return ".".join(str(argument).split(" ", 1))
                if opcode.name == "STACK_GLOBAL":   # protocol 4+: the two strings pushed before it
                    return ".".join(strings[-2:]) if len(strings) >= 2 else None
                if isinstance(argument, str):
                    strings.append(argument)
                if count > 100:
                    return None
    except Exception:  # noqa: BLE001 -- not a pickle we can parse: no class to name (nothing was executed)
        return None
    return None


def describe_foreign_file(path, kind):
    """Why ``path`` (not an hsmcy archive) cannot be loaded as ``kind``, and what reads it; or None."""
    try:
        fmt = detect_format(path)
    except (FormatError, OSError):
        return None
    if fmt == "hsmcy":
        return None
    if fmt == "gensim":
        pickled = _pickled_class(path) or ""
        if pickled.startswith("gensim.") and pickled.endswith(".Word2Vec"):
            fmt = "gensim-model"
        elif not pickled.endswith("KeyedVectors"):
            return f"a pickle of {pickled or 'an unknown class'}, not an hsmcy model file"
    text = f"{DESCRIPTIONS[fmt]}, not an hsmcy model file"
    if kind == "word2vec" and fmt == "gensim-model":
        text += (f"; convert it with hsmcy.Word2Vec.from_gensim(gensim.models.Word2Vec.load({path!r})), or on "
                 f"the command line `hsmcy convert {path} {os.path.splitext(path)[0]}.hsmcy` (both unpickle it: "
                 "only for files from a source you trust)")
    elif kind == "word2vec":
        text += ": word vectors without the hierarchical-softmax tree a Word2Vec model needs"
    return text


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


def _check_word2vec_header(path, binary):
    """``ValueError`` if a word2vec header declares more values than the file can hold.

    gensim allocates ``words x dimensions`` floats from the header before reading a
    row: a 30-byte file saying ``1000000000000 4`` asked for 15 TB.  Every value takes
    at least one byte of text (four in the binary format), so the file's size bounds it.
    """
    with open(path, "rb") as handle:
        header = handle.readline(200).split()
    try:
        words, dimensions = (int(field) for field in header)
    except ValueError:
        return   # no header of two numbers: gensim's own error says so
    size = os.path.getsize(path)
    if words < 0 or dimensions < 0 or words * dimensions * (4 if binary else 1) > size:
        raise ValueError(f"its header declares {words:,} words x {dimensions:,} dimensions, more values "
                          f"than its {size:,} bytes can hold (truncated, or not word2vec vectors)")


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
        _check_word2vec_header(path, binary=(fmt == "word2vec-binary"))
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
