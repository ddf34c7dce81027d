"""Property-based tests (hypothesis) over the tree validator/builder, the corpus reader and the loader.

The promise checked everywhere: hostile input gives a ``ValueError`` (or a valid
result), never another exception, a crash, or an object that would let a kernel
read out of bounds.
"""
import bz2
import gzip
import lzma
import os
import tempfile
import zlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safety_helpers import npy_bytes, read_archive, synthetic_sentences, write_archive

import hsmcy
from hsmcy import _training
from hsmcy import corpus as corpus_io
from hsmcy.tree import BinaryTree, HuffmanTree

# HSMCY_HYPOTHESIS_EXAMPLES raises the effort for a longer local hunt (with HSMCY_HYPOTHESIS_PROFILE=explore).
SETTINGS = settings(max_examples=int(os.environ.get("HSMCY_HYPOTHESIS_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ trees
def assert_kernel_safe_tree(tree):
    """What kernels rely on, stated independently of BinaryTree.validate."""
    n_leaves = tree.n_leaves
    assert tree.path_offsets[0] == 0 and tree.path_offsets[-1] == len(tree.path_nodes)
    assert np.all(np.diff(tree.path_offsets) >= 0)
    if len(tree.path_nodes):
        assert 0 <= tree.path_nodes.min() and tree.path_nodes.max() < max(n_leaves - 1, 0)
        assert tree.path_codes.max() <= 1
    codes = [tuple(tree.path(w)[1]) for w in range(n_leaves)]
    # A full binary tree: codes are prefix-free and complete (Kraft sum exactly 1).
    if n_leaves > 1:
        assert sum(Fraction(1, 2 ** len(c)) for c in codes) == 1
        code_set = set(codes)
        for code in codes:
            assert not any(code[:k] in code_set for k in range(len(code)))


@st.composite
def random_full_trees(draw):
    """A random full binary tree (not Huffman), inner nodes numbered at random."""
    n_leaves = draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    parent = {}
    pool = [("leaf", i) for i in range(n_leaves)]
    inner_ids = rng.permutation(max(n_leaves - 1, 0))
    for merge in range(n_leaves - 1):
        a, b = (pool.pop(int(rng.integers(len(pool)))) for _ in range(2))
        node = ("inner", int(inner_ids[merge]))
        parent[a], parent[b] = (node, 0), (node, 1)
        pool.append(node)
    nodes, codes, offsets = [], [], [0]
    for leaf in range(n_leaves):
        path, current = [], ("leaf", leaf)
        while current in parent:
            current, code = parent[current]
            path.append((current[1], code))
        path.reverse()
        nodes += [n for n, _ in path]
        codes += [c for _, c in path]
        offsets.append(len(nodes))
    return (np.array(nodes, dtype=np.int32), np.array(codes, dtype=np.uint8), np.array(offsets, dtype=np.int64))


@SETTINGS
@given(random_full_trees())
def test_validator_accepts_every_full_binary_tree(arrays):
    tree = BinaryTree(*arrays)
    assert_kernel_safe_tree(tree)
    assert BinaryTree.from_gensim_codes(*tree.to_gensim_codes()).path_nodes.tolist() == tree.path_nodes.tolist()


@SETTINGS
@given(random_full_trees(), st.lists(st.tuples(st.sampled_from(["nodes", "codes", "offsets"]),
                                               st.integers(0, 10 ** 6), st.integers(-3, 2 ** 31 - 1)),
                                     min_size=1, max_size=3))
def test_validator_rejects_or_accepts_only_safe_trees(arrays, mutations):
    nodes, codes, offsets = (a.copy() for a in arrays)
    named = {"nodes": nodes, "codes": codes.astype(np.int64), "offsets": offsets}
    for which, position, value in mutations:
        target = named[which]
        if len(target):
            target[position % len(target)] = value if which != "codes" else value % 4
    try:
        tree = BinaryTree(named["nodes"], np.clip(named["codes"], 0, 255).astype(np.uint8), named["offsets"])
    except ValueError:
        return
    assert_kernel_safe_tree(tree)


@SETTINGS
@given(st.lists(st.one_of(st.integers(0, 2 ** 62), st.integers(0, 1000)), min_size=1, max_size=200))
def test_huffman_builder_gives_a_valid_tree_for_any_counts(counts):
    if sum(counts) > 2 ** 63 - 1:   # the merged weights would overflow: refused, never a wrapped tree
        with pytest.raises(ValueError, match="total"):
            HuffmanTree.from_counts(np.array(counts, dtype=np.int64))
        return
    tree = HuffmanTree.from_counts(np.array(counts, dtype=np.int64))
    tree.validate()
    assert_kernel_safe_tree(tree)


# ------------------------------------------------------------------ corpus reader
def reference_sentences(data: bytes):
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return [line.split() for line in text.split("\n") if line.split()]


def decoded(scan):
    ids, bounds = scan.corpus.token_ids, scan.corpus.sentence_bounds
    return [[scan.words[i] for i in ids[bounds[s]:bounds[s + 1]]] for s in range(len(bounds) - 1)]


text_bytes = st.lists(st.sampled_from([b"a", b"b", b"\xc3\xa9", b"\xc3", b"\xff", b" ", b"\t", b"\n", b"\r", b"\r\n",
                                        b"\x00", b"\x1c", b"\xc2\x85", b"\xe2\x80\xa8", b"word"]),
                      max_size=80).map(b"".join)
corpus_bytes = st.one_of(
    st.binary(max_size=600),
    text_bytes,
    # compressed corpora, whole or cut short
    st.tuples(text_bytes, st.sampled_from([gzip.compress, bz2.compress, lzma.compress]), st.integers(0, 3)).map(
        lambda case: case[1](case[0])[:None if case[2] else -5]),
)

DECOMPRESS = {"gzip": gzip.decompress, "bzip2": bz2.decompress, "xz": lzma.decompress}


def expected_reading(path, data):
    """The sentences the reader must give, or None if it must refuse the file (ValueError).

    Plain bytes read as UTF-8 text; a file that starts like a gzip, bzip2 or xz
    stream is decompressed (and refused if that fails); zip and zstd are refused.
    """
    try:
        compression = corpus_io.corpus_compression(path)
    except ValueError:
        return None
    if compression is None:
        return reference_sentences(data)
    try:
        return reference_sentences(DECOMPRESS[compression](data))
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
        return None


@SETTINGS
@given(corpus_bytes)
def test_corpus_file_reader_matches_a_plain_python_reading(data):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "corpus.txt")
        with open(path, "wb") as handle:
            handle.write(data)
        expected = expected_reading(path, data)
        if expected is None:
            with pytest.raises(ValueError, match="corpus_file"):
                corpus_io.scan_file(path)
            return
        scan = corpus_io.scan_file(path)
        assert decoded(scan) == expected
        tokens = [t for s in expected for t in s]
        assert scan.counts.tolist() == [tokens.count(w) for w in scan.words]
        # encoding with a fixed vocabulary drops exactly the unknown words
        vocabulary = {w: i for i, w in enumerate(sorted(set(tokens))[::2])}
        encoded = corpus_io.encode_file(path, vocabulary)
        encoded.check(max(len(vocabulary), 1))
        assert encoded.token_ids.tolist() == [vocabulary[t] for t in tokens if t in vocabulary]


@settings(SETTINGS, max_examples=50)
@given(st.lists(st.lists(st.text(max_size=6), max_size=8), max_size=20))
def test_iterable_reader_round_trips_any_tokens(sentences):
    scan = corpus_io.scan_iterable(sentences)
    assert decoded(scan) == sentences
    scan.corpus.check(max(len(scan.words), 1))


# ------------------------------------------------------------------ loader
@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    model = hsmcy.Word2Vec(synthetic_sentences(60, 8, 30, seed=2), vector_size=4, min_count=1, epochs=1,
                           workers=1)
    path = tmp_path_factory.mktemp("model") / "tiny.hsmcy"
    model.save(path)
    return path.read_bytes()


def load_or_value_error(data, mmap):
    """Load ``data``; a ValueError is fine, a loaded model must be valid for the kernels."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.hsmcy")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            model = hsmcy.Word2Vec.load(path, mmap=mmap)
        except ValueError:
            return None
        vocab_size = len(model.wv.index_to_key)
        assert model.wv.vectors.shape == (vocab_size, model.vector_size)
        assert model.syn1.shape == (max(vocab_size, 1), model.vector_size)
        assert _training.all_finite(model.wv.vectors) and _training.all_finite(model.syn1)
        assert model.tree.n_leaves == vocab_size
        assert_kernel_safe_tree(model.tree)
        if not mmap:  # a loaded model trains without crashing
            model.train([model.wv.index_to_key[:5]] * 3, total_examples=3, epochs=1)
        del model
        return True


@SETTINGS
@given(st.data(), st.sampled_from([None, "r"]))
def test_loader_with_flipped_or_cut_bytes(saved_bytes, data, mmap):
    blob = bytearray(saved_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob)))]
    load_or_value_error(bytes(blob), mmap)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


def _rewritten(saved_bytes, edit):
    with tempfile.TemporaryDirectory() as folder:
        source, target = os.path.join(folder, "a"), os.path.join(folder, "b")
        with open(source, "wb") as handle:
            handle.write(saved_bytes)
        header, members = read_archive(source)
        edit(header, members)
        write_archive(target, header, members)
        with open(target, "rb") as handle:
            return handle.read()


@SETTINGS
@given(st.data())
def test_loader_with_hostile_metadata(saved_bytes, data):
    def edit(header, members):
        section = data.draw(st.sampled_from(["top", "metadata", "array spec"]))
        if section == "top":
            header[data.draw(st.sampled_from(sorted(header)))] = data.draw(json_values)
        elif section == "metadata":
            header["metadata"][data.draw(st.sampled_from(sorted(header["metadata"])))] = data.draw(json_values)
        else:
            name = data.draw(st.sampled_from(sorted(header["arrays"])))
            header["arrays"][name] = data.draw(json_values)

    load_or_value_error(_rewritten(saved_bytes, edit), None)


@SETTINGS
@given(st.data(), st.sampled_from([None, "r"]))
def test_loader_with_hostile_arrays(saved_bytes, data, mmap):
    def edit(header, members):
        name = data.draw(st.sampled_from(sorted(header["arrays"])))
        array = data.draw(hnp.arrays(
            dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, ">f4", "<U2"]),
            shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=40)))
        members[name + ".npy"] = npy_bytes(array)
        if data.draw(st.booleans()):  # declare it honestly, so the deeper checks are reached
            header["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}

    load_or_value_error(_rewritten(saved_bytes, edit), mmap)


# ------------------------------------------------------- classifier and layer files
@pytest.fixture(scope="module")
def other_saved(tmp_path_factory):
    """Saved bytes of a tiny HSClassifier (with word n-grams) and a tiny HierarchicalSoftmax layer."""
    folder = tmp_path_factory.mktemp("others")
    texts = [" ".join(tokens) for tokens in synthetic_sentences(40, 6, 25, seed=3)]
    classifier = hsmcy.HSClassifier(dim=4, epochs=1, workers=1, word_ngrams=2, bucket=50)
    classifier.fit(texts, [f"c{i % 5}" for i in range(len(texts))])
    classifier.save(folder / "c.hsclf")
    layer = hsmcy.HierarchicalSoftmax(HuffmanTree.from_counts([5, 3, 2, 1, 1]), 4)
    layer.save(folder / "l.hshs")
    return {"classifier": ((folder / "c.hsclf").read_bytes(), texts[:5]),
            "layer": ((folder / "l.hshs").read_bytes(), None)}


def load_other_or_value_error(kind, data, mmap, texts):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            loaded = (hsmcy.HSClassifier if kind == "classifier" else hsmcy.HierarchicalSoftmax).load(path, mmap=mmap)
        except ValueError:
            return
        if kind == "classifier":
            assert_kernel_safe_tree(loaded.tree_)
            assert len(loaded.classes_) == loaded.tree_.n_leaves
            assert _training.all_finite(loaded.input_vectors_) and _training.all_finite(loaded.inner_node_vectors_)
            loaded.predict_top(texts, k=1)
            if not mmap:
                try:   # the file's parameters may be valid but unusable on these texts (a huge min_count)
                    loaded.fit(texts, list(loaded.classes_[:1]) * len(texts))
                except ValueError as error:
                    assert "min_count" in str(error) or "bucket" in str(error), error
        else:
            assert_kernel_safe_tree(loaded.tree)
            assert _training.all_finite(loaded.inner_node_vectors)
            loaded.predict_proba(np.ones((2, loaded.dim), dtype=np.float32))


@SETTINGS
@given(st.data(), st.sampled_from(["classifier", "layer"]), st.sampled_from([None, "r"]))
def test_other_loaders_with_flipped_or_cut_bytes(other_saved, data, kind, mmap):
    saved, texts = other_saved[kind]
    blob = bytearray(saved)
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob)))]
    load_other_or_value_error(kind, bytes(blob), mmap, texts)


@SETTINGS
@given(st.data(), st.sampled_from(["classifier", "layer"]))
def test_other_loaders_with_hostile_metadata_and_arrays(other_saved, data, kind):
    saved, texts = other_saved[kind]

    def edit(header, members):
        section = data.draw(st.sampled_from(["metadata", "params", "array spec", "array"]))
        metadata = header["metadata"]
        if section == "metadata":
            metadata[data.draw(st.sampled_from(sorted(metadata)))] = data.draw(json_values)
        elif section == "params" and isinstance(metadata.get("params"), dict):
            metadata["params"][data.draw(st.sampled_from(sorted(metadata["params"])))] = data.draw(json_values)
        elif section == "array spec":
            header["arrays"][data.draw(st.sampled_from(sorted(header["arrays"])))] = data.draw(json_values)
        else:
            name = data.draw(st.sampled_from(sorted(header["arrays"])))
            array = data.draw(hnp.arrays(
                dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, ">f4"]),
                shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=60)))
            members[name + ".npy"] = npy_bytes(array)
            header["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}

    load_other_or_value_error(kind, _rewritten(saved, edit), None, texts)
