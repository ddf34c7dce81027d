"""Every kernel held to hsmcy.reference (float32 tolerance), several dimensions including odd ones."""
import numpy as np
import pytest

from hsmcy import HuffmanTree, _kernels, reference
from hsmcy._training import _nonempty

DIMS = [1, 3, 16, 37, 100]


def make_model(rng, vocab_size, dim):
    counts = rng.integers(1, 1000, size=vocab_size)
    tree = HuffmanTree.from_counts(counts)
    input_vectors = (rng.standard_normal((vocab_size, dim)) * 0.3).astype(np.float32)
    syn1 = np.zeros((vocab_size, dim), dtype=np.float32)
    syn1[:tree.n_inner] = rng.standard_normal((tree.n_inner, dim)) * 0.3
    return tree, input_vectors, syn1


@pytest.mark.parametrize("dim", DIMS)
def test_path_step_matches_reference(rng, dim):
    tree, _, syn1 = make_model(rng, 50, dim)
    hidden = (rng.standard_normal(dim) * 2).astype(np.float32)  # big enough that some nodes saturate
    nodes, codes = tree.path(49)
    expected_inner = syn1.astype(np.float64)
    expected_step, expected_loss = reference.path_step(hidden, expected_inner, nodes, codes, 0.05)
    got_step, got_loss = _kernels.path_step(hidden, syn1, np.ascontiguousarray(nodes),
                                            np.ascontiguousarray(codes), 0.05)
    np.testing.assert_allclose(got_step, expected_step, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(syn1, expected_inner, rtol=1e-4, atol=1e-5)
    assert got_loss == pytest.approx(expected_loss, rel=1e-4)


def run_kernel(sg, sentences, input_vectors, syn1, tree, *, window, alpha, keep, shrink, cbow_mean, seed):
    bounds = np.zeros(len(sentences) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(s) for s in sentences])
    token_ids = np.concatenate(sentences).astype(np.int32)
    dim = input_vectors.shape[1]
    state = np.array([seed], dtype=np.uint64)
    seen, trained, loss = _kernels.train_batch(
        sg, token_ids, bounds, keep, input_vectors, syn1, _nonempty(tree.path_nodes, np.int32),
        _nonempty(tree.path_codes, np.uint8), tree.path_offsets, window, shrink, cbow_mean, alpha, alpha, state,
        np.zeros(dim, np.float32), np.zeros(dim, np.float32), np.zeros(max(map(len, sentences)), np.int32), True)
    return seen, trained, loss, state


@pytest.mark.parametrize("dim", [3, 37])
@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("cbow_mean", [1, 0])
@pytest.mark.parametrize("shrink", [True, False])
def test_train_batch_matches_reference(rng, dim, sg, cbow_mean, shrink):
    if sg and not cbow_mean:
        pytest.skip("cbow_mean does not apply to skip-gram")
    vocab_size = 40
    tree, input_vectors, syn1 = make_model(rng, vocab_size, dim)
    sentences = [rng.integers(0, vocab_size, size=n).astype(np.int32) for n in (12, 1, 30, 7)]
    keep = rng.uniform(0.3, 1.0, size=vocab_size).astype(np.float32)
    keep[::3] = 1.0
    seed = 987654321
    ref_input, ref_syn1 = input_vectors.astype(np.float64), syn1.astype(np.float64)
    ref_rng = reference.SplitMix64(seed)
    ref_trained, ref_loss = 0, 0.0
    for sentence in sentences:
        trained, loss = reference.train_sentence(sentence, ref_input, ref_syn1, tree, sg=sg, window=3, alpha=0.05,
                                                 keep_probability=keep, shrink_windows=shrink,
                                                 cbow_mean=cbow_mean, rng=ref_rng)
        ref_trained += trained
        ref_loss += loss
    seen, trained, loss, state = run_kernel(sg, sentences, input_vectors, syn1, tree, window=3, alpha=0.05,
                                            keep=keep, shrink=shrink, cbow_mean=cbow_mean, seed=seed)
    assert seen == sum(map(len, sentences))
    assert trained == ref_trained  # the same words were subsampled away
    assert int(state[0]) == ref_rng.state  # and the same number of random draws were made
    np.testing.assert_allclose(input_vectors, ref_input, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(syn1, ref_syn1, rtol=2e-4, atol=2e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)


def test_kernel_rng_matches_reference_rng():
    state = np.array([42], dtype=np.uint64)
    draws = _kernels.random_stream(state, 5)
    ref = reference.SplitMix64(42)
    assert [int(d) for d in draws] == [ref.next() for _ in range(5)]


def test_unused_syn1_row_stays_zero(rng):
    tree, input_vectors, syn1 = make_model(rng, 30, 8)
    sentences = [rng.integers(0, 30, size=50).astype(np.int32)]
    run_kernel(1, sentences, input_vectors, syn1, tree, window=4, alpha=0.05, keep=np.ones(30, np.float32),
               shrink=True, cbow_mean=1, seed=1)
    assert not np.any(syn1[-1])


def test_one_leaf_tree_trains_nothing_harmful(rng):
    tree = HuffmanTree.from_counts([10])
    input_vectors = rng.standard_normal((1, 4)).astype(np.float32)
    before = input_vectors.copy()
    syn1 = np.zeros((1, 4), dtype=np.float32)
    seen, trained, loss, _ = run_kernel(1, [np.zeros(5, np.int32)], input_vectors, syn1, tree, window=2,
                                        alpha=0.05, keep=np.ones(1, np.float32), shrink=False, cbow_mean=1, seed=3)
    assert seen == 5 and loss == 0.0
    np.testing.assert_array_equal(input_vectors, before)
