# cython: language_level=3
"""nogil kernels that *use* a hierarchical softmax: over rows of hidden vectors.

Every ``def`` here processes rows ``start .. end - 1`` of its inputs inside one
``nogil`` block, so that ``hsmcy.inference`` can hand disjoint row ranges to worker
threads.  Nothing here validates input: ``hsmcy.inference`` checks dtypes, shapes
and every id first.  ``hsmcy.reference`` states the same maths in NumPy and the
tests hold each kernel to it.

Conventions (as in ``hsmcy._kernels`` and gensim): branch 0 of an inner node ``n`` is
taken with probability ``sigmoid(h . v_n)``, branch 1 with ``sigmoid(-h . v_n)``.
Top-down walks use ``children[n, b]`` (``hsmcy.BinaryTree.children``): an inner
node id ``>= 0``, or leaf ``w`` encoded as ``-1 - w``.

Kernels that need scratch (per worker call) allocate it before releasing the
GIL and raise ``MemoryError`` if they cannot.
"""
from libc.math cimport exp, log, log1p, fabs
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

from hsmcy._blas cimport dot, axpy, scale, matmul_transposed
from hsmcy._hs cimport sigmoid, softplus_neg, next_random, train_path


# ------------------------------------------------------------------ one path
# log P(leaf) is a sum of log-sigmoids.  Rather than exp + log1p per node, the
# sigmoids are multiplied (one exp each) and the log taken once per path; a factor
# below e^-30 goes straight to the log (-softplus), and the product is flushed to
# the log before it could underflow; above e^30 the tiny -e^-x is added directly
# (1 - e^-x would round to 1).  Exact up to double rounding: no table, no clipping.
cdef inline void add_log_sigmoid(double x, double* product, double* total) noexcept nogil:
    """Add log sigmoid(x) to the running ``log(product) + total``."""
    if x < -30.0:
        total[0] -= softplus_neg(x)
    elif x > 30.0:
        total[0] -= exp(-x)   # log sigmoid(x) = -log1p(e^-x) = -e^-x to double precision here
    else:
        product[0] *= 1.0 / (1.0 + exp(-x))   # each factor >= 1e-13
        if product[0] < 1e-200:
            total[0] += log(product[0])
            product[0] = 1.0


cdef inline double path_log_prob(
    const float* hidden, const float[:, ::1] inner_node_vectors,
    const int32_t* nodes, const uint8_t* codes, int64_t length, int size,
) noexcept nogil:
    """log P(leaf | hidden) = sum_k log sigmoid(s_k h . v_k) along the leaf's path."""
    cdef int64_t k
    cdef double signed_dot
    cdef double product = 1.0, total = 0.0
    for k in range(length):
        signed_dot = dot(size, hidden, &inner_node_vectors[nodes[k], 0])
        add_log_sigmoid(-signed_dot if codes[k] else signed_dot, &product, &total)
    return total + log(product)


def log_prob_rows(
    const float[:, ::1] hidden, const float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes, const uint8_t[::1] path_codes, const int64_t[::1] path_offsets,
    const int64_t[::1] labels, double[::1] out, Py_ssize_t start, Py_ssize_t end,
):
    """out[i] = log P(labels[i] | hidden[i]) for rows start..end-1."""
    cdef int size = hidden.shape[1]
    cdef Py_ssize_t row
    cdef int64_t first
    with nogil:
        for row in range(start, end):
            first = path_offsets[labels[row]]
            out[row] = path_log_prob(&hidden[row, 0], inner_node_vectors, &path_nodes[first], &path_codes[first],
                                     path_offsets[labels[row] + 1] - first, size)


