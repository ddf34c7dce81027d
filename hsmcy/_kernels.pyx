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
from libc.string cimport memset

from hsmcy._blas cimport dot, axpy, scale
from hsmcy._hs cimport next_random, random_uniform, train_path

import numpy as np


# ------------------------------------------------------------ sentence kernels
cdef double sg_sentence(
    const int32_t* words, int64_t n_words, int window, bint shrink_windows, uint64_t* rng,
    float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors,
    const int32_t* path_nodes, const uint8_t* path_codes, const int64_t* path_offsets,
    float* hidden_grad, int size, float alpha, bint compute_loss,
) noexcept nogil:
    """Skip-gram over one (already subsampled) sentence, pair by pair."""
    cdef int64_t centre, context, low, high, start
    cdef int reduction
    cdef float* context_row
    cdef double loss = 0.0
    for centre in range(n_words):
        reduction = <int>(next_random(rng) % <uint64_t>window) if shrink_windows else 0
        low = centre - window + reduction
        if low < 0:
            low = 0
        high = centre + window + 1 - reduction
        if high > n_words:
            high = n_words
        start = path_offsets[words[centre]]
        for context in range(low, high):
            if context == centre:
                continue
            context_row = &input_vectors[words[context], 0]
            memset(hidden_grad, 0, size * sizeof(float))
            loss += train_path(&path_nodes[start], &path_codes[start],
                               path_offsets[words[centre] + 1] - start,
                               context_row, hidden_grad, inner_node_vectors, size, alpha, compute_loss)
            axpy(size, 1.0, hidden_grad, context_row)
    return loss


cdef double cbow_sentence(
    const int32_t* words, int64_t n_words, int window, bint shrink_windows, bint cbow_mean,
    uint64_t* rng, float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors,
    const int32_t* path_nodes, const uint8_t* path_codes, const int64_t* path_offsets,
    float* hidden, float* hidden_grad, int size, float alpha, bint compute_loss,
) noexcept nogil:
    """CBOW over one (already subsampled) sentence.

    As in word2vec.c and gensim, every context vector receives the step computed for
    ``hidden``; with ``cbow_mean=0`` (sum) gensim divides that step by the number of
    context words, and so do we (see ``reference.cbow_step``).
    """
    cdef int64_t centre, context, low, high, start
    cdef int reduction, n_context
    cdef double loss = 0.0
    for centre in range(n_words):
        reduction = <int>(next_random(rng) % <uint64_t>window) if shrink_windows else 0
        low = centre - window + reduction
        if low < 0:
            low = 0
        high = centre + window + 1 - reduction
        if high > n_words:
            high = n_words
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
        start = path_offsets[words[centre]]
        loss += train_path(&path_nodes[start], &path_codes[start],
                           path_offsets[words[centre] + 1] - start,
                           hidden, hidden_grad, inner_node_vectors, size, alpha, compute_loss)
        if not cbow_mean:
            scale(size, 1.0 / n_context, hidden_grad)
        for context in range(low, high):
            if context != centre:
                axpy(size, 1.0, hidden_grad, &input_vectors[words[context], 0])
    return loss


@cython.boundscheck(False)
@cython.wraparound(False)
def train_batch(
    bint sg,
    const int32_t[::1] token_ids,
    const int64_t[::1] sentence_bounds,
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
):
    """Train on sentences ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``.

    Frequent words are dropped with probability ``1 - keep_probability[word]`` and
    window sizes are drawn (``shrink_windows``) from the worker's ``rng_state``,
    all without the GIL.  The learning rate falls linearly from ``alpha_start`` to
    ``alpha_end`` across the batch's words.  ``kept_words`` is scratch space at
    least as long as the longest sentence.

    Returns ``(words_seen, words_trained, loss)``: tokens read, tokens left after
    subsampling, and the summed loss (0.0 unless ``compute_loss``).
    """
    cdef int size = input_vectors.shape[1]
    cdef int64_t n_sentences = sentence_bounds.shape[0] - 1
    cdef int64_t total_words = sentence_bounds[n_sentences] - sentence_bounds[0]
    cdef int64_t sentence, position, n_kept, words_seen = 0, words_trained = 0
    cdef int32_t word
    cdef float alpha, keep
    cdef double loss = 0.0
    cdef uint64_t* rng = &rng_state[0]
    cdef int32_t* kept = &kept_words[0]
    if total_words <= 0:
        return 0, 0, 0.0
    with nogil:
        for sentence in range(n_sentences):
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
            if n_kept < 2:
                continue
            if sg:
                loss += sg_sentence(kept, n_kept, window, shrink_windows, rng,
                                    input_vectors, inner_node_vectors,
                                    &path_nodes[0], &path_codes[0], &path_offsets[0],
                                    &hidden_grad[0], size, alpha, compute_loss)
            else:
                loss += cbow_sentence(kept, n_kept, window, shrink_windows, cbow_mean, rng,
                                      input_vectors, inner_node_vectors,
                                      &path_nodes[0], &path_codes[0], &path_offsets[0],
                                      &hidden[0], &hidden_grad[0], size, alpha, compute_loss)
    return words_seen, words_trained, loss


