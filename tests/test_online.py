"""Online vocabulary growth of Word2Vec: build_vocab(update=True) against gensim's vocabulary rules,
old probabilities kept, training, export to gensim, save/load, rebuilding the tree; the same for
HierarchicalSoftmax.add_classes and HSClassifier.partial_fit."""
import copy

import gensim
import numpy as np
import pytest
from gensim.models.keyedvectors import prep_vectors

import hsmcy
from hsmcy import reference as ref
from hsmcy.vocab import keep_probabilities
from test_inference import gensim_style_score, max_table_error

PARAMS = dict(vector_size=24, window=3, min_count=3, epochs=1, alpha=0.02, workers=2, seed=3)


@pytest.fixture(scope="module")
def halves(lee_sentences):
    return lee_sentences[:150], lee_sentences[150:]


def trained(first, sg=1, cbow_mean=1, **extra):
    return hsmcy.Word2Vec(first, sg=sg, cbow_mean=cbow_mean, **{**PARAMS, **extra})


def old_log_probs(model, words, contexts):
    return np.array([[model.log_prob(word, context) for context in contexts] for word in words])


@pytest.mark.parametrize("sg, cbow_mean", [(1, 1), (0, 1), (0, 0)], ids=["sg", "cbow-mean", "cbow-sum"])
def test_update_keeps_every_old_probability_up_to_the_documented_halving(halves, sg, cbow_mean):
    first, second = halves
    model = trained(first, sg, cbow_mean)
    n_old = len(model.wv)
    old_tree, old_syn1, old_vectors = model.tree, model.syn1.copy(), model.wv.vectors.copy()
    words = model.wv.index_to_key                     # every old word
    # old contexts: a word unknown before the update would be ignored before and counted after it
    contexts = [[w for w in sentence if w in model.wv.key_to_index][:4] for sentence in second[:6]]
    before = old_log_probs(model, words, contexts)
    model.build_vocab(second, update=True)
    assert len(model.wv) > n_old
    after = old_log_probs(model, words, contexts)
    extra = model.tree.path_lengths[:n_old] - old_tree.path_lengths
    assert extra.max() >= 1 and np.count_nonzero(extra) < n_old // 2
    np.testing.assert_allclose(after, before - extra[:, None] * np.log(2.0), rtol=0, atol=1e-9)
    unchanged = extra == 0
    np.testing.assert_array_equal(after[unchanged], before[unchanged])    # bit for bit
    # old weights untouched, syn1 in gensim's layout: V rows, new inner nodes zero, last row unused
    np.testing.assert_array_equal(model.wv.vectors[:n_old], old_vectors)
    assert model.syn1.shape == (len(model.wv), model.vector_size)
    np.testing.assert_array_equal(model.syn1[:n_old - 1], old_syn1[:n_old - 1])
    assert not model.syn1[n_old - 1:].any()
    model.tree.validate()


def test_vocabulary_counts_and_new_vectors_follow_gensim(halves):
    first, second = halves
    model = trained(first)
    theirs = gensim.models.Word2Vec(first, hs=1, negative=0, **{**PARAMS, "workers": 1})
    assert model.wv.index_to_key == theirs.wv.index_to_key
    n_old = len(model.wv)
    model.build_vocab(second, update=True)
    theirs.build_vocab(second, update=True)
    # same words in the same order (old ids kept, new ones appended), same summed counts
    assert model.wv.index_to_key == theirs.wv.index_to_key
    assert all(model.wv.key_to_index[w] == i for i, w in enumerate(model.wv.index_to_key))
    np.testing.assert_array_equal(model.wv.expandos["count"],
                                  [theirs.wv.get_vecattr(w, "count") for w in theirs.wv.index_to_key])
    # new words' input vectors: gensim's draw for the grown shape
    expected = prep_vectors((len(model.wv), model.vector_size), None, seed=model.seed)
    np.testing.assert_array_equal(model.wv.vectors[n_old:], expected[n_old:])
    np.testing.assert_array_equal(model.wv.vectors[n_old:], theirs.wv.vectors[n_old:])
    # down-sampling from the summed counts (gensim uses the new corpus's alone: documented difference)
    np.testing.assert_array_equal(model._keep_probability, keep_probabilities(model.wv.expandos["count"],
                                                                              model.sample))
    assert model.corpus_count == len(second)
    assert model.corpus_total_words == sum(len(s) for s in second)


