# cython: language_level=3
"""The training kernels: one :class:`TrainingWorker` per training thread.

Two kernels, a model's choice (``Word2Vec(kernel=...)``), both held to
``hsmcy.reference`` by the tests:

* ``"blas"`` -- pair by pair, as ``reference.train_sentence``: skip-gram walks the
  centre word's path once per context word (``reference.sg_pair_step``), CBOW once
  per centre word (``reference.cbow_step``).  Every dot product and row update is a
  BLAS call (``sdot``, ``saxpy``, ``sscal`` from ``scipy.linalg.cython_blas``, through
  ``_blas.pxd``) inside ``_hs.train_path``.  This is the kernel to read beside the
  reference, line by line.
* ``"fast"`` (the default) -- skip-gram one *window* at a time
  (``reference.sg_window_step``: every context word of a centre word shares its path,
  so each path row is read and written once per window), CBOW as ``"blas"``.  Its
  steps are hand-vectorised C (``_fast.h``: one clone per CPU generation, chosen when
  the module loads) and do not call BLAS.  With several workers, each one trains the
  top levels of the tree on private copies (see below).

Both share the subsampling, the window draws, the learning-rate schedule within a
batch, the random stream and the sigmoid (``_maths.h``), so they see the same words
in the same windows.

Conventions (as gensim and word2vec.c): the binary target at a path node is
``1 - code``; skip-gram walks the *centre* word's path with each *context* word's
input vector; CBOW walks it with the mean (``cbow_mean``) or sum of the context
vectors.

Documents (Doc2Vec) are more input rows on the same paths: a worker given
``document_vectors`` adds the rows of each sentence's document (its tags) to the
context of every centre word of the sentence, after the window's words.  Skip-gram
is then PV-DBOW (the window's words are context only with ``window_words``, gensim's
``dbow_words``) and CBOW is PV-DM; the steps are the same (``reference.train_document``).
``learn_words=False`` / ``learn_inner_nodes=False`` freeze those weights for
``infer_vector``: each step then works on throwaway copies of their rows.

A worker checks everything it will index when it is made (shapes, the tree's ids)
and again for every batch it is given (ids in range, sentence bounds inside the
ids), and sizes its scratch buffers for that batch before it releases the GIL: a
wrong caller gets a ``ValueError``, never a write past a buffer.  It holds its own
references to the arrays, so reassigning a model's attributes during training
cannot reach it.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memset

from hsmcy._blas cimport axpy, scale
from hsmcy._hs cimport next_random, random_uniform, train_path, sigmoid

import math

import numpy as np

from hsmcy.checks import all_finite
from hsmcy.memory import aligned_zeros, whole_line_floats


# ------------------------------------------------------ the "fast" kernel's steps
cdef extern from "_fast.h" nogil:
    const char* HS_DISPATCH_NAME
    int hs_detect_prefetch_for_write()
    void hs_prefetch_row(const float* row, int size)
    void hs_prefetch_path(const int32_t* nodes, const uint8_t* codes)
    double hs_path_step(int size, const float* hidden, float* hidden_grad, float** path_rows,
                        const uint8_t* codes, int64_t length, float alpha, int compute_loss)
    double hs_sg_window_step(int size, float** context_rows, int n_context,
                             float** path_rows, const uint8_t* codes,
                             int64_t length, float alpha, int compute_loss,
                             float* steps, float* gains, float* dots)
    double hs_single_context_step(int size, float* context_row, float** path_rows, const uint8_t* codes,
                                  int64_t length, float alpha, int compute_loss, float* hidden_grad)
    double hs_cbow_step(int size, float** context_rows, int n_context, int cbow_mean,
                        float** path_rows, const uint8_t* codes,
                        int64_t length, float alpha, int compute_loss,
                        float* hidden, float* hidden_grad)


#: The training kernels (see the module docstring).
KERNELS = ("fast", "blas")
#: Which wide-vector clones the "fast" kernel was compiled with.
VECTOR_DISPATCH = HS_DISPATCH_NAME.decode()
#: Whether the "fast" kernel prefetches rows to be written with PREFETCHW (where
#: CPUID reports it; a hint only, results are the same either way: _fast.h).
PREFETCH_FOR_WRITE = bool(hs_detect_prefetch_for_write())

# The kernels take the window as a C int, and at most 16 private levels.
MAX_WINDOW = 2**31 - 1
MAX_PRIVATE_LEVELS = 16
# Every private level merges at least every 2**3 = 8 merges (~8,000 words, about
# as often as every level merged when the copies lasted one 10,000-word batch).
# Skip-gram with gaps of 64 merges ran 1.5 % faster, but its analogy accuracy
# fell by 0.2-0.4 points in paired runs (benchmarks/NOTES.md).
cdef int MERGE_HALVINGS_MAX = 3


def _padded(n, dtype):
    """A zeroed array of ``n`` items with a cache line of padding on each side.

    A worker's scratch is written constantly; without the padding, two workers'
    small arrays can share a cache line and every write of one evicts the other's
    copy (false sharing)."""
    pad = 64 // np.dtype(dtype).itemsize
    n = max(n, 1)
    return np.zeros(n + 2 * pad, dtype=dtype)[pad:pad + n]


def _check_matrix(name, array, writeable):
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D float32 NumPy array")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name} is read-only (memory-mapped with mmap='r'?): copy it before training")


def _check_vector(name, array, dtype, length=None):
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D {np.dtype(dtype).name} NumPy array")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(array)}")
    return np.ascontiguousarray(array)


def _check_bounds(name, bounds, length=None):
    """``bounds`` as int64, 1-D, at least one entry (``length`` entries if given)."""
    bounds = np.asarray(bounds)
    if bounds.ndim != 1 or bounds.dtype.kind not in "iu" or len(bounds) < 1:
        raise ValueError(f"{name} must be a 1-D integer array with at least one entry")
    if length is not None and len(bounds) != length:
        raise ValueError(f"{name} must have {length} entries (one per sentence bound), got {len(bounds)}")
    return np.ascontiguousarray(bounds, dtype=np.int64)


def check_tree_arrays(path_nodes, path_codes, path_offsets, n_leaves, n_inner_rows):
    """Raise ``ValueError`` unless the flat paths can be walked safely: offsets from 0,
    non-decreasing, ending at the paths' length; node ids in ``[0, n_inner_rows)``;
    codes 0 or 1.  Returns the longest path."""
    path_offsets = _check_vector("path_offsets", path_offsets, np.int64)
    if len(path_offsets) != n_leaves + 1:
        raise ValueError(f"the tree has {len(path_offsets) - 1} leaves for {n_leaves} input vectors (words)")
    path_nodes = _check_vector("path_nodes", path_nodes, np.int32)
    path_codes = _check_vector("path_codes", path_codes, np.uint8, len(path_nodes))
    lengths = np.diff(path_offsets)
    if path_offsets[0] != 0 or path_offsets[n_leaves] != len(path_nodes) or (len(lengths) and lengths.min() < 0):
        raise ValueError("path_offsets must start at 0, never decrease, and end at len(path_nodes)")
    if len(path_nodes) and (path_nodes.min() < 0 or path_nodes.max() >= n_inner_rows):
        raise ValueError(f"path_nodes holds an inner node id outside [0, {n_inner_rows})")
    if len(path_codes) and path_codes.max() > 1:
        raise ValueError("path_codes must be 0 or 1")
    return int(lengths.max()) if len(lengths) else 0


cdef class TrainingWorker:
    """One training thread's kernel state: scratch buffers, random stream, private rows.

    Made once per thread and reused for every batch the thread trains (as
    fastText's per-thread ``State``).  Workers share the weight arrays and update
    them in place without locks (Hogwild).

    Parameters
    ----------
    sg : bool
        Skip-gram (``True``) or CBOW.
    kernel : {"fast", "blas"}
        See the module docstring.
    input_vectors : float32 array (V, d), updated in place
    inner_node_vectors : float32 array (>= V - 1, d), updated in place
    path_nodes, path_codes, path_offsets : the tree's flat paths (``hsmcy.BinaryTree``)
    keep_probability : float32 array (V,)
        Down-sampling: a token of word ``w`` is kept with this probability.
    window : int
        Maximum distance between a centre word and a context word.
    shrink_windows : bool
        Draw each window's size from ``1 .. window`` (word2vec.c), else use ``window``.
    cbow_mean : bool
        CBOW hidden vector: the mean of the context vectors, else their sum.
    compute_loss : bool
        Sum the exact loss (``-log P`` of every trained centre word).
    rng_state : int
        The worker's splitmix64 state (64 bits); :attr:`rng_state` continues it.
    private_levels : int
        ``"fast"`` kernel only: train the top ``private_levels`` levels of the tree on
        private copies (0: off).  See :meth:`finish`.
    every_time_levels, sync_words : int
        The private rows' merge schedule: the top ``every_time_levels`` levels are
        merged into the shared rows every ``sync_words`` words read, each level below
        half as often, every level at least every 8 merges.
    document_vectors : float32 array (n_documents, d), optional, updated in place
        Doc2Vec: every sentence is a document, and its rows (given to :meth:`train`
        as ``document_tags``) join the context of each of its centre words.
    window_words : bool
        Whether the window's words are context rows.  ``False`` (documents and
        skip-gram only) is plain PV-DBOW: each word is predicted by the document's
        rows alone, and no window is drawn.
    learn_words, learn_inner_nodes : bool
        ``False`` freezes the input (word) vectors / the inner-node vectors: each
        step sees their rows as they are and its updates of them are discarded
        (``infer_vector``).  Document vectors always learn.
    """

    cdef readonly bint sg, shrink_windows, cbow_mean, compute_loss
    cdef readonly bint has_documents, window_words, learn_words, learn_inner_nodes
    cdef readonly int window, vector_size, private_levels
    cdef readonly str kernel
    cdef bint fast
    cdef int64_t vocab_size
    # The model, as the worker's own references.
    cdef float[:, ::1] input_vectors
    cdef float[:, ::1] inner_node_vectors
    cdef const int32_t[::1] path_nodes
    cdef const uint8_t[::1] path_codes
    cdef const int64_t[::1] path_offsets
    cdef const float[::1] keep_probability
    cdef float[:, ::1] document_vectors
    cdef int64_t n_documents
    cdef uint64_t rng
    # Scratch: sized in __init__, or grown by train() for the batch before nogil.
    cdef int32_t[::1] kept_words        # the subsampled sentence
    cdef float[::1] hidden               # vector_size
    cdef float[::1] hidden_grad          # vector_size
    cdef float[::1] window_steps         # context_capacity x vector_size
    cdef float[::1] gains, dots          # context_capacity
    cdef size_t[::1] context_rows        # context_capacity row addresses
    cdef size_t[::1] path_rows           # the longest path's row addresses
    cdef Py_ssize_t context_capacity
    # The document of the sentence being trained: its rows of document_vectors.
    cdef const int32_t* sentence_tags
    cdef int64_t n_sentence_tags
    # Frozen weights: the throwaway copies each step trains on.
    cdef float[:, ::1] frozen_path       # the longest path's rows
    cdef int32_t[::1] frozen_path_nodes  # 0, 1, 2, ...: frozen_path's rows, for _hs.train_path
    cdef float[:, ::1] frozen_context    # context_capacity word rows
    # Private copies of the top of the tree (fast kernel, several workers).
    cdef int every_time_levels
    cdef int64_t sync_words, merges, unsynced
    cdef int32_t[::1] top_nodes          # slot -> inner node id, or -1
    cdef float[:, ::1] top_rows          # slot -> private row
    cdef float[:, ::1] top_rows_start    # slot -> the row as copied
    cdef uint8_t[::1] top_copied         # slot -> copied since the last merge

    def __init__(self, *, sg, kernel, input_vectors, inner_node_vectors, path_nodes, path_codes, path_offsets,
                 keep_probability, window, shrink_windows=True, cbow_mean=True, compute_loss=False,
                 rng_state=0, private_levels=0, every_time_levels=1, sync_words=1024, document_vectors=None,
                 window_words=True, learn_words=True, learn_inner_nodes=True):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        _check_matrix("input_vectors (wv.vectors)", input_vectors, writeable=True)
        _check_matrix("inner_node_vectors (syn1)", inner_node_vectors, writeable=True)
        vocab_size, size = input_vectors.shape
        if vocab_size < 1 or size < 1:
            raise ValueError(f"input_vectors must have at least one row and one column, got {input_vectors.shape}")
        if inner_node_vectors.shape[1] != size:
            raise ValueError(f"inner_node_vectors have width {inner_node_vectors.shape[1]}, the input vectors {size}")
        longest_path = check_tree_arrays(path_nodes, path_codes, path_offsets, vocab_size,
                                         inner_node_vectors.shape[0])
        keep_probability = _check_vector("keep_probability", keep_probability, np.float32, vocab_size)
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"window must be in [1, {MAX_WINDOW}], got {window}")
        if not 0 <= private_levels <= MAX_PRIVATE_LEVELS:
            raise ValueError(f"private_levels must be in [0, {MAX_PRIVATE_LEVELS}], got {private_levels}")
        if private_levels and kernel != "fast":
            raise ValueError("private tree rows (private_levels > 0) need the 'fast' kernel")
        if not 1 <= every_time_levels <= MAX_PRIVATE_LEVELS or sync_words < 1:
            raise ValueError("every_time_levels must be in [1, 16] and sync_words at least 1")
        if not 0 <= rng_state < 2**64:
            raise ValueError(f"rng_state must be a 64-bit unsigned integer, got {rng_state}")
        if document_vectors is not None:
            _check_matrix("document_vectors", document_vectors, writeable=True)
            if document_vectors.shape[1] != size:
                raise ValueError(f"document_vectors have width {document_vectors.shape[1]}, the input vectors {size}")
        if not window_words and (document_vectors is None or not sg):
            raise ValueError("window_words=False (PV-DBOW without word training) needs sg and document_vectors")
        if private_levels and not learn_inner_nodes:
            raise ValueError("private tree rows (private_levels > 0) cannot be frozen (learn_inner_nodes=False)")

        self.sg, self.kernel, self.fast = bool(sg), kernel, kernel == "fast"
        self.window, self.shrink_windows = int(window), bool(shrink_windows)
        self.cbow_mean, self.compute_loss = bool(cbow_mean), bool(compute_loss)
        self.vector_size, self.vocab_size = size, vocab_size
        self.input_vectors, self.inner_node_vectors = input_vectors, inner_node_vectors
        # A one-leaf tree has no path steps; kernels take the address of element 0.
        self.path_nodes = path_nodes if len(path_nodes) else np.zeros(1, np.int32)
        self.path_codes = path_codes if len(path_codes) else np.zeros(1, np.uint8)
        self.path_offsets = path_offsets
        self.keep_probability = keep_probability
        self.has_documents = document_vectors is not None
        self.document_vectors = document_vectors if self.has_documents else np.zeros((1, size), np.float32)
        self.n_documents = len(document_vectors) if self.has_documents else 0
        self.sentence_tags, self.n_sentence_tags = NULL, 0
        self.window_words = bool(window_words)
        self.learn_words, self.learn_inner_nodes = bool(learn_words), bool(learn_inner_nodes)
        if not self.learn_inner_nodes:
            self.frozen_path = aligned_zeros((max(longest_path, 1), size))
            self.frozen_path_nodes = np.arange(max(longest_path, 1), dtype=np.int32)
        self.rng = int(rng_state)
        self.hidden = _padded(size, np.float32)
        self.hidden_grad = _padded(size, np.float32)
        self.path_rows = _padded(longest_path, np.uintp)
        self.kept_words = _padded(1, np.int32)
        self.context_capacity = 0
        self._reserve_context(1)

        self.private_levels = 0
        self.every_time_levels, self.sync_words = int(every_time_levels), int(sync_words)
        self.merges, self.unsynced = 1, 0   # merges from 1: merge 0 would merge every level
        if private_levels and vocab_size > 1:
            self.top_nodes = top_row_slots(self.path_nodes, self.path_codes, self.path_offsets, private_levels)
            n_slots = len(self.top_nodes)
            stride = whole_line_floats(size)   # rows on whole cache lines: benchmarks/NOTES.md
            # one spare row each side: no other array shares their first or last line
            self.top_rows = aligned_zeros((n_slots + 2, stride))[1:n_slots + 1]
            self.top_rows_start = aligned_zeros((n_slots + 2, stride))[1:n_slots + 1]
            self.top_copied = np.zeros(n_slots + 128, dtype=np.uint8)[64:n_slots + 64]
            self.private_levels = private_levels

    # --------------------------------------------------------------- state
    @property
    def rng_state(self):
        """The worker's random-stream state (continues from batch to batch)."""
        return int(self.rng)

    @rng_state.setter
    def rng_state(self, value):
        if not 0 <= value < 2**64:
            raise ValueError(f"rng_state must be a 64-bit unsigned integer, got {value}")
        self.rng = int(value)

    @property
    def merge_schedule(self):
        """``(merges so far, words read since the last merge)`` of the private rows."""
        return int(self.merges), int(self.unsynced)

    @property
    def private_rows_pending(self):
        """Private rows copied since their last merge (what :meth:`finish` merges)."""
        return int(np.asarray(self.top_copied).sum()) if self.private_levels else 0

    def scratch_is_finite(self):
        """False if a NaN or inf reached the worker's scratch or private rows (a diverging run)."""
        arrays = [self.hidden, self.hidden_grad, self.window_steps]
        if self.private_levels:
            arrays.append(self.top_rows)
        return all(all_finite(array) for array in arrays)

    def _reserve_context(self, Py_ssize_t count):
        """Room for ``count`` context words per window (grown, never shrunk)."""
        if count <= self.context_capacity:
            return
        block = _padded(count * self.vector_size + 2 * count, np.float32)
        self.window_steps = block[:count * self.vector_size]
        self.gains = block[count * self.vector_size:count * self.vector_size + count]
        self.dots = block[count * self.vector_size + count:]
        self.context_rows = _padded(count, np.uintp)
        if not self.learn_words:
            self.frozen_context = aligned_zeros((count, self.vector_size))
        self.context_capacity = count

    # --------------------------------------------------------------- training
    def train(self, token_ids, sentence_bounds, double alpha_start, double alpha_end, document_tags=None,
              tag_bounds=None):
        """Train on sentences ``token_ids[sentence_bounds[s]:sentence_bounds[s + 1]]``.

        Frequent words are dropped (down-sampling) and window sizes drawn from the
        worker's random stream; the learning rate falls linearly from
        ``alpha_start`` to ``alpha_end`` across the batch's words.  The GIL is
        released once, for the whole batch.

        With ``document_vectors`` (Doc2Vec), sentence ``s`` is a document whose rows
        are ``document_tags[tag_bounds[s]:tag_bounds[s + 1]]`` (``tag_bounds`` has one
        entry per entry of ``sentence_bounds``); they are required then, refused
        otherwise.

        Returns ``(words_seen, words_trained, loss)``: tokens read, tokens left
        after down-sampling, and the summed loss (0.0 unless ``compute_loss``).
        """
        ids = _check_vector("token_ids", token_ids, np.int32)
        bounds = _check_bounds("sentence_bounds", sentence_bounds)
        if not (math.isfinite(alpha_start) and math.isfinite(alpha_end) and alpha_start >= 0 and alpha_end >= 0):
            raise ValueError(f"learning rates must be finite and >= 0, got {alpha_start} and {alpha_end}")
        if (document_tags is None) != (tag_bounds is None) or (document_tags is not None) != self.has_documents:
            raise ValueError("document_tags and tag_bounds go together, and only to a worker with document_vectors"
                             if document_tags is not None or tag_bounds is not None else
                             "this worker trains documents: give document_tags and tag_bounds")
        tags = _check_vector("document_tags", document_tags, np.int32) if self.has_documents else \
            np.zeros(1, np.int32)
        tag_bound_array = _check_bounds("tag_bounds", tag_bounds, len(bounds)) if self.has_documents else bounds
        cdef const int32_t[::1] id_view = ids
        cdef const int64_t[::1] bound_view = bounds
        cdef const int32_t[::1] tag_view = tags
        cdef const int64_t[::1] tag_bound_view = tag_bound_array
        longest = self._check_batch(id_view, bound_view, self.vocab_size, "token_ids", "a word id")
        most_tags = self._check_batch(tag_view, tag_bound_view, self.n_documents, "document_tags",
                                      "a row of document_vectors") if self.has_documents else 0
        if bound_view[len(bounds) - 1] == bound_view[0]:
            return 0, 0, 0.0
        # Scratch for this batch: a sentence's kept words, and at most 2 * window
        # context words per centre word (fewer than the longest sentence: a huge
        # window must not mean a huge allocation), plus the document's rows.
        if longest > self.kept_words.shape[0]:
            self.kept_words = _padded(longest, np.int32)
        window_words = min(2 * <Py_ssize_t>self.window, longest) if self.window_words else 0
        self._reserve_context(max(window_words + most_tags, 1))
        return self._train_sentences(&id_view[0], bound_view, &tag_view[0], tag_bound_view, alpha_start, alpha_end)

    cdef Py_ssize_t _check_batch(self, const int32_t[::1] ids, const int64_t[::1] bounds, int64_t n_rows,
                                 str ids_name, str row_name) except -1:
        """The longest run of ids; ``ValueError`` if a bound is out of range or an id
        is not in ``[0, n_rows)`` (a word id: the sentences; a row: their documents)."""
        cdef Py_ssize_t n_bounds = bounds.shape[0], n_ids = ids.shape[0], s, position, longest = 0
        cdef Py_ssize_t bad_bound = -1, bad_id = -1
        cdef int64_t vocab_size = n_rows
        with nogil:
            if bounds[0] < 0 or bounds[n_bounds - 1] > n_ids:
                bad_bound = 0
            for s in range(n_bounds - 1):
                if bounds[s + 1] < bounds[s]:
                    bad_bound = s + 1
                    break
                longest = max(longest, bounds[s + 1] - bounds[s])
            if bad_bound < 0:
                for position in range(bounds[0], bounds[n_bounds - 1]):
                    if ids[position] < 0 or ids[position] >= vocab_size:
                        bad_id = position
                        break
        if bad_bound >= 0:
            bounds_name = "sentence_bounds" if ids_name == "token_ids" else "tag_bounds"
            raise ValueError(f"{bounds_name} must be non-decreasing and within the {n_ids} "
                             f"{ids_name.replace('_', ' ')} "
                             f"(entry {bad_bound} is not)")
        if bad_id >= 0:
            raise ValueError(f"{ids_name}[{bad_id}] = {ids[bad_id]} is not {row_name} in [0, {vocab_size})")
        return longest

    cdef tuple _train_sentences(self, const int32_t* token_ids, const int64_t[::1] bounds,
                                const int32_t* tags, const int64_t[::1] tag_bounds,
                                float alpha_start, float alpha_end):
        cdef Py_ssize_t n_sentences = bounds.shape[0] - 1, sentence
        cdef int64_t total_words = bounds[n_sentences] - bounds[0], length
        cdef int64_t words_seen = 0, words_trained = 0, n_kept
        cdef float alpha
        cdef double loss = 0.0
        # The RNG state lives on this thread's stack during the batch: the workers'
        # objects may share a cache line, and writing them for every draw would make
        # the cores fight over it.
        cdef uint64_t rng = self.rng
        with nogil:
            for sentence in range(n_sentences):
                alpha = alpha_start + (alpha_end - alpha_start) * (<float>words_seen / total_words)
                length = bounds[sentence + 1] - bounds[sentence]
                n_kept = self._subsample(token_ids + bounds[sentence], length, &rng)
                words_seen += length
                words_trained += n_kept
                if self.private_levels:
                    self._count_towards_merge(length)
                if self.has_documents:
                    self.sentence_tags = tags + tag_bounds[sentence]
                    self.n_sentence_tags = tag_bounds[sentence + 1] - tag_bounds[sentence]
                # One word has no context word, but a document's vectors still learn from it.
                if n_kept == 0 or (n_kept == 1 and self.n_sentence_tags == 0):
                    continue
                if self.sg:
                    loss += self._skip_gram_sentence(n_kept, alpha, &rng)
                else:
                    loss += self._cbow_sentence(n_kept, alpha, &rng)
        self.rng = rng
        self.sentence_tags, self.n_sentence_tags = NULL, 0
        return words_seen, words_trained, loss

    cdef int64_t _subsample(self, const int32_t* words, int64_t length, uint64_t* rng) noexcept nogil:
        """Copy the tokens that survive down-sampling into ``kept_words``; returns how many."""
        cdef int64_t position, n_kept = 0
        cdef int32_t word
        cdef float keep
        cdef int32_t* kept = &self.kept_words[0]
        for position in range(length):
            word = words[position]
            keep = self.keep_probability[word]
            if keep < 1.0 and random_uniform(rng) >= keep:
                continue
            kept[n_kept] = word
            n_kept += 1
        return n_kept

    cdef inline void _window(self, int64_t centre, int64_t n_words, uint64_t* rng,
                             int64_t* low, int64_t* high) noexcept nogil:
        """Context positions [low, high) of ``centre``; one RNG draw when ``shrink_windows``."""
        cdef int reduction = <int>(next_random(rng) % <uint64_t>self.window) if self.shrink_windows else 0
        low[0] = max(centre - self.window + reduction, 0)
        high[0] = min(centre + self.window + 1 - reduction, n_words)

    cdef int _gather_context(self, int64_t centre, int64_t low, int64_t high) noexcept nogil:
        """``context_rows`` = the input rows of positions [low, high) but ``centre``, then
        the rows of the sentence's document; returns their number."""
        cdef int64_t context, tag
        cdef int n_context = 0
        cdef float* row
        cdef const int32_t* words = &self.kept_words[0]
        for context in range(low, high):
            if context != centre:
                row = &self.input_vectors[words[context], 0]
                if not self.learn_words:
                    # Frozen: the step trains a copy, and the copy is thrown away.
                    memcpy(&self.frozen_context[n_context, 0], row, self.vector_size * sizeof(float))
                    row = &self.frozen_context[n_context, 0]
                self.context_rows[n_context] = <size_t>row
                n_context += 1
        for tag in range(self.n_sentence_tags):
            self.context_rows[n_context] = <size_t>&self.document_vectors[self.sentence_tags[tag], 0]
            n_context += 1
        return n_context

    cdef double _blas_path(self, int64_t start, int64_t length, const float* hidden, float* hidden_grad,
                           float alpha) noexcept nogil:
        """The "blas" kernel's path step (``_hs.train_path``) along path ``[start, start + length)``."""
        cdef int64_t k
        cdef int size = self.vector_size
        if self.learn_inner_nodes:
            return train_path(&self.path_nodes[start], &self.path_codes[start], length, hidden, hidden_grad,
                              self.inner_node_vectors, size, alpha, self.compute_loss)
        # Frozen: the step trains copies of the path's rows (rows 0 .. length - 1 of
        # frozen_path), and the copies are thrown away.
        for k in range(length):
            memcpy(&self.frozen_path[k, 0], &self.inner_node_vectors[self.path_nodes[start + k], 0],
                   size * sizeof(float))
        return train_path(&self.frozen_path_nodes[0], &self.path_codes[start], length, hidden, hidden_grad,
                          self.frozen_path, size, alpha, self.compute_loss)

    cdef double _skip_gram_sentence(self, int64_t n_words, float alpha, uint64_t* rng) noexcept nogil:
        """Skip-gram (PV-DBOW) over one (already down-sampled) sentence: per window, or per pair."""
        cdef int64_t centre, low, high, start, length
        cdef int j, n_context, size = self.vector_size
        cdef float* context_row
        cdef double loss = 0.0
        cdef const int32_t* words = &self.kept_words[0]
        for centre in range(n_words):
            if self.window_words:
                self._window(centre, n_words, rng, &low, &high)
            else:
                low = high = centre   # PV-DBOW: the document's rows are the whole context
            start = self.path_offsets[words[centre]]
            length = self.path_offsets[words[centre] + 1] - start
            n_context = self._gather_context(centre, low, high)
            if n_context == 0:
                continue
            if self.fast:
                # The next centre word's window brings in at most one new context row,
                # and its path is a random place in the path arrays.
                if self.window_words and centre + self.window + 1 < n_words:
                    hs_prefetch_row(&self.input_vectors[words[centre + self.window + 1], 0], size)
                if centre + 1 < n_words:
                    hs_prefetch_path(&self.path_nodes[self.path_offsets[words[centre + 1]]],
                                     &self.path_codes[self.path_offsets[words[centre + 1]]])
                self._gather_path_rows(start, length)
                if not self.window_words and n_context == 1:
                    # PV-DBOW, one document row: the plain path step, which takes four
                    # nodes at a time (22 % more words/s than the window step here).
                    loss += hs_single_context_step(size, <float*>self.context_rows[0], <float**>&self.path_rows[0],
                                                   &self.path_codes[start], length, alpha, self.compute_loss,
                                                   &self.hidden_grad[0])
                    continue
                loss += hs_sg_window_step(size, <float**>&self.context_rows[0], n_context,
                                          <float**>&self.path_rows[0], &self.path_codes[start], length, alpha,
                                          self.compute_loss, &self.window_steps[0], &self.gains[0], &self.dots[0])
                continue
            for j in range(n_context):
                context_row = <float*>self.context_rows[j]
                memset(&self.hidden_grad[0], 0, size * sizeof(float))
                loss += self._blas_path(start, length, context_row, &self.hidden_grad[0], alpha)
                axpy(size, 1.0, &self.hidden_grad[0], context_row)
        return loss

    cdef double _cbow_sentence(self, int64_t n_words, float alpha, uint64_t* rng) noexcept nogil:
        """CBOW (PV-DM) over one (already down-sampled) sentence.

        As in word2vec.c and gensim, every context vector receives the step computed
        for ``hidden``; with ``cbow_mean=0`` (sum) gensim divides that step by the
        number of context words, and so do we (``reference.cbow_step``)."""
        cdef int64_t centre, low, high, start, length
        cdef int j, n_context, size = self.vector_size
        cdef float* hidden = &self.hidden[0]
        cdef float* hidden_grad = &self.hidden_grad[0]
        cdef double loss = 0.0
        cdef const int32_t* words = &self.kept_words[0]
        for centre in range(n_words):
            self._window(centre, n_words, rng, &low, &high)
            start = self.path_offsets[words[centre]]
            length = self.path_offsets[words[centre] + 1] - start
            n_context = self._gather_context(centre, low, high)
            if n_context == 0:
                continue
            if self.fast:
                if centre + self.window + 1 < n_words:
                    hs_prefetch_row(&self.input_vectors[words[centre + self.window + 1], 0], size)
                self._gather_path_rows(start, length)
                loss += hs_cbow_step(size, <float**>&self.context_rows[0], n_context, self.cbow_mean,
                                     <float**>&self.path_rows[0], &self.path_codes[start], length, alpha,
                                     self.compute_loss, hidden, hidden_grad)
                continue
            memset(hidden, 0, size * sizeof(float))
            for j in range(n_context):
                axpy(size, 1.0, <float*>self.context_rows[j], hidden)
            if self.cbow_mean:
                scale(size, 1.0 / n_context, hidden)
            memset(hidden_grad, 0, size * sizeof(float))
            loss += self._blas_path(start, length, hidden, hidden_grad, alpha)
            if not self.cbow_mean:
                scale(size, 1.0 / n_context, hidden_grad)
            for j in range(n_context):
                axpy(size, 1.0, hidden_grad, <float*>self.context_rows[j])
        return loss

    # ------------------------------------------------- private copies of the top rows
    # Every path starts at the root, so with several workers the top rows of the tree
    # are written by all of them all the time, and their cache lines travel between
    # the cores at every write.  A worker can instead train on private copies of the
    # top levels and add its change to the shared rows every ~1,000 words (Vuurens et
    # al. 2016, "Efficient parallel learning of word2vec"; merging only once per
    # 10,000-word batch measurably hurt the vectors: benchmarks/NOTES.md).  A node at
    # depth d whose path so far has codes c_0 .. c_{d-1} lives in slot
    # 2^d - 1 + (c_0 c_1 .. c_{d-1} read as a binary number): no lookup table needed.
    # A slot is copied from its shared row when a path first reaches it after a merge,
    # and only slots copied since are merged: the deep levels, most of whose slots go
    # untouched between two merges, then cost nothing but memory.
    cdef void _gather_path_rows(self, int64_t start, int64_t length) noexcept nogil:
        """``path_rows`` = the row of each node of a path: the private copy, the shared row,
        or (frozen) a throwaway copy of it."""
        cdef int64_t k, slot, prefix = 0
        cdef int size = self.vector_size
        cdef int32_t node
        for k in range(length):
            node = self.path_nodes[start + k]
            if k < self.private_levels:
                slot = (((<int64_t>1) << k) - 1) + prefix
                if not self.top_copied[slot]:
                    memcpy(&self.top_rows[slot, 0], &self.inner_node_vectors[node, 0], size * sizeof(float))
                    memcpy(&self.top_rows_start[slot, 0], &self.top_rows[slot, 0], size * sizeof(float))
                    self.top_copied[slot] = 1
                self.path_rows[k] = <size_t>&self.top_rows[slot, 0]
                prefix = 2 * prefix + self.path_codes[start + k]
            elif self.learn_inner_nodes:
                self.path_rows[k] = <size_t>&self.inner_node_vectors[node, 0]
            else:
                # Frozen: the step trains a copy, and the copy is thrown away.
                memcpy(&self.frozen_path[k, 0], &self.inner_node_vectors[node, 0], size * sizeof(float))
                self.path_rows[k] = <size_t>&self.frozen_path[k, 0]

    cdef void _count_towards_merge(self, int64_t words_read) noexcept nogil:
        self.unsynced += words_read
        if self.unsynced >= self.sync_words:
            # Merge often: the top rows change with every centre word, and copies
            # that ignore the other workers for long train worse.
            self._merge(self.merges)
            self.merges += 1
            self.unsynced = 0

    cdef void _merge(self, int64_t merge_number) noexcept nogil:
        """Shared rows += the change to the private copies since they were copied (other
        workers' changes made meanwhile are kept: each worker adds only its own); the
        next path to reach a merged slot copies it afresh.

        The top ``every_time_levels`` levels are merged every time, each level below
        half as often as the one above (its rows are reached about half as often, so a
        copy still misses about as many of the other workers' updates), but at least
        every ``2**MERGE_HALVINGS_MAX`` merges; a negative ``merge_number`` merges
        every level."""
        cdef Py_ssize_t slot, i
        cdef int level, skipped_levels, size = self.vector_size
        cdef float* private_row
        cdef float* start_row
        cdef float* shared_row
        for level in range(self.private_levels):
            skipped_levels = level - self.every_time_levels + 1
            if merge_number >= 0 and skipped_levels > 0 and \
                    merge_number & (((<int64_t>1) << min(skipped_levels, MERGE_HALVINGS_MAX)) - 1) != 0:
                continue
            for slot in range(((<Py_ssize_t>1) << level) - 1, ((<Py_ssize_t>1) << (level + 1)) - 1):
                if self.top_copied[slot]:
                    private_row = &self.top_rows[slot, 0]
                    start_row = &self.top_rows_start[slot, 0]
                    shared_row = &self.inner_node_vectors[self.top_nodes[slot], 0]
                    for i in range(size):
                        shared_row[i] += private_row[i] - start_row[i]
                    self.top_copied[slot] = 0

    def finish(self):
        """Add what is left of the private rows to the shared rows (every level).

        Call it when the worker stops (after its last batch, an interrupt or an
        error): until then the shared rows miss the worker's latest updates of the
        top levels.  The merge schedule carries on if the worker trains again.
        Does nothing without private rows."""
        if self.private_levels:
            with nogil:
                self._merge(-1)


