"""score() under Ctrl-C and from several threads at once."""
import _thread
import itertools
import threading
import time

import numpy as np
import pytest

import hsmcy
from conftest import live_threads


@pytest.fixture(scope="module")
def model(lee_sentences):
    return hsmcy.Word2Vec(lee_sentences, vector_size=16, min_count=3, epochs=1, workers=2, sg=1, seed=5)



def test_ctrl_c_during_score_stops_all_workers_within_a_second(model, lee_sentences):
    before = (model.wv.vectors.copy(), model.syn1.copy())
    endless = itertools.cycle(lee_sentences)
    fired = []

    def interrupt():
        fired.append(time.perf_counter())
        _thread.interrupt_main()

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.score(endless, total_sentences=None, chunksize=50)
        stopped = time.perf_counter()
    finally:
        timer.cancel()
    assert fired and stopped - fired[0] < 1.0
    # A Ctrl-C that lands while the pool of a finished block is shutting down leaves its
    # idle threads exiting on their own: all must be gone within the same second.
    while live_threads("hsmcy-inference") and time.perf_counter() < fired[0] + 1.0:
        time.sleep(0.01)
    assert live_threads("hsmcy-inference") == []
    np.testing.assert_array_equal(model.wv.vectors, before[0])  # score only reads
    np.testing.assert_array_equal(model.syn1, before[1])
    assert np.all(np.isfinite(model.score(lee_sentences[:20])))  # still usable


def test_score_from_several_threads_on_one_model(model, lee_sentences):
    expected = model.score(lee_sentences)
    results, errors = [None] * 4, []

    def score(slot):
        try:
            for _ in range(3):
                results[slot] = model.score(lee_sentences)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=score, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_score_while_another_model_trains(model, lee_sentences):
    other = hsmcy.Word2Vec(vector_size=16, min_count=3, workers=2)
    other.build_vocab(lee_sentences)
    expected = model.score(lee_sentences)
    trainer = threading.Thread(target=other.train, args=(lee_sentences,),
                               kwargs=dict(total_examples=len(lee_sentences), epochs=2))
    trainer.start()
    scores = model.score(lee_sentences)
    trainer.join()
    np.testing.assert_array_equal(scores, expected)


# --------------------------------------------- what score() and the id queries refuse
def test_score_checks_the_ids_an_edited_vocabulary_gives(model, lee_sentences):
    # key_to_index is a plain dict a user can edit; score() indexes with what it says.
    word = lee_sentences[0][0]
    saved = model.wv.key_to_index[word]
    try:
        for bad in (len(model.wv) + 10, 10**9, -2):
            model.wv.key_to_index[word] = bad
            with pytest.raises(ValueError, match="key_to_index maps a word"):
                model.score([lee_sentences[0]])
            with pytest.raises(ValueError, match="key_to_index maps a word"):
                model.score_words([lee_sentences[0]])
    finally:
        model.wv.key_to_index[word] = saved
    assert np.isfinite(model.score([lee_sentences[0]])[0])


def test_score_refuses_bytes_sentences_and_tokens(model):
    with pytest.raises(TypeError, match="plain bytes"):
        model.score([b"the fire was burning"])
    with pytest.raises(TypeError, match="sentence 1 holds a bytes token"):
        model.score([["the", "fire"], [b"the", "fire"]])
    with pytest.raises(TypeError, match="holds a int token"):
        model.score([["the", 3]])


def test_context_words_refuse_bytes(model):
    # Dropped as unknown words, b"the" made predict_output_word return None without a word of why.
    for query in (model.predict_output_word, model.predict_proba):
        with pytest.raises(TypeError, match="decode the text first"):
            query([b"the", "fire"])
    with pytest.raises(TypeError, match="decode the text first"):
        model.log_prob("fire", [b"the"])
    assert model.predict_output_word(["the", "zzqq-unknown"], topn=3) is not None


def test_an_unsigned_id_never_becomes_padding(model):
    huge = np.array([[2**64 - 1, 3]], dtype=np.uint64)
    with pytest.raises(ValueError, match="outside"):
        model.predict_output_word_ids(huge, topn=3)
    with pytest.raises(ValueError, match="outside"):
        model.log_prob_ids([1], huge)
    assert model.predict_output_word_ids(np.array([[5, 3]], dtype=np.uint64), topn=3)[0].shape == (1, 3)


def test_a_bad_window_attribute_is_refused_before_scoring(model, lee_sentences):
    saved = model.window
    try:
        for bad in (0, -3, 2**40, 2.5, None):
            model.window = bad
            with pytest.raises(ValueError, match="model.window"):
                model.score([lee_sentences[0]])
    finally:
        model.window = saved
