"""Reading and encoding corpora once: provisional ids, remapping, buffer files."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsmcy import corpus as corpus_io
from hsmcy.vocab import Vocabulary, keep_probabilities

token = st.sampled_from(["a", "b", "c", "d", "é", "x" * 50])
sentences_strategy = st.lists(st.lists(token, max_size=12), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(sentences_strategy, st.integers(1, 3))
def test_scan_then_encode_equals_direct_lookup(sentences, min_count):
    scan = corpus_io.scan_iterable(sentences)
    assert scan.corpus.n_words == sum(map(len, sentences))
    for word, count in zip(scan.words, scan.counts):
        assert count == sum(s.count(word) for s in sentences)
    if not scan.words:
        return
    vocabulary, remap = Vocabulary.from_raw_counts(scan.words, scan.counts, min_count=min_count)
    encoded = scan.encode(remap)
    expected = [[vocabulary.word_index[w] for w in s if w in vocabulary.word_index] for s in sentences]
    got = [list(encoded.token_ids[a:b]) for a, b in zip(encoded.sentence_bounds[:-1], encoded.sentence_bounds[1:])]
    assert got == expected
    direct = corpus_io.encode_iterable(sentences, vocabulary.word_index)
    assert np.array_equal(direct.token_ids, encoded.token_ids)


def test_file_and_buffer_file(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_io, "_CHUNK_TOKENS", 7)  # force many chunks
    text = "the cat sat\n\nthe dog   sat on the mat\r\nzebra\n"
    path = tmp_path / "c.txt"
    path.write_text(text)
    scan = corpus_io.scan_file(path, buffer_path=tmp_path / "buffer.int32")
    assert isinstance(scan.corpus.token_ids, corpus_io.FileArray)
    assert scan.corpus.n_sentences == 3 and scan.corpus.n_words == 10
    vocabulary, remap = Vocabulary.from_raw_counts(scan.words, scan.counts, min_count=2)
    encoded = scan.encode(remap)
    assert vocabulary.words == ["the", "sat"]
    assert list(encoded.sentence_bounds) == [0, 2, 5, 5]
    assert list(encoded.token_ids) == [0, 1, 0, 1, 0]


def test_keep_probabilities_follow_gensim_formula():
    counts = np.array([1000, 100, 10, 1])
    probability = keep_probabilities(counts, 1e-2)
    threshold = 1e-2 * counts.sum()
    expected = np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)
    np.testing.assert_allclose(probability, expected, rtol=1e-6)
    assert np.all(keep_probabilities(counts, 0) == 1.0)


def test_check_rejects_out_of_range_ids():
    encoded = corpus_io.EncodedCorpus(np.array([0, 5], dtype=np.int32), np.array([0, 2], dtype=np.int64))
    with pytest.raises(ValueError, match="word ids"):
        encoded.check(3)


# ------------------------------------------------ buffer files are read, never mapped
def mapped_paths():
    """Files this process has memory-mapped (Linux /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        return {fields[5] for fields in map(str.split, maps) if len(fields) > 5}


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc/self/maps")
def test_buffer_files_are_never_memory_mapped(tmp_path):
    import hsmcy

    path = tmp_path / "buffer.ids"
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=2, epochs=1, corpus_buffer=path)
    model.build_vocab(mapped_training_sentences())
    assert model._encoded.path == str(path) and path.exists()
    assert not any(name.startswith(str(tmp_path)) for name in mapped_paths())
    model.train(mapped_training_sentences(), total_examples=2000, epochs=1)
    assert not any(name.startswith(str(tmp_path)) for name in mapped_paths())


def test_file_array_reads_what_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_io, "_CHUNK_TOKENS", 1000)
    expected = np.arange(4_000, dtype=np.int32) % 97
    buffer = corpus_io._IdBuffer(tmp_path)
    buffer.current.extend(expected.tolist())
    ids = buffer.finish()
    assert isinstance(ids, corpus_io.FileArray) and ids.path is None   # unnamed, in tmp_path
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(np.asarray(ids), expected) and ids[-1] == expected[-1] and len(ids) == 4000
    assert np.array_equal(ids[[0, 5, 3999, -1]], expected[[0, 5, 3999, -1]])
    assert np.array_equal(ids[10:20], expected[10:20]) and np.array_equal(ids[3990:5000], expected[3990:])
    for start, chunk in corpus_io.chunks_of(ids):
        assert np.array_equal(chunk, expected[start:start + 1000])
    ids[5:8] = [1, 2, 3]
    assert ids[5:8].tolist() == [1, 2, 3]
    with pytest.raises(IndexError):
        ids[4000]