# ------------------------------------------------------------------ tree slots
def top_row_slots(const int32_t[::1] path_nodes, const uint8_t[::1] path_codes,
                  const int64_t[::1] path_offsets, int levels):
    """Slot -> inner node id (-1: no node) for the top ``levels`` levels of a tree.

    The node at depth d reached by codes c_0 .. c_{d-1} goes to slot
    ``2**d - 1 + int(c_0 .. c_{d-1} in binary)`` (``TrainingWorker._gather_path_rows``)."""
    if not 1 <= levels <= MAX_PRIVATE_LEVELS:
        raise ValueError(f"levels must be in [1, {MAX_PRIVATE_LEVELS}] (2**levels - 1 rows per worker), got {levels}")
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
# Each runs one step of a kernel on checked inputs, for the tests that hold the
# kernels to hsmcy.reference.
def _check_step(input_vectors, inner_node_vectors, nodes, codes, context_words=None):
    size = inner_node_vectors.shape[1]
    if input_vectors is not None and input_vectors.shape[1] != size:
        raise ValueError("inner_node_vectors and the input vectors differ in width")
    if nodes.shape[0] != codes.shape[0]:
        raise ValueError("nodes and codes differ in length")
    if nodes.shape[0] and (min(nodes) < 0 or max(nodes) >= inner_node_vectors.shape[0]):
        raise ValueError("a node id is out of range")
    if context_words is not None:
        if context_words.shape[0] == 0:
            raise ValueError("context_words is empty")
        if min(context_words) < 0 or max(context_words) >= input_vectors.shape[0]:
            raise ValueError("a context word id is out of range")


