"""The training-kernel variants (``blas``, ``simd``, ``window``) against hsmcy.reference."""
import numpy as np
import pytest

from hsmcy import _kernels, reference
from hsmcy.tree import HuffmanTree

KERNELS = sorted(_kernels.KERNELS)
SIZES = [1, 7, 16, 33, 100]   # below, at and across the 16-float vector width


def random_setup(rng, n_words=40, size=16, scale=0.5):
    counts = rng.integers(1, 1000, n_words)
    tree = HuffmanTree.from_counts(counts)
    input_vectors = (rng.standard_normal((n_words, size)) * scale).astype(np.float32)
    inner = (rng.standard_normal((max(n_words - 1, 1), size)) * scale).astype(np.float32)
    return tree, input_vectors, inner


def assert_close(actual, expected, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=2e-5 * scale)


# ------------------------------------------------------------------ sigmoid
def test_fast_sigmoid_matches_exact_to_float_rounding():
    x = np.concatenate([np.linspace(-100, 100, 20001), [-88.5, -87.0, 0.0, 87.0, 88.5, 1e30, -1e30]])
    x = x.astype(np.float32)
    fast = _kernels.fast_sigmoid(x).astype(np.float64)
    clamped = reference.sigmoid_float32(x)
    exact = reference.sigmoid(x)
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, clamped, rtol=4e-7, atol=0)
    # The clamp itself is invisible at float precision.
    np.testing.assert_allclose(clamped, exact, rtol=1e-12, atol=1e-37)


def test_fast_sigmoid_saturated_wrong_node_gets_full_gradient():
    # dot = +50 but target 0 (code 1): the step must be about -alpha * hidden, not skipped.
    size = 8
    hidden = np.full(size, 2.0, dtype=np.float32)
    inner = np.full((1, size), 50.0 / (2.0 * size), dtype=np.float32)
    nodes = np.array([0], dtype=np.int32)
    codes = np.array([1], dtype=np.uint8)
    before = inner.copy()
    grad, loss = _kernels.path_step(hidden, inner, nodes, codes, 0.1, "simd")
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
        hidden = input_vectors[leaf].copy()
        expected_inner = inner.astype(np.float64)
        expected_step, expected_loss = reference.path_step(hidden, expected_inner, nodes, codes, 0.05)
        grad, loss = _kernels.path_step(hidden, inner, np.ascontiguousarray(nodes, dtype=np.int32),
                                        np.ascontiguousarray(codes, dtype=np.uint8), 0.05, kernel)
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
    loss = _kernels.sg_window_step(input_vectors, inner, np.ascontiguousarray(nodes, dtype=np.int32),
                                   np.ascontiguousarray(codes, dtype=np.uint8), context, 0.05)
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
        loss = _kernels.cbow_step(input_vectors, inner, np.ascontiguousarray(nodes, dtype=np.int32),
                                  np.ascontiguousarray(codes, dtype=np.uint8), context, 0.05, cbow_mean)
        assert_close(input_vectors, expected_input)
        assert_close(inner, expected_inner)
        assert loss == pytest.approx(expected_loss, rel=1e-5)


def test_step_twins_refuse_bad_ids():
    rng = np.random.default_rng(0)
    tree, input_vectors, inner = random_setup(rng, n_words=5, size=4)
    nodes, codes = (np.ascontiguousarray(a) for a in tree.path(0))
    nodes = nodes.astype(np.int32)
    with pytest.raises(ValueError, match="context word"):
        _kernels.sg_window_step(input_vectors, inner, nodes, codes, np.array([7], dtype=np.int32), 0.1)
    with pytest.raises(ValueError, match="node id"):
        _kernels.cbow_step(input_vectors, inner, np.array([9], dtype=np.int32), np.array([0], dtype=np.uint8),
                           np.array([1], dtype=np.int32), 0.1, True)


# ------------------------------------------------------------ whole batches
def run_batch(kernel, sg, sentences, tree, input_vectors, inner, keep, window, shrink, cbow_mean, seed, *top_rows):
    """``train_batch`` on ``sentences``; ``top_rows``: the optional private-row arguments."""
    token_ids = np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences])
    bounds = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    size = input_vectors.shape[1]
    rng_state = np.array([seed], dtype=np.uint64)
    return _kernels.train_batch(
        sg, token_ids, bounds, keep, input_vectors, inner, tree.path_nodes.astype(np.int32),
        tree.path_codes.astype(np.uint8), tree.path_offsets.astype(np.int64), window, shrink, cbow_mean,
        0.05, 0.05, rng_state, np.zeros(size, np.float32), np.zeros(size, np.float32),
        np.zeros(max(map(len, sentences)), np.int32), True, _kernels.KERNELS[kernel], *top_rows)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("size", [7, 33])
