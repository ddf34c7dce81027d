"""The checks every array passes before a kernel may index it or a file may keep it.

One home for them, shared by the model loaders (:mod:`hsmcy.persistence`,
``HierarchicalSoftmax.load``, ``HSClassifier.load``) and by training:

* :func:`all_finite` / :func:`check_finite` -- no NaN or infinity;
* :func:`check_array` -- exact dtype, shape and C order (a kernel walks rows by
  pointer arithmetic, so a Fortran-ordered or strided array would be read wrongly);
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["all_finite", "check_array", "check_dtype_and_shape", "check_finite", "check_integer"]

INT64_MAX = 2**63 - 1


def check_integer(name, value, minimum, maximum=None):
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[minimum, maximum]``;
    else ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


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


def check_dtype_and_shape(name, dtype, shape, expected_dtype, expected_shape, where):
    """``ValueError`` unless ``dtype``/``shape`` are exactly the expected ones (``None`` in ``expected_shape``
    accepts any length there).  The one message for a wrong array, whether the array is in memory
    (:func:`check_array`) or still a header in a file (:class:`hsmcy.persistence.ArchiveReader`)."""
    expected_dtype, expected_shape = np.dtype(expected_dtype), tuple(expected_shape)
    if (dtype != expected_dtype or len(shape) != len(expected_shape)
            or any(want is not None and got != want for got, want in zip(shape, expected_shape))):
        wanted = (f"a {len(expected_shape)}-D {expected_dtype.name} array" if all(n is None for n in expected_shape)
                  else f"{expected_dtype.name} {tuple('any' if n is None else n for n in expected_shape)}")
        raise ValueError(f"{where}: {name} must be {wanted}, got {dtype} {tuple(shape)}")


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
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: {name} must be a NumPy array, got {type(array).__name__}")
    check_dtype_and_shape(name, array.dtype, array.shape, dtype, shape, where)
    if not array.flags.c_contiguous:
        raise ValueError(f"{where}: {name} must be C-contiguous (row-major)")
    if non_negative and array.size and array.min() < 0:
        raise ValueError(f"{where}: {name} holds negative values")
    return array

