"""The checks every array passes before a kernel may index it or a file may keep it.

One home for them, shared by the model loaders (:mod:`hsmcy.persistence`,
``HierarchicalSoftmax.load``, ``HSClassifier.load``) and by training:

* :func:`all_finite` / :func:`check_finite` -- no NaN or infinity;
* :func:`check_array` -- exact dtype, shape and C order (a kernel walks rows by
  pointer arithmetic, so a Fortran-ordered or strided array would be read wrongly);
* :func:`check_tree_arrays` -- the tree's three index arrays already in the kernels'
  dtypes (a cast could wrap an out-of-range id into range before validation).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["all_finite", "check_array", "check_finite", "check_tree_arrays"]


def all_finite(array, rows_per_chunk=1 << 14):
    """True unless a float array holds NaN or +-inf.

    Sums chunks of rows in float64: a float32 sum that large cannot overflow, so the
    sum is finite exactly when every element is.  Needs no temporary array the
    size of ``array`` (``np.isfinite`` would make one) and reads memory-mapped
    arrays sequentially.
    """
    array = np.asarray(array)
    if array.ndim == 0:
        return bool(np.isfinite(array))
    for start in range(0, len(array), rows_per_chunk):
        if not math.isfinite(np.add.reduce(array[start:start + rows_per_chunk], axis=None, dtype=np.float64)):
            return False
    return True


def check_finite(array, name, where):
    """``ValueError`` naming ``name`` and ``where`` if a float array holds NaN or infinity."""
    if not all_finite(array):
        raise ValueError(f"{where}: {name} holds NaN or infinite values")
    return array


def check_array(array, name, dtype, shape, where, non_negative=False):
    """``ValueError`` unless ``array`` is a C-contiguous ndarray of exactly this dtype and shape.

    Parameters
    ----------
    array : object
        What to check.
    name : str
        Its name in the message.
    dtype : numpy dtype
    shape : tuple of int
        The exact shape (``None`` in a position accepts any length there).
    where : str
        Where it comes from (``"model file '...'"``), the start of the message.
    non_negative : bool
        Also refuse negative values.
    """
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if (not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != len(shape)
            or any(want is not None and got != want for got, want in zip(array.shape, shape))):
        wanted = (f"a {len(shape)}-D {dtype.name} array" if all(n is None for n in shape)
                  else f"{dtype.name} {tuple('any' if n is None else n for n in shape)}")
        raise ValueError(f"{where}: {name} must be {wanted}, got "
                         f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{where}: {name} must be C-contiguous (row-major)")
    if non_negative and array.size and array.min() < 0:
        raise ValueError(f"{where}: {name} holds negative values")
    return array


def check_tree_arrays(arrays, where, names=("path_nodes", "path_codes", "path_offsets")):
    """The tree's index arrays must already have the kernels' dtypes (a cast could wrap ids into range)."""
    for name, dtype in zip(names, (np.int32, np.uint8, np.int64)):
        check_array(arrays.get(name), name, dtype, (None,), where)
