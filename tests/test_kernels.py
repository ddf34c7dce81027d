"""Both training kernels ("blas" and "fast") held to hsmcy.reference, float32 tolerance.

Single steps (``path_step``, ``sg_window_step``, ``cbow_step``), whole batches through
``TrainingWorker`` (subsampling, windows, RNG, learning-rate schedule), the private
top-of-tree rows of the "fast" kernel, and the worker's checks of what it is given.
"""
import dataclasses

import numpy as np
import pytest

import hsmcy
from hsmcy import HuffmanTree, _kernels, _training, reference

KERNELS = list(_kernels.KERNELS)
SIZES = [1, 3, 7, 16, 33, 100]   # below, at and across the 16-float vector width


def random_setup(rng, n_words=40, size=16, scale=0.5):
    counts = rng.integers(1, 1000, n_words)
    tree = HuffmanTree.from_counts(counts)
    input_vectors = (rng.standard_normal((n_words, size)) * scale).astype(np.float32)
    inner = (rng.standard_normal((max(n_words - 1, 1), size)) * scale).astype(np.float32)
    return tree, input_vectors, inner


def assert_close(actual, expected, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=2e-5 * scale)


def make_worker(kernel, sg, tree, input_vectors, inner, keep=None, *, window=3, shrink=True, cbow_mean=True,
                seed=12345, **options):
    keep = np.ones(tree.n_leaves, np.float32) if keep is None else keep
    return _kernels.TrainingWorker(sg=sg, kernel=kernel, input_vectors=input_vectors, inner_node_vectors=inner,
                                   path_nodes=tree.path_nodes, path_codes=tree.path_codes,
                                   path_offsets=tree.path_offsets, keep_probability=keep, window=window,
                                   shrink_windows=shrink, cbow_mean=cbow_mean, compute_loss=True, rng_state=seed,
                                   **options)


def flatten(sentences):
    token_ids = np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences])
    bounds = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    return token_ids, bounds


def train_sentences(worker, sentences, alpha=0.05):
    return worker.train(*flatten(sentences), alpha, alpha)


# ------------------------------------------------------------------ sigmoid
def test_the_one_sigmoid_matches_exact_to_float_rounding():
    x = np.concatenate([np.linspace(-100, 100, 20001), [-88.5, -87.0, 0.0, 87.0, 88.5, 1e30, -1e30]])
    x = x.astype(np.float32)
    got = _kernels.sigmoid_values(x).astype(np.float64)
    clamped = reference.sigmoid_float32(x)
    exact = reference.sigmoid(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, clamped, rtol=4e-7, atol=0)
    # The clamp itself is invisible at float precision.
    np.testing.assert_allclose(clamped, exact, rtol=1e-12, atol=1e-37)


@pytest.mark.parametrize("kernel", KERNELS)
def test_saturated_wrong_node_gets_the_full_gradient(kernel):
    # dot = +50 but target 0 (code 1): the step must be about -alpha * hidden, not skipped.
    size = 8
    hidden = np.full(size, 2.0, dtype=np.float32)
    inner = np.full((1, size), 50.0 / (2.0 * size), dtype=np.float32)
    before = inner.copy()
    grad, loss = _kernels.path_step(hidden, inner, np.array([0], np.int32), np.array([1], np.uint8), 0.1, kernel)
    np.testing.assert_allclose(inner[0] - before[0], -0.1 * hidden, rtol=1e-6)
    np.testing.assert_allclose(grad, -0.1 * before[0], rtol=1e-6)
    assert loss == pytest.approx(50.0, rel=1e-6)


# ---------------------------------------------------------- single steps
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("size", SIZES)
def test_path_step_matches_reference(kernel, size):
    rng = np.random.default_rng(size)
    tree, input_vectors, inner = random_setup(rng, size=size)
    for leaf in (0, 5, tree.n_leaves - 1):
        nodes, codes = tree.path(leaf)
        hidden = (input_vectors[leaf] * 4).astype(np.float32)  # big enough that some nodes saturate
        expected_inner = inner.astype(np.float64)
        expected_step, expected_loss = reference.path_step(hidden, expected_inner, nodes, codes, 0.05)
        grad, loss = _kernels.path_step(hidden, inner, np.ascontiguousarray(nodes), np.ascontiguousarray(codes),
                                        0.05, kernel)
        assert_close(grad, expected_step)
        assert_close(inner, expected_inner)
        assert loss == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n_context", [1, 2, 3, 4, 5, 9, 10])
