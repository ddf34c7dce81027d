"""Corpora, buffers, tokens, trees and counts: no input reaches a crash, a hang or silent junk (issue 19).

Where a crash is possible (a buffer file changed under a running job) the case runs
in a subprocess, whose exit status tells a clear error from a signal.
"""
import bz2
import gzip
import lzma
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from safety_helpers import read_archive, synthetic_sentences, write_archive

import hsmcy
from hsmcy import corpus as corpus_io
from hsmcy.tree import BinaryTree, HuffmanTree
from hsmcy.vocab import Vocabulary

PACKAGE_PARENT = str(Path(hsmcy.__file__).resolve().parent.parent)


def run_python(script, cwd, timeout=120):
    """Run ``script`` in a fresh interpreter (same hsmcy); returns the CompletedProcess.

    A negative return code is a signal (SIGBUS -7, SIGSEGV -11): the crash these tests exclude.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def write_corpus(path, n_sentences=1500, seed=0):
    sentences = synthetic_sentences(n_sentences, 12, 300, seed=seed)
    path.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    return path


SMALL = dict(vector_size=8, min_count=1, workers=1, epochs=1, seed=3, batch_words=500)


# =========================================================== class 1: buffer files
# The script shared by the subprocess cases: two corpora, models made with SMALL.
PRELUDE = """
    import os, sys, numpy as np, hsmcy
    from safety_helpers import synthetic_sentences
    SMALL = dict(vector_size=8, min_count=1, workers=1, epochs=1, seed=3, batch_words=500)
    first = synthetic_sentences(1500, 12, 300, seed=0)
    second = synthetic_sentences(300, 5, 50, seed=1)

    def in_memory(sentences):
        model = hsmcy.Word2Vec(**SMALL)
        model.build_vocab(sentences)
        model.train(sentences, total_examples=len(sentences), epochs=1)
        return model.wv.vectors
