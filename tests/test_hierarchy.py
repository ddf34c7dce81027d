"""Balanced trees and user hierarchies (parent arrays, (child, parent) edges)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hsmcy import reference
from hsmcy.tree import BinaryTree


# ------------------------------------------------------------------ strategies
@st.composite
def hierarchies(draw, max_nodes=40):
    """A random rooted tree as a parent array, node ids shuffled, root anywhere."""
    n_nodes = draw(st.integers(1, max_nodes))
    # node i > 0 hangs below a random earlier node: always a tree rooted at 0
    attach = [draw(st.integers(0, i - 1)) for i in range(1, n_nodes)]
    permutation = np.array(draw(st.permutations(range(n_nodes))), dtype=np.int64)
    parents = np.full(n_nodes, -1, dtype=np.int64)
    for i, above in enumerate(attach, start=1):
        parents[permutation[i]] = permutation[above]
    return parents


def leaf_sets(parents):
    """Original node -> set of childless nodes below it (including itself)."""
    n_nodes = len(parents)
    has_children = np.zeros(n_nodes, dtype=bool)
    has_children[parents[parents >= 0]] = True
    below = {node: set() for node in range(n_nodes)}
    for leaf in np.flatnonzero(~has_children):
        node = int(leaf)
        while node >= 0:
            below[node].add(int(leaf))
            node = int(parents[node])
    return below, np.flatnonzero(~has_children)


def leaves_below_prefix(tree, nodes, codes):
    """Leaves whose path starts with the given (nodes, codes) prefix."""
    found = set()
    for leaf in range(tree.n_leaves):
        leaf_nodes, leaf_codes = tree.path(leaf)
        if len(leaf_nodes) >= len(nodes) and np.array_equal(leaf_nodes[:len(nodes)], nodes) \
                and np.array_equal(leaf_codes[:len(codes)], codes):
            found.add(leaf)
    return found


def common_prefix(tree, leaves):
    paths = [tree.path(leaf) for leaf in leaves]
    length = min(len(nodes) for nodes, _ in paths)
    for k in range(length):
        if len({(int(nodes[k]), int(codes[k])) for nodes, codes in paths}) > 1:
            length = k
            break
    nodes, codes = paths[0]
    return nodes[:length], codes[:length]


def check_leaf_probabilities(tree, seed):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=5)
    inner = rng.normal(size=(max(tree.n_inner, 1), 5))
    total = np.exp(reference.all_leaf_log_probs(hidden, inner, tree)).sum()
    assert total == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------ balanced
@given(st.integers(1, 300))
def test_balanced_is_full_and_balanced(n_leaves):
    tree = BinaryTree.balanced(n_leaves)
    tree.validate()
    assert tree.n_leaves == n_leaves
    if n_leaves > 1:
        low = int(np.floor(np.log2(n_leaves)))
        assert set(np.unique(tree.path_lengths)) <= {low, low + 1}
        assert tree.path_nodes[0] == n_leaves - 2  # root numbered as in a Huffman tree
    check_leaf_probabilities(tree, n_leaves)


def test_balanced_power_of_two_is_perfect():
    assert np.all(BinaryTree.balanced(64).path_lengths == 6)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("4", TypeError)])
def test_balanced_bad_input(bad, error):
    with pytest.raises(error, match="n_leaves"):
        BinaryTree.balanced(bad)


# ------------------------------------------------------------------ from_parents
@settings(max_examples=150, deadline=None)
@given(hierarchies(), st.integers(0, 2**32 - 1))
def test_from_parents_properties(parents, seed):
    rng = np.random.default_rng(seed)
    below, childless = leaf_sets(parents)
    counts = rng.integers(0, 20, size=len(childless))
    tree = BinaryTree.from_parents(parents, counts=counts)
    tree.validate()  # full binary, prefix-free, one root
    assert tree.n_leaves == len(childless)
    check_leaf_probabilities(tree, seed)
    # classes are the childless nodes in increasing order; each original group of
    # classes (the leaves below any original node) is exactly one subtree
    class_of = {int(node): w for w, node in enumerate(childless)}
    for node, leaves in below.items():
        classes = {class_of[leaf] for leaf in leaves}
        if len(classes) < 2:
            continue
        nodes, codes = common_prefix(tree, sorted(classes))
        assert leaves_below_prefix(tree, nodes, codes) == classes


@settings(max_examples=80, deadline=None)
@given(hierarchies())
def test_strictly_binary_hierarchy_keeps_its_depths(parents):
    """Where every inner node already has two children, nothing is merged or collapsed."""
    n_children = np.bincount(parents[parents >= 0], minlength=len(parents))
    if np.any(n_children == 1) or np.any(n_children > 2):
        return
    _, childless = leaf_sets(parents)
    tree = BinaryTree.from_parents(parents)
    depth = np.zeros(len(parents), dtype=int)
    for leaf in childless:
        node = leaf
        while parents[node] >= 0:
            depth[leaf] += 1
            node = parents[node]
    assert np.array_equal(tree.path_lengths, depth[childless])


def test_chains_are_collapsed_and_wide_nodes_binarised_by_counts():
    # root(0) -> a(1) -> b(2) -> {x(3), y(4), z(5)}; chain 0-1-2 collapses
    parents = np.array([-1, 0, 1, 2, 2, 2])
    tree = BinaryTree.from_parents(parents, leaves=[3, 4, 5], counts=[10, 1, 1])
    assert tree.n_leaves == 3 and tree.n_inner == 2
    assert list(tree.path_lengths) == [1, 2, 2]  # the heavy class sits next to the root
    tree = BinaryTree.from_parents(parents, leaves=[3, 4, 5], counts=[1, 1, 10])
    assert list(tree.path_lengths) == [2, 2, 1]


def test_single_class_hierarchy():
    tree = BinaryTree.from_parents(np.array([-1, 0, 1]))
    assert tree.n_leaves == 1 and len(tree.path_nodes) == 0


def test_custom_leaf_order():
    parents = np.array([-1, 0, 0, 0])
    tree = BinaryTree.from_parents(parents, leaves=[3, 1, 2], counts=[5, 1, 1])
    assert tree.path_lengths[0] == 1  # class 0 is node 3, the heaviest


@pytest.mark.parametrize("parents, leaves, match", [
    ([-1, 0, 1, 2, 1], None, None),  # valid control
    ([1, 2, 0], None, "cycle"),
    ([-1, 2, 3, 1], None, "cycle"),
    ([-1, -1, 0, 1], None, "2 roots"),
    ([-1, 0, 7], None, "parents\\[2\\]"),
    ([-1, 0, -5], None, "parents\\[2\\]"),
    ([-1, 0, 0, 1], [2, 3, 1], "has children"),
    ([-1, 0, 0, 1], [2], "not classes"),
    ([-1, 0, 0], [1, 1], "twice"),
    ([-1, 0, 0], [1, 9], "node ids"),
])
def test_from_parents_errors(parents, leaves, match):
    if match is None:
        BinaryTree.from_parents(np.array(parents), leaves).validate()
        return
    with pytest.raises(ValueError, match=match):
        BinaryTree.from_parents(np.array(parents), leaves)


def test_from_parents_type_errors():
    with pytest.raises(TypeError, match="parents"):
        BinaryTree.from_parents(np.array([-1.0, 0.0]))
    with pytest.raises(ValueError, match="counts"):
        BinaryTree.from_parents(np.array([-1, 0, 0]), counts=[1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        BinaryTree.from_parents(np.array([-1, 0, 0]), counts=[1, -2])


# ------------------------------------------------------------------ from_edges
TAXONOMY = [
    ("dog", "mammal"), ("cat", "mammal"), ("cow", "mammal"), ("mammal", "animal"),
    ("eagle", "bird"), ("bird", "animal"), ("trout", "animal"), ("animal", "thing"), ("rock", "thing"),
]


def test_from_edges_taxonomy():
    tree = BinaryTree.from_edges(TAXONOMY)
    tree.validate()
    assert tree.labels == ["dog", "cat", "cow", "eagle", "trout", "rock"]
    # "rock" is alone under the root; the animals form one subtree, the mammals another
    assert tree.path_lengths[tree.labels.index("rock")] == 1
    for group in (["dog", "cat", "cow"], ["dog", "cat", "cow", "eagle", "trout"]):
        classes = {tree.labels.index(name) for name in group}
        assert leaves_below_prefix(tree, *common_prefix(tree, sorted(classes))) == classes
    check_leaf_probabilities(tree, 0)


def test_from_edges_labels_and_counts():
    labels = ["rock", "trout", "eagle", "cow", "cat", "dog"]
    tree = BinaryTree.from_edges(TAXONOMY, labels=labels, counts={"dog": 100, "cat": 1, "cow": 1})
    assert tree.labels == labels
    # within "mammal", dog is heaviest and gets the short branch
    assert tree.path_lengths[labels.index("dog")] < tree.path_lengths[labels.index("cat")]
    same = BinaryTree.from_edges(TAXONOMY, labels=labels, counts=[0, 0, 0, 1, 1, 100])
    assert np.array_equal(same.path_lengths, tree.path_lengths)


@pytest.mark.parametrize("edges, labels, match", [
    (TAXONOMY + [("thing", "dog")], None, "cycle"),
    (TAXONOMY + [("x", "x")], None, "cycle"),
    (TAXONOMY + [("stone", "mineral")], None, "2 roots"),
    (TAXONOMY + [("dog", "pet")], None, "two parents"),
    (TAXONOMY, ["dog", "cat", "cow", "eagle", "trout", "rock", "unicorn"], "missing from the hierarchy"),
    (TAXONOMY, ["dog", "cat", "cow", "eagle", "trout"], "not classes.*'rock'"),
    (TAXONOMY, ["dog", "cat", "cow", "eagle", "trout", "rock", "mammal"], "'mammal' has children"),
    ([], None, "empty"),
    ([("a", "b", "c")], None, "pair"),
])
def test_from_edges_errors(edges, labels, match):
    with pytest.raises(ValueError, match=match):
        BinaryTree.from_edges(edges, labels=labels)


def test_from_edges_unknown_count_label_and_bad_types():
    with pytest.raises(ValueError, match="unicorn"):
        BinaryTree.from_edges(TAXONOMY, counts={"unicorn": 3})
    with pytest.raises(TypeError, match="edges"):
        BinaryTree.from_edges("dog mammal")
    with pytest.raises(TypeError, match="hashable"):
        BinaryTree.from_edges([(["dog"], "mammal")])


def test_repeated_edge_is_harmless():
    tree = BinaryTree.from_edges(TAXONOMY + [("dog", "mammal")])
    assert tree.n_leaves == 6


def test_large_flat_hierarchy_is_a_huffman_tree():
    """One root with many classes: binarisation is then exactly Huffman by counts."""
    from hsmcy.tree import HuffmanTree
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 1000, size=5000)
    parents = np.concatenate([[-1], np.zeros(5000, dtype=np.int64)])
    tree = BinaryTree.from_parents(parents, counts=counts)
    huffman = HuffmanTree.from_counts(counts)
    assert tree.weighted_path_length(counts) == huffman.weighted_path_length(counts)
