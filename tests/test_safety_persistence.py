"""Safe persistence: no pickle, a checked format version, memory-mapping, atomic writes, validated loads."""
import errno
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from safety_helpers import npy_bytes, read_archive, replace_array, small_model, write_archive

import hsmcy
from hsmcy import persistence


@pytest.fixture(scope="module")
def model(lee_sentences):
    return small_model(lee_sentences)


@pytest.fixture
def saved(model, tmp_path):
    path = tmp_path / "model.hsmcy"
    model.save(path)
    return path


def assert_same_model(a, b):
    assert a.wv.index_to_key == b.wv.index_to_key
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    np.testing.assert_array_equal(a.syn1, b.syn1)
    np.testing.assert_array_equal(a.tree.path_nodes, b.tree.path_nodes)
    np.testing.assert_array_equal(a.tree.path_codes, b.tree.path_codes)
    np.testing.assert_array_equal(a.wv.expandos["count"], b.wv.expandos["count"])


def test_round_trip(model, saved):
    assert_same_model(model, hsmcy.Word2Vec.load(saved))


# ---------------------------------------------------------------- never unpickle
class _Payload:
    """Unpickling this creates a marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_array_is_rejected_and_never_unpickled(saved, tmp_path):
    marker = tmp_path / "code-ran"
    evil = np.empty(2, dtype=object)
    evil[:] = [_Payload(str(marker)), _Payload(str(marker))]
    payload = npy_bytes(evil, allow_pickle=True)
    # sanity: this payload really does run code when unpickled
    header, members = read_archive(saved)
    for declared in ("|O", "<f4"):  # whatever the metadata claims
        members["input_vectors.npy"] = payload
        header["arrays"]["input_vectors"] = {"dtype": declared, "shape": [2]}
        target = tmp_path / f"evil-{declared[-1]}.hsmcy"
        write_archive(target, header, members)
        for mmap in (None, "r"):
            with pytest.raises(ValueError, match="input_vectors.*object arrays are not allowed"):
                hsmcy.Word2Vec.load(target, mmap=mmap)
    assert not marker.exists()
    np.load(_write_bytes(tmp_path / "evil.npy", payload), allow_pickle=True)
    assert marker.exists(), "the payload should run code when unpickled, or this test proves nothing"


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_gensim_pickle_file_is_not_loaded(model, tmp_path):
    path = tmp_path / "gensim.model"
    model.to_gensim().save(str(path))
    with pytest.raises(ValueError, match="not an hsmcy model file"):
        hsmcy.Word2Vec.load(path)
    with open(path, "rb") as handle:  # it really is a pickle
        assert handle.read(1) == b"\x80"


def test_pickle_module_is_never_used_to_load(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used during load")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    hsmcy.Word2Vec.load(saved)
    hsmcy.Word2Vec.load(saved, mmap="r")


# ---------------------------------------------------------------- format version
@pytest.mark.parametrize("change, message", [
    ({"format_version": persistence.FORMAT_VERSION + 1}, "format version"),
    ({"format_version": "1"}, "format version"),
    ({"format_version": 0}, "format version"),
    ({"format": "something-else"}, "not an hsmcy model file"),
    ({"kind": "classifier"}, "holds a 'classifier', not a 'word2vec'"),
    ({"metadata": [1, 2]}, "metadata is not a mapping"),
    ({"arrays": None}, "does not list its arrays"),
])
def test_header_is_checked(saved, tmp_path, change, message):
    header, members = read_archive(saved)
    header.update(change)
    write_archive(tmp_path / "bad.hsmcy", header, members)
    with pytest.raises(ValueError, match=message):
        hsmcy.Word2Vec.load(tmp_path / "bad.hsmcy")


def test_saved_header_carries_the_version(saved):
    header, _ = read_archive(saved)
    assert header["format"] == "hsmcy" and header["format_version"] == persistence.FORMAT_VERSION


# ---------------------------------------------------------------- memory-mapping
def test_mmap_loads_read_only_memory_maps(model, saved):
    mapped = hsmcy.Word2Vec.load(saved, mmap="r")
    for array in (mapped.wv.vectors, mapped.syn1):
        assert isinstance(array, np.memmap) and not array.flags.writeable
        assert os.path.samefile(array.filename, saved)
    assert_same_model(model, mapped)
    word = model.wv.index_to_key[5]
    assert mapped.wv.most_similar(word, topn=3) == model.wv.most_similar(word, topn=3)


def test_training_a_memory_mapped_model_is_refused(lee_sentences, saved):
    mapped = hsmcy.Word2Vec.load(saved, mmap="r")
    before = np.array(mapped.wv.vectors)
    with pytest.raises(ValueError, match="read-only.*mmap"):
        mapped.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
    np.testing.assert_array_equal(mapped.wv.vectors, before)
    # the documented way out: copy the arrays, then train
    mapped.wv.vectors = np.array(mapped.wv.vectors)
    mapped.syn1 = np.array(mapped.syn1)
    mapped.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
    assert not np.array_equal(mapped.wv.vectors, before)


# ---------------------------------------------------------------- atomic writes
def _temporary_files(folder):
    return [name for name in os.listdir(folder) if name.startswith(".hsmcy-")]


@pytest.mark.parametrize("failure", ["disk full in write_array", "crash in os.replace", "Ctrl-C while writing"])
def test_failed_save_leaves_previous_file_intact(lee_sentences, model, saved, monkeypatch, failure):
    previous = saved.read_bytes()
    other = small_model(lee_sentences, seed=99)
    if failure == "disk full in write_array":
        real_write = np.lib.format.write_array
        calls = []

        def write_array(handle, array, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the second array: some bytes are already in the temporary file
                handle.write(b"\0" * 1000)
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(handle, array, **kwargs)

        monkeypatch.setattr(np.lib.format, "write_array", write_array)
        expected = OSError
    elif failure == "crash in os.replace":
        def replace(*args):
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(persistence.os, "replace", replace)
        expected = OSError
    else:
        real_write = np.lib.format.write_array

        def write_array(handle, array, **kwargs):
            real_write(handle, array, **kwargs)
            raise KeyboardInterrupt

        monkeypatch.setattr(np.lib.format, "write_array", write_array)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        other.save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == previous
    assert_same_model(model, hsmcy.Word2Vec.load(saved))
    assert _temporary_files(saved.parent) == []


def test_save_fsyncs_before_rename(model, tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(persistence.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(persistence.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    model.save(tmp_path / "m.hsmcy")
    assert events[:2] == ["fsync", "replace"]
    assert _temporary_files(tmp_path) == []


def test_unsavable_keys_fail_before_touching_the_file(model, saved):
    previous = saved.read_bytes()
    bad = hsmcy.Word2Vec.load(saved)
    bad.wv.index_to_key[0] = 12345  # not a string
    with pytest.raises(TypeError, match="only string keys"):
        bad.save(saved)
    assert saved.read_bytes() == previous
    assert _temporary_files(saved.parent) == []


# ---------------------------------------------------------------- validated loads
def test_truncated_files(saved, tmp_path):
    data = saved.read_bytes()
    for keep in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        target = tmp_path / f"cut-{keep}.hsmcy"
        target.write_bytes(data[:keep])
        for mmap in (None, "r"):
            with pytest.raises(ValueError, match="model file"):
                hsmcy.Word2Vec.load(target, mmap=mmap)


def _member_data_span(path, member):
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        info = archive.getinfo(member)
        start = persistence._member_data_offset(raw, info)
    return start, start + info.file_size


@pytest.mark.parametrize("member", ["input_vectors.npy", "syn1.npy", "path_nodes.npy", "counts.npy",
                                    "words_utf8.npy", "metadata.json"])
def test_flipped_byte_in_any_member_is_detected(saved, tmp_path, member):
    start, end = _member_data_span(saved, member)
    data = bytearray(saved.read_bytes())
    data[(start + end) // 2] ^= 0x41
    target = tmp_path / "flipped.hsmcy"
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model file") as caught:
        hsmcy.Word2Vec.load(target)
    # the zip CRC names the damaged member
    assert member.split(".")[0] in str(caught.value) or "Bad CRC" in str(caught.value)


def test_flipped_tree_byte_is_caught_even_when_memory_mapped(model, saved, tmp_path):
    # mmap='r' maps the weights only: the tree is read through the zip module, so its CRC is
    # checked (and a valid CRC over a bad id is caught by the tree validation, see below)
    _, end = _member_data_span(saved, "path_nodes.npy")
    data = bytearray(saved.read_bytes())
    data[end - 1] ^= 0x7F  # high byte of the last int32 node id
    target = tmp_path / "flipped.hsmcy"
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="array 'path_nodes' is unreadable .*Bad CRC"):
        hsmcy.Word2Vec.load(target, mmap="r")


@pytest.fixture
def arrays(model):
    return {"input_vectors": model.wv.vectors, "syn1": model.syn1, "counts": model.wv.expandos["count"],
            "path_nodes": model.tree.path_nodes, "path_codes": model.tree.path_codes,
            "path_offsets": model.tree.path_offsets}


def _corrupt(name, arrays):
    array = np.array(arrays[name.split(":")[0]])
    if name == "input_vectors:shape":
        return "input_vectors", array[:-1]
    if name == "input_vectors:width":
        return "input_vectors", np.ascontiguousarray(array[:, :-1])
    if name == "input_vectors:dtype":
        return "input_vectors", array.astype(np.float64)
    if name == "syn1:shape":
        return "syn1", array[:-3]
    if name == "path_nodes":
        array[len(array) // 2] = np.int32(2 ** 20)
    elif name == "path_nodes:negative":
        return "path_nodes", np.where(np.arange(len(array)) == 3, -1, array).astype(np.int32)
    elif name == "path_codes":
        array[len(array) // 2] = 2
    elif name == "path_codes:dtype":
        return "path_codes", array.astype(np.float64)
    elif name == "path_offsets":
        array[len(array) // 2] = array[-1] + 5
    elif name == "counts":
        array[4] = -1
    elif name == "input_vectors":
        array[3, 2] = np.nan
    elif name == "syn1":
        array[0, 0] = np.inf
    return name.split(":")[0], array


@pytest.mark.parametrize("corruption, message", [
    ("input_vectors:shape", r"input_vectors must be float32 \("),
    ("input_vectors:width", r"input_vectors must be float32 \("),
    ("input_vectors:dtype", r"input_vectors must be float32"),
    ("syn1:shape", r"syn1 must be float32"),
    ("path_nodes", r"path_nodes must lie in \[0, "),
    ("path_nodes:negative", r"path_nodes must lie in \[0, "),
    ("path_codes", r"path_codes must be 0 or 1"),
    ("path_codes:dtype", r"path_codes must be a 1-D uint8 array"),
    ("path_offsets", r"path_offsets must start at 0, never decrease"),
    ("counts", r"counts holds negative values"),
    ("input_vectors", r"input_vectors holds NaN or infinite values"),
    ("syn1", r"syn1 holds NaN or infinite values"),
])
@pytest.mark.parametrize("mmap", [None, "r"])
def test_each_corruption_gets_an_error_naming_it(saved, tmp_path, arrays, corruption, message, mmap):
    name, array = _corrupt(corruption, arrays)
    target = tmp_path / "corrupt.hsmcy"
    replace_array(saved, target, name, array)
    with pytest.raises(ValueError, match=message):
        hsmcy.Word2Vec.load(target, mmap=mmap)


def test_array_not_matching_its_declaration(saved, tmp_path, arrays):
    target = tmp_path / "undeclared.hsmcy"
    replace_array(saved, target, "syn1", arrays["syn1"][:-1], declare=False)
    with pytest.raises(ValueError, match="array 'syn1' is <f4 .* metadata says"):
        hsmcy.Word2Vec.load(target)


def test_header_declaring_more_data_than_stored(saved, tmp_path):
    # An .npy header claiming a terabyte must be refused before anything is allocated.
    header, members = read_archive(saved)
    data = members["syn1.npy"]
    fake = npy_bytes(np.zeros((1, 1), dtype=np.float32))
    fake_header = fake[:fake.index(b"}") + 1].replace(b"(1, 1)", b"(1000000000, 1000)")
    fake_header = fake_header.ljust(len(fake) - 4 - 1, b" ") + b"\n"
    members["syn1.npy"] = fake_header + data[-4:]
    write_archive(tmp_path / "huge.hsmcy", header, members)
    for mmap in (None, "r"):
        with pytest.raises(ValueError, match="array 'syn1'.*declares"):
            hsmcy.Word2Vec.load(tmp_path / "huge.hsmcy", mmap=mmap)


@pytest.mark.parametrize("descr", [b"(,)", b"(,f"])
def test_header_with_an_unparsable_dtype(saved, tmp_path, descr):
    # numpy parses a dtype string like "(2,)f4" with ast.literal_eval: a corrupted
    # one raised SyntaxError out of load() (found by fuzz/fuzz_loader.py).
    header, members = read_archive(saved)
    assert members["syn1.npy"].count(b"'<f4'") == 1
    members["syn1.npy"] = members["syn1.npy"].replace(b"'<f4'", b"'" + descr + b"'")   # same length
    write_archive(tmp_path / "dtype.hsmcy", header, members)
    for mmap in (None, "r"):
        with pytest.raises(ValueError, match="array 'syn1' is unreadable"):
            hsmcy.Word2Vec.load(tmp_path / "dtype.hsmcy", mmap=mmap)


@pytest.mark.parametrize("change, message", [
    ({"vector_size": "big"}, "invalid parameters"),
    ({"vector_size": 0}, "invalid parameters"),
    ({"corpus_count": -3}, "corpus_count"),
    ({"total_train_time": "long"}, "total_train_time"),
])
def test_bad_metadata_values(saved, tmp_path, change, message):
    header, members = read_archive(saved)
    header["metadata"].update(change)
    write_archive(tmp_path / "bad.hsmcy", header, members)
    with pytest.raises(ValueError, match=message):
        hsmcy.Word2Vec.load(tmp_path / "bad.hsmcy")


def test_missing_parameter_or_array(saved, tmp_path):
    header, members = read_archive(saved)
    del header["metadata"]["window"]
    write_archive(tmp_path / "a.hsmcy", header, members)
    with pytest.raises(ValueError, match="metadata lacks 'window'"):
        hsmcy.Word2Vec.load(tmp_path / "a.hsmcy")
    header, members = read_archive(saved)
    del members["syn1.npy"]
    write_archive(tmp_path / "b.hsmcy", header, members)
    with pytest.raises(ValueError, match="missing array 'syn1'"):
        hsmcy.Word2Vec.load(tmp_path / "b.hsmcy")


def test_bad_words(saved, tmp_path):
    header, members = read_archive(saved)
    blob = bytearray(np.lib.format.read_array(io.BytesIO(members["words_utf8.npy"])))
    blob[0] = 0xFF  # invalid UTF-8
    members["words_utf8.npy"] = npy_bytes(np.frombuffer(bytes(blob), dtype=np.uint8))
    write_archive(tmp_path / "utf8.hsmcy", header, members)
    with pytest.raises(ValueError, match="words: not valid UTF-8"):
        hsmcy.Word2Vec.load(tmp_path / "utf8.hsmcy")
    header, members = read_archive(saved)
    offsets = np.lib.format.read_array(io.BytesIO(members["words_offsets.npy"]))
    offsets[1], offsets[2] = offsets[2], offsets[1]  # decreasing
    members["words_offsets.npy"] = npy_bytes(offsets)
    write_archive(tmp_path / "offsets.hsmcy", header, members)
    with pytest.raises(ValueError, match="words: offsets are inconsistent"):
        hsmcy.Word2Vec.load(tmp_path / "offsets.hsmcy")


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"PK\x03\x04" + b"\0" * 100])
def test_not_a_model_file(tmp_path, content):
    path = tmp_path / "junk.hsmcy"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an hsmcy model file"):
        hsmcy.Word2Vec.load(path)


def test_missing_file_or_directory(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a file"):
        hsmcy.Word2Vec.load(tmp_path / "nothing-here")
    with pytest.raises(ValueError, match="does not exist or is not a file"):
        hsmcy.Word2Vec.load(tmp_path)


def test_loaded_model_trains_and_saves_again(lee_sentences, saved, tmp_path):
    loaded = hsmcy.Word2Vec.load(saved)
    loaded.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
    loaded.save(tmp_path / "again.hsmcy")
    assert_same_model(loaded, hsmcy.Word2Vec.load(tmp_path / "again.hsmcy"))


# ====================================================== issue 19: files that change, bombs, silent acceptance
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE_PARENT = str(Path(hsmcy.__file__).resolve().parent.parent)
TESTS = str(Path(__file__).resolve().parent)


def run_python(code, *arguments, timeout=180):
    """Run ``code`` in a fresh interpreter importing this hsmcy: a crash (SIGSEGV, SIGBUS) is a return code."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, TESTS, os.environ.get("PYTHONPATH", "")]))
    # cwd is the tests folder: ``python -c`` puts the working directory first on sys.path, and
    # the project root's source folder (no compiled modules when installed) must not shadow it.
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, arguments)], env=env,
                          cwd=TESTS, capture_output=True, text=True, timeout=timeout)


