# cython: language_level=3
"""nogil kernels for hierarchical softmax, and their thin ``def`` entry points.

Nothing here validates input: the Python callers (``hsmcy.tree``,
``hsmcy._training``) check dtypes, shapes and every id before calling, so that a
kernel can never read or write out of bounds.  ``hsmcy.reference`` states the same
maths in plain NumPy, and the tests hold every kernel to it.

Conventions (as gensim and word2vec.c):
* the binary target at a path node is ``1 - code``;
* P(branch | h) = sigmoid(h . v) for code 0 and sigmoid(-h . v) for code 1;
* skip-gram walks the *centre* word's path with each *context* word's input vector,
  CBOW walks it with the mean (``cbow_mean=1``) or sum of the context vectors.
"""
cimport cython
from libc.math cimport exp, log1p, fabs
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset

from hsmcy._blas cimport dot, axpy, scale
from hsmcy._hs cimport next_random, random_uniform, train_path

import os

import numpy as np


# ---------------------------------------------------------- wide-vector steps
cdef extern from "_simd.h" nogil:
    const char* HS_DISPATCH_NAME
    int hs_prefetch_for_write
    int hs_detect_prefetch_for_write()
    void hs_prefetch_row(const float* row, int size)
    void hs_prefetch_path(const int32_t* nodes, const uint8_t* codes)
    float hs_sigmoid(float x)
    double hs_path_step(int size, const float* hidden, float* hidden_grad,
                        float* inner_node_vectors, const int32_t* nodes, const uint8_t* codes,
                        int64_t length, float alpha, int compute_loss)
    double hs_sg_window_step(int size, float** context_rows, int n_context,
                             float** path_rows, const uint8_t* codes,
                             int64_t length, float alpha, int compute_loss,
                             float* scratch, float* gains, float* dots)
    double hs_cbow_step(int size, float** context_rows, int n_context, int cbow_mean,
                        float** path_rows, const uint8_t* codes,
                        int64_t length, float alpha, int compute_loss,
                        float* hidden, float* hidden_grad)


# Which code trains a batch (``train_batch(kernel=...)``):
#   KERNEL_BLAS    per (centre, context) pair, BLAS sdot/saxpy (``_hs.train_path``);
#   KERNEL_SIMD    per pair, the same order, wide-vector C with run-time dispatch;
#   KERNEL_WINDOW  skip-gram batched per window (``reference.sg_window_step``),
#                  wide-vector C; CBOW as KERNEL_SIMD.
cdef enum:
    KERNEL_BLAS = 0
    KERNEL_SIMD = 1
    KERNEL_WINDOW = 2
KERNELS = {"blas": KERNEL_BLAS, "simd": KERNEL_SIMD, "window": KERNEL_WINDOW}
VECTOR_DISPATCH = HS_DISPATCH_NAME.decode()


def prefetch_for_write():
    """Whether the kernels prefetch rows with PREFETCHW (``_simd.h``).  At import:
    where the CPU has it, unless the environment variable ``HSMCY_PREFETCHW=0``
    turns it off (for experiments)."""
    return bool(hs_prefetch_for_write)


def set_prefetch_for_write(enabled):
    """Prefetch rows with PREFETCHW (``True``, if the CPU has it) or plainly; returns
    :func:`prefetch_for_write`.  A hint only: results are the same either way."""
    global hs_prefetch_for_write
    hs_prefetch_for_write = 0
    if enabled:
        hs_detect_prefetch_for_write()
    return prefetch_for_write()


set_prefetch_for_write(os.environ.get("HSMCY_PREFETCHW", "1") != "0")


cdef struct Scratch:
    # Per-worker buffers, owned by train_batch's caller frame.
    float* hidden          # size
    float* hidden_grad     # size
    float* window_grads    # 2 * window * size
    float* gains           # 2 * window
    float* dots            # 2 * window
    float** context_rows   # 2 * window
    float** path_rows      # path_rows_capacity; malloc'ed, grown on demand
    int64_t path_rows_capacity
    # A worker's private copies of the top ``top_levels`` levels of the tree
    # (see ``top_row_slots``), each slot's row at the last copy from the shared
    # row, and whether the slot was copied since the last merge; NULL and 0 when
    # not used.
    float* top_rows
    float* top_rows_start
    uint8_t* top_copied
    int top_levels
    int64_t top_stride     # floats from one private row to the next (>= size)
    bint out_of_memory     # set when path_rows could not grow; the batch stops


