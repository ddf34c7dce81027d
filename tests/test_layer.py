"""hsmcy.HierarchicalSoftmax and the row kernels of hsmcy._inference, against hsmcy.reference."""
import numpy as np
import pytest

from hsmcy import BinaryTree, HierarchicalSoftmax, HuffmanTree, inference
from hsmcy import reference as ref


# ------------------------------------------------------------------ trees
def random_tree(n_leaves, rng):
    """A random full binary tree (random shape, random inner-node ids): not a Huffman tree."""
    inner_ids = iter(rng.permutation(max(n_leaves - 1, 0)))
    paths = {}

    def split(leaves, prefix):
        if len(leaves) == 1:
            paths[leaves[0]] = prefix
            return
        node = int(next(inner_ids))
        cut = int(rng.integers(1, len(leaves)))
        split(leaves[:cut], prefix + [(node, 0)])
        split(leaves[cut:], prefix + [(node, 1)])

    split(list(rng.permutation(n_leaves)), [])
    nodes = [n for leaf in range(n_leaves) for n, _ in paths[leaf]]
    codes = [c for leaf in range(n_leaves) for _, c in paths[leaf]]
    offsets = np.cumsum([0] + [len(paths[leaf]) for leaf in range(n_leaves)])
    return BinaryTree(np.array(nodes, dtype=np.int32), np.array(codes, dtype=np.uint8), offsets)


def make_tree(kind, n_leaves, rng):
    if kind == "huffman":
        return HuffmanTree.from_counts(rng.zipf(1.5, n_leaves).clip(1, 10 ** 6))
    return random_tree(n_leaves, rng)


def make_layer(tree, dim, rng, scale=1.0, workers=1):
    layer = HierarchicalSoftmax(tree, dim, seed=int(rng.integers(1000)), workers=workers)
    layer.inner_node_vectors = (rng.normal(size=(tree.n_inner, dim)) * scale).astype(np.float32)
    return layer


def rows(rng, n, dim, scale=1.0):
    return (rng.normal(size=(n, dim)) * scale).astype(np.float32)


CASES = [("huffman", 2, 3), ("huffman", 57, 8), ("random", 40, 5), ("random", 123, 17), ("huffman", 300, 32)]


@pytest.fixture(params=CASES, ids=lambda case: f"{case[0]}-V{case[1]}-d{case[2]}")
def case(request):
    kind, n_leaves, dim = request.param
    rng = np.random.default_rng(n_leaves * 31 + dim)
    tree = make_tree(kind, n_leaves, rng)
    return tree, dim, rng


# ------------------------------------------------------- tree structure
@pytest.mark.parametrize("kind", ["huffman", "random"])
def test_children_and_top_down_order_agree_with_paths(kind):
    rng = np.random.default_rng(5)
    tree = make_tree(kind, 77, rng)
    children, order = tree.children, tree.inner_nodes_top_down
    assert children.shape == (tree.n_inner, 2)
    assert sorted(order.tolist()) == list(range(tree.n_inner))
    assert order[0] == tree.root
    rank = np.empty(tree.n_inner, dtype=int)
    rank[order] = np.arange(tree.n_inner)
    for leaf in range(tree.n_leaves):  # walking the children along a path reaches the leaf
        nodes, codes = tree.path(leaf)
        for k, (node, code) in enumerate(zip(nodes, codes)):
            child = children[node, code]
            if k + 1 < len(nodes):
                assert child == nodes[k + 1] and rank[child] > rank[node]
            else:
                assert child == -1 - leaf


# ----------------------------------------------------------- log_prob
@pytest.mark.parametrize("workers", [1, 2])
def test_log_prob_matches_reference(case, workers):
    tree, dim, rng = case
    layer = make_layer(tree, dim, rng, scale=2.0, workers=workers)
    H = rows(rng, 200, dim)
    y = rng.integers(0, tree.n_leaves, 200)
    expected = ref.log_prob_rows(H, layer.inner_node_vectors, tree, y)
    np.testing.assert_allclose(layer.log_prob(H, y), expected, rtol=1e-5, atol=1e-5)


