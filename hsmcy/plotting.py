"""Pictures of hierarchical-softmax trees (matplotlib, an optional dependency).

:func:`tree_layout` computes where every node goes (plain NumPy, no matplotlib);
:func:`draw_tree` draws it: inner nodes as circles named ``n<id>``, leaves as boxes
with their labels, each edge marked with its code bit, and optionally the branch
probabilities ``sigmoid(+-h . v)`` for a hidden vector and one leaf's path
highlighted.  Install matplotlib with ``pip install "hsmcy[plot]"``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["tree_edges", "tree_layout", "draw_tree"]


def tree_edges(tree):
    """Every edge of ``tree`` once, as ``(parent_inner_node, code, child)``.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
        The tree (Huffman or any other).

    Returns
    -------
    list of (int, int, tuple)
        ``child`` is ``("inner", id)`` or ``("leaf", id)``.  Sorted by parent, then code.
    """
    edges = {}
    for leaf in range(tree.n_leaves):
        nodes, codes = tree.path(leaf)
        for position, (node, code) in enumerate(zip(nodes, codes)):
            child = ("inner", int(nodes[position + 1])) if position + 1 < len(nodes) else ("leaf", leaf)
            edges[(int(node), int(code))] = child
    return [(node, code, child) for (node, code), child in sorted(edges.items())]


def tree_layout(tree):
    """Positions for drawing: leaves left to right in branch order, parents above the middle of their children.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
        The tree to lay out.

    Returns
    -------
    dict
        ``{("inner", id) or ("leaf", id): (x, depth)}`` with the root at depth 0,
        branch 0 to the left of branch 1, leaves at ``x = 0, 1, 2, ...``.
    """
    if tree.n_leaves == 1:
        return {("leaf", 0): (0.0, 0)}
    children = {}
    for node, code, child in tree_edges(tree):
        children.setdefault(node, [None, None])[code] = child
    root = int(tree.path_nodes[0])
    positions = {}
    next_leaf_x = 0.0
    # Iterative depth-first walk: a node is placed after both of its children.
    stack = [(("inner", root), 0, False)]
    while stack:
        key, depth, children_done = stack.pop()
        if key[0] == "leaf":
            positions[key] = (next_leaf_x, depth)
            next_leaf_x += 1.0
            continue
        left, right = children[key[1]]
        if children_done:
            positions[key] = ((positions[left][0] + positions[right][0]) / 2.0, depth)
            continue
        stack.append((key, depth, True))
        stack.append((right, depth + 1, False))
        stack.append((left, depth + 1, False))
    return positions


def draw_tree(tree, labels=None, ax=None, hidden=None, inner_node_vectors=None, highlight=None,
              title=None, leaf_probabilities=True):
    """Draw a hierarchical-softmax tree with matplotlib.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
        The tree to draw.
    labels : sequence of str, optional
        A name per leaf (default: the leaf ids).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure sized to the tree).
    hidden, inner_node_vectors : array_like, optional
        Given both, every edge also shows the probability of taking it,
        ``sigmoid(h . v)`` for code 0 and ``1 - sigmoid(h . v)`` for code 1, and
        (with ``leaf_probabilities``) every leaf its ``P(leaf | h)``.
    highlight : int, optional
        A leaf whose root-to-leaf path is drawn in bold.
    title : str, optional
        Axes title.
    leaf_probabilities : bool, default True
        Write ``P(leaf | h)`` under each leaf when ``hidden`` is given.

    Returns
    -------
    matplotlib.axes.Axes
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError('draw_tree needs matplotlib: pip install "hsmcy[plot]"') from error
    from . import reference

    labels = [str(i) for i in range(tree.n_leaves)] if labels is None else [str(x) for x in labels]
    if len(labels) != tree.n_leaves:
        raise ValueError(f"labels has {len(labels)} entries for a tree with {tree.n_leaves} leaves")
    if (hidden is None) != (inner_node_vectors is None):
        raise ValueError("give both hidden and inner_node_vectors, or neither")
    branch_probability = None
    if hidden is not None:
        hidden = np.asarray(hidden, dtype=np.float64)
        inner_node_vectors = np.asarray(inner_node_vectors, dtype=np.float64)
        if inner_node_vectors.ndim != 2 or inner_node_vectors.shape[0] < tree.n_inner \
                or inner_node_vectors.shape[1] != hidden.shape[-1]:
            raise ValueError(f"inner_node_vectors must have shape ({tree.n_inner}, {hidden.shape[-1]}), "
                             f"got {inner_node_vectors.shape}")
        branch_probability = reference.sigmoid(inner_node_vectors[:tree.n_inner] @ hidden)  # P(code 0)
    highlighted_edges = set()
    if highlight is not None:
        nodes, codes = tree.path(highlight)
        highlighted_edges = {(int(n), int(c)) for n, c in zip(nodes, codes)}

    positions = tree_layout(tree)
    depth = max(y for _, y in positions.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.2 * tree.n_leaves, 4.0), 1.6 * depth + 2.0))
    for node, code, child in tree_edges(tree):
        (x0, y0), (x1, y1) = positions[("inner", node)], positions[child]
        bold = (node, code) in highlighted_edges
        ax.plot([x0, x1], [-y0, -y1], color="#c0392b" if bold else "#555555", linewidth=3.0 if bold else 1.2,
                zorder=1)
        text = f"code {code}"
        if branch_probability is not None:
            p = branch_probability[node] if code == 0 else 1.0 - branch_probability[node]
            text += f"\np = {p:.3f}"
        ax.text((x0 + x1) / 2 + (-0.08 if code == 0 else 0.08), -(y0 + y1) / 2, text,
                ha="right" if code == 0 else "left", va="center", fontsize=9,
                color="#c0392b" if bold else "#333333")
    for key, (x, y) in positions.items():
        if key[0] == "inner":
            ax.scatter([x], [-y], s=900, color="#d6eaf8", edgecolors="#1f618d", zorder=2)
            ax.text(x, -y, f"n{key[1]}", ha="center", va="center", fontsize=10, zorder=3)
        else:
            leaf = key[1]
            text = labels[leaf]
            if branch_probability is not None and leaf_probabilities:
                text += f"\nP = {np.exp(reference.log_prob(hidden, inner_node_vectors, *tree.path(leaf))):.4f}"
            bold = highlight is not None and leaf == highlight
            ax.text(x, -y, text, ha="center", va="center", fontsize=10, zorder=3,
                    bbox=dict(boxstyle="round,pad=0.4", facecolor="#fdebd0" if bold else "#fef9e7",
                              edgecolor="#c0392b" if bold else "#b9770e", linewidth=2.0 if bold else 1.0))
    xs = [x for x, _ in positions.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(-depth - 0.6, 0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)
    return ax