# ------------------------------------------------- private copies of the top rows
# Every path starts at the root, so with several workers the top rows of the tree
# are written by all of them all the time, and their cache lines travel between
# the cores at every write.  A worker can instead train on private copies of the
# top levels and add its change to the shared rows every ~1,000 words (Vuurens et
# al. 2016, "Efficient parallel learning of word2vec"; merging only once per
# 10,000-word batch measurably hurt the vectors: docs/benchmarks.md).  A node at
# depth d whose path so far has codes c_0 .. c_{d-1} lives in slot
# 2^d - 1 + (c_0 c_1 .. c_{d-1} read as a binary number): no lookup table needed.
# A slot is copied from its shared row when a path first reaches it after a merge,
# and only slots copied since are merged: the deep levels, most of whose slots go
# untouched between two merges, then cost nothing but memory.

cdef inline int path_row_pointers(const int32_t* nodes, const uint8_t* codes, int64_t length,
                                  float* inner_node_vectors, int size, Scratch* scratch) noexcept nogil:
    """Fill ``scratch.path_rows`` with the row of each path node, private copy or shared.

    Returns -1 if the buffer could not be grown (out of memory), else 0."""
    cdef int64_t k, slot, prefix = 0, capacity
    cdef float** grown
    if length > scratch.path_rows_capacity:
        capacity = 2 * length
        grown = <float**>realloc(scratch.path_rows, capacity * sizeof(float*))
        if grown == NULL:
            scratch.out_of_memory = True
            return -1
        scratch.path_rows = grown
        scratch.path_rows_capacity = capacity
    for k in range(length):
        if k < scratch.top_levels:
            slot = (((<int64_t>1) << k) - 1) + prefix
            if not scratch.top_copied[slot]:
                memcpy(scratch.top_rows + slot * scratch.top_stride,
                       inner_node_vectors + <int64_t>nodes[k] * size, size * sizeof(float))
                memcpy(scratch.top_rows_start + slot * scratch.top_stride,
                       scratch.top_rows + slot * scratch.top_stride, size * sizeof(float))
                scratch.top_copied[slot] = 1
            scratch.path_rows[k] = scratch.top_rows + slot * scratch.top_stride
            prefix = 2 * prefix + codes[k]
        else:
            scratch.path_rows[k] = inner_node_vectors + <int64_t>nodes[k] * size
    return 0


# Every private level merges at least every 2**3 = 8 merges (~8,000 words, about
# as often as every level merged when the copies lasted one 10,000-word batch).
# Skip-gram with gaps of 64 merges ran 1.5 % faster, but its analogy accuracy
# fell by 0.2-0.4 points in paired runs (docs/benchmarks.md).
cdef enum:
    MERGE_HALVINGS_MAX = 3


cdef void merge_top_rows(float[:, ::1] inner_node_vectors, const int32_t[::1] top_nodes,
                         Scratch* scratch, int64_t merge_number, int every_time_levels) noexcept nogil:
    """Shared rows += the change to the private copies since they were copied (other
    workers' changes made meanwhile are kept: each worker adds only its own); the
    next path to reach a merged slot copies it afresh.

    The top ``every_time_levels`` levels are merged every time, each level below
    half as often as the one above (its rows are reached about half as often, so
    a copy still misses about as many of the other workers' updates), but at least
    every ``2**MERGE_HALVINGS_MAX`` merges; a negative ``merge_number`` merges
    every level."""
    cdef Py_ssize_t slot, i, size = inner_node_vectors.shape[1]
    cdef int level, skipped_levels
    cdef float* private_row
    cdef float* start_row
    cdef float* shared_row
    for level in range(scratch.top_levels):
        skipped_levels = level - every_time_levels + 1
        if merge_number >= 0 and skipped_levels > 0 and \
                merge_number & (((<int64_t>1) << min(skipped_levels, MERGE_HALVINGS_MAX)) - 1) != 0:
            continue
        for slot in range(((<Py_ssize_t>1) << level) - 1, ((<Py_ssize_t>1) << (level + 1)) - 1):
            if scratch.top_copied[slot]:
                private_row = scratch.top_rows + slot * scratch.top_stride
                start_row = scratch.top_rows_start + slot * scratch.top_stride
                shared_row = &inner_node_vectors[top_nodes[slot], 0]
                for i in range(size):
                    shared_row[i] += private_row[i] - start_row[i]
                scratch.top_copied[slot] = 0


