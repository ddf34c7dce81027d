"""Growing a trained tree: new leaves for new classes, old paths kept.

A trained hierarchical softmax has one vector per inner node, and every class's
probability is the product of the branch sigmoids along its path.  Adding classes
(new words in ``build_vocab(update=True)``, new labels) needs one new inner node per
new leaf.  Rebuilding the Huffman tree would renumber every inner node and leave
the trained vectors pointing at the wrong decisions (what gensim does).  Here the
tree *grows*:

Splitting leaves
----------------
A new leaf ``y`` is attached by splitting an existing leaf ``l``: ``l``'s place in
the tree becomes a new inner node ``m`` whose branch 1 is ``l`` and branch 0 is
``y``.  Every other leaf keeps its path, node for node and bit for bit, so its
probability does not change at all.  ``l``'s path gains ``m`` at its end, and with
``v_m = 0`` (``sigmoid(h . 0) = 1/2``)::

    P_grown(l | h) = P_old(l | h) / 2,    P_grown(y | h) = P_old(l | h) / 2    for every h.

So after growth, for every old class ``w`` and every hidden vector ``h``::

    log P_grown(w | h) = log P_old(w | h) - (extra depth of w) * log 2

exactly: 0 for all classes but the split ones.  No choice of ``v_m`` can do better
for all ``h`` at once: the new classes' probability mass has to come from the old
ones, and a vector that keeps ``sigmoid(h . v_m)`` near 1 for some ``h`` sends it
near 0 for ``-h``.

Which leaf to split
-------------------
Splitting leaf ``l`` (count ``c_l``, depth ``d_l``) for a new class of count ``a``
adds ``c_l + a (d_l + 1)`` to the weighted path length ``sum(count x depth)`` that a
Huffman tree minimises -- and ``c_l`` is also exactly the log-likelihood, in bits,
that ``l``'s occurrences lose.  New classes are placed one at a time, most frequent
first, each by splitting the leaf (old, or new and already placed) with the
smallest such cost (ties: the shallower leaf, then the lower id).  A new class thus
lands near the depth a Huffman tree would give it (the best donor has a count
about ``a / ln 2``), and the loss falls on rare classes.  Only the lightest leaf of
each depth can be the best, so each placement looks at one candidate per depth.

Numbering
---------
Old leaves and old inner nodes keep their ids; new leaf ``j`` gets id
``n_old + j`` and the ``i``-th split creates inner node ``n_old - 1 + i``.  For a
word2vec model (gensim's layout: ``syn1`` has one row per word, row ``n`` is inner
node ``n``, the last row unused) the old rows stay where they are, the formerly
unused row ``n_old - 1`` becomes the first new inner node, and the last row of the
grown ``syn1`` is again unused.  The root stays inner node ``n_old - 2``: after
growth, "the root is ``V - 2``" no longer holds, and nothing relies on it (gensim
follows every word's ``point``).

:func:`hsmcy.reference.grow_tree` states the same rule by brute force; the tests
hold :func:`grow_tree` to it.
"""
from __future__ import annotations

import heapq

import numpy as np

from .tree import BinaryTree, HuffmanTree

__all__ = ["grow_tree", "path_length_cost", "split_order", "subtree_keys", "map_inner_vectors",
           "branch_targets", "fit_inner_vectors"]


def _counts(values, length, name):
    """Non-negative integer weights, one per leaf (``length`` of them), as int64."""
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != length:
        raise ValueError(f"{name} must be one-dimensional with {length} entries, got shape {values.shape}")
    if values.dtype.kind not in "iub":
        if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            values = values.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integers, got dtype {values.dtype}")
    values = values.astype(np.int64)
    if length and values.min() < 0:
        raise ValueError(f"{name} must be non-negative")
    # Costs are count + count x depth: keep them far from int64 overflow.
    if length and values.max() > (1 << 55):
        raise ValueError(f"{name} must be below 2**55")
    return values


def split_order(new_counts):
    """The order in which new leaves are placed: by descending count, ties by lower id."""
    new_counts = np.asarray(new_counts, dtype=np.int64)
    return np.argsort(-new_counts, kind="stable")


