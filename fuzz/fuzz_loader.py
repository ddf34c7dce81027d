"""Fuzz target (atheris/libFuzzer): hsmcy's model loaders on arbitrary bytes.

Every input is written to a file and loaded by ``Word2Vec.load``, ``HierarchicalSoftmax.load``
and ``HSClassifier.load`` (with and without ``mmap="r"``), and by the format sniffer that
names foreign files.  Any outcome but a ``ValueError`` or a loaded model that is
kernel-safe and answers a query is a finding (a crash, another exception, a hang or a
blow-up of memory: run with ``-rss_limit_mb``).  Run:

    python fuzz/fuzz_loader.py SEED_DIR -max_total_time=60

where SEED_DIR holds a few valid model files of each kind to mutate
(tests/test_safety_fuzz.py makes them).
"""
import os
import sys
import tempfile
import zipfile  # noqa: F401 -- imported before instrumentation: fuzz hsmcy's own checks

import numpy as np
import gensim  # noqa: F401

import atheris

with atheris.instrument_imports(include=["hsmcy"]):
    import hsmcy
    from hsmcy import formats
    from hsmcy.checks import all_finite

_FOLDER = tempfile.mkdtemp(prefix="hsmcy-fuzz-")
_PATH = os.path.join(_FOLDER, "input.hsmcy")


def check_tree(tree, n_leaves):
    assert tree.n_leaves == n_leaves
    for array in (tree.path_nodes, tree.path_codes, tree.path_offsets):
        assert array.flags.c_contiguous and not isinstance(array, np.memmap)
    if len(tree.path_nodes):
        assert 0 <= tree.path_nodes.min() and tree.path_nodes.max() < max(n_leaves - 1, 1)
        assert tree.path_codes.max() <= 1
    assert np.all(np.diff(tree.path_offsets) >= 0) and tree.path_offsets[-1] == len(tree.path_nodes)


def check_weights(*arrays):
    for array in arrays:
        assert array.dtype == np.float32 and array.flags.c_contiguous and all_finite(array)


def check_word2vec(model):
    vocab_size = len(model.wv.index_to_key)
    assert model.wv.vectors.shape == (vocab_size, model.vector_size)
    assert model.syn1.shape == (max(vocab_size, 1), model.vector_size)
    check_weights(model.wv.vectors, model.syn1)
    check_tree(model.tree, vocab_size)
    assert 1 <= model.workers <= 1024
    words = model.wv.index_to_key[:3]
    model.predict_output_word(words, topn=2)
    model.score([words])


def check_layer(layer):
    assert layer.inner_node_vectors.shape == (layer.tree.n_inner, layer.dim)
    check_weights(layer.inner_node_vectors)
    check_tree(layer.tree, layer.tree.n_leaves)
    hidden = np.ones((2, layer.dim), dtype=np.float32)
    layer.predict(hidden, 1)
    layer.log_prob(hidden, [0, 0])


def check_classifier(model):
    check_weights(model.input_vectors_, model.inner_node_vectors_)
    check_tree(model.tree_, len(model.classes_))
    assert model.word_ngrams <= 100
    words = list(model.vocabulary_)[:4]
    model.predict_top([" ".join(words), "unknown words"], k=1)


_LOADERS = ((hsmcy.Word2Vec.load, check_word2vec), (hsmcy.HierarchicalSoftmax.load, check_layer),
            (hsmcy.HSClassifier.load, check_classifier))


def TestOneInput(data):
    with open(_PATH, "wb") as handle:
        handle.write(data)
    formats.describe_foreign_file(_PATH, "word2vec")  # the sniffer of foreign files: never unpickles
    for load, check in _LOADERS:
        for mmap in (None, "r"):
            try:
                model = load(_PATH, mmap=mmap)
            except ValueError:
                continue
            check(model)
            del model


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
