"""Helpers shared by the safety tests: small models, archive surgery, synthetic corpora."""
import io
import json
import zipfile

import numpy as np

import hsmcy


def small_model(sentences, **overrides):
    """A quick, deterministic model (one worker, few dimensions)."""
    parameters = dict(vector_size=12, min_count=3, epochs=1, workers=1, seed=7, sg=1, window=3)
    parameters.update(overrides)
    return hsmcy.Word2Vec(sentences, **parameters)


def read_archive(path):
    """(header dict, {member name: bytes}) of an hsmcy archive."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(members.pop("metadata.json")), members


def npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def write_archive(path, header, members):
    """Write a zip like hsmcy's (stored, metadata first) from raw member bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(header))
        for name, data in members.items():
            archive.writestr(name, data)


def replace_array(source, target, name, array, declare=True):
    """Copy archive ``source`` to ``target`` with array ``name`` replaced (and declared, if asked)."""
    header, members = read_archive(source)
    members[name + ".npy"] = npy_bytes(array)
    if declare:
        header["arrays"][name] = {"dtype": np.asarray(array).dtype.str, "shape": list(np.shape(array))}
    write_archive(target, header, members)


def synthetic_sentences(n_sentences, sentence_length, vocab_size, seed=0):
    """Zipf-ish random token lists over ``w0 .. w{vocab_size-1}``."""
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.3, size=n_sentences * sentence_length), vocab_size) - 1
    words = np.array([f"w{i}" for i in range(vocab_size)])
    tokens = words[ranks].reshape(n_sentences, sentence_length)
    return [list(row) for row in tokens]
