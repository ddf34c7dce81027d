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

from . import _tree

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
        # Checked before they are converted: 2**32 must not become node 0, nor 257 code 1.
        # Kept read-only, in arrays no caller holds: kernels index with them long after
        # validate() (score, predict), so an edit in place must not be possible.
        self._path_nodes = _frozen(checked_integers(path_nodes, "tree: path_nodes", np.int32), path_nodes)
        self._path_codes = _frozen(checked_integers(path_codes, "tree: path_codes", np.uint8), path_codes)
        self._path_offsets = _frozen(checked_integers(path_offsets, "tree: path_offsets", np.int64), path_offsets)
        if validate:
            self.validate()

    @property
    def path_nodes(self) -> np.ndarray:
        """Inner-node ids along every leaf's path (int32, read-only)."""
        return self._path_nodes

    @property
    def path_codes(self) -> np.ndarray:
        """Branch taken at each node of ``path_nodes`` (uint8, read-only)."""
        return self._path_codes

    @property
    def path_offsets(self) -> np.ndarray:
        """Leaf ``w``'s path is ``[path_offsets[w], path_offsets[w + 1])`` (int64, read-only)."""
        return self._path_offsets

    def __setstate__(self, state):
        # An unpickled array is writeable again: freeze the copies the pickle made.
        self.__dict__.update(state)
        for name in ("_path_nodes", "_path_codes", "_path_offsets"):
            setattr(self, name, _frozen(getattr(self, name), None))

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
        """Return ``(nodes, codes)`` of one leaf's root-to-leaf path (views, not copies).

        Parameters
        ----------
        leaf : int
            Leaf (class, word) id in ``[0, n_leaves)``.

        Returns
        -------
        nodes : ndarray of int32
            Inner nodes from the root down: gensim's ``point``.
        codes : ndarray of uint8
            The branch taken at each: gensim's ``code`` (target ``1 - code``).
        """
        if not 0 <= leaf < self.n_leaves:
            raise IndexError(f"leaf {leaf} out of range for a tree with {self.n_leaves} leaves")
        start, end = self.path_offsets[leaf], self.path_offsets[leaf + 1]
        return self.path_nodes[start:end], self.path_codes[start:end]

    def weighted_path_length(self, counts) -> int:
        """``sum(count x depth)`` -- what a Huffman tree minimises.

        Parameters
        ----------
        counts : array_like of int, shape (n_leaves,)
            Weight of every leaf.
        """
        counts = check_counts(counts, self.n_leaves)
        depths = self.path_lengths
        if self.max_depth and int(counts.sum()) > _INT64_MAX // self.max_depth:
            return int(np.dot(counts.astype(object), depths))   # would overflow int64: Python ints
        return int(np.dot(counts, depths))

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
        """Build a tree from gensim's per-word ``code`` and ``point`` arrays (validated).

        Parameters
        ----------
        codes : sequence of array_like of 0/1
            ``wv.expandos["code"]`` of a gensim hs=1 model: each word's branch bits.
        points : sequence of array_like of int
            ``wv.expandos["point"]``: each word's inner-node ids, root first.
        """
        if len(codes) != len(points):
            raise ValueError(f"tree: {len(codes)} codes but {len(points)} points")
        lengths = np.fromiter((len(c) for c in codes), dtype=np.int64, count=len(codes))
        point_lengths = np.fromiter((len(p) for p in points), dtype=np.int64, count=len(points))
        if np.any(lengths != point_lengths):
            word = int(np.flatnonzero(lengths != point_lengths)[0])
            raise ValueError(f"tree: word {word} has {lengths[word]} code bits but {point_lengths[word]} points")
        offsets = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Each word's arrays checked before conversion: a uint64 point 2**64 - 1 must not become -1.
        nodes = [checked_integers(p, f"tree: points[{word}]", np.int32, low=0) for word, p in enumerate(points)]
        flat_codes = [checked_integers(c, f"tree: codes[{word}]", np.uint8, high=1) for word, c in enumerate(codes)]
        nodes = np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int32)
        flat_codes = np.concatenate(flat_codes) if flat_codes else np.zeros(0, dtype=np.uint8)
        return cls(nodes, flat_codes, offsets)

    # ------------------------------------------------- balanced trees, user hierarchies
    @classmethod
    def balanced(cls, n_leaves) -> "BinaryTree":
        """A balanced tree over ``n_leaves`` classes: every depth is ``floor`` or ``ceil`` of ``log2(n_leaves)``.

        The shape of a binary heap: heap positions ``1 .. 2n-1``, position ``p`` has the
        children ``2p`` (branch 0) and ``2p + 1`` (branch 1).  Positions ``1 .. n-1``
        are the inner nodes, ``n .. 2n-1`` the leaves (leaf ``w`` at ``n + w``).  Inner
        node ids count down from the root, so that, as in a Huffman tree, the root is
        inner node ``n_leaves - 2``.  Use it when classes are about equally frequent.

        Parameters
        ----------
        n_leaves : int
            Number of classes, at least 1.
        """
        if isinstance(n_leaves, (bool, np.bool_)) or not isinstance(n_leaves, (int, np.integer)):
            raise TypeError(f"n_leaves must be an integer, got {type(n_leaves).__name__}")
        n_leaves = int(n_leaves)
        if n_leaves < 1:
            raise ValueError(f"n_leaves must be at least 1, got {n_leaves}")
        positions = np.arange(1, 2 * n_leaves, dtype=np.int64)  # heap positions of all nodes

        def node_id(position):
            # leaves n..2n-1 -> 0..n-1; inner 1..n-1 -> n_leaves + (n-1-p), so the root is inner n-2
            return np.where(position >= n_leaves, position - n_leaves, n_leaves + (n_leaves - 1 - position))

        parent = np.full(2 * n_leaves - 1, -1, dtype=np.int64)
        branch = np.zeros(2 * n_leaves - 1, dtype=np.uint8)
        below_root = positions[1:]
        parent[node_id(below_root)] = node_id(below_root // 2)
        branch[node_id(below_root)] = below_root % 2
        return cls._from_binary_parents(parent, branch, n_leaves)

    @classmethod
    def from_parents(cls, parents, leaves=None, counts=None, *, _names=None) -> "BinaryTree":
        """Binary tree from a user hierarchy given as a parent array.

        Parameters
        ----------
        parents : array_like of int, shape (n_nodes,)
            ``parents[i]`` is the parent node of node ``i``, ``-1`` for the one root.
            Nodes may have any number of children.
        leaves : array_like of int, optional
            ``leaves[w]`` is the node that is class ``w``.  Default: the childless
            nodes in increasing node order.  Every childless node must be a class and
            every class must be a childless node.
        counts : array_like of non-negative int, optional
            Weight of each class (e.g. its training frequency); default 1 each.

        Returns
        -------
        BinaryTree
            Leaf ``w`` is class ``w``.  Each node with ``m > 2`` children becomes
            ``m - 1`` binary inner nodes, merged Huffman-style by the summed counts
            below each child (heavy children get short paths); a node with one child
            is collapsed into it.  So the classes below any original node form one
            subtree of the result.  Inner nodes are numbered children-before-parents,
            so the root is inner node ``n_classes - 2`` (as in a Huffman tree).

        Raises
        ------
        ValueError
            Node ids out of range, no root or several roots, a cycle, a childless node
            that is not a class, a class that is not a childless node.
        """
        def name(node):
            return repr(_names[node]) if _names is not None else f"node {node}"

        parents = np.asarray(parents)
        if parents.ndim != 1:
            raise ValueError(f"parents must be one-dimensional, got shape {parents.shape}")
        if parents.dtype.kind not in "iu":
            raise TypeError(f"parents must be integers, got dtype {parents.dtype}")
        n_nodes = len(parents)
        if n_nodes == 0:
            raise ValueError("parents is empty: a hierarchy needs at least one node")
        # Checked before the conversion to int64: a uint64 2**64 - 1 must not become -1, the root.
        parents = checked_integers(parents, "parents", np.int64, low=-1, high=n_nodes - 1,
                                   meaning="a node id or -1 (root)")
        roots = np.flatnonzero(parents < 0)
        on_cycle = _find_cycle_nodes(parents)
        if len(on_cycle):
            shown = ", ".join(name(int(node)) for node in on_cycle[:5])
            raise ValueError(f"the hierarchy has a cycle: {shown}{' ...' if len(on_cycle) > 5 else ''} "
                             "never reach a root")
        if len(roots) != 1:
            shown = ", ".join(name(int(node)) for node in roots[:5])
            raise ValueError(f"the hierarchy has {len(roots)} roots ({shown}{' ...' if len(roots) > 5 else ''}); "
                             "it needs exactly one: add a common parent")
        n_children = np.bincount(parents[parents >= 0], minlength=n_nodes)
        childless = np.flatnonzero(n_children == 0)
        if leaves is None:
            leaves = childless
        else:
            leaves = np.asarray(leaves)
            if leaves.ndim != 1 or (len(leaves) and leaves.dtype.kind not in "iu"):
                raise TypeError("leaves must be a one-dimensional array of node ids")
            if len(leaves) == 0:
                raise ValueError("leaves is empty: a hierarchy needs at least one class")
            leaves = checked_integers(leaves, "leaves", np.int64, low=0, high=n_nodes - 1,
                                      meaning="one of the node ids")
            if len(np.unique(leaves)) != len(leaves):
                raise ValueError("leaves lists a node twice")
            inner = leaves[n_children[leaves] > 0]
            if len(inner):
                raise ValueError(f"class {name(int(inner[0]))} has children in the hierarchy: classes must be its "
                                 "leaves (give the class its own leaf below that node)")
            if len(childless) != len(leaves):
                stray = np.setdiff1d(childless, leaves)
                shown = ", ".join(name(int(node)) for node in stray[:5])
                raise ValueError(f"{len(stray)} leaves of the hierarchy are not classes: {shown}"
                                 f"{' ...' if len(stray) > 5 else ''}")
        n_classes = len(leaves)
        counts = check_counts(counts, n_classes)
        class_of_node = np.full(n_nodes, -1, dtype=np.int64)
        class_of_node[leaves] = np.arange(n_classes)

        # Children lists (CSR), then every node after all of its children: deepest first.
        order = np.argsort(parents, kind="stable")
        child_list = order[np.count_nonzero(parents < 0):]
        child_start = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(n_children, out=child_start[1:])
        depths = _tree.node_depths(parents)
        bottom_up = np.argsort(-depths, kind="stable")

        # Binary tree under construction: leaves 0..n_classes-1, inner n_classes + i.
        n_binary = 2 * n_classes - 1
        binary_parent = np.full(n_binary, -1, dtype=np.int64)
        binary_branch = np.zeros(n_binary, dtype=np.uint8)
        represented_by = np.empty(n_nodes, dtype=np.int64)  # original node -> binary node at its top
        weight = np.empty(n_nodes, dtype=np.int64)          # summed counts below each original node
        next_inner = 0
        for node in bottom_up:
            start, end = child_start[node], child_start[node + 1]
            if start == end:
                represented_by[node] = class_of_node[node]
                weight[node] = counts[class_of_node[node]]
                continue
            children = child_list[start:end]
            weight[node] = weight[children].sum()
            if len(children) == 1:  # a chain: the node is its only child
                represented_by[node] = represented_by[children[0]]
                continue
            # Huffman among the children (leaves of the local merge), by their weights.
            child_weights = np.ascontiguousarray(weight[children])
            local_order = np.argsort(child_weights, kind="stable").astype(np.int64)
            m = len(children)
            local_parent = np.empty(2 * m - 1, dtype=np.int64)
            local_branch = np.empty(2 * m - 1, dtype=np.uint8)
            _tree.huffman_merge(child_weights, local_order, local_parent, local_branch)
            # local node j < m is child j; local node m + i is new inner node next_inner + i
            local_to_binary = np.concatenate([represented_by[children],
                                              n_classes + next_inner + np.arange(m - 1, dtype=np.int64)])
            top = local_to_binary[-1]
            binary_parent[local_to_binary[:-1]] = local_to_binary[local_parent[:-1]]
            binary_branch[local_to_binary[:-1]] = local_branch[:-1]
            represented_by[node] = top
            next_inner += m - 1
        assert next_inner == n_classes - 1
        return cls._from_binary_parents(binary_parent, binary_branch, n_classes)

    @classmethod
    def from_edges(cls, edges, labels=None, counts=None) -> "BinaryTree":
        """Binary tree from a hierarchy given as ``(child, parent)`` pairs, e.g. a label taxonomy.

        Parameters
        ----------
        edges : iterable of (child, parent) pairs of hashable names
            Each child has exactly one parent; the one node that is never a child is
            the root.  Repeating an identical pair is harmless.
        labels : sequence of names, optional
            The classes, in class-id order; each must be a childless node of the
            hierarchy and every childless node must be listed.  Default: the childless
            nodes in order of first appearance in ``edges``.
        counts : sequence of int or dict, optional
            Class weights for the binarisation (default 1 each): one per label, or a
            mapping label -> count (missing labels count 0).

        Returns
        -------
        BinaryTree
            As :meth:`BinaryTree.from_parents`; ``tree.labels`` holds the class names
            in leaf order.
        """
        if isinstance(edges, (str, bytes)):
            raise TypeError("edges must be a sequence of (child, parent) pairs, not a string")
        index = {}
        names = []
        child_ids, parent_ids = [], []

        def node_id(node_name):
            node = index.get(node_name)
            if node is None:
                node = index[node_name] = len(names)
                names.append(node_name)
            return node

        try:
            pairs = list(edges)
        except TypeError:
            raise TypeError("edges must be an iterable of (child, parent) pairs") from None
        for position, pair in enumerate(pairs):
            if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise ValueError(f"edges[{position}] = {pair!r} is not a (child, parent) pair")
            child, parent = pair
            try:
                child_ids.append(node_id(child))
                parent_ids.append(node_id(parent))
            except TypeError:
                raise TypeError(f"edges[{position}] = {pair!r}: node names must be hashable") from None
        if not pairs:
            raise ValueError("edges is empty: a hierarchy needs at least one (child, parent) pair")
        parents = np.full(len(names), -1, dtype=np.int64)
        for child, parent in zip(child_ids, parent_ids):
            if child == parent:
                raise ValueError(f"the hierarchy has a cycle: {names[child]!r} is its own parent")
            if parents[child] >= 0 and parents[child] != parent:
                raise ValueError(f"node {names[child]!r} has two parents ({names[parents[child]]!r} and "
                                 f"{names[parent]!r}): a hierarchy must be a tree")
            parents[child] = parent
        if labels is None:
            has_children = np.zeros(len(names), dtype=bool)
            has_children[parents[parents >= 0]] = True
            leaves = np.flatnonzero(~has_children)
            labels = [names[node] for node in leaves]
        else:
            if isinstance(labels, (str, bytes)):
                raise TypeError("labels must be a sequence of class names, not a string")
            labels = list(labels)
            missing = [label for label in labels if label not in index]
            if missing:
                raise ValueError(f"{len(missing)} classes are missing from the hierarchy: "
                                 f"{', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''}")
            if len(set(labels)) != len(labels):
                raise ValueError("labels lists a class twice")
            leaves = np.array([index[label] for label in labels], dtype=np.int64)
        if isinstance(counts, dict):
            unknown = [label for label in counts if label not in index]
            if unknown:
                raise ValueError(f"counts names labels that are not in the hierarchy: "
                                 f"{', '.join(map(repr, unknown[:5]))}")
            counts = [counts.get(label, 0) for label in labels]
        tree = cls.from_parents(parents, leaves, counts, _names=names)
        tree.labels = list(labels)
        return tree

    @classmethod
    def _from_binary_parents(cls, parent, branch, n_leaves):
        """Flat paths of a binary tree given as a parent array.

        Nodes ``0 .. n_leaves-1`` are the leaves, ``n_leaves + i`` is inner node ``i``;
        ``parent`` is ``-1`` at the root only.
        """
        parent = np.ascontiguousarray(parent, dtype=np.int64)
        branch = np.ascontiguousarray(branch, dtype=np.uint8)
        depths = _tree.node_depths(parent)
        top_down = np.argsort(depths, kind="stable").astype(np.int64)
        path_offsets, path_nodes, path_codes = _tree.paths_from_parents(parent, branch, n_leaves, top_down)
        return cls(path_nodes, path_codes, path_offsets, validate=False)

    def __repr__(self):
        stats = self.depth_statistics()
        return (f"{type(self).__name__}(n_leaves={self.n_leaves}, depth min/mean/max="
                f"{stats['min']}/{stats['mean']:.2f}/{stats['max']})")


class HuffmanTree(BinaryTree):
    """Huffman tree: frequent classes get short paths, minimising ``sum(count x depth)``.

    Build one with :meth:`from_counts`; the constructor itself takes flat path arrays,
    as :class:`BinaryTree`.

    Parameters
    ----------
    path_nodes, path_codes, path_offsets : ndarray
        As in :class:`BinaryTree`.
    validate : bool, default True
        Check that the arrays describe one full binary tree.

    Examples
    --------
    >>> tree = HuffmanTree.from_counts([45, 30, 15, 10])
    >>> tree.path(2)  # the third word: inner nodes from the root down, and the branch bits
    (array([2, 1, 0], dtype=int32), array([1, 0, 1], dtype=uint8))
    """

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
        given = counts
        counts = np.asarray(counts)
        if counts.ndim != 1:
            raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
        if len(counts) == 0:
            raise ValueError("counts is empty: a tree needs at least one leaf")
        counts = check_counts(given, len(counts))   # the given values: a list may hold ints beyond float precision
        # Leaves in ascending weight order; ties keep the lower id first.
        order = np.argsort(counts, kind="stable").astype(np.int64)
        n_leaves = len(counts)
        parent = np.empty(2 * n_leaves - 1, dtype=np.int64)
        branch = np.empty(2 * n_leaves - 1, dtype=np.uint8)
        _tree.huffman_merge(counts, order, parent, branch)
        # Merge i creates node V + i from lighter nodes, so descending node ids run top-down.
        top_down = np.arange(2 * n_leaves - 2, -1, -1, dtype=np.int64)
        path_offsets, path_nodes, path_codes = _tree.paths_from_parents(parent, branch, n_leaves, top_down)
        return cls(path_nodes, path_codes, path_offsets, validate=False)


# Validation before conversion, shared by the constructors.

_INT64_MAX = int(np.iinfo(np.int64).max)


def _frozen(array, given):
    """A read-only view of ``array`` (copied first if the caller may still write to its memory).

    A view of a read-only array cannot be made writeable again (``setflags(write=True)``
    raises), so nobody can switch the protection off.
    """
    if array is given or not array.flags.owndata:
        array = array.copy()
    array.setflags(write=False)
    return array.view()


def checked_integers(values, what, dtype, low=None, high=None, meaning=None, names=None):
    """``values`` as a contiguous 1-D array of ``dtype``, every value checked *before* the conversion.

    Integer and boolean arrays, Python ints and whole floats (``3.0``) are accepted;
    other floats (``3.7``, NaN), strings and objects are refused (``TypeError``), and
    so is any value outside ``[low, high]`` (default: the range of ``dtype``;
    ``ValueError``).  So nothing wraps or
    truncates on the way in: ``2**32`` does not become node 0 of an int32, nor
    ``2**64 - 1`` the root ``-1`` of an int64.  The message names the first bad
    entry: ``names[i]`` when given, else its index.
    """
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    low = int(info.min) if low is None else max(int(low), int(info.min))
    high = int(info.max) if high is None else min(int(high), int(info.max))
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.dtype == dtype and low == info.min and high == info.max:
        return np.ascontiguousarray(array)   # already what it must be: nothing to convert
    if array.dtype.kind == "O" or (array.dtype.kind not in "iub" and not isinstance(values, np.ndarray)):
        # Python numbers: checked one by one (np.asarray turns large ints into floats or
        # objects, and a string among numbers into a string array)
        exact = [_whole_number(value, what, position, names) for position, value in enumerate(values)]
        bad = [position for position, value in enumerate(exact) if not low <= value <= high]
        if bad:
            _refuse_value(what, bad[0], exact[bad[0]], low, high, meaning, names, dtype)
        return np.array(exact, dtype=dtype)
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.floor(array))
        if not whole.all():
            position = int(np.flatnonzero(~whole)[0])
            raise TypeError(f"{_entry(what, position, names)} = {array[position]!r} is not a whole number")
        # (float(high) + 1 is exact where float(high) may round up: int64's 2**63 - 1 becomes 2**63)
        out = (array < low) | (array >= np.float64(high) + 1)
    elif array.dtype.kind in "iub":
        # (NumPy 2 compares integer arrays with any Python int exactly, e.g. uint64 with -1)
        out = (array < low) | (array > high)
    else:
        raise TypeError(f"{what} must be integers, got dtype {array.dtype}")
    if out.any():
        position = int(np.flatnonzero(out)[0])
        _refuse_value(what, position, array[position], low, high, meaning, names, dtype)
    return np.ascontiguousarray(array, dtype=dtype)


