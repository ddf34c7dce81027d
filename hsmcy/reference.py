"""Hierarchical softmax in plain NumPy, written to be read.

This module is the statement of the maths and the oracle the tests hold the Cython
kernels to.  It is slow on purpose: one loop per idea, no tricks.

The model
---------
A binary tree has one leaf per class (word) and one vector ``v_n`` per inner node.
A leaf is reached from the root by a path of inner nodes ``n_1 .. n_L`` and branch
bits (its *code*) ``c_1 .. c_L``.  Given a hidden vector ``h`` (skip-gram: one
context word's input vector; CBOW: the mean or sum of the context vectors)::

    P(leaf | h) = prod_k  sigmoid(s_k * h . v_{n_k}),    s_k = +1 if c_k == 0 else -1

Each factor is the probability of taking the right branch at one node, and the two
branches of a node sum to one, so the probabilities of all leaves sum to one.

Label, activation, loss
-----------------------
* label: the binary *target* ``t_k = 1 - c_k`` at every node of the path;
* activation: ``sigmoid(h . v_{n_k})``, the predicted probability that ``t_k = 1``;
* loss: the sum of the binary log-losses along the path, which is exactly
  ``-log P(leaf | h)``.

Only the ``L ~ log2(V)`` nodes on one path are touched, instead of all ``V``
outputs of a full softmax.

Gradients (with ``f_k = sigmoid(h . v_{n_k})``)::

    d loss / d v_{n_k} = (f_k - t_k) * h
    d loss / d h       = sum_k (f_k - t_k) * v_{n_k}

They hold everywhere: unlike word2vec.c and gensim, which skip any node where
``|h . v| >= 6``, we also update a node whose sigmoid is saturated on the wrong side
(there the gradient is largest).

The kernels, and where they differ from this module
---------------------------------------------------
``hsmcy._kernels.TrainingWorker`` trains with one of two kernels
(``Word2Vec(kernel=...)``):

* ``"blas"`` follows :func:`train_sentence` exactly: skip-gram pair by pair
  (:func:`sg_pair_step`), CBOW by :func:`cbow_step`; every dot product and row
  update is a BLAS call.
* ``"fast"`` (the default) trains skip-gram one *window* at a time
  (:func:`sg_window_step`, ``train_sentence(..., sg_window=True)``): all context
  words of a centre word share its path, so the step is taken on the window's
  summed loss, every path row is read and written once per window instead of once
  per context word, and the rows of the tree's top levels (on every path) are
  written ten times less often by concurrent workers.  What changes is only the
  order of the updates inside a window: pair by pair, the second context word
  already sees the path rows moved by the first.  CBOW is as ``"blas"``, in
  hand-vectorised C.

Both compute the sigmoid in single precision with a polynomial ``exp``
(:func:`sigmoid_float32` says exactly what it returns): relative error about 1e-7,
no table, no clipping of the gradient.  Both also share the subsampling and window
draws of :func:`train_sentence` and its random stream (:class:`SplitMix64`).

Doc2Vec is the same steps on more input rows (the document vectors):
:func:`train_document`, :func:`infer_document_vector` and :func:`score_document`.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid", "log_sigmoid", "log_prob", "loss", "loss_and_gradients", "all_leaf_log_probs",
    "path_step", "sg_pair_step", "sg_window_step", "cbow_step", "SplitMix64", "train_sentence",
    "sigmoid_float32",
    "log_prob_rows", "loss_and_grad_rows", "sgd_rows", "distribution_rows", "top_k_rows", "sample_rows",
    "score_sentence", "text_vectors", "classifier_step", "grow_tree",
    "subsample", "window_context", "train_document", "infer_document_vector", "score_document",
]


def sigmoid(x):
    """Logistic function 1 / (1 + e^-x), computed without overflow warnings."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def sigmoid_float32(x):
    """What every kernel computes for ``sigmoid(x)`` (``hsmcy/_maths.h``).

    The exact sigmoid, except that ``e^-x`` is taken at ``-x`` clamped to
    ``[-87, 88]`` (so that the kernel's ``2^n`` scaling stays a normal float):
    beyond that range the value moves by less than 1e-37.  The kernel's
    polynomial adds a relative error of about 1e-7 (float32 rounding), which the
    tests bound separately.
    """
    x = np.asarray(x, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(np.clip(-x, -87.0, 88.0)))