# ------------------------------------------------------------ sentence kernels
cdef inline void window_bounds(int64_t centre, int64_t n_words, int window, bint shrink_windows,
                               uint64_t* rng, int64_t* low, int64_t* high) noexcept nogil:
    """Context positions [low, high) of ``centre``; one RNG draw when ``shrink_windows``."""
    cdef int reduction = <int>(next_random(rng) % <uint64_t>window) if shrink_windows else 0
    low[0] = centre - window + reduction
    if low[0] < 0:
        low[0] = 0
    high[0] = centre + window + 1 - reduction
    if high[0] > n_words:
        high[0] = n_words


cdef double sg_sentence(
    const int32_t* words, int64_t n_words, int window, bint shrink_windows, uint64_t* rng,
    float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors,
    const int32_t* path_nodes, const uint8_t* path_codes, const int64_t* path_offsets,
    Scratch* scratch, int size, float alpha, bint compute_loss, int kernel,
) noexcept nogil:
    """Skip-gram over one (already subsampled) sentence: per pair, or per window."""
    cdef int64_t centre, context, low, high, start, length
    cdef int n_context
    cdef float* context_row
    cdef double loss = 0.0
    for centre in range(n_words):
        window_bounds(centre, n_words, window, shrink_windows, rng, &low, &high)
        start = path_offsets[words[centre]]
        length = path_offsets[words[centre] + 1] - start
        if kernel == KERNEL_WINDOW:
            # The next centre word's window brings in at most one new context row,
            # and its path is a random place in the path arrays.
            if centre + window + 1 < n_words:
                hs_prefetch_row(&input_vectors[words[centre + window + 1], 0], size)
            if centre + 1 < n_words:
                hs_prefetch_path(&path_nodes[path_offsets[words[centre + 1]]],
                                 &path_codes[path_offsets[words[centre + 1]]])
            n_context = 0
            for context in range(low, high):
                if context != centre:
                    scratch.context_rows[n_context] = &input_vectors[words[context], 0]
                    n_context += 1
            if path_row_pointers(&path_nodes[start], &path_codes[start], length,
                                 &inner_node_vectors[0, 0], size, scratch) < 0:
                return loss
            loss += hs_sg_window_step(size, scratch.context_rows, n_context, scratch.path_rows,
                                      &path_codes[start], length, alpha, compute_loss,
                                      scratch.window_grads, scratch.gains, scratch.dots)
            continue
        for context in range(low, high):
            if context == centre:
                continue
            context_row = &input_vectors[words[context], 0]
            memset(scratch.hidden_grad, 0, size * sizeof(float))
            if kernel == KERNEL_SIMD:
                loss += hs_path_step(size, context_row, scratch.hidden_grad, &inner_node_vectors[0, 0],
                                     &path_nodes[start], &path_codes[start], length, alpha, compute_loss)
            else:
                loss += train_path(&path_nodes[start], &path_codes[start], length,
                                   context_row, scratch.hidden_grad, inner_node_vectors, size, alpha,
                                   compute_loss)
            axpy(size, 1.0, scratch.hidden_grad, context_row)
    return loss


