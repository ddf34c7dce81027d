"""Word2Vec queries: score() against gensim and the reference, exact top-k prediction, distributions."""
import numpy as np
import pytest

import hsmcy
from hsmcy import reference as ref


@pytest.fixture(scope="module", params=[(1, 1), (0, 1), (0, 0)], ids=["sg", "cbow-mean", "cbow-sum"])
def model(request, lee_sentences):
    """Briefly trained (so no node saturates in gensim's sense): sg, CBOW mean, CBOW sum."""
    sg, cbow_mean = request.param
    return hsmcy.Word2Vec(lee_sentences[:150], vector_size=24, window=3, min_count=3, epochs=1, alpha=0.02,
                          sg=sg, cbow_mean=cbow_mean, workers=2, seed=3)


def known_ids(model, sentence):
    return [model.wv.key_to_index[w] for w in sentence if w in model.wv.key_to_index]


# -------------------------------------------------------- gensim's definition
def gensim_log_sigmoid_table():
    """gensim's LOG_TABLE (word2vec_inner.pyx) and its lookup: index int((f + 6) * 83)."""
    table = np.empty(1000, dtype=np.float32)
    for i in range(1000):
        e = np.float32(np.exp(np.float32((np.float32(i) / np.float32(1000) * 2 - 1) * 6)))
        table[i] = np.float32(np.log(np.float32(e / (e + np.float32(1)))))
    # The scale is the C integer expression EXP_TABLE_SIZE / MAX_EXP / 2 = 1000 / 6 / 2 = 83.
    return table, 83


def gensim_style_score(model, sentence):
    """gensim's score_sentence_sg / _cbow in NumPy: table lookups, nodes with |f| >= 6 skipped.

    Returns (score, node evaluations counted, nodes skipped)."""
    table, scale = gensim_log_sigmoid_table()
    ids = known_ids(model, sentence)
    vectors, inner, window = model.wv.vectors, model.syn1, model.window
    total, counted, skipped = 0.0, 0, 0
    for i, centre in enumerate(ids):
        context = [ids[j] for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
        if model.sg:
            hiddens = [vectors[c] for c in context]
        else:
            hidden = np.sum(vectors[context], axis=0, dtype=np.float32) if context else np.zeros(vectors.shape[1],
                                                                                                  np.float32)
            if model.cbow_mean and context:
                hidden = hidden * np.float32(1.0 / len(context))
            hiddens = [hidden]
        nodes, codes = model.tree.path(centre)
        for hidden in hiddens:
            for node, code in zip(nodes, codes):
                f = np.float32(np.dot(hidden, inner[node])) * (1 - 2 * int(code))
                if f <= -6 or f >= 6:
                    skipped += 1
                    continue
                total += float(table[int((f + 6) * scale)])
                counted += 1
    return total, counted, skipped


def max_table_error():
    """Largest |log sigmoid(f) - gensim's table value| over f in (-6, 6)."""
    table, scale = gensim_log_sigmoid_table()
    f = np.linspace(-5.999, 5.999, 200_001)
    return float(np.max(np.abs(ref.log_sigmoid(f) - table[((f + 6) * scale).astype(int)])))


def test_score_equals_gensim_score_within_table_error(model, lee_sentences):
    sentences = lee_sentences[150:190] + [["the"], [], ["unknownword", "the", "unknownword", "of"]]
    exported = model.to_gensim()
    theirs = exported.score(sentences, total_sentences=len(sentences))
    ours = model.score(sentences)
    assert ours.shape == theirs.shape == (len(sentences),)
    per_node = max_table_error()
    assert per_node < 0.05
    for sentence, our_score, their_score in zip(sentences, ours, theirs):
        emulated, counted, skipped = gensim_style_score(model, sentence)
        assert skipped == 0, "precondition: gensim skips no node on this model"
        # Our NumPy statement of gensim's rule is gensim (up to its float32 accumulation) ...
        assert their_score == pytest.approx(emulated, rel=1e-4, abs=1e-3)
        # ... and ours differs from gensim only by its table's error per node.
        assert abs(our_score - their_score) <= counted * per_node + 1e-4 * abs(their_score) + 1e-3


def test_score_is_exact(model, lee_sentences):
    sentences = lee_sentences[150:170]
    scores = model.score(sentences)
    for sentence, score in zip(sentences, scores):
        terms = ref.score_sentence(known_ids(model, sentence), model.wv.vectors, model.inner_node_vectors,
                                   model.tree, sg=model.sg, window=model.window, cbow_mean=model.cbow_mean)
        assert score == pytest.approx(terms.sum(), rel=1e-5)


def test_score_words_align_with_tokens_and_sum_to_score(model, lee_sentences):
    sentences = [["unknownword"] + lee_sentences[200][:12] + ["zzz"], lee_sentences[201], []]
    per_word = model.score_words(sentences)
    scores = model.score(sentences)
    assert len(per_word) == 3
    for sentence, terms, score in zip(sentences, per_word, scores):
        assert len(terms) == len(sentence)
        unknown = np.array([w not in model.wv.key_to_index for w in sentence], dtype=bool)
        assert np.all(np.isnan(terms[unknown])) and np.all(np.isfinite(terms[~unknown]))
        assert terms[~unknown].sum() == pytest.approx(score, rel=1e-9, abs=1e-9)
        expected = ref.score_sentence(known_ids(model, sentence), model.wv.vectors, model.inner_node_vectors,
                                      model.tree, sg=model.sg, window=model.window, cbow_mean=model.cbow_mean)
        np.testing.assert_allclose(terms[~unknown], expected, rtol=1e-5)


def test_score_threads_streams_and_limits(model, lee_sentences):
    sentences = lee_sentences[:120]
    model.workers = 1
    one = model.score(sentences)
    model.workers = 2
    two = model.score(iter(sentences), chunksize=7)
    np.testing.assert_array_equal(one, two)  # each sentence is scored by one thread
    np.testing.assert_array_equal(model.score(sentences, total_sentences=10), one[:10])
    assert model.score([]).shape == (0,)


def test_score_bad_input(model):
    with pytest.raises(TypeError, match="plain string"):
        model.score(["hello world", "another sentence"])
    with pytest.raises(TypeError, match="not a string"):
        model.score("hello world")
    with pytest.raises(ValueError, match="chunksize"):
        model.score([["the"]], chunksize=0)
    with pytest.raises(ValueError, match="total_sentences"):
        model.score([["the"]], total_sentences=-1)


# ------------------------------------------------------------- prediction
def hidden_of(model, context_ids):
    hidden = model.wv.vectors[context_ids].astype(np.float64).sum(axis=0)
    return hidden / len(context_ids) if model.cbow_mean else hidden


def test_predict_output_word_is_the_exact_top_k(model):
    context = ["the", "government", "said", "notaword"]
    result = model.predict_output_word(context, topn=15)
    assert isinstance(result, list) and len(result) == 15
    assert all(isinstance(word, str) and isinstance(p, float) for word, p in result)
    ids = [model.wv.key_to_index[w] for w in context[:3]]
    brute = ref.distribution_rows(hidden_of(model, ids)[None, :], model.inner_node_vectors, model.tree)[0]
    order = np.argsort(-brute, kind="stable")[:15]
    np.testing.assert_allclose([p for _, p in result], brute[order], rtol=1e-4)
    for word, p in result:
        assert brute[model.wv.key_to_index[word]] == pytest.approx(p, rel=1e-4)


def test_predict_output_word_gensim_behaviours(model):
    assert model.predict_output_word(["notaword", "neither"]) is None
    assert model.predict_output_word([]) is None
    everything = model.predict_output_word(["the"], topn=10 ** 6)
    assert len(everything) == len(model.wv)
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="topn"):
        model.predict_output_word(["the"], topn=0)
    with pytest.raises(TypeError, match="single string"):
        model.predict_output_word("the")