def log_sigmoid(x):
    """log(sigmoid(x)) = -log(1 + e^-x), stable for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    return -np.logaddexp(0.0, -x)


def _signs(codes):
    """+1 where the path goes to branch 0, -1 where it goes to branch 1."""
    return 1.0 - 2.0 * np.asarray(codes, dtype=np.float64)


def log_prob(hidden, inner_node_vectors, nodes, codes):
    """log P(leaf | hidden) for the leaf whose path is ``(nodes, codes)``."""
    dots = inner_node_vectors[nodes].astype(np.float64) @ np.asarray(hidden, dtype=np.float64)
    return float(np.sum(log_sigmoid(_signs(codes) * dots)))


def loss(hidden, inner_node_vectors, nodes, codes):
    """Sum of binary log-losses along the path, i.e. ``-log P(leaf | hidden)``."""
    return -log_prob(hidden, inner_node_vectors, nodes, codes)


def loss_and_gradients(hidden, inner_node_vectors, nodes, codes):
    """Loss and its exact gradients.

    Returns
    -------
    loss : float
    grad_hidden : ndarray, shape (dim,)
        d loss / d hidden.
    grad_rows : ndarray, shape (len(nodes), dim)
        d loss / d inner_node_vectors[nodes[k]] for each path position k.  (A node
        appears at most once on a path, so these are the rows of a sparse gradient.)
    """
    hidden = np.asarray(hidden, dtype=np.float64)
    rows = inner_node_vectors[nodes].astype(np.float64)
    dots = rows @ hidden
    targets = 1.0 - np.asarray(codes, dtype=np.float64)
    errors = sigmoid(dots) - targets  # d loss / d dot, per node
    grad_hidden = errors @ rows
    grad_rows = np.outer(errors, hidden)
    return loss(hidden, inner_node_vectors, nodes, codes), grad_hidden, grad_rows


def all_leaf_log_probs(hidden, inner_node_vectors, tree):
    """log P(leaf | hidden) for every leaf of ``tree`` (brute force, for checks)."""
    return np.array([log_prob(hidden, inner_node_vectors, *tree.path(leaf)) for leaf in range(tree.n_leaves)])


# ----------------------------------------------------------------- SGD steps
def path_step(hidden, inner_node_vectors, nodes, codes, alpha):
    """One SGD step on ``-log P(leaf | hidden)``, in place on ``inner_node_vectors``.

    Every node's gradient is taken at the same ``hidden`` (which is not changed
    here); nodes are updated in path order, each with the error computed before its
    own update.  Returns ``(hidden_step, loss)``: ``hidden_step = -alpha * d loss /
    d hidden`` for the caller to add to the vectors that made ``hidden``.
    """
    hidden = np.asarray(hidden, dtype=np.float64)
    hidden_step = np.zeros_like(hidden)
    total_loss = 0.0
    for node, code in zip(nodes, codes):
        row = inner_node_vectors[node].astype(np.float64)
        dot = row @ hidden
        g = alpha * ((1 - code) - sigmoid(dot))  # -alpha * d loss / d dot
        hidden_step += g * row
        inner_node_vectors[node] = row + g * hidden
        total_loss -= float(log_sigmoid(dot if code == 0 else -dot))
    return hidden_step, total_loss


def sg_pair_step(input_vectors, inner_node_vectors, tree, centre_word, context_word, alpha):
    """Skip-gram step for one (centre, context) pair: the context word's input
    vector predicts the centre word along the centre word's path.  Returns the loss."""
    nodes, codes = tree.path(centre_word)
    hidden_step, pair_loss = path_step(input_vectors[context_word], inner_node_vectors, nodes, codes, alpha)
    input_vectors[context_word] += hidden_step
    return pair_loss