def loss_grad_rows(
    const float[:, ::1] hidden, const float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes, const uint8_t[::1] path_codes, const int64_t[::1] path_offsets,
    const int64_t[::1] labels, const int64_t[::1] grad_offsets,
    double[::1] loss, float[:, ::1] hidden_grad, int32_t[::1] grad_nodes, float[:, ::1] grad_values,
    Py_ssize_t start, Py_ssize_t end,
):
    """Loss -log P(labels[i] | hidden[i]) and its exact gradients, rows start..end-1.

    With e_k = sigmoid(h . v_k) - (1 - code_k) (d loss / d(h . v_k)):
    ``hidden_grad[i] = sum_k e_k v_k`` (must arrive zeroed) and, for path position k
    of row i, ``grad_nodes[p] = node_k`` and ``grad_values[p] = e_k h`` where
    ``p = grad_offsets[i] + k``.  The weights are not changed.
    """
    cdef int size = hidden.shape[1]
    cdef Py_ssize_t row
    cdef int64_t first, length, k, position
    cdef const float* h
    cdef const float* node_row
    cdef float dot_product, error
    cdef double row_loss
    with nogil:
        for row in range(start, end):
            first = path_offsets[labels[row]]
            length = path_offsets[labels[row] + 1] - first
            h = &hidden[row, 0]
            row_loss = 0.0
            for k in range(length):
                node_row = &inner_node_vectors[path_nodes[first + k], 0]
                dot_product = dot(size, h, node_row)
                error = sigmoid(dot_product) - (1 - path_codes[first + k])
                axpy(size, error, node_row, &hidden_grad[row, 0])
                position = grad_offsets[row] + k
                grad_nodes[position] = path_nodes[first + k]
                memcpy(&grad_values[position, 0], h, size * sizeof(float))
                scale(size, error, &grad_values[position, 0])
                row_loss += softplus_neg(dot_product if path_codes[first + k] == 0 else -dot_product)
            loss[row] = row_loss


def sgd_rows(
    const float[:, ::1] hidden, float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes, const uint8_t[::1] path_codes, const int64_t[::1] path_offsets,
    const int64_t[::1] labels, float learning_rate,
    double[::1] loss, float[:, ::1] hidden_grad, Py_ssize_t start, Py_ssize_t end,
):
    """One SGD step per row, in row order, on the inner-node vectors (``train_path``).

    Writes ``hidden_grad[i] = d loss_i / d hidden[i]`` (taken at the weights the
    row's step started from; must arrive zeroed) and ``loss[i]``.
    """
    cdef int size = hidden.shape[1]
    cdef Py_ssize_t row
    cdef int64_t first
    with nogil:
        for row in range(start, end):
            first = path_offsets[labels[row]]
            loss[row] = train_path(&path_nodes[first], &path_codes[first], path_offsets[labels[row] + 1] - first,
                                   &hidden[row, 0], &hidden_grad[row, 0], inner_node_vectors, size,
                                   learning_rate, True)
            # train_path accumulates the step -learning_rate * d loss / d hidden.
            scale(size, -1.0 / learning_rate, &hidden_grad[row, 0])


