"""hsmcy.Doc2Vec: gensim's Doc2Vec(hs=1, negative=0) API, training, inference, scores, files, gensim round trips."""
import logging

import numpy as np
import pytest
from gensim.models.doc2vec import Doc2Vec as GensimDoc2Vec
from gensim.models.doc2vec import TaggedDocument

import hsmcy
from hsmcy import Doc2Vec, reference


@pytest.fixture(scope="module")
def lee_documents():
    from gensim.test.utils import datapath
    with open(datapath("lee_background.cor"), encoding="utf-8") as handle:
        return [TaggedDocument(line.split(), [number]) for number, line in enumerate(handle)]


@pytest.fixture(scope="module", params=[0, 1], ids=["dbow", "dm"])
def trained(request, lee_documents):
    """A small model of each mode trained on gensim's Lee corpus (300 news paragraphs)."""
    return Doc2Vec(lee_documents, dm=request.param, vector_size=32, min_count=2, epochs=15, workers=2, seed=3)


def small_documents():
    texts = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "ate", "my", "homework", "today"],
             ["a", "cat", "and", "a", "dog", "sat"], ["my", "dog", "sat", "on", "the", "cat"]] * 3
    tags = [[0, "a"], ["b"], [2], ["a", 1]] * 3
    return [TaggedDocument(words, tag) for words, tag in zip(texts, tags)]


# ------------------------------------------------------------------ parameters
def test_gensim_parameters_and_defaults():
    model = Doc2Vec()
    assert (model.dm, model.dbow_words, model.dm_mean, model.cbow_mean, model.epochs, model.window) == (1, 0, 1, 1,
                                                                                                        10, 5)
    assert (model.hs, model.negative, model.sg, model.kernel) == (1, 0, 0, "fast")
    assert Doc2Vec(dm=0).sg == 1 and Doc2Vec(dm=0).dbow
    assert Doc2Vec(dm_mean=0, cbow_mean=1).cbow_mean == 0       # dm_mean wins, as in gensim
    assert Doc2Vec(cbow_mean=0).dm_mean == 0
    assert hsmcy.TaggedDocument is TaggedDocument
    refused = [(dict(hs=0), "hs must be 1"), (dict(negative=5), "negative must be 0"),
               (dict(dm_concat=1), "dm_concat=1"), (dict(dv=object()), "dv and dv_mapfile"),
               (dict(dv_mapfile="x"), "dv and dv_mapfile"), (dict(dm=2), "dm must be"),
               (dict(dbow_words=3), "dbow_words"), (dict(dm_mean=5), "dm_mean"), (dict(kernel="simd"), "kernel"),
               (dict(dm_tag_count=0), "dm_tag_count")]
    for settings, message in refused:
        with pytest.raises(ValueError, match=message):
            Doc2Vec(**settings)


def test_tags_make_gensims_dv_layout():
    documents = small_documents() + [TaggedDocument(["the", "end"], [6, "c"])]
    ours = Doc2Vec(vector_size=4, min_count=1)
    ours.build_vocab(documents)
    theirs = GensimDoc2Vec(vector_size=4, min_count=1, hs=1, negative=0)
    theirs.build_vocab(documents)
    assert ours.dv.index_to_key == theirs.dv.index_to_key == [0, 1, 2, 3, 4, 5, 6, "a", "b", "c"]
    assert ours.dv.key_to_index == theirs.dv.key_to_index
    for tag in ("a", "b", "c"):   # gensim counts string tags only
        for name in ("doc_count", "word_count"):
            assert ours.dv.get_vecattr(tag, name) == theirs.dv.get_vecattr(tag, name)
    assert ours.dv.get_vecattr(0, "doc_count") == 3
    # the same starting document vectors as gensim (seed + 7919)
    np.testing.assert_array_equal(ours.dv.vectors, theirs.dv.vectors)
    assert ours.corpus_count == theirs.corpus_count and ours.corpus_total_words == theirs.corpus_total_words