def sg_window_step(input_vectors, inner_node_vectors, tree, centre_word, context_words, alpha):
    """Skip-gram step for one centre word and all its context words at once.

    One SGD step on the window's summed loss ``sum_j -log P(centre | h_j)``, taken
    at the window's starting point: every dot product uses the rows as they were
    before this step, and all updates are applied after.  With the path rows
    ``V`` (L x dim), the context rows ``H`` (m x dim) and the targets ``t``::

        G = alpha * (t - sigmoid(H V^T))      (m x L)
        H += G V,   V += G^T H                (both from the old H and V)

    A word appearing twice in the window gets both of its steps.  Returns the loss.
    """
    context_words = [int(word) for word in context_words]
    if not context_words:
        return 0.0
    nodes, codes = tree.path(centre_word)
    hidden = input_vectors[context_words].astype(np.float64)     # m x dim
    rows = inner_node_vectors[nodes].astype(np.float64)          # L x dim
    dots = hidden @ rows.T
    targets = 1.0 - np.asarray(codes, dtype=np.float64)
    gains = alpha * (targets - sigmoid(dots))
    signs = _signs(codes)
    window_loss = -float(np.sum(log_sigmoid(dots * signs)))
    hidden_steps = gains @ rows
    inner_node_vectors[nodes] = rows + gains.T @ hidden
    for j, word in enumerate(context_words):
        input_vectors[word] += hidden_steps[j]
    return window_loss


def cbow_step(input_vectors, inner_node_vectors, tree, centre_word, context_words, alpha, cbow_mean=True):
    """CBOW step: the mean (or sum) of the context vectors predicts the centre word.

    Update of the context vectors, as in word2vec.c, gensim and fastText: each one
    receives the whole step computed for ``hidden``.  For ``cbow_mean=True`` that is
    ``len(context_words)`` times the exact gradient of the mean (an effective
    learning-rate factor); for ``cbow_mean=False`` gensim divides the step by the
    number of context words, and we keep its behaviour so that models match.
    Returns the loss.
    """
    if len(context_words) == 0:
        return 0.0
    hidden = np.sum(input_vectors[list(context_words)].astype(np.float64), axis=0)
    if cbow_mean:
        hidden /= len(context_words)
    nodes, codes = tree.path(centre_word)
    hidden_step, step_loss = path_step(hidden, inner_node_vectors, nodes, codes, alpha)
    if not cbow_mean:
        hidden_step /= len(context_words)
    for word in context_words:
        input_vectors[word] += hidden_step
    return step_loss


# ------------------------------------------------------- whole sentences, with RNG
class SplitMix64:
    """The kernels' per-worker random stream (splitmix64), in Python integers."""

    MASK = (1 << 64) - 1

    def __init__(self, state: int):
        self.state = int(state) & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self) -> float:
        """Uniform in [0, 1) from the top 24 bits (as the kernel, in float32)."""
        return float(np.float32((self.next() >> 40) * (1.0 / 16777216.0)))


def subsample(sentence, keep_probability, rng):
    """Down-sampling: a word with ``keep_probability[w] < 1`` is kept when a uniform
    draw is below that probability; dropped words vanish before windows are formed."""
    words = []
    for word in sentence:
        keep = 1.0 if keep_probability is None else float(np.float32(keep_probability[word]))
        if keep < 1.0 and rng.uniform() >= keep:
            continue
        words.append(int(word))
    return words


def window_context(words, centre, window, shrink_windows, rng):
    """The context words of position ``centre``: within ``window - b`` of it, with
    ``b = draw % window`` when ``shrink_windows`` (one draw), else ``b = 0``."""
    reduction = rng.next() % window if shrink_windows else 0
    low = max(0, centre - window + reduction)
    high = min(len(words), centre + window + 1 - reduction)
    return [words[j] for j in range(low, high) if j != centre]