def test_sg_window_step_matches_reference(size, n_context):
    rng = np.random.default_rng(100 * size + n_context)
    tree, input_vectors, inner = random_setup(rng, size=size)
    centre = int(rng.integers(tree.n_leaves))
    context = rng.integers(0, tree.n_leaves, n_context).astype(np.int32)
    if n_context >= 3:
        context[2] = context[0]             # a repeated context word gets both steps
    expected_input, expected_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
    expected_loss = reference.sg_window_step(expected_input, expected_inner, tree, centre, context, 0.05)
    nodes, codes = tree.path(centre)
    loss = _kernels.sg_window_step(input_vectors, inner, np.ascontiguousarray(nodes), np.ascontiguousarray(codes),
                                   context, 0.05)
    assert_close(input_vectors, expected_input)
    assert_close(inner, expected_inner)
    assert loss == pytest.approx(expected_loss, rel=1e-5)


def test_sg_window_step_is_the_summed_window_gradient():
    # The reference's window step equals -alpha times the gradient of the summed pair losses.
    rng = np.random.default_rng(7)
    tree, input_vectors, inner = random_setup(rng, n_words=12, size=5)
    centre, context = 3, [1, 4, 1, 9]
    nodes, codes = tree.path(centre)
    input64, inner64 = input_vectors.astype(np.float64), inner.astype(np.float64)
    grad_input, grad_inner = np.zeros_like(input64), np.zeros_like(inner64)
    for word in context:
        _, grad_hidden, grad_rows = reference.loss_and_gradients(input64[word], inner64, nodes, codes)
        grad_input[word] += grad_hidden
        grad_inner[nodes] += grad_rows
    stepped_input, stepped_inner = input64.copy(), inner64.copy()
    reference.sg_window_step(stepped_input, stepped_inner, tree, centre, context, 0.1)
    np.testing.assert_allclose(stepped_input, input64 - 0.1 * grad_input, atol=1e-12)
    np.testing.assert_allclose(stepped_inner, inner64 - 0.1 * grad_inner, atol=1e-12)


def test_sg_window_step_differs_from_pairs_only_in_order():
    # Same first-order step: for a tiny learning rate the two orders agree to O(alpha^2).
    rng = np.random.default_rng(3)
    tree, input_vectors, inner = random_setup(rng, n_words=20, size=6)
    centre, context, alpha = 2, [0, 5, 7, 11], 1e-3
    by_window = [input_vectors.astype(np.float64), inner.astype(np.float64)]
    by_pairs = [input_vectors.astype(np.float64), inner.astype(np.float64)]
    reference.sg_window_step(*by_window, tree, centre, context, alpha)
    for word in context:
        reference.sg_pair_step(*by_pairs, tree, centre, word, alpha)
    moved = np.abs(by_window[1] - inner).max()
    assert moved > 1e-4
    np.testing.assert_allclose(by_window[1], by_pairs[1], atol=moved * 1e-2)
    np.testing.assert_allclose(by_window[0], by_pairs[0], atol=moved * 1e-2)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cbow_mean", [True, False])
def test_cbow_step_matches_reference(size, cbow_mean):
    rng = np.random.default_rng(size + 1000 * cbow_mean)
    tree, input_vectors, inner = random_setup(rng, size=size)
    for n_context in (1, 4, 10):
        centre = int(rng.integers(tree.n_leaves))
        context = rng.integers(0, tree.n_leaves, n_context).astype(np.int32)
        expected_input, expected_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
        expected_loss = reference.cbow_step(expected_input, expected_inner, tree, centre, context, 0.05,
                                            cbow_mean)
        nodes, codes = tree.path(centre)
        loss = _kernels.cbow_step(input_vectors, inner, np.ascontiguousarray(nodes), np.ascontiguousarray(codes),
                                  context, 0.05, cbow_mean)
        assert_close(input_vectors, expected_input)
        assert_close(inner, expected_inner)
        assert loss == pytest.approx(expected_loss, rel=1e-5)


