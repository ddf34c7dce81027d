# cython: language_level=3
"""Row deltas between model copies, as bfloat16: what distributed training sends and adds.

A model copy's change in a round is ``work - base`` on the rows it touched; it travels
as bfloat16 (the top 16 bits of a float32, rounded to nearest even: float32's range,
8 significant bits, half the bytes) and every worker adds ``scale x`` each copy's
delta to its parameters in the same order, so all workers compute the same bits.
NumPy twins in ``tests/test_distributed.py`` hold these loops to the same results.
"""
cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np


cdef inline uint16_t to_bfloat16(float value) noexcept nogil:
    """Round to nearest even; NaN stays a (quiet) NaN, too large values become infinite."""
    cdef uint32_t bits
    memcpy(&bits, &value, 4)
    if (bits & 0x7F800000u) == 0x7F800000u and (bits & 0x007FFFFFu) != 0:
        return <uint16_t>((bits >> 16) | 0x0040u)
    bits += 0x7FFFu + ((bits >> 16) & 1u)
    return <uint16_t>(bits >> 16)


cdef inline uint16_t to_bfloat16_select(uint32_t bits) noexcept nogil:
    """:func:`to_bfloat16` on a float's bits, written as a select so that the compiler
    can vectorise a loop over a row (the branch kept the loop scalar: ~5 ns a value)."""
    cdef uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16
    cdef uint32_t quiet_nan = (bits >> 16) | 0x0040u
    return <uint16_t>(quiet_nan if (bits & 0x7FFFFFFFu) > 0x7F800000u else rounded)


cdef inline float from_bfloat16(uint16_t half) noexcept nogil:
    cdef uint32_t bits = (<uint32_t>half) << 16
    cdef float value
    memcpy(&value, &bits, 4)
    return value


cdef inline bint is_finite(float value) noexcept nogil:
    cdef uint32_t bits
    memcpy(&bits, &value, 4)
    return (bits & 0x7F800000u) != 0x7F800000u


def take_delta(float[:, ::1] work, const float[:, ::1] base, const int32_t[::1] rows,
               int32_t[::1] out_ids, uint16_t[:, ::1] out_delta):
    """For each row of ``rows`` that differs: ``out_ids[n] = row``, ``out_delta[n] = bf16(work - base)``;
    every row of ``rows`` is reset to ``base``.  Returns ``n``, the rows that differed.

    The caller checks shapes (``work`` and ``base`` alike, ``out_*`` at least
    ``len(rows)`` long and as wide) and that every row is in range.
    """
    cdef Py_ssize_t i, j, n = 0, width = work.shape[1]
    cdef int32_t row, moved
    cdef float difference
    cdef uint32_t bits
    cdef float* work_row
    cdef const float* base_row
    cdef uint16_t* out_row
    with nogil:
        for i in range(rows.shape[0]):
            row = rows[i]
            work_row = &work[row, 0]
            base_row = &base[row, 0]
            out_row = &out_delta[n, 0]
            moved = 0
            for j in range(width):   # no branch in the loop: it vectorises
                difference = work_row[j] - base_row[j]
                memcpy(&bits, &difference, 4)
                out_row[j] = to_bfloat16_select(bits)
                moved = moved | (difference != 0.0)
                work_row[j] = base_row[j]
            if moved:
                out_ids[n] = row
                n += 1
    return n