cdef double cbow_sentence(
    const int32_t* words, int64_t n_words, int window, bint shrink_windows, bint cbow_mean,
    uint64_t* rng, float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors,
    const int32_t* path_nodes, const uint8_t* path_codes, const int64_t* path_offsets,
    Scratch* scratch, int size, float alpha, bint compute_loss, int kernel,
) noexcept nogil:
    """CBOW over one (already subsampled) sentence.

    As in word2vec.c and gensim, every context vector receives the step computed for
    ``hidden``; with ``cbow_mean=0`` (sum) gensim divides that step by the number of
    context words, and so do we (see ``reference.cbow_step``).
    """
    cdef int64_t centre, context, low, high, start, length
    cdef int n_context
    cdef float* hidden = scratch.hidden
    cdef float* hidden_grad = scratch.hidden_grad
    cdef double loss = 0.0
    for centre in range(n_words):
        window_bounds(centre, n_words, window, shrink_windows, rng, &low, &high)
        start = path_offsets[words[centre]]
        length = path_offsets[words[centre] + 1] - start
        if kernel != KERNEL_BLAS:
            if centre + window + 1 < n_words:
                hs_prefetch_row(&input_vectors[words[centre + window + 1], 0], size)
            n_context = 0
            for context in range(low, high):
                if context != centre:
                    scratch.context_rows[n_context] = &input_vectors[words[context], 0]
                    n_context += 1
            if n_context > 0:
                if path_row_pointers(&path_nodes[start], &path_codes[start], length,
                                     &inner_node_vectors[0, 0], size, scratch) < 0:
                    return loss
                loss += hs_cbow_step(size, scratch.context_rows, n_context, cbow_mean,
                                     scratch.path_rows, &path_codes[start],
                                     length, alpha, compute_loss, hidden, hidden_grad)
            continue
        memset(hidden, 0, size * sizeof(float))
        n_context = 0
        for context in range(low, high):
            if context != centre:
                axpy(size, 1.0, &input_vectors[words[context], 0], hidden)
                n_context += 1
        if n_context == 0:
            continue
        if cbow_mean:
            scale(size, 1.0 / n_context, hidden)
        memset(hidden_grad, 0, size * sizeof(float))
        loss += train_path(&path_nodes[start], &path_codes[start], length,
                           hidden, hidden_grad, inner_node_vectors, size, alpha, compute_loss)
        if not cbow_mean:
            scale(size, 1.0 / n_context, hidden_grad)
        for context in range(low, high):
            if context != centre:
                axpy(size, 1.0, hidden_grad, &input_vectors[words[context], 0])
    return loss


# Sentence bounds are int32 for an in-memory corpus of fewer than 2**31 tokens
# (half the memory per sentence), int64 otherwise.
ctypedef fused bound_t:
    int32_t
    int64_t


