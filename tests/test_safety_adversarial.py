"""Findings of the adversarial sweep (fuzz/adversarial.py), each held by a test.

Cases that could crash run in a fresh interpreter (``run_python`` from test_safety_corpus),
whose exit status tells a clear error from a signal.
"""
import pickle

import numpy as np
import pytest
from test_safety_corpus import run_python

import hsmcy


@pytest.fixture(scope="module")
def model(lee_sentences):
    return hsmcy.Word2Vec(lee_sentences, vector_size=8, min_count=3, epochs=1, workers=1, seed=5)


# ------------------------------------------------------------- the tree cannot be edited after validation
def test_a_tree_cannot_be_edited_in_place_or_replaced(model):
    tree = model.tree
    with pytest.raises(ValueError, match="read-only"):
        tree.path_nodes[3] = 10**6
    with pytest.raises(ValueError):
        tree.path_offsets.setflags(write=True)
    with pytest.raises(AttributeError):
        tree.path_codes = np.zeros_like(tree.path_codes)
    unpickled = pickle.loads(pickle.dumps(tree))
    with pytest.raises(ValueError, match="read-only"):
        unpickled.path_codes[0] = 5


def test_a_tree_built_from_the_callers_arrays_does_not_share_them():
    nodes, codes, offsets = np.array([0, 0], np.int32), np.array([0, 1], np.uint8), np.array([0, 1, 2])
    tree = hsmcy.BinaryTree(nodes, codes, offsets)
    nodes[0] = 10**6                         # the caller's array stays theirs, and writeable
    assert tree.path_nodes[0] == 0 and nodes.flags.writeable


def test_an_attempted_tree_edit_before_score_cannot_crash(tmp_path):
    # The previous release let `model.tree.path_nodes[3] = 10**6` through and score() then
    # read far outside syn1: SIGSEGV.
    run_python("""
        import numpy as np, hsmcy
        from gensim.test.utils import datapath
        model = hsmcy.Word2Vec(corpus_file=datapath("lee_background.cor"), vector_size=8, epochs=1, workers=1)
        for edit in (lambda: model.tree.path_nodes.__setitem__(3, 10**6),
                     lambda: model.tree.path_offsets.__setitem__(5, 0),
                     lambda: model.tree.path_codes.__setitem__(1, 5)):
            try:
                edit()
            except ValueError:
                pass
        with open(datapath("lee_background.cor")) as lines:
            sentences = [line.split()[:30] for line, _ in zip(lines, range(6))]
        assert np.all(np.asarray(model.score(sentences)) <= 0)
        model.predict_output_word(["the", "fire"], topn=3)
    """, tmp_path)


# ------------------------------------------------------------- settings edited after the constructor
@pytest.mark.parametrize("name, value, message", [
    ("window", float("nan"), "window must be an integer"), ("window", 10**12, "window must be <="),
    ("batch_words", 0, "batch_words must be >= 1"), ("seed", -1, "seed must be >= 0"),
    ("sg", 5, "sg must be 0 or 1"), ("cbow_mean", 7, "cbow_mean must be 0 or 1"),
    ("alpha", float("nan"), "start_alpha"), ("min_alpha", float("inf"), "end_alpha"),
    ("epochs", 0, "epochs must be >= 1"), ("epochs", 10**18, "more words than a run can count"),
    ("vector_size", 7, "vector_size is 7 but wv.vectors has 8 columns")])
def test_settings_edited_after_the_constructor_are_checked_by_name_when_a_run_starts(lee_sentences, name, value,
                                                                                   message):
    model = hsmcy.Word2Vec(vector_size=8, min_count=3, workers=1, seed=5)
    model.build_vocab(lee_sentences)
    before = model.wv.vectors.copy()
    setattr(model, name, value)
    with pytest.raises((ValueError, TypeError), match=message):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=model.epochs)
    assert np.array_equal(model.wv.vectors, before) and model.training_state is None


def test_epochs_whose_word_count_overflows_are_refused_at_once(lee_sentences):
    # 10**18 epochs trained (for ever) with a word counter that would overflow int64
    with pytest.raises(ValueError, match="more words than a run can count"):
        hsmcy.Word2Vec(lee_sentences, vector_size=8, min_count=3, workers=1, epochs=10**18)


# ------------------------------------------------------------- sizes a caller chooses, checked before allocating
@pytest.mark.parametrize("make, name", [
    (lambda: hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([5, 3, 2]), dim=10**12), "dim = "),
    (lambda: hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([5, 3, 2]), dim=4).sample(
        np.ones((4, 4), np.float32), rng=0, n_samples=10**12), "n_samples = "),
    (lambda: hsmcy.Word2Vec([["a", "b"], ["b", "c"]], min_count=1, vector_size=10**12), "vector_size = "),
    (lambda: hsmcy.HSClassifier(dim=10**12).fit(["a b", "c d"], ["x", "y"]), "dim = ")])
def test_an_array_larger_than_the_machine_is_refused_naming_the_parameter(make, name):
    # numpy's MemoryError named no parameter; with overcommit, a size below the address
    # space but above the RAM was granted lazily and the process then killed
    with pytest.raises(ValueError, match=f"{name}.*more than this machine's"):
        make()