@cython.final   # its methods are then called directly, and inlined, in the merge loops
cdef class _CopyDeltas:
    """The copies' deltas of a round, for a ``nogil`` merge of their increasing row ids.

    Holds raw pointers into the arrays of ``ids_per_copy`` and ``deltas_per_copy`` (and
    the two lists, which keep the arrays alive) and a cursor per copy.  The caller
    checks each delta's ids (:func:`hsmcy.distributed._check_delta`); shapes are
    checked here.
    """
    cdef list arrays
    cdef Py_ssize_t copies, width
    cdef const int32_t** ids
    cdef const uint16_t** deltas
    cdef Py_ssize_t* lengths
    cdef Py_ssize_t* cursors

    def __cinit__(self, list ids_per_copy, list deltas_per_copy, Py_ssize_t width):
        cdef const int32_t[::1] ids_view
        cdef const uint16_t[:, ::1] delta_view
        cdef Py_ssize_t c, slots = max(len(ids_per_copy), 1)
        if len(deltas_per_copy) != len(ids_per_copy):
            raise ValueError("one delta per copy's row ids")
        self.arrays = [ids_per_copy, deltas_per_copy]
        self.copies, self.width = len(ids_per_copy), width
        self.ids = <const int32_t**>malloc(slots * sizeof(int32_t*))
        self.deltas = <const uint16_t**>malloc(slots * sizeof(uint16_t*))
        self.lengths = <Py_ssize_t*>malloc(slots * sizeof(Py_ssize_t))
        self.cursors = <Py_ssize_t*>malloc(slots * sizeof(Py_ssize_t))
        if self.ids == NULL or self.deltas == NULL or self.lengths == NULL or self.cursors == NULL:
            raise MemoryError()   # __dealloc__ frees what was allocated
        for c in range(self.copies):
            ids_view = ids_per_copy[c]
            delta_view = deltas_per_copy[c]
            if delta_view.shape[0] != ids_view.shape[0] or (ids_view.shape[0] and delta_view.shape[1] != width):
                raise ValueError("a delta's shape does not match its row ids and the parameters")
            self.lengths[c] = ids_view.shape[0]
            self.cursors[c] = 0
            self.ids[c] = &ids_view[0] if self.lengths[c] else NULL
            self.deltas[c] = &delta_view[0, 0] if self.lengths[c] else NULL

    def __dealloc__(self):
        free(self.ids); free(self.deltas); free(self.lengths); free(self.cursors)

    cdef inline Py_ssize_t next_row(self) noexcept nogil:
        """The smallest row id no copy has handed out yet; -1 when all are done."""
        cdef Py_ssize_t c, row = -1
        for c in range(self.copies):
            if self.cursors[c] < self.lengths[c] and (row < 0 or self.ids[c][self.cursors[c]] < row):
                row = self.ids[c][self.cursors[c]]
        return row

    cdef inline const uint16_t* take(self, Py_ssize_t copy, Py_ssize_t row) noexcept nogil:
        """Copy ``copy``'s delta of ``row`` (its cursor moves past it), or NULL if it has none."""
        cdef const uint16_t* delta_row
        if self.cursors[copy] < self.lengths[copy] and self.ids[copy][self.cursors[copy]] == row:
            delta_row = self.deltas[copy] + self.cursors[copy] * self.width
            self.cursors[copy] += 1
            return delta_row
        return NULL


def add_deltas(float[:, ::1] base, float[:, ::1] work, list ids_per_copy, list deltas_per_copy, float scale):
    """``base[row] += scale x f32(delta of row)`` for every copy's delta, copy after copy in
    copy order; then ``work[row] = base[row]``.

    One pass over the rows (a merge of the copies' increasing row ids): each row any
    copy changed is read once, gets each delta that holds it in copy order (the same
    additions in the same order on every worker: the same bits), and is written once to
    ``base`` and ``work``.  Returns the number of values that came out NaN or infinite.
    The caller checks every delta's ids (:func:`hsmcy.distributed._check_delta`).
    """
    cdef Py_ssize_t width = base.shape[1], c, j, row
    cdef int64_t bad = 0
    cdef float* base_row
    cdef float* work_row
    cdef const uint16_t* delta_row
    cdef _CopyDeltas merge = _CopyDeltas(ids_per_copy, deltas_per_copy, width)
    with nogil:
        while True:
            row = merge.next_row()
            if row < 0:
                break
            base_row = &base[row, 0]
            work_row = &work[row, 0]
            for c in range(merge.copies):   # copy order: every worker adds alike
                delta_row = merge.take(c, row)
                if delta_row != NULL:
                    for j in range(width):
                        base_row[j] = base_row[j] + scale * from_bfloat16(delta_row[j])
            for j in range(width):
                bad += not is_finite(base_row[j])
                work_row[j] = base_row[j]
    return bad