def test_log_prob_and_predict_proba(model):
    context = ["the", "minister", "of"]
    ids = [model.wv.key_to_index[w] for w in context]
    hidden = hidden_of(model, ids)
    probs = model.predict_proba(context)
    assert probs.shape == (len(model.wv),) and probs.dtype == np.float32
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    for word in (model.wv.index_to_key[0], model.wv.index_to_key[50], model.wv.index_to_key[-1]):
        expected = ref.log_prob(hidden, model.inner_node_vectors, *model.tree.path(model.wv.key_to_index[word]))
        got = model.log_prob(word, context + ["notaword"])
        assert got == pytest.approx(expected, rel=1e-5)
        assert np.exp(got) == pytest.approx(probs[model.wv.key_to_index[word]], rel=1e-4)
    with pytest.raises(KeyError, match="notaword"):
        model.log_prob("notaword", context)
    with pytest.raises(ValueError, match="no word in the vocabulary"):
        model.log_prob("the", ["notaword"])
    with pytest.raises(ValueError, match="no word in the vocabulary"):
        model.predict_proba([])


def test_batched_forms_equal_single_queries(model):
    vocab = len(model.wv)
    rng = np.random.default_rng(0)
    context_ids = rng.integers(0, vocab, size=(40, 4))
    context_ids[::3, 2:] = -1  # padding
    word_ids = rng.integers(0, vocab, size=40)
    model.workers = 2
    log_probs = model.log_prob_ids(word_ids, context_ids)
    probs = model.predict_proba_ids(context_ids)
    top_ids, top_probs = model.predict_output_word_ids(context_ids, topn=5)
    assert probs.shape == (40, vocab) and top_ids.shape == top_probs.shape == (40, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    words = model.wv.index_to_key
    for row in range(0, 40, 7):
        context = [words[i] for i in context_ids[row] if i >= 0]
        assert log_probs[row] == pytest.approx(model.log_prob(words[word_ids[row]], context), rel=1e-6)
        np.testing.assert_allclose(probs[row], model.predict_proba(context), rtol=1e-6)
        single = model.predict_output_word(context, topn=5)
        np.testing.assert_allclose(top_probs[row], [p for _, p in single], rtol=1e-6)
        np.testing.assert_allclose(probs[row][top_ids[row]], top_probs[row], rtol=1e-4)


@pytest.mark.parametrize("context_ids, error, message", [
    (np.array([[0, 1], [2, 10 ** 6]]), ValueError, "outside"),
    (np.array([[0, -2]]), ValueError, "outside"),
    (np.array([[0.0, 1.0]]), TypeError, "integer"),
    (np.array([[0, 1], [-1, -1]]), ValueError, "row 1 has no context word"),
    (np.zeros((2, 2, 2), dtype=int), ValueError, "2-D"),
])
def test_batched_forms_reject_bad_ids(model, context_ids, error, message):
    with pytest.raises(error, match=message):
        model.predict_proba_ids(context_ids)
    with pytest.raises(error, match=message):
        model.predict_output_word_ids(context_ids, topn=3)


def test_batched_log_prob_rejects_bad_word_ids(model):
    with pytest.raises(ValueError, match="word_ids"):
        model.log_prob_ids([len(model.wv)], [[0, 1]])
    with pytest.raises(ValueError, match="word_ids has 2 entries for 1 rows"):
        model.log_prob_ids([0, 1], [[0, 1]])


def test_queries_need_a_trained_model():
    empty = hsmcy.Word2Vec(vector_size=8)
    with pytest.raises(RuntimeError, match="no vocabulary"):
        empty.predict_output_word(["a"])
    with pytest.raises(RuntimeError, match="no vocabulary"):
        empty.score([["a"]])


def test_where_gensim_skips_saturated_nodes_our_score_stays_exact(lee_sentences):
    """Large weights saturate nodes: gensim drops them (its score rises), ours equals the exact reference."""
    model = hsmcy.Word2Vec(lee_sentences[:100], vector_size=16, window=2, min_count=3, epochs=1, sg=1, workers=1)
    rng = np.random.default_rng(1)
    model.wv.vectors[:] = rng.normal(size=model.wv.vectors.shape).astype(np.float32)
    model.syn1[:] = rng.normal(size=model.syn1.shape).astype(np.float32)
    sentences = lee_sentences[100:106]
    ours = model.score(sentences)
    theirs = model.to_gensim().score(sentences, total_sentences=len(sentences))
    for sentence, our_score, their_score in zip(sentences, ours, theirs):
        exact = ref.score_sentence(known_ids(model, sentence), model.wv.vectors, model.inner_node_vectors,
                                   model.tree, sg=1, window=2).sum()
        emulated, _, skipped = gensim_style_score(model, sentence)
        assert skipped > 0
        assert our_score == pytest.approx(exact, rel=1e-5)
        assert their_score == pytest.approx(emulated, rel=1e-4)
        assert their_score > our_score  # the skipped nodes' (negative) log-probabilities are missing


def test_queries_on_a_memory_mapped_model(model, lee_sentences, tmp_path):
    path = tmp_path / "model.hsmcy"
    model.save(path)
    mapped = hsmcy.Word2Vec.load(path, mmap="r")
    sentences = lee_sentences[150:160]
    np.testing.assert_allclose(mapped.score(sentences), model.score(sentences), rtol=1e-12)
    assert mapped.predict_output_word(["the", "said"], topn=4) == model.predict_output_word(["the", "said"], topn=4)


def test_queries_reject_inconsistent_weights():
    """Weights that a kernel would index out of bounds are refused before any kernel runs."""
    tiny = hsmcy.Word2Vec([["a", "b", "c", "a"]] * 5, min_count=1, vector_size=6, epochs=1, workers=1)
    tiny.syn1 = np.zeros((len(tiny.wv), 3), dtype=np.float32)
    with pytest.raises(ValueError, match="syn1 has 3 columns, expected 6"):
        tiny.score([["a", "b"]])
    tiny.syn1 = np.zeros((1, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="syn1 has 1 rows, the tree needs 2"):
        tiny.predict_output_word(["a"])
    tiny.syn1 = np.zeros((len(tiny.wv), 6), dtype=np.float32)
    tree = tiny.tree
    tiny.tree = hsmcy.HuffmanTree.from_counts([3, 2])
    with pytest.raises(ValueError, match="2 leaves for 3 words"):
        tiny.log_prob_ids([2], [[0]])
    tiny.tree = tree
    tiny.wv.vectors = tiny.wv.vectors.astype(np.float64)
    with pytest.raises(ValueError, match="float32"):
        tiny.predict_proba(["a"])
