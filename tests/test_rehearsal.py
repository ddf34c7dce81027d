"""Rehearsal (hsmcy.rehearsal): the sample of earlier text a grown model trains again beside new text."""
import logging

import numpy as np
import pytest

import hsmcy
from hsmcy import persistence
from hsmcy.corpus import EncodedCorpus
from hsmcy.rehearsal import RehearsalSample
from test_safety_training import RaiseAt

PARAMS = dict(vector_size=16, window=3, min_count=2, epochs=2, workers=1, seed=5, sg=1)


def corpus_of(sentences):
    """An EncodedCorpus whose sentence ``i`` is the list of ids ``sentences[i]``."""
    ids = np.array([w for s in sentences for w in s], dtype=np.int32)
    bounds = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    return EncodedCorpus(ids, bounds)


def sentences_in(corpus):
    bounds = np.asarray(corpus.sentence_bounds)
    ids = np.asarray(corpus.token_ids)
    return [tuple(ids[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


def numbered_sentences(n, first=0, rng=None):
    """Sentence ``k`` is unique: it starts with id ``first + k``; lengths 1 to 5."""
    rng = rng or np.random.default_rng(0)
    return [[first + k] + [int(x) for x in rng.integers(0, 7, rng.integers(0, 5))] for k in range(n)]


# ------------------------------------------------------------------ the sample
def test_sample_keeps_everything_within_budget_and_stays_uniform_beyond():
    first = numbered_sentences(2000)
    sample = RehearsalSample().after_training_on(corpus_of(first), budget=10**6, seed=1, calls=1)
    assert sentences_in(sample.as_corpus()) == [tuple(s) for s in first]      # all of it, in order
    assert sample.inclusion == 1.0 and sample.words_seen == sum(map(len, first))
    # a second call's text of the same size, with a budget of a quarter of both
    second = numbered_sentences(2000, first=2000, rng=np.random.default_rng(1))
    seen = sample.words_seen + sum(map(len, second))
    budget = seen // 4
    sample = sample.after_training_on(corpus_of(second), budget=budget, seed=1, calls=2)
    kept = sentences_in(sample.as_corpus())
    assert sample.n_words <= budget and sample.words_seen == seen
    assert sample.inclusion == pytest.approx(budget / seen)
    assert sample.n_words > 0.8 * budget                    # the cap is hardly ever reached
    from_first = sum(s[0] < 2000 for s in kept) / len(kept)
    assert 0.4 < from_first < 0.6                           # both calls represented alike
    assert len(set(kept)) == len(kept)                      # no sentence twice
    originals = {tuple(s) for s in first + second}
    assert set(kept) <= originals
    sample.check(10**6)


def test_budget_zero_keeps_no_sentence_but_counts_what_was_seen():
    sample = RehearsalSample().after_training_on(corpus_of(numbered_sentences(50)), budget=0, seed=1, calls=1)
    assert sample.n_words == 0 and sample.words_seen > 0


def test_mixing_interleaves_at_most_as_many_old_words_as_new_ones():
    old = numbered_sentences(3000)
    new = numbered_sentences(1000, first=10_000, rng=np.random.default_rng(2))
    sample = RehearsalSample().after_training_on(corpus_of(old), budget=10**6, seed=1, calls=1)
    new_corpus = corpus_of(new)
    mixed, old_words = sample.mixed_into(new_corpus, seed=1, calls=1)
    mixed_sentences = sentences_in(mixed)
    # every new sentence, in its order; the rest are old sentences, each at most once
    new_part = [s for s in mixed_sentences if s[0] >= 10_000]
    old_part = [s for s in mixed_sentences if s[0] < 10_000]
    assert new_part == [tuple(s) for s in new]
    assert len(set(old_part)) == len(old_part) and set(old_part) <= {tuple(s) for s in old}
    assert old_words == sum(map(len, old_part))
    assert new_corpus.n_words - 5 <= old_words <= new_corpus.n_words   # sentences of up to 5 words
    assert mixed.raw_words == new_corpus.raw_words + old_words
    # spread evenly: each quarter of the mixed corpus holds about a quarter of the old sentences
    positions = np.flatnonzero([s[0] < 10_000 for s in mixed_sentences]) / len(mixed_sentences)
    counts = np.histogram(positions, bins=4, range=(0, 1))[0]
    assert counts.min() > 0.2 * len(old_part)
    # a small sample is rehearsed whole
    small = RehearsalSample().after_training_on(corpus_of(old[:100]), budget=10**6, seed=1, calls=1)
    mixed, old_words = small.mixed_into(new_corpus, seed=1, calls=1)
    assert old_words == small.n_words


@pytest.mark.parametrize("edit, message", [
    (lambda s: setattr(s, "token_ids", s.token_ids + 1000), "word ids must lie in"),
    (lambda s: setattr(s, "token_ids", s.token_ids.astype(np.int64)), "int32"),
    (lambda s: setattr(s, "sentence_bounds", s.sentence_bounds[::-1].copy()), "sentence bounds"),
    (lambda s: setattr(s, "inclusion", 0.0), "inclusion"),
    (lambda s: setattr(s, "words_seen", 1), "words_seen"),
])
def test_a_malformed_sample_is_refused_by_name(edit, message):
    sample = RehearsalSample().after_training_on(corpus_of(numbered_sentences(50)), budget=10**6, seed=1, calls=1)
    edit(sample)
    with pytest.raises(ValueError, match=message):
        sample.check(100)


# ------------------------------------------------------------------ the model
@pytest.fixture(scope="module")
def two_texts():
    """Two texts with disjoint vocabularies: training on the second alone never touches the first's words."""
    rng = np.random.default_rng(0)
    first = [[f"a{i}" for i in rng.integers(0, 60, 10)] for _ in range(600)]
    second = [[f"b{i}" for i in rng.integers(0, 40, 10)] for _ in range(500)]
    return first, second


def test_training_after_an_update_rehearses_the_old_text(two_texts, caplog):
    first, second = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    assert model.rehearsal_sample_words == (6000, 6000)
    old = model.wv.vectors.copy()
    model.build_vocab(second, update=True)
    with caplog.at_level(logging.INFO, logger="hsmcy.word2vec"):
        trained, seen = model.train(second, total_examples=len(second), epochs=2)
    rehearsed = model.last_rehearsed_words
    assert 4990 <= rehearsed <= 5000                             # as many old words as new ones, at most
    assert seen == 2 * (5000 + rehearsed)
    assert f"rehearsal: {rehearsed} words of earlier text" in caplog.text
    n_old = len(old)
    assert np.all(np.any(model.wv.vectors[:n_old] != old, axis=1))   # every old word trained again
    # the sample now covers both texts
    assert model.rehearsal_sample_words == (11000, 11000)

    # without rehearsal (gensim's behaviour) the old words never move: they are not in the new text
    plain = hsmcy.Word2Vec(first, **PARAMS, rehearsal_words=0)
    old = plain.wv.vectors.copy()
    plain.build_vocab(second, update=True)
    trained, seen = plain.train(second, total_examples=len(second), epochs=2)
    assert seen == 2 * 5000 and plain.last_rehearsed_words == 0
    np.testing.assert_array_equal(plain.wv.vectors[:len(old)], old)


def test_rehearsal_is_deterministic_with_one_worker(two_texts):
    first, second = two_texts
    results = []
    for _ in range(2):
        model = hsmcy.Word2Vec(first, **PARAMS)
        model.build_vocab(second, update=True)
        model.train(second, total_examples=len(second), epochs=2)
        results.append((model.wv.vectors.copy(), model.syn1.copy(), model._rehearsal.token_ids.copy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_every_way_of_growing_turns_rehearsal_on(two_texts):
    first, second = two_texts
    for grow in (lambda m: m.build_vocab(first[:50], update=True),          # no new word at all
                 lambda m: m.build_vocab_from_freq({"b1": 5, "b2": 7}, update=True),
                 lambda m: m.grow_vocabulary(["b1"], [5])):
        model = hsmcy.Word2Vec(first, **PARAMS)
        grow(model)
        model.train(first[:100], total_examples=100, epochs=1)     # words the model knows in every case
        assert model.last_rehearsed_words > 0


def test_plain_training_and_a_new_vocabulary_do_not_rehearse(two_texts):
    first, second = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    model.train(first, total_examples=len(first), epochs=1)      # continued training, no update
    assert model.last_rehearsed_words == 0
    assert model.rehearsal_sample_words[1] == 12000               # both calls are in the population
    model.build_vocab(second)                                     # a new vocabulary: old ids mean nothing
    assert model.rehearsal_sample_words == (0, 0)
    model.train(second, total_examples=len(second), epochs=1)
    assert model.last_rehearsed_words == 0


def test_doc2vec_keeps_no_sample(two_texts):
    from gensim.models.doc2vec import TaggedDocument
    documents = [TaggedDocument(words, [i]) for i, words in enumerate(two_texts[0][:50])]
    model = hsmcy.Doc2Vec(documents, vector_size=8, min_count=2, epochs=1, workers=1)
    assert model.rehearsal_sample_words == (0, 0)


@pytest.mark.parametrize("value", [-1, 1.5, "many", True, None])
def test_rehearsal_words_is_checked_by_name(value):
    with pytest.raises((ValueError, TypeError), match="rehearsal_words"):
        hsmcy.Word2Vec(**PARAMS, rehearsal_words=value)


def test_an_edited_rehearsal_words_fails_before_training_and_loses_nothing(two_texts):
    first, second = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    model.build_vocab(second, update=True)
    model.rehearsal_words = -5
    vectors = model.wv.vectors.copy()
    with pytest.raises(ValueError, match="rehearsal_words"):
        model.train(second, total_examples=len(second), epochs=1)
    np.testing.assert_array_equal(model.wv.vectors, vectors)
    model._rehearsal.token_ids = model._rehearsal.token_ids + 10**6   # ids beyond the vocabulary
    model.rehearsal_words = 100
    with pytest.raises(ValueError, match="rehearsal sample"):
        model.train(second, total_examples=len(second), epochs=1)
    np.testing.assert_array_equal(model.wv.vectors, vectors)


def test_sample_and_update_survive_save_and_load(two_texts, tmp_path):
    first, second = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    model.build_vocab(second, update=True)
    model.save(tmp_path / "grown.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "grown.hsmcy")
    assert loaded._rehearse and loaded.rehearsal_words == model.rehearsal_words
    np.testing.assert_array_equal(loaded._rehearsal.token_ids, model._rehearsal.token_ids)
    np.testing.assert_array_equal(loaded._rehearsal.sentence_bounds, model._rehearsal.sentence_bounds)
    assert loaded.rehearsal_sample_words == model.rehearsal_sample_words
    for m in (model, loaded):
        m.train(second, total_examples=len(second), epochs=1)
    np.testing.assert_array_equal(loaded.wv.vectors, model.wv.vectors)     # the same mixture, the same run


@pytest.mark.parametrize("edit, message", [
    (lambda arrays, metadata: arrays.update(rehearsal_token_ids=arrays["rehearsal_token_ids"] + 10**6),
     "word ids must lie in"),
    (lambda arrays, metadata: arrays.update(rehearsal_sentence_bounds=arrays["rehearsal_sentence_bounds"][:-1]),
     "sentence bounds"),
    (lambda arrays, metadata: metadata.update(rehearsal_words_seen="lots"), "rehearsal_words_seen"),
    (lambda arrays, metadata: metadata.update(rehearsal_inclusion=2.0), "inclusion"),
    (lambda arrays, metadata: metadata.update(rehearse="yes"), "rehearse"),
])
def test_a_file_with_a_bad_sample_is_refused_by_name(two_texts, tmp_path, edit, message):
    first, _ = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    metadata, arrays = persistence._word_model_contents(
        model, (*persistence.WORD2VEC_PARAMETERS, *persistence._word2vec_parameters_saved_later()))
    arrays = {name: np.array(value) for name, value in arrays.items()}
    edit(arrays, metadata)
    path = tmp_path / "bad.hsmcy"
    persistence.save_archive(path, persistence._WORD2VEC_KIND, metadata, arrays)
    with pytest.raises(ValueError, match=message) as caught:
        hsmcy.Word2Vec.load(path)
    assert "bad.hsmcy" in str(caught.value)


def test_an_interrupted_rehearsing_call_resumes_on_the_same_mixture(two_texts):
    first, second = two_texts

    whole = hsmcy.Word2Vec(first, **PARAMS)
    whole.build_vocab(second, update=True)
    whole.train(second, total_examples=len(second), epochs=2)
    model = hsmcy.Word2Vec(first, **PARAMS)
    model.build_vocab(second, update=True)
    with pytest.raises(KeyboardInterrupt):
        model.train(second, total_examples=len(second), epochs=2, callbacks=[RaiseAt("on_epoch_end", 1, KeyboardInterrupt())])
    assert model.rehearsal_sample_words == (6000, 6000)     # an unfinished call adds nothing
    model.resume_training(second)
    np.testing.assert_array_equal(model.wv.vectors, whole.wv.vectors)
    np.testing.assert_array_equal(model.syn1, whole.syn1)
    assert model.rehearsal_sample_words == whole.rehearsal_sample_words


def test_a_buffer_file_corpus_trains_without_rehearsal_and_says_so(two_texts, tmp_path, caplog):
    first, second = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS, corpus_buffer=tmp_path)
    model.build_vocab(second, update=True)
    with caplog.at_level(logging.WARNING, logger="hsmcy.word2vec"):
        model.train(second, total_examples=len(second), epochs=1)
    assert model.last_rehearsed_words == 0 and "without rehearsing" in caplog.text


def test_a_model_without_a_sample_grows_and_trains_on_the_new_text_and_says_so(two_texts, caplog):
    import gensim
    first, second = two_texts
    imported = hsmcy.Word2Vec.from_gensim(gensim.models.Word2Vec(first, hs=1, negative=0, vector_size=16,
                                                                min_count=2, epochs=1, workers=1, seed=1))
    assert imported.rehearsal_sample_words == (0, 0)
    imported.build_vocab(second, update=True)
    with caplog.at_level(logging.INFO, logger="hsmcy.word2vec"):
        trained, seen = imported.train(second, total_examples=len(second), epochs=1)
    assert imported.last_rehearsed_words == 0 and seen == 5000
    assert "no rehearsal: this model holds no sample" in caplog.text
    assert imported.rehearsal_sample_words == (5000, 5000)      # from now on it keeps one


def test_saving_after_the_vocabulary_was_cut_names_the_vocabulary(two_texts, tmp_path):
    first, _ = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS)
    del model.wv.index_to_key[10:]
    with pytest.raises(ValueError, match=r"rehearsal sample: word ids must lie in \[0, 10\).*index_to_key.*edited"):
        model.save(tmp_path / "cut.hsmcy")
    assert not (tmp_path / "cut.hsmcy").exists()


def test_words_trained_on_survive_save_and_load_without_a_sample(two_texts, tmp_path):
    """The population a later sample is drawn from counts the words trained before the file was written."""
    first, _ = two_texts
    model = hsmcy.Word2Vec(first, **PARAMS, rehearsal_words=0)
    model.save(tmp_path / "none.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "none.hsmcy")
    assert loaded.rehearsal_sample_words == model.rehearsal_sample_words == (0, 6000)