def test_gensim_rebuilds_its_tree_on_update_and_moves_every_path(halves):
    """The behaviour issue 21 is about, checked so that the benchmark's comparison stays true."""
    first, second = halves
    theirs = gensim.models.Word2Vec(first, hs=1, negative=0, **{**PARAMS, "workers": 1})
    points = {w: theirs.wv.get_vecattr(w, "point").copy() for w in theirs.wv.index_to_key}
    theirs.build_vocab(second, update=True)
    moved = sum(not np.array_equal(points[w], theirs.wv.get_vecattr(w, "point")) for w in points)
    assert moved > 0.9 * len(points)


def test_train_after_update_trains_old_and_new_words(halves):
    first, second = halves
    model = trained(first)
    n_old = len(model.wv)
    model.build_vocab(second, update=True)
    vectors, syn1 = model.wv.vectors.copy(), model.syn1.copy()
    trained_words, seen = model.train(second, total_examples=model.corpus_count, epochs=2)
    # raw words read, as gensim counts them, and the earlier text rehearsed beside them (hsmcy.rehearsal)
    assert model.last_rehearsed_words > 0
    assert seen == 2 * (model.corpus_total_words + model.last_rehearsed_words)
    changed = np.any(model.wv.vectors != vectors, axis=1)
    assert changed[:n_old].mean() > 0.5 and changed[n_old:].mean() > 0.9
    assert np.any(model.syn1[n_old - 1:] != syn1[n_old - 1:])        # new inner nodes train
    assert np.all(np.isfinite(model.wv.vectors)) and np.all(np.isfinite(model.syn1))
    new_word = model.wv.index_to_key[-1]
    assert model.wv.most_similar(new_word, topn=3)
    assert model.predict_output_word(second[0][:4], topn=5)


def test_gensim_score_agrees_on_the_exported_grown_model(halves):
    first, second = halves
    model = trained(first)
    model.build_vocab(second, update=True)
    model.train(second, total_examples=model.corpus_count, epochs=1)
    exported = model.to_gensim()
    sentences = second[:30]
    theirs = exported.score(sentences, total_sentences=len(sentences))
    ours = model.score(sentences)
    per_node = max_table_error()
    for sentence, our_score, their_score in zip(sentences, ours, theirs):
        emulated, counted, skipped = gensim_style_score(model, sentence)
        assert skipped == 0, "precondition: gensim skips no node on this model"
        assert their_score == pytest.approx(emulated, rel=1e-4, abs=1e-3)
        assert abs(our_score - their_score) <= counted * per_node + 1e-4 * abs(their_score) + 1e-3
    # gensim continues training the export, and hsmcy reads it back with the grown tree
    back = hsmcy.Word2Vec.from_gensim(exported)
    np.testing.assert_array_equal(back.tree.path_nodes, model.tree.path_nodes)