def train_sentence(sentence, input_vectors, inner_node_vectors, tree, *, sg, window, alpha,
                   keep_probability=None, shrink_windows=True, cbow_mean=True, rng=None, sg_window=False):
    """Train on one sentence exactly as ``_kernels.TrainingWorker.train`` does.

    1. Subsampling (:func:`subsample`).
    2. For each remaining position, the window (:func:`window_context`).
    3. skip-gram: one :func:`sg_pair_step` per context word, in order (kernel
       ``"blas"``), or with ``sg_window=True`` one :func:`sg_window_step` per centre
       word (kernel ``"fast"``); CBOW: one :func:`cbow_step` with all context words.

    Returns ``(words_trained, loss)``.
    """
    if rng is None:
        rng = SplitMix64(0)
    words = subsample(sentence, keep_probability, rng)
    total_loss = 0.0
    if len(words) < 2:
        return len(words), 0.0
    for centre in range(len(words)):
        context = window_context(words, centre, window, shrink_windows, rng)
        if sg and sg_window:
            total_loss += sg_window_step(input_vectors, inner_node_vectors, tree, words[centre], context, alpha)
        elif sg:
            for context_word in context:
                total_loss += sg_pair_step(input_vectors, inner_node_vectors, tree, words[centre],
                                           context_word, alpha)
        else:
            total_loss += cbow_step(input_vectors, inner_node_vectors, tree, words[centre], context,
                                    alpha, cbow_mean)
    return len(words), total_loss


# --------------------------------------------------------- documents (Doc2Vec)
# Paragraph vectors (Le & Mikolov 2014) are word2vec with more input rows: every
# document has a vector of its own (one per tag), and it joins the context of every
# centre word of the document.  The paths, the targets and the steps are Word2Vec's:
#
# * PV-DBOW (``dm=0``) is skip-gram whose context rows are the document's vectors,
#   plus, with ``dbow_words``, the window's words (gensim: the word pairs first, then
#   the document's);
# * PV-DM (``dm=1``) is CBOW whose hidden vector is the mean (or sum) of the
#   window's words *and* the document's vectors, and whose step goes to all of them.
#
# So this section states Doc2Vec with the Word2Vec steps above, on one table of
# input rows: the word vectors, then the document vectors (document ``t`` is row
# ``V + t``).  ``infer_vector`` trains a new document's vector with every other
# weight frozen: each step acts on the rows as they were, and its updates of word
# and inner-node rows are discarded.
def train_document(words, tags, word_vectors, document_vectors, inner_node_vectors, tree, *, dm, window, alpha,
                   keep_probability=None, shrink_windows=True, cbow_mean=True, dbow_words=False, rng=None,
                   sg_window=False, learn_words=True, learn_inner_nodes=True):
    """Train on one document exactly as a ``TrainingWorker`` with document vectors does.

    ``words`` are the document's word ids, ``tags`` its rows of ``document_vectors``.
    Subsampling as :func:`train_sentence`; a window is drawn for each centre word
    only if words are context (always in PV-DM, with ``dbow_words`` in PV-DBOW).
    The context is the window's words, then the document's rows; then one
    :func:`cbow_step` (PV-DM), one :func:`sg_window_step` (PV-DBOW, ``sg_window``,
    kernel ``"fast"``) or one :func:`sg_pair_step` per context row (kernel
    ``"blas"``, the order of gensim's PV-DBOW).  A document of one kept word still
    trains its vector; a document with no tag trains its words only.

    ``learn_words=False`` / ``learn_inner_nodes=False`` freeze those weights
    (``infer_vector``): every step sees them as they were, and what it would have
    added to them is thrown away.  Updates ``word_vectors``, ``document_vectors``
    and ``inner_node_vectors`` in place; returns ``(words_trained, loss)``.
    """
    if rng is None:
        rng = SplitMix64(0)
    words = subsample(words, keep_probability, rng)
    if not words or (len(words) == 1 and not tags):
        return len(words), 0.0
    n_words = len(word_vectors)
    rows = np.concatenate([word_vectors, document_vectors])        # the one table of input rows
    document_rows = [n_words + int(tag) for tag in tags]
    words_are_context = dm or dbow_words

    def step(train, context):
        """One step on ``rows``, undoing what it did to frozen weights."""
        inner = inner_node_vectors if learn_inner_nodes else inner_node_vectors.copy()
        word_rows = None if learn_words else rows[:n_words].copy()
        loss = train(inner, context)
        if word_rows is not None:
            rows[:n_words] = word_rows
        return loss

    total_loss = 0.0
    for centre in range(len(words)):
        context = window_context(words, centre, window, shrink_windows, rng) if words_are_context else []
        context += document_rows
        if not context:
            continue
        if dm:
            total_loss += step(lambda inner, c: cbow_step(rows, inner, tree, words[centre], c, alpha, cbow_mean),
                               context)
        elif sg_window:
            total_loss += step(lambda inner, c: sg_window_step(rows, inner, tree, words[centre], c, alpha), context)
        else:
            for row in context:
                total_loss += step(lambda inner, c: sg_pair_step(rows, inner, tree, words[centre], c, alpha), row)
    word_vectors[...] = rows[:n_words]
    document_vectors[...] = rows[n_words:]
    return len(words), total_loss