def test_step_twins_refuse_bad_ids():
    rng = np.random.default_rng(0)
    tree, input_vectors, inner = random_setup(rng, n_words=5, size=4)
    nodes, codes = (np.ascontiguousarray(a) for a in tree.path(0))
    with pytest.raises(ValueError, match="context word"):
        _kernels.sg_window_step(input_vectors, inner, nodes, codes, np.array([7], dtype=np.int32), 0.1)
    with pytest.raises(ValueError, match="node id"):
        _kernels.cbow_step(input_vectors, inner, np.array([9], dtype=np.int32), np.array([0], dtype=np.uint8),
                           np.array([1], dtype=np.int32), 0.1, True)
    with pytest.raises(ValueError, match="node id"):
        _kernels.path_step(input_vectors[0].copy(), inner, np.array([-1], np.int32), np.array([0], np.uint8), 0.1)
    with pytest.raises(ValueError, match="kernel"):
        _kernels.path_step(input_vectors[0].copy(), inner, nodes, codes, 0.1, "simd")


def test_kernel_rng_matches_reference_rng():
    state = np.array([42], dtype=np.uint64)
    draws = _kernels.random_stream(state, 5)
    ref = reference.SplitMix64(42)
    assert [int(d) for d in draws] == [ref.next() for _ in range(5)]


# ------------------------------------------------------------ whole batches
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("size", [3, 37])
@pytest.mark.parametrize("sg, cbow_mean", [(1, True), (0, True), (0, False)])
@pytest.mark.parametrize("shrink", [True, False])
def test_worker_matches_reference_sentences(kernel, size, sg, cbow_mean, shrink):
    rng = np.random.default_rng(size + 10 * sg + 100 * cbow_mean + 1000 * shrink)
    tree, input_vectors, inner = random_setup(rng, n_words=40, size=size, scale=0.3)
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    keep[::3] = 1.0
    sentences = [rng.integers(0, tree.n_leaves, n).tolist() for n in (12, 1, 30, 7, 2)]
    expected_input, expected_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
    stream = reference.SplitMix64(987654321)
    expected_loss, expected_trained = 0.0, 0
    for sentence in sentences:
        trained, loss = reference.train_sentence(
            sentence, expected_input, expected_inner, tree, sg=sg, window=3, alpha=0.05, keep_probability=keep,
            shrink_windows=shrink, cbow_mean=cbow_mean, rng=stream, sg_window=(kernel == "fast"))
        expected_loss += loss
        expected_trained += trained
    worker = make_worker(kernel, sg, tree, input_vectors, inner, keep, shrink=shrink, cbow_mean=cbow_mean,
                         seed=987654321)
    seen, trained, loss = train_sentences(worker, sentences)
    assert seen == sum(map(len, sentences))
    assert trained == expected_trained          # the same words were subsampled away
    assert worker.rng_state == stream.state     # and the same number of random draws were made
    assert loss == pytest.approx(expected_loss, rel=1e-4)
    assert_close(input_vectors, expected_input)
    assert_close(inner, expected_inner)


def test_learning_rate_falls_across_a_batch_as_the_reference_says():
    # alpha at a sentence = start + (end - start) * words before it / words in the batch
    rng = np.random.default_rng(11)
    tree, input_vectors, inner = random_setup(rng, n_words=30, size=9, scale=0.3)
    sentences = [rng.integers(0, tree.n_leaves, n).tolist() for n in (10, 5, 20)]
    expected_input, expected_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
    stream, before, total = reference.SplitMix64(5), 0, sum(map(len, sentences))
    for sentence in sentences:
        alpha = np.float32(0.05 + (0.01 - 0.05) * np.float32(before / total))
        reference.train_sentence(sentence, expected_input, expected_inner, tree, sg=1, window=2, alpha=alpha,
                                 rng=stream)
        before += len(sentence)
    worker = make_worker("blas", 1, tree, input_vectors, inner, window=2, seed=5)
    worker.train(*flatten(sentences), 0.05, 0.01)
    assert_close(input_vectors, expected_input)
    assert_close(inner, expected_inner)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernels_agree_on_cbow(kernel):
    # CBOW has one update order: both kernels give the same vectors.
    rng = np.random.default_rng(5)
    tree, input_vectors, inner = random_setup(rng, n_words=25, size=20, scale=0.3)
    sentences = [rng.integers(0, tree.n_leaves, 30).tolist() for _ in range(4)]
    blas = [input_vectors.copy(), inner.copy()]
    train_sentences(make_worker("blas", 0, tree, *blas, window=4, cbow_mean=False, seed=9), sentences)
    train_sentences(make_worker(kernel, 0, tree, input_vectors, inner, window=4, cbow_mean=False, seed=9),
                    sentences)
    assert_close(input_vectors, blas[0])
    assert_close(inner, blas[1])