@cython.boundscheck(False)
@cython.wraparound(False)
def train_batch(
    bint sg,
    const int32_t[::1] token_ids,
    const bound_t[::1] sentence_bounds,
    const float[::1] keep_probability,
    float[:, ::1] input_vectors,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes,
    const uint8_t[::1] path_codes,
    const int64_t[::1] path_offsets,
    int window,
    bint shrink_windows,
    bint cbow_mean,
    float alpha_start,
    float alpha_end,
    uint64_t[::1] rng_state,
    float[::1] hidden,
    float[::1] hidden_grad,
    int32_t[::1] kept_words,
    bint compute_loss,
    int kernel=KERNEL_BLAS,
    const int32_t[::1] top_nodes=None,
    float[:, ::1] top_rows=None,
    float[:, ::1] top_rows_start=None,
    int64_t top_sync_words=1024,
    int top_every_time_levels=16,
    uint8_t[::1] top_copied=None,
    int64_t[::1] top_state=None,
):
    """Train on sentences ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``
    (``sentence_bounds`` int32 or int64).

    Frequent words are dropped with probability ``1 - keep_probability[word]`` and
    window sizes are drawn (``shrink_windows``) from the worker's ``rng_state``,
    all without the GIL.  The learning rate falls linearly from ``alpha_start`` to
    ``alpha_end`` across the batch's words.  ``kept_words`` is scratch space at
    least as long as the longest sentence.  ``kernel`` is one of ``KERNELS``'
    values (see there); all give the same subsampling and windows.

    Returns ``(words_seen, words_trained, loss)``: tokens read, tokens left after
    subsampling, and the summed loss (0.0 unless ``compute_loss``).

    With ``top_nodes`` (from ``top_row_slots``; ``KERNEL_WINDOW`` only) the batch
    trains the top levels of the tree on the worker's private copies
    ``top_rows``, each copied from ``inner_node_vectors`` when a path first
    reaches it, and adds their change to ``inner_node_vectors`` every
    ``top_sync_words`` words read (the top ``top_every_time_levels`` levels; each
    level below half as often: ``merge_top_rows``).  A merged copy is copied
    afresh when next reached, which brings in the other workers' changes.
    ``top_rows_start`` is scratch of the same shape.  Without ``top_copied`` all
    private rows are merged at the end of the batch.  With it (one flag per slot)
    and ``top_state`` (2 int64: merges so far, words read since the last one), the
    private rows and the merge schedule carry over to the worker's next batch, and
    the caller merges what is left with ``merge_private_top_rows`` when the worker
    stops: the deep levels then merge on their own schedule rather than all of
    them at every batch end.
    """
    cdef int size = input_vectors.shape[1]
    cdef int64_t n_sentences = sentence_bounds.shape[0] - 1
    cdef int64_t total_words = sentence_bounds[n_sentences] - sentence_bounds[0]
    cdef int64_t sentence, position, n_kept, words_seen = 0, words_trained = 0
    # Words read since the last merge of the private rows, and merges so far
    # (from 1: merge 0 would merge every level, see merge_top_rows).
    cdef int64_t unsynced = 0, merges = 1
    cdef int32_t word
    cdef float alpha, keep
    cdef double loss = 0.0
    # The RNG state lives on this thread's stack during the batch: the workers'
    # one-word state arrays may share a cache line, and writing them for every
    # draw would make the cores fight over it.
    cdef uint64_t rng_local = rng_state[0]
    cdef uint64_t* rng = &rng_local
    cdef int32_t* kept = &kept_words[0]
    if kernel not in (KERNEL_BLAS, KERNEL_SIMD, KERNEL_WINDOW):
        raise ValueError(f"kernel must be one of {sorted(KERNELS.values())}, got {kernel}")
    cdef int top_levels = 0
    cdef bint carry_over = top_copied is not None
    if top_nodes is not None:
        top_levels = _check_top_rows(top_nodes, top_rows, top_rows_start, inner_node_vectors, kernel)
        if carry_over:
            _check_carry_over(top_nodes, top_copied, top_state)
            merges, unsynced = top_state[0], top_state[1]
    if total_words <= 0:
        return 0, 0, 0.0
    # Window scratch (at most 2 * window context words per centre word, and fewer
    # than the longest sentence: a huge window must not mean a huge allocation), in
    # one block with a cache line of padding at each end: small arrays of two
    # workers would otherwise sit side by side in memory, and the writes of one
    # thread would keep evicting the other's lines (false sharing).
    cdef Py_ssize_t pad = 16, n_context_max = 2 * <Py_ssize_t> window, longest = 0
    for sentence in range(n_sentences):
        longest = max(longest, sentence_bounds[sentence + 1] - sentence_bounds[sentence])
    n_context_max = max(min(n_context_max, longest), 1)
    scratch_array = np.zeros(pad + n_context_max * size + 2 * n_context_max + pad, dtype=np.float32)
    context_rows_array = np.zeros(pad + n_context_max + pad, dtype=np.uintp)
    cdef float[::1] block = scratch_array
    cdef size_t[::1] context_rows = context_rows_array
    cdef Scratch scratch
    scratch.hidden = &hidden[0]
    scratch.hidden_grad = &hidden_grad[0]
    scratch.window_grads = &block[pad]
    scratch.gains = &block[pad + n_context_max * size]
    scratch.dots = &block[pad + n_context_max * size + n_context_max]
    scratch.context_rows = <float**>&context_rows[pad]
    scratch.top_levels = top_levels
    scratch.top_rows = &top_rows[0, 0] if top_levels else NULL
    scratch.top_rows_start = &top_rows_start[0, 0] if top_levels else NULL
    scratch.top_stride = top_rows.shape[1] if top_levels else 0
    scratch.top_copied = NULL
    scratch.out_of_memory = False
    scratch.path_rows_capacity = 64
    scratch.path_rows = <float**>malloc(scratch.path_rows_capacity * sizeof(float*))
    if scratch.path_rows == NULL:
        raise MemoryError("no memory for a 64-pointer scratch buffer")
    if top_levels and carry_over:
        scratch.top_copied = &top_copied[0]
    elif top_levels:
        scratch.top_copied = <uint8_t*>calloc(top_nodes.shape[0], sizeof(uint8_t))
        if scratch.top_copied == NULL:
            free(scratch.path_rows)
            raise MemoryError(f"no memory for {top_nodes.shape[0]} private-row flags")
    with nogil:
        for sentence in range(n_sentences):
            if scratch.out_of_memory:
                break
            alpha = alpha_start + (alpha_end - alpha_start) * (<float>words_seen / total_words)
            n_kept = 0
            for position in range(sentence_bounds[sentence], sentence_bounds[sentence + 1]):
                word = token_ids[position]
                keep = keep_probability[word]
                if keep < 1.0 and random_uniform(rng) >= keep:
                    continue
                kept[n_kept] = word
                n_kept += 1
            words_seen += sentence_bounds[sentence + 1] - sentence_bounds[sentence]
            words_trained += n_kept
            unsynced += sentence_bounds[sentence + 1] - sentence_bounds[sentence]
            if top_levels and unsynced >= top_sync_words:
                # Merge often: the top rows change with every centre word, and
                # copies that ignore the other workers for long train worse.
                merge_top_rows(inner_node_vectors, top_nodes, &scratch, merges, top_every_time_levels)
                merges += 1
                unsynced = 0
            if n_kept < 2:
                continue
            if sg:
                loss += sg_sentence(kept, n_kept, window, shrink_windows, rng,
                                    input_vectors, inner_node_vectors,
                                    &path_nodes[0], &path_codes[0], &path_offsets[0],
                                    &scratch, size, alpha, compute_loss, kernel)
            else:
                loss += cbow_sentence(kept, n_kept, window, shrink_windows, cbow_mean, rng,
                                      input_vectors, inner_node_vectors,
                                      &path_nodes[0], &path_codes[0], &path_offsets[0],
                                      &scratch, size, alpha, compute_loss, kernel)
        if top_levels and not carry_over:
            merge_top_rows(inner_node_vectors, top_nodes, &scratch, -1, top_every_time_levels)
    free(scratch.path_rows)
    if not carry_over:
        free(scratch.top_copied)
    elif top_levels:
        top_state[0], top_state[1] = merges, unsynced
    rng_state[0] = rng_local
    if scratch.out_of_memory:
        raise MemoryError("no memory to hold the rows of a tree path")
    return words_seen, words_trained, loss


