"""Tree pictures: the layout (plain NumPy) and the drawing (matplotlib, when installed)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hsmcy
from hsmcy.plotting import draw_tree, tree_edges, tree_layout


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=40))
def test_layout_places_every_node_once_parents_between_children(counts):
    tree = hsmcy.HuffmanTree.from_counts(counts)
    positions = tree_layout(tree)
    edges = tree_edges(tree)
    assert len(edges) == 2 * tree.n_inner  # a full binary tree
    assert len(positions) == tree.n_leaves + tree.n_inner
    leaf_xs = sorted(x for (kind, _), (x, _) in positions.items() if kind == "leaf")
    assert leaf_xs == list(range(tree.n_leaves))  # leaves side by side, no overlap
    children = {}
    for node, code, child in edges:
        children.setdefault(node, {})[code] = child
    for node, pair in children.items():
        x, depth = positions[("inner", node)]
        (x0, d0), (x1, d1) = positions[pair[0]], positions[pair[1]]
        assert x0 < x < x1  # branch 0 on the left, the parent above the middle
        assert d0 == d1 == depth + 1
    for leaf in range(tree.n_leaves):
        assert positions[("leaf", leaf)][1] == tree.path_lengths[leaf]  # a leaf sits at its depth


def test_layout_of_one_leaf():
    tree = hsmcy.HuffmanTree.from_counts([3])
    assert tree_layout(tree) == {("leaf", 0): (0.0, 0)}


def test_draw_tree_shows_labels_and_branch_probabilities(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree = hsmcy.HuffmanTree.from_counts([45, 30, 15, 10])
    vectors = np.array([[1.2, 0.3], [-0.4, 0.9], [0.8, -0.6]])
    hidden = np.array([0.5, -1.0])
    ax = draw_tree(tree, labels=["the", "cat", "sat", "mat"], hidden=hidden, inner_node_vectors=vectors,
                   highlight=2)
    texts = [text.get_text() for text in ax.texts]
    assert {"n0", "n1", "n2"} <= set(texts)
    probabilities = np.exp(hsmcy.reference.all_leaf_log_probs(hidden, vectors, tree))
    for word, p in zip(["the", "cat", "sat", "mat"], probabilities):
        assert f"{word}\nP = {p:.4f}" in texts
    # the two branches of the root, with their probabilities
    root_p0 = hsmcy.reference.sigmoid(vectors[2] @ hidden)
    assert f"code 0\np = {root_p0:.3f}" in texts and f"code 1\np = {1 - root_p0:.3f}" in texts
    path = tmp_path / "tree.png"
    ax.figure.savefig(path)
    plt.close(ax.figure)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_draw_tree_rejects_mismatched_input():
    pytest.importorskip("matplotlib")
    tree = hsmcy.HuffmanTree.from_counts([3, 2, 1])
    with pytest.raises(ValueError, match="labels"):
        draw_tree(tree, labels=["a", "b"])
    with pytest.raises(ValueError, match="both"):
        draw_tree(tree, hidden=np.zeros(2))
    with pytest.raises(ValueError, match="inner_node_vectors"):
        draw_tree(tree, hidden=np.zeros(2), inner_node_vectors=np.zeros((2, 3)))


def test_make_figures_script_draws_the_readme_picture(tmp_path):
    """docs/make_figures.py (which drew docs/hs_tree.png) runs and draws the worked example's tree."""
    pytest.importorskip("matplotlib")
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "docs" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("make_figures", script)
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    model = make_figures.worked_example_model()
    assert model.wv.index_to_key == ["the", "cat", "sat", "mat"]
    make_figures.main(str(tmp_path))
    drawn = (tmp_path / "hs_tree.png").read_bytes()
    assert drawn[:4] == b"\x89PNG" and len(drawn) > 10_000