"""


def run_case(body, tmp_path):
    tests = str(Path(__file__).resolve().parent)
    return run_python(f"import sys; sys.path.insert(0, {tests!r})\n" + textwrap.dedent(PRELUDE)
                      + textwrap.dedent(body), cwd=tmp_path)


@pytest.mark.parametrize("location", ["directory", "file"])
def test_two_models_given_the_same_buffer_train_independently(tmp_path, location):
    # The crash of issue 19: model B rewrote the buffer file model A had mapped (SIGBUS).
    buffer = tmp_path if location == "directory" else tmp_path / "buffer.ids"
    run_case(f"""
        a = hsmcy.Word2Vec(corpus_buffer={str(buffer)!r}, **SMALL)
        a.build_vocab(first)
        b = hsmcy.Word2Vec(corpus_buffer={str(buffer)!r}, **SMALL)
        b.build_vocab(second)          # same directory or same file name: a's buffer is untouched
        a.train(first, total_examples=len(first), epochs=1)
        b.train(second, total_examples=len(second), epochs=1)
        assert np.array_equal(a.wv.vectors, in_memory(first))
        assert np.array_equal(b.wv.vectors, in_memory(second))
        print("ok")
    """, tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    # a directory gets unnamed files (nothing left behind); a file path ends as that file
    assert left == ([] if location == "directory" else ["buffer.ids"])


@pytest.mark.parametrize("cut", ["empty", "inside the ids", "inside the bounds", "one byte short"])
def test_a_buffer_truncated_between_build_vocab_and_train_is_an_error_naming_it(tmp_path, cut):
    run_case(f"""
        path = {str(tmp_path / "buffer.ids")!r}
        model = hsmcy.Word2Vec(corpus_buffer=path, **SMALL)
        model.build_vocab(first)
        size = os.path.getsize(path)
        n_ids = model._encoded.n_words
        cut = {{"empty": 0, "inside the ids": 2 * n_ids, "inside the bounds": 4 * n_ids + 800,
               "one byte short": size - 1}}[{cut!r}]
        os.truncate(path, cut)
        try:
            model.train(first, total_examples=len(first), epochs=1)
        except ValueError as error:
            assert path in str(error) and "truncated" in str(error), error
        else:
            raise AssertionError("a truncated buffer trained")
        assert np.all(np.isfinite(model.wv.vectors))
        print("ok")
    """, tmp_path)


@pytest.mark.parametrize("change", ["truncated", "bounds rewritten", "ids rewritten", "replaced by a new file"])
def test_a_buffer_changed_during_training(tmp_path, change):
    # A callback stands for another process; the change lands between two batches.
    run_case(f"""
        path = {str(tmp_path / "buffer.ids")!r}
        model = hsmcy.Word2Vec(corpus_buffer=path, **SMALL)
        model.build_vocab(first)
        n_ids = model._encoded.n_words
        bounds_at = (4 * n_ids + 7) // 8 * 8

        class Vandal:
            done = False
            def on_batch_end(self, _model):
                if self.done:
                    return
                self.done = True
                change = {change!r}
                if change == "truncated":
                    os.truncate(path, 4 * 1000)
                elif change == "bounds rewritten":
                    with open(path, "r+b") as handle:   # decreasing, and far past the ids
                        handle.seek(bounds_at + 8 * 200)
                        handle.write(np.arange(10 ** 12, 10 ** 12 - 3000, -1, dtype=np.int64).tobytes())
                elif change == "ids rewritten":
                    with open(path, "r+b") as handle:
                        handle.seek(4 * 9000)
                        handle.write(np.full(100, 10 ** 6, dtype=np.int32).tobytes())
                else:   # another model's buffer takes the name: this run keeps reading its own file
                    with open(path + ".new", "wb") as handle:
                        handle.write(b"\\xff" * 100)
                    os.replace(path + ".new", path)

        try:
            model.train(first, total_examples=len(first), epochs=1, callbacks=[Vandal()])
        except ValueError as error:
            assert {change!r} != "replaced by a new file", error
            assert path in str(error), error
        else:
            assert {change!r} == "replaced by a new file"
            assert np.array_equal(model.wv.vectors, in_memory(first))
        assert np.all(np.isfinite(model.wv.vectors))
        print("ok")
    """, tmp_path)


def test_bounds_rewritten_in_order_but_wrong_are_caught_against_the_run(tmp_path):
    # All zeros are in order and inside the ids: only the token range the run
    # expects for the batch shows that they changed (an empty batch would train).
    model = hsmcy.Word2Vec(corpus_buffer=tmp_path / "buffer.ids", **SMALL)
    model.build_vocab(synthetic_sentences(300, 5, 30))
    encoded = model._encoded
    reader = corpus_io.BatchReader(encoded, len(model.wv))
    expected = (int(encoded.sentence_bounds[10]), int(encoded.sentence_bounds[20]))
    reader.read(10, 20, expected_words=expected)
    bounds_at = (4 * encoded.n_words + 7) // 8 * 8
    with open(tmp_path / "buffer.ids", "r+b") as handle:
        handle.seek(bounds_at)
        handle.write(bytes(8 * 301))
    ids, bounds = reader.read(10, 20)   # in order: unnoticed without the expected range
    assert len(ids) == 0 and not bounds.any()
    with pytest.raises(ValueError, match="now span tokens 0..0, not"):
        reader.read(10, 20, expected_words=expected)


def test_a_buffer_that_is_the_corpus_file_is_refused_before_anything_is_opened(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    content, stat = corpus.read_bytes(), corpus.stat()
    os.link(corpus, tmp_path / "hard-link.txt")
    os.symlink(corpus, tmp_path / "symbolic-link.txt")
    for buffer in (corpus, str(corpus), tmp_path / "hard-link.txt", tmp_path / "symbolic-link.txt",
                   tmp_path / "sub" / ".." / "corpus.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match="is the corpus file itself"):
            hsmcy.Word2Vec(corpus_file=corpus, corpus_buffer=buffer, **SMALL)
        model = hsmcy.Word2Vec(**dict(SMALL, min_count=1))
        model.corpus_buffer = buffer
        with pytest.raises(ValueError, match="is the corpus file itself"):
            model.build_vocab(corpus_file=corpus)
    assert corpus.read_bytes() == content and corpus.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "hard-link.txt", "sub", "symbolic-link.txt"]


@pytest.mark.parametrize("buffer, message", [
    ("missing-folder/buffer.ids", "does not exist"),
    (42, "must be a directory or file path"),
    ("", "empty path"),
    (f"not-a-folder{os.sep}", "ends with a path separator"),
])
def test_an_unusable_buffer_location_is_refused_before_reading(tmp_path, buffer, message):
    corpus = write_corpus(tmp_path / "corpus.txt")
    if isinstance(buffer, str) and buffer:
        buffer = os.path.join(str(tmp_path), buffer)   # (keeps a trailing separator, as Path would not)
    with pytest.raises((ValueError, TypeError), match=message):
        hsmcy.Word2Vec(corpus_file=corpus, corpus_buffer=buffer, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_a_failed_build_leaves_no_buffer_file_behind(tmp_path):
    def sentences():
        yield from synthetic_sentences(200, 5, 30)
        raise RuntimeError("the corpus went away")

    for buffer in (tmp_path, tmp_path / "buffer.ids"):
        model = hsmcy.Word2Vec(corpus_buffer=buffer, **SMALL)
        with pytest.raises(RuntimeError, match="went away"):
            model.build_vocab(sentences())
        assert list(tmp_path.iterdir()) == []


def test_a_model_holding_a_buffer_copies_without_sharing_a_closed_descriptor(tmp_path):
    import copy
    import pickle

    sentences = synthetic_sentences(300, 5, 30)
    model = hsmcy.Word2Vec(corpus_buffer=tmp_path, **SMALL)
    model.build_vocab(sentences)
    twin = copy.deepcopy(model)
    assert twin._encoded.token_ids.file is model._encoded.token_ids.file   # one descriptor, closed once
    del model
    twin.train(sentences, total_examples=len(sentences), epochs=1)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(twin._encoded)


def test_an_unnamed_buffer_is_named_by_its_directory_in_messages(tmp_path):
    model = hsmcy.Word2Vec(corpus_buffer=tmp_path, **SMALL)
    model.build_vocab(synthetic_sentences(100, 5, 30))
    assert model._encoded.file_backed and model._encoded.path is None
    assert str(tmp_path) in model._encoded.description
    with pytest.raises(ValueError, match=f"unnamed file in '{tmp_path}'"):
        model._encoded.token_ids.read(0, 10 ** 9)


# =========================================================== class 3: resource bombs
class RecordingTable:
    """A TokenTable that records how many bytes each scan call is given."""

    def __init__(self, table):
        self.table, self.sizes = table, []

    def scan(self, text, final):
        self.sizes.append(len(text))
        return self.table.scan(text, final)


def test_a_whitespace_free_token_is_scanned_once_not_once_per_piece(tmp_path, monkeypatch):
    # Quadratic before: each piece rescanned the whole unfinished token (34 s for 100 MB).
    monkeypatch.setattr(corpus_io, "_READ_BYTES", 4096)
    token = b"x" * 1_000_000 + "é".encode() * 1000
    path = tmp_path / "one-token.txt"
    path.write_bytes(b"a b\n" + token + b" c\nd")
    tables = []
    original = corpus_io._scan_pieces

    def recording(handle, table, buffer, bounds):
        tables.append(RecordingTable(table))
        return original(handle, tables[-1], buffer, bounds)

    monkeypatch.setattr(corpus_io, "_scan_pieces", recording)
    scan = corpus_io.scan_file(path)
    sizes = tables[0].sizes
    # every byte passed once, plus at most 2 carried over per piece (a possible multi-byte space)
    assert sum(sizes) <= path.stat().st_size + 2 * len(sizes)
    assert [scan.words[i] for i in scan.corpus.token_ids] == ["a", "b", token.decode(), "c", "d"]
    assert scan.corpus.sentence_bounds.tolist() == [0, 2, 4, 5]


@pytest.mark.parametrize("above", [1, 10 ** 9])
def test_word_ngrams_has_an_upper_bound(above):
    from hsmcy.classifier import MAX_WORD_NGRAMS

    value = MAX_WORD_NGRAMS + above
    with pytest.raises(ValueError, match=f"word_ngrams must be at most {MAX_WORD_NGRAMS}"):
        hsmcy.HSClassifier(word_ngrams=value)
    classifier = hsmcy.HSClassifier(word_ngrams=2)
    with pytest.raises(ValueError, match="word_ngrams"):
        classifier.set_params(word_ngrams=value)
    assert classifier.word_ngrams == 2    # set_params rolled back
    hsmcy.HSClassifier(word_ngrams=MAX_WORD_NGRAMS)


def test_a_model_file_with_a_huge_word_ngrams_is_refused(tmp_path):
    texts = ["cheap flights to paris", "fix a flat bike tyre", "easy bread recipe"] * 5
    labels = ["travel", "cycling", "cooking"] * 5
    classifier = hsmcy.HSClassifier(dim=4, epochs=1, workers=1, word_ngrams=2, bucket=50).fit(texts, labels)
    classifier.save(tmp_path / "model.hsmcy")
    header, members = read_archive(tmp_path / "model.hsmcy")
    header["metadata"]["params"]["word_ngrams"] = 10 ** 9
    write_archive(tmp_path / "hostile.hsmcy", header, members)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="word_ngrams"):
        hsmcy.HSClassifier.load(tmp_path / "hostile.hsmcy")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("value", [100_001, 10 ** 12, 0, True, 2.0])
def test_syncs_per_epoch_is_bounded(value):
    from hsmcy import distributed

    with pytest.raises(ValueError, match="syncs_per_epoch"):
        distributed.train(None, ["corpus.txt"], syncs_per_epoch=value)


# =========================================================== class 4: validate before converting
@pytest.mark.parametrize("build, error, message", [
    (lambda: BinaryTree(np.array([2 ** 32, 2 ** 32], dtype=np.int64), [0, 1], [0, 1, 2]), ValueError,
     r"path_nodes\[0\] = 4294967296 does not fit in int32"),
    (lambda: BinaryTree([0, 0], [0, 257], [0, 1, 2]), ValueError, r"path_codes\[1\] = 257"),
    (lambda: BinaryTree([0, 0], [0, 1], np.array([0, 1, 2 ** 64 - 1], dtype=np.uint64)), ValueError,
     r"path_offsets\[2\] = 18446744073709551615"),
    (lambda: BinaryTree([0.0, 0.5], [0, 1], [0, 1, 2]), TypeError, "not a whole number"),
    (lambda: BinaryTree(["0", "0"], [0, 1], [0, 1, 2]), TypeError, "not an integer"),
    (lambda: BinaryTree.from_parents(np.array([2 ** 64 - 1, 0, 0], dtype=np.uint64)), ValueError,
     r"parents\[0\] = 18446744073709551615 is not a node id or -1"),
    (lambda: BinaryTree.from_parents(np.array([-1, 0, 0]), leaves=np.array([1, 2 ** 64 - 1], dtype=np.uint64)),
     ValueError, r"leaves\[1\] = 18446744073709551615"),
    (lambda: BinaryTree.from_gensim_codes([[0], [1]], [np.array([2 ** 64 - 1], np.uint64), [0]]), ValueError,
     r"points\[0\]\[0\] = 18446744073709551615"),
    (lambda: BinaryTree.from_gensim_codes([[0.5], [1]], [[0], [0]]), TypeError, r"codes\[0\]\[0\] = 0.5"),
    (lambda: BinaryTree.from_gensim_codes([[0], [2]], [[0], [0]]), ValueError, r"codes\[1\]\[0\] = 2"),
    (lambda: BinaryTree.from_edges([("a", "root"), ("b", "root")], counts=[1.5, 2]), TypeError, "whole number"),
    (lambda: HuffmanTree.from_counts([2 ** 62, 2 ** 62, 2 ** 62]), ValueError, "more than 2\\*\\*63 - 1"),
    (lambda: HuffmanTree.from_counts(np.array([2 ** 64 - 1, 1], dtype=np.uint64)), ValueError,
     r"counts\[0\] = 18446744073709551615"),
    (lambda: HuffmanTree.from_counts([2.5, 1]), TypeError, "not a whole number"),
    (lambda: HuffmanTree.from_counts([float("nan"), 1]), TypeError, "not a whole number"),
    (lambda: HuffmanTree.from_counts([2 ** 70, 1]), ValueError, "non-negative count"),
    (lambda: Vocabulary(["a", "b"], [3.7, 1]), TypeError, "count of 'a' = 3.7"),
    (lambda: Vocabulary.from_raw_counts(["a", "b"], np.array([2 ** 63, 1], dtype=np.uint64)), ValueError,
     "count of 'a' = 9223372036854775808"),
])
def test_values_are_checked_before_they_are_converted(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("word_freq, error, message", [
    ({"cat": 3.7, "dog": 2}, TypeError, "word_freq count of 'cat' = 3.7 is not a whole number"),
    ({"cat": 2, "dog": float("inf")}, TypeError, "count of 'dog' = inf"),
    ({"cat": -1, "dog": 2}, ValueError, "count of 'cat' = -1"),
    ({"cat": 2 ** 64, "dog": 2}, ValueError, "count of 'cat' = 18446744073709551616"),
    ({"cat": np.uint64(2 ** 64 - 1), "dog": 2}, ValueError, "count of 'cat'"),
    ({"cat": 2 ** 62, "dog": 2 ** 62, "eel": 2 ** 62}, ValueError, "more than 2\\*\\*63 - 1"),
    ({"cat": "3", "dog": 2}, TypeError, "count of 'cat' = '3' is not an integer"),
    ({"cat": None, "dog": 2}, TypeError, "count of 'cat'"),
    ([("cat", 3)], TypeError, "mapping"),
])
def test_build_vocab_from_freq_refuses_counts_it_would_truncate_or_overflow(word_freq, error, message):
    model = hsmcy.Word2Vec(min_count=1, vector_size=4)
    with pytest.raises(error, match=message):
        model.build_vocab_from_freq(word_freq)
    assert model.corpus_total_words == 0 and model.tree is None   # nothing half-built


def test_exact_counts_still_build_exactly():
    model = hsmcy.Word2Vec(min_count=1, vector_size=4)
    big = 2 ** 61 + 1   # a float would round it
    model.build_vocab_from_freq({"cat": big, "dog": 3.0, "eel": np.int32(2)})
    assert model.corpus_total_words == big + 5
    assert model.wv.get_vecattr("cat", "count") == big and model.wv.get_vecattr("dog", "count") == 3
    counts = [2 ** 62, 2 ** 62 - 2, 1]   # a total of 2**63 - 1: the most int64 holds
    tree = HuffmanTree.from_counts(counts)
    assert tree.path_lengths.tolist() == [1, 2, 2]   # 1 and 2**62 - 2 merge first
    # beyond int64 itself, but exact
    assert tree.weighted_path_length(counts) == sum(c * int(d) for c, d in zip(counts, tree.path_lengths))
    assert tree.weighted_path_length(counts) > 2 ** 63


# =========================================================== class 5: compressed and binary corpora
COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


@pytest.fixture(scope="module")
def plain_corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="module")
def plain_model(plain_corpus):
    return hsmcy.Word2Vec(corpus_file=plain_corpus, **SMALL)


@pytest.mark.parametrize("extension", ["gz", "bz2", "xz"])
@pytest.mark.parametrize("named", [True, False])
def test_compressed_corpora_train_as_their_text(tmp_path, plain_corpus, plain_model, extension, named):
    path = tmp_path / (f"corpus.txt.{extension}" if named else "corpus.txt")   # unnamed: by its first bytes
    path.write_bytes(COMPRESSORS[extension](plain_corpus.read_bytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no "not UTF-8" warning: it is read as the text it holds
        model = hsmcy.Word2Vec(corpus_file=path, **SMALL)
    assert model.wv.index_to_key == plain_model.wv.index_to_key
    assert np.array_equal(model.wv.vectors, plain_model.wv.vectors)
    # build_vocab and train on their own, and a buffer file too
    steps = hsmcy.Word2Vec(corpus_buffer=tmp_path, **SMALL)
    steps.build_vocab(corpus_file=path)
    steps.train(corpus_file=path, total_examples=steps.corpus_count, epochs=1)
    assert np.array_equal(steps.wv.vectors, plain_model.wv.vectors)


def test_the_command_line_trains_a_gzipped_corpus(tmp_path, plain_corpus):
    from hsmcy.cli import main

    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress(plain_corpus.read_bytes()))
    for corpus, output in ((plain_corpus, "plain.txt"), (path, "gzipped.txt")):
        assert main(["train", str(corpus), "-o", str(tmp_path / output), "--quiet", "--size", "8", "--epochs", "1",
                     "--workers", "1", "--min-count", "1"]) in (0, None)
    assert (tmp_path / "plain.txt").read_bytes() == (tmp_path / "gzipped.txt").read_bytes()


@pytest.mark.parametrize("content, message", [
    (lambda text: gzip.compress(text)[:-20], "as gzip-compressed text"),           # cut short
    (lambda text: gzip.compress(text)[:30] + b"\x00" * 50, "as gzip-compressed text"),   # damaged
    (lambda text: bz2.compress(text)[:-10], "as bzip2-compressed text"),
    (lambda text: lzma.compress(text)[:-10], "as xz-compressed text"),
    (lambda text: b"\x28\xb5\x2f\xfd" + text, "zstd"),
    (lambda text: b"PK\x03\x04" + text, "zip archive"),
])
def test_damaged_or_unreadable_compressed_corpora_are_a_clear_error(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content(b"the cat sat on the mat\n" * 2000))
    with pytest.raises(ValueError, match=f"corpus_file '{path}'.*{message}"):
        hsmcy.Word2Vec(corpus_file=path, **SMALL)


def test_a_gz_name_on_plain_text_is_a_clear_error(tmp_path):
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(b"the cat sat on the mat\n")
    with pytest.raises(ValueError, match="could not be read as gzip-compressed text"):
        hsmcy.Word2Vec(corpus_file=path, **SMALL)


@pytest.mark.parametrize("content, share", [
    (np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8).tobytes(), "not UTF-8"),
    ("the cat sat on the mat\n".encode("utf-16") * 50, "NUL bytes"),   # UTF-16: NUL in every ASCII character
    (b"the \x00cat sat\n" * 10, "NUL bytes"),
    ("café crème brûlée déjà vu\n".encode("latin-1") * 50, "not UTF-8"),
])
def test_a_file_that_is_not_utf8_text_trains_with_a_warning_naming_it(tmp_path, caplog, content, share):
    path = tmp_path / "odd.bin"
    path.write_bytes(content)
    with pytest.warns(UnicodeWarning, match=f"corpus_file '{path}' does not look like UTF-8 text.*{share}"):
        model = hsmcy.Word2Vec(corpus_file=path, **SMALL)
    assert any("does not look like UTF-8" in record.getMessage() and record.levelname == "WARNING"
               for record in caplog.records)
    assert np.all(np.isfinite(model.wv.vectors))


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes("the cat sat on the mat\n".encode("utf-16") * 50)
    with pytest.warns(UnicodeWarning, match="NUL bytes.*UTF-16 byte-order mark"):
        corpus_io.scan_file(path)


def test_utf8_text_with_a_few_stray_bytes_gets_no_warning(tmp_path):
    path = tmp_path / "mostly-fine.txt"
    path.write_bytes("naïve café déjà vu the cat\n".encode() * 300 + b"stray \xff byte\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hsmcy.Word2Vec(corpus_file=path, **SMALL)
