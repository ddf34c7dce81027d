"""Fuzz target (atheris/libFuzzer): the corpus-file readers and build_vocab on arbitrary bytes.

The first bytes of an input choose a case; the rest is the file:

* plain text, read in pieces of 1-64 bytes or the default size: the reader must
  agree with a plain Python reading (UTF-8 with replacement, universal newlines,
  whitespace split, empty lines skipped), however the pieces cut tokens and
  multi-byte spaces; build_vocab must succeed or raise ValueError, and train;
* the text gzip-, bzip2- or xz-compressed, under its extension or another name:
  read as the text;
* the bytes as they are under a ``.gz``/``.bz2``/``.xz`` name (a damaged
  compressed file): ValueError, or the reading of what decompresses;
* a corpus buffer file cut at any byte after it was written: every batch read
  back is right or a ValueError naming the file, never a crash.

Run:

    python fuzz/fuzz_corpus.py -max_total_time=60
"""
import bz2
import gzip
import logging
import lzma
import os
import sys
import tempfile
import warnings
import zlib

import numpy as np  # noqa: F401 -- imported before instrumentation
import gensim  # noqa: F401

import atheris

with atheris.instrument_imports(include=["hsmcy"]):
    import hsmcy
    from hsmcy import corpus as corpus_io

_FOLDER = tempfile.mkdtemp(prefix="hsmcy-fuzz-")
# Most inputs are not UTF-8 text: their warnings are expected, and would flood the output.
warnings.simplefilter("ignore", UnicodeWarning)
logging.getLogger("hsmcy").setLevel(logging.ERROR)
_DEFAULT_READ_BYTES = corpus_io._READ_BYTES
_COMPRESSIONS = [("gz", gzip.compress, gzip.decompress), ("bz2", bz2.compress, bz2.decompress),
                 ("xz", lzma.compress, lzma.decompress)]
_DECOMPRESSION_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def reference_sentences(data):
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return [line.split() for line in text.split("\n") if line.split()]


def decoded(scan):
    ids, bounds = scan.corpus.token_ids, scan.corpus.sentence_bounds
    return [[scan.words[i] for i in ids[bounds[s]:bounds[s + 1]]] for s in range(len(bounds) - 1)]


def write(name, data):
    path = os.path.join(_FOLDER, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def expect_reading(path, expected):
    """The reader gives ``expected``, or refuses the file (ValueError) when ``expected`` is None."""
    try:
        scan = corpus_io.scan_file(path)
    except ValueError:
        return None
    got = decoded(scan)
    if expected is not None:
        assert got == expected, (got, expected)
    return got


def plain_text(data, piece):
    path = write("corpus.txt", data)
    try:
        compression = corpus_io.corpus_compression(path)
    except ValueError:
        return   # zip or zstd magic: refused, checked by expect_reading below
    corpus_io._READ_BYTES = piece or _DEFAULT_READ_BYTES
    try:
        expected = reference_sentences(data) if compression is None else None
        got = expect_reading(path, expected)
    finally:
        corpus_io._READ_BYTES = _DEFAULT_READ_BYTES
    if compression is not None or piece:
        return
    assert got is not None
    model = hsmcy.Word2Vec(vector_size=2, min_count=1, workers=1, epochs=1)
    try:
        model.build_vocab(corpus_file=path)
    except ValueError:
        assert not got  # only an empty corpus may be refused with min_count=1
        return
    model.train(corpus_file=path, total_examples=model.corpus_count, epochs=1)


def compressed_text(data, which, named):
    extension, compress, _ = _COMPRESSIONS[which]
    path = write(f"corpus.txt.{extension}" if named else "corpus.txt", compress(data))
    assert expect_reading(path, reference_sentences(data)) is not None


def damaged_compressed_file(data, which):
    extension, _, decompress = _COMPRESSIONS[which]
    path = write(f"corpus.{extension}", data)
    try:
        expected = reference_sentences(decompress(data))
    except _DECOMPRESSION_ERRORS:
        expected = None   # the stdlib refuses it whole; streaming may read a prefix or refuse it
    expect_reading(path, expected)


def cut_buffer(data, cut):
    path = write("corpus.txt", data)
    buffer = os.path.join(_FOLDER, "buffer.ids")
    scan = corpus_io.scan_file(path, buffer_path=buffer)
    words = list(scan.words)
    encoded = scan.encode(np.arange(len(words), dtype=np.int32))
    expected = reference_sentences(data)
    if not expected:
        return
    os.truncate(buffer, min(cut, os.path.getsize(buffer)))
    reader = corpus_io.BatchReader(encoded, len(words))
    for sentence in range(len(expected)):
        try:
            ids, _ = reader.read(sentence, sentence + 1)
        except ValueError as error:
            assert "buffer.ids" in str(error), error
            continue
        assert [words[i] for i in ids] == expected[sentence]


def TestOneInput(data):
    provider = atheris.FuzzedDataProvider(data)
    case = provider.ConsumeIntInRange(0, 4)
    choice = provider.ConsumeIntInRange(0, 64)
    body = provider.ConsumeBytes(provider.remaining_bytes())
    if case == 0:
        plain_text(body, 0)
    elif case == 1:
        plain_text(body, choice or 1)
    elif case == 2:
        compressed_text(body, choice % 3, named=choice % 2 == 0)
    elif case == 3:
        damaged_compressed_file(body, choice % 3)
    else:
        cut_buffer(body, choice * 7)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