@pytest.mark.parametrize("kernel", KERNELS)
def test_unused_syn1_row_stays_zero(kernel):
    rng = np.random.default_rng(2)
    tree, input_vectors, _ = random_setup(rng, n_words=30, size=8)
    syn1 = np.zeros((30, 8), np.float32)
    train_sentences(make_worker(kernel, 1, tree, input_vectors, syn1, window=4),
                    [rng.integers(0, 30, size=50).tolist()])
    assert np.any(syn1[:-1]) and not np.any(syn1[-1])


@pytest.mark.parametrize("kernel", KERNELS)
def test_one_leaf_tree_trains_nothing_harmful(kernel):
    tree = HuffmanTree.from_counts([10])
    input_vectors = np.random.default_rng(3).standard_normal((1, 4)).astype(np.float32)
    before = input_vectors.copy()
    syn1 = np.zeros((1, 4), dtype=np.float32)
    seen, trained, loss = train_sentences(make_worker(kernel, 1, tree, input_vectors, syn1, window=2),
                                          [[0] * 5])
    assert seen == 5 and loss == 0.0
    np.testing.assert_array_equal(input_vectors, before)


@pytest.mark.parametrize("kernel", KERNELS)
def test_scratch_grows_with_the_batch_it_is_given(kernel):
    # A short batch first, then one with a far longer sentence and a window wider
    # than any sentence: the worker sizes its buffers per batch, so the result is
    # the reference's, whatever came before.
    rng = np.random.default_rng(8)
    tree, input_vectors, inner = random_setup(rng, n_words=30, size=5, scale=0.3)
    batches = [[rng.integers(0, 30, 3).tolist()], [rng.integers(0, 30, 80).tolist(), [1, 2]]]
    expected = [input_vectors.astype(np.float64), inner.astype(np.float64)]
    stream = reference.SplitMix64(3)
    for batch in batches:
        for sentence in batch:
            reference.train_sentence(sentence, *expected, tree, sg=1, window=10**6, alpha=0.01, rng=stream,
                                     shrink_windows=False, sg_window=(kernel == "fast"))
    worker = make_worker(kernel, 1, tree, input_vectors, inner, window=2**31 - 1, shrink=False, seed=3)
    for batch in batches:
        train_sentences(worker, batch, alpha=0.01)
    assert_close(input_vectors, expected[0])
    assert_close(inner, expected[1])


# --------------------------------------------------- what the worker refuses
def test_worker_refuses_bad_batches_and_changes_nothing():
    rng = np.random.default_rng(4)
    tree, input_vectors, inner = random_setup(rng, n_words=20, size=4)
    worker = make_worker("fast", 1, tree, input_vectors, inner)
    before = input_vectors.copy(), inner.copy()
    ids = np.arange(10, dtype=np.int32)
    cases = [
        (ids, np.array([0, 5, 3, 10]), "non-decreasing"),          # a bound goes back
        (ids, np.array([0, 5, 11]), "within the 10 token ids"),     # past the ids
        (ids, np.array([-1, 5]), "within"),                          # before them
        (np.array([1, 2, 20], np.int32), np.array([0, 3]), r"token_ids\[2\] = 20"),
        (np.array([1, -3, 2], np.int32), np.array([0, 3]), r"token_ids\[1\] = -3"),
        (ids.astype(np.int64), np.array([0, 10]), "token_ids must be a 1-D int32"),
        (ids, np.array([[0, 10]]), "sentence_bounds must be a 1-D integer"),
        (ids, np.array([0.0, 10.0]), "sentence_bounds must be a 1-D integer"),
    ]
    for token_ids, bounds, message in cases:
        with pytest.raises(ValueError, match=message):
            worker.train(token_ids, bounds, 0.1, 0.1)
    for alpha in (float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="learning rates"):
            worker.train(ids, np.array([0, 10]), alpha, 0.1)
    np.testing.assert_array_equal(input_vectors, before[0])
    np.testing.assert_array_equal(inner, before[1])
    # Bounds need not start at 0: a batch is a slice of a larger corpus.
    assert worker.train(ids, np.array([4, 6, 10], np.int32), 0.1, 0.1)[0] == 6