def grow_tree(tree, counts, new_counts):
    """Add one leaf per entry of ``new_counts`` to ``tree`` by splitting leaves.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
        The tree to grow (not modified).
    counts : array_like of int, shape (tree.n_leaves,)
        Current weight of every existing leaf (for word2vec: the counts after
        adding the new corpus), used to choose which leaves to split.
    new_counts : array_like of int, shape (k,)
        Weight of each new leaf; new leaf ``j`` gets id ``tree.n_leaves + j``.

    Returns
    -------
    hsmcy.BinaryTree
        ``tree.n_leaves + k`` leaves.  Every old leaf's path is its old path
        followed by zero or more new inner nodes (ids ``>= tree.n_leaves - 1``);
        old inner nodes keep their ids and children, except that a split leaf's
        place is taken by the new node above it.  See the module docstring.
    """
    if not isinstance(tree, BinaryTree):
        raise TypeError(f"tree must be an hsmcy.BinaryTree, got {type(tree).__name__}")
    n_old = tree.n_leaves
    counts = _counts(counts, n_old, "counts")
    new_counts = np.asarray(new_counts)
    new_counts = _counts(new_counts, len(new_counts) if new_counts.ndim == 1 else -1, "new_counts")
    n_new = len(new_counts)
    if n_new == 0:
        return BinaryTree(tree.path_nodes.copy(), tree.path_codes.copy(), tree.path_offsets.copy(), validate=False)
    donors, new_leaves = _choose_splits(tree.path_lengths, counts, new_counts)
    return _apply_splits(tree, donors, new_leaves, n_new)


def _choose_splits(depths, counts, new_counts):
    """The greedy of the module docstring: ``(donor, new leaf)`` of every split, in order.

    One candidate per depth: the lightest leaf there (ties: lowest id).  Leaves of
    the original tree sit in one array sorted by (depth, count, id), each depth's
    run a queue with a cursor past the ones already split; leaves moved down by a
    split go to a small heap per depth.
    """
    n_old = len(counts)
    order = split_order(new_counts)
    by_depth = np.lexsort((np.arange(n_old), counts, depths))
    deepest = int(depths.max()) if n_old else 0
    run_start = np.searchsorted(depths[by_depth], np.arange(deepest + 2), side="left")
    cursor, run_end = run_start[:-1].tolist(), run_start[1:].tolist()
    moved = {}                                   # depth -> heap of (count, leaf)
    no_leaf = np.iinfo(np.int64).max // 4
    capacity = deepest + 2
    lightest = np.full(capacity, no_leaf, dtype=np.int64)      # count of the best candidate per depth
    lightest_leaf = np.full(capacity, -1, dtype=np.int64)

    def refresh(depth):
        """Re-read the best candidate of one depth (original queue front or moved heap top)."""
        best = (no_leaf, -1)
        if depth < len(cursor) and cursor[depth] < run_end[depth]:
            leaf = int(by_depth[cursor[depth]])
            best = (int(counts[leaf]), leaf)
        heap = moved.get(depth)
        if heap and heap[0] < best:
            best = heap[0]
        lightest[depth], lightest_leaf[depth] = best

    for depth in range(deepest + 1):
        refresh(depth)
    donors = np.empty(len(new_counts), dtype=np.int64)
    new_leaves = np.empty(len(new_counts), dtype=np.int64)
    for split, new in enumerate(order.tolist()):
        weight = int(new_counts[new])
        if deepest + 2 > capacity:   # a chain of splits went deeper than ever: more room
            grow = capacity
            lightest = np.concatenate([lightest, np.full(grow, no_leaf, dtype=np.int64)])
            lightest_leaf = np.concatenate([lightest_leaf, np.full(grow, -1, dtype=np.int64)])
            capacity += grow
        # Cost of splitting the best leaf of each depth; argmin takes the shallowest tie.
        costs = lightest[:deepest + 1] + weight * np.arange(1, deepest + 2, dtype=np.int64)
        depth = int(np.argmin(costs))
        leaf_count, donor = int(lightest[depth]), int(lightest_leaf[depth])
        if depth < len(cursor) and cursor[depth] < run_end[depth] and by_depth[cursor[depth]] == donor:
            cursor[depth] += 1
        else:
            heapq.heappop(moved[depth])
        refresh(depth)
        heap = moved.setdefault(depth + 1, [])
        heapq.heappush(heap, (leaf_count, donor))
        heapq.heappush(heap, (weight, n_old + new))
        refresh(depth + 1)
        deepest = max(deepest, depth + 1)
        donors[split] = donor
        new_leaves[split] = n_old + new
    return donors, new_leaves


