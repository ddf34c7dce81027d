"""Doc2Vec in the training kernels, held to hsmcy.reference (float32 tolerance), for both kernels.

A ``TrainingWorker`` given ``document_vectors`` trains PV-DBOW (skip-gram whose
context is the document's rows, plus the window's words with ``window_words``) and
PV-DM (CBOW with the document's rows among the context): ``reference.train_document``.
Frozen weights (``learn_words`` / ``learn_inner_nodes``, for ``infer_vector``) must
stay bit-for-bit unchanged while the document vectors learn as the reference says.
"""
import numpy as np
import pytest

from hsmcy import HuffmanTree, _kernels, reference

KERNELS = list(_kernels.KERNELS)
MODES = [  # (dm, window_words = dbow_words in PV-DBOW, cbow_mean)
    (0, False, True), (0, True, True), (1, True, True), (1, True, False)]


def setup(rng, n_words=40, n_documents=9, size=16, scale=0.3):
    tree = HuffmanTree.from_counts(rng.integers(1, 1000, n_words))
    word_vectors = (rng.standard_normal((n_words, size)) * scale).astype(np.float32)
    document_vectors = (rng.standard_normal((n_documents, size)) * scale).astype(np.float32)
    inner = (rng.standard_normal((n_words - 1, size)) * scale).astype(np.float32)
    return tree, word_vectors, document_vectors, inner


def corpus(rng, n_words, n_documents):
    """Documents of several lengths (empty, one word, long), with 0, 1 or several tags."""
    lengths = [12, 1, 30, 0, 7, 2, 1, 25]
    documents = [rng.integers(0, n_words, n).tolist() for n in lengths]
    tags = [[0], [1], [2, 5], [3], [], [4, 4], [], [6, 7, 8]]
    return documents, tags


def flatten(documents, tags):
    token_ids = np.array([w for d in documents for w in d], dtype=np.int32)
    bounds = np.concatenate([[0], np.cumsum([len(d) for d in documents])]).astype(np.int64)
    document_tags = np.array([t for ts in tags for t in ts], dtype=np.int32)
    tag_bounds = np.concatenate([[0], np.cumsum([len(t) for t in tags])]).astype(np.int64)
    return token_ids, bounds, document_tags, tag_bounds


def make_worker(kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner, keep=None,
                seed=4242, **options):
    keep = np.ones(tree.n_leaves, np.float32) if keep is None else keep
    return _kernels.TrainingWorker(
        sg=not dm, kernel=kernel, input_vectors=word_vectors, inner_node_vectors=inner,
        path_nodes=tree.path_nodes, path_codes=tree.path_codes, path_offsets=tree.path_offsets,
        keep_probability=keep, window=3, cbow_mean=cbow_mean, compute_loss=True, rng_state=seed,
        document_vectors=document_vectors, window_words=window_words, **options)


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=2e-5)