def test_document_tree_is_a_huffman_tree_with_scattered_ties():
    from hsmcy.doc2vec import document_huffman_tree
    counts = np.sort(np.random.default_rng(0).integers(1, 6, 300) ** 2)[::-1]   # a vocabulary's order
    tree = document_huffman_tree(counts, seed=4)
    assert tree.n_leaves == 300
    # as short as Huffman's on average, and a more frequent word is never deeper
    assert (tree.path_lengths * counts).sum() == (hsmcy.HuffmanTree.from_counts(counts).path_lengths * counts).sum()
    values = np.unique(counts)
    for rarer, commoner in zip(values[:-1], values[1:]):
        assert tree.path_lengths[counts == rarer].min() >= tree.path_lengths[counts == commoner].max()
    # equal counts are not merged in id order: a word's sibling is rarely its neighbour
    def neighbour_siblings(tree):
        siblings = {}
        for word in range(300):
            siblings.setdefault(int(tree.path(word)[0][-1]), []).append(word)
        pairs = [leaves for leaves in siblings.values() if len(leaves) == 2]
        return sum(abs(a - b) == 1 for a, b in pairs) / len(pairs)
    assert neighbour_siblings(tree) < 0.2 < 0.8 < neighbour_siblings(hsmcy.HuffmanTree.from_counts(counts))
    np.testing.assert_array_equal(document_huffman_tree(counts, seed=4).path_nodes, tree.path_nodes)


def test_bad_documents_get_clear_errors():
    model = Doc2Vec(min_count=1)
    cases = [
        ([["token", "list"]], TypeError, "not a TaggedDocument"),
        ([TaggedDocument("a string", [0])], TypeError, "words must be a list of tokens"),
        ([TaggedDocument(["a"], "doc1")], TypeError, r"tags must be a list, e.g. \['doc1'\]"),
        ([TaggedDocument(["a"], 3)], TypeError, "tags must be a list"),
        ([TaggedDocument(["a"], [1.5])], TypeError, "a tag is an int"),
        ([TaggedDocument(["a"], [True])], TypeError, "a tag is an int"),
        ([TaggedDocument(["a"], [-1])], ValueError, "int tags are row numbers, >= 0"),
        ([TaggedDocument(["a"], [2**25])], ValueError, "use string tags for sparse ids"),
        ([TaggedDocument(["a"], [2**31])], ValueError, "at most 2147483647"),
        ([TaggedDocument([], [0])], ValueError, "holds no words"),
    ]
    for documents, error, message in cases:
        with pytest.raises(error, match=message):
            model.build_vocab(documents)
    with pytest.raises(TypeError, match="generator"):
        Doc2Vec((d for d in small_documents()), min_count=1)
    with pytest.raises(ValueError, match="either documents or corpus_file"):
        Doc2Vec(small_documents(), corpus_file="x.txt")


def test_sparse_int_tags_warn_as_gensim(caplog):
    with caplog.at_level(logging.WARNING):
        Doc2Vec(min_count=1, vector_size=4).build_vocab([TaggedDocument(["a", "b"], [50])])
    assert "belong to no document" in caplog.text


def test_corpus_file_tags_are_line_numbers(tmp_path):
    lines = ["the cat sat on the mat", "", "the dog ate my homework", "a cat and a dog sat", "my dog sat on the cat"]
    path = tmp_path / "documents.txt"
    path.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")
    from_file = Doc2Vec(corpus_file=path, vector_size=8, min_count=1, epochs=3, workers=1, seed=2)
    assert from_file.dv.index_to_key == list(range(len(lines) * 4)) and from_file.corpus_count == 20
    documents = [TaggedDocument(line.split(), [number]) for number, line in enumerate(lines * 4)]
    from_list = Doc2Vec(documents, vector_size=8, min_count=1, epochs=3, workers=1, seed=2)
    np.testing.assert_array_equal(from_file.dv.vectors, from_list.dv.vectors)
    np.testing.assert_array_equal(from_file.wv.vectors, from_list.wv.vectors)
    assert list(hsmcy.TaggedLineDocument(path))[2] == documents[2]