def _check_top_copied(top_nodes, top_copied):
    if top_copied.shape[0] != top_nodes.shape[0]:
        raise ValueError(f"top_copied must have one flag per slot ({top_nodes.shape[0]}), got {top_copied.shape[0]}")


def _check_carry_over(top_nodes, top_copied, top_state):
    _check_top_copied(top_nodes, top_copied)
    if top_state is None or top_state.shape[0] != 2 or top_state[0] < 1 or top_state[1] < 0:
        raise ValueError("top_state must be 2 int64 (merges so far >= 1, words since the last merge >= 0)")


def merge_private_top_rows(float[:, ::1] inner_node_vectors, const int32_t[::1] top_nodes,
                           float[:, ::1] top_rows, float[:, ::1] top_rows_start, uint8_t[::1] top_copied):
    """Add what is left of a worker's private top rows (``train_batch`` with
    ``top_copied``) to ``inner_node_vectors``, every level; clears ``top_copied``."""
    levels = _check_top_rows(top_nodes, top_rows, top_rows_start, inner_node_vectors, KERNEL_WINDOW)
    _check_top_copied(top_nodes, top_copied)
    cdef Scratch scratch
    scratch.top_levels = levels
    scratch.top_rows = &top_rows[0, 0]
    scratch.top_rows_start = &top_rows_start[0, 0]
    scratch.top_stride = top_rows.shape[1]
    scratch.top_copied = &top_copied[0]
    with nogil:
        merge_top_rows(inner_node_vectors, top_nodes, &scratch, -1, 1)