def _apply_splits(tree, donors, new_leaves, n_new):
    """The grown tree's flat paths, through a parent array (leaves ``0..n-1``, inner node ``i`` at ``n + i``)."""
    n_old = tree.n_leaves
    n_leaves = n_old + n_new
    parent = np.full(2 * n_leaves - 1, -1, dtype=np.int64)
    branch = np.zeros(2 * n_leaves - 1, dtype=np.uint8)
    if tree.n_inner:
        children = tree.children.astype(np.int64)                     # leaf w encoded as -1 - w
        child_node = np.where(children < 0, -1 - children, n_leaves + children)
        inner_node = n_leaves + np.arange(tree.n_inner, dtype=np.int64)
        parent[child_node[:, 0]] = inner_node
        parent[child_node[:, 1]] = inner_node
        branch[child_node[:, 1]] = 1
    first_new_inner = n_leaves + n_old - 1
    # Sequential: a leaf split earlier may be split again (each split reads the parent
    # the previous one wrote).
    parent_list, branch_list = parent.tolist(), branch.tolist()
    for split, (donor, new_leaf) in enumerate(zip(donors.tolist(), new_leaves.tolist())):
        node = first_new_inner + split
        parent_list[node], branch_list[node] = parent_list[donor], branch_list[donor]
        parent_list[donor], branch_list[donor] = node, 1
        parent_list[new_leaf], branch_list[new_leaf] = node, 0
    parent = np.array(parent_list, dtype=np.int64)
    branch = np.array(branch_list, dtype=np.uint8)
    return BinaryTree._from_binary_parents(parent, branch, n_leaves)


def path_length_cost(tree, counts):
    """How far ``tree`` is from the Huffman tree of ``counts``, in mean path length per occurrence.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
    counts : array_like of int, shape (tree.n_leaves,)

    Returns
    -------
    dict
        ``mean_path_length`` (``sum(count x depth) / sum(count)`` for ``tree``),
        ``huffman_mean_path_length`` (the same for ``HuffmanTree.from_counts(counts)``,
        the smallest possible), and ``ratio``, their quotient (1.0 = optimal).  Training
        time per word is about proportional to the mean path length.
    """
    counts = _counts(counts, tree.n_leaves, "counts")
    total = int(counts.sum())
    if total == 0 or tree.n_leaves < 2:
        return {"mean_path_length": float(tree.path_lengths.mean()) if tree.n_leaves else 0.0,
                "huffman_mean_path_length": float(HuffmanTree.from_counts(counts).path_lengths.mean()),
                "ratio": 1.0}
    grown = tree.weighted_path_length(counts) / total
    optimal = HuffmanTree.from_counts(counts).weighted_path_length(counts) / total
    return {"mean_path_length": grown, "huffman_mean_path_length": optimal, "ratio": grown / optimal}


# ------------------------------------------------------------------ rebuilding
def subtree_keys(tree, seed=0):
    """A 64-bit key per side of every inner node, equal for equal sets of leaves.

    Each leaf gets a random 64-bit number; a set of leaves is keyed by their sum
    modulo 2**64.  Two different sets collide with probability about 2**-64.

    Returns
    -------
    ndarray of uint64, shape (n_inner, 2)
        ``keys[m, b]``: the key of the leaves below branch ``b`` of inner node ``m``.
    """
    leaf_keys = np.random.default_rng(seed).integers(0, 2**64 - 1, size=tree.n_leaves, dtype=np.uint64,
                                                     endpoint=True)
    keys = np.zeros((tree.n_inner, 2), dtype=np.uint64)
    children = tree.children.astype(np.int64)
    for nodes in _levels_bottom_up(tree):
        for branch in (0, 1):
            child = children[nodes, branch]
            leaf = child < 0
            side = np.empty(len(nodes), dtype=np.uint64)
            side[leaf] = leaf_keys[-1 - child[leaf]]
            side[~leaf] = keys[child[~leaf], 0] + keys[child[~leaf], 1]   # wraps modulo 2**64
            keys[nodes, branch] = side
    return keys