# ------------------------------------------------------------------ training
def test_a_training_document_infers_near_its_trained_vector(trained, lee_documents):
    # infer_vector of a training document finds that document's trained vector among the closest.
    ranks = []
    for document in lee_documents[::15]:
        vector = trained.infer_vector(document.words)
        similar = [tag for tag, _ in trained.dv.most_similar([vector], topn=len(trained.dv))]
        ranks.append(similar.index(document.tags[0]))
    assert np.mean(np.array(ranks) < 3) >= 0.9, ranks


@pytest.mark.parametrize("kernel, settings", [("fast", dict(dm=0, dbow_words=1)), ("fast", dict(dm=1, dm_mean=0)),
                                              ("blas", dict(dm=0)), ("blas", dict(dm=1))])
def test_kernels_and_modes_learn_alike(lee_documents, kernel, settings):
    # Both kernels, every mode (the "fast" kernel's PV-DBOW and mean PV-DM are the
    # `trained` fixture's): the document vectors find their documents.
    model = Doc2Vec(lee_documents[:150], vector_size=24, min_count=2, epochs=10, workers=1, seed=1, kernel=kernel,
                    compute_loss=True, **settings)
    assert model.get_latest_training_loss() > 0
    hits = sum(d.tags[0] in [tag for tag, _ in model.dv.most_similar([model.infer_vector(d.words)], topn=3)]
               for d in lee_documents[:150:10])
    assert hits >= 12, hits


def test_dbow_trains_word_vectors_only_with_dbow_words(lee_documents):
    for dbow_words in (0, 1):
        model = Doc2Vec(vector_size=16, dm=0, dbow_words=dbow_words, min_count=2, epochs=1, workers=1)
        model.build_vocab(lee_documents[:50])
        words_before, documents_before = model.wv.vectors.copy(), model.dv.vectors.copy()
        model.train(lee_documents[:50], total_examples=50, epochs=1)
        assert np.array_equal(model.wv.vectors, words_before) == (not dbow_words)
        assert not np.array_equal(model.dv.vectors, documents_before)


def test_training_on_new_documents_drops_unknown_tags(caplog):
    model = Doc2Vec(small_documents(), vector_size=8, min_count=1, epochs=2, workers=1, sample=0)
    before = model.dv.vectors.copy()
    with caplog.at_level(logging.WARNING):
        model.train([TaggedDocument(["the", "cat", "sat", "unknown"], ["b", "zzz", 99])], total_examples=1, epochs=1)
    assert "2 tags are not in dv" in caplog.text
    changed = np.flatnonzero(np.any(model.dv.vectors != before, axis=1))
    assert changed.tolist() == [model.dv.get_index("b")]


def test_resume_after_an_interruption_gives_the_uninterrupted_model(lee_documents):
    class StopAtBatch(hsmcy.callbacks.CallbackAny2Vec):
        def __init__(self):
            self.batches = 0

        def on_batch_end(self, model):
            self.batches += 1
            if self.batches == 4:
                raise KeyboardInterrupt

    settings = dict(dm=1, vector_size=16, min_count=2, epochs=2, workers=1, batch_words=2000, seed=5)
    whole = Doc2Vec(lee_documents, **settings)
    model = Doc2Vec(**settings)
    model.build_vocab(lee_documents)
    with pytest.raises(KeyboardInterrupt):
        model.train(lee_documents, total_examples=model.corpus_count, epochs=2, callbacks=[StopAtBatch()])
    model.resume_training(lee_documents)
    np.testing.assert_array_equal(model.dv.vectors, whole.dv.vectors)
    np.testing.assert_array_equal(model.syn1, whole.syn1)