def infer_document_vector(words, vector, word_vectors, inner_node_vectors, tree, *, dm, window, alpha, min_alpha,
                          epochs, keep_probability=None, shrink_windows=True, cbow_mean=True, rng=None,
                          sg_window=False):
    """``Doc2Vec.infer_vector``: train a new document's ``vector`` with every other weight frozen.

    ``epochs`` passes over ``words``; the learning rate is ``alpha`` in the first,
    falls by ``(alpha - min_alpha) / max(epochs - 1, 1)`` after each, and is constant
    within a pass (as gensim).  PV-DBOW trains the document's vector only (no word
    pairs, whatever ``dbow_words``: they could not change it).  Returns the vector.
    """
    document_vectors = np.array(vector, dtype=np.float64).reshape(1, -1)
    step = (alpha - min_alpha) / max(epochs - 1, 1)
    for _ in range(epochs):
        train_document(words, [0], word_vectors, document_vectors, inner_node_vectors, tree, dm=dm, window=window,
                       alpha=alpha, keep_probability=keep_probability, shrink_windows=shrink_windows,
                       cbow_mean=cbow_mean, rng=rng, sg_window=sg_window, learn_words=False,
                       learn_inner_nodes=False)
        alpha -= step
    return document_vectors[0]


def score_document(words, document_vector_rows, word_vectors, inner_node_vectors, tree, *, dm, window,
                   cbow_mean=True):
    """The log-likelihood of a document's words under the model, given its document vectors.

    What training maximises, without down-sampling and with the full window:
    PV-DBOW: the sum over words and over the document's vectors of
    ``log P(word | document vector)``; PV-DM: the sum over words of
    ``log P(word_i | mean or sum of the window's words and the document's vectors)``.
    ``words`` are known word ids; ``document_vector_rows`` a (tags, dim) array.
    """
    document_vector_rows = np.asarray(document_vector_rows, dtype=np.float64).reshape(-1, word_vectors.shape[1])
    total = 0.0
    for i, centre in enumerate(words):
        path = tree.path(int(centre))
        if not dm:
            total += sum(log_prob(d, inner_node_vectors, *path) for d in document_vector_rows)
            continue
        context = [words[j] for j in range(max(0, i - window), min(len(words), i + window + 1)) if j != i]
        rows = np.concatenate([word_vectors[context].astype(np.float64), document_vector_rows])
        hidden = rows.sum(axis=0)
        if cbow_mean and len(rows):
            hidden /= len(rows)
        total += log_prob(hidden, inner_node_vectors, *path)
    return total


# ------------------------------------------------- using a trained tree (inference)
# The oracle for hsmcy._inference: the same quantities, one row and one leaf at a
# time, by brute force where the kernels are clever (top-down, best-first).
def log_prob_rows(hidden, inner_node_vectors, tree, labels):
    """``log P(labels[i] | hidden[i])`` for every row."""
    return np.array([log_prob(h, inner_node_vectors, *tree.path(int(y))) for h, y in zip(hidden, labels)])


