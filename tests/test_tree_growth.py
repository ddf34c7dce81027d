"""Growing a trained tree (hsmcy.tree_growth): the greedy against its brute-force statement,
old paths kept, old probabilities kept exactly (up to the documented halving of split leaves),
and rebuilding with vectors carried over."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsmcy import BinaryTree, HuffmanTree, reference
from hsmcy.tree_growth import fit_inner_vectors, grow_tree, map_inner_vectors, path_length_cost


def make_tree(kind, counts):
    if kind == "huffman":
        return HuffmanTree.from_counts(counts)
    return BinaryTree.balanced(len(counts))


trees = st.tuples(st.sampled_from(["huffman", "balanced"]),
                  st.lists(st.integers(0, 1000), min_size=1, max_size=40),
                  st.lists(st.integers(0, 1000), min_size=0, max_size=40))


@settings(max_examples=300, deadline=None)
@given(trees)
def test_grow_tree_is_the_reference_greedy(case):
    kind, counts, new_counts = case
    tree = make_tree(kind, counts)
    grown = grow_tree(tree, counts, new_counts)
    points, codes = reference.grow_tree(tree, counts, new_counts)
    assert grown.n_leaves == len(counts) + len(new_counts)
    for leaf in range(grown.n_leaves):
        nodes, bits = grown.path(leaf)
        assert nodes.tolist() == points[leaf] and bits.tolist() == codes[leaf]


@settings(max_examples=300, deadline=None)
@given(trees)
def test_grown_tree_is_full_prefix_free_and_keeps_old_paths(case):
    kind, counts, new_counts = case
    tree = make_tree(kind, counts)
    grown = grow_tree(tree, counts, new_counts)
    grown.validate()           # full binary tree, one root, prefix-free
    n_old = len(counts)
    for leaf in range(n_old):  # old path = prefix of the new one; what follows is new nodes only
        old_nodes, old_codes = tree.path(leaf)
        nodes, codes = grown.path(leaf)
        assert np.array_equal(nodes[:len(old_nodes)], old_nodes) and np.array_equal(codes[:len(old_codes)], old_codes)
        assert np.all(nodes[len(old_nodes):] >= n_old - 1)
    if tree.n_inner:
        assert grown.root == tree.root
    # the split that created inner node n_old - 1 + i is the i-th: ids are dense
    assert grown.n_inner == n_old + len(new_counts) - 1


@settings(max_examples=150, deadline=None)
@given(trees, st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_old_probabilities_change_only_by_the_documented_halving(case, dim, seed):
    """log P_grown(w | h) = log P_old(w | h) - (extra depth of w) log 2, for every old w and every h."""
    kind, counts, new_counts = case
    rng = np.random.default_rng(seed)
    tree = make_tree(kind, counts)
    weights = (rng.standard_normal((max(tree.n_inner, 1), dim)) * 2).astype(np.float32)
    grown = grow_tree(tree, counts, new_counts)
    grown_weights = np.zeros((max(grown.n_inner, 1), dim), dtype=np.float32)
    grown_weights[:tree.n_inner] = weights[:tree.n_inner]      # old rows kept, new rows zero
    extra = grown.path_lengths[:len(counts)] - tree.path_lengths
    for hidden in rng.standard_normal((3, dim)):
        before = reference.all_leaf_log_probs(hidden, weights, tree)
        after = reference.all_leaf_log_probs(hidden, grown_weights, grown)
        np.testing.assert_allclose(after[:len(counts)], before - extra * np.log(2.0), rtol=0, atol=1e-9)
        assert np.exp(after).sum() == pytest.approx(1.0, abs=1e-9)


def test_new_leaves_land_near_their_huffman_depth_on_zipf_counts():
    """On a Zipf vocabulary grown by rare words (the typical update: more text of the same kind, so the old
    counts grow in proportion), the paths stay within 0.5% of Huffman."""
    rng = np.random.default_rng(0)
    counts = (1e6 / np.arange(1, 5001)).astype(np.int64) + 5
    tree = HuffmanTree.from_counts(counts)
    new_counts = rng.integers(5, 40, size=1500)
    grown_counts = 2 * counts
    grown = grow_tree(tree, grown_counts, new_counts)
    cost = path_length_cost(grown, np.concatenate([grown_counts, new_counts]))
    assert cost["ratio"] < 1.005
    # the old words that lost depth are rare ones: under 1% of the old words' occurrences
    split = grown.path_lengths[:len(counts)] > tree.path_lengths
    assert grown_counts[split].sum() < 0.01 * grown_counts.sum()


def test_grow_tree_from_a_single_leaf_and_with_nothing_new():
    one = HuffmanTree.from_counts([7])
    grown = grow_tree(one, [7], [3, 1])
    grown.validate()
    assert grown.n_leaves == 3 and grown.path(0)[0].tolist()[0] == 0   # the first split made the root
    same = grow_tree(HuffmanTree.from_counts([5, 3, 2]), [5, 3, 2], [])
    assert np.array_equal(same.path_nodes, HuffmanTree.from_counts([5, 3, 2]).path_nodes)


@pytest.mark.parametrize("bad, error", [
    (dict(counts=[1, 2]), ValueError),                  # wrong length
    (dict(counts=[1, 2, -1]), ValueError),              # negative
    (dict(counts=[1.5, 2, 3]), TypeError),              # not integers
    (dict(new_counts=[[1, 2]]), ValueError),            # not 1-D
    (dict(new_counts=[-4]), ValueError),
])
def test_grow_tree_rejects_bad_counts(bad, error):
    arguments = dict(counts=[3, 2, 1], new_counts=[1])
    arguments.update(bad)
    with pytest.raises(error):
        grow_tree(HuffmanTree.from_counts([3, 2, 1]), **arguments)


# -------------------------------------------------------------------- rebuilding
@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=40), st.integers(0, 2**32 - 1))
def test_mapping_onto_the_same_tree_carries_every_vector(counts, seed):
    rng = np.random.default_rng(seed)
    tree = HuffmanTree.from_counts(counts)
    weights = rng.standard_normal((tree.n_inner, 3)).astype(np.float32)
    # the same tree with branches swapped at every node and inner nodes renumbered
    permutation = rng.permutation(tree.n_inner).astype(np.int32)
    swapped = BinaryTree(permutation[tree.path_nodes], 1 - tree.path_codes, tree.path_offsets)
    mapped, carried = map_inner_vectors(tree, weights, swapped)
    assert carried.all()
    hidden = rng.standard_normal(3)
    np.testing.assert_allclose(reference.all_leaf_log_probs(hidden, mapped, swapped),
                               reference.all_leaf_log_probs(hidden, weights, tree), atol=1e-6)


def test_mapping_carries_exactly_the_nodes_with_the_same_decision():
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 100, size=30)
    old = HuffmanTree.from_counts(counts)
    new = BinaryTree.balanced(30)
    weights = rng.standard_normal((old.n_inner, 4)).astype(np.float32)
    mapped, carried = map_inner_vectors(old, weights, new)

    def sides(tree):
        found = set()
        for node in range(tree.n_inner):
            below = [set(), set()]
            for leaf in range(tree.n_leaves):
                nodes, codes = tree.path(leaf)
                where = np.flatnonzero(nodes == node)
                if len(where):
                    below[codes[where[0]]].add(leaf)
            found.add((node, frozenset(below[0]), frozenset(below[1])))
        return found

    old_decisions = {(a, b): node for node, a, b in sides(old)}
    for node, a, b in sides(new):
        if (a, b) in old_decisions:
            assert carried[node] and np.array_equal(mapped[node], weights[old_decisions[a, b]])
        elif (b, a) in old_decisions:
            assert carried[node] and np.array_equal(mapped[node], -weights[old_decisions[b, a]])
        else:
            assert not carried[node] and not mapped[node].any()


def test_fitting_brings_a_rebuilt_tree_towards_the_old_distribution():
    rng = np.random.default_rng(2)
    counts = rng.integers(1, 1000, size=60)
    old = HuffmanTree.from_counts(counts)
    weights = rng.standard_normal((old.n_inner, 6)).astype(np.float32)
    new = BinaryTree.balanced(60)
    hidden = rng.standard_normal((400, 6)).astype(np.float32)
    start, _ = map_inner_vectors(old, weights, new)
    fitted, report = fit_inner_vectors(old, weights, new, hidden, initial=start, iterations=50)
    assert report["final_loss"] < report["initial_loss"]

    def mean_kl(vectors, rows):
        p = np.exp(np.array([reference.all_leaf_log_probs(h, weights, old) for h in rows]))
        q = np.exp(np.array([reference.all_leaf_log_probs(h, vectors, new) for h in rows]))
        return float(np.mean(np.sum(p * np.log(p / q), axis=1)))

    held_out = rng.standard_normal((50, 6)).astype(np.float32)
    assert mean_kl(fitted, held_out) < 0.5 * mean_kl(start, held_out)