def mapped_training_sentences():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    return [list(rng.choice(words, size=15)) for _ in range(2000)]


def test_training_reads_a_mapped_corpus_by_batch_not_through_the_mapping(tmp_path, recording_workers):
    import hsmcy

    sentences = mapped_training_sentences()
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=2, epochs=2, batch_words=500, corpus_buffer=tmp_path)
    model.build_vocab(sentences)
    # Ids and sentence bounds both live in the file: nothing per token or sentence in memory.
    assert isinstance(model._encoded.token_ids, corpus_io.FileArray)
    assert isinstance(model._encoded.sentence_bounds, corpus_io.FileArray)
    assert not model._encoded.sentence_bounds.writable
    model.train(sentences, total_examples=len(sentences), epochs=2)
    seen = [entry[3:6] for entry in recording_workers if entry[0] == "train"]
    assert seen
    # Each batch gets its own ids (a plain array, bounds from 0), never the mapping.
    assert all(first == 0 and last == length for length, first, last in seen)
    assert sum(length for length, _, _ in seen) == 2 * model.corpus_total_words
    # The same training as through the mapping: one worker, seeded, bit for bit.
    results = []
    for buffer in (tmp_path / "b", None):
        single = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1, epochs=2, batch_words=500, seed=3,
                                corpus_buffer=buffer)
        single.build_vocab(sentences)
        single.train(sentences, total_examples=len(sentences), epochs=2)
        results.append(single.wv.vectors.copy())
    assert np.array_equal(results[0], results[1])


def test_a_mapped_corpus_changed_during_training_is_an_error(tmp_path):
    import hsmcy

    sentences = mapped_training_sentences()
    path = tmp_path / "buffer.ids"
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1, epochs=1, batch_words=500, corpus_buffer=path)
    model.build_vocab(sentences)
    vectors_before = model.wv.vectors.copy()

    class Scribbler:   # another process writes to the buffer after train() checked it
        def on_train_begin(self, _model):
            with open(path, "r+b") as handle:
                handle.seek(4 * 20000)
                handle.write(np.array([10 ** 6], dtype=np.int32).tobytes())

    with pytest.raises(ValueError, match="changed while training"):
        model.train(sentences, total_examples=len(sentences), epochs=1, callbacks=[Scribbler()])
    # The batches before the bad one were trained; the weights are intact.
    assert np.all(np.isfinite(model.wv.vectors)) and not np.array_equal(model.wv.vectors, vectors_before)
    os.truncate(path, 4 * 100)
    with corpus_io.BatchReader(model._encoded, 200) as reader, pytest.raises(ValueError, match="truncated"):
        reader.read(0, 50)


@pytest.mark.parametrize("chunk", [1, 3, 1 << 18])
@pytest.mark.parametrize("batch_words", [1, 7, 40, 10_000])
def test_batch_edges_chunk_by_chunk_equal_one_search(monkeypatch, chunk, batch_words):
    from hsmcy._training import batch_edges

    monkeypatch.setattr(corpus_io, "_CHUNK_TOKENS", chunk)
    lengths = np.random.default_rng(chunk + batch_words).integers(0, 30, size=300)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    targets = np.arange(batch_words, bounds[-1], batch_words)
    expected = np.unique(np.concatenate([[0], np.searchsorted(bounds, targets, side="left"), [len(lengths)]]))
    assert batch_edges(bounds, batch_words).tolist() == expected.tolist()


# ---------------------------------------------------------------- the compiled file reader
# scan_file splits raw bytes in C (hsmcy._text); its contract is the Python reader below.

def python_reader_sentences(path):
    """What ``line.split()`` gives over the file read as UTF-8 text, errors replaced."""
    with open(path, encoding="utf-8", errors="replace", newline=None) as handle:
        return [line.split() for line in handle if line.split()]


