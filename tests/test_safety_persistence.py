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
