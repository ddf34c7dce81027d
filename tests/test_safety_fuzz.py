"""Run the atheris fuzz targets in fuzz/ for a few seconds each (skipped without atheris).

A longer hunt: ``python fuzz/fuzz_loader.py SEEDS -max_total_time=600``.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safety_helpers import synthetic_sentences

import hsmcy

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
SECONDS = os.environ.get("HSMCY_FUZZ_SECONDS", "4")


def run_target(name, *arguments):
    env = dict(os.environ)
    # the fuzz target must import the same hsmcy as these tests (installed or source tree)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(hsmcy.__file__).resolve().parent.parent),
                                         env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, str(FUZZ / name), *map(str, arguments), f"-max_total_time={SECONDS}",
                             "-rss_limit_mb=4096", "-timeout=30", "-print_final_stats=1"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done" in result.stderr and "runs in" in result.stderr


@pytest.mark.skipif(not FUZZ.is_dir(), reason="fuzz/ is not next to tests/ (installed without the repository)")
def test_fuzz_loader(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    model = hsmcy.Word2Vec(synthetic_sentences(60, 8, 30, seed=2), vector_size=4, min_count=1, epochs=1, workers=1)
    model.save(seeds / "tiny.hsmcy")
    hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([5, 3, 2, 1]), dim=3).save(seeds / "layer.hsmcy")
    hsmcy.HSClassifier(dim=3, epochs=1, workers=1, word_ngrams=2, bucket=8).fit(
        ["a b", "b c", "c a"], ["x", "y", "x"]).save(seeds / "classifier.hsmcy")
    model.wv.save_word2vec_format(str(seeds / "vectors.txt"))  # foreign formats: the sniffer's seeds
    model.to_gensim().save(str(seeds / "gensim.model"))
    run_target("fuzz_loader.py", seeds)


@pytest.mark.skipif(not FUZZ.is_dir(), reason="fuzz/ is not next to tests/ (installed without the repository)")
def test_fuzz_corpus_reader(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "text.txt").write_bytes("the cat\r\nsat on\n\nthe mat caf\xe9\n".encode("latin-1") + b"\x00 a\n")
    run_target("fuzz_corpus.py", seeds)
