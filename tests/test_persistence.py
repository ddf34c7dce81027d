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


# ------------------------------------------------- one extension, one format (issue 23)
@pytest.mark.parametrize("extension, call", [(".model", "model.to_gensim().save"), (".kv", "model.wv.save("),
                                             (".txt", "save_word2vec_format"), (".vec", "save_word2vec_format"),
                                             (".BIN", "binary=True")])
def test_save_refuses_an_extension_of_another_format(trained, tmp_path, extension, call):
    path = tmp_path / f"model{extension}"
    with pytest.raises(ValueError, match=rf"extension {extension.lower()} means .* not hsmcy's format") as caught:
        trained.save(path)
    assert "model.hsmcy" in str(caught.value) and call in str(caught.value)
    assert not path.exists()
    trained.save(tmp_path / "model.ckpt")  # an extension that names no other format is fine
    assert hsmcy.Word2Vec.load(tmp_path / "model.ckpt").wv.index_to_key == trained.wv.index_to_key


def test_classifier_and_layer_saves_refuse_foreign_extensions(tmp_path):
    layer = hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([3, 2, 1]), dim=4)
    with pytest.raises(ValueError, match="extension .bin means word2vec binary"):
        layer.save(tmp_path / "layer.bin")
    classifier = hsmcy.HSClassifier(dim=4, epochs=1, workers=1).fit(["a b", "c d"], ["x", "y"])
    with pytest.raises(ValueError, match="extension .model means a gensim Word2Vec"):
        classifier.save(tmp_path / "classifier.model")
    assert list(tmp_path.iterdir()) == []


def test_load_of_a_gensim_model_names_the_converting_call(trained, tmp_path):
    path = tmp_path / "gensim_saved.model"
    trained.to_gensim().save(str(path))
    with pytest.raises(ValueError, match="not an hsmcy model file") as caught:
        hsmcy.Word2Vec.load(path)
    message = str(caught.value)
    assert "a gensim Word2Vec" in message
    assert f"hsmcy.Word2Vec.from_gensim(gensim.models.Word2Vec.load({str(path)!r}))" in message
    assert f"hsmcy convert {path} " in message
    # and the call it names works
    from gensim.models import Word2Vec as GensimWord2Vec
    converted = hsmcy.Word2Vec.from_gensim(GensimWord2Vec.load(str(path)))
    np.testing.assert_array_equal(converted.syn1, trained.syn1)


@pytest.mark.parametrize("writer, expected", [
    (lambda model, path: model.wv.save(str(path)), "gensim KeyedVectors"),
    (lambda model, path: model.wv.save_word2vec_format(str(path)), "word2vec text vectors"),
    (lambda model, path: model.wv.save_word2vec_format(str(path), binary=True), "word2vec binary vectors"),
])
def test_load_of_word_vectors_says_what_they_are(trained, tmp_path, writer, expected):
    path = tmp_path / "vectors"
    writer(trained, path)
    with pytest.raises(ValueError, match="not an hsmcy model file") as caught:
        hsmcy.Word2Vec.load(path)
    assert expected in str(caught.value) and "without the hierarchical-softmax tree" in str(caught.value)


def test_load_of_a_foreign_pickle_never_unpickles(tmp_path):
    import pickle

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.model"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(ValueError, match=r"a pickle of (io|builtins)\.open, not an hsmcy model file"):
        hsmcy.Word2Vec.load(path)
    assert not marker.exists()


def test_checkpoint_refuses_a_foreign_extension_before_training(tmp_path):
    from hsmcy.callbacks import Checkpoint

    with pytest.raises(ValueError, match="extension .model means a gensim Word2Vec"):
        Checkpoint(tmp_path / "run-{epoch}.model")
    assert Checkpoint(tmp_path / "run-{epoch}.hsmcy").path.endswith(".hsmcy")