def test_worker_refuses_what_it_cannot_index():
    rng = np.random.default_rng(1)
    tree, input_vectors, inner = random_setup(rng, n_words=20, size=4)
    good = dict(sg=1, kernel="fast", input_vectors=input_vectors, inner_node_vectors=inner,
                path_nodes=tree.path_nodes, path_codes=tree.path_codes, path_offsets=tree.path_offsets,
                keep_probability=np.ones(20, np.float32), window=2)
    bad_nodes = tree.path_nodes.copy()
    bad_nodes[3] = 19
    bad_codes = tree.path_codes.copy()
    bad_codes[0] = 2
    short_offsets = tree.path_offsets.copy()
    short_offsets[-1] -= 1
    cases = [
        (dict(kernel="simd"), "kernel"),
        (dict(input_vectors=input_vectors.astype(np.float64)), r"input_vectors \(wv.vectors\) must be a 2-D float32"),
        (dict(input_vectors=np.asfortranarray(input_vectors)), "C-contiguous"),
        (dict(inner_node_vectors=inner[:, :3].copy()), "width"),
        (dict(path_nodes=bad_nodes), "inner node id"),
        (dict(path_codes=bad_codes), "0 or 1"),
        (dict(path_offsets=short_offsets), "path_offsets"),
        (dict(path_offsets=tree.path_offsets[:-1]), "the tree has 19 leaves for 20 input vectors"),
        (dict(keep_probability=np.ones(19, np.float32)), "keep_probability"),
        (dict(window=0), "window"),
        (dict(window=2**31), "window"),
        (dict(private_levels=17), "private_levels"),
        (dict(private_levels=3, kernel="blas"), "'fast' kernel"),
        (dict(rng_state=-1), "rng_state"),
        (dict(rng_state=2**64), "rng_state"),
    ]
    read_only = input_vectors.copy()
    read_only.flags.writeable = False
    cases.append((dict(input_vectors=read_only), "read-only"))
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            _kernels.TrainingWorker(**{**good, **change})


def test_a_model_reassigned_during_training_cannot_reach_the_workers(lee_sentences):
    # A callback swaps the model's arrays for tiny ones after the first batch; the
    # workers keep training the arrays they were given and nothing is read out of bounds.
    class Swap(hsmcy.callbacks.CallbackAny2Vec):
        def on_batch_end(self, model):
            model.wv.vectors = np.zeros((1, model.vector_size), np.float32)
            model.syn1 = np.zeros((1, model.vector_size), np.float32)

    model = hsmcy.Word2Vec(vector_size=8, min_count=2, workers=2, batch_words=500, seed=1)
    model.build_vocab(lee_sentences)
    trained, _ = model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2, callbacks=[Swap()])
    assert trained > 0


# ------------------------------------------------------------ model switch
def test_model_kernel_choice_is_a_saved_parameter(tmp_path):
    sentences = [["a", "b", "c", "d", "a", "b"], ["c", "d", "a", "e", "b", "e"]] * 20
    losses = {}
    for kernel in KERNELS:
        model = hsmcy.Word2Vec(sentences, vector_size=8, min_count=1, workers=1, epochs=2, sg=1, seed=3,
                               compute_loss=True, kernel=kernel)
        losses[kernel] = model.get_latest_training_loss()
        model.save(tmp_path / f"{kernel}.hsmcy")
        assert hsmcy.Word2Vec.load(tmp_path / f"{kernel}.hsmcy").kernel == kernel
    # the window and pair orders differ only within a window: about the same loss
    assert losses["fast"] == pytest.approx(losses["blas"], rel=0.05)
    assert hsmcy.Word2Vec().kernel == "fast"
    with pytest.raises(ValueError, match="kernel"):
        hsmcy.Word2Vec(kernel="fastest")


