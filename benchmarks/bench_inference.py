"""Inference benchmarks: exact top-k versus the full distribution, and score() versus gensim.

1. Top-k: at V >= 50,000 classes (synthetic Huffman tree from Zipf counts, random
   weights), time ``HierarchicalSoftmax.predict(H, k=10)`` (best-first search) against
   ``predict_proba(H)`` (full distribution, top-down, one matrix product per block
   of rows).  How much the search can prune depends on how decisive the branches
   are, so the weights are scaled so that the dot products h . v have a chosen
   standard deviation: the one measured on a word2vec model trained on gensim's
   Lee corpus (``--measure-scale``), and a few fixed values around it.
2. score(): sentences/second of ``hsmcy.Word2Vec.score`` and of gensim's own
   ``score()`` on the model exported with ``to_gensim()``, workers 1 and 2, for
   skip-gram and CBOW: on a synthetic V = 50,000 model scoring sentences sampled
   from its Zipf unigram distribution, and on a model trained on the Lee corpus.
3. With ``--corpus FILE`` (e.g. the output of ``benchmarks/make_corpus.py``): a CBOW
   model trained on it (V ~ 56,000 at min_count 5 for the default corpus): top-k
   versus full distribution on real contexts, and score() on its first sentences.

Each timing is the median of ``--repeats`` runs, hsmcy and gensim interleaved in
the same process.  Writes JSON (``--out``) and prints a table.

    python benchmarks/bench_inference.py --vocab 50000 --repeats 5
"""
from __future__ import annotations

import os

# One BLAS thread: "workers=1" then means one core for every method compared (the
# full distribution's matrix products would otherwise use OpenBLAS threads too).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from gensim.models.word2vec import LineSentence  # noqa: E402
from gensim.test.utils import datapath  # noqa: E402

import hsmcy  # noqa: E402
from hsmcy import HierarchicalSoftmax, HuffmanTree  # noqa: E402


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def zipf_counts(vocab):
    """Zipf-like word counts, most frequent first (as a sorted word2vec vocabulary)."""
    return (1e7 / np.arange(1, vocab + 1) ** 1.05).astype(np.int64) + 1


def lee_model_and_contexts(vector_size, n_queries=2000):
    """A CBOW model trained on gensim's Lee corpus, and real contexts (window 5) from it as id rows."""
    sentences = list(LineSentence(datapath("lee_background.cor")))
    model = hsmcy.Word2Vec(sentences, vector_size=vector_size, min_count=2, epochs=10, workers=2, sg=0, seed=1)
    rng = np.random.default_rng(0)
    encoded = [[model.wv.key_to_index[w] for w in s if w in model.wv.key_to_index] for s in sentences]
    encoded = [s for s in encoded if len(s) > 1]
    contexts = np.full((n_queries, 10), -1, dtype=np.int64)
    for row in range(n_queries):
        sentence = encoded[rng.integers(len(encoded))]
        centre = int(rng.integers(len(sentence)))
        window = [w for j, w in enumerate(sentence[max(0, centre - 5):centre + 6], start=max(0, centre - 5))
                  if j != centre]
        contexts[row, :len(window)] = window
    return model, contexts


def corpus_model_and_contexts(path, vector_size, epochs, n_queries=2000, n_sentences=2000):
    """A CBOW model trained on ``path`` (min_count 5), real window-5 contexts, and sentences to score."""
    started = time.perf_counter()
    model = hsmcy.Word2Vec(corpus_file=path, vector_size=vector_size, min_count=5, epochs=epochs, workers=2, sg=0,
                           seed=1)
    print(f"  trained CBOW on {path}: V={len(model.wv)}, {epochs} epochs, {time.perf_counter() - started:.0f}s",
          flush=True)
    sentences = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if len(words) > 1:
                sentences.append(words)
            if len(sentences) >= n_sentences:
                break
    rng = np.random.default_rng(0)
    encoded = [[model.wv.key_to_index[w] for w in s if w in model.wv.key_to_index] for s in sentences]
    encoded = [s for s in encoded if len(s) > 1]
    contexts = np.full((n_queries, 10), -1, dtype=np.int64)
    for row in range(n_queries):
        sentence = encoded[rng.integers(len(encoded))]
        centre = int(rng.integers(len(sentence)))
        window = [w for j, w in enumerate(sentence[max(0, centre - 5):centre + 6], start=max(0, centre - 5))
                  if j != centre]
        contexts[row, :len(window)] = window
    return model, contexts, sentences