# ------------------------------------------------------- top-down: all leaves
def distribution_rows(
    const float[:, ::1] hidden, const float[:, ::1] inner_node_vectors,
    const int32_t[:, ::1] children, const int32_t[::1] inner_nodes_top_down,
    float[:, ::1] out, bint log_space, Py_ssize_t start, Py_ssize_t end,
):
    """out[i, w] = P(w | hidden[i]) (or its log) for every leaf w, rows start..end-1.

    Top-down: a node's probability is its parent's times the sigmoid of its branch,
    so each row needs one dot product per inner node (O(n_inner)), not one per path
    position of every leaf (O(V log V)).  The dot products of a block of rows with
    all inner nodes are one matrix product.  Per node, e = exp(-|d|) gives both
    branches: sigmoid(|d|) = 1 / (1 + e) and sigmoid(-|d|) = e / (1 + e).
    """
    cdef int size = hidden.shape[1]
    cdef int n_inner = inner_nodes_top_down.shape[0]
    # Rows per matrix product: up to 16, with the dot-product block kept under ~16 MB.
    cdef int block = max(1, min(16, 4_000_000 // max(n_inner, 1)))
    cdef int block_rows, r, i, branch
    cdef Py_ssize_t block_start, row
    cdef int32_t node, child
    cdef double d, e, near, far, value
    cdef float* dots = <float*>malloc(<size_t>block * max(n_inner, 1) * sizeof(float))
    cdef double* node_value = <double*>malloc(max(n_inner, 1) * sizeof(double))
    if dots == NULL or node_value == NULL:
        free(dots)
        free(node_value)
        raise MemoryError("distribution_rows: no memory for scratch buffers")
    with nogil:
        block_start = start
        while block_start < end:
            block_rows = <int>min(<Py_ssize_t>block, end - block_start)
            matmul_transposed(block_rows, n_inner, size, &hidden[block_start, 0], &inner_node_vectors[0, 0], dots)
            for r in range(block_rows):
                row = block_start + r
                node_value[inner_nodes_top_down[0]] = 0.0 if log_space else 1.0
                for i in range(n_inner):
                    node = inner_nodes_top_down[i]
                    d = dots[<Py_ssize_t>r * n_inner + node]
                    e = exp(-fabs(d))
                    if log_space:
                        near = node_value[node] - log1p(e)
                        far = near - fabs(d)
                    else:
                        near = node_value[node] / (1.0 + e)
                        far = near * e
                    for branch in range(2):
                        # Branch 0 has probability sigmoid(d): the likelier side when d >= 0.
                        value = near if (branch == 0) == (d >= 0) else far
                        child = children[node, branch]
                        if child >= 0:
                            node_value[child] = value
                        else:
                            out[row, -1 - child] = <float>value
            block_start += block_rows
    free(dots)
    free(node_value)


# ------------------------------------------------- top-down: exact top-k search
ctypedef struct HeapEntry:
    double log_prob   # log P(reaching this node)
    int32_t node      # children[] encoding: inner id >= 0, leaf w as -1 - w


cdef inline void heap_push(HeapEntry* heap, int64_t* heap_size, double log_prob, int32_t node) noexcept nogil:
    """Insert into a max-heap on log_prob (sift up)."""
    cdef int64_t i = heap_size[0], parent
    heap_size[0] += 1
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent].log_prob >= log_prob:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i].log_prob = log_prob
    heap[i].node = node


cdef inline HeapEntry heap_pop(HeapEntry* heap, int64_t* heap_size) noexcept nogil:
    """Remove and return the entry with the largest log_prob (sift down)."""
    cdef HeapEntry top = heap[0], last
    cdef int64_t i = 0, child, n
    heap_size[0] -= 1
    n = heap_size[0]
    if n > 0:
        last = heap[n]
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and heap[child + 1].log_prob > heap[child].log_prob:
                child += 1
            if heap[child].log_prob <= last.log_prob:
                break
            heap[i] = heap[child]
            i = child
        heap[i] = last
    return top


