# cython: language_level=3
"""nogil kernels of :class:`hsmcy.HSClassifier`: averaged token embeddings -> hierarchical softmax.

An example is a text (token ids: words and hashed word n-grams) with one or more
labels.  Its hidden vector is the *mean* of its tokens' input vectors; every label's
path is trained with ``train_path`` (the shared SGD step of ``_hs.pxd``) from that
same hidden vector, and the summed step for ``hidden`` is then spread back over the
tokens: each token receives ``step / n_tokens``, the exact gradient of the mean.

Nothing here validates input: ``hsmcy.classifier`` checks dtypes, shapes and every
id before calling.  The NumPy statement of the same maths is
``hsmcy.classifier.reference_train_example`` / ``reference_text_vectors``.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memset

from hsmcy._blas cimport axpy, scale
from hsmcy._hs cimport train_path


cdef inline void mean_of_rows(const int32_t* tokens, int64_t n_tokens, const float[:, ::1] input_vectors,
                              float* out, int size) noexcept nogil:
    """out = mean of input_vectors[tokens] (out = 0 for an empty text)."""
    cdef int64_t t
    memset(out, 0, size * sizeof(float))
    for t in range(n_tokens):
        axpy(size, 1.0, &input_vectors[tokens[t], 0], out)
    if n_tokens > 1:
        scale(size, 1.0 / n_tokens, out)


cdef double train_example(
    const int32_t* tokens, int64_t n_tokens, const int32_t* labels, int64_t n_labels,
    float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors,
    const int32_t* path_nodes, const uint8_t* path_codes, const int64_t* path_offsets,
    float* hidden, float* hidden_grad, int size, float lr, bint compute_loss,
) noexcept nogil:
    """SGD step on sum_labels -log P(label | mean of token vectors); returns that loss."""
    cdef int64_t t, j, start
    cdef int32_t label
    cdef double loss = 0.0
    mean_of_rows(tokens, n_tokens, input_vectors, hidden, size)
    memset(hidden_grad, 0, size * sizeof(float))
    for j in range(n_labels):
        label = labels[j]
        start = path_offsets[label]
        loss += train_path(&path_nodes[start], &path_codes[start], path_offsets[label + 1] - start,
                           hidden, hidden_grad, inner_node_vectors, size, lr, compute_loss)
    # d hidden / d token vector = 1 / n_tokens (once per occurrence)
    scale(size, 1.0 / n_tokens, hidden_grad)
    for t in range(n_tokens):
        axpy(size, 1.0, hidden_grad, &input_vectors[tokens[t], 0])
    return loss


def train_batch(
    const int32_t[::1] token_ids,
    const int64_t[::1] text_bounds,
    const int32_t[::1] label_ids,
    const int64_t[::1] label_bounds,
    const int64_t[::1] examples,
    float[:, ::1] input_vectors,
    float[:, ::1] inner_node_vectors,
    const int32_t[::1] path_nodes,
    const uint8_t[::1] path_codes,
    const int64_t[::1] path_offsets,
    float lr_start,
    float lr_end,
    float[::1] hidden,
    float[::1] hidden_grad,
    bint compute_loss,
):
    """Train on ``examples`` (indices into the texts), in that order, without the GIL.

    Text ``e`` is ``token_ids[text_bounds[e]:text_bounds[e + 1]]``, its labels
    ``label_ids[label_bounds[e]:label_bounds[e + 1]]``.  The learning rate falls
    linearly from ``lr_start`` (first example) towards ``lr_end`` (after the last).
    Texts without tokens are skipped.  Returns ``(examples_trained, loss)``.
    """
    cdef int size = input_vectors.shape[1]
    cdef int64_t n_examples = examples.shape[0], i, e, trained = 0
    cdef float lr
    cdef double loss = 0.0
    if n_examples == 0:
        return 0, 0.0
    with nogil:
        for i in range(n_examples):
            e = examples[i]
            if text_bounds[e + 1] == text_bounds[e] or label_bounds[e + 1] == label_bounds[e]:
                continue
            lr = lr_start + (lr_end - lr_start) * (<float>i / n_examples)
            loss += train_example(&token_ids[text_bounds[e]], text_bounds[e + 1] - text_bounds[e],
                                  &label_ids[label_bounds[e]], label_bounds[e + 1] - label_bounds[e],
                                  input_vectors, inner_node_vectors,
                                  &path_nodes[0], &path_codes[0], &path_offsets[0],
                                  &hidden[0], &hidden_grad[0], size, lr, compute_loss)
            trained += 1
    return trained, loss


def text_vectors(const int32_t[::1] token_ids, const int64_t[::1] text_bounds,
                 const float[:, ::1] input_vectors, float[:, ::1] out):
    """out[e] = mean of the input vectors of text e's tokens (0 for a text without tokens)."""
    cdef int size = input_vectors.shape[1]
    cdef int64_t e, n_texts = text_bounds.shape[0] - 1
    if n_texts == 0 or token_ids.shape[0] == 0:
        out[:, :] = 0
        return
    with nogil:
        for e in range(n_texts):
            if text_bounds[e + 1] == text_bounds[e]:   # no token (its start may be one past the last)
                memset(&out[e, 0], 0, size * sizeof(float))
                continue
            mean_of_rows(&token_ids[text_bounds[e]], text_bounds[e + 1] - text_bounds[e],
                         input_vectors, &out[e, 0], size)