def reference_run(kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner, documents,
                  tags, keep, seed, alpha=0.05, **flags):
    expected = [word_vectors.astype(np.float64), document_vectors.astype(np.float64), inner.astype(np.float64)]
    stream = reference.SplitMix64(seed)
    trained, loss = 0, 0.0
    for words, document_tags in zip(documents, tags):
        n, document_loss = reference.train_document(
            words, document_tags, *expected, tree, dm=dm, window=3, alpha=alpha, keep_probability=keep,
            cbow_mean=cbow_mean, dbow_words=window_words, rng=stream, sg_window=(kernel == "fast"), **flags)
        trained += n
        loss += document_loss
    return expected, stream, trained, loss


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("size", [3, 37])
@pytest.mark.parametrize("dm, window_words, cbow_mean", MODES)
def test_worker_trains_documents_as_the_reference(kernel, size, dm, window_words, cbow_mean):
    rng = np.random.default_rng(size + 10 * dm + 100 * window_words + 1000 * cbow_mean)
    tree, word_vectors, document_vectors, inner = setup(rng, size=size)
    keep = rng.uniform(0.4, 1.0, tree.n_leaves).astype(np.float32)
    keep[::3] = 1.0
    documents, tags = corpus(rng, tree.n_leaves, len(document_vectors))
    expected, stream, expected_trained, expected_loss = reference_run(
        kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner, documents, tags, keep,
        seed=31337)
    words_before, documents_before = word_vectors.copy(), document_vectors.copy()
    worker = make_worker(kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner, keep,
                         seed=31337)
    seen, trained, loss = worker.train(*flatten(documents, tags)[:2], 0.05, 0.05,
                                       *flatten(documents, tags)[2:])
    assert seen == sum(map(len, documents))
    assert trained == expected_trained          # the same words were subsampled away
    assert worker.rng_state == stream.state     # and the same windows drawn
    assert loss == pytest.approx(expected_loss, rel=1e-4)
    assert_close(word_vectors, expected[0])
    assert_close(document_vectors, expected[1])
    assert_close(inner, expected[2])
    if not dm and not window_words:             # plain PV-DBOW never touches a word vector
        np.testing.assert_array_equal(word_vectors, words_before)
    # The document vectors that learned are those the reference moved (a document
    # whose words were all subsampled away does not learn), and most did.
    moved = np.any(document_vectors != documents_before, axis=1)
    np.testing.assert_array_equal(moved, np.any(expected[1] != documents_before, axis=1))
    assert moved.sum() >= 5


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dm, window_words, cbow_mean", MODES)
def test_frozen_weights_stay_bit_for_bit_and_documents_learn_as_the_reference(kernel, dm, window_words,
                                                                               cbow_mean):
    rng = np.random.default_rng(7 + dm + 2 * window_words)
    tree, word_vectors, document_vectors, inner = setup(rng, size=21)
    documents, tags = corpus(rng, tree.n_leaves, len(document_vectors))
    frozen = dict(learn_words=False, learn_inner_nodes=False)
    expected, stream, _, expected_loss = reference_run(
        kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner, documents, tags, None,
        seed=99, **frozen)
    words_before, inner_before = word_vectors.copy(), inner.copy()
    worker = make_worker(kernel, dm, window_words, cbow_mean, tree, word_vectors, document_vectors, inner,
                         seed=99, **frozen)
    token_ids, bounds, document_tags, tag_bounds = flatten(documents, tags)
    _, _, loss = worker.train(token_ids, bounds, 0.05, 0.05, document_tags, tag_bounds)
    np.testing.assert_array_equal(word_vectors, words_before)
    np.testing.assert_array_equal(inner, inner_before)
    assert_close(document_vectors, expected[1])
    assert loss == pytest.approx(expected_loss, rel=1e-4)
    assert worker.rng_state == stream.state


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dm", [0, 1])
def test_freezing_changes_what_documents_learn(kernel, dm):
    # The frozen comparison above can fail: learning the words and inner nodes as well
    # moves the document vectors differently, far beyond the tolerance.
    rng = np.random.default_rng(5)
    tree, word_vectors, document_vectors, inner = setup(rng, size=21)
    documents, tags = corpus(rng, tree.n_leaves, len(document_vectors))
    learned = {}
    for frozen in (False, True):
        arrays = [word_vectors.copy(), document_vectors.copy(), inner.copy()]
        worker = make_worker(kernel, dm, True, True, tree, *arrays, learn_words=not frozen,
                             learn_inner_nodes=not frozen)
        worker.train(*flatten(documents, tags)[:2], 0.05, 0.05, *flatten(documents, tags)[2:])
        learned[frozen] = arrays[1]
    with pytest.raises(AssertionError):
        assert_close(learned[True], learned[False])


def test_private_top_rows_change_nothing_for_one_worker_with_documents():
    rng = np.random.default_rng(12)
    tree, word_vectors, document_vectors, inner = setup(rng, n_words=60, size=33)
    documents, tags = corpus(rng, tree.n_leaves, len(document_vectors))
    arrays = flatten(documents, tags)
    for dm, window_words in ((0, True), (1, True), (0, False)):
        plain = [word_vectors.copy(), document_vectors.copy(), inner.copy()]
        private = [word_vectors.copy(), document_vectors.copy(), inner.copy()]
        make_worker("fast", dm, window_words, True, tree, *plain).train(arrays[0], arrays[1], 0.05, 0.05, *arrays[2:])
        worker = make_worker("fast", dm, window_words, True, tree, *private, private_levels=4, sync_words=7)
        worker.train(arrays[0], arrays[1], 0.05, 0.05, *arrays[2:])
        worker.finish()
        for got, expected in zip(private, plain):
            assert_close(got, expected)


