"""Reading and encoding corpora once: provisional ids, remapping, memory-mapped buffers."""
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


def test_file_and_mmap_buffer(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_io, "_CHUNK_TOKENS", 7)  # force many chunks
    text = "the cat sat\n\nthe dog   sat on the mat\r\nzebra\n"
    path = tmp_path / "c.txt"
    path.write_text(text)
    scan = corpus_io.scan_file(path, buffer_path=tmp_path / "buffer.int32")
    assert isinstance(scan.corpus.token_ids, corpus_io.MappedIds)
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