# ------------------------------------------------------ single-step test twins
def path_step(
    float[::1] hidden,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] nodes,
    const uint8_t[::1] codes,
    float alpha,
):
    """One ``train_path`` call (for tests): returns ``(hidden_grad, loss)``."""
    cdef int size = hidden.shape[0]
    hidden_grad = np.zeros(size, dtype=np.float32)
    cdef float[::1] grad_view = hidden_grad
    cdef double loss
    if nodes.shape[0] == 0:
        return hidden_grad, 0.0
    with nogil:
        loss = train_path(&nodes[0], &codes[0], nodes.shape[0], &hidden[0], &grad_view[0],
                          inner_node_vectors, size, alpha, True)
    return hidden_grad, loss


def random_stream(uint64_t[::1] rng_state, Py_ssize_t count):
    """``count`` raw 64-bit draws from the kernel RNG (for tests of the reference RNG)."""
    out = np.empty(count, dtype=np.uint64)
    cdef uint64_t[::1] out_view = out
    cdef Py_ssize_t i
    for i in range(count):
        out_view[i] = next_random(&rng_state[0])
    return out


# ------------------------------------------------------------------ tree building
@cython.boundscheck(False)
@cython.wraparound(False)
def huffman_merge(const int64_t[::1] counts, const int64_t[::1] order,
                  int64_t[::1] parent, uint8_t[::1] branch):
    """Huffman merging with two queues, O(V) after the sort.

    Leaves are nodes ``0 .. V-1``; merge ``i`` creates node ``V + i`` (inner node i).
    ``order`` lists the leaves by ascending count.  Created nodes come out in
    non-decreasing weight, so the two lightest nodes are always at the front of the
    leaf queue or of the created-node queue: no heap is needed.  Fills ``parent``
    (-1 for the root) and ``branch`` (0 for the lighter child, 1 for the other).
    """
    cdef int64_t n_leaves = counts.shape[0]
    cdef int64_t n_nodes = 2 * n_leaves - 1
    cdef int64_t next_leaf = 0, next_inner = n_leaves, merge, pick, side
    weights_array = np.empty(n_nodes, dtype=np.int64)
    cdef int64_t[::1] weight = weights_array
    with nogil:
        for pick in range(n_leaves):
            weight[pick] = counts[pick]
        parent[n_nodes - 1] = -1
        branch[n_nodes - 1] = 0
        for merge in range(n_leaves - 1):
            weight[n_leaves + merge] = 0
            for side in range(2):
                # Lightest remaining node: ties go to the leaf queue.
                if next_leaf < n_leaves and (next_inner >= n_leaves + merge
                                             or counts[order[next_leaf]] <= weight[next_inner]):
                    pick = order[next_leaf]
                    next_leaf += 1
                else:
                    pick = next_inner
                    next_inner += 1
                parent[pick] = n_leaves + merge
                branch[pick] = side
                weight[n_leaves + merge] += weight[pick]


@cython.boundscheck(False)
@cython.wraparound(False)
def node_depths(const int64_t[::1] parent):
    """Depth of every node of a tree given as a parent array (``-1`` at the root).

    Each node's depth is found by walking up to the first node whose depth is known
    and filling in the chain, so every node is visited O(1) times.  The caller
    guarantees there is no cycle.
    """
    cdef int64_t n_nodes = parent.shape[0], node, current, steps, depth
    depths = np.full(n_nodes, -1, dtype=np.int64)
    cdef int64_t[::1] depth_of = depths
    with nogil:
        for node in range(n_nodes):
            if parent[node] < 0:
                depth_of[node] = 0
        for node in range(n_nodes):
            steps = 0
            current = node
            while depth_of[current] < 0:
                current = parent[current]
                steps += 1
            depth = depth_of[current] + steps
            current = node
            while depth_of[current] < 0:
                depth_of[current] = depth
                depth -= 1
                current = parent[current]
    return depths


@cython.boundscheck(False)
@cython.wraparound(False)
def paths_from_parents(const int64_t[::1] parent, const uint8_t[::1] branch, int64_t n_leaves,
                       const int64_t[::1] top_down_order):
    """Flatten a parent array into root-first paths.

    Nodes ``0 .. n_leaves-1`` are leaves, node ``n_leaves + i`` is inner node ``i``;
    ``parent[root] == -1``; ``top_down_order`` lists every node after its parent.
    Depths come top-down in one pass; then each leaf walks up to the root, writing
    its path back to front.  Returns ``(path_offsets, path_nodes, path_codes)``.
    """
    cdef int64_t n_nodes = parent.shape[0], i, node, position
    depth_array = np.zeros(n_nodes, dtype=np.int64)
    cdef int64_t[::1] depth = depth_array
    offsets = np.zeros(n_leaves + 1, dtype=np.int64)
    cdef int64_t[::1] offset = offsets
    with nogil:
        for i in range(n_nodes):
            node = top_down_order[i]
            if parent[node] >= 0:
                depth[node] = depth[parent[node]] + 1
        for node in range(n_leaves):
            offset[node + 1] = offset[node] + depth[node]
    nodes = np.empty(offset[n_leaves], dtype=np.int32)
    codes = np.empty(offset[n_leaves], dtype=np.uint8)
    cdef int32_t[::1] nodes_view = nodes
    cdef uint8_t[::1] codes_view = codes
    with nogil:
        for i in range(n_leaves):
            position = offset[i + 1] - 1
            node = i
            while parent[node] >= 0:
                nodes_view[position] = <int32_t>(parent[node] - n_leaves)
                codes_view[position] = branch[node]
                position -= 1
                node = parent[node]
    return offsets, nodes, codes