def _row_addresses(float[:, ::1] rows, const int32_t[::1] ids):
    """Addresses of ``rows[ids[j]]`` (ids already checked), as the C steps take them."""
    addresses = _padded(ids.shape[0], np.uintp)
    cdef size_t[::1] view = addresses
    cdef Py_ssize_t j
    for j in range(ids.shape[0]):
        view[j] = <size_t>&rows[ids[j], 0]
    return addresses


def path_step(float[::1] hidden, float[:, ::1] inner_node_vectors, const int32_t[::1] nodes,
              const uint8_t[::1] codes, float alpha, str kernel="blas"):
    """One path step: ``_hs.train_path`` (``"blas"``) or ``hs_path_step`` (``"fast"``).

    Updates ``inner_node_vectors`` in place; returns ``(hidden_step, loss)``
    (``reference.path_step``)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if hidden.shape[0] != inner_node_vectors.shape[1]:
        raise ValueError("hidden and inner_node_vectors differ in width")
    _check_step(None, inner_node_vectors, nodes, codes)
    cdef int size = hidden.shape[0]
    hidden_step = np.zeros(size, dtype=np.float32)
    cdef float[::1] step = hidden_step
    cdef double loss = 0.0
    if nodes.shape[0] == 0:
        return hidden_step, 0.0
    rows_array = _row_addresses(inner_node_vectors, nodes)
    cdef size_t[::1] rows = rows_array
    with nogil:
        if kernel == "blas":
            loss = train_path(&nodes[0], &codes[0], nodes.shape[0], &hidden[0], &step[0],
                              inner_node_vectors, size, alpha, True)
        else:
            loss = hs_path_step(size, &hidden[0], &step[0], <float**>&rows[0], &codes[0], nodes.shape[0],
                                alpha, True)
    return hidden_step, loss


def sg_window_step(float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors, const int32_t[::1] nodes,
                   const uint8_t[::1] codes, const int32_t[::1] context_words, float alpha):
    """``hs_sg_window_step`` for one centre word: updates both arrays in place and
    returns the loss (``reference.sg_window_step``)."""
    _check_step(input_vectors, inner_node_vectors, nodes, codes, context_words)
    if nodes.shape[0] == 0:
        return 0.0
    cdef int size = input_vectors.shape[1], n_context = context_words.shape[0]
    context_array = _row_addresses(input_vectors, context_words)
    rows_array = _row_addresses(inner_node_vectors, nodes)
    cdef size_t[::1] context = context_array
    cdef size_t[::1] rows = rows_array
    cdef float[::1] steps = _padded(n_context * size, np.float32)
    cdef float[::1] gains = _padded(n_context, np.float32)
    cdef float[::1] dots = _padded(n_context, np.float32)
    cdef double loss
    with nogil:
        loss = hs_sg_window_step(size, <float**>&context[0], n_context, <float**>&rows[0], &codes[0],
                                 nodes.shape[0], alpha, True, &steps[0], &gains[0], &dots[0])
    return loss


def cbow_step(float[:, ::1] input_vectors, float[:, ::1] inner_node_vectors, const int32_t[::1] nodes,
              const uint8_t[::1] codes, const int32_t[::1] context_words, float alpha, bint cbow_mean):
    """``hs_cbow_step`` for one centre word: updates both arrays in place and returns
    the loss (``reference.cbow_step``)."""
    _check_step(input_vectors, inner_node_vectors, nodes, codes, context_words)
    if nodes.shape[0] == 0:
        return 0.0
    cdef int size = input_vectors.shape[1]
    context_array = _row_addresses(input_vectors, context_words)
    rows_array = _row_addresses(inner_node_vectors, nodes)
    cdef size_t[::1] context = context_array
    cdef size_t[::1] rows = rows_array
    cdef float[::1] hidden = _padded(size, np.float32)
    cdef float[::1] hidden_grad = _padded(size, np.float32)
    cdef double loss
    with nogil:
        loss = hs_cbow_step(size, <float**>&context[0], context_words.shape[0], cbow_mean, <float**>&rows[0],
                            &codes[0], nodes.shape[0], alpha, True, &hidden[0], &hidden_grad[0])
    return loss


def sigmoid_values(const float[::1] x):
    """The kernels' sigmoid (``_maths.h``), elementwise."""
    out = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] out_view = out
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out_view[i] = sigmoid(x[i])
    return out


def random_stream(uint64_t[::1] rng_state, Py_ssize_t count):
    """``count`` raw 64-bit draws from the kernel RNG (for tests of the reference RNG)."""
    out = np.empty(count, dtype=np.uint64)
    cdef uint64_t[::1] out_view = out
    cdef Py_ssize_t i
    for i in range(count):
        out_view[i] = next_random(&rng_state[0])
    return out