# ------------------------------------------------- private copies of the top rows
@pytest.mark.parametrize("levels", [1, 3, 6])
def test_top_row_slots_give_each_top_node_its_own_slot(levels):
    rng = np.random.default_rng(levels)
    tree, _, _ = random_setup(rng, n_words=200)
    slots = _kernels.top_row_slots(tree.path_nodes, tree.path_codes, tree.path_offsets, levels)
    assert len(slots) == 2 ** levels - 1
    used = slots[slots >= 0]
    assert len(np.unique(used)) == len(used)  # one slot per node
    # Every node within the top levels of some path is in the slot its codes name.
    for leaf in range(tree.n_leaves):
        nodes, codes = tree.path(leaf)
        prefix = 0
        for depth in range(min(levels, len(nodes))):
            assert slots[2 ** depth - 1 + prefix] == nodes[depth]
            prefix = 2 * prefix + int(codes[depth])
    # ... and nothing else is: the slots hold exactly the nodes at depth < levels.
    depth_of = tree.path_offsets[1:] - tree.path_offsets[:-1]
    expected = {int(node) for leaf in range(tree.n_leaves)
                for node in tree.path(leaf)[0][:min(levels, int(depth_of[leaf]))]}
    assert set(used.tolist()) == expected


def test_top_row_slots_refuse_unreasonable_levels():
    tree, _, _ = random_setup(np.random.default_rng(0), n_words=10)
    for levels in (0, 17, -1):
        with pytest.raises(ValueError, match="levels"):
            _kernels.top_row_slots(tree.path_nodes, tree.path_codes, tree.path_offsets, levels)


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("levels", [1, 4, 10])
@pytest.mark.parametrize("sync_words, every_time_levels", [(7, 16), (7, 1), (1024, 2)])
def test_private_top_rows_change_nothing_for_one_worker(sg, levels, sync_words, every_time_levels):
    # One worker sees its own updates either way: the only difference is the float
    # rounding of "shared + (private - start)" at each merge.  Rows are padded to
    # whole cache lines (33 floats -> 48), which the merge must respect.
    rng = np.random.default_rng(100 + levels)
    size = 33
    tree, input_vectors, inner = random_setup(rng, n_words=60, size=size, scale=0.3)
    initial = inner.copy()
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    sentences = [rng.integers(0, tree.n_leaves, n).tolist() for n in (40, 3, 25, 60)]
    plain = [input_vectors.copy(), inner.copy()]
    expected = train_sentences(make_worker("fast", sg, tree, *plain, keep, window=4, seed=77), sentences)
    worker = make_worker("fast", sg, tree, input_vectors, inner, keep, window=4, seed=77, private_levels=levels,
                         sync_words=sync_words, every_time_levels=every_time_levels)
    got = train_sentences(worker, sentences)
    worker.finish()
    assert worker.private_rows_pending == 0
    assert got[:2] == expected[:2]
    assert got[2] == pytest.approx(expected[2], rel=1e-5)
    assert_close(input_vectors, plain[0])
    assert_close(inner, plain[1])
    assert not np.array_equal(inner, initial)


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("sync_words, every_time_levels", [(7, 1), (7, 16), (50, 2)])
def test_private_top_rows_carry_over_batches_and_change_nothing_for_one_worker(sg, sync_words,
                                                                                every_time_levels):
    # The private rows and the merge schedule carry over from batch to batch; the
    # worker merges what is left when it finishes.  One worker sees its own updates
    # either way, so three batches trained so end where three plain ones do.
    rng = np.random.default_rng(7 + sg)
    tree, input_vectors, inner = random_setup(rng, n_words=50, size=21, scale=0.3)
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    batches = [[rng.integers(0, tree.n_leaves, n).tolist() for n in lengths]
               for lengths in ((30, 4, 22), (3,), (40, 17))]
    plain = [input_vectors.copy(), inner.copy()]
    plain_worker = make_worker("fast", sg, tree, *plain, keep, seed=40)
    expected = [train_sentences(plain_worker, batch) for batch in batches]
    worker = make_worker("fast", sg, tree, input_vectors, inner, keep, seed=40, private_levels=5,
                         sync_words=sync_words, every_time_levels=every_time_levels)
    got, schedules = [], []
    for batch in batches:
        got.append(train_sentences(worker, batch))
        schedules.append(worker.merge_schedule)
    assert worker.private_rows_pending > 0   # something is still private after the last batch ...
    worker.finish()
    assert worker.private_rows_pending == 0  # ... and no longer
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert sum(g[2] for g in got) == pytest.approx(sum(e[2] for e in expected), rel=1e-5)
    assert_close(input_vectors, plain[0])
    assert_close(inner, plain[1])
    # The schedule runs on across batches: a merge after the first sentence that
    # brings the words read since the last one to sync_words, batch ends or not.
    merges, unsynced, expected_schedules = 1, 0, []
    for batch in batches:
        for sentence in batch:
            unsynced += len(sentence)
            if unsynced >= sync_words:
                merges, unsynced = merges + 1, 0
        expected_schedules.append((merges, unsynced))
    assert schedules == expected_schedules