def test_train_batch_matches_reference_sentences(kernel, sg, size):
    rng = np.random.default_rng(size + 10 * sg)
    tree, input_vectors, inner = random_setup(rng, n_words=30, size=size, scale=0.3)
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    keep[:10] = 1.0
    sentences = [rng.integers(0, tree.n_leaves, n).tolist() for n in (1, 2, 9, 25, 14)]
    expected_input, expected_inner = input_vectors.astype(np.float64), inner.astype(np.float64)
    stream = reference.SplitMix64(12345)
    expected_loss, expected_trained = 0.0, 0
    for sentence in sentences:
        trained, loss = reference.train_sentence(
            sentence, expected_input, expected_inner, tree, sg=sg, window=3, alpha=0.05,
            keep_probability=keep, shrink_windows=True, cbow_mean=True, rng=stream,
            sg_window=(kernel == "window"))
        expected_loss += loss
        expected_trained += trained
    seen, trained, loss = run_batch(kernel, sg, sentences, tree, input_vectors, inner, keep, 3, True, True, 12345)
    assert seen == sum(map(len, sentences))
    assert trained == expected_trained
    assert loss == pytest.approx(expected_loss, rel=1e-4)
    assert_close(input_vectors, expected_input)
    assert_close(inner, expected_inner)


@pytest.mark.parametrize("kernel", KERNELS)
def test_train_batch_kernels_agree_on_cbow(kernel):
    # CBOW has one update order: every kernel gives the same vectors.
    rng = np.random.default_rng(5)
    tree, input_vectors, inner = random_setup(rng, n_words=25, size=20, scale=0.3)
    keep = np.ones(tree.n_leaves, np.float32)
    sentences = [rng.integers(0, tree.n_leaves, 30).tolist() for _ in range(4)]
    blas = [input_vectors.copy(), inner.copy()]
    run_batch("blas", 0, sentences, tree, *blas, keep, 4, True, False, 9)
    run_batch(kernel, 0, sentences, tree, input_vectors, inner, keep, 4, True, False, 9)
    assert_close(input_vectors, blas[0])
    assert_close(inner, blas[1])


def test_train_batch_refuses_unknown_kernel():
    rng = np.random.default_rng(0)
    tree, input_vectors, inner = random_setup(rng, n_words=5, size=4)
    with pytest.raises(ValueError, match="kernel"):
        _kernels.train_batch(1, np.zeros(3, np.int32), np.array([0, 3], np.int64), np.ones(5, np.float32),
                             input_vectors, inner, tree.path_nodes.astype(np.int32),
                             tree.path_codes.astype(np.uint8), tree.path_offsets.astype(np.int64), 2, True,
                             True, 0.1, 0.1, np.zeros(1, np.uint64), np.zeros(4, np.float32),
                             np.zeros(4, np.float32), np.zeros(3, np.int32), False, 7)


# ------------------------------------------------------------ model switch
def test_model_kernel_switch_and_bad_name(tmp_path):
    import hsmcy
    from hsmcy import _training

    sentences = [["a", "b", "c", "d", "a", "b"], ["c", "d", "a", "e", "b", "e"]] * 20
    assert _training.DEFAULT_KERNEL in _kernels.KERNELS
    results = {}
    for kernel in KERNELS:
        model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1, epochs=2, sg=1, seed=3)
        model.kernel = kernel
        model.build_vocab(sentences)
        model.train(sentences, total_examples=len(sentences), epochs=2, compute_loss=True)
        results[kernel] = (model.wv.vectors.copy(), model.get_latest_training_loss())
    np.testing.assert_allclose(results["simd"][0], results["blas"][0], rtol=1e-3, atol=1e-5)
    assert results["window"][1] == pytest.approx(results["blas"][1], rel=0.05)
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=1)
    model.kernel = "fastest"
    model.build_vocab(sentences)
    with pytest.raises(ValueError, match="kernel"):
        model.train(sentences, total_examples=len(sentences), epochs=1)