def test_worker_checks_document_tags_before_training():
    rng = np.random.default_rng(1)
    tree, word_vectors, document_vectors, inner = setup(rng, n_documents=4)
    worker = make_worker("fast", 0, True, True, tree, word_vectors, document_vectors, inner)
    ids, bounds = np.arange(10, dtype=np.int32), np.array([0, 4, 10])
    before = [word_vectors.copy(), document_vectors.copy(), inner.copy()]
    cases = [
        (dict(), "give document_tags and tag_bounds"),
        (dict(document_tags=np.array([0, 1], np.int32)), "go together"),
        (dict(document_tags=np.array([0, 4], np.int32), tag_bounds=np.array([0, 1, 2])),
         r"document_tags\[1\] = 4 is not a row of document_vectors in \[0, 4\)"),
        (dict(document_tags=np.array([-1, 0], np.int32), tag_bounds=np.array([0, 1, 2])), r"document_tags\[0\] = -1"),
        (dict(document_tags=np.array([0, 1], np.int32), tag_bounds=np.array([0, 2])), "tag_bounds must have 3"),
        (dict(document_tags=np.array([0, 1], np.int32), tag_bounds=np.array([0, 2, 1])), "tag_bounds must be non-"),
        (dict(document_tags=np.array([0, 1], np.int32), tag_bounds=np.array([0, 1, 3])), "within the 2 document tags"),
        (dict(document_tags=np.array([0, 1], np.int64), tag_bounds=np.array([0, 1, 2])), "document_tags must be"),
    ]
    for documents, message in cases:
        with pytest.raises(ValueError, match=message):
            worker.train(ids, bounds, 0.1, 0.1, **documents)
    for array, saved in zip((word_vectors, document_vectors, inner), before):
        np.testing.assert_array_equal(array, saved)
    plain = make_worker("fast", 0, True, True, tree, word_vectors, None, inner)
    with pytest.raises(ValueError, match="only to a worker with document_vectors"):
        plain.train(ids, bounds, 0.1, 0.1, np.array([0, 1], np.int32), np.array([0, 1, 2]))
    # tag bounds, like sentence bounds, need not start at 0: a batch is a slice of the corpus
    assert worker.train(ids, np.array([4, 10]), 0.1, 0.1, np.array([3, 0, 1], np.int32), np.array([1, 2]))[0] == 6


def test_worker_refuses_document_settings_it_cannot_honour():
    rng = np.random.default_rng(2)
    tree, word_vectors, document_vectors, inner = setup(rng)
    cases = [
        (dict(document_vectors=document_vectors.astype(np.float64)), "document_vectors must be a 2-D float32"),
        (dict(document_vectors=document_vectors[:, :5].copy()), "document_vectors have width 5"),
        (dict(document_vectors=None, window_words=False), "window_words=False"),
        (dict(sg=False, window_words=False), "window_words=False"),
        (dict(private_levels=3, learn_inner_nodes=False), "cannot be frozen"),
    ]
    read_only = document_vectors.copy()
    read_only.flags.writeable = False
    cases.append((dict(document_vectors=read_only), "document_vectors is read-only"))
    for change, message in cases:
        settings = dict(sg=True, kernel="fast", input_vectors=word_vectors, inner_node_vectors=inner,
                        path_nodes=tree.path_nodes, path_codes=tree.path_codes, path_offsets=tree.path_offsets,
                        keep_probability=np.ones(tree.n_leaves, np.float32), window=2,
                        document_vectors=document_vectors)
        with pytest.raises(ValueError, match=message):
            _kernels.TrainingWorker(**{**settings, **change})


@pytest.mark.parametrize("dm", [0, 1])
def test_reference_inference_is_training_with_everything_else_frozen(dm):
    # infer_document_vector = epochs of train_document on one new row, alpha falling per epoch.
    rng = np.random.default_rng(4)
    tree, word_vectors, _, inner = setup(rng, size=6)
    words = rng.integers(0, tree.n_leaves, 15).tolist()
    start = rng.standard_normal(6) * 0.1
    words64, inner64 = word_vectors.astype(np.float64), inner.astype(np.float64)
    inferred = reference.infer_document_vector(words, start, words64, inner64, tree, dm=dm, window=2, alpha=0.1,
                                               min_alpha=0.01, epochs=4, rng=reference.SplitMix64(8))
    manual, stream = start.reshape(1, -1).copy(), reference.SplitMix64(8)
    for alpha in (0.1, 0.07, 0.04, 0.01):
        reference.train_document(words, [0], words64, manual, inner64, tree, dm=dm, window=2, alpha=alpha,
                                 rng=stream, learn_words=False, learn_inner_nodes=False)
    np.testing.assert_allclose(inferred, manual[0], rtol=1e-9)
    np.testing.assert_array_equal(words64, word_vectors.astype(np.float64))   # untouched
    np.testing.assert_array_equal(inner64, inner.astype(np.float64))