def test_each_worker_merges_its_private_rows_when_it_stops(recording_workers, lee_sentences):
    # At the end of every epoch, and when training stops early (here: a callback
    # raises), each worker adds what is left of its private rows to the shared ones.
    model = hsmcy.Word2Vec(lee_sentences, vector_size=16, min_count=2, workers=2, epochs=2, sg=1, seed=1,
                           batch_words=300)
    finishes = [entry[1] for entry in recording_workers if entry[0] == "finish"]
    assert len(finishes) == 2 * 2 and sum(finishes) > 0

    class StopAtThirdBatch(hsmcy.callbacks.CallbackAny2Vec):
        def __init__(self):
            self.batches = 0

        def on_batch_end(self, model):
            self.batches += 1
            if self.batches == 3:
                raise RuntimeError("stop here")

    recording_workers.clear()
    model = hsmcy.Word2Vec(vector_size=16, min_count=2, workers=2, sg=1, seed=1, batch_words=300)
    model.build_vocab(lee_sentences)
    with pytest.raises(RuntimeError, match="stop here"):
        model.train(lee_sentences, total_examples=model.corpus_count, epochs=2, callbacks=[StopAtThirdBatch()])
    finishes = [entry[1] for entry in recording_workers if entry[0] == "finish"]
    assert len(finishes) == 2 and sum(finishes) > 0
    assert np.all(np.isfinite(model.syn1))


def test_two_workers_use_private_top_rows_and_learn(recording_workers):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    weights = 1.0 / np.arange(1, 301)
    sentences = [list(rng.choice(words, size=20, p=weights / weights.sum())) for _ in range(600)]
    losses = {}
    for workers in (1, 2):
        recording_workers.clear()
        model = hsmcy.Word2Vec(vector_size=16, min_count=1, workers=workers, epochs=3, sg=1, seed=5,
                               batch_words=500)
        model.build_vocab(sentences)
        model.train(sentences, total_examples=len(sentences), epochs=3, compute_loss=True)
        losses[workers] = model.get_latest_training_loss() / model.corpus_total_words
        assert np.all(np.isfinite(model.syn1))
        levels = {entry[2] for entry in recording_workers if entry[0] == "train"}
        # One worker keeps bit-for-bit reproducibility: no private rows.
        assert levels == ({0} if workers == 1 else {_training.PRIVATE_ROWS.levels_sg})
    # Same data, same epochs: the two-worker run (private top rows) learns as well.
    assert losses[2] == pytest.approx(losses[1], rel=0.05)


def test_private_row_settings_are_one_frozen_object(recording_workers, monkeypatch, lee_sentences):
    with pytest.raises(dataclasses.FrozenInstanceError):
        _training.PRIVATE_ROWS.levels_sg = 3
    monkeypatch.setattr(_training, "PRIVATE_ROWS", dataclasses.replace(_training.PRIVATE_ROWS, levels_cbow=2))
    hsmcy.Word2Vec(lee_sentences[:100], vector_size=8, min_count=1, workers=2, epochs=1, batch_words=300)
    assert {entry[2] for entry in recording_workers if entry[0] == "train"} == {2}
    recording_workers.clear()
    hsmcy.Word2Vec(lee_sentences[:100], vector_size=8, min_count=1, workers=2, epochs=1, batch_words=300,
                   kernel="blas")
    assert {entry[1:3] for entry in recording_workers if entry[0] == "train"} == {("blas", 0)}
