"""Binary trees for hierarchical softmax, stored as flat arrays.

Every class (a vocabulary word, a label) is a *leaf*; the ``n_leaves - 1`` *inner
nodes* each own one vector.  A leaf is identified by its root-to-leaf *path*:

* ``path_nodes[path_offsets[w]:path_offsets[w + 1]]`` -- the inner nodes visited,
  root first (int32, values in ``0 .. n_inner - 1``);
* ``path_codes[...]`` -- at each of those nodes, the branch taken towards the leaf
  (uint8, 0 or 1).

These are exactly gensim's per-word ``point`` and ``code`` arrays, laid end to end so
that a kernel can walk any path without touching a Python object.  As in gensim and
word2vec.c, the root is inner node ``n_leaves - 2`` for a Huffman tree, and the
binary *target* at a node is ``1 - code``: the model predicts "code 0" with
probability ``sigmoid(h . v)``.
"""
from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["BinaryTree", "HuffmanTree"]


class BinaryTree:
    """A full binary tree over ``n_leaves`` classes, as flat path arrays.

    Parameters
    ----------
    path_nodes : ndarray of int32
        Inner-node ids along every leaf's path, root first, all paths concatenated.
    path_codes : ndarray of uint8
        Branch (0 or 1) taken at each of those nodes.
    path_offsets : ndarray of int64, shape (n_leaves + 1,)
        Leaf ``w``'s path occupies ``[path_offsets[w], path_offsets[w + 1])``.
    validate : bool, default True
        Check that the arrays describe one full binary tree (see :meth:`validate`).
        Kernels index vectors with these arrays, so only skip this for arrays that
        this module built itself.
    """

    def __init__(self, path_nodes, path_codes, path_offsets, validate=True):
        self.path_nodes = np.ascontiguousarray(path_nodes, dtype=np.int32)
        self.path_codes = np.ascontiguousarray(path_codes, dtype=np.uint8)
        self.path_offsets = np.ascontiguousarray(path_offsets, dtype=np.int64)
        if validate:
            self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def n_leaves(self) -> int:
        """Number of classes (leaves)."""
        return len(self.path_offsets) - 1

    @property
    def n_inner(self) -> int:
        """Number of inner nodes, i.e. rows of the inner-node vector matrix."""
        return max(self.n_leaves - 1, 0)

    @property
    def path_lengths(self) -> np.ndarray:
        """Depth of every leaf (number of inner nodes on its path)."""
        return np.diff(self.path_offsets)

    @property
    def max_depth(self) -> int:
        """Length of the longest path."""
        return int(self.path_lengths.max()) if self.n_leaves else 0

    def path(self, leaf: int):
        """Return ``(nodes, codes)`` of one leaf's root-to-leaf path (views, not copies)."""
        if not 0 <= leaf < self.n_leaves:
            raise IndexError(f"leaf {leaf} out of range for a tree with {self.n_leaves} leaves")
        start, end = self.path_offsets[leaf], self.path_offsets[leaf + 1]
        return self.path_nodes[start:end], self.path_codes[start:end]

    def weighted_path_length(self, counts) -> int:
        """``sum(count x depth)`` -- what a Huffman tree minimises."""
        return int(np.dot(np.asarray(counts, dtype=np.int64), self.path_lengths))

    def depth_statistics(self) -> dict:
        """Minimum, mean and maximum leaf depth."""
        depths = self.path_lengths
        if len(depths) == 0:
            return {"min": 0, "mean": 0.0, "max": 0}
        return {"min": int(depths.min()), "mean": float(depths.mean()), "max": int(depths.max())}

    # ----------------------------------------------------- top-down structure
    # Derived once from the flat paths and cached: the kernels that walk the tree
    # from the root (full distributions, top-k search, sampling) need each inner
    # node's two children, which the root-to-leaf paths only hold implicitly.
    @property
    def root(self) -> int:
        """Id of the root inner node (``-1`` for a one-leaf tree, which has none)."""
        return int(self.path_nodes[0]) if self.n_leaves > 1 else -1

    @property
    def children(self) -> np.ndarray:
        """``(n_inner, 2)`` int32: ``children[n, b]`` is where branch ``b`` of inner node ``n`` leads.

        An inner node is given by its id (``>= 0``); leaf ``w`` is encoded as
        ``-1 - w`` (always negative), so one int32 says both what and which.
        """
        cached = getattr(self, "_children", None)
        if cached is None:
            nodes, offsets = self.path_nodes, self.path_offsets
            # The child reached from path position k is the next node on the path,
            # or the leaf itself at the path's end.
            child = np.empty(len(nodes), dtype=np.int32)
            child[:-1] = nodes[1:]
            child[offsets[1:] - 1] = -1 - np.arange(self.n_leaves, dtype=np.int32)
            cached = np.full((self.n_inner, 2), np.iinfo(np.int32).min, dtype=np.int32)
            cached[nodes, self.path_codes] = child
            cached.setflags(write=False)
            self._children = cached
        return cached

    @property
    def inner_nodes_top_down(self) -> np.ndarray:
        """Inner-node ids (int32) ordered by depth, so every node comes after its parent."""
        cached = getattr(self, "_inner_nodes_top_down", None)
        if cached is None:
            depth = np.zeros(self.n_inner, dtype=np.int64)
            position_in_path = np.arange(len(self.path_nodes)) - np.repeat(self.path_offsets[:-1], self.path_lengths)
            depth[self.path_nodes] = position_in_path
            cached = np.argsort(depth, kind="stable").astype(np.int32)
            cached.setflags(write=False)
            self._inner_nodes_top_down = cached
        return cached

    # ------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ``ValueError`` unless the arrays describe one full binary tree.

        Checked: offsets start at 0, never decrease and end at ``len(path_nodes)``;
        node ids lie in ``[0, n_inner)``; codes are 0 or 1; all paths start at the
        same root; every (node, branch) pair leads to exactly one child, every inner
        node except the root has exactly one parent, and no leaf's path is a prefix
        of another's (prefix-free codes).
        """
        nodes, codes, offsets = self.path_nodes, self.path_codes, self.path_offsets
        n_leaves = len(offsets) - 1
        if n_leaves < 1:
            raise ValueError("tree: path_offsets must describe at least one leaf")
        if offsets[0] != 0 or offsets[-1] != len(nodes) or np.any(np.diff(offsets) < 0):
            raise ValueError("tree: path_offsets must start at 0, never decrease and end at len(path_nodes)")
        if len(codes) != len(nodes):
            raise ValueError(f"tree: path_codes has {len(codes)} entries but path_nodes has {len(nodes)}")
        n_inner = n_leaves - 1
        if n_leaves == 1:
            if len(nodes):
                raise ValueError("tree: a one-leaf tree has no inner nodes, so its path must be empty")
            return
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n_inner):
            raise ValueError(f"tree: path_nodes must lie in [0, {n_inner}) (n_leaves - 1 inner nodes)")
        if np.any(codes > 1):
            raise ValueError("tree: path_codes must be 0 or 1")
        lengths = np.diff(offsets)
        if np.any(lengths == 0):
            raise ValueError("tree: every leaf of a tree with 2+ leaves needs a non-empty path")
        first_nodes = nodes[offsets[:-1]]
        root = first_nodes[0]
        if np.any(first_nodes != root):
            raise ValueError("tree: all paths must start at the same root node")
        # The child reached from position k is the next node on the path, or the leaf
        # itself at a path's end.  Leaves are numbered n_inner .. n_inner + n_leaves - 1.
        children = np.empty(len(nodes), dtype=np.int64)
        children[:-1] = nodes[1:]
        ends = offsets[1:] - 1
        children[ends] = n_inner + np.arange(n_leaves)
        edge_keys = nodes.astype(np.int64) * 2 + codes
        unique_keys, first = np.unique(edge_keys, return_index=True)
        # Same (node, branch) must always lead to the same child ...
        inverse = np.searchsorted(unique_keys, edge_keys)
        if np.any(children != children[first][inverse]):
            raise ValueError("tree: a (node, code) pair leads to two different children: codes are not prefix-free")
        # ... and a full binary tree has exactly 2 * n_inner edges, each child once.
        if len(unique_keys) != 2 * n_inner:
            raise ValueError(
                f"tree: expected {2 * n_inner} distinct (node, code) edges for {n_leaves} leaves, "
                f"found {len(unique_keys)}: not a full binary tree"
            )
        edge_children = children[first]
        if len(np.unique(edge_children)) != len(edge_children) or np.any(edge_children == root):
            raise ValueError("tree: a node has two parents (or the root has one): not a tree")

    # ---------------------------------------------------------------- export
    def to_gensim_codes(self):
        """Per-leaf ``(codes, points)`` lists in gensim's dtypes (uint8, uint32)."""
        codes, points = [], []
        for leaf in range(self.n_leaves):
            nodes, leaf_codes = self.path(leaf)
            codes.append(np.array(leaf_codes, dtype=np.uint8))
            points.append(np.array(nodes, dtype=np.uint32))
        return codes, points

    @classmethod
    def from_gensim_codes(cls, codes, points):
        """Build a tree from gensim's per-word ``code`` and ``point`` arrays (validated)."""
        if len(codes) != len(points):
            raise ValueError(f"tree: {len(codes)} codes but {len(points)} points")
        lengths = np.fromiter((len(c) for c in codes), dtype=np.int64, count=len(codes))
        point_lengths = np.fromiter((len(p) for p in points), dtype=np.int64, count=len(points))
        if np.any(lengths != point_lengths):
            word = int(np.flatnonzero(lengths != point_lengths)[0])
            raise ValueError(f"tree: word {word} has {lengths[word]} code bits but {point_lengths[word]} points")
        offsets = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        nodes = np.concatenate([np.asarray(p, dtype=np.int64) for p in points]) if len(points) else np.zeros(0)
        flat_codes = np.concatenate([np.asarray(c, dtype=np.int64) for c in codes]) if len(codes) else np.zeros(0)
        if len(nodes) and (nodes.min() < 0 or nodes.max() > np.iinfo(np.int32).max):
            raise ValueError("tree: point values out of range")
        if len(flat_codes) and (flat_codes.min() < 0 or flat_codes.max() > 1):
            raise ValueError("tree: code values must be 0 or 1")
        return cls(nodes, flat_codes, offsets)

    def __repr__(self):
        stats = self.depth_statistics()
        return (f"{type(self).__name__}(n_leaves={self.n_leaves}, depth min/mean/max="
                f"{stats['min']}/{stats['mean']:.2f}/{stats['max']})")


