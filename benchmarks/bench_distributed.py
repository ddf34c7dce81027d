#!/usr/bin/env python
"""Distributed (Dask, local SGD) against single-process hsmcy: quality, speed, bytes per synchronisation.

Usage::

    python benchmarks/make_corpus.py --out /tmp/hsmcy_bench/corpus.txt     # once
    python benchmarks/bench_distributed.py --corpus /tmp/hsmcy_bench/corpus.txt --tokens 3000000 \
        --out /tmp/hsmcy_bench/distributed.json

What it runs, all in one process run on this machine and at equal epochs:

* single-process ``hsmcy.Word2Vec`` with ``workers=2`` threads (the reference);
* ``hsmcy.distributed.train`` on a ``LocalCluster`` of 1 worker process x 2 threads (the
  training file as one shard: the distributed code path with nothing to average) and of
  2 worker processes x 1 thread (the file split into 2 contiguous shards);
* for 2 processes: averaging rules and synchronisation intervals (``--configs``).

Quality: gensim's ``evaluate_word_analogies`` (questions-words.txt, the 30,000 most
frequent words) and ``evaluate_word_pairs`` (wordsim353, simlex999), plus the loss
per word on held-out sentences (the last ``--heldout`` fraction of the lines, not
trained on): the mean ``-log P(centre word | context)`` under the trained model,
with full windows, no down-sampling, no update.  The held-out loss averages over
~100k predictions, so it separates runs whose analogy scores are within noise.

Volume: bytes of row ids + deltas sent by the workers and of merged rows broadcast
back, per synchronisation, next to the size of the whole model.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time

import numpy as np
from gensim.test.utils import datapath

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hsmcy  # noqa: E402
from hsmcy import _kernels  # noqa: E402
from hsmcy.corpus import encode_file  # noqa: E402


def write_shards(corpus, tokens, heldout, n_shards, directory):
    """The first ``tokens`` tokens, minus a held-out tail, as ``n_shards`` contiguous files (and the whole)."""
    lines, count = [], 0
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            n = len(line.split())
            if not n:
                continue
            lines.append(line if line.endswith("\n") else line + "\n")
            count += n
            if tokens and count >= tokens:
                break
    cut = int(len(lines) * (1 - heldout))
    train, test = lines[:cut], lines[cut:]
    paths = {"train": os.path.join(directory, "train.txt"), "heldout": os.path.join(directory, "heldout.txt")}
    for name, chunk in (("train", train), ("heldout", test)):
        with open(paths[name], "w", encoding="utf-8") as handle:
            handle.writelines(chunk)
    shards = []
    for i in range(n_shards):
        path = os.path.join(directory, f"shard-{i}.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(train[len(train) * i // n_shards:len(train) * (i + 1) // n_shards])
        shards.append(path)
    return paths, shards, sum(len(line.split()) for line in train)


def heldout_loss(model, path):
    """Mean loss per predicted word on ``path``: full windows, no down-sampling, alpha 0 (no update)."""
    encoded = encode_file(path, model.wv.key_to_index)
    tree, size = model.tree, model.vector_size
    _, trained, loss = _kernels.train_batch(
        bool(model.sg), encoded.token_ids, encoded.sentence_bounds, np.ones(len(model.wv), np.float32),
        model.wv.vectors.copy(), model.syn1.copy(), tree.path_nodes, tree.path_codes, tree.path_offsets,
        model.window, False, bool(model.cbow_mean), 0.0, 0.0, np.array([1], np.uint64),
        np.zeros(size, np.float32), np.zeros(size, np.float32), np.zeros(max(encoded.longest_sentence, 1), np.int32),
        True)
    return loss / max(trained, 1)


def analogy_accuracy(wv, path=None, restrict_vocab=30000):
    """gensim's ``evaluate_word_analogies`` total accuracy (3CosAdd, case-insensitive, top ``restrict_vocab``).

    The same questions, exclusions and comparison as gensim, batched into matrix
    products: gensim's per-question loop takes minutes on this machine when it is
    shared.  Checked equal to gensim's score on lee_background models.
    Returns ``(accuracy, questions covered)``.
    """
    path = path or datapath("questions-words.txt")
    keys = wv.index_to_key[:restrict_vocab]
    index = {}
    for i in reversed(range(len(keys))):  # as gensim: the most frequent spelling wins
        index[keys[i].upper()] = i
    questions = []
    for line in open(path, encoding="utf-8"):
        if line.startswith(":"):
            continue
        words = line.upper().split()
        if len(words) == 4 and all(w in index for w in words):
            questions.append([index[w] for w in words])
    if not questions:
        return 0.0, 0
    q = np.array(questions)
    vectors = wv.vectors[:len(keys)].astype(np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # gensim compares upper-cased words: every spelling of a question word is excluded,
    # and any spelling of the expected word counts as correct
    canonical = np.array([index[key.upper()] for key in keys])
    correct = 0
    for start in range(0, len(q), 2000):
        block = q[start:start + 2000]
        target = unit[block[:, 1]] + unit[block[:, 2]] - unit[block[:, 0]]
        scores = target @ unit.T
        for column in range(3):
            scores[canonical[None, :] == block[:, column][:, None]] = -np.inf
        correct += int(np.sum(canonical[np.argmax(scores, axis=1)] == block[:, 3]))
    return correct / len(q), len(q)


def quality(model, heldout_path):
    analogy, covered = analogy_accuracy(model.wv)
    wordsim = model.wv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]
    simlex = model.wv.evaluate_word_pairs(datapath("simlex999.txt"))[1][0]
    return {"analogy": 100 * float(analogy), "analogy_questions": covered, "wordsim353_spearman": float(wordsim),
            "simlex999_spearman": float(simlex), "heldout_loss_per_word": float(heldout_loss(model, heldout_path))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = "/tmp/hsmcy_bench/corpus.txt"
    if not os.path.exists(default) and os.path.exists("/tmp/hsmcy_bench/corpus_1pass.txt"):
        default = "/tmp/hsmcy_bench/corpus_1pass.txt"
    parser.add_argument("--corpus", default=default)
    parser.add_argument("--tokens", type=int, default=3_000_000, help="use the first N tokens (0 = all)")
    parser.add_argument("--heldout", type=float, default=0.02, help="fraction of lines held out for the loss")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sg", type=int, default=0)
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--configs", default="adaptive:4,sum:4,mean:4,adaptive:1,adaptive:16",
                        help="averaging:syncs_per_epoch runs on 2 processes; the first also runs on 1 process")
    parser.add_argument("--curvature", type=float, default=None,
                        help="override the adaptive rule's curvature scale (hsmcy.distributed._CURVATURE)")
    parser.add_argument("--skip-single", action="store_true", help="skip the single-process reference run")
    parser.add_argument("--skip-one-process", action="store_true", help="skip the 1 process x 2 threads cluster")
    parser.add_argument("--out", default="/tmp/hsmcy_bench/distributed.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed
    if args.curvature is not None:
        hsmcy.distributed._CURVATURE = args.curvature

    params = dict(vector_size=args.vector_size, window=5, min_count=5, sample=1e-3, sg=args.sg, epochs=args.epochs,
                  seed=1)
    configs = [(rule, int(syncs)) for rule, syncs in (item.split(":") for item in args.configs.split(","))]
    rows = []

    def record(row):
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:  # after every run: a partial result survives an interruption
            json.dump({"corpus": args.corpus, "train_tokens": train_tokens, "parameters": params,
                       "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "rows": rows},
                      handle, indent=1)

    def evaluate(model):
        started = time.perf_counter()
        scores = quality(model, paths["heldout"])
        scores["evaluation_seconds"] = time.perf_counter() - started
        return scores

    with tempfile.TemporaryDirectory() as directory:
        paths, shards, train_tokens = write_shards(args.corpus, args.tokens, args.heldout, 2, directory)
        print(f"corpus {args.corpus}: {train_tokens:,} training tokens in 2 shards, epochs={args.epochs}, "
              f"sg={args.sg}, vector_size={args.vector_size}", flush=True)

        started = time.perf_counter()
        single = hsmcy.Word2Vec(corpus_file=paths["train"], workers=2, **{**params, "epochs": 1} if
                                args.skip_single else params)
        seconds = time.perf_counter() - started
        words = single.corpus_total_words * args.epochs
        model_bytes = single.wv.vectors.nbytes + single.syn1.nbytes
        if not args.skip_single:
            record({"run": "single process, 2 threads", "seconds": seconds, "words_per_second": words / seconds,
                    **evaluate(single)})
        del single

        # 2 processes first: the comparisons that matter most come first
        for n_workers, threads in ((2, 1), (1, 2)):
            if n_workers == 1 and args.skip_one_process:
                continue
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
            try:
                for rule, per_epoch in configs[:1] if n_workers == 1 else configs:
                    # 1 process trains the whole training file as one shard: the distributed code path
                    # with nothing to average, which should match the single-process run
                    files = [paths["train"]] if n_workers == 1 else shards
                    started = time.perf_counter()
                    model = hsmcy.distributed.train(client, files, syncs_per_epoch=per_epoch, averaging=rule,
                                                    **params)
                    seconds = time.perf_counter() - started
                    report = model.distributed_report
                    label = f"{rule}" if rule != "adaptive" else f"adaptive(c={hsmcy.distributed._CURVATURE:g})"
                    record({"run": f"dask {n_workers} proc x {threads} thr, {len(files)} shard(s), {label}, "
                                   f"{per_epoch} syncs/epoch",
                            "seconds": seconds, "words_per_second": report["words_seen"] / seconds,
                            "bytes_up_per_sync": report["bytes_up_per_sync"],
                            "bytes_down_per_sync": report["bytes_down_per_sync"],
                            "model_bytes": model_bytes, "vocab_size": report["vocab_size"],
                            "tasks_recomputed": report["tasks_recomputed"], **evaluate(model)})
            finally:
                client.close()
                cluster.close()

    reference = rows[0]
    print(f"\n{'run':62s} {'s':>6s} {'words/s':>9s} {'analogy':>8s} {'d-anal':>7s} {'ws353':>6s} {'slx999':>6s} "
          f"{'loss/w':>7s} {'MB up':>6s} {'MB down':>7s}")
    for row in rows:
        print(f"{row['run']:62s} {row['seconds']:6.1f} {row['words_per_second']:9,.0f} {row['analogy']:8.2f} "
              f"{row['analogy'] - reference['analogy']:+7.2f} {row['wordsim353_spearman']:6.3f} "
              f"{row['simlex999_spearman']:6.3f} {row['heldout_loss_per_word']:7.4f} "
              f"{row.get('bytes_up_per_sync', 0) / 1e6:6.2f} {row.get('bytes_down_per_sync', 0) / 1e6:7.2f}")
    print(f"(whole model: {model_bytes / 1e6:.2f} MB; MB up/down = per synchronisation, all workers together)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