def _entry(what, position, names):
    return f"{what} of {names[position]!r}" if names is not None else f"{what}[{position}]"


def _whole_number(value, what, position, names):
    """A Python or NumPy scalar as an exact int, if it is a whole number."""
    if isinstance(value, (int, np.integer, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, (float, np.floating)):
        raise TypeError(f"{_entry(what, position, names)} = {value!r} is not a whole number")
    raise TypeError(f"{_entry(what, position, names)} = {value!r} is not an integer")


def _refuse_value(what, position, value, low, high, meaning, names, dtype):
    info = np.iinfo(dtype)
    if meaning:
        expected = f"is not {meaning} in [{low}, {high}]"
    elif (low, high) == (info.min, info.max):
        expected = f"does not fit in {dtype}"
    else:
        expected = f"is not in [{low}, {high}]"
    raise ValueError(f"{_entry(what, position, names)} = {value} {expected}")


def check_counts(counts, n_classes, what="counts", names=None):
    """Weights (class or word counts) as int64: whole numbers >= 0, one per class, totalling at most 2**63 - 1.

    Checked before any conversion (:func:`checked_integers`): a float count that is
    not whole is refused, not truncated, and a total beyond int64 -- which the
    Huffman merge and ``corpus_total_words`` would overflow -- is refused too.
    ``None`` means 1 each.  Messages name the entry (``names[i]`` when given).
    """
    if counts is None:
        return np.ones(n_classes, dtype=np.int64)
    if isinstance(counts, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of integers, got a {type(counts).__name__}")
    counts = checked_integers(counts, what, np.int64, low=0, meaning="a non-negative count", names=names)
    if len(counts) != n_classes:
        raise ValueError(f"{what} must have one entry per class ({n_classes}), got shape {counts.shape}")
    if len(counts) and int(counts.max()) > _INT64_MAX // len(counts):   # the total might not fit: sum exactly
        # high and low halves summed apart: neither can overflow for fewer than 2**31 entries
        total = (int(np.sum(counts >> 32)) << 32) + int(np.sum(counts & 0xFFFFFFFF))
        if total > _INT64_MAX:
            raise ValueError(f"{what} total {total}, more than 2**63 - 1: the sums of counts must fit in int64")
    return counts


def _find_cycle_nodes(parent):
    """Nodes that never reach a root by following ``parent`` (they lie on or below a cycle).

    Pointer doubling: after ``k`` rounds ``ancestor[x]`` is x's ``2**k``-th ancestor,
    with roots as fixed points, so ``ceil(log2(n)) + 1`` rounds reach a root from
    every node that has one.
    """
    n_nodes = len(parent)
    ancestor = np.where(parent < 0, np.arange(n_nodes), parent)
    for _ in range(max(int(n_nodes).bit_length(), 1) + 1):
        ancestor = ancestor[ancestor]
    return np.flatnonzero(parent[ancestor] >= 0)
