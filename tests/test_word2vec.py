"""hsmcy.Word2Vec end to end: training, quality against gensim, threads, reproducibility, loss."""
import gensim
import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.models.callbacks import CallbackAny2Vec
from gensim.test.utils import datapath

import hsmcy


def spearman(model):
    return model.wv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]


@pytest.fixture(scope="module")
def lee_models():
    """hsmcy and gensim trained with the same parameters on the Lee corpus (skip-gram)."""
    params = dict(sg=1, vector_size=50, window=5, min_count=3, epochs=20, workers=2, seed=7)
    path = datapath("lee_background.cor")
    ours = hsmcy.Word2Vec(corpus_file=path, compute_loss=True, **params)
    theirs = gensim.models.Word2Vec(corpus_file=path, hs=1, negative=0, **params)
    return ours, theirs


def test_wv_is_a_gensim_keyedvectors(lee_models):
    ours, _ = lee_models
    assert isinstance(ours.wv, KeyedVectors)
    assert ours.wv.vectors.dtype == np.float32
    assert ours.syn1.shape == (len(ours.wv), 50)


def test_vocabulary_matches_gensim(lee_models):
    ours, theirs = lee_models
    assert ours.wv.index_to_key == theirs.wv.index_to_key
    assert np.array_equal(ours.wv.expandos["count"], theirs.wv.expandos["count"])
    assert ours.corpus_count == theirs.corpus_count
    assert ours.corpus_total_words == theirs.corpus_total_words
    # same counts -> a tree just as good as gensim's
    gensim_cost = sum(int(c) * len(code) for c, code in zip(theirs.wv.expandos["count"], theirs.wv.expandos["code"]))
    assert ours.tree.weighted_path_length(ours.wv.expandos["count"]) == gensim_cost


def test_quality_as_good_as_gensim(lee_models):
    ours, theirs = lee_models
    # wordsim353 on a 60k-token corpus is noisy (few pairs are in vocabulary); the margin covers the
    # run-to-run spread measured on this corpus (about +-0.05).
    assert spearman(ours) > 0.15
    assert spearman(ours) >= spearman(theirs) - 0.1


def test_nearest_neighbours_are_sensible(lee_models):
    ours, _ = lee_models
    neighbours = [word for word, _ in ours.wv.most_similar("president", topn=10)]
    assert {"George", "Ford", "President", "Bush"} & set(neighbours)


def test_training_lowers_the_loss(lee_path):
    first = hsmcy.Word2Vec(corpus_file=lee_path, epochs=1, workers=1, compute_loss=True, seed=3)
    first_loss = first.get_latest_training_loss()
    later = first.train(corpus_file=lee_path, epochs=1, compute_loss=True, start_alpha=0.02, end_alpha=0.01)
    assert later[1] > 0
    assert 0 < first.get_latest_training_loss() < first_loss