# ------------------------------------------------- private copies of the top rows
def top_rows_for(tree, size, levels, stride=None):
    """Slot table and private-row buffers; rows ``stride`` floats apart (default: ``size``)."""
    slots = _kernels.top_row_slots(tree.path_nodes.astype(np.int32), tree.path_codes.astype(np.uint8),
                                   tree.path_offsets.astype(np.int64), levels)
    width = size if stride is None else stride
    return slots, np.zeros((len(slots), width), np.float32), np.zeros((len(slots), width), np.float32)


@pytest.mark.parametrize("levels", [1, 3, 6])
def test_top_row_slots_give_each_top_node_its_own_slot(levels):
    rng = np.random.default_rng(levels)
    tree, _, _ = random_setup(rng, n_words=200)
    slots, _, _ = top_rows_for(tree, 4, levels)
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


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("levels", [1, 4, 10])
@pytest.mark.parametrize("sync_words, every_time_levels", [(7, 16), (7, 1), (1024, 2)])
@pytest.mark.parametrize("stride", [None, 48])
def test_private_top_rows_change_nothing_for_one_worker(sg, levels, sync_words, every_time_levels, stride):
    # One worker sees its own updates either way: the only difference is the
    # float rounding of "shared + (private - start)" at the end of the batch.
    rng = np.random.default_rng(100 + levels)
    size = 33
    tree, input_vectors, inner = random_setup(rng, n_words=60, size=size, scale=0.3)
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    sentences = [rng.integers(0, tree.n_leaves, n).tolist() for n in (40, 3, 25, 60)]
    plain = [input_vectors.copy(), inner.copy()]
    expected = run_batch("window", sg, sentences, tree, *plain, keep, 4, True, True, 77)
    top = top_rows_for(tree, size, levels, stride)   # 48: rows padded to whole cache lines
    got = run_batch("window", sg, sentences, tree, input_vectors, inner, keep, 4, True, True, 77, *top, sync_words,
                    every_time_levels)
    assert got[:2] == expected[:2]
    assert got[2] == pytest.approx(expected[2], rel=1e-5)
    assert_close(input_vectors, plain[0])
    assert_close(inner, plain[1])
    assert not np.array_equal(inner, random_setup(np.random.default_rng(100 + levels), 60, size, 0.3)[2])


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("sync_words, every_time_levels", [(7, 1), (7, 16), (50, 2)])
def test_private_top_rows_carried_over_batches_change_nothing_for_one_worker(sg, sync_words, every_time_levels):
    # The private rows and the merge schedule carry over from batch to batch; the
    # worker merges what is left when it stops.  One worker sees its own updates
    # either way, so three batches trained so end where three plain ones do.
    rng = np.random.default_rng(7 + sg)
    size, levels = 21, 5
    tree, input_vectors, inner = random_setup(rng, n_words=50, size=size, scale=0.3)
    keep = rng.uniform(0.3, 1.0, tree.n_leaves).astype(np.float32)
    batches = [[rng.integers(0, tree.n_leaves, n).tolist() for n in lengths]
               for lengths in ((30, 4, 22), (3,), (40, 17))]
    plain = [input_vectors.copy(), inner.copy()]
    expected = [run_batch("window", sg, batch, tree, *plain, keep, 3, True, True, 40 + i)
                for i, batch in enumerate(batches)]
    slots, rows, start = top_rows_for(tree, size, levels, stride=32)
    copied, state = np.zeros(len(slots), np.uint8), np.array([1, 0], np.int64)
    got, merges_after = [], []
    for i, batch in enumerate(batches):
        got.append(run_batch("window", sg, batch, tree, input_vectors, inner, keep, 3, True, True, 40 + i,
                             slots, rows, start, sync_words, every_time_levels, copied, state))
        merges_after.append(int(state[0]))
    assert copied.any()   # something is still private after the last batch ...
    _kernels.merge_private_top_rows(inner, slots, rows, start, copied)
    assert not copied.any()   # ... and no longer
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert sum(g[2] for g in got) == pytest.approx(sum(e[2] for e in expected), rel=1e-5)
    assert_close(input_vectors, plain[0])
    assert_close(inner, plain[1])
    # The schedule runs on across batches: a merge after the first sentence that
    # brings the words read since the last one to sync_words, batch ends or not.
    merges, unsynced, expected_merges = 1, 0, []
    for batch in batches:
        for sentence in batch:
            unsynced += len(sentence)
            if unsynced >= sync_words:
                merges, unsynced = merges + 1, 0
        expected_merges.append(merges)
    assert merges_after == expected_merges
    assert state[1] == unsynced