def loss_and_grad_rows(hidden, inner_node_vectors, tree, labels):
    """Per-row ``(losses, grad_hidden (n, dim), [(nodes, grad_rows), ...])`` from :func:`loss_and_gradients`."""
    losses, grad_hidden, node_grads = [], [], []
    for h, y in zip(hidden, labels):
        nodes, codes = tree.path(int(y))
        row_loss, row_grad, rows = loss_and_gradients(h, inner_node_vectors, nodes, codes)
        losses.append(row_loss)
        grad_hidden.append(row_grad)
        node_grads.append((np.array(nodes), rows))
    return np.array(losses), np.array(grad_hidden).reshape(len(losses), -1), node_grads


def sgd_rows(hidden, inner_node_vectors, tree, labels, learning_rate):
    """One :func:`path_step` per row, in order, in place; returns ``(losses, d loss_i / d hidden_i)``."""
    losses, grads = [], []
    for h, y in zip(hidden, labels):
        step, row_loss = path_step(h, inner_node_vectors, *tree.path(int(y)), learning_rate)
        losses.append(row_loss)
        grads.append(-step / learning_rate)
    return np.array(losses), np.array(grads).reshape(len(losses), -1)


def distribution_rows(hidden, inner_node_vectors, tree, log=False):
    """Every leaf's probability (or its log) for every row, leaf by leaf along its path
    (O(V log V) per row)."""
    hidden = np.asarray(hidden, dtype=np.float64)
    log_probs = np.empty((len(hidden), tree.n_leaves))
    for leaf in range(tree.n_leaves):
        nodes, codes = tree.path(leaf)
        dots = hidden @ inner_node_vectors[nodes].astype(np.float64).T   # (rows, path length)
        log_probs[:, leaf] = np.sum(log_sigmoid(_signs(codes) * dots), axis=1)
    return log_probs if log else np.exp(log_probs)


def top_k_rows(hidden, inner_node_vectors, tree, k):
    """The ``k`` most probable leaves per row by scoring every leaf: ``(ids, probs)``."""
    probs = distribution_rows(hidden, inner_node_vectors, tree)
    ids = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(probs, ids, axis=1)


def sample_rows(hidden, inner_node_vectors, tree, n_samples, seed):
    """The kernel's sampler: row ``i`` draws from a splitmix64 stream seeded by ``seed`` and ``i``.

    Starting at the root, branch 0 is taken when a 53-bit uniform draw is below
    ``sigmoid(h . v)``; the walk ends at a leaf.
    """
    children, mask = tree.children, (1 << 64) - 1
    out = np.zeros((len(hidden), n_samples), dtype=np.int64)
    for row, h in enumerate(hidden):
        seeder = SplitMix64((int(seed) + row * 0xD1B54A32D192ED03) & mask)
        stream = SplitMix64(seeder.next())
        for s in range(n_samples):
            node = tree.root
            while node >= 0:
                branch0 = float(sigmoid(np.float32(np.dot(h, inner_node_vectors[node]))))
                node = children[node, 0] if (stream.next() >> 11) / 2.0 ** 53 < branch0 else children[node, 1]
            out[row, s] = -1 - node
    return out


def score_sentence(word_ids, input_vectors, inner_node_vectors, tree, *, sg, window, cbow_mean=True):
    """Per-word terms of a sentence's log-likelihood, gensim's ``score()`` definition made exact.

    ``word_ids`` are the sentence's known words (unknown ones already dropped).  The
    full window is used.  skip-gram: word i's term is the sum over context words j of
    ``log P(word_i | input_vectors[word_j])``; CBOW: ``log P(word_i | mean or sum of
    the context vectors)`` (a zero vector when there is none).
    """
    terms = []
    for i, centre in enumerate(word_ids):
        context = [word_ids[j] for j in range(max(0, i - window), min(len(word_ids), i + window + 1)) if j != i]
        path = tree.path(int(centre))
        if sg:
            terms.append(sum(log_prob(input_vectors[c], inner_node_vectors, *path) for c in context))
        else:
            hidden = np.sum(input_vectors[context].astype(np.float64), axis=0) if context else \
                np.zeros(input_vectors.shape[1])
            if cbow_mean and context:
                hidden /= len(context)
            terms.append(log_prob(hidden, inner_node_vectors, *path))
    return np.array(terms, dtype=np.float64)