def top_k_rows(
    const float[:, ::1] hidden, const float[:, ::1] inner_node_vectors,
    const int32_t[:, ::1] children, int32_t root, Py_ssize_t n_leaves,
    int64_t[:, ::1] out_ids, float[:, ::1] out_probs, Py_ssize_t start, Py_ssize_t end,
):
    """The k = out_ids.shape[1] most probable leaves of each row, best first (exact).

    Best-first search: a node's path log-probability bounds every leaf below it
    (each branch multiplies by a sigmoid <= 1), so when a leaf is the best entry
    of the max-heap, no unexplored leaf can beat it.  The heap holds disjoint
    subtrees, hence at most ``n_leaves`` entries.
    """
    cdef int size = hidden.shape[1]
    cdef Py_ssize_t row, k = out_ids.shape[1], found
    cdef int64_t heap_size
    cdef HeapEntry entry
    cdef float dot_product
    cdef double near, far
    cdef HeapEntry* heap
    heap = <HeapEntry*>malloc(max(n_leaves, 1) * sizeof(HeapEntry))
    if heap == NULL:
        raise MemoryError("top_k_rows: no memory for the search heap")
    with nogil:
        for row in range(start, end):
            heap_size = 0
            found = 0
            heap_push(heap, &heap_size, 0.0, root)
            while found < k and heap_size > 0:
                entry = heap_pop(heap, &heap_size)
                if entry.node < 0:
                    out_ids[row, found] = -1 - entry.node
                    out_probs[row, found] = <float>exp(entry.log_prob)
                    found += 1
                else:
                    dot_product = dot(size, &hidden[row, 0], &inner_node_vectors[entry.node, 0])
                    # log sigmoid(|d|) = -log1p(e^-|d|) and log sigmoid(-|d|) = that - |d|: one exp, one log1p.
                    near = entry.log_prob - log1p(exp(-fabs(dot_product)))
                    far = near - fabs(dot_product)
                    heap_push(heap, &heap_size, near if dot_product >= 0 else far, children[entry.node, 0])
                    heap_push(heap, &heap_size, far if dot_product >= 0 else near, children[entry.node, 1])
        free(heap)


# ------------------------------------------------------ top-down: sampling
cdef inline double uniform_double(uint64_t* state) noexcept nogil:
    """Uniform in [0, 1) with 53 random bits (branch probabilities far below 2^-24 still count)."""
    return (next_random(state) >> 11) * (1.0 / 9007199254740992.0)


def sample_rows(
    const float[:, ::1] hidden, const float[:, ::1] inner_node_vectors,
    const int32_t[:, ::1] children, int32_t root, uint64_t seed,
    int64_t[:, ::1] out, Py_ssize_t start, Py_ssize_t end,
):
    """out[i, s]: independent draws from P(. | hidden[i]), walking down by the branch sigmoids.

    Row i has its own splitmix64 stream, seeded from ``seed`` and i, so the draws
    do not depend on how rows are split between worker threads.
    """
    cdef int size = hidden.shape[1]
    cdef Py_ssize_t row, s, n_samples = out.shape[1]
    cdef int32_t node
    cdef uint64_t seeder, state
    cdef double branch0
    with nogil:
        for row in range(start, end):
            # Scramble (seed, row) into a starting state: neighbouring rows get unrelated streams.
            seeder = seed + <uint64_t>row * <uint64_t>0xD1B54A32D192ED03
            state = next_random(&seeder)
            for s in range(n_samples):
                node = root
                while node >= 0:
                    branch0 = 1.0 / (1.0 + exp(-<double>dot(size, &hidden[row, 0], &inner_node_vectors[node, 0])))
                    node = children[node, 0] if uniform_double(&state) < branch0 else children[node, 1]
                out[row, s] = -1 - node