def test_carried_over_private_rows_are_checked():
    rng = np.random.default_rng(2)
    size = 4
    tree, input_vectors, inner = random_setup(rng, n_words=20, size=size)
    slots, rows, start = top_rows_for(tree, size, 3)
    window = _kernels.KERNELS["window"]
    args = (1, np.zeros(3, np.int32), np.array([0, 3], np.int64), np.ones(20, np.float32), input_vectors, inner,
            tree.path_nodes.astype(np.int32), tree.path_codes.astype(np.uint8), tree.path_offsets.astype(np.int64),
            2, True, True, 0.1, 0.1, np.zeros(1, np.uint64), np.zeros(size, np.float32),
            np.zeros(size, np.float32), np.zeros(3, np.int32), False, window, slots, rows, start, 1024, 1)
    before = inner.copy()
    flags = np.zeros(len(slots), np.uint8)
    cases = [
        ((flags[:-1], np.array([1, 0], np.int64)), "top_copied"),
        ((flags, None), "top_state"),
        ((flags, np.array([1], np.int64)), "top_state"),
        ((flags, np.array([0, 0], np.int64)), "top_state"),
        ((flags, np.array([1, -5], np.int64)), "top_state"),
    ]
    for extra, message in cases:
        with pytest.raises(ValueError, match=message):
            _kernels.train_batch(*args, *extra)
    with pytest.raises(ValueError, match="top_copied"):
        _kernels.merge_private_top_rows(inner, slots, rows, start, flags[:-1])
    with pytest.raises(ValueError, match="top_rows must have shape"):
        _kernels.merge_private_top_rows(inner, slots, rows[:-1], start, flags)
    np.testing.assert_array_equal(inner, before)


def test_each_worker_merges_its_private_rows_when_it_stops(monkeypatch, lee_sentences):
    # At the end of every epoch, and when training stops early (here: a callback
    # raises), each worker adds what is left of its private rows to the shared ones.
    import hsmcy
    from hsmcy.callbacks import CallbackAny2Vec

    original = _kernels.merge_private_top_rows
    merged = []

    def recording_merge(inner, slots, rows, start, copied):
        merged.append(int(copied.sum()))
        return original(inner, slots, rows, start, copied)

    monkeypatch.setattr(_kernels, "merge_private_top_rows", recording_merge)
    model = hsmcy.Word2Vec(lee_sentences, vector_size=16, min_count=2, workers=2, epochs=2, sg=1, seed=1,
                           batch_words=300)
    assert len(merged) == 2 * 2 and sum(merged) > 0

    class StopAtThirdBatch(CallbackAny2Vec):
        def __init__(self):
            self.batches = 0

        def on_batch_end(self, model):
            self.batches += 1
            if self.batches == 3:
                raise RuntimeError("stop here")

    merged.clear()
    model = hsmcy.Word2Vec(vector_size=16, min_count=2, workers=2, sg=1, seed=1, batch_words=300)
    model.build_vocab(lee_sentences)
    with pytest.raises(RuntimeError, match="stop here"):
        model.train(lee_sentences, total_examples=model.corpus_count, epochs=2, callbacks=[StopAtThirdBatch()])
    assert len(merged) == 2 and sum(merged) > 0
    assert np.all(np.isfinite(model.syn1))