def _is_mapped(array):
    """True if ``array``'s memory belongs to a memory map (directly or through views)."""
    import mmap as mmap_module

    while array is not None:
        if isinstance(array, (np.memmap, mmap_module.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


# ---------------------------------------------------------------- class 1: a mapped file changed after loading
def test_mmap_maps_the_weights_only(saved):
    mapped = hsmcy.Word2Vec.load(saved, mmap="r")
    assert _is_mapped(mapped.wv.vectors) and _is_mapped(mapped.syn1)
    for array in (mapped.tree.path_nodes, mapped.tree.path_codes, mapped.tree.path_offsets,
                  mapped.wv.expandos["count"]):
        assert not _is_mapped(array), "a kernel indexes by this array: it must not change after validation"


_OVERWRITE_AND_QUERY = """
    import os, sys, zipfile, numpy as np
    import hsmcy
    from hsmcy import persistence
    from safety_helpers import synthetic_sentences

    path, mode = sys.argv[1], sys.argv[2]
    words = [f"w{i}" for i in range(40)]
    model = hsmcy.Word2Vec(synthetic_sentences(200, 10, 60, seed=1), vector_size=8, min_count=1, epochs=1,
                           workers=2)
    model.save(path)
    layer = hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts(np.arange(1, 30)), dim=8)
    layer.save(path + ".layer")
    texts = [" ".join(words[i:i + 5]) for i in range(30)]
    classifier = hsmcy.HSClassifier(dim=8, epochs=1, workers=1, word_ngrams=2, bucket=50).fit(texts, words[:30])
    classifier.save(path + ".classifier")
    mapped = hsmcy.Word2Vec.load(path, mmap="r")
    mapped_layer = hsmcy.HierarchicalSoftmax.load(path + ".layer", mmap="r")
    mapped_classifier = hsmcy.HSClassifier.load(path + ".classifier", mmap="r")

    def overwrite(target):
        # in place, same size: what `dd conv=notrunc` or a program writing into the file does
        size = os.path.getsize(target)
        with open(target, "r+b") as handle:
            if mode == "random":
                handle.write(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
                return
            with zipfile.ZipFile(target) as archive:
                for info in archive.infolist():
                    start = persistence._member_data_offset(handle, info) + 128   # past the .npy header
                    n = (info.file_size - 128) // 4
                    if info.filename.endswith(".npy") and n > 0:
                        handle.seek(start)
                        fill = np.full(n, np.nan if mode == "nan" else -1, dtype=np.float32 if mode == "nan"
                                       else np.int32)
                        handle.write(fill.tobytes())
        assert os.path.getsize(target) == size

    for target in (path, path + ".layer", path + ".classifier"):
        overwrite(target)
    H = np.ones((3, 8), dtype=np.float32)
    calls = {
        "predict_output_word": lambda: mapped.predict_output_word(words[:3], topn=5),
        "predict_proba": lambda: mapped.predict_proba(words[:3]),
        "log_prob": lambda: mapped.log_prob(words[0], words[1:3]),
        "score": lambda: mapped.score([words[:6], words[3:9]]),
        "score_words": lambda: mapped.score_words([words[:6]]),
        "most_similar": lambda: mapped.wv.most_similar(words[0], topn=3),
        "predict_output_word_ids": lambda: mapped.predict_output_word_ids(np.array([[0, 1, -1]]), topn=4),
        "log_prob_ids": lambda: mapped.log_prob_ids(np.array([0, 2]), np.array([[1, -1], [3, 4]])),
        "layer.predict": lambda: mapped_layer.predict(H, 3),
        "layer.predict_proba": lambda: mapped_layer.predict_proba(H),
        "layer.log_prob": lambda: mapped_layer.log_prob(H, [0, 1, 2]),
        "layer.sample": lambda: mapped_layer.sample(H, rng=1),
        "classifier.predict_top": lambda: mapped_classifier.predict_top(texts[:4], k=3),
        "classifier.predict_proba": lambda: mapped_classifier.predict_proba(texts[:4]),
        "classifier.score": lambda: mapped_classifier.score(texts[:4], words[:4]),
    }
    for name, call in calls.items():
        try:
            call()
            print(name, "answered")
        except (ValueError, FloatingPointError) as error:
            print(name, "refused:", error)
"""


@pytest.mark.parametrize("mode", ["random", "nan", "minus-one"])
def test_file_overwritten_in_place_after_mmap_load_cannot_crash_queries(tmp_path, mode):
    """A model loaded with mmap='r' whose file is then overwritten in place answers garbage or refuses,
    but never crashes: the tree, words and counts were copied at load; only the weights are mapped."""
    result = run_python(_OVERWRITE_AND_QUERY, tmp_path / "model.hsmcy", mode)
    assert result.returncode == 0, f"return code {result.returncode}:\n{result.stderr[-3000:]}"
    answered = [line for line in result.stdout.splitlines() if line.split()[1] in ("answered", "refused:")]
    assert len(answered) == 15, result.stdout


def test_saving_over_a_memory_mapped_model_leaves_the_mapping_intact(lee_sentences, model, saved):
    """hsmcy's own save writes a new file and renames it: a process that mapped the old one keeps it."""
    mapped = hsmcy.Word2Vec.load(saved, mmap="r")
    before = np.array(mapped.wv.vectors)
    word = model.wv.index_to_key[3]
    expected = mapped.predict_output_word([word], topn=3)
    small_model(lee_sentences, seed=99, vector_size=4).save(saved)   # another shape entirely
    np.testing.assert_array_equal(mapped.wv.vectors, before)
    assert mapped.predict_output_word([word], topn=3) == expected
    assert hsmcy.Word2Vec.load(saved).vector_size == 4


# ---------------------------------------------------------------- class 3: resource bombs
def _rewrite(source, target, compress=(), extra=None, header_change=None):
    """Copy archive ``source`` to ``target``: members named in ``compress`` deflated; ``extra`` members
    (name -> (bytes or size of zeros, compression)) added; ``header_change(header)`` applied."""
    header, members = read_archive(source)
    if header_change:
        header_change(header)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(zipfile.ZipInfo("metadata.json"), json.dumps(header),
                         compress_type=zipfile.ZIP_DEFLATED if "metadata.json" in compress else zipfile.ZIP_STORED)
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data,
                             compress_type=zipfile.ZIP_DEFLATED if name in compress else zipfile.ZIP_STORED)
        for name, (data, compression) in (extra or {}).items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            with archive.open(info, "w", force_zip64=True) as member:
                if isinstance(data, bytes):
                    member.write(data)
                else:
                    chunk = bytes(1 << 20)
                    for _ in range(data >> 20):
                        member.write(chunk)


@pytest.mark.parametrize("member", ["syn1.npy", "path_nodes.npy", "metadata.json"])
def test_compressed_members_are_refused_before_inflating(saved, tmp_path, member):
    target = tmp_path / "deflated.hsmcy"
    _rewrite(saved, target, compress={member})
    for mmap in (None, "r"):
        with pytest.raises(ValueError, match=rf"member '{member}' is compressed.*re-save"):
            hsmcy.Word2Vec.load(target, mmap=mmap)


_PEAK_RSS_OF_LOAD = """
    import json, sys
    import hsmcy

    def status(field):
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field + ":"))

    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")   # VmHWM = VmRSS now
    baseline = status("VmRSS")
    outcome = {}
    for mmap in (None, "r"):
        try:
            hsmcy.Word2Vec.load(sys.argv[1], mmap=mmap)
            outcome[str(mmap)] = "loaded"
        except ValueError as error:
            outcome[str(mmap)] = str(error)
    print(json.dumps({"growth": status("VmHWM") - baseline, "outcome": outcome}))
"""


@pytest.mark.parametrize("bomb", ["declared array nobody uses", "undeclared member", "metadata.json"])
def test_a_small_file_cannot_make_load_allocate_much(saved, tmp_path, bomb):
    """A deflated member of 96 MiB of zeros is 96 KiB in the file; loading neither inflates nor reads it."""
    target = tmp_path / "bomb.hsmcy"
    size = 96 << 20
    if bomb == "metadata.json":
        header, members = read_archive(saved)
        header["padding"] = " " * 16
        padded = json.dumps(header).replace(' "padding": "' + " " * 16, ' "padding": "' + " " * size)
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(zipfile.ZipInfo("metadata.json"), padded, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in members.items():
                archive.writestr(name, data)
    else:
        def declare(header):
            if bomb == "declared array nobody uses":
                header["arrays"]["unused"] = {"dtype": "<f4", "shape": [size // 4]}
        _rewrite(saved, target, header_change=declare, extra={"unused.npy": (size, zipfile.ZIP_DEFLATED)})
    assert target.stat().st_size < 2 << 20
    result = run_python(_PEAK_RSS_OF_LOAD, target)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["growth"] < 40 << 20, report
    for outcome in report["outcome"].values():
        if bomb == "metadata.json":
            assert "metadata.json' is compressed" in outcome
        else:
            assert outcome == "loaded"  # the extra member is never opened


def test_member_claiming_more_bytes_than_the_file_has_is_refused(saved, tmp_path):
    """A central directory that declares a member far larger than the file is caught before reading."""
    import struct

    header, members = read_archive(saved)
    write_archive(tmp_path / "plain.hsmcy", header, members)   # no zip64 records: sizes in the header itself
    data = bytearray((tmp_path / "plain.hsmcy").read_bytes())
    record = data.index(b"PK\x01\x02")
    while data[record + 46:record + 46 + struct.unpack("<H", data[record + 28:record + 30])[0]] != b"counts.npy":
        record = data.index(b"PK\x01\x02", record + 4)
    data[record + 20:record + 28] = struct.pack("<II", 0x7FFFFFF0, 0x7FFFFFF0)   # compressed, uncompressed size
    target = tmp_path / "longer.hsmcy"
    target.write_bytes(bytes(data))
    for mmap in (None, "r"):
        with pytest.raises(ValueError, match=r"array 'counts' is unreadable \(member 'counts.npy' runs past the end"):
            hsmcy.Word2Vec.load(target, mmap=mmap)


def test_metadata_above_the_ceiling_is_refused(saved, monkeypatch):
    monkeypatch.setattr(persistence, "_MAX_METADATA_BYTES", 1000)
    with pytest.raises(ValueError, match=r"unreadable metadata.json .*more than"):
        hsmcy.Word2Vec.load(saved)


@pytest.mark.parametrize("workers", [10 ** 9, 1025, 0, -1, "3", 2.0, None])
def test_workers_from_a_file_are_bounded(saved, tmp_path, workers):
    header, members = read_archive(saved)
    header["metadata"]["workers"] = workers
    write_archive(tmp_path / "workers.hsmcy", header, members)
    with pytest.raises(ValueError, match=r"invalid parameters \(workers must be"):
        hsmcy.Word2Vec.load(tmp_path / "workers.hsmcy")


def test_workers_of_a_saved_training_state_are_bounded(lee_sentences, tmp_path):
    """resume_training() starts one worker per saved random stream: their number is bounded too."""
    from hsmcy.callbacks import Checkpoint

    model = small_model(lee_sentences, epochs=1)
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2,
                callbacks=[Checkpoint(tmp_path / "state-{epoch}.hsmcy")])
    header, members = read_archive(tmp_path / "state-1.hsmcy")   # after epoch 1 of 2: an unfinished run
    state = header["metadata"]["training_state"]
    assert state is not None
    write_archive(tmp_path / "fine.hsmcy", header, members)
    assert hsmcy.Word2Vec.load(tmp_path / "fine.hsmcy").training_state == state
    state["rng_states"], state["loss_per_worker"] = [1] * 5000, [0.0] * 5000
    write_archive(tmp_path / "many.hsmcy", header, members)
    with pytest.raises(ValueError, match=r"training_state\['rng_states'\] must be a list of 1 to 1024"):
        hsmcy.Word2Vec.load(tmp_path / "many.hsmcy")


def _classifier_and_layer(tmp_path):
    texts = ["a b c", "b c d", "c d e", "d e f"] * 5
    classifier = hsmcy.HSClassifier(dim=4, epochs=1, workers=1, word_ngrams=2, bucket=16).fit(
        texts, ["x", "y", "z", "x"] * 5)
    classifier.save(tmp_path / "classifier.hsmcy")
    layer = hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([5, 4, 3, 2]), dim=4)
    layer.save(tmp_path / "layer.hsmcy")
    return classifier, layer


@pytest.mark.parametrize("what, change, message", [
    ("layer", {"dim": 10 ** 9}, r"inner_node_vectors must be float32 \(3, 1000000000\)"),
    ("classifier", {"word_ngrams": 10 ** 9}, "word_ngrams must be at most 100"),
    ("classifier", {"bucket": 10 ** 12}, r"input_vectors must be float32"),
    ("classifier", {"dim": 10 ** 9}, r"input_vectors must be float32"),
    ("layer", {"workers": 10 ** 9}, None),        # allowed, as by the constructors: threads <= rows
    ("classifier", {"workers": 10 ** 9}, None),
])
def test_classifier_and_layer_parameters_from_a_file_are_bounded(tmp_path, what, change, message):
    """Sizes come from the arrays (checked before allocating anything); absurd worker counts cost nothing."""
    import time

    _classifier_and_layer(tmp_path)
    path = tmp_path / f"{what}.hsmcy"
    header, members = read_archive(path)
    (header["metadata"]["params"] if what == "classifier" else header["metadata"]).update(change)
    write_archive(tmp_path / "bad.hsmcy", header, members)
    load = hsmcy.HSClassifier.load if what == "classifier" else hsmcy.HierarchicalSoftmax.load
    if message is not None:
        with pytest.raises(ValueError, match=message):
            load(tmp_path / "bad.hsmcy")
        return
    started = time.perf_counter()
    loaded = load(tmp_path / "bad.hsmcy")
    if what == "layer":
        loaded.predict(np.ones((50, 4), dtype=np.float32), 2)
    else:
        loaded.predict_top(["a b c"] * 50, k=2)
    assert time.perf_counter() - started < 10


# ---------------------------------------------------------------- class 4: silent acceptance
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_layer_and_classifier_refuse_to_save_what_load_would_refuse(tmp_path, value):
    classifier, layer = _classifier_and_layer(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in ("classifier.hsmcy", "layer.hsmcy")}
    layer.inner_node_vectors[1, 2] = value
    with pytest.raises(ValueError, match="refusing to save a diverged layer: inner_node_vectors holds NaN"):
        layer.save(tmp_path / "layer.hsmcy")
    classifier.input_vectors_[0, 0] = value
    with pytest.raises(ValueError, match="refusing to save a diverged model: input_vectors holds NaN"):
        classifier.save(tmp_path / "classifier.hsmcy")
    for name, data in before.items():
        assert (tmp_path / name).read_bytes() == data
    assert _temporary_files(tmp_path) == []


def _fortran_copy(path, target, names):
    header, members = read_archive(path)
    for name in names:
        array = np.lib.format.read_array(io.BytesIO(members[name + ".npy"]))
        members[name + ".npy"] = npy_bytes(np.asfortranarray(array))
        assert b"'fortran_order': True" in members[name + ".npy"] or array.ndim < 2 or min(array.shape) < 2
    write_archive(target, header, members)


@pytest.mark.parametrize("what", ["word2vec", "layer", "classifier"])
def test_fortran_ordered_weights_load_in_row_order_or_are_refused_when_mapped(model, saved, tmp_path, what):
    classifier, layer = _classifier_and_layer(tmp_path)
    source, names, load, original = {
        "word2vec": (saved, ["input_vectors", "syn1"], hsmcy.Word2Vec.load, model),
        "layer": (tmp_path / "layer.hsmcy", ["inner_node_vectors"], hsmcy.HierarchicalSoftmax.load, layer),
        "classifier": (tmp_path / "classifier.hsmcy", ["input_vectors", "inner_node_vectors"],
                       hsmcy.HSClassifier.load, classifier),
    }[what]
    target = tmp_path / "fortran.hsmcy"
    _fortran_copy(source, target, names)
    loaded = load(target)
    if what == "word2vec":
        weights = [loaded.wv.vectors, loaded.syn1]
        word = model.wv.index_to_key[2]
        assert loaded.predict_output_word([word], topn=3) == model.predict_output_word([word], topn=3)
    elif what == "layer":
        weights = [loaded.inner_node_vectors]
        H = np.ones((2, 4), dtype=np.float32)
        np.testing.assert_array_equal(loaded.predict_proba(H), original.predict_proba(H))
    else:
        weights = [loaded.input_vectors_, loaded.inner_node_vectors_]
        np.testing.assert_array_equal(loaded.predict_proba(["a b", "e f"]), original.predict_proba(["a b", "e f"]))
    assert all(array.flags.c_contiguous for array in weights)
    with pytest.raises(ValueError, match=r"stored in Fortran \(column\) order.*load without mmap"):
        load(target, mmap="r")