def map_inner_vectors(old_tree, old_vectors, new_tree):
    """Carry inner-node vectors over to ``new_tree`` where a node makes the same decision as before.

    An inner node decides between the leaves below its branch 0 and those below its
    branch 1.  When a node of ``new_tree`` separates exactly the same two sets of
    leaves as a node ``o`` of ``old_tree``, it takes ``o``'s vector (negated if the
    two sets sit on swapped branches, as ``sigmoid(-x) = 1 - sigmoid(x)``): its
    branch probabilities are then the old ones, exactly.  Every other node is zero
    (both branches 1/2); :func:`fit_inner_vectors` fits those.

    Parameters
    ----------
    old_tree, new_tree : hsmcy.BinaryTree
        Trees over the same leaves.
    old_vectors : ndarray, shape (>= old_tree.n_inner, dim)
        ``old_tree``'s inner-node vectors.

    Returns
    -------
    vectors : ndarray of float32, shape (new_tree.n_inner, dim)
    carried : ndarray of bool, shape (new_tree.n_inner,)
        Which nodes took an old vector.
    """
    if old_tree.n_leaves != new_tree.n_leaves:
        raise ValueError(f"the trees have {old_tree.n_leaves} and {new_tree.n_leaves} leaves: they must share them")
    old_vectors = np.asarray(old_vectors)
    if old_vectors.ndim != 2 or old_vectors.shape[0] < old_tree.n_inner:
        raise ValueError(f"old_vectors must have at least {old_tree.n_inner} rows, got shape {old_vectors.shape}")
    vectors = np.zeros((new_tree.n_inner, old_vectors.shape[1]), dtype=np.float32)
    carried = np.zeros(new_tree.n_inner, dtype=bool)
    if new_tree.n_inner == 0 or old_tree.n_inner == 0:
        return vectors, carried
    old_keys, new_keys = subtree_keys(old_tree), subtree_keys(new_tree)
    # Each decision is keyed by its branch-0 side; the two sides of one node never share a key.
    old_by_side = {}
    for node, (side0, side1) in enumerate(old_keys.tolist()):
        old_by_side[side0] = (node, 1.0)
        old_by_side[side1] = (node, -1.0)
    for node, (side0, side1) in enumerate(new_keys.tolist()):
        found = old_by_side.get(side0)
        if found is None:
            continue
        old_node, sign = found
        if old_keys[old_node, 1 if sign > 0 else 0] == side1:   # the other side matches too
            vectors[node] = old_vectors[old_node] * np.float32(sign)
            carried[node] = True
    return vectors, carried


def _levels_bottom_up(tree):
    """Inner nodes grouped by depth, deepest first: every node's children come in an earlier group."""
    order = tree.inner_nodes_top_down
    depth = np.zeros(tree.n_inner, dtype=np.int64)
    children = tree.children
    for node in order.tolist():           # parents before children
        for child in children[node].tolist():
            if child >= 0:
                depth[child] = depth[node] + 1
    return [np.flatnonzero(depth == d) for d in range(int(depth.max()), -1, -1)]


