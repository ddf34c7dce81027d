"""Hostile and odd input: odd corpus files, huge tokens, a one-word vocabulary, many workers, threads."""
import os
import sys
import threading

import numpy as np
import pytest

import hsmcy
from hsmcy import _training
from hsmcy import corpus as corpus_io


def model_from_file(path, **overrides):
    parameters = dict(vector_size=8, min_count=1, epochs=1, workers=2, seed=1, window=2, sample=0)
    parameters.update(overrides)
    return hsmcy.Word2Vec(corpus_file=str(path), **parameters)


def sentences_of(scan):
    ids, bounds = scan.corpus.token_ids, scan.corpus.sentence_bounds
    return [[scan.words[i] for i in ids[bounds[s]:bounds[s + 1]]] for s in range(len(bounds) - 1)]


def assert_usable(model, tmp_path):
    """Trained, finite, saveable and loadable."""
    assert _training.all_finite(model.wv.vectors) and _training.all_finite(model.syn1)
    model.save(tmp_path / "model.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "model.hsmcy")
    assert loaded.wv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(loaded.wv.vectors, model.wv.vectors)


# ------------------------------------------------------------ corpus files
def test_invalid_utf8_is_replaced(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème café\nthé café\n".encode("latin-1") + b"\xff\xfe broken \xc3\n")
    scan = corpus_io.scan_file(path)
    assert sentences_of(scan) == [["caf\ufffd", "cr\ufffdme", "caf\ufffd"], ["th\ufffd", "caf\ufffd"],
                                  ["\ufffd\ufffd", "broken", "\ufffd"]]
    assert_usable(model_from_file(path), tmp_path)


def test_nul_bytes_are_ordinary_characters(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"a\x00b c\x00\n\x00 a\x00b\n" * 3)
    scan = corpus_io.scan_file(path)
    assert sentences_of(scan)[:2] == [["a\x00b", "c\x00"], ["\x00", "a\x00b"]]
    model = model_from_file(path)
    assert "a\x00b" in model.wv.key_to_index
    assert_usable(model, tmp_path)


def test_crlf_cr_and_empty_lines_read_like_plain_lines(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"the cat sat\nthe dog ran\non the mat\n")
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"\r\n\n   \t \n the cat sat\r\n\r\nthe dog ran\ron the mat\r\n\n\n")
    expected = sentences_of(corpus_io.scan_file(plain))
    assert sentences_of(corpus_io.scan_file(odd)) == expected
    a, b = model_from_file(plain, workers=1), model_from_file(odd, workers=1)
    assert a.wv.index_to_key == b.wv.index_to_key
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)


@pytest.mark.parametrize("content", [b"", b"\n\n\r\n", b"   \t\x0b\x0c\x1c\n"])
def test_files_without_tokens_are_a_clear_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="corpus_file .* is empty"):
        model_from_file(path)


def test_one_line_of_millions_of_tokens(tmp_path):
    n_tokens = 1_500_000
    words = [f"w{i}" for i in range(1000)]
    ranks = np.random.default_rng(0).zipf(1.5, n_tokens) % 1000
    path = tmp_path / "one-line.txt"
    path.write_text(" ".join(map(words.__getitem__, ranks.tolist())) + "\n")
    model = model_from_file(path, sg=0, window=2, vector_size=4, workers=2)
    assert model.corpus_count == 1 and model.corpus_total_words == n_tokens
    assert model.training_state is None  # the run finished
    assert model._encoded is None  # the one-line buffer was freed after training
    assert_usable(model, tmp_path)


def test_one_long_sentence_is_trained_whole():
    # gensim truncates sentences at 10,000 tokens; hsmcy trains all of them
    sentence = [f"w{i % 50}" for i in range(60_000)]
    model = hsmcy.Word2Vec(vector_size=4, min_count=1, sample=0, workers=2, window=2)
    model.build_vocab([sentence])
    trained, seen = model.train([sentence], total_examples=1, epochs=2)
    assert seen == trained == 2 * 60_000


@pytest.mark.parametrize("source", ["random bytes", "the python executable"])
def test_a_binary_file(tmp_path, source):
    path = tmp_path / "binary.bin"
    if source == "random bytes":
        path.write_bytes(np.random.default_rng(5).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    else:
        with open(sys.executable, "rb") as handle:
            path.write_bytes(handle.read(300_000))
    model = model_from_file(path, min_count=2)
    assert len(model.wv) > 1
    assert_usable(model, tmp_path)
    with pytest.raises(ValueError, match="no word occurs at least min_count"):
        model_from_file(path, min_count=10 ** 9)


def test_huge_tokens(tmp_path):
    huge = ["x" * 1_000_000, "é" * 500_000, "y" * 2_000_000]
    sentences = [[huge[i % 3], "a", huge[(i + 1) % 3], "b"] for i in range(50)]
    model = hsmcy.Word2Vec(sentences, vector_size=8, min_count=1, epochs=2, workers=2)
    assert set(huge) <= set(model.wv.key_to_index)
    assert_usable(model, tmp_path)
    assert model.wv.most_similar(huge[0], topn=1)


# ------------------------------------------------------------ one-word vocabulary
@pytest.mark.parametrize("sg", [0, 1])
def test_one_word_vocabulary(tmp_path, sg):
    sentences = [["only"] * 7, ["only", "rare"], ["only"] * 3]
    model = hsmcy.Word2Vec(vector_size=6, min_count=2, epochs=1, sg=sg, workers=2, compute_loss=True)
    model.build_vocab(sentences)
    assert model.wv.index_to_key == ["only"]
    tree = model.tree
    assert tree.n_leaves == 1 and tree.n_inner == 0 and len(tree.path_nodes) == 0  # P(only) = 1
    before = model.wv.vectors.copy()
    _, seen = model.train(sentences, total_examples=3, epochs=3, compute_loss=True)
    assert seen == 3 * 12  # raw words read, "rare" (not in the vocabulary) included, as gensim counts
    assert model.get_latest_training_loss() == 0.0  # -log 1
    np.testing.assert_array_equal(model.wv.vectors, before)  # nothing to learn, nothing harmed
    assert not model.syn1.any() and model.syn1.shape == (1, 6)
    assert_usable(model, tmp_path)
    assert hsmcy.Word2Vec.load(tmp_path / "model.hsmcy").tree.n_leaves == 1


# ------------------------------------------------------------ threads
@pytest.mark.parametrize("workers", [64, 1000])
def test_workers_far_above_the_core_count(lee_sentences, workers, tmp_path):
    assert workers > (os.cpu_count() or 1)
    model = hsmcy.Word2Vec(lee_sentences, vector_size=16, min_count=5, epochs=1, workers=workers, batch_words=500)
    assert len([t for t in threading.enumerate() if t.name.startswith("hsmcy-worker")]) == 0
    assert_usable(model, tmp_path)


def test_two_models_trained_concurrently_from_two_threads(lee_sentences):
    def build(seed, sg):
        model = hsmcy.Word2Vec(vector_size=16, min_count=3, workers=1, seed=seed, sg=sg)
        model.build_vocab(lee_sentences)
        return model

    sequential = [build(1, 0), build(2, 1)]
    for model in sequential:
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2)
    concurrent = [build(1, 0), build(2, 1)]
    errors = []

    # Train the concurrent copies with the same schedule as the sequential ones.
    def train_same(model):
        try:
            model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=train_same, args=(m,)) for m in concurrent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for alone, together in zip(sequential, concurrent):  # no state shared between models
        np.testing.assert_array_equal(alone.wv.vectors, together.wv.vectors)
        np.testing.assert_array_equal(alone.syn1, together.syn1)
