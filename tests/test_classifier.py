"""HSClassifier: kernels against the NumPy reference, learning, persistence, bad input."""
import numpy as np
import pytest

from hsmcy import HSClassifier, _classifier, read_fasttext_file, reference
from hsmcy.persistence import load_archive
from hsmcy.tree import BinaryTree, HuffmanTree


# ----------------------------------------------------------------------- data
def keyword_task(n_texts, n_classes, seed=0, noise_words=200):
    """Each class has 4 keywords; a text holds 2 of them among 4 noise words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n_texts):
        label = int(rng.integers(n_classes))
        words = [f"k{label}_{j}" for j in rng.integers(0, 4, size=2)]
        words += [f"n{j}" for j in rng.integers(0, noise_words, size=4)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(f"c{label}")
    return texts, labels


def random_batch(seed, dim, n_texts=12, vocab=9, n_classes=7):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 6, size=n_texts)
    token_ids = rng.integers(0, vocab, size=lengths.sum()).astype(np.int32)  # repeats on purpose
    text_bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_labels = rng.integers(1, 3, size=n_texts)
    label_ids = np.concatenate([rng.choice(n_classes, size=k, replace=False) for k in n_labels]).astype(np.int32)
    label_bounds = np.concatenate([[0], np.cumsum(n_labels)]).astype(np.int64)
    tree = HuffmanTree.from_counts(rng.integers(1, 50, size=n_classes))
    input_vectors = rng.normal(scale=0.5, size=(vocab, dim)).astype(np.float32)
    inner = rng.normal(scale=0.5, size=(tree.n_inner, dim)).astype(np.float32)
    return token_ids, text_bounds, label_ids, label_bounds, tree, input_vectors, inner


# ----------------------------------------------------------------------- kernels vs reference
@pytest.mark.parametrize("dim", [1, 7, 32])
@pytest.mark.parametrize("lr_end_factor", [1.0, 0.3])
def test_train_batch_matches_reference(dim, lr_end_factor):
    token_ids, text_bounds, label_ids, label_bounds, tree, input_vectors, inner = random_batch(dim, dim)
    lr_start, lr_end = 0.2, 0.2 * lr_end_factor
    examples = np.random.default_rng(dim).permutation(len(text_bounds) - 1).astype(np.int64)

    ref_input, ref_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
    ref_loss = 0.0
    for i, e in enumerate(examples):
        lr = np.float32(lr_start + (lr_end - lr_start) * np.float32(i / len(examples)))
        ref_loss += reference.classifier_step(token_ids[text_bounds[e]:text_bounds[e + 1]],
                                            label_ids[label_bounds[e]:label_bounds[e + 1]],
                                            ref_input, ref_inner, tree, float(lr))
    hidden = np.zeros(dim, dtype=np.float32)
    hidden_grad = np.zeros(dim, dtype=np.float32)
    trained, loss = _classifier.train_batch(token_ids, text_bounds, label_ids, label_bounds, examples,
                                            input_vectors, inner, tree.path_nodes, tree.path_codes,
                                            tree.path_offsets, lr_start, lr_end, hidden, hidden_grad, True)
    assert trained == len(examples)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    np.testing.assert_allclose(input_vectors, ref_input, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(inner, ref_inner, rtol=1e-4, atol=1e-5)


def test_train_batch_skips_texts_without_tokens():
    _, _, _, _, tree, input_vectors, inner = random_batch(1, 4)
    token_ids = np.array([1, 2], dtype=np.int32)
    text_bounds = np.array([0, 0, 2], dtype=np.int64)  # text 0 has no tokens, text 1 has two
    label_ids = np.array([3, 4], dtype=np.int32)
    label_bounds = np.array([0, 1, 2], dtype=np.int64)
    before = inner.copy()
    args = (input_vectors, inner, tree.path_nodes, tree.path_codes, tree.path_offsets, 0.1, 0.1,
            np.zeros(4, np.float32), np.zeros(4, np.float32), True)
    trained, _ = _classifier.train_batch(token_ids, text_bounds, label_ids, label_bounds,
                                         np.array([0], dtype=np.int64), *args)
    assert trained == 0 and np.array_equal(inner, before)
    trained, _ = _classifier.train_batch(token_ids, text_bounds, label_ids, label_bounds,
                                         np.array([1, 0], dtype=np.int64), *args)
    assert trained == 1 and not np.array_equal(inner, before)


@pytest.mark.parametrize("dim", [1, 5, 33])
def test_text_vectors_match_reference(dim):
    token_ids, text_bounds, _, _, _, input_vectors, _ = random_batch(dim + 10, dim)
    text_bounds = np.concatenate([text_bounds, text_bounds[-1:]])  # a trailing text without tokens
    out = np.full((len(text_bounds) - 1, dim), np.nan, dtype=np.float32)
    _classifier.text_vectors(token_ids, text_bounds, input_vectors, out)
    np.testing.assert_allclose(out, reference.text_vectors(token_ids, text_bounds, input_vectors),
                               rtol=1e-5, atol=1e-6)
    assert np.all(out[-1] == 0)


def test_token_step_is_the_gradient_of_the_mean():
    """Each token moves by -lr * dL/de_t (one share per occurrence): finite differences."""
    rng = np.random.default_rng(4)
    dim, tree = 6, HuffmanTree.from_counts([5, 3, 2, 2, 1])
    input_vectors = rng.normal(size=(4, dim))
    inner = rng.normal(size=(tree.n_inner, dim))
    tokens, label = np.array([0, 2, 2, 3]), 3

    def loss_of(vectors):
        return reference.loss(vectors[tokens].mean(axis=0), inner, *tree.path(label))

    numeric = np.zeros_like(input_vectors)
    eps = 1e-6
    for row in range(4):
        for col in range(dim):
            plus, minus = input_vectors.copy(), input_vectors.copy()
            plus[row, col] += eps
            minus[row, col] -= eps
            numeric[row, col] = (loss_of(plus) - loss_of(minus)) / (2 * eps)
    lr = 0.01
    after = input_vectors.copy()
    reference.classifier_step(tokens, [label], after, inner.copy(), tree, lr)
    np.testing.assert_allclose((input_vectors - after) / lr, numeric, rtol=1e-5, atol=1e-8)
    assert np.all(numeric[1] == 0)  # token 1 is not in the text


def test_predict_log_proba_matches_reference_and_sums_to_one():
    rng = np.random.default_rng(2)
    tree = BinaryTree.from_edges([("a", "x"), ("b", "x"), ("c", "x"), ("x", "r"), ("d", "r"), ("e", "r")])
    hidden = rng.normal(size=(5, 3))
    inner = rng.normal(size=(tree.n_inner, 3))
    log_proba = reference.distribution_rows(hidden, inner, tree, log=True)
    for row in range(5):
        np.testing.assert_allclose(log_proba[row], reference.all_leaf_log_probs(hidden[row], inner, tree))
    np.testing.assert_allclose(np.exp(log_proba).sum(axis=1), 1.0)


# ----------------------------------------------------------------------- learning
@pytest.mark.parametrize("tree", ["huffman", "balanced", "hierarchy"])
def test_learns_a_keyword_task(tree):
    texts, labels = keyword_task(4000, 40)
    if tree == "hierarchy":  # classes grouped by id modulo 5: a real but arbitrary taxonomy
        tree = [(f"c{k}", f"g{k % 5}") for k in range(40)] + [(f"g{g}", "root") for g in range(5)]
    model = HSClassifier(dim=16, epochs=5, lr=0.5, workers=2, tree=tree, seed=3).fit(texts[:3000], labels[:3000])
    assert model.training_loss_[-1] < 0.5 * model.training_loss_[0]
    assert model.score(texts[3000:], labels[3000:]) > 0.9
    proba = model.predict_proba(texts[3000:3050])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    expected = reference.distribution_rows(model.text_vectors(texts[3000:3050]), model.inner_node_vectors_,
                                           model.tree_)
    np.testing.assert_allclose(proba, expected, rtol=1e-4, atol=1e-7)
    top, top_proba = model.predict_top(texts[3000:3050], 5)
    assert top.shape == top_proba.shape == (50, 5)
    assert np.all(np.diff(top_proba, axis=1) <= 1e-12)
    best = np.argsort(-proba, axis=1, kind="stable")[:, :5]
    np.testing.assert_allclose(top_proba, np.take_along_axis(proba, best, axis=1), rtol=1e-5)
    assert np.array_equal(model.predict(texts[3000:3050]), top[:, 0])
    for weights in (model.input_vectors_, model.inner_node_vectors_):   # rows on cache lines: memory.py
        assert weights.ctypes.data % 64 == 0


def test_multi_label_trains_every_label():
    rng = np.random.default_rng(5)
    texts, labels = [], []
    for _ in range(3000):
        a, b = rng.choice(20, size=2, replace=False)
        texts.append(f"k{a} k{b} n{rng.integers(50)}")
        labels.append([f"c{a}", f"c{b}"])
    model = HSClassifier(dim=16, epochs=5, lr=0.5, workers=1, seed=2).fit(texts, labels)
    top, _ = model.predict_top(["k3 k17", "k0 k9"], 2)
    assert set(top[0]) == {"c3", "c17"} and set(top[1]) == {"c0", "c9"}


def test_word_ngrams_see_word_order():
    """Label = which of two words comes first: invisible to a bag of words, clear to bigrams."""
    rng = np.random.default_rng(6)
    texts, labels = [], []
    for _ in range(2000):
        first = rng.integers(2)
        texts.append("apple pear" if first == 0 else "pear apple")
        labels.append(int(first))
    unigram = HSClassifier(dim=8, epochs=5, lr=0.5, workers=1).fit(texts, labels)
    bigram = HSClassifier(dim=8, epochs=5, lr=0.5, workers=1, word_ngrams=2, bucket=1000).fit(texts, labels)
    assert unigram.score(texts, labels) < 0.7
    assert bigram.score(texts, labels) == 1.0
    assert bigram.classes_.dtype.kind == "i"


def test_one_worker_is_reproducible_and_two_workers_learn():
    texts, labels = keyword_task(1500, 10, seed=1)
    first = HSClassifier(dim=8, epochs=2, workers=1, seed=9).fit(texts, labels)
    second = HSClassifier(dim=8, epochs=2, workers=1, seed=9).fit(texts, labels)
    assert np.array_equal(first.input_vectors_, second.input_vectors_)
    assert np.array_equal(first.inner_node_vectors_, second.inner_node_vectors_)
    other_seed = HSClassifier(dim=8, epochs=2, workers=1, seed=10).fit(texts, labels)
    assert not np.array_equal(first.input_vectors_, other_seed.input_vectors_)
    threaded = HSClassifier(dim=8, epochs=5, lr=0.5, workers=2, seed=9).fit(texts, labels)
    assert threaded.score(texts, labels) > 0.9


def test_unknown_words_and_min_count():
    texts, labels = keyword_task(500, 5)
    model = HSClassifier(dim=8, epochs=1, min_count=3).fit(texts + ["rare"], labels + ["c0"])
    assert "rare" not in model.vocabulary_ and model.n_skipped_texts_ == 1
    # a text of unknown words gets the zero vector: the tree's prior
    hidden = model.text_vectors(["never seen"])
    assert np.all(hidden == 0)
    prior = 2.0 ** -model.tree_.path_lengths.astype(float)
    np.testing.assert_allclose(model.predict_proba(["never seen"])[0], prior, rtol=1e-6)


# ----------------------------------------------------------------------- params and persistence
def test_get_and_set_params():
    model = HSClassifier(dim=12, epochs=2)
    params = model.get_params()
    assert params["dim"] == 12 and set(params) >= {"dim", "epochs", "lr", "word_ngrams", "min_count", "workers",
                                                   "tree", "seed"}
    clone = HSClassifier(**params)
    assert clone.get_params() == params
    assert model.set_params(lr=0.3, tree="balanced") is model and model.lr == 0.3
    with pytest.raises(ValueError, match="invalid parameter 'alpha'"):
        model.set_params(alpha=0.1)
    with pytest.raises(ValueError, match="lr"):
        model.set_params(lr=float("nan"))
    assert model.lr == 0.3  # a rejected set_params changes nothing


@pytest.mark.parametrize("tree", ["huffman", "edges"])
def test_save_load_round_trip(tmp_path, tree):
    texts, labels = keyword_task(800, 6)
    if tree == "edges":
        tree = [(f"c{k}", "even" if k % 2 == 0 else "odd") for k in range(6)] + [("even", "r"), ("odd", "r")]
    model = HSClassifier(dim=8, epochs=2, word_ngrams=2, bucket=500, tree=tree).fit(texts, labels)
    path = tmp_path / "model.hsmcy"
    model.save(path)
    metadata, _ = load_archive(path)  # allow_pickle=False inside
    assert metadata["tree_depth"] == model.tree_.depth_statistics()
    for mmap in (None, "r"):
        loaded = HSClassifier.load(path, mmap=mmap)
        assert loaded.get_params() == model.get_params()
        np.testing.assert_array_equal(loaded.predict_proba(texts[:20]), model.predict_proba(texts[:20]))
        assert list(loaded.classes_) == list(model.classes_)


def test_save_load_integer_labels(tmp_path):
    texts, labels = keyword_task(300, 4)
    labels = [int(label[1:]) for label in labels]
    model = HSClassifier(dim=4, epochs=1).fit(texts, labels)
    model.save(tmp_path / "m")
    assert HSClassifier.load(tmp_path / "m").classes_.tolist() == model.classes_.tolist()


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(ValueError, match="not an hsmcy model file"):
        HSClassifier.load(tmp_path / "junk")


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize("params, error, match", [
    ({"dim": 0}, ValueError, "dim"),
    ({"dim": 2.5}, TypeError, "dim"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"lr": -1}, ValueError, "lr"),
    ({"lr": "fast"}, TypeError, "lr"),
    ({"word_ngrams": 0}, ValueError, "word_ngrams"),
    ({"workers": 0}, ValueError, "workers"),
    ({"tree": "random"}, ValueError, "tree"),
    ({"tree": 3}, TypeError, "tree"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        HSClassifier(**params)


def test_bad_fit_input():
    model = HSClassifier(dim=4, epochs=1)
    with pytest.raises(TypeError, match="single string"):
        model.fit("a b c", ["x"])
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        model.fit(["a b", "  "], ["x", "y"])
    with pytest.raises(ValueError, match="texts is empty"):
        model.fit([], [])
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        model.fit([3.5], ["x"])
    with pytest.raises(TypeError, match="tokens must be strings"):
        model.fit([["a", 1]], ["x"])
    with pytest.raises(ValueError, match="2 entries for 1 texts"):
        model.fit(["a"], ["x", "y"])
    with pytest.raises(ValueError, match=r"labels\[0\] is an empty list"):
        model.fit(["a"], [[]])
    with pytest.raises(TypeError, match=r"labels\[0\]"):
        model.fit(["a"], [float("nan")])
    with pytest.raises(TypeError, match="mix"):
        model.fit(["a", "b"], ["x", 1])
    with pytest.raises(ValueError, match="min_count"):
        HSClassifier(min_count=5).fit(["a b"], ["x"])
    with pytest.raises(ValueError, match="tree: .*missing from the hierarchy.*'z'"):
        HSClassifier(tree=[("x", "r"), ("y", "r")]).fit(["a", "b", "c"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="tree: .*not classes"):
        HSClassifier(tree=[("x", "r"), ("y", "r"), ("w", "r")]).fit(["a", "b"], ["x", "y"])


def test_bad_predict_input():
    texts, labels = keyword_task(300, 4)
    with pytest.raises(ValueError, match="not fitted"):
        HSClassifier().predict(texts)
    model = HSClassifier(dim=4, epochs=1).fit(texts, labels)
    with pytest.raises(ValueError, match="unseen in training: 'c99'"):
        model.score(texts[:2], ["c0", "c99"])
    with pytest.raises(ValueError, match=r"texts\[0\] is empty"):
        model.predict([""])
    with pytest.raises(ValueError, match="k must be in"):
        model.predict_top(texts[:2], 5)
    with pytest.raises(ValueError, match="k must be in"):
        model.predict_top(texts[:2], 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        model.predict_top(texts[:2], 1.5)


# ----------------------------------------------------------------------- fastText files
def test_read_fasttext_file(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes("__label__a hello world\n\n__label__b __label__c caf\xc3\xa9 \xff bar\n".encode("latin-1"))
    texts, labels = read_fasttext_file(path)
    assert labels == [["a"], ["b", "c"]]
    assert texts[0] == "hello world" and texts[1].startswith("café") and texts[1].endswith("bar")
    model = HSClassifier(dim=4, epochs=1).fit(texts, labels)
    assert set(model.classes_) == {"a", "b", "c"}


def test_read_fasttext_file_skips_label_only_lines_as_fasttext(tmp_path, caplog):
    path = tmp_path / "train.txt"
    path.write_text("__label__a hello world\n__label__b\n__label__a hi there\n  __label__c __label__b  \n"
                    "__label__b bye now\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="hsmcy"):
        texts, labels = read_fasttext_file(path)
    assert texts == ["hello world", "hi there", "bye now"]
    assert labels == [["a"], ["a"], ["b"]]
    assert "skipped 2 lines with labels but no text" in caplog.text and "first at line 2" in caplog.text
    HSClassifier(dim=4, epochs=1, workers=1).fit(texts, labels)  # an empty text would fail here


def test_read_fasttext_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_fasttext_file(tmp_path / "missing.txt")
    path = tmp_path / "bad.txt"
    path.write_text("__label__a fine\nno label here\n")
    with pytest.raises(ValueError, match=":2: no token starts with"):
        read_fasttext_file(path)


def test_texts_as_strings_token_lists_or_with_odd_characters_encode_alike():
    texts, labels = keyword_task(400, 4)
    model = HSClassifier(dim=4, epochs=1).fit(texts, labels)
    as_lists = [text.split() for text in texts[:30]]
    mixed = [text if i % 2 else text.split() for i, text in enumerate(texts[:30])]
    expected = model.text_vectors(texts[:30])
    np.testing.assert_array_equal(model.text_vectors(as_lists), expected)
    np.testing.assert_array_equal(model.text_vectors(mixed), expected)
    # a text holding the fast path's internal separator token is still split per text
    tricky = ["k0_1 \x00 n1", "k1_2"]
    np.testing.assert_array_equal(model.text_vectors(tricky)[1], model.text_vectors(["k1_2"])[0])
    assert model.text_vectors(tricky).shape == (2, 4)


def test_labels_as_scalars_lists_tuples_and_numpy_ints():
    texts = ["a b", "c d", "e f", "a c"]
    model = HSClassifier(dim=4, epochs=1).fit(texts, [np.int64(1), [2, 3], (3,), {1}])
    assert sorted(model.classes_.tolist()) == [1, 2, 3]
    assert model.class_counts_.sum() == 5
    assert 0.0 <= model.score(texts, [1, [2, 3], 3, 1]) <= 1.0


def test_bucket_too_large_for_int32_ids():
    with pytest.raises(ValueError, match="bucket"):
        HSClassifier(word_ngrams=2, bucket=2**31).fit(["a b"], ["x"])


def test_replaced_vectors_are_checked_before_the_kernel():
    texts, labels = keyword_task(200, 3)
    model = HSClassifier(dim=4, epochs=1).fit(texts, labels)
    model.input_vectors_ = model.input_vectors_[:2].copy()
    with pytest.raises(ValueError, match="rows"):
        model.predict(texts[:5])
    model.input_vectors_ = np.zeros((5000, 4), dtype=np.float64)
    with pytest.raises(ValueError, match="float32"):
        model.predict(texts[:5])
    model.input_vectors_ = np.zeros((5000, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="width"):
        model.predict(texts[:5])
    model.input_vectors_ = np.full((5000, 4), np.nan, dtype=np.float32)
    with pytest.raises(ValueError):  # NaN hidden vectors are refused by the output layer
        model.predict(texts[:5])
