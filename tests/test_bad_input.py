"""Every bad input of the core issue gets a clear ValueError/TypeError naming the culprit, before any work."""
import os

import pytest

import hsmcy

GOOD = [["alpha", "beta", "gamma"], ["beta", "gamma", "delta"]] * 5


@pytest.mark.parametrize("parameter, value, error", [
    ("vector_size", 0, ValueError), ("vector_size", -3, ValueError), ("vector_size", 2.5, TypeError),
    ("window", 0, ValueError), ("workers", 0, ValueError), ("epochs", 0, ValueError),
    ("alpha", 0.0, ValueError), ("alpha", -0.1, ValueError), ("alpha", float("nan"), ValueError),
    ("alpha", float("inf"), ValueError), ("sample", -1e-3, ValueError), ("min_alpha", -1.0, ValueError),
    ("min_count", -1, ValueError), ("sg", 2, ValueError), ("cbow_mean", 3, ValueError),
    ("hs", 0, ValueError), ("negative", 5, ValueError), ("batch_words", 0, ValueError),
])
def test_bad_parameters(parameter, value, error):
    with pytest.raises(error, match=parameter):
        hsmcy.Word2Vec(**{parameter: value})


def test_both_or_neither_corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a b c\n")
    with pytest.raises(ValueError, match="corpus_file"):
        hsmcy.Word2Vec(sentences=GOOD, corpus_file=str(path))
    model = hsmcy.Word2Vec(min_count=1)
    with pytest.raises(ValueError, match="corpus_iterable or corpus_file"):
        model.build_vocab()
    model.build_vocab(GOOD)
    with pytest.raises(ValueError, match="not both"):
        model.train(corpus_iterable=GOOD, corpus_file=str(path))


def test_empty_corpus(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        hsmcy.Word2Vec(sentences=[], min_count=1)
    with pytest.raises(ValueError, match="empty"):
        hsmcy.Word2Vec(sentences=[[], []], min_count=1)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(ValueError, match="empty"):
        hsmcy.Word2Vec(corpus_file=str(empty), min_count=1)


def test_no_word_reaches_min_count():
    with pytest.raises(ValueError, match="min_count"):
        hsmcy.Word2Vec(sentences=GOOD, min_count=1000)


def test_generator_where_several_passes_are_needed():
    with pytest.raises(TypeError, match="generator"):
        hsmcy.Word2Vec(sentences=(s for s in GOOD), min_count=1)
    with pytest.raises(TypeError, match="generator"):
        hsmcy.Word2Vec(sentences=iter(GOOD), min_count=1)


def test_strings_instead_of_token_lists():
    with pytest.raises(TypeError, match="list of tokens"):
        hsmcy.Word2Vec(sentences=["hello world", "another sentence"], min_count=1)
    with pytest.raises(TypeError, match="single str"):
        hsmcy.Word2Vec(sentences="hello world", min_count=1)
    model = hsmcy.Word2Vec(min_count=1)
    model.build_vocab(GOOD)
    with pytest.raises(TypeError, match="list of tokens"):
        model.train(["alpha beta"], epochs=1)


def test_missing_or_unreadable_corpus_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        hsmcy.Word2Vec(corpus_file=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="not a regular file"):
        hsmcy.Word2Vec(corpus_file=str(tmp_path))
    if os.geteuid() != 0:  # root can read anything
        locked = tmp_path / "locked.txt"
        locked.write_text("a b\n")
        locked.chmod(0)
        with pytest.raises(ValueError, match="not readable"):
            hsmcy.Word2Vec(corpus_file=str(locked))
    with pytest.raises(TypeError, match="corpus_file"):
        hsmcy.Word2Vec(corpus_file=123)


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good words here \xff\xfe broken\n" * 20 + b"good words\r\nagain here\n" * 20)
    model = hsmcy.Word2Vec(corpus_file=str(path), min_count=1, vector_size=8, epochs=1, workers=1)
    assert "good" in model.wv.key_to_index and "broken" in model.wv.key_to_index
    assert "\ufffd\ufffd" in model.wv.key_to_index  # the invalid bytes, replaced
    assert "here" in model.wv.key_to_index  # CRLF did not glue "here\r" into a token


def test_train_before_build_vocab():
    with pytest.raises(RuntimeError, match="build_vocab"):
        hsmcy.Word2Vec().train(GOOD, epochs=1)


def test_bad_train_arguments():
    model = hsmcy.Word2Vec(min_count=1)
    model.build_vocab(GOOD)
    for kwargs, name in [({"epochs": 0}, "epochs"), ({"start_alpha": float("nan")}, "start_alpha"),
                         ({"end_alpha": -1.0}, "end_alpha")]:
        with pytest.raises(ValueError, match=name):
            model.train(GOOD, **kwargs)
    with pytest.raises(TypeError, match="unexpected"):
        model.train(GOOD, epochs=1, negative=5)


def test_corpus_without_known_words_is_refused():
    model = hsmcy.Word2Vec(min_count=1)
    model.build_vocab(GOOD)
    with pytest.raises(ValueError, match="no word of the vocabulary"):
        model.train([["unknown", "words"]], epochs=1)