def test_log_prob_is_exact_when_saturated():
    """Huge dot products: no clipping, no -inf, equal to the float64 reference."""
    rng = np.random.default_rng(0)
    tree = make_tree("random", 50, rng)
    layer = make_layer(tree, 6, rng, scale=40.0)
    H = rows(rng, 50, 6, scale=10.0)
    y = rng.integers(0, 50, 50)
    got = layer.log_prob(H, y)
    expected = ref.log_prob_rows(H, layer.inner_node_vectors, tree, y)
    assert np.all(np.isfinite(got)) and expected.min() < -1000
    # rtol 1e-4: a float32 dot product of size ~700 is off by ~1e-4 in absolute terms,
    # which shows as relative error in a log-probability of size e^-700.
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert np.all(got < 0)  # a tiny log-probability is not rounded to 0


# ------------------------------------------------------------- gradients
def test_loss_and_grad_matches_reference(case):
    tree, dim, rng = case
    layer = make_layer(tree, dim, rng)
    H = rows(rng, 60, dim)
    y = rng.integers(0, tree.n_leaves, 60)
    loss, grad_H, (nodes, values) = layer.loss_and_grad(H, y)
    ref_losses, ref_grad_H, node_grads = ref.loss_and_grad_rows(H, layer.inner_node_vectors, tree, y)
    assert loss == pytest.approx(ref_losses.sum(), rel=1e-5)
    np.testing.assert_allclose(grad_H, ref_grad_H, rtol=1e-4, atol=1e-5)
    dense = np.zeros(layer.inner_node_vectors.shape)
    for row_nodes, row_values in node_grads:
        np.add.at(dense, row_nodes, row_values)
    assert np.all(np.diff(nodes) > 0)  # sorted, unique
    np.testing.assert_allclose(values, dense[nodes], rtol=1e-4, atol=1e-5)
    untouched = np.setdiff1d(np.arange(tree.n_inner), nodes)
    assert np.all(dense[untouched] == 0)


def test_gradients_equal_finite_differences():
    """Kernel gradients against central differences of the float64 reference loss."""
    rng = np.random.default_rng(3)
    tree = make_tree("random", 30, rng)
    layer = make_layer(tree, 5, rng)
    H = rows(rng, 4, 5)
    y = rng.integers(0, 30, 4)
    _, grad_H, (nodes, values) = layer.loss_and_grad(H, y)
    W = layer.inner_node_vectors.astype(np.float64)

    def total_loss(H_, W_):
        return -ref.log_prob_rows(H_, W_, tree, y).sum()

    eps = 1e-5
    for i in range(4):
        for j in range(5):
            up, down = H.astype(np.float64), H.astype(np.float64)
            up[i, j] += eps
            down[i, j] -= eps
            assert grad_H[i, j] == pytest.approx((total_loss(up, W) - total_loss(down, W)) / (2 * eps), abs=1e-4)
    for position, node in enumerate(nodes[:6]):
        for j in range(5):
            up, down = W.copy(), W.copy()
            up[node, j] += eps
            down[node, j] -= eps
            numeric = (total_loss(H.astype(np.float64), up) - total_loss(H.astype(np.float64), down)) / (2 * eps)
            assert values[position, j] == pytest.approx(numeric, abs=1e-4)


def test_mean_reduction_scales_loss_and_gradients():
    rng = np.random.default_rng(4)
    layer = make_layer(make_tree("huffman", 20, rng), 4, rng)
    H, y = rows(rng, 8, 4), rng.integers(0, 20, 8)
    total, grad_sum, (nodes, values_sum) = layer.loss_and_grad(H, y)
    mean, grad_mean, (nodes_mean, values_mean) = layer.loss_and_grad(H, y, reduction="mean")
    assert mean == pytest.approx(total / 8)
    np.testing.assert_allclose(grad_mean, grad_sum / 8, rtol=1e-6)
    np.testing.assert_array_equal(nodes, nodes_mean)
    np.testing.assert_allclose(values_mean, values_sum / 8, rtol=1e-6)


# ------------------------------------------------------------------ update
def test_update_matches_reference_sgd(case):
    tree, dim, rng = case
    layer = make_layer(tree, dim, rng)
    H = rows(rng, 50, dim)
    y = rng.integers(0, tree.n_leaves, 50)
    weights = layer.inner_node_vectors.astype(np.float64)
    ref_losses, ref_grad = ref.sgd_rows(H, weights, tree, y, 0.05)
    grad, losses = layer.update(H, y, lr=0.05, return_loss=True)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(layer.inner_node_vectors, weights, rtol=1e-4, atol=1e-5)


def test_update_gradient_equals_loss_and_grad_for_one_row():
    rng = np.random.default_rng(6)
    layer = make_layer(make_tree("random", 25, rng), 6, rng)
    H, y = rows(rng, 1, 6), np.array([7])
    _, expected, _ = layer.loss_and_grad(H, y)
    np.testing.assert_allclose(layer.update(H, y, lr=0.3), expected, rtol=1e-5, atol=1e-6)


