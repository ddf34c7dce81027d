"""The Huffman tree: structure, optimality against gensim, flat-array invariants."""
import numpy as np
import pytest
from gensim.models.keyedvectors import KeyedVectors
from gensim.models.word2vec import _assign_binary_codes
from hypothesis import given, settings
from hypothesis import strategies as st

from hsmcy import BinaryTree, HuffmanTree, reference


def gensim_codes(counts):
    """gensim's own Huffman codes for the same counts."""
    wv = KeyedVectors(4, count=0)
    wv.index_to_key = [f"w{i}" for i in range(len(counts))]
    wv.key_to_index = {w: i for i, w in enumerate(wv.index_to_key)}
    wv.allocate_vecattrs(["count"], [np.int64])
    wv.expandos["count"][:] = counts
    _assign_binary_codes(wv)
    return list(wv.expandos["code"]), list(wv.expandos["point"])


def brute_force_is_prefix_free(tree):
    codes = ["".join(map(str, tree.path(leaf)[1])) for leaf in range(tree.n_leaves)]
    for i, a in enumerate(codes):
        for j, b in enumerate(codes):
            if i != j and b.startswith(a):
                return False
    return True


counts_strategy = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(counts_strategy)
def test_huffman_is_optimal_like_gensim(counts):
    tree = HuffmanTree.from_counts(counts)
    codes, points = gensim_codes(counts)
    gensim_cost = sum(c * len(code) for c, code in zip(counts, codes))
    assert tree.weighted_path_length(counts) == gensim_cost


@settings(max_examples=200, deadline=None)
@given(counts_strategy)
def test_huffman_tree_is_full_and_prefix_free(counts):
    tree = HuffmanTree.from_counts(counts)
    tree.validate()  # full binary tree, one root, prefix-free (vectorised check)
    assert brute_force_is_prefix_free(tree)  # and the same by brute force
    assert tree.n_inner == len(counts) - 1
    assert tree.path_nodes.dtype == np.int32 and tree.path_codes.dtype == np.uint8
    if len(counts) > 1:
        # gensim's convention: the root is inner node V - 2
        assert np.all(tree.path_nodes[tree.path_offsets[:-1]] == len(counts) - 2)


@settings(max_examples=100, deadline=None)
@given(counts_strategy, st.integers(1, 6), st.integers(0, 2**31))
def test_leaf_probabilities_sum_to_one(counts, dim, seed):
    tree = HuffmanTree.from_counts(counts)
    rng = np.random.default_rng(seed)
    inner = (rng.standard_normal((max(tree.n_inner, 1), dim)) * 2).astype(np.float32)
    hidden = rng.standard_normal(dim).astype(np.float32)
    log_probs = reference.all_leaf_log_probs(hidden, inner, tree)
    assert np.exp(log_probs).sum() == pytest.approx(1.0, abs=1e-9)


def test_frequent_words_get_short_codes():
    counts = np.array([1000, 500, 100, 50, 10, 5, 1, 1])
    depths = HuffmanTree.from_counts(counts).path_lengths
    assert np.all(np.diff(depths) >= 0)  # counts descend, so depths never decrease


def test_known_small_tree():
    # counts 5,3,2,1: merges (1,2)->3, (3,3)->6, (5,6)->11; depths 1, 2, 3, 3.
    tree = HuffmanTree.from_counts([5, 3, 2, 1])
    assert list(tree.path_lengths) == [1, 2, 3, 3]
    assert tree.weighted_path_length([5, 3, 2, 1]) == 5 + 6 + 6 + 3


def test_one_leaf_tree_has_empty_path():
    tree = HuffmanTree.from_counts([7])
    assert tree.n_leaves == 1 and tree.n_inner == 0
    assert len(tree.path(0)[0]) == 0


def test_large_vocabulary_builds():
    counts = (1e7 / np.arange(1, 200_001)).astype(np.int64) + 5
    tree = HuffmanTree.from_counts(counts)
    assert tree.n_leaves == 200_000 and tree.max_depth < 64


@pytest.mark.parametrize("bad, error", [
    ([], ValueError), ([-1, 3], ValueError), ([[1, 2]], ValueError), (["a", "b"], TypeError), ([1.5, 2], TypeError),
])
def test_bad_counts(bad, error):
    with pytest.raises(error):
        HuffmanTree.from_counts(bad)


def test_gensim_codes_round_trip():
    counts = [50, 40, 30, 20, 10, 5, 5, 2]
    codes, points = gensim_codes(counts)
    tree = BinaryTree.from_gensim_codes(codes, points)
    back_codes, back_points = tree.to_gensim_codes()
    for a, b in zip(codes, back_codes):
        assert np.array_equal(a, b)
    for a, b in zip(points, back_points):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("corrupt", ["node_range", "code_value", "two_roots", "not_prefix_free", "offsets"])
def test_validate_rejects_broken_trees(corrupt):
    tree = HuffmanTree.from_counts([10, 8, 6, 4, 2, 1])
    nodes, codes, offsets = tree.path_nodes.copy(), tree.path_codes.copy(), tree.path_offsets.copy()
    if corrupt == "node_range":
        nodes[-1] = 99
    elif corrupt == "code_value":
        codes[0] = 2
    elif corrupt == "two_roots":
        nodes[offsets[-2]] = nodes[offsets[-2] + 1] if offsets[-1] - offsets[-2] > 1 else 0
    elif corrupt == "not_prefix_free":
        codes[offsets[-1] - 1] = 1 - codes[offsets[-1] - 1]  # last leaf now collides with its sibling
    elif corrupt == "offsets":
        offsets[1] = offsets[2] + 1
    with pytest.raises(ValueError):
        BinaryTree(nodes, codes, offsets)
