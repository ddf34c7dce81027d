"""Memory: estimate_memory against measured peak RSS, and training without copying the weight arrays."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hsmcy

PROBE = Path(__file__).resolve().parent / "memory_probe.py"


def write_corpus(path, vocab_size, n_tokens, per_line, seed=0):
    """Every word at least once, then Zipf-distributed tokens, ``per_line`` per sentence."""
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.arange(vocab_size), rng.zipf(1.2, n_tokens - vocab_size) % vocab_size])
    rng.shuffle(ids)
    words = [f"w{i}" for i in range(vocab_size)]
    with open(path, "w") as handle:
        for start in range(0, len(ids), per_line):
            handle.write(" ".join(map(words.__getitem__, ids[start:start + per_line].tolist())) + "\n")


def probe(path, vector_size, workers=2, epochs=1):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(hsmcy.__file__).resolve().parent.parent),
                                         env.get("PYTHONPATH", "")])
    output = subprocess.run([sys.executable, str(PROBE), str(path), str(vector_size), str(workers), str(epochs)],
                            env=env, capture_output=True, text=True, timeout=600, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize("case", ["many words, wide vectors", "many tokens, few words"])
def test_estimate_matches_measured_peak_rss_within_20_percent(tmp_path, case):
    path = tmp_path / "corpus.txt"
    if case == "many words, wide vectors":
        write_corpus(path, vocab_size=100_000, n_tokens=600_000, per_line=15)
        result = probe(path, vector_size=200)
        assert result["estimate"]["vectors"] + result["estimate"]["syn1"] > result["estimate"]["total"] / 2
    else:
        write_corpus(path, vocab_size=5_000, n_tokens=5_000_000, per_line=20)
        result = probe(path, vector_size=32)
        parts = {k: v for k, v in result["estimate"].items() if k != "total"}
        assert max(parts, key=parts.get) == "encoded_corpus"
    ratio = result["estimate"]["total"] / result["peak_growth"]
    print(case, "estimate / measured peak growth =", round(ratio, 3), result)
    assert 0.8 <= ratio <= 1.2, result
    assert result["same_arrays"], "train() replaced or copied wv.vectors / syn1"


def test_large_vocabulary_trains_in_place():
    """The weight arrays keep their identity and data pointers through train() (no copy)."""
    vocab_size, vector_size = 200_000, 64
    words = [f"w{i}" for i in range(vocab_size)]
    model = hsmcy.Word2Vec(vector_size=vector_size, min_count=1, workers=2, sample=0)
    model.build_vocab_from_freq({word: vocab_size - i for i, word in enumerate(words)})
    vectors, syn1 = model.wv.vectors, model.syn1
    pointers = (vectors.__array_interface__["data"][0], syn1.__array_interface__["data"][0])
    rng = np.random.default_rng(0)
    sentences = [[words[i] for i in rng.integers(0, vocab_size, 30)] for _ in range(2000)]
    model.train(sentences, total_examples=len(sentences), epochs=1)
    assert model.wv.vectors is vectors and model.syn1 is syn1
    assert pointers == (model.wv.vectors.__array_interface__["data"][0], model.syn1.__array_interface__["data"][0])
    assert model.syn1.any()  # it did train
    estimate = model.estimate_memory()
    assert estimate["vectors"] == vectors.nbytes and estimate["syn1"] == syn1.nbytes


def test_estimate_memory_api(lee_sentences, tmp_path):
    model = hsmcy.Word2Vec(vector_size=10, min_count=2, workers=3)
    model.build_vocab(lee_sentences)
    report = {}
    returned = model.estimate_memory(report=report)
    assert returned is report and report["total"] == sum(v for k, v in report.items() if k != "total")
    assert report["encoded_corpus"] >= 4 * model.corpus_total_words - 4 * len(lee_sentences) * 50
    assert report["tree"] == len(model.tree.path_nodes) * 5 + (len(model.wv) + 1) * 8
    bigger = model.estimate_memory(vocab_size=1_000_000)
    assert bigger["vectors"] == 1_000_000 * 10 * 4 and bigger["total"] > report["total"]
    with pytest.raises(ValueError, match="vocab_size"):
        model.estimate_memory(vocab_size=0)
    buffered = hsmcy.Word2Vec(vector_size=10, min_count=2, corpus_buffer=str(tmp_path))
    buffered.build_vocab(lee_sentences)
    assert buffered.estimate_memory()["encoded_corpus"] == 0


def test_estimate_memory_counts_private_tree_rows(lee_sentences):
    from hsmcy import _training

    for sg in (0, 1):
        levels = _training.PRIVATE_ROWS.levels(3, sg, "fast")
        model = hsmcy.Word2Vec(vector_size=10, min_count=2, workers=3, sg=sg)
        model.build_vocab(lee_sentences)
        rows = min(2 ** levels - 1, len(model.wv) - 1)
        # Rows of 10 floats are padded to a whole cache line of 16.
        assert model.estimate_memory()["private_tree_rows"] == 3 * 2 * rows * 16 * 4 > 0
        # A big vocabulary: the slot table is full.
        assert model.estimate_memory(vocab_size=10 ** 6)["private_tree_rows"] == 3 * 2 * (2 ** levels - 1) * 64
        model.kernel = "blas"   # the pair-by-pair kernel shares every row
        assert model.estimate_memory()["private_tree_rows"] == 0
        one = hsmcy.Word2Vec(vector_size=10, min_count=2, workers=1, sg=sg)
        one.build_vocab(lee_sentences)
        assert one.estimate_memory()["private_tree_rows"] == 0