# ------------------------------------------------------------------ inference
@pytest.mark.parametrize("kernel", ["fast", "blas"])
@pytest.mark.parametrize("dm", [0, 1])
def test_infer_vector_is_the_references_frozen_training(kernel, dm):
    model = Doc2Vec(small_documents(), dm=dm, vector_size=6, window=2, min_count=1, epochs=5, workers=1,
                    kernel=kernel, sample=0.3)
    weights = [model.wv.vectors.copy(), model.syn1.copy(), model.dv.vectors.copy()]
    words = ["the", "cat", "unknown", "sat", "on", "my", "dog", "the", "mat"]
    inferred = model.infer_vector(words, alpha=0.1, min_alpha=0.01, epochs=4)
    for array, saved in zip((model.wv.vectors, model.syn1, model.dv.vectors), weights):
        np.testing.assert_array_equal(array, saved)          # frozen: nothing of the model moved
    # The reference, on the same start and the same random stream.
    from hsmcy.doc2vec import inference_start
    start, rng_state = inference_start(words, 6, model.seed)
    ids = [model.wv.key_to_index[w] for w in words if w in model.wv.key_to_index]
    expected = reference.infer_document_vector(
        ids, start, model.wv.vectors.astype(np.float64), model.syn1.astype(np.float64), model.tree, dm=dm,
        window=2, alpha=0.1, min_alpha=0.01, epochs=4, keep_probability=model._keep_probability,
        rng=reference.SplitMix64(rng_state), sg_window=(kernel == "fast"))
    np.testing.assert_allclose(inferred, expected, rtol=2e-4, atol=2e-6)
    assert not np.allclose(inferred, start)
    np.testing.assert_array_equal(model.infer_vector(words, alpha=0.1, min_alpha=0.01, epochs=4), inferred)