def branch_targets(old_tree, old_vectors, new_tree, hidden, workers=1):
    """What ``new_tree``'s inner nodes must say to reproduce the old model's distribution on ``hidden``.

    For every row ``h`` of ``hidden`` and inner node ``m`` of the new tree with
    subtrees ``A`` (branch 0) and ``B``: ``target[h, m] = P_old(A | h) / P_old(A or B | h)``
    (the branch-0 probability that makes ``P_new(w | h) = P_old(w | h)`` for every leaf
    where that is possible) and ``log_mass[h, m] = log P_old(A or B | h)``.
    Computed in log space: deep subtrees underflow float32 probabilities.

    Returns
    -------
    target, log_mass : ndarray of float32, shape (len(hidden), new_tree.n_inner)
    """
    from . import inference
    log_leaf = inference.distribution_rows(old_tree, np.ascontiguousarray(old_vectors[:old_tree.n_inner]),
                                           np.ascontiguousarray(hidden, dtype=np.float32), log=True,
                                           workers=workers)
    n_rows, n_inner = len(hidden), new_tree.n_inner
    log_mass = np.empty((n_rows, n_inner), dtype=np.float32)
    target = np.empty((n_rows, n_inner), dtype=np.float32)
    children = new_tree.children.astype(np.int64)

    def side(child):
        columns = np.empty((n_rows, len(child)), dtype=np.float32)
        leaf = child < 0
        columns[:, leaf] = log_leaf[:, -1 - child[leaf]]
        columns[:, ~leaf] = log_mass[:, child[~leaf]]
        return columns

    for nodes in _levels_bottom_up(new_tree):
        first, second = side(children[nodes, 0]), side(children[nodes, 1])
        both = np.logaddexp(first, second)
        log_mass[:, nodes] = both
        target[:, nodes] = np.exp(first - both)
    return target, log_mass


def fit_inner_vectors(old_tree, old_vectors, new_tree, hidden, initial=None, iterations=30, workers=1):
    """Inner-node vectors for ``new_tree`` that reproduce the old model's distribution as well as possible.

    Minimises, over the rows ``h`` of ``hidden``, ``KL(P_old(. | h) || P_new(. | h))``.
    That divergence splits into one term per new inner node ``m``: a logistic
    regression of the node's branch-0 probability ``sigmoid(h . v_m)`` onto the
    target :func:`branch_targets` gives, weighted by how much of ``P_old`` lies below
    ``m``.  The nodes are independent, so each is normalised by its total weight
    (a preconditioning: it does not move any node's optimum) and all are fitted at
    once by L-BFGS.

    Parameters
    ----------
    old_tree, new_tree : hsmcy.BinaryTree
        Same leaves.
    old_vectors : ndarray, shape (>= old_tree.n_inner, dim)
    hidden : ndarray, shape (n, dim)
        Hidden vectors as the model sees them (for word2vec: sampled contexts).
    initial : ndarray, shape (new_tree.n_inner, dim), optional
        Starting point (default zeros; :func:`map_inner_vectors` gives a better one
        when the trees are alike).
    iterations : int
        L-BFGS iterations.

    Returns
    -------
    vectors : ndarray of float32, shape (new_tree.n_inner, dim)
    report : dict
        ``initial_loss`` and ``final_loss`` (the weighted cross-entropy, per node on average).
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    hidden = np.ascontiguousarray(hidden, dtype=np.float32)
    n_inner, dim = new_tree.n_inner, hidden.shape[1]
    if initial is None:
        initial = np.zeros((n_inner, dim), dtype=np.float32)
    if n_inner == 0 or len(hidden) == 0:
        return np.asarray(initial, dtype=np.float32), {"initial_loss": 0.0, "final_loss": 0.0}
    target, log_mass = branch_targets(old_tree, old_vectors, new_tree, hidden, workers)
    weight = np.exp(log_mass - log_mass.max(axis=0, keepdims=True))
    weight /= weight.sum(axis=0, keepdims=True)
    del log_mass

    def loss_and_gradient(flat):
        vectors = flat.reshape(n_inner, dim).astype(np.float32)
        logits = hidden @ vectors.T
        # soft-target cross-entropy: softplus(z) - q z
        loss = float(np.sum(weight * (np.logaddexp(0.0, logits) - target * logits), dtype=np.float64))
        error = weight * (expit(logits) - target)
        gradient = error.T @ hidden
        return loss, gradient.ravel().astype(np.float64)

    start = np.asarray(initial, dtype=np.float64).ravel()
    initial_loss = loss_and_gradient(start)[0] / n_inner
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": int(iterations), "gtol": 1e-9, "ftol": 1e-12})
    return result.x.reshape(n_inner, dim).astype(np.float32), {"initial_loss": initial_loss,
                                                               "final_loss": float(result.fun) / n_inner}
