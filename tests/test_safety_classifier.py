"""HSClassifier.fit under Ctrl-C and worker errors; classifier and layer files are validated on load."""
import _thread
import io
import threading
import time
import traceback

import numpy as np
import pytest
from safety_helpers import npy_bytes, read_archive, replace_array, synthetic_sentences, write_archive

from hsmcy import HierarchicalSoftmax, HSClassifier, HuffmanTree, _classifier
from conftest import live_threads



@pytest.fixture(scope="module")
def data():
    texts = [" ".join(tokens) for tokens in synthetic_sentences(30_000, 20, 3_000, seed=4)]
    labels = [f"label{len(text) % 97}" for text in texts]
    return texts, labels


def interrupt_once_training(delay=0.3):
    """Ctrl-C the main thread ``delay`` s after the classifier's worker threads appear."""
    fired = []

    def watch():
        deadline = time.perf_counter() + 60
        while not live_threads("hsmcy-classifier") and time.perf_counter() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        fired.append(time.perf_counter())
        _thread.interrupt_main()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher, fired


def test_ctrl_c_during_fit_stops_all_workers_within_a_second(data, tmp_path):
    texts, labels = data
    model = HSClassifier(dim=32, epochs=1000, workers=4, seed=3)
    watcher, fired = interrupt_once_training()
    with pytest.raises(KeyboardInterrupt) as caught:
        model.fit(texts, labels)
    stopped = time.perf_counter()
    watcher.join()
    assert fired and stopped - fired[0] < 1.0
    assert live_threads("hsmcy-classifier") == []
    note = " ".join(getattr(caught.value, "__notes__", []))
    assert "HSClassifier.fit stopped in epoch" in note
    # consistent: finite weights, predicts, saves and loads
    assert np.all(np.isfinite(model.input_vectors_)) and np.all(np.isfinite(model.inner_node_vectors_))
    labels_before, probabilities_before = model.predict_top(texts[:50], k=3)
    model.save(tmp_path / "interrupted.hsclf")
    loaded = HSClassifier.load(tmp_path / "interrupted.hsclf")
    labels_after, probabilities_after = loaded.predict_top(texts[:50], k=3)
    np.testing.assert_array_equal(labels_after, labels_before)
    np.testing.assert_array_equal(probabilities_after, probabilities_before)


def test_worker_exception_in_fit_is_reraised_with_its_traceback(data, monkeypatch):
    texts, labels = data
    calls = []
    real = _classifier.train_batch

    def failing(*args):
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError("simulated failure in a worker")
        return real(*args)

    monkeypatch.setattr(_classifier, "train_batch", failing)
    model = HSClassifier(dim=8, epochs=3, workers=3)
    with pytest.raises(MemoryError, match="simulated failure") as caught:
        model.fit(texts[:5000], labels[:5000])
    assert "failing" in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert live_threads("hsmcy-classifier") == []
    assert len(calls) < 20  # the other workers stopped instead of finishing the epochs


# ------------------------------------------------------------ classifier and layer files
@pytest.fixture(scope="module")
def saved_files(data, tmp_path_factory):
    texts, labels = data
    folder = tmp_path_factory.mktemp("files")
    classifier = HSClassifier(dim=6, epochs=1, workers=1).fit(texts[:500], labels[:500])
    classifier.save(folder / "c.hsclf")
    layer = HierarchicalSoftmax(HuffmanTree.from_counts([9, 4, 4, 2, 1]), 6)
    layer.save(folder / "l.hshs")
    return {"classifier": (HSClassifier, folder / "c.hsclf", "input_vectors"),
            "layer": (HierarchicalSoftmax, folder / "l.hshs", "inner_node_vectors")}


@pytest.mark.parametrize("kind", ["classifier", "layer"])
def test_nan_weights_out_of_range_nodes_and_object_arrays_are_refused(saved_files, tmp_path, kind):
    cls, path, vectors_name = saved_files[kind]
    header, members = read_archive(path)
    vectors = np.lib.format.read_array(io.BytesIO(members[vectors_name + ".npy"]))
    vectors[0, 0] = np.nan
    replace_array(path, tmp_path / "nan", vectors_name, vectors)
    with pytest.raises(ValueError, match=f"{vectors_name} holds NaN or infinite values"):
        cls.load(tmp_path / "nan")
    nodes = np.lib.format.read_array(io.BytesIO(members["path_nodes.npy"]))
    nodes[-1] = 10 ** 6
    replace_array(path, tmp_path / "nodes", "path_nodes", nodes)
    with pytest.raises(ValueError, match="path_nodes must lie in"):
        cls.load(tmp_path / "nodes")
    replace_array(path, tmp_path / "wide", "path_nodes", nodes.astype(np.int64))
    with pytest.raises(ValueError, match="path_nodes must be a 1-D int32 array"):
        cls.load(tmp_path / "wide")
    evil = np.empty(1, dtype=object)
    members["path_codes.npy"] = npy_bytes(evil, allow_pickle=True)
    write_archive(tmp_path / "evil", header, members)
    with pytest.raises(ValueError, match="object arrays are not allowed"):
        cls.load(tmp_path / "evil")


@pytest.mark.parametrize("kind", ["classifier", "layer"])
def test_malformed_metadata_is_a_value_error(saved_files, tmp_path, kind):
    cls, path, _ = saved_files[kind]
    header, members = read_archive(path)
    header["metadata"] = {"params": None} if kind == "classifier" else {"dim": "wide"}
    write_archive(tmp_path / "bad", header, members)
    with pytest.raises(ValueError, match="bad"):
        cls.load(tmp_path / "bad")


def test_one_label_classifier_and_one_class_layer(tmp_path):
    """A tree with one leaf: P(label) = 1, nothing to learn, nothing harmed."""
    model = HSClassifier(dim=4, epochs=3, workers=2).fit(["a b c", "b c d", "x"], ["only"] * 3)
    assert model.tree_.n_leaves == 1 and model.tree_.n_inner == 0
    np.testing.assert_array_equal(model.predict_proba(["a b", "never seen"]), [[1.0], [1.0]])
    assert not model.inner_node_vectors_.any()
    model.save(tmp_path / "one.hsclf")
    assert HSClassifier.load(tmp_path / "one.hsclf").predict(["b"]).tolist() == ["only"]
    layer = HierarchicalSoftmax(HuffmanTree.from_counts([3]), 4)
    np.testing.assert_array_equal(layer.predict_proba(np.ones((2, 4), dtype=np.float32)), [[1.0], [1.0]])