def test_save_and_load_a_grown_model(halves, tmp_path):
    first, second = halves
    model = trained(first)
    model.build_vocab(second, update=True)
    model.train(second, total_examples=model.corpus_count, epochs=1)
    model.save(tmp_path / "grown.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "grown.hsmcy")
    assert loaded.wv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(loaded.tree.path_nodes, model.tree.path_nodes)
    np.testing.assert_array_equal(loaded._keep_probability, model._keep_probability)
    context = second[1][:4]
    assert loaded.log_prob(model.wv.index_to_key[-1], context) == model.log_prob(model.wv.index_to_key[-1], context)
    # a loaded grown model grows again
    loaded.build_vocab([["zzfresh", "zzword"]] * 5, update=True)
    assert loaded.wv.index_to_key[-2:] == ["zzfresh", "zzword"]
    loaded.tree.validate()


def test_update_from_a_corpus_file_and_from_frequencies(halves, tmp_path):
    first, second = halves
    path = tmp_path / "second.txt"
    path.write_text("\n".join(" ".join(s) for s in second) + "\n", encoding="utf-8")
    by_file, by_list = trained(first), trained(first)
    by_file.build_vocab(corpus_file=str(path), update=True)
    by_list.build_vocab(second, update=True)
    assert by_file.wv.index_to_key == by_list.wv.index_to_key
    np.testing.assert_array_equal(by_file.tree.path_nodes, by_list.tree.path_nodes)
    by_file.train(corpus_file=str(path), total_examples=by_file.corpus_count, total_words=by_file.corpus_total_words,
                  epochs=1)

    by_freq = trained(first)
    n_old = len(by_freq.wv)
    by_freq.build_vocab_from_freq({"the": 10, "qqnew": 7, "qqrare": 1}, update=True)
    assert by_freq.wv.index_to_key[n_old:] == ["qqnew"]                    # min_count=3 drops qqrare
    assert by_freq.wv.get_vecattr("the", "count") == by_list_count(first, "the") + 10
    by_freq.tree.validate()


def by_list_count(sentences, word):
    return sum(s.count(word) for s in sentences)


def test_update_refuses_what_it_cannot_do(halves):
    first, second = halves
    with pytest.raises(RuntimeError, match="has none"):
        hsmcy.Word2Vec(**PARAMS).build_vocab(second, update=True)
    model = trained(first)
    model.training_state = {"epoch": 0}            # an unfinished run: growing would lose it
    with pytest.raises(ValueError, match="unfinished"):
        model.build_vocab(second, update=True)
    model.training_state = None
    with pytest.raises(ValueError, match="already in the vocabulary"):
        model.grow_vocabulary(["the"], [5])
    with pytest.raises(ValueError, match="twice"):
        model.grow_vocabulary(["qa", "qa"], [5, 5])
    with pytest.raises(ValueError, match="one count per new word"):
        model.grow_vocabulary(["qa"], [5, 6])
    with pytest.raises(ValueError, match="non-negative"):
        model.grow_vocabulary(["qa"], [-5])
    n_words = len(model.wv)
    assert len(model.wv) == n_words and model.wv.vectors.shape[0] == n_words   # nothing half-done


def test_loaded_read_only_model_grows_into_a_trainable_one(halves, tmp_path):
    first, second = halves
    model = trained(first)
    model.save(tmp_path / "m.hsmcy")
    mapped = hsmcy.Word2Vec.load(tmp_path / "m.hsmcy", mmap="r")
    mapped.build_vocab(second, update=True)
    mapped.train(second, total_examples=mapped.corpus_count, epochs=1)
    assert np.all(np.isfinite(mapped.wv.vectors))


# ------------------------------------------------------------------ rebuilding
def test_rebuild_tree_gives_the_huffman_tree_and_keeps_a_fresh_model_exact(halves):
    first, second = halves
    fresh = trained(first)
    before = old_log_probs(fresh, fresh.wv.index_to_key[:40], [first[0][:4]])
    report = fresh.rebuild_tree()       # same counts: the same tree, every vector carried over
    assert report["carried"] == 1.0
    np.testing.assert_allclose(old_log_probs(fresh, fresh.wv.index_to_key[:40], [first[0][:4]]), before, atol=1e-5)

    grown = trained(first)
    grown.build_vocab(second, update=True)
    report = grown.rebuild_tree(fit_iterations=5, fit_samples=256)
    counts = grown.wv.expandos["count"]
    assert grown.tree.weighted_path_length(counts) == hsmcy.HuffmanTree.from_counts(counts).weighted_path_length(counts)
    assert grown.tree_cost()["ratio"] == 1.0 and report["before"]["ratio"] >= 1.0
    assert report["final_loss"] < report["initial_loss"]
    assert grown.tree.root == len(grown.wv) - 2 and grown.syn1.shape == (len(grown.wv), grown.vector_size)
    grown.train(second, total_examples=grown.corpus_count, epochs=1)
    assert np.all(np.isfinite(grown.syn1))


def test_hidden_samples_are_the_contexts_training_forms(halves):
    first, second = halves
    for sg in (1, 0):
        model = trained(first, sg=sg)
        model.build_vocab(second, update=True)
        hidden = model._hidden_samples(50)
        assert hidden.shape == (50, model.vector_size) and hidden.dtype == np.float32
        if sg:  # every sample is some word's input vector
            distances = ((hidden[:, None, :] - model.wv.vectors[None, :, :]) ** 2).sum(axis=2)
            assert np.all(distances.min(axis=1) == 0)
        assert np.all(np.isfinite(hidden))


def test_reference_log_prob_matches_the_kernels_on_a_grown_tree(halves):
    first, second = halves
    model = trained(first)
    model.build_vocab(second, update=True)
    model.train(second, total_examples=model.corpus_count, epochs=1)
    for word in model.wv.index_to_key[-5:]:
        context = second[2][:3]
        hidden = np.mean([model.wv[w] for w in context if w in model.wv.key_to_index], axis=0)
        expected = ref.log_prob(hidden, model.inner_node_vectors, *model.tree.path(model.wv.key_to_index[word]))
        assert model.log_prob(word, context) == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------- the output layer and the classifier
def test_layer_add_classes_keeps_old_probabilities_and_trains_new_ones():
    from hsmcy import HierarchicalSoftmax, HuffmanTree
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 500, size=40)
    layer = HierarchicalSoftmax(HuffmanTree.from_counts(counts), dim=8, seed=1)
    H = rng.standard_normal((20, 8)).astype(np.float32)
    before = layer.predict_log_proba(H)
    old_tree = layer.tree
    ids = layer.add_classes([30, 5, 200], counts=counts)
    assert ids.tolist() == [40, 41, 42] and layer.n_classes == 43
    layer.tree.validate()
    after = layer.predict_log_proba(H)
    extra = layer.tree.path_lengths[:40] - old_tree.path_lengths
    np.testing.assert_allclose(after[:, :40], before - extra * np.log(2.0), atol=1e-5)
    np.testing.assert_allclose(np.exp(after).sum(axis=1), 1.0, atol=1e-5)
    y = np.full(20, 42)
    first = layer.log_prob(H, y).mean()
    for _ in range(30):
        layer.update(H, y, lr=0.1)
    assert layer.log_prob(H, y).mean() > first + 1.0
    layer.add_classes(2)                          # weight 1 each, against weight-1 old classes
    assert layer.n_classes == 45 and layer.inner_node_vectors.shape == (44, 8)
    with pytest.raises(ValueError):
        layer.add_classes([1], counts=[1, 2])     # counts must cover every existing class


