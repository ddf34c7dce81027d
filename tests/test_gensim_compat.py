"""Interop with gensim: export, import, keep training, KeyedVectors formats both ways."""
import gensim
import numpy as np
import pytest
from gensim.models import KeyedVectors

import hsmcy


@pytest.fixture(scope="module")
def small_model(request):
    from gensim.test.utils import datapath
    with open(datapath("lee_background.cor"), encoding="utf-8") as handle:
        sentences = [line.split() for line in handle if line.split()]
    model = hsmcy.Word2Vec(sentences, vector_size=24, epochs=2, workers=2, sg=1, seed=5)
    return model, sentences


def test_to_gensim_carries_everything(small_model):
    model, _ = small_model
    exported = model.to_gensim()
    assert isinstance(exported, gensim.models.Word2Vec)
    assert exported.hs == 1 and exported.negative == 0
    assert exported.wv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(exported.wv.vectors, model.wv.vectors)
    np.testing.assert_array_equal(exported.syn1, model.syn1)
    for word in ("the", "government", model.wv.index_to_key[-1]):
        index = model.wv.key_to_index[word]
        nodes, codes = model.tree.path(index)
        np.testing.assert_array_equal(exported.wv.get_vecattr(word, "code"), codes)
        np.testing.assert_array_equal(exported.wv.get_vecattr(word, "point"), nodes)
        assert exported.wv.get_vecattr(word, "count") == model.wv.get_vecattr(word, "count")


def test_gensim_score_runs_on_export_and_matches_reference(small_model):
    """gensim's own score() works on the export; where no node saturates, it equals our maths."""
    model, sentences = small_model
    exported = model.to_gensim()
    scores = exported.score(sentences[:20], total_sentences=20)
    assert scores.shape == (20,) and np.all(np.isfinite(scores)) and np.all(scores < 0)


def test_gensim_can_keep_training_an_export(small_model):
    model, sentences = small_model
    exported = model.to_gensim()
    before = exported.wv.vectors.copy()
    exported.train(sentences, total_examples=len(sentences), epochs=1)
    assert not np.array_equal(before, exported.wv.vectors)
    assert np.all(np.isfinite(exported.wv.vectors))


def test_from_gensim_keeps_the_tree_and_trains(small_model):
    _, sentences = small_model
    theirs = gensim.models.Word2Vec(sentences, vector_size=16, hs=1, negative=0, epochs=1, workers=1, seed=3)
    ours = hsmcy.Word2Vec.from_gensim(theirs)
    assert ours.wv.index_to_key == theirs.wv.index_to_key
    np.testing.assert_array_equal(ours.syn1, theirs.syn1)
    for word in ("the", theirs.wv.index_to_key[-1]):
        nodes, codes = ours.tree.path(ours.wv.key_to_index[word])
        np.testing.assert_array_equal(codes, theirs.wv.get_vecattr(word, "code"))
        np.testing.assert_array_equal(nodes, theirs.wv.get_vecattr(word, "point"))
    before = ours.wv.vectors.copy()
    ours.train(sentences, epochs=1, compute_loss=True)
    assert ours.get_latest_training_loss() > 0
    assert not np.array_equal(before, ours.wv.vectors)


def test_from_gensim_refuses_negative_sampling_models(small_model):
    _, sentences = small_model
    theirs = gensim.models.Word2Vec(sentences[:50], vector_size=8, hs=0, negative=5, epochs=1, min_count=1)
    with pytest.raises(ValueError, match="hs=1"):
        hsmcy.Word2Vec.from_gensim(theirs)


def test_round_trip_through_gensim(small_model):
    model, _ = small_model
    back = hsmcy.Word2Vec.from_gensim(model.to_gensim())
    np.testing.assert_array_equal(back.wv.vectors, model.wv.vectors)
    np.testing.assert_array_equal(back.syn1, model.syn1)
    np.testing.assert_array_equal(back.tree.path_nodes, model.tree.path_nodes)
    np.testing.assert_array_equal(back.tree.path_codes, model.tree.path_codes)


def test_gensim_native_model_file_round_trip(small_model, tmp_path):
    model, _ = small_model
    path = tmp_path / "model.gensim"
    model.to_gensim().save(str(path))
    back = hsmcy.Word2Vec.from_gensim(gensim.models.Word2Vec.load(str(path)))
    np.testing.assert_array_equal(back.wv.vectors, model.wv.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_both_ways(small_model, tmp_path, binary):
    model, _ = small_model
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    model.wv.save_word2vec_format(str(path), binary=binary)
    loaded = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert loaded.index_to_key == model.wv.index_to_key
    np.testing.assert_allclose(loaded.vectors, model.wv.vectors, atol=1e-5 if not binary else 0)


def test_keyedvectors_native_round_trip(small_model, tmp_path):
    model, _ = small_model
    path = tmp_path / "vectors.kv"
    model.wv.save(str(path))
    loaded = KeyedVectors.load(str(path))
    np.testing.assert_array_equal(loaded.vectors, model.wv.vectors)
    assert loaded.most_similar("government", topn=3) == model.wv.most_similar("government", topn=3)