def _check_top_rows(top_nodes, top_rows, top_rows_start, inner_node_vectors, int kernel):
    """Levels cached by ``top_nodes`` (a ``top_row_slots`` table), with every
    array checked against it, so that the kernel cannot index out of bounds."""
    cdef Py_ssize_t n_slots = top_nodes.shape[0]
    levels = (n_slots + 1).bit_length() - 1
    if n_slots < 1 or n_slots != (1 << levels) - 1:
        raise ValueError(f"top_nodes must have 2**levels - 1 entries, got {n_slots}")
    if kernel != KERNEL_WINDOW:
        raise ValueError("private top rows (top_nodes) need the 'window' kernel")
    size = inner_node_vectors.shape[1]
    for name, rows in (("top_rows", top_rows), ("top_rows_start", top_rows_start)):
        if rows is None or rows.shape[0] != n_slots or rows.shape[1] < size:
            raise ValueError(f"{name} must have shape ({n_slots}, k) with k >= {size}")
    if top_rows_start.shape[1] != top_rows.shape[1]:
        raise ValueError("top_rows and top_rows_start must have the same shape")
    nodes = np.asarray(top_nodes)
    if nodes.min() < -1 or nodes.max() >= inner_node_vectors.shape[0]:
        raise ValueError("top_nodes holds an inner node id out of range")
    return levels


def top_row_slots(const int32_t[::1] path_nodes, const uint8_t[::1] path_codes,
                  const int64_t[::1] path_offsets, int levels):
    """Slot -> inner node id (-1: no node) for the top ``levels`` levels of a tree.

    The node at depth d reached by codes c_0 .. c_{d-1} goes to slot
    ``2**d - 1 + int(c_0 .. c_{d-1} in binary)`` (``path_row_pointers``)."""
    if not 1 <= levels <= 16:
        raise ValueError(f"levels must be in [1, 16] (2**levels - 1 rows per worker), got {levels}")
    slots = np.full((1 << levels) - 1, -1, dtype=np.int32)
    cdef int32_t[::1] view = slots
    cdef Py_ssize_t leaf, k, start, length
    cdef int64_t prefix
    for leaf in range(path_offsets.shape[0] - 1):
        start = path_offsets[leaf]
        length = min(path_offsets[leaf + 1] - start, levels)
        prefix = 0
        for k in range(length):
            view[((1 << k) - 1) + prefix] = path_nodes[start + k]
            prefix = 2 * prefix + path_codes[start + k]
    return slots


# ------------------------------------------------------ single-step test twins
def path_step(
    float[::1] hidden,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] nodes,
    const uint8_t[::1] codes,
    float alpha,
    str kernel="blas",
):
    """One path step (for tests): ``_hs.train_path`` (``kernel="blas"``) or the
    wide-vector ``hs_path_step`` (any other kernel).  Returns ``(hidden_grad, loss)``."""
    cdef int size = hidden.shape[0]
    hidden_grad = np.zeros(size, dtype=np.float32)
    cdef float[::1] grad_view = hidden_grad
    cdef double loss
    cdef int variant = KERNELS[kernel]
    _check_twin_path(inner_node_vectors, nodes, codes, size)
    if nodes.shape[0] == 0:
        return hidden_grad, 0.0
    with nogil:
        if variant == KERNEL_BLAS:
            loss = train_path(&nodes[0], &codes[0], nodes.shape[0], &hidden[0], &grad_view[0],
                              inner_node_vectors, size, alpha, True)
        else:
            loss = hs_path_step(size, &hidden[0], &grad_view[0], &inner_node_vectors[0, 0],
                                &nodes[0], &codes[0], nodes.shape[0], alpha, True)
    return hidden_grad, loss


def _check_twin_path(inner_node_vectors, nodes, codes, size):
    if inner_node_vectors.shape[1] != size:
        raise ValueError("inner_node_vectors and the hidden vectors differ in width")
    if nodes.shape[0] != codes.shape[0]:
        raise ValueError("nodes and codes differ in length")
    if nodes.shape[0] and (min(nodes) < 0 or max(nodes) >= inner_node_vectors.shape[0]):
        raise ValueError("a node id is out of range")