def scanned_sentences(scan):
    ids, bounds = np.asarray(scan.corpus.token_ids), scan.corpus.sentence_bounds
    return [[scan.words[i] for i in ids[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]


def assert_reads_like_python(path, scan):
    expected = python_reader_sentences(path)
    assert scanned_sentences(scan) == expected
    assert len(set(scan.words)) == len(scan.words)
    occurrences = {}
    for sentence in expected:
        for word in sentence:
            occurrences[word] = occurrences.get(word, 0) + 1
    assert list(scan.words) == list(occurrences)   # provisional ids in order of first appearance
    assert scan.counts.tolist() == list(occurrences.values())


def test_reader_splits_on_exactly_the_characters_str_split_does(tmp_path):
    # Every code point between two letters: a space splits "a?b" in two, anything else does not.
    path = tmp_path / "every_code_point.txt"
    with open(path, "wb") as handle:
        for code in range(0x110000):
            if 0xD800 <= code < 0xE000:
                continue   # surrogates cannot be encoded
            handle.write(b"a" + chr(code).encode() + b"b ")
            if code % 64 == 63:
                handle.write(b"\n")
    assert_reads_like_python(path, corpus_io.scan_file(path))


PIECES = [b"a", b"b", b"ab", "é".encode(), "日本".encode(), b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1f",
          b"\n", b"\r", b"\r\n", b"\n\n", "\ufffd".encode(), "\u00a0".encode(), "\u0085".encode(), "\u2000".encode(),
          "\u200a".encode(), "\u2028".encode(), "\u3000".encode(), "\u205f".encode(), b"\x00",
          # invalid UTF-8: lone bytes, cut sequences, an encoded surrogate, a cut space
          b"\xff", b"\xfe", b"\x85", b"\xa0", b"\xc2", b"\xe2", b"\xe2\x80", b"\xf0\x9f", b"\xed\xa0\x80"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=80), st.integers(1, 9))
def test_reader_equals_python_on_mixed_and_invalid_text(tmp_path_factory, pieces, read_bytes):
    path = tmp_path_factory.mktemp("reader") / "mixed.txt"
    path.write_bytes(b"".join(pieces))
    # Tiny reads put piece boundaries inside tokens, multi-byte characters and \r\n.
    original = corpus_io._READ_BYTES
    corpus_io._READ_BYTES = read_bytes
    try:
        scan = corpus_io.scan_file(path)
    finally:
        corpus_io._READ_BYTES = original
    assert_reads_like_python(path, scan)


def test_reader_merges_invalid_byte_strings_that_decode_alike(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_io, "_CHUNK_TOKENS", 2)
    path = tmp_path / "invalid.txt"
    path.write_bytes(b"x \xff \xfe\n\xfe x \xc3\n\xff")   # \xff, \xfe, \xc3 all read as U+FFFD
    scan = corpus_io.scan_file(path, buffer_path=tmp_path / "ids.int32")
    assert list(scan.words) == ["x", "\ufffd"]
    assert scan.counts.tolist() == [2, 5]
    assert_reads_like_python(path, scan)


def test_reader_merges_invalid_bytes_with_a_literal_replacement_character(tmp_path):
    path = tmp_path / "replacement.txt"
    path.write_bytes("a\ufffd b a\ufffd\n".encode() + b"b a\xff a\xfe\n")
    scan = corpus_io.scan_file(path)
    assert list(scan.words) == ["a\ufffd", "b"]
    assert scan.counts.tolist() == [4, 2]
    assert_reads_like_python(path, scan)


def test_scanned_words_are_a_sequence_decoded_on_demand(tmp_path):
    path = tmp_path / "words.txt"
    path.write_bytes("b a\nc \xe9t\xe9 a\n".encode("utf-8") + b"\xff x \xfe\n")
    words = corpus_io.scan_file(path).words
    assert isinstance(words, corpus_io.TableWords)
    assert list(words) == ["b", "a", "c", "été", "\ufffd", "x"]
    assert len(words) == 6 and words[-1] == "x" and words[np.int64(3)] == "été"
    assert "été" in words and words.index("x") == 5
    with pytest.raises(IndexError):
        words[6]
    with pytest.raises(TypeError):
        words[1:3]


def test_encode_file_keeps_vocabulary_words_only(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("b a z\r\nz z\nc a\n")
    encoded = corpus_io.encode_file(path, {"a": 0, "b": 1, "c": 2})
    assert encoded.token_ids.tolist() == [1, 0, 2, 0]
    assert encoded.sentence_bounds.tolist() == [0, 2, 2, 4]


def test_in_memory_bounds_are_int32_and_train_exactly_as_int64(monkeypatch):
    import hsmcy

    assert corpus_io.bounds_dtype(2**31 - 1) == np.int32 and corpus_io.bounds_dtype(2**31) == np.int64
    sentences = mapped_training_sentences()
    vectors = []
    for dtype in (None, np.int64):
        if dtype is not None:
            monkeypatch.setattr(corpus_io, "bounds_dtype", lambda n_tokens: np.dtype(dtype))
        model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1, epochs=2, batch_words=500, seed=4)
        model.build_vocab(sentences)
        assert model._encoded.sentence_bounds.dtype == (dtype or np.int32)
        model.train(sentences, total_examples=len(sentences), epochs=2)
        vectors.append(model.wv.vectors)
    assert np.array_equal(vectors[0], vectors[1])
