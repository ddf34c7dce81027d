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
