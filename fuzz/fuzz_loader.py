"""Fuzz target (atheris/libFuzzer): hsmcy.Word2Vec.load on arbitrary bytes.

Any outcome but a loaded, kernel-safe model or a ValueError is a finding.  Run:

    python fuzz/fuzz_loader.py SEED_DIR -max_total_time=60

where SEED_DIR holds a few valid model files to mutate (tests/test_safety_fuzz.py
makes one).
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
    from hsmcy.checks import all_finite

_FOLDER = tempfile.mkdtemp(prefix="hsmcy-fuzz-")
_PATH = os.path.join(_FOLDER, "input.hsmcy")


def check_model(model):
    vocab_size = len(model.wv.index_to_key)
    assert model.wv.vectors.shape == (vocab_size, model.vector_size)
    assert model.syn1.shape == (max(vocab_size, 1), model.vector_size)
    assert all_finite(model.wv.vectors) and all_finite(model.syn1)
    tree = model.tree
    assert tree.n_leaves == vocab_size
    if len(tree.path_nodes):
        assert 0 <= tree.path_nodes.min() and tree.path_nodes.max() < vocab_size - 1
        assert tree.path_codes.max() <= 1
    assert np.all(np.diff(tree.path_offsets) >= 0) and tree.path_offsets[-1] == len(tree.path_nodes)


def TestOneInput(data):
    with open(_PATH, "wb") as handle:
        handle.write(data)
    for mmap in (None, "r"):
        try:
            model = hsmcy.Word2Vec.load(_PATH, mmap=mmap)
        except ValueError:
            continue
        check_model(model)
        del model


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