# ------------------------------------------------------ word2vec: sentence scores
def score_sentence_rows(
    bint sg, const int32_t[::1] token_ids, const int64_t[::1] sentence_bounds,
    const float[:, ::1] input_vectors, const float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes, const uint8_t[::1] path_codes, const int64_t[::1] path_offsets,
    Py_ssize_t max_depth, int window, bint cbow_mean, double[::1] sentence_scores, double[::1] token_scores,
    Py_ssize_t start, Py_ssize_t end,
):
    """Log-likelihood of sentences start..end-1, as gensim's ``score()`` defines it, but exact.

    Tokens with id -1 (not in the vocabulary) are dropped first; then, over the
    remaining words with the *full* window (no random shrinking, no subsampling):

    * skip-gram: sum over centre i and context j != i, |i - j| <= window, of
      log P(word_i | input_vector[word_j]);
    * CBOW: sum over centre i of log P(word_i | mean (or sum) of its context vectors);
      with no context word the hidden vector is zero (as in gensim).

    ``token_scores`` (length 0 to skip) receives each kept token's own term at its
    position in ``token_ids``.

    Skip-gram keeps the input vectors of the last ``ring_size`` words in a ring
    buffer (position p in slot p % ring_size), so that all nodes of the centre's
    path (at most ``max_depth``) are dotted with every context word in one matrix
    product instead of a dot-product call per (node, context word).
    """
    cdef int size = inner_node_vectors.shape[1]
    cdef Py_ssize_t sentence, position, i, j, low, high, n_kept, loaded, ring_size, ring_rows, longest = 0
    cdef int64_t first, length, k
    cdef int32_t centre
    cdef int n_context
    cdef double term, total, product, sign
    cdef bint want_tokens = token_scores.shape[0] > 0
    for sentence in range(start, end):
        longest = max(longest, sentence_bounds[sentence + 1] - sentence_bounds[sentence])
    cdef Py_ssize_t max_ring = min(2 * <Py_ssize_t>window + 1, max(longest, 1))
    cdef int64_t* kept = <int64_t*>malloc(max(longest, 1) * sizeof(int64_t))
    cdef float* hidden = <float*>malloc(max(size, 1) * sizeof(float))
    cdef float* ring = <float*>malloc(max_ring * max(size, 1) * sizeof(float))
    cdef float* ring_dots = <float*>malloc(max_ring * max(max_depth, 1) * sizeof(float))
    cdef float* path_rows = <float*>malloc(max(max_depth, 1) * max(size, 1) * sizeof(float))
    if kept == NULL or hidden == NULL or ring == NULL or ring_dots == NULL or path_rows == NULL:
        free(kept)
        free(hidden)
        free(ring)
        free(ring_dots)
        free(path_rows)
        raise MemoryError("score_sentence_rows: no memory for scratch buffers")
    with nogil:
        for sentence in range(start, end):
            n_kept = 0
            for position in range(sentence_bounds[sentence], sentence_bounds[sentence + 1]):
                if token_ids[position] >= 0:
                    kept[n_kept] = position
                    n_kept += 1
            ring_size = min(max_ring, n_kept)
            loaded = 0
            total = 0.0
            for i in range(n_kept):
                centre = token_ids[kept[i]]
                first = path_offsets[centre]
                length = path_offsets[centre + 1] - first
                low = max(i - window, 0)
                high = min(i + window + 1, n_kept)
                if sg:
                    # Slots hold positions loaded - ring_size .. loaded - 1, which cover [low, high).
                    while loaded < high:
                        memcpy(&ring[(loaded % ring_size) * size], &input_vectors[token_ids[kept[loaded]], 0],
                               size * sizeof(float))
                        loaded += 1
                    ring_rows = min(ring_size, loaded)
                    # One matrix product: every node of the centre's path with every word in the ring.
                    for k in range(length):
                        memcpy(&path_rows[k * size], &inner_node_vectors[path_nodes[first + k], 0],
                               size * sizeof(float))
                    matmul_transposed(<int>length, <int>ring_rows, size, path_rows, ring, ring_dots)
                    product = 1.0
                    term = 0.0
                    for k in range(length):
                        sign = -1.0 if path_codes[first + k] else 1.0
                        for j in range(low, high):
                            if j != i:
                                add_log_sigmoid(sign * ring_dots[k * ring_rows + j % ring_size], &product, &term)
                    term += log(product)
                else:
                    memset(hidden, 0, size * sizeof(float))
                    n_context = 0
                    for j in range(low, high):
                        if j != i:
                            axpy(size, 1.0, &input_vectors[token_ids[kept[j]], 0], hidden)
                            n_context += 1
                    if cbow_mean and n_context > 1:
                        scale(size, 1.0 / n_context, hidden)
                    term = path_log_prob(hidden, inner_node_vectors, &path_nodes[first], &path_codes[first],
                                         length, size)
                total += term
                if want_tokens:
                    token_scores[kept[i]] = term
            sentence_scores[sentence] = total
    free(kept)
    free(hidden)
    free(ring)
    free(ring_dots)
    free(path_rows)