# ------------------------------------------------------------------ block momentum
# With block momentum (hsmcy.distributed, skip-gram) the parameters move every round
# by a velocity, ``v <- mu v + mean delta`` and ``w <- w + v``, on every row with a
# velocity, not only the rows a round changed.  Doing that to the whole model every
# round would cost more than the round's training, so it is done lazily: a row keeps
# its ``anchor`` (its value after the last round that changed it), its velocity then,
# and that round's number ``last``; n rounds without a change later it stands at
# ``anchor + velocity x partial[n]`` (``partial[n] = mu + mu^2 + ... + mu^n``) with
# velocity ``power[n] x velocity`` (``power[n] = mu^n``).  Every worker evaluates the
# same expressions on the same rows in the same order, so they keep identical bits.
# Rounds count within an epoch; ``last = -1`` is the end of the previous epoch.

def momentum_start(float[:, ::1] work, const float[:, ::1] anchor, const float[:, ::1] velocity,
                   const int32_t[::1] last, int32_t round_index, const float[::1] partial, const int32_t[::1] rows):
    """``work[row]`` = where ``row`` stands before round ``round_index``, for each row of ``rows``.

    The caller checks shapes, rows in range, ``last < round_index`` and the table's length.
    """
    cdef Py_ssize_t i, j, width = work.shape[1]
    cdef int32_t row
    cdef float steps
    with nogil:
        for i in range(rows.shape[0]):
            row = rows[i]
            steps = partial[round_index - 1 - last[row]]
            for j in range(width):
                work[row, j] = anchor[row, j] + velocity[row, j] * steps


def momentum_take_delta(const float[:, ::1] work, const float[:, ::1] anchor, const float[:, ::1] velocity,
                        const int32_t[::1] last, int32_t round_index, const float[::1] partial,
                        const int32_t[::1] rows, int32_t[::1] out_ids, uint16_t[:, ::1] out_delta):
    """:func:`take_delta` against where each row stood before the round (:func:`momentum_start`'s
    values, recomputed to the same bits).  ``work`` is left as it is: the next copy's
    :func:`momentum_start` sets the rows it reads.  Returns ``n``."""
    cdef Py_ssize_t i, j, n = 0, width = work.shape[1]
    cdef int32_t row, moved
    cdef float steps, start, difference
    cdef uint32_t bits
    with nogil:
        for i in range(rows.shape[0]):
            row = rows[i]
            steps = partial[round_index - 1 - last[row]]
            moved = 0
            for j in range(width):
                start = anchor[row, j] + velocity[row, j] * steps
                difference = work[row, j] - start
                memcpy(&bits, &difference, 4)
                out_delta[n, j] = to_bfloat16_select(bits)
                moved = moved | (difference != 0.0)
            if moved:
                out_ids[n] = row
                n += 1
    return n