def _context_pointers(float[:, ::1] input_vectors, const int32_t[::1] context_words):
    if context_words.shape[0] == 0:
        raise ValueError("context_words is empty")
    if min(context_words) < 0 or max(context_words) >= input_vectors.shape[0]:
        raise ValueError("a context word id is out of range")
    return _row_pointers(input_vectors, context_words)


def _row_pointers(float[:, ::1] rows, const int32_t[::1] ids):
    """Addresses of ``rows[ids[j]]`` (ids already checked), as the C steps take them."""
    pointers = np.empty(ids.shape[0], dtype=np.uintp)
    cdef size_t[::1] view = pointers
    cdef Py_ssize_t j
    for j in range(ids.shape[0]):
        view[j] = <size_t>&rows[ids[j], 0]
    return pointers


def _step_pointers(input_vectors, inner_node_vectors, nodes, codes, context_words):
    """Checked addresses of a single-step twin's context rows and path rows."""
    _check_twin_path(inner_node_vectors, nodes, codes, input_vectors.shape[1])
    return _context_pointers(input_vectors, context_words), _row_pointers(inner_node_vectors, nodes)


def sg_window_step(
    float[:, ::1] input_vectors,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] nodes,
    const uint8_t[::1] codes,
    const int32_t[::1] context_words,
    float alpha,
):
    """``hs_sg_window_step`` for one centre word (for tests): updates both arrays in
    place and returns the loss.  See ``reference.sg_window_step``."""
    cdef int size = input_vectors.shape[1]
    cdef int n_context = context_words.shape[0]
    pointers_array, rows_array = _step_pointers(input_vectors, inner_node_vectors, nodes, codes, context_words)
    cdef size_t[::1] pointers = pointers_array
    cdef size_t[::1] rows = rows_array
    if nodes.shape[0] == 0:
        return 0.0
    cdef float[::1] steps = np.zeros(n_context * size, dtype=np.float32)
    cdef float[::1] gains = np.zeros(n_context, dtype=np.float32)
    cdef float[::1] dots = np.zeros(n_context, dtype=np.float32)
    cdef double loss
    with nogil:
        loss = hs_sg_window_step(size, <float**>&pointers[0], n_context, <float**>&rows[0],
                                 &codes[0], nodes.shape[0], alpha, True,
                                 &steps[0], &gains[0], &dots[0])
    return loss


def cbow_step(
    float[:, ::1] input_vectors,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] nodes,
    const uint8_t[::1] codes,
    const int32_t[::1] context_words,
    float alpha,
    bint cbow_mean,
):
    """``hs_cbow_step`` for one centre word (for tests): updates both arrays in place
    and returns the loss.  See ``reference.cbow_step``."""
    cdef int size = input_vectors.shape[1]
    pointers_array, rows_array = _step_pointers(input_vectors, inner_node_vectors, nodes, codes, context_words)
    cdef size_t[::1] pointers = pointers_array
    cdef size_t[::1] rows = rows_array
    if nodes.shape[0] == 0:
        return 0.0
    cdef float[::1] hidden = np.zeros(size, dtype=np.float32)
    cdef float[::1] hidden_grad = np.zeros(size, dtype=np.float32)
    cdef double loss
    with nogil:
        loss = hs_cbow_step(size, <float**>&pointers[0], context_words.shape[0], cbow_mean,
                            <float**>&rows[0], &codes[0], nodes.shape[0], alpha, True,
                            &hidden[0], &hidden_grad[0])
    return loss


def fast_sigmoid(const float[::1] x):
    """The wide-vector kernels' sigmoid, elementwise (for tests)."""
    out = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] out_view = out
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out_view[i] = hs_sigmoid(x[i])
    return out


def random_stream(uint64_t[::1] rng_state, Py_ssize_t count):
    """``count`` raw 64-bit draws from the kernel RNG (for tests of the reference RNG)."""
    out = np.empty(count, dtype=np.uint64)
    cdef uint64_t[::1] out_view = out
    cdef Py_ssize_t i
    for i in range(count):
        out_view[i] = next_random(&rng_state[0])
    return out