def dot_scale(model, contexts):
    """Standard deviation and largest |h . v| over all inner nodes, for the contexts' hidden vectors."""
    present = contexts >= 0
    hidden = (model.wv.vectors[np.where(present, contexts, 0)] * present[..., None]).sum(axis=1)
    hidden /= present.sum(axis=1, keepdims=True)
    dots = hidden[:200] @ model.inner_node_vectors.T
    return float(dots.std()), float(np.abs(dots).max())


def bench_model_top_k(label, model, contexts, k, repeats):
    """Top-k against the full distribution on a trained model with real contexts."""
    model.workers = 1
    full = median_time(lambda: model.predict_proba_ids(contexts), repeats)
    top = median_time(lambda: model.predict_output_word_ids(contexts, topn=k), repeats)
    rows = len(contexts)
    print(f"  top-{k} vs full, {label} CBOW model V={len(model.wv)}, real contexts, workers 1: "
          f"full {rows / full:9.0f} rows/s, top-k {rows / top:9.0f} rows/s, x{full / top:6.1f}", flush=True)
    return {"model": label, "vocab": len(model.wv), "rows": rows, "k": k, "full_distribution_s": full,
            "top_k_s": top, "speedup": full / top, "dot_std": dot_scale(model, contexts)[0]}


# ----------------------------------------------------------------- top-k
def bench_top_k(vocab, dim, rows, k, scales, repeats, workers_list):
    rng = np.random.default_rng(1)
    tree = HuffmanTree.from_counts(zipf_counts(vocab))
    hidden = rng.standard_normal((rows, dim)).astype(np.float32)
    base = rng.standard_normal((tree.n_inner, dim)).astype(np.float32)
    results = []
    for scale in scales:
        for workers in workers_list:
            layer = HierarchicalSoftmax(tree, dim, workers=workers)
            # h ~ N(0, I), so h . v ~ N(0, scale^2) when v ~ N(0, scale^2 / dim).
            layer.inner_node_vectors = base * np.float32(scale / np.sqrt(dim))
            layer.predict(hidden[:10], k)  # warm up
            full = median_time(lambda: layer.predict_proba(hidden), repeats)
            top = median_time(lambda: layer.predict(hidden, k), repeats)
            results.append({"dot_std": scale, "workers": workers, "rows": rows, "k": k,
                            "full_distribution_s": full, "top_k_s": top,
                            "full_rows_per_s": rows / full, "top_k_rows_per_s": rows / top, "speedup": full / top})
            print(f"  top-{k} vs full, V={vocab}, dot std {scale:4.1f}, workers {workers}: "
                  f"full {rows / full:9.0f} rows/s, top-k {rows / top:9.0f} rows/s, x{full / top:6.1f}", flush=True)
    return results


# ----------------------------------------------------------------- score()
def synthetic_model(vocab, dim, sg, rng):
    counts = zipf_counts(vocab)
    model = hsmcy.Word2Vec(vector_size=dim, sg=sg, window=5, min_count=1, workers=1, seed=2)
    model.build_vocab_from_freq({f"w{i}": int(c) for i, c in enumerate(counts)})
    model.wv.vectors[:] = rng.standard_normal(model.wv.vectors.shape).astype(np.float32) * np.float32(0.3)
    model.syn1[:] = rng.standard_normal(model.syn1.shape).astype(np.float32) * np.float32(0.3)
    return model, counts


def sampled_sentences(counts, n_sentences, length, rng):
    probabilities = counts / counts.sum()
    ids = rng.choice(len(counts), size=(n_sentences, length), p=probabilities)
    return [[f"w{i}" for i in row] for row in ids]


