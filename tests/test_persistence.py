"""hsmcy's own format: round trips, no pickle, mmap, validation on load."""
import numpy as np
import pytest

import hsmcy


@pytest.fixture(scope="module")
def trained(lee_sentences_module):
    return hsmcy.Word2Vec(lee_sentences_module, vector_size=12, epochs=1, workers=2, compute_loss=True)


@pytest.fixture(scope="module")
def lee_sentences_module():
    from gensim.test.utils import datapath
    with open(datapath("lee_background.cor"), encoding="utf-8") as handle:
        return [line.split() for line in handle if line.split()]


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "model.hsmcy"
    trained.save(path)
    loaded = hsmcy.Word2Vec.load(path)
    assert loaded.wv.index_to_key == trained.wv.index_to_key
    np.testing.assert_array_equal(loaded.wv.vectors, trained.wv.vectors)
    np.testing.assert_array_equal(loaded.syn1, trained.syn1)
    np.testing.assert_array_equal(loaded.tree.path_nodes, trained.tree.path_nodes)
    np.testing.assert_array_equal(loaded.wv.expandos["count"], trained.wv.expandos["count"])
    for name in ("vector_size", "window", "sg", "alpha", "min_count", "sample", "epochs"):
        assert getattr(loaded, name) == getattr(trained, name)
    assert loaded.get_latest_training_loss() == trained.get_latest_training_loss()


def test_loaded_model_keeps_training(trained, lee_sentences_module, tmp_path):
    path = tmp_path / "model.hsmcy"
    trained.save(path)
    loaded = hsmcy.Word2Vec.load(path)
    before = loaded.wv.vectors.copy()
    loaded.train(lee_sentences_module, epochs=1)
    assert not np.array_equal(before, loaded.wv.vectors)


def test_file_holds_no_pickle(trained, tmp_path):
    import zipfile
    path = tmp_path / "model.hsmcy"
    trained.save(path)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".npy"):
                with archive.open(name) as member:
                    np.lib.format.read_array(member, allow_pickle=False)  # raises if pickled


def test_mmap_load_is_read_only_and_refuses_training(trained, lee_sentences_module, tmp_path):
    path = tmp_path / "model.hsmcy"
    trained.save(path)
    mapped = hsmcy.Word2Vec.load(path, mmap="r")
    assert isinstance(mapped.wv.vectors, np.memmap)
    np.testing.assert_array_equal(mapped.wv.vectors, trained.wv.vectors)
    assert mapped.wv.most_similar("government", topn=2) == trained.wv.most_similar("government", topn=2)
    with pytest.raises(ValueError, match="read-only"):
        mapped.train(lee_sentences_module, epochs=1)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.hsmcy"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not an hsmcy model file"):
        hsmcy.Word2Vec.load(path)
    with pytest.raises(ValueError, match="does not exist"):
        hsmcy.Word2Vec.load(tmp_path / "missing.hsmcy")