class HuffmanTree(BinaryTree):
    """Huffman tree: frequent classes get short paths, minimising ``sum(count x depth)``."""

    @classmethod
    def from_counts(cls, counts) -> "HuffmanTree":
        """Build the Huffman tree of ``counts`` in O(V log V) (a sort, then linear merging).

        Parameters
        ----------
        counts : array_like of non-negative integers, shape (V,)
            Leaf ``w`` gets the weight ``counts[w]``.  Order is free; leaf ids stay the
            indices into ``counts``.

        Returns
        -------
        HuffmanTree
            Inner node ``i`` is the one created by the ``i``-th merge, so the root is
            inner node ``V - 2`` (gensim's numbering); the lighter child of each merge
            is branch 0.
        """
        counts = np.asarray(counts)
        if counts.ndim != 1:
            raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
        if len(counts) == 0:
            raise ValueError("counts is empty: a tree needs at least one leaf")
        if counts.dtype.kind not in "iub":
            if counts.dtype.kind == "f" and np.all(np.isfinite(counts)) and np.all(counts == np.round(counts)):
                counts = counts.astype(np.int64)
            else:
                raise TypeError(f"counts must be integers, got dtype {counts.dtype}")
        counts = counts.astype(np.int64)
        if counts.min() < 0:
            raise ValueError("counts must be non-negative")
        # Leaves in ascending weight order; ties keep the lower id first.
        order = np.argsort(counts, kind="stable").astype(np.int64)
        n_leaves = len(counts)
        parent = np.empty(2 * n_leaves - 1, dtype=np.int64)
        branch = np.empty(2 * n_leaves - 1, dtype=np.uint8)
        _kernels.huffman_merge(counts, order, parent, branch)
        # Merge i creates node V + i from lighter nodes, so descending node ids run top-down.
        top_down = np.arange(2 * n_leaves - 2, -1, -1, dtype=np.int64)
        path_offsets, path_nodes, path_codes = _kernels.paths_from_parents(parent, branch, n_leaves, top_down)
        return cls(path_nodes, path_codes, path_offsets, validate=False)
