"""Fuzz target (atheris/libFuzzer): the corpus-file reader and build_vocab on arbitrary bytes.

The reader must agree with a plain Python reading (UTF-8 with replacement,
universal newlines, whitespace split, empty lines skipped); build_vocab must
succeed or raise ValueError.  Run:

    python fuzz/fuzz_corpus.py -max_total_time=60
"""
import os
import sys
import tempfile

import numpy as np  # noqa: F401 -- imported before instrumentation
import gensim  # noqa: F401

import atheris

with atheris.instrument_imports(include=["hsmcy"]):
    import hsmcy
    from hsmcy import corpus as corpus_io

_FOLDER = tempfile.mkdtemp(prefix="hsmcy-fuzz-")
_PATH = os.path.join(_FOLDER, "corpus.txt")


def reference_sentences(data):
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return [line.split() for line in text.split("\n") if line.split()]


def TestOneInput(data):
    with open(_PATH, "wb") as handle:
        handle.write(data)
    scan = corpus_io.scan_file(_PATH)
    ids, bounds = scan.corpus.token_ids, scan.corpus.sentence_bounds
    got = [[scan.words[i] for i in ids[bounds[s]:bounds[s + 1]]] for s in range(len(bounds) - 1)]
    assert got == reference_sentences(data), (got, reference_sentences(data))
    model = hsmcy.Word2Vec(vector_size=2, min_count=1, workers=1, epochs=1)
    try:
        model.build_vocab(corpus_file=_PATH)
    except ValueError:
        assert not got  # only an empty corpus may be refused with min_count=1
        return
    model.train(corpus_file=_PATH, total_examples=model.corpus_count, epochs=1)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