def bench_score(label, model, sentences, repeats, workers_list):
    exported = model.to_gensim()
    results = []
    for workers in workers_list:
        model.workers = exported.workers = workers
        model.score(sentences[:10])
        exported.score(sentences[:10], total_sentences=10)
        ours, theirs = [], []
        for _ in range(repeats):  # interleaved, so load changes hit both
            started = time.perf_counter()
            model.score(sentences)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            exported.score(sentences, total_sentences=len(sentences))
            theirs.append(time.perf_counter() - started)
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        n = len(sentences)
        results.append({"corpus": label, "sg": model.sg, "workers": workers, "sentences": n,
                        "tokens": sum(map(len, sentences)), "vocab": len(model.wv),
                        "hsmcy_sentences_per_s": n / ours_s, "gensim_sentences_per_s": n / theirs_s,
                        "ratio": theirs_s / ours_s})
        print(f"  score() {label:>16}, {'sg  ' if model.sg else 'cbow'}, workers {workers}: "
              f"hsmcy {n / ours_s:8.0f} sent/s, gensim {n / theirs_s:8.0f} sent/s, x{theirs_s / ours_s:5.2f}",
              flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--rows", type=int, default=500, help="hidden vectors per top-k timing")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--scales", type=float, nargs="*", default=[1.0, 4.0],
                        help="standard deviations of h . v to test (the Lee-measured one is added)")
    parser.add_argument("--sentences", type=int, default=2000, help="synthetic sentences to score")
    parser.add_argument("--sentence-length", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--corpus", help="also train a CBOW model (min_count 5) on this one-sentence-per-line file "
                        "(e.g. benchmarks/make_corpus.py output) and benchmark it")
    parser.add_argument("--corpus-epochs", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "inference.json"))
    args = parser.parse_args()

    print(f"hsmcy inference benchmark: V={args.vocab}, dim={args.dim}, repeats={args.repeats}", flush=True)
    lee_model, lee_contexts = lee_model_and_contexts(args.dim)
    lee_std, lee_max = dot_scale(lee_model, lee_contexts)
    print(f"  Lee-trained CBOW model (10 epochs), real contexts: std of h . v over all inner nodes = {lee_std:.2f} "
          f"(max |h . v| {lee_max:.1f})")
    model_top_k = [bench_model_top_k("Lee", lee_model, lee_contexts, args.k, args.repeats)]
    corpus_model = None
    if args.corpus:
        corpus_model, corpus_contexts, corpus_sentences = corpus_model_and_contexts(args.corpus, args.dim,
                                                                                    args.corpus_epochs)
        model_top_k.append(bench_model_top_k(os.path.basename(args.corpus), corpus_model, corpus_contexts, args.k,
                                             args.repeats))
    scales = sorted(set(args.scales) | {round(lee_std, 2)})
    top_k = bench_top_k(args.vocab, args.dim, args.rows, args.k, scales, args.repeats, args.workers)

    rng = np.random.default_rng(3)
    score_results = []
    for sg in (1, 0):
        model, counts = synthetic_model(args.vocab, args.dim, sg, rng)
        sentences = sampled_sentences(counts, args.sentences, args.sentence_length, rng)
        score_results += bench_score(f"synthetic V={args.vocab // 1000}k", model, sentences, args.repeats,
                                     args.workers)
    lee = list(LineSentence(datapath("lee_background.cor")))
    for sg in (1, 0):
        model = hsmcy.Word2Vec(lee, vector_size=args.dim, min_count=2, epochs=5, workers=2, sg=sg, seed=1)
        score_results += bench_score("Lee corpus", model, lee, args.repeats, args.workers)

    if corpus_model is not None:
        label = os.path.basename(args.corpus)
        score_results += bench_score(label, corpus_model, corpus_sentences, args.repeats, args.workers)
        corpus_model.sg = 1  # the same weights, scored with skip-gram's definition (for speed only)
        score_results += bench_score(label + " (as sg)", corpus_model, corpus_sentences, args.repeats, args.workers)

    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg()},
              "parameters": vars(args), "lee_dot_std": lee_std, "model_top_k": model_top_k, "top_k": top_k,
              "score": score_results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