def test_repeated_updates_lower_the_loss():
    rng = np.random.default_rng(7)
    layer = make_layer(make_tree("huffman", 64, rng), 16, rng, scale=0.01, workers=2)
    H = rows(rng, 256, 16)
    y = np.argmax(H @ rng.normal(size=(16, 64)), axis=1)  # learnable labels
    before = -layer.log_prob(H, y).sum()
    for _ in range(30):
        layer.update(H, y, lr=0.05)
    assert -layer.log_prob(H, y).sum() < 0.7 * before


# ----------------------------------------------------------- distributions
@pytest.mark.parametrize("workers", [1, 2])
def test_predict_proba_sums_to_one_and_matches_reference(case, workers):
    tree, dim, rng = case
    layer = make_layer(tree, dim, rng, scale=1.5, workers=workers)
    H = rows(rng, 70, dim)
    probs = layer.predict_proba(H)
    assert probs.shape == (70, tree.n_leaves) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = ref.distribution_rows(H, layer.inner_node_vectors, tree)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-7)
    log_probs = layer.predict_log_proba(H)
    np.testing.assert_allclose(log_probs, np.log(expected), rtol=1e-4, atol=1e-5)
    y = rng.integers(0, tree.n_leaves, 70)
    np.testing.assert_allclose(layer.log_prob(H, y), log_probs[np.arange(70), y], rtol=1e-4, atol=1e-5)


def test_predict_log_proba_does_not_underflow():
    rng = np.random.default_rng(8)
    tree = make_tree("random", 40, rng)
    layer = make_layer(tree, 4, rng, scale=100.0)
    H = rows(rng, 5, 4, scale=10.0)
    log_probs = layer.predict_log_proba(H)
    assert np.all(np.isfinite(log_probs)) and log_probs.min() < -200
    np.testing.assert_allclose(log_probs, np.array([ref.all_leaf_log_probs(h, layer.inner_node_vectors, tree)
                                                    for h in H]), rtol=1e-5, atol=1e-30)  # float32 output


