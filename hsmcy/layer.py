"""Hierarchical softmax as a general output layer: NumPy in, NumPy out.

For classification over K classes, a full softmax layer costs O(K) per example in
the forward and the backward pass.  A hierarchical softmax puts the classes at the
leaves of a binary tree and gives each of the K - 1 inner nodes a weight vector:

* **activation**: one sigmoid per inner node on the class's root-to-leaf path,
  ``P(branch 0 at n | h) = sigmoid(h . v_n)``;
* **labels**: the path's branch bits; the binary target at a node is ``1 - code``;
* **loss**: the sum of the binary log-losses along the path, which is exactly
  ``-log P(y | h)``, a properly normalised distribution over all K classes.

Training and ``log_prob`` cost O(log K) per example; see :mod:`hsmcy.reference` for
the formulas and gradients and ``docs/layer.md`` for how to wrap the layer in an
autograd framework.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import inference
from .inference import check_hidden, check_k, check_labels, check_workers
from .memory import aligned_zeros, check_fits_in_memory
from .checks import check_finite
from .persistence import ArchiveReader, malformed_file_is_value_error, read_tree, save_archive
from .tree import BinaryTree

__all__ = ["HierarchicalSoftmax"]


class HierarchicalSoftmax:
    """A hierarchical-softmax output layer over the leaves of ``tree``.

    Parameters
    ----------
    tree : hsmcy.BinaryTree
        One leaf per class (e.g. ``hsmcy.HuffmanTree.from_counts(class_counts)``).
    dim : int
        Width of the hidden vectors ``H`` fed to the layer.
    seed : int, default 0
        Seeds the initial weights: normal with standard deviation ``0.1 / sqrt(dim)``.
    workers : int, default 1
        Threads over which the rows of ``H`` are split (each runs a ``nogil`` kernel).

    Attributes
    ----------
    inner_node_vectors : ndarray of float32, shape (n_inner, dim)
        The weights: one vector per inner node of the tree.
    tree : hsmcy.BinaryTree
    n_classes : int

    Notes
    -----
    Every method validates its inputs first: ``H`` must be a float32 array of shape
    ``(n, dim)`` with finite values, ``y`` integer class ids in ``[0, n_classes)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hsmcy import HierarchicalSoftmax, HuffmanTree
    >>> layer = HierarchicalSoftmax(HuffmanTree.from_counts([50, 20, 20, 5, 5]), dim=8, seed=1)
    >>> H = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    >>> y = np.array([0, 3, 1])
    >>> dH = layer.update(H, y, lr=0.1)           # SGD step on the layer; dL/dH for upstream
    >>> ids, probs = layer.predict(H, k=2)        # exact top-2 classes per row
    >>> bool(np.allclose(layer.predict_proba(H).sum(axis=1), 1.0, atol=1e-5))
    True
    """

    def __init__(self, tree, dim, seed=0, workers=1):
        if not isinstance(tree, BinaryTree):
            raise TypeError(f"tree must be an hsmcy.BinaryTree (e.g. HuffmanTree.from_counts), got "
                            f"{type(tree).__name__}")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.tree = tree
        self.dim = int(dim)
        self.seed = int(seed)
        self.workers = check_workers(workers)
        check_fits_in_memory(tree.n_inner * self.dim * 4, f"dim = {self.dim} for {tree.n_inner:,} inner nodes")
        rng = np.random.default_rng(self.seed)
        self.inner_node_vectors = aligned_zeros((tree.n_inner, self.dim))   # rows on cache lines: memory.py
        self.inner_node_vectors[...] = rng.standard_normal((tree.n_inner, self.dim)) * (0.1 / np.sqrt(self.dim))

    # ---------------------------------------------------------------- sizes
    @property
    def n_classes(self) -> int:
        """Number of classes (leaves of the tree)."""
        return self.tree.n_leaves

    def __repr__(self):
        return (f"HierarchicalSoftmax(n_classes={self.n_classes}, dim={self.dim}, workers={self.workers}, "
                f"tree={self.tree!r})")

    def _weights(self):
        return inference.check_inner_node_vectors(self.inner_node_vectors, self.tree, self.dim)

    def _rows_and_labels(self, H, y):
        hidden = check_hidden(H, self.dim, "H")
        return hidden, check_labels(y, len(hidden), self.n_classes, "y")

    # ------------------------------------------------------------ growing
    def add_classes(self, new_counts, counts=None):
        """Add classes to a trained layer: new leaves, every old class's probabilities kept.

        Each new class splits one existing leaf (``hsmcy.tree_growth.grow_tree``): the
        leaf's place becomes a new inner node with a zero vector, so the split class's
        probability is halved (for every ``H``) and the new class gets the other half;
        every other class's probability is unchanged, bit for bit.  Leaves are chosen
        so that the tree stays close to the Huffman tree of the weights.

        Parameters
        ----------
        new_counts : int or array_like of int
            The new classes' weights (e.g. their frequencies), or how many new classes
            (weight 1 each).  They get the ids ``n_classes``, ``n_classes + 1``, ...
        counts : array_like of int, shape (n_classes,), optional
            The existing classes' weights, on the same scale.  Default: 1 each (the
            new classes then split the shallowest leaves).

        Returns
        -------
        ndarray of int64
            The new classes' ids.
        """
        from .tree_growth import grow_tree
        if isinstance(new_counts, numbers.Integral) and not isinstance(new_counts, bool):
            if new_counts < 0:
                raise ValueError(f"new_counts must be >= 0 classes, got {new_counts}")
            new_counts = np.ones(int(new_counts), dtype=np.int64)
        counts = np.ones(self.n_classes, dtype=np.int64) if counts is None else counts
        tree = grow_tree(self.tree, counts, new_counts)   # validates both
        weights = aligned_zeros((tree.n_inner, self.dim))
        weights[:self.tree.n_inner] = self._weights()[:self.tree.n_inner]   # new inner nodes start at zero
        first_new = self.n_classes
        self.tree = tree
        self.inner_node_vectors = weights
        return np.arange(first_new, tree.n_leaves, dtype=np.int64)

    def rebuild_tree(self, tree, H=None, fit_iterations=10):
        """Move the layer onto another tree over the same classes, carrying the weights over.

        An inner node of ``tree`` that separates the same two sets of classes as an
        old node takes its vector (so its branch probabilities are unchanged); with
        ``H`` given, every vector is then fitted so that the new tree's distribution
        matches the old one on the rows of ``H`` (``fit_iterations`` L-BFGS steps on
        ``KL(P_old || P_new)``, ``hsmcy.tree_growth.fit_inner_vectors``); without it,
        the other nodes start at zero.

        Parameters
        ----------
        tree : hsmcy.BinaryTree
            Same number of leaves (e.g. ``HuffmanTree.from_counts(class_counts)``
            after :meth:`add_classes`).
        H : ndarray of float32, shape (n, dim), optional
            Hidden vectors like the ones the layer sees.
        fit_iterations : int, default 10

        Returns
        -------
        dict
            ``carried`` (fraction of inner nodes that kept an old vector) and, with
            ``H``, the fit's ``initial_loss`` / ``final_loss``.
        """
        from .tree_growth import fit_inner_vectors, map_inner_vectors
        if not isinstance(tree, BinaryTree):
            raise TypeError(f"tree must be an hsmcy.BinaryTree, got {type(tree).__name__}")
        if tree.n_leaves != self.n_classes:
            raise ValueError(f"tree has {tree.n_leaves} leaves, the layer {self.n_classes} classes")
        if isinstance(fit_iterations, bool) or not isinstance(fit_iterations, numbers.Integral) \
                or fit_iterations < 0:
            raise ValueError(f"fit_iterations must be an integer >= 0, got {fit_iterations!r}")
        old_weights = self._weights()
        vectors, carried = map_inner_vectors(self.tree, old_weights, tree)
        report = {"carried": float(carried.mean()) if len(carried) else 1.0}
        if H is not None and fit_iterations:
            hidden = check_hidden(H, self.dim, "H")
            vectors, fit = fit_inner_vectors(self.tree, old_weights, tree, hidden, initial=vectors,
                                             iterations=int(fit_iterations), workers=self.workers)
            report.update(fit)
        weights = aligned_zeros((tree.n_inner, self.dim))
        weights[...] = vectors
        self.tree = tree
        self.inner_node_vectors = weights
        return report

    # ------------------------------------------------------------- forward
    def log_prob(self, H, y):
        """``log P(y[i] | H[i])`` per row: float64, shape (n,).

        Parameters
        ----------
        H : ndarray of float32, shape (n, dim)
            Hidden vectors, one row per example.
        y : ndarray of int, shape (n,)
            Class ids in ``[0, n_classes)``.
        """
        hidden, labels = self._rows_and_labels(H, y)
        return inference.log_prob_rows(self.tree, self._weights(), hidden, labels, self.workers)

    def loss_and_grad(self, H, y, reduction="sum"):
        """Loss and exact gradients, weights unchanged.

        Parameters
        ----------
        H : ndarray of float32, shape (n, dim)
        y : ndarray of int, shape (n,)
        reduction : {"sum", "mean"}
            The loss is ``sum_i -log P(y[i] | H[i])``, or that divided by ``n``.

        Returns
        -------
        loss : float
        grad_H : ndarray of float32, shape (n, dim)
            ``d loss / d H``.
        grad_weights : (rows, values)
            The gradient for ``inner_node_vectors`` in sparse form: ``rows`` (int64,
            sorted, unique) are the inner nodes touched by any path, ``values``
            (float32, ``(len(rows), dim)``) their gradient rows.  Every other row's
            gradient is zero.  A dense copy is ``G = zeros_like(W); G[rows] = values``.

        Notes
        -----
        Before summing per node, the kernel writes one gradient row per path position
        (``n x depth x dim`` floats); pass large batches in slices if memory matters.
        """
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        hidden, labels = self._rows_and_labels(H, y)
        losses, grad_hidden, nodes, values = inference.loss_and_grad_rows(
            self.tree, self._weights(), hidden, labels, self.workers)
        rows, summed = inference.coalesce_rows(nodes, values)
        loss = float(losses.sum())
        if reduction == "mean" and len(hidden):
            scale = np.float32(1.0 / len(hidden))
            loss /= len(hidden)
            grad_hidden *= scale
            summed *= scale
        return loss, grad_hidden, (rows, summed)

    def update(self, H, y, lr, return_loss=False):
        """One SGD step on the layer's weights (in place); returns ``d loss / d H``.

        Rows are applied in order, as word2vec does: row ``i``'s step uses the
        weights left by rows ``< i``, and ``grad_H[i]`` is the gradient of
        ``-log P(y[i] | H[i])`` at exactly those weights, ready to be backpropagated
        into the model that produced ``H``.  With ``workers > 1`` chunks of rows
        update the shared weights concurrently (Hogwild, not reproducible);
        ``workers=1`` is deterministic.

        Parameters
        ----------
        lr : float
            Learning rate, finite and > 0.
        return_loss : bool
            Also return the per-row losses (float64) computed on the way.
        """
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        hidden, labels = self._rows_and_labels(H, y)
        weights = self._weights()
        if not weights.flags.writeable:
            raise ValueError("inner_node_vectors is read-only (memory-mapped?): cannot update it")
        losses, grad_hidden = inference.sgd_rows(self.tree, weights, hidden, labels, float(lr), self.workers)
        return (grad_hidden, losses) if return_loss else grad_hidden

    # ------------------------------------------------------------ prediction
    def predict_proba(self, H):
        """Full distribution over the classes: float32 ``(n, n_classes)``, rows sum to 1.

        Computed top-down, one dot product per inner node and row (O(n_classes)).

        Parameters
        ----------
        H : ndarray of float32, shape (n, dim)
            Hidden vectors, one row per example.
        """
        hidden = check_hidden(H, self.dim, "H")
        return inference.distribution_rows(self.tree, self._weights(), hidden, workers=self.workers)

    def predict_log_proba(self, H):
        """``log`` of :meth:`predict_proba`, computed in log space (no underflow to ``-inf``).

        Parameters
        ----------
        H : ndarray of float32, shape (n, dim)
            Hidden vectors, one row per example.
        """
        hidden = check_hidden(H, self.dim, "H")
        return inference.distribution_rows(self.tree, self._weights(), hidden, log=True, workers=self.workers)

    def predict(self, H, k=1):
        """The exact ``k`` most probable classes per row, best first.

        Best-first search over the tree: a node's path probability bounds every class
        below it, so only the few branches that can still hold a top-``k`` class are
        expanded (typically O(k log K) dot products, not K).

        Parameters
        ----------
        H : ndarray of float32, shape (n, dim)
            Hidden vectors, one row per example.
        k : int, default 1
            Classes per row, ``1 <= k <= n_classes``.

        Returns
        -------
        ids : ndarray of int64, shape (n, k)
        probs : ndarray of float32, shape (n, k)
            Their probabilities, in decreasing order.
        """
        k = check_k(k, self.n_classes)
        hidden = check_hidden(H, self.dim, "H")
        return inference.top_k_rows(self.tree, self._weights(), hidden, k, self.workers)

    def sample(self, H, rng=None, n_samples=None):
        """Draw classes from the model's distribution ``P(. | H[i])``.

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Source of the seed; row ``i``'s draws depend only on that seed and ``i``
            (not on ``workers``).
        n_samples : int, optional
            Draws per row.  ``None``: one, returned as shape ``(n,)``; otherwise ``(n, n_samples)``.
        """
        hidden = check_hidden(H, self.dim, "H")
        count = 1 if n_samples is None else n_samples
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"n_samples must be None or an integer >= 1, got {n_samples!r}")
        draws = inference.sample_rows(self.tree, self._weights(), hidden, int(count), inference.seed_from(rng),
                                      self.workers)
        return draws[:, 0] if n_samples is None else draws

    # ----------------------------------------------------------- persistence
    def save(self, path):
        """Save weights, tree and depth statistics (zip of ``.npy`` + JSON, no pickle, atomic).

        Weights holding NaN or infinity are refused (``ValueError``), as :meth:`load`
        would refuse them.

        Parameters
        ----------
        path : str or PathLike
            The file to write.
        """
        check_finite(self.inner_node_vectors, "inner_node_vectors", "refusing to save a diverged layer")
        metadata = {"dim": self.dim, "seed": self.seed, "workers": self.workers, "n_classes": self.n_classes,
                    "tree_type": type(self.tree).__name__, "tree_depth": self.tree.depth_statistics()}
        arrays = {"inner_node_vectors": self.inner_node_vectors, "path_nodes": self.tree.path_nodes,
                  "path_codes": self.tree.path_codes, "path_offsets": self.tree.path_offsets}
        save_archive(path, "hierarchical_softmax", metadata, arrays)

    @classmethod
    @malformed_file_is_value_error
    def load(cls, path, mmap=None):
        """Load a layer written by :meth:`save`, validating the tree and weights.

        Parameters
        ----------
        path : str or PathLike
            A file written by :meth:`save`.
        mmap : None or "r"
            ``"r"`` memory-maps the weights read-only (prediction only); the tree is
            always read into memory.
        """
        if mmap not in (None, "r"):
            raise ValueError(f"mmap must be None or 'r', got {mmap!r}")
        with ArchiveReader(path, "hierarchical_softmax") as archive:
            where, metadata = archive.where, archive.metadata
            try:
                dim, seed, workers = metadata["dim"], metadata["seed"], metadata["workers"]
            except KeyError as missing:
                raise ValueError(f"{where}: lacks {missing}") from None
            tree = read_tree(archive)
            # before the constructor, which allocates (n_inner, dim) weights: dim must be the stored one
            weights = archive.array("inner_node_vectors", np.float32, (tree.n_inner, dim), mmap=mmap == "r")
            check_finite(weights, "inner_node_vectors", where)
        try:
            layer = cls(tree, dim, seed=seed, workers=workers)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
        layer.inner_node_vectors = weights
        return layer