def test_private_top_rows_are_checked_before_training():
    rng = np.random.default_rng(1)
    size = 4
    tree, input_vectors, inner = random_setup(rng, n_words=20, size=size)
    slots, rows, start = top_rows_for(tree, size, 3)
    args = (1, np.zeros(3, np.int32), np.array([0, 3], np.int64), np.ones(20, np.float32), input_vectors, inner,
            tree.path_nodes.astype(np.int32), tree.path_codes.astype(np.uint8), tree.path_offsets.astype(np.int64),
            2, True, True, 0.1, 0.1, np.zeros(1, np.uint64), np.zeros(size, np.float32),
            np.zeros(size, np.float32), np.zeros(3, np.int32), False)
    window = _kernels.KERNELS["window"]
    before = inner.copy()
    cases = [
        ((window, slots[:-1], rows[:-1], start[:-1]), "2\\*\\*levels - 1"),
        ((window, slots, rows[:-1], start), "top_rows must have shape"),
        ((window, slots, rows, np.zeros((6, size), np.float32)), "top_rows_start must have shape"),
        ((window, slots, rows[:, :size - 1].copy(), start), "top_rows must have shape"),
        ((window, slots, rows, np.zeros((7, size + 1), np.float32)), "same shape"),
        ((window, slots, rows, None), "top_rows_start"),
        ((window, np.where(slots >= 0, 10 ** 6, -1).astype(np.int32), rows, start), "out of range"),
        ((window, np.full(7, -2, np.int32), rows, start), "out of range"),
        ((_kernels.KERNELS["blas"], slots, rows, start), "window"),
    ]
    for extra, message in cases:
        with pytest.raises(ValueError, match=message):
            _kernels.train_batch(*args, *extra)
    np.testing.assert_array_equal(inner, before)


def test_two_workers_use_private_top_rows_and_learn(monkeypatch):
    import hsmcy

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    weights = 1.0 / np.arange(1, 301)
    sentences = [list(rng.choice(words, size=20, p=weights / weights.sum())) for _ in range(600)]
    original = _kernels.train_batch
    cached_levels = set()

    def recording_train_batch(*args):
        top_nodes = args[20] if len(args) > 20 else None
        cached_levels.add(0 if top_nodes is None else int(np.log2(len(top_nodes) + 1)))
        return original(*args)

    monkeypatch.setattr(_kernels, "train_batch", recording_train_batch)
    losses = {}
    for workers in (1, 2):
        cached_levels.clear()
        model = hsmcy.Word2Vec(vector_size=16, min_count=1, workers=workers, epochs=3, sg=1, seed=5,
                               batch_words=500)
        model.build_vocab(sentences)
        model.train(sentences, total_examples=len(sentences), epochs=3, compute_loss=True)
        losses[workers] = model.get_latest_training_loss() / model.corpus_total_words
        assert np.all(np.isfinite(model.syn1))
        # One worker keeps bit-for-bit reproducibility: no private rows.
        assert cached_levels == ({0} if workers == 1 else {hsmcy._training.PRIVATE_TOP_LEVELS["sg"]})
    # Same data, same epochs: the two-worker run (private top rows) learns as well.
    assert losses[2] == pytest.approx(losses[1], rel=0.05)


def test_top_row_slots_refuse_unreasonable_levels():
    tree, _, _ = random_setup(np.random.default_rng(0), n_words=10)
    for levels in (0, 17, -1):
        with pytest.raises(ValueError, match="levels"):
            top_rows_for(tree, 4, levels)


def test_private_row_settings_are_checked(monkeypatch):
    from hsmcy import _training
    monkeypatch.setenv("HSMCY_TOP_LEVELS", "lots")
    with pytest.raises(ValueError, match="HSMCY_TOP_LEVELS"):
        _training._setting("HSMCY_TOP_LEVELS", 6, 0, 16)
    monkeypatch.setenv("HSMCY_TOP_LEVELS", "40")
    with pytest.raises(ValueError, match="HSMCY_TOP_LEVELS"):
        _training._setting("HSMCY_TOP_LEVELS", 6, 0, 16)
    monkeypatch.setenv("HSMCY_TOP_LEVELS", "3")
    assert _training._setting("HSMCY_TOP_LEVELS", 6, 0, 16) == 3


@pytest.mark.parametrize("sg", [0, 1])
def test_prefetch_for_write_is_a_hint_only(lee_sentences, sg):
    import hsmcy

    was = _kernels.prefetch_for_write()
    runs = {}
    try:
        for enabled in (False, True):
            assert _kernels.set_prefetch_for_write(enabled) == (enabled and was)
            runs[enabled] = hsmcy.Word2Vec(lee_sentences[:300], sg=sg, workers=1, seed=3, epochs=2,
                                           vector_size=20)
    finally:
        _kernels.set_prefetch_for_write(was)
    assert np.array_equal(runs[False].wv.vectors, runs[True].wv.vectors)
    assert np.array_equal(runs[False].syn1, runs[True].syn1)
