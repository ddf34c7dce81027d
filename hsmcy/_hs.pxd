# Shared building blocks of every hierarchical-softmax kernel: the sigmoid, the
# stable log-loss, the per-worker random stream and the readable SGD step along
# one path (the "blas" kernel's; the "fast" kernel's is hs_path_step in _fast.h).
# Kernel modules cimport these so each idea lives in one place.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from hsmcy._blas cimport dot, axpy


# --------------------------------------------------------------------- scalar maths
# One sigmoid and one log-loss for every kernel (both training kernels, the layer,
# the classifier, inference): _maths.h, stated by reference.sigmoid_float32.
cdef extern from "_maths.h" nogil:
    float sigmoid "hs_sigmoid" (float x)
    double softplus_neg "hs_softplus_neg" (double z)


# ------------------------------------------------------------ per-worker RNG
# splitmix64: one 64-bit word of state per worker, passed in and written back, so
# that a worker's stream continues across batches and runs are reproducible.
cdef inline uint64_t next_random(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline float random_uniform(uint64_t* state) noexcept nogil:
    """Uniform float in [0, 1) from the top 24 bits."""
    return (next_random(state) >> 40) * (1.0 / 16777216.0)


# -------------------------------------------------------------- the path step
cdef inline double train_path(
    const int32_t* nodes, const uint8_t* codes, int64_t length,
    const float* hidden, float* hidden_grad, float[:, ::1] inner_node_vectors,
    int size, float alpha, bint compute_loss,
) noexcept nogil:
    """One SGD step on -log P(leaf | hidden) along one path.

    For each node n with target t = 1 - code and f = sigmoid(hidden . v_n):
    d loss / d(hidden . v_n) = f - t, so with g = alpha * (t - f):
        hidden_grad += g * v_n      (the step for hidden, applied by the caller)
        v_n         += g * hidden
    ``hidden`` is not changed, so every node's gradient is taken at the same point.
    Returns the loss (0 unless ``compute_loss``).
    """
    cdef int64_t k
    cdef float* row
    cdef float dot_product, g
    cdef double loss = 0.0
    for k in range(length):
        row = &inner_node_vectors[nodes[k], 0]
        dot_product = dot(size, hidden, row)
        g = ((1 - codes[k]) - sigmoid(dot_product)) * alpha
        axpy(size, g, row, hidden_grad)
        axpy(size, g, hidden, row)
        if compute_loss:
            # code 0 -> -log sigmoid(dot); code 1 -> -log sigmoid(-dot)
            loss += softplus_neg(dot_product if codes[k] == 0 else -dot_product)
    return loss