def test_infer_vector_follows_the_weights_and_settings_and_threads(trained, lee_documents, tmp_path):
    # Workers kept between calls must see what a fresh model sees: weights trained further
    # in place, reassigned arrays, edited settings; and give the same from several threads.
    import copy
    import threading

    model = copy.deepcopy(trained)
    words = lee_documents[3].words
    first = model.infer_vector(words)
    model.train(lee_documents[:40], total_examples=40, epochs=1)
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(model.infer_vector(words), Doc2Vec.load(tmp_path / "m").infer_vector(words))
    assert not np.array_equal(model.infer_vector(words), first)
    model.window = 2
    fresh = Doc2Vec.load(tmp_path / "m")
    fresh.window = 2
    np.testing.assert_array_equal(model.infer_vector(words), fresh.infer_vector(words))
    model.syn1 = model.syn1.copy()
    model.syn1[:] *= 0.5
    assert not np.array_equal(model.infer_vector(words), fresh.infer_vector(words))
    expected = {i: model.infer_vector(lee_documents[i].words) for i in range(12)}
    results, errors = {}, []

    def infer(indices):
        try:
            for i in indices:
                results[i] = model.infer_vector(lee_documents[i].words)
        except Exception as error:   # noqa: BLE001 -- reported below
            errors.append(error)

    threads = [threading.Thread(target=infer, args=(range(k, 12, 3),)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i in range(12):
        np.testing.assert_array_equal(results[i], expected[i])
    assert len(model._inference_pool) <= 8


def test_edited_state_is_a_clear_error_not_a_crash(lee_documents):
    model = Doc2Vec(lee_documents[:30], vector_size=8, min_count=1, epochs=1, workers=1)
    model.wv.key_to_index["zzz"] = 10**6                   # an id past the vectors
    with pytest.raises(ValueError, match="not a word id"):
        model.infer_vector(["the", "zzz"])
    del model.wv.key_to_index["zzz"]
    model.dv.vectors = model.dv.vectors[:5].copy()         # fewer rows than the documents' tags
    with pytest.raises(ValueError, match="dv.vectors must be"):
        model.train(lee_documents[:30], total_examples=30, epochs=1)


def test_infer_vector_defaults_and_checks(trained):
    words = ["the", "government", "said"]
    np.testing.assert_array_equal(trained.infer_vector(words),
                                  trained.infer_vector(words, alpha=trained.alpha, min_alpha=trained.min_alpha,
                                                       epochs=trained.epochs))
    assert not np.array_equal(trained.infer_vector(words), trained.infer_vector(words, epochs=3))
    assert trained.infer_vector(["zzz-unknown"]).shape == (32,)     # gensim: the start vector
    with pytest.raises(TypeError, match="not a single string"):
        trained.infer_vector("the government said")
    with pytest.raises(ValueError, match="alpha"):
        trained.infer_vector(words, alpha=float("nan"))
    with pytest.raises(ValueError, match="epochs"):
        trained.infer_vector(words, epochs=0)
    assert -1.0 <= trained.similarity_unseen_docs(words, ["the", "police", "said"]) <= 1.0


# ------------------------------------------------------------------ scores
@pytest.mark.parametrize("dm, dm_mean", [(0, 1), (1, 1), (1, 0)])
def test_score_and_log_prob_are_the_reference_document_likelihood(dm, dm_mean):
    model = Doc2Vec(small_documents(), dm=dm, dm_mean=dm_mean, vector_size=6, window=2, min_count=1, epochs=3,
                    workers=1)
    documents = small_documents()[:4]
    scores = model.score(documents)
    for document, score in zip(documents, scores):
        rows = [model.dv.get_index(tag) for tag in document.tags]
        ids = [model.wv.key_to_index[w] for w in document.words]
        expected = reference.score_document(ids, model.dv.vectors[rows], model.wv.vectors, model.inner_node_vectors,
                                            model.tree, dm=dm, window=2, cbow_mean=dm_mean)
        assert score == pytest.approx(expected, rel=1e-5)
        assert model.log_prob(document.words + ["unknown"], model.dv.vectors[rows]) == pytest.approx(score, rel=1e-6)
    assert np.all(scores < 0)
    with pytest.raises(ValueError, match="no tag of dv"):
        model.score([TaggedDocument(["the"], ["nope"])])
    with pytest.raises(ValueError, match="document_vector must be"):
        model.log_prob(["the"], np.zeros(5))


# ------------------------------------------------------------------ files and gensim
def test_save_load_round_trip(trained, lee_documents, tmp_path):
    path = tmp_path / "model.hsmcy"
    trained.save(path)
    for mmap in (None, "r"):
        loaded = Doc2Vec.load(path, mmap=mmap)
        for name in ("dm", "dbow_words", "cbow_mean", "window", "vector_size", "epochs", "kernel", "seed"):
            assert getattr(loaded, name) == getattr(trained, name)
        np.testing.assert_array_equal(loaded.dv.vectors, trained.dv.vectors)
        np.testing.assert_array_equal(loaded.wv.vectors, trained.wv.vectors)
        np.testing.assert_array_equal(loaded.syn1, trained.syn1)
        assert loaded.dv.index_to_key == trained.dv.index_to_key
        words = lee_documents[7].words
        np.testing.assert_array_equal(loaded.infer_vector(words), trained.infer_vector(words))  # also read-only
        np.testing.assert_allclose(loaded.score(lee_documents[:3]), trained.score(lee_documents[:3]))
    with pytest.raises(ValueError, match="read-only"):
        loaded.train(lee_documents[:5], total_examples=5, epochs=1)
    with pytest.raises(ValueError, match="holds a 'doc2vec', not a 'word2vec'"):
        hsmcy.Word2Vec.load(path)


def test_save_load_keeps_string_tags_and_continues_training(tmp_path):
    model = Doc2Vec(small_documents(), vector_size=8, min_count=1, epochs=2, workers=1)
    model.save(tmp_path / "m")
    loaded = Doc2Vec.load(tmp_path / "m")
    assert loaded.dv.key_to_index == {"a": 3, "b": 4} and loaded.dv["a"].tolist() == model.dv["a"].tolist()
    assert loaded.dv.get_vecattr("a", "doc_count") == 6
    loaded.train(small_documents(), total_examples=12, epochs=1)
    assert not np.array_equal(loaded.dv.vectors, model.dv.vectors)


def test_load_refuses_inconsistent_document_arrays(tmp_path):
    from hsmcy.persistence import load_archive, save_archive
    model = Doc2Vec(small_documents(), vector_size=8, min_count=1, epochs=1, workers=1)
    model.save(tmp_path / "good")
    metadata, arrays = load_archive(tmp_path / "good")
    arrays = {name: np.array(array) for name, array in arrays.items()}
    bad = [({"document_vectors": arrays["document_vectors"][:-1]}, {}, "document_vectors must be"),
           ({"document_vectors": arrays["document_vectors"] * np.nan}, {}, "NaN"),
           ({}, {"int_tags": -1}, "int_tags"), ({}, {"int_tags": 7}, "document_(vectors|counts) must be"),
           ({"string_tags_offsets": np.array([0, 1, 1], np.int64)}, {}, "tags"),
           ({"document_counts": arrays["document_counts"][:2]}, {}, "document_counts")]
    for array_changes, metadata_changes, message in bad:
        save_archive(tmp_path / "bad", "doc2vec", {**metadata, **metadata_changes}, {**arrays, **array_changes})
        with pytest.raises(ValueError, match=message):
            Doc2Vec.load(tmp_path / "bad")


def test_to_gensim_and_back(trained, lee_documents):
    exported = trained.to_gensim()
    assert isinstance(exported, GensimDoc2Vec) and exported.dm == trained.dm and exported.hs == 1
    np.testing.assert_array_equal(exported.dv.vectors, trained.dv.vectors)
    np.testing.assert_array_equal(exported.syn1, trained.syn1)
    # gensim's own inference on the exported model finds the training document
    document = lee_documents[20]
    assert 20 in [tag for tag, _ in exported.dv.most_similar([exported.infer_vector(document.words)], topn=5)]
    back = Doc2Vec.from_gensim(exported)
    np.testing.assert_array_equal(back.dv.vectors, trained.dv.vectors)
    np.testing.assert_array_equal(back.wv.vectors, trained.wv.vectors)
    np.testing.assert_array_equal(back.infer_vector(document.words), trained.infer_vector(document.words))
    exported.train(lee_documents[:20], total_examples=20, epochs=1)   # gensim trains on from there


def test_from_gensim_model_trained_by_gensim(lee_documents):
    documents = [TaggedDocument(d.words, [f"doc{d.tags[0]}"]) for d in lee_documents[:100]]
    theirs = GensimDoc2Vec(documents, dm=0, dbow_words=1, vector_size=16, min_count=2, epochs=5, hs=1, negative=0,
                           workers=1)
    ours = Doc2Vec.from_gensim(theirs)
    assert ours.dbow_words == 1 and ours.dm == 0
    assert ours.dv.index_to_key == theirs.dv.index_to_key
    np.testing.assert_array_equal(ours.dv["doc5"], theirs.dv["doc5"])
    assert ours.score(documents[:2]).shape == (2,)
    ours.train(documents, total_examples=100, epochs=1)
    with pytest.raises(ValueError, match="hierarchical softmax"):
        Doc2Vec.from_gensim(GensimDoc2Vec(documents[:10], vector_size=4, min_count=1, epochs=1))


def test_norms_a_reader_filled_are_refilled_after_training_never_reset(lee_documents):
    """As Word2Vec's (tests/test_safety_training.py): dv.most_similar in another thread must
    never find dv.norms reset to None between its fill_norms() and its use of them."""
    model = Doc2Vec(lee_documents[:100], vector_size=8, min_count=2, epochs=1, workers=2, seed=1)
    assert model.dv.norms is None and model.wv.norms is None   # nobody asked: lazy
    model.dv.most_similar(0, topn=2)
    model.wv.most_similar(model.wv.index_to_key[0], topn=2)
    model.train(lee_documents[:100], total_examples=100, epochs=1)
    for vectors in (model.dv, model.wv):
        assert vectors.norms is not None
        np.testing.assert_allclose(vectors.norms, np.linalg.norm(vectors.vectors, axis=1), rtol=1e-6)
