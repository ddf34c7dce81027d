"""Cost of the NaN/inf checks during training: words/s with the checks and with them switched off.

The per-batch check reads the top six levels of the tree (at most 63 rows of syn1)
and the worker's scratch vectors; the per-epoch check sums wv.vectors and syn1 in
float64 chunks.  Same process, alternating runs, medians of --repeats.

    python benchmarks/safety_overhead.py [--repeats 5] [--out benchmarks/results/safety_overhead.json]
"""
import argparse
import json
import os
import statistics
import time
import timeit

import numpy as np
from gensim.test.utils import datapath

import hsmcy
from hsmcy import _training

CHECKED = (_training.TrainingRun._check_finite_after_batch, _training.TrainingRun._check_finite_after_epoch)


def set_checks(enabled):
    if enabled:
        _training.TrainingRun._check_finite_after_batch, _training.TrainingRun._check_finite_after_epoch = CHECKED
    else:
        _training.TrainingRun._check_finite_after_batch = lambda *args: None
        _training.TrainingRun._check_finite_after_epoch = lambda *args: None


def words_per_second(sentences, sg, enabled):
    set_checks(enabled)
    model = hsmcy.Word2Vec(vector_size=100, min_count=5, workers=2, sg=sg, epochs=3)
    model.build_vocab(sentences)
    started = time.perf_counter()
    _, seen = model.train(sentences, total_examples=len(sentences), epochs=3)
    return seen / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "safety_overhead.json"))
    args = parser.parse_args()
    with open(datapath("lee_background.cor")) as handle:
        sentences = [line.split() for line in handle] * 4
    results = {}
    for sg in (0, 1):
        rates = {True: [], False: []}
        for _ in range(args.repeats):
            for enabled in (True, False):
                rates[enabled].append(words_per_second(sentences, sg, enabled))
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        results["sg" if sg else "cbow"] = {"words_per_s_checked": on, "words_per_s_unchecked": off, "ratio": on / off}
        print(f"{'sg' if sg else 'cbow'}: {on:,.0f} words/s with checks, {off:,.0f} without, ratio {on / off:.3f}")
    set_checks(True)
    model = hsmcy.Word2Vec(sentences, vector_size=100, min_count=5, workers=1, epochs=1)
    run = _training.TrainingRun(
        corpus=hsmcy.corpus.encode_iterable(sentences, model.wv.key_to_index), input_vectors=model.wv.vectors,
        syn1=model.syn1, tree=model.tree, keep_probability=model._keep_probability, sg=0, window=5,
        shrink_windows=True, cbow_mean=1, epochs=1, start_alpha=0.025, end_alpha=0.0001, workers=1,
        batch_words=10000, compute_loss=False, seed=1)
    worker = run._make_workers()[0]
    per_batch = timeit.timeit(lambda: run._check_finite_after_batch(0, 0, 0.0, worker), number=20000) / 20000
    big = np.zeros((1_000_000, 300), dtype=np.float32)
    big += 1.0  # touch the pages
    per_array = min(timeit.repeat(lambda: _training.all_finite(big), number=1, repeat=3))
    results.update(per_batch_check_seconds=per_batch, per_epoch_check_seconds_per_1M_x_300_array=per_array)
    print(f"per-batch check: {per_batch * 1e6:.1f} us; per-epoch check: {per_array:.3f} s per 1,000,000 x 300 array")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