# ------------------------------------------------------- the text classifier
# The oracle for hsmcy._classifier (HSClassifier): a text's hidden vector is the
# mean of its tokens' input vectors.
def text_vectors(token_ids, text_bounds, input_vectors):
    """Mean of each text's token vectors (zero for a text without tokens), in float64."""
    out = np.zeros((len(text_bounds) - 1, input_vectors.shape[1]))
    for text in range(len(text_bounds) - 1):
        tokens = token_ids[text_bounds[text]:text_bounds[text + 1]]
        if len(tokens):
            out[text] = input_vectors[tokens].astype(np.float64).mean(axis=0)
    return out


def classifier_step(tokens, labels, input_vectors, inner_node_vectors, tree, lr):
    """One SGD step of HSClassifier on one example, in place; returns its loss.

    ``h`` = mean of ``input_vectors[tokens]``; each label in turn takes
    :func:`path_step` from that same ``h`` (so inner nodes shared by two labels'
    paths are updated twice, the second time from the updated vector); the summed
    step for ``h`` is divided by ``len(tokens)`` (``d h / d e_t = 1 / T``, the exact
    gradient of the mean) and added to every token's vector once per occurrence.
    """
    tokens = np.asarray(tokens)
    hidden = input_vectors[tokens].astype(np.float64).mean(axis=0)
    hidden_step = np.zeros_like(hidden)
    total_loss = 0.0
    for label in labels:
        step, label_loss = path_step(hidden, inner_node_vectors, *tree.path(int(label)), lr)
        hidden_step += step
        total_loss += label_loss
    hidden_step /= len(tokens)
    for token in tokens:
        input_vectors[token] += hidden_step
    return total_loss


# ------------------------------------------------- growing a trained tree (online vocabulary)
def grow_tree(tree, counts, new_counts):
    """New leaves by splitting leaves, by brute force: the rule :func:`hsmcy.tree_growth.grow_tree` implements.

    New leaf ``j`` (id ``n_old + j``) is placed in order of descending
    ``new_counts[j]`` (ties: lower ``j`` first).  Among the leaves placed so far,
    the one ``l`` with the smallest ``(counts[l] + new_count * (depth[l] + 1),
    depth[l], l)`` is split: the ``i``-th split makes inner node ``n_old - 1 + i``,
    which takes ``l``'s place; ``l`` continues on its branch 1, the new leaf is its
    branch 0.  Returns every leaf's ``(points, codes)`` as Python lists.
    """
    n_old = tree.n_leaves
    points = [list(map(int, tree.path(leaf)[0])) for leaf in range(n_old)] + [None] * len(new_counts)
    codes = [list(map(int, tree.path(leaf)[1])) for leaf in range(n_old)] + [None] * len(new_counts)
    weight = [int(c) for c in counts] + [int(c) for c in new_counts]
    next_node = n_old - 1
    for new in sorted(range(len(new_counts)), key=lambda j: (-int(new_counts[j]), j)):
        new_leaf = n_old + new
        placed = [leaf for leaf in range(len(points)) if points[leaf] is not None]
        donor = min(placed, key=lambda leaf: (weight[leaf] + weight[new_leaf] * (len(points[leaf]) + 1),
                                              len(points[leaf]), leaf))
        points[new_leaf] = points[donor] + [next_node]
        codes[new_leaf] = codes[donor] + [0]
        points[donor] = points[donor] + [next_node]
        codes[donor] = codes[donor] + [1]
        next_node += 1
    return points, codes