def test_loss_equals_reference_sum(rng):
    """compute_loss sums -log P exactly: check against the reference on a tiny deterministic run."""
    sentences = [["a", "b", "c", "a", "b"], ["c", "a", "d", "d"]]
    model = hsmcy.Word2Vec(vector_size=4, min_count=1, sample=0, window=2, shrink_windows=False, workers=1,
                           sg=1, epochs=1)
    model.build_vocab(sentences)
    input_vectors = model.wv.vectors.astype(np.float64)
    syn1 = model.syn1.astype(np.float64)
    model.train(sentences, epochs=1, start_alpha=0.05, end_alpha=0.05, compute_loss=True)
    expected = 0.0
    for sentence in sentences:
        ids = [model.wv.key_to_index[w] for w in sentence]
        expected += hsmcy.reference.train_sentence(ids, input_vectors, syn1, model.tree, sg=1, window=2, alpha=0.05,
                                                   shrink_windows=False,
                                                   sg_window=model.kernel == "fast")[1]
    assert model.get_latest_training_loss() == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(model.wv.vectors, input_vectors, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("sg", [0, 1])
def test_one_worker_is_reproducible(lee_sentences, sg):
    runs = [hsmcy.Word2Vec(lee_sentences[:300], sg=sg, workers=1, seed=11, epochs=2, vector_size=20)
            for _ in range(2)]
    assert np.array_equal(runs[0].wv.vectors, runs[1].wv.vectors)
    assert np.array_equal(runs[0].syn1, runs[1].syn1)
    other_seed = hsmcy.Word2Vec(lee_sentences[:300], sg=sg, workers=1, seed=12, epochs=2, vector_size=20)
    assert not np.array_equal(runs[0].wv.vectors, other_seed.wv.vectors)


def test_iterable_and_file_give_the_same_model(lee_path, lee_sentences):
    from_file = hsmcy.Word2Vec(corpus_file=lee_path, workers=1, epochs=1, vector_size=16)
    from_list = hsmcy.Word2Vec(lee_sentences, workers=1, epochs=1, vector_size=16)
    assert from_file.wv.index_to_key == from_list.wv.index_to_key
    assert np.array_equal(from_file.wv.vectors, from_list.wv.vectors)


@pytest.mark.parametrize("workers", [2, 4])
def test_threads_train_every_word(lee_sentences, workers, recording_workers):
    model = hsmcy.Word2Vec(vector_size=20, workers=workers, epochs=3, batch_words=500)
    model.build_vocab(lee_sentences)
    in_vocab = sum(1 for s in lee_sentences for w in s if w in model.wv.key_to_index)
    trained, seen = model.train(lee_sentences, total_examples=model.corpus_count, epochs=3)
    # every known token went to a worker once per epoch
    assert sum(entry[5] - entry[4] for entry in recording_workers if entry[0] == "train") == 3 * in_vocab
    assert seen == 3 * sum(map(len, lee_sentences))   # raw words, unknown ones included, as gensim
    assert 0 < trained < 3 * in_vocab  # down-sampling dropped some frequent words


def test_long_sentences_are_trained_whole():
    """gensim truncates sentences at 10,000 tokens; every word of a longer one is trained here."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    sentence = [words[i] for i in rng.integers(0, 50, size=25_000)]
    tail_only = ["tail"] * 5  # appears only after position 20,000
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1, epochs=1, sample=0, sg=1, seed=1)
    long_sentence = sentence[:20_000] + tail_only + sentence[20_000:]
    model.build_vocab([long_sentence])
    before = model.wv["tail"].copy()
    trained, seen = model.train([long_sentence], epochs=1)
    assert seen == len(long_sentence) == trained
    assert not np.allclose(model.wv["tail"], before)


def test_worker_exception_is_reraised(lee_sentences):
    class Exploding(CallbackAny2Vec):
        def on_batch_end(self, model):
            raise RuntimeError("boom from a worker")

    model = hsmcy.Word2Vec(vector_size=10, workers=2, batch_words=100)
    model.build_vocab(lee_sentences)
    with pytest.raises(RuntimeError, match="boom from a worker"):
        model.train(lee_sentences, epochs=2, callbacks=[Exploding()])


def test_train_on_a_new_corpus_drops_unknown_words(lee_sentences):
    model = hsmcy.Word2Vec(vector_size=10, workers=1, epochs=1)
    model.build_vocab(lee_sentences)
    other = [["zzz_unknown", "the", "of", "zzz_unknown"], ["the", "and"]]
    trained, seen = model.train(other, epochs=1)
    assert seen == 6        # raw words read, as gensim counts them
    assert trained <= 4     # only the four known ones can be trained
    assert model._current_run is None and model.running_training_loss == 0.0


def test_cbow_sum_and_mean_both_train(lee_sentences):
    for cbow_mean in (0, 1):
        model = hsmcy.Word2Vec(lee_sentences, sg=0, cbow_mean=cbow_mean, workers=2, epochs=2, vector_size=20,
                               compute_loss=True)
        assert model.get_latest_training_loss() > 0
        assert np.all(np.isfinite(model.wv.vectors))


def test_memory_mapped_corpus_buffer(lee_path, tmp_path):
    in_memory = hsmcy.Word2Vec(corpus_file=lee_path, workers=1, epochs=1, vector_size=12)
    mapped = hsmcy.Word2Vec(corpus_file=lee_path, workers=1, epochs=1, vector_size=12, corpus_buffer=tmp_path)
    assert np.array_equal(in_memory.wv.vectors, mapped.wv.vectors)


def test_max_final_vocab_and_max_vocab_size(lee_sentences):
    capped = hsmcy.Word2Vec(min_count=1, max_final_vocab=100)
    capped.build_vocab(lee_sentences)
    reference = gensim.models.Word2Vec(min_count=1, max_final_vocab=100, hs=1, negative=0)
    reference.build_vocab(lee_sentences)
    assert capped.wv.index_to_key == reference.wv.index_to_key
    limited = hsmcy.Word2Vec(min_count=1, max_vocab_size=50)
    limited.build_vocab(lee_sentences)
    assert len(limited.wv) == 50


@pytest.mark.parametrize("sg", [0, 1])
def test_a_window_beyond_every_sentence_costs_no_memory_and_equals_the_whole_sentence(sg):
    # Kernel scratch is sized by the longest sentence, not 2 * window (2**30 would be 800 GB).
    import resource

    rng = np.random.default_rng(5)
    sentences = [[f"w{i}" for i in rng.integers(0, 40, size=rng.integers(2, 30))] for _ in range(200)]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vectors = []
    for window in (2**31 - 1, 2**30, 30):
        model = hsmcy.Word2Vec(sentences, vector_size=8, min_count=1, window=window, shrink_windows=False,
                               sg=sg, workers=1, seed=2, epochs=2)
        vectors.append(model.wv.vectors)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000   # KiB
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[1], vectors[2])
    with pytest.raises(ValueError, match="window must be <= 2147483647"):
        hsmcy.Word2Vec(window=2**31)


@pytest.mark.parametrize("vector_size", [16, 100, 128])
def test_weights_start_on_cache_lines_with_gensims_initial_values(lee_sentences, vector_size):
    from hsmcy.memory import CACHE_LINE

    model = hsmcy.Word2Vec(vector_size=vector_size, min_count=2, seed=11)
    model.build_vocab(lee_sentences)
    for array in (model.wv.vectors, model.syn1):
        assert array.ctypes.data % CACHE_LINE == 0 and array.flags.c_contiguous and array.dtype == np.float32
    expected = np.random.default_rng(11).random(model.wv.vectors.shape, dtype=np.float32)
    expected = (expected * 2.0 - 1.0) / vector_size
    np.testing.assert_array_equal(model.wv.vectors, expected)
    assert not model.syn1.any()


def test_loaded_weights_are_moved_onto_cache_lines_for_training(lee_sentences, tmp_path):
    from hsmcy.memory import CACHE_LINE

    model = hsmcy.Word2Vec(lee_sentences, vector_size=32, min_count=2, seed=2, epochs=1)
    model.save(tmp_path / "m.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "m.hsmcy")
    # Misplace the rows by 16 bytes, as NumPy's own allocations are.
    for owner, name in ((loaded.wv, "vectors"), (loaded, "syn1")):
        array = getattr(owner, name)
        raw = np.zeros(array.size + 16, dtype=np.float32)
        offset = (16 - raw.ctypes.data) % CACHE_LINE // 4
        shifted = raw[offset:offset + array.size].reshape(array.shape)
        shifted[...] = array
        assert shifted.ctypes.data % CACHE_LINE == 16
        setattr(owner, name, shifted)
    before = loaded.wv.vectors.copy(), loaded.syn1.copy()
    loaded._align_weights()
    for array, old in zip((loaded.wv.vectors, loaded.syn1), before):
        assert array.ctypes.data % CACHE_LINE == 0
        np.testing.assert_array_equal(array, old)
    loaded.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
    assert loaded.wv.vectors.ctypes.data % CACHE_LINE == 0