def test_layer_rebuild_tree_carries_and_fits():
    from hsmcy import HierarchicalSoftmax, HuffmanTree
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 500, size=30)
    layer = HierarchicalSoftmax(HuffmanTree.from_counts(counts), dim=6, seed=2)
    H = rng.standard_normal((300, 6)).astype(np.float32)
    same = layer.rebuild_tree(HuffmanTree.from_counts(counts))
    assert same["carried"] == 1.0
    report = layer.rebuild_tree(hsmcy.BinaryTree.balanced(30), H=H, fit_iterations=30)
    assert report["final_loss"] < report["initial_loss"]
    with pytest.raises(ValueError, match="leaves"):
        layer.rebuild_tree(hsmcy.BinaryTree.balanced(31))


def keyword_texts(classes, n_texts, seed):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n_texts):
        label = classes[int(rng.integers(len(classes)))]
        words = [f"{label}_k{j}" for j in rng.integers(0, 3, size=2)] + [f"n{j}" for j in rng.integers(0, 50, 3)]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_classifier_partial_fit_adds_labels_and_words():
    from hsmcy import HSClassifier
    old_texts, old_labels = keyword_texts(["a", "b", "c", "d"], 400, 0)
    model = HSClassifier(dim=12, epochs=10, lr=0.5, workers=1, seed=1).fit(old_texts, old_labels)
    assert model.score(old_texts, old_labels) > 0.95
    probe = model.text_vectors(old_texts[:10])
    before = model._layer().predict_log_proba(probe)
    old_tree, old_classes = model.tree_, model.classes_.tolist()
    new_texts, new_labels = keyword_texts(["a", "e", "f"], 300, 1)
    # right after adding the labels (no training yet) the old labels keep their probabilities
    grown = copy.deepcopy(model).set_params(epochs=1, lr=1e-12)
    grown.partial_fit(new_texts, new_labels)
    extra = grown.tree_.path_lengths[:4] - old_tree.path_lengths
    after = grown._layer().predict_log_proba(grown.text_vectors(old_texts[:10]))
    np.testing.assert_allclose(after[:, :4], before - extra * np.log(2.0), atol=1e-4)
    # then training learns the new labels without forgetting the old ones
    model.partial_fit(new_texts + old_texts[:100], new_labels + old_labels[:100])
    assert model.classes_.tolist()[:4] == old_classes and set(model.classes_[4:]) == {"e", "f"}
    model.tree_.validate()
    assert "e_k0" in model.vocabulary_
    assert model.score(new_texts, new_labels) > 0.9
    assert model.score(old_texts, old_labels) > 0.9


def test_classifier_partial_fit_first_call_fits_and_hierarchy_refuses_new_labels(tmp_path):
    from hsmcy import HSClassifier
    texts, labels = keyword_texts(["a", "b"], 100, 2)
    model = HSClassifier(dim=8, epochs=3, workers=1).partial_fit(texts, labels)
    assert set(model.classes_) == {"a", "b"}
    model.partial_fit(*keyword_texts(["c"], 30, 3))
    model.save(tmp_path / "c.hsmcy")
    loaded = HSClassifier.load(tmp_path / "c.hsmcy")
    assert loaded.classes_.tolist() == model.classes_.tolist()
    hierarchy = HSClassifier(dim=8, epochs=2, workers=1, tree=[("a", "root"), ("b", "root")]).fit(texts, labels)
    with pytest.raises(ValueError, match="hierarchy"):
        hierarchy.partial_fit(["c_k0 n1"], ["c"])