def momentum_add_deltas(float[:, ::1] anchor, float[:, ::1] velocity, int32_t[::1] last,
                        int32_t round_index, const float[::1] power, const float[::1] partial,
                        list ids_per_copy, list deltas_per_copy, float scale):
    """End of round ``round_index``, on each row any copy changed (a merge of the copies' ids):
    ``mean = sum of scale x delta`` (copy order), ``velocity <- power[n] velocity + mean``,
    ``anchor <- (anchor + old velocity x partial[n - 1]) + velocity`` and ``last`` =
    round_index, with n the rounds since the row last changed.  (The working copy is not
    written: :func:`momentum_start` sets the rows a copy reads before it trains.)
    Returns the number of values that came out NaN or infinite.  The caller checks the
    deltas (:func:`hsmcy.distributed._check_delta`), shapes and ``last < round_index``.
    """
    cdef Py_ssize_t width = anchor.shape[1], c, j, row
    cdef int64_t bad = 0
    cdef int32_t steps
    cdef float decay, catch_up, old, new
    cdef const uint16_t* delta_row
    cdef _CopyDeltas merge = _CopyDeltas(ids_per_copy, deltas_per_copy, width)
    cdef float* mean = <float*>malloc(max(width, 1) * sizeof(float))
    if mean == NULL:
        raise MemoryError()
    try:
        with nogil:
            while True:
                row = merge.next_row()
                if row < 0:
                    break
                for j in range(width):
                    mean[j] = 0.0
                for c in range(merge.copies):   # copy order: every worker adds alike
                    delta_row = merge.take(c, row)
                    if delta_row != NULL:
                        for j in range(width):
                            mean[j] = mean[j] + scale * from_bfloat16(delta_row[j])
                steps = round_index - last[row]
                decay = power[steps]
                catch_up = partial[steps - 1]
                for j in range(width):
                    old = velocity[row, j]
                    new = decay * old + mean[j]
                    velocity[row, j] = new
                    anchor[row, j] = (anchor[row, j] + old * catch_up) + new
                    bad += not (is_finite(anchor[row, j]) and is_finite(new))
                last[row] = round_index
    finally:
        free(mean)
    return bad


def momentum_settle(float[:, ::1] anchor, float[:, ::1] velocity, int32_t[::1] last, int32_t last_round,
                    const float[::1] power, const float[::1] partial):
    """End of an epoch whose last round is ``last_round``: every row's anchor becomes where it
    stands now, its velocity is decayed to now, and ``last`` = -1 (the next epoch's start).
    Returns the number of values that came out NaN or infinite."""
    cdef Py_ssize_t row, j, width = anchor.shape[1]
    cdef int32_t steps
    cdef int64_t bad = 0
    cdef float new
    with nogil:
        for row in range(anchor.shape[0]):
            steps = last_round - last[row]
            if steps > 0:
                for j in range(width):
                    anchor[row, j] = anchor[row, j] + velocity[row, j] * partial[steps]
                    new = power[steps] * velocity[row, j]
                    # a velocity too small to move anything becomes 0, never subnormal
                    # (subnormal arithmetic is ~100x slower on x86)
                    velocity[row, j] = new if (new > 1e-30 or new < -1e-30) else 0.0
                    bad += not is_finite(anchor[row, j])
            last[row] = -1
    return bad


@cython.boundscheck(True)   # ids from a message or a file: never write outside the arrays
@cython.wraparound(False)
def mark_touched(const int32_t[::1] token_ids, const int64_t[::1] path_offsets, const int32_t[::1] path_nodes,
                 uint8_t[::1] word_touched, uint8_t[::1] node_touched):
    """Mark the rows training ``token_ids`` can change: each word, and the inner nodes on its path.

    A word's path is walked only the first time the word is met (a slice of 8,000
    words holds ~3,000 distinct ones).  Indexing is bounds-checked: an id out of
    range raises ``IndexError`` instead of writing outside the arrays.
    """
    cdef Py_ssize_t i, position
    cdef int32_t word
    with nogil:
        for i in range(token_ids.shape[0]):
            word = token_ids[i]
            if word_touched[word]:
                continue
            word_touched[word] = 1
            for position in range(path_offsets[word], path_offsets[word + 1]):
                node_touched[path_nodes[position]] = 1


def to_bfloat16_array(const float[::1] values):
    """bfloat16 bits of ``values`` (for tests and messages in Python)."""
    out = np.empty(values.shape[0], dtype=np.uint16)
    cdef uint16_t[::1] bits = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(values.shape[0]):
            bits[i] = to_bfloat16(values[i])
    return out