# ------------------------------------------------------------------ top-k
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_top_k_equals_brute_force(case, workers, scale):
    tree, dim, rng = case
    layer = make_layer(tree, dim, rng, scale=scale, workers=workers)
    H = rows(rng, 80, dim)
    brute = ref.distribution_rows(H, layer.inner_node_vectors, tree)
    for k in sorted({1, min(5, tree.n_leaves), tree.n_leaves}):
        ids, probs = layer.predict(H, k)
        assert ids.shape == probs.shape == (80, k)
        expected_probs = -np.sort(-brute, axis=1)[:, :k]
        np.testing.assert_allclose(probs, expected_probs, rtol=1e-4, atol=1e-7)
        # the ids carry their own probabilities (ties may come in either order)
        np.testing.assert_allclose(brute[np.arange(80)[:, None], ids], probs, rtol=1e-4, atol=1e-7)
        assert np.all(np.diff(probs, axis=1) <= 1e-7)
        distinct = np.all(np.abs(np.diff(expected_probs, axis=1)) > 1e-5, axis=1)
        expected_ids = np.argsort(-brute, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(ids[distinct], expected_ids[distinct])
        for row in range(80):
            assert len(set(ids[row])) == k


# ---------------------------------------------------------------- sampling
def test_sample_matches_reference_sampler_and_ignores_workers():
    rng = np.random.default_rng(9)
    tree = make_tree("random", 33, rng)
    layer = make_layer(tree, 5, rng)
    H = rows(rng, 64, 5)
    seed = inference.seed_from(np.random.default_rng(42))
    draws = layer.sample(H, rng=np.random.default_rng(42), n_samples=20)
    np.testing.assert_array_equal(draws, ref.sample_rows(H, layer.inner_node_vectors, tree, 20, seed))
    layer.workers = 2
    np.testing.assert_array_equal(layer.sample(H, rng=np.random.default_rng(42), n_samples=20), draws)
    single = layer.sample(H, rng=7)
    assert single.shape == (64,) and single.dtype == np.int64


def test_sample_frequencies_follow_predict_proba():
    rng = np.random.default_rng(10)
    tree = make_tree("huffman", 12, rng)
    layer = make_layer(tree, 3, rng, scale=1.5)
    H = rows(rng, 1, 3)
    n = 40_000
    draws = layer.sample(H, rng=1, n_samples=n)[0]
    observed = np.bincount(draws, minlength=12) / n
    expected = layer.predict_proba(H)[0]
    # 5 standard deviations of a binomial proportion
    assert np.all(np.abs(observed - expected) <= 5 * np.sqrt(expected * (1 - expected) / n) + 1e-4)


# --------------------------------------------------------- tiny trees
def test_one_class_tree():
    tree = BinaryTree(np.zeros(0, np.int32), np.zeros(0, np.uint8), np.array([0, 0]))
    layer = HierarchicalSoftmax(tree, 3)
    H = np.ones((4, 3), dtype=np.float32)
    y = np.zeros(4, dtype=int)
    np.testing.assert_array_equal(layer.log_prob(H, y), 0.0)
    np.testing.assert_array_equal(layer.predict_proba(H), 1.0)
    ids, probs = layer.predict(H, 1)
    assert np.all(ids == 0) and np.all(probs == 1)
    assert np.all(layer.sample(H, rng=0) == 0)
    loss, grad, (nodes, values) = layer.loss_and_grad(H, y)
    assert loss == 0 and not grad.any() and len(nodes) == 0
    assert not layer.update(H, y, lr=0.1).any()


# ------------------------------------------------------------ persistence
def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(11)
    tree = make_tree("random", 20, rng)
    layer = make_layer(tree, 4, rng, workers=2)
    path = tmp_path / "layer.hsmcy"
    layer.save(path)
    for mmap in (None, "r"):
        loaded = HierarchicalSoftmax.load(path, mmap=mmap)
        assert loaded.dim == 4 and loaded.workers == 2 and loaded.n_classes == 20
        np.testing.assert_array_equal(loaded.inner_node_vectors, layer.inner_node_vectors)
        np.testing.assert_array_equal(loaded.tree.path_nodes, tree.path_nodes)
        H = rows(rng, 5, 4)
        np.testing.assert_array_equal(loaded.predict(H, 3)[0], layer.predict(H, 3)[0])
    with pytest.raises(ValueError, match="read-only"):
        HierarchicalSoftmax.load(path, mmap="r").update(rows(rng, 1, 4), [0], lr=0.1)
    from hsmcy.persistence import load_archive
    metadata, _ = load_archive(path)
    assert metadata["tree_depth"] == tree.depth_statistics()


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an hsmcy model file"):
        HierarchicalSoftmax.load(bad)


# -------------------------------------------------------------- bad input
@pytest.fixture
def small_layer():
    rng = np.random.default_rng(12)
    return make_layer(make_tree("huffman", 10, rng), 4, rng)


@pytest.mark.parametrize("H, error, message", [
    (np.zeros((3, 5), np.float32), ValueError, "3 columns|5 columns"),
    (np.zeros((3, 4), np.float64), TypeError, "float32"),
    (np.zeros(4, np.float32), ValueError, "2-D"),
    ([[0.0] * 4], TypeError, "NumPy array"),
    (np.array([[0, np.nan, 0, 0]], np.float32), ValueError, "NaN"),
    (np.array([[0, np.inf, 0, 0]], np.float32), ValueError, "NaN or infinite"),
])
def test_bad_hidden_is_rejected(small_layer, H, error, message):
    y = np.zeros(len(H) if np.ndim(H) == 2 else 1, dtype=int)
    for call in (lambda: small_layer.log_prob(H, y), lambda: small_layer.loss_and_grad(H, y),
                 lambda: small_layer.update(H, y, 0.1), lambda: small_layer.predict_proba(H),
                 lambda: small_layer.predict(H, 2), lambda: small_layer.sample(H, rng=0)):
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize("y, error, message", [
    (np.array([0, 10]), ValueError, "class id 10"),
    (np.array([-1, 0]), ValueError, "class id -1"),
    (np.array([0.0, 1.0]), TypeError, "integer"),
    (np.array([True, False]), TypeError, "integer"),
    (np.array([0, 1, 2]), ValueError, "3 entries for 2 rows"),
    (np.array([[0, 1]]), ValueError, "1-D"),
])
def test_bad_labels_are_rejected(small_layer, y, error, message):
    H = np.zeros((2, 4), np.float32)
    for call in (lambda: small_layer.log_prob(H, y), lambda: small_layer.loss_and_grad(H, y),
                 lambda: small_layer.update(H, y, 0.1)):
        with pytest.raises(error, match=message):
            call()


def test_other_bad_arguments_are_rejected(small_layer):
    H, y = np.zeros((2, 4), np.float32), np.array([0, 1])
    with pytest.raises(ValueError, match="k must be >= 1"):
        small_layer.predict(H, 0)
    with pytest.raises(ValueError, match="exceeds the number of classes"):
        small_layer.predict(H, 11)
    with pytest.raises(TypeError, match="k must be an integer"):
        small_layer.predict(H, 2.0)
    for lr in (0, -0.1, float("nan"), float("inf"), "0.1"):
        with pytest.raises(ValueError, match="lr must be"):
            small_layer.update(H, y, lr)
    with pytest.raises(ValueError, match="reduction"):
        small_layer.loss_and_grad(H, y, reduction="max")
    with pytest.raises(ValueError, match="n_samples"):
        small_layer.sample(H, rng=0, n_samples=0)
    with pytest.raises(TypeError, match="rng"):
        small_layer.sample(H, rng="seed")
    with pytest.raises(TypeError, match="BinaryTree"):
        HierarchicalSoftmax([1, 2, 3], 4)
    with pytest.raises(ValueError, match="dim"):
        HierarchicalSoftmax(small_layer.tree, 0)
    with pytest.raises(ValueError, match="workers"):
        HierarchicalSoftmax(small_layer.tree, 4, workers=0)
    small_layer.inner_node_vectors = np.zeros((3, 4), np.float32)  # too few rows for the tree
    with pytest.raises(ValueError, match="inner_node_vectors has 3 rows"):
        small_layer.predict(H, 2)
    small_layer.inner_node_vectors = np.zeros((9, 3), np.float32)  # rows narrower than H: would read past the end
    with pytest.raises(ValueError, match="inner_node_vectors has 3 columns, expected 4"):
        small_layer.log_prob(H, y)
    small_layer.inner_node_vectors = np.zeros((9, 8), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        small_layer.predict_proba(H)
    small_layer.inner_node_vectors = np.zeros((9, 4), np.float64)
    with pytest.raises(TypeError, match="float32"):
        small_layer.sample(H, rng=0)


# ------------------------------------------------------ property tests
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(n_leaves=st.integers(2, 60), dim=st.integers(1, 9), k=st.integers(1, 60), scale=st.floats(0.0, 8.0),
       seed=st.integers(0, 2 ** 32 - 1), huffman=st.booleans())
def test_property_top_k_and_distribution(n_leaves, dim, k, scale, seed, huffman):
    """Any tree shape, any weight scale (including all-zero weights: every tie at once)."""
    rng = np.random.default_rng(seed)
    tree = make_tree("huffman" if huffman else "random", n_leaves, rng)
    layer = make_layer(tree, dim, rng, scale=scale)
    H = rows(rng, 6, dim)
    k = min(k, n_leaves)
    brute = ref.distribution_rows(H, layer.inner_node_vectors, tree)
    probs = layer.predict_proba(H)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, brute, rtol=1e-4, atol=1e-7)
    ids, top = layer.predict(H, k)
    np.testing.assert_allclose(top, -np.sort(-brute, axis=1)[:, :k], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(brute[np.arange(6)[:, None], ids], top, rtol=1e-4, atol=1e-7)
    assert all(len(set(row)) == k for row in ids.tolist())


def test_top_k_at_a_large_vocabulary_equals_the_full_distribution():
    rng = np.random.default_rng(13)
    tree = HuffmanTree.from_counts((1e6 / np.arange(1, 20_001) ** 1.1).astype(np.int64) + 1)
    layer = make_layer(tree, 32, rng, scale=0.5, workers=2)
    H = rows(rng, 16, 32)
    probs = layer.predict_proba(H)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    ids, top = layer.predict(H, 10)
    np.testing.assert_allclose(top, -np.sort(-probs, axis=1)[:, :10], rtol=1e-4)
    np.testing.assert_allclose(probs[np.arange(16)[:, None], ids], top, rtol=1e-4)


def test_initial_rows_start_on_cache_lines_with_the_seeded_values():
    tree = HuffmanTree.from_counts(np.arange(1, 41))
    layer = HierarchicalSoftmax(tree, 16, seed=4)
    assert layer.inner_node_vectors.ctypes.data % 64 == 0 and layer.inner_node_vectors.dtype == np.float32
    expected = (np.random.default_rng(4).standard_normal((tree.n_inner, 16)) * (0.1 / 4.0)).astype(np.float32)
    np.testing.assert_array_equal(layer.inner_node_vectors, expected)