def test_classifier_epochs_whose_example_count_overflows_are_refused_at_once():
    with pytest.raises(ValueError, match="more examples than a run can count"):
        hsmcy.HSClassifier(dim=4, epochs=10**18, workers=1).fit(["a b", "c d"] * 20, ["x", "y"] * 20)


# ------------------------------------------------------------- tokens that are not str
@pytest.mark.parametrize("corpus, message", [
    ([[1, 2, 3]] * 5, "token 1 is a int"), ([[None, "a"]] * 5, "token None is a NoneType"),
    ([[b"a", b"b"]] * 5, "token b'a' is a bytes"), ([[["a"]]] * 5, "sentence #0 must be a list of str tokens"),
    ([None, ["a"]], "sentence #0 must be a list of str tokens")])
def test_tokens_that_are_not_str_are_refused_when_the_vocabulary_is_built(corpus, message):
    # They used to train into a vocabulary that neither save() nor score() accepts.
    with pytest.raises(TypeError, match=message):
        hsmcy.Word2Vec(corpus, min_count=1, vector_size=4, workers=1)
    if all(isinstance(words, list) for words in corpus):
        with pytest.raises(TypeError, match=message):
            hsmcy.Doc2Vec([hsmcy.TaggedDocument(words, [i]) for i, words in enumerate(corpus)], min_count=1,
                          vector_size=4, workers=1)


# ------------------------------------------------------------- Doc2Vec.score with an edited vocabulary
def test_doc2vec_score_with_an_edited_vocabulary_is_an_error_not_a_crash(tmp_path):
    # It handed the edited word id (10**6) to the row kernel unchecked: SIGSEGV.
    run_python("""
        import pytest, hsmcy
        from gensim.test.utils import common_texts
        documents = [hsmcy.TaggedDocument(words, [i]) for i, words in enumerate(common_texts)]
        for dm in (0, 1):
            model = hsmcy.Doc2Vec(documents, dm=dm, vector_size=8, min_count=1, epochs=2, workers=1)
            model.wv.key_to_index["system"] = 10**6
            with pytest.raises(ValueError, match="the vocabulary was edited"):
                model.score([hsmcy.TaggedDocument(["system", "user"], [0])])
    """, tmp_path)


def test_the_row_operations_check_the_labels_they_index_whoever_calls_them():
    from hsmcy import inference
    tree = hsmcy.HuffmanTree.from_counts([5, 3, 2])
    weights, hidden = np.zeros((2, 4), np.float32), np.zeros((1, 4), np.float32)
    for operation in (lambda labels: inference.log_prob_rows(tree, weights, hidden, labels),
                      lambda labels: inference.loss_and_grad_rows(tree, weights, hidden, labels),
                      lambda labels: inference.sgd_rows(tree, weights, hidden, labels, 0.1)):
        with pytest.raises(ValueError, match="labels holds class id"):
            operation(np.array([10**6]))
        with pytest.raises(ValueError, match="inner_node_vectors has 1 rows"):
            inference.log_prob_rows(tree, weights[:1], hidden, np.array([0]))


# ------------------------------------------------------------- smaller findings
@pytest.mark.parametrize("header, binary", [(b"1000000000000 4\na 1 2 3 4\n", False), (b"1 1000000000\na 1 2\n", False),
                                            (b"100000 100000\n", True)])
def test_a_word2vec_header_cannot_make_the_reader_allocate_more_than_the_file_holds(tmp_path, header, binary):
    # gensim allocates words x dimensions floats from the header: a 26-byte file asked for 15 TB
    from hsmcy.formats import FormatError, load_vectors
    path = tmp_path / ("v.bin" if binary else "v.txt")
    path.write_bytes(header)
    with pytest.raises(FormatError, match="more values than its"):
        load_vectors(str(path), "word2vec-binary" if binary else "word2vec")


def test_the_command_line_reports_divergence_in_one_line(tmp_path):
    import subprocess
    import sys
    from test_safety_corpus import PACKAGE_PARENT
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 200)
    result = subprocess.run([sys.executable, "-m", "hsmcy", "train", "c.txt", "-o", "o.kv", "--alpha", "1e30",
                             "--min-count", "1", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": PACKAGE_PARENT}, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "training diverged" in result.stderr and not (tmp_path / "o.kv").exists()


def test_an_int_tag_beyond_int64_is_a_clear_error():
    with pytest.raises(ValueError, match="document #0 has the int tag"):
        hsmcy.Doc2Vec([hsmcy.TaggedDocument(["a", "b"], [np.uint64(2**64 - 1)])], min_count=1, vector_size=4)


def test_score_with_vectors_replaced_by_a_list_is_a_clear_error(model):
    edited = pickle.loads(pickle.dumps(model))
    edited.wv.vectors = edited.wv.vectors.tolist()
    with pytest.raises(ValueError, match="model.wv.vectors must be"):
        edited.score([["the", "fire"]])


def test_a_gensim_model_without_syn1_is_a_clear_error():
    import gensim
    from gensim.test.utils import common_texts
    gensim_model = gensim.models.Word2Vec(common_texts, min_count=1, vector_size=4, hs=1, negative=0, workers=1)
    del gensim_model.syn1
    with pytest.raises(ValueError, match="has no syn1"):
        hsmcy.Word2Vec.from_gensim(gensim_model)
