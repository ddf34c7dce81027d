#!/usr/bin/env python
"""Distributed (Dask) against single-process hsmcy: quality, words/s, bytes per synchronisation.

Usage (the committed results; ~1 hour on a shared 2-core machine)::

    python benchmarks/make_corpus.py --out /tmp/hsmcy_bench/corpus.txt --tokens 0     # once
    python benchmarks/bench_distributed.py --corpus /tmp/hsmcy_bench/corpus.txt \\
        --tokens 2000000,6000000 --shards 2,4 --modes cbow,sg --seeds 1,2,3 \\
        --out benchmarks/results/distributed.json

An interrupted run continues with ``--resume`` (the same options and ``--out``): the rows
already in the file are kept and only the missing runs are made; the file's
``commands`` list every command that contributed rows.

What it runs, on this machine, at equal epochs and parameters (vector_size 100,
window 5, min_count 5, sample 1e-3, epochs 5, hierarchical softmax):

* for each corpus size, the first ``N`` tokens of the corpus minus the last
  ``--heldout`` fraction of its lines (held out, never trained on), as one training
  file and cut into 2 and 4 contiguous shards;
* per mode and seed: single-process ``hsmcy.Word2Vec(corpus_file=..., workers=2)``
  (the reference: 2 threads on the machine's 2 cores), then
  ``hsmcy.distributed.train`` on a ``LocalCluster`` of 2 worker processes x 1
  thread with each shard count, with the defaults (a user passes shards and the
  usual parameters; 2 model copies, one per worker).

Quality: gensim's ``questions-words.txt`` analogies over the 30,000 most frequent
words (gensim's scoring, batched), ``wordsim353`` and ``simlex999`` Spearman
correlations, and the held-out log-likelihood per token (``Word2Vec.score``).
Speed: words per second from the start of the call to the trained model (vocabulary
included, for both).  Volume: bytes of deltas sent between the workers per
synchronisation (all workers together), against the size of the model (input
vectors + ``syn1``).  The table gives medians over seeds and, per seed, the
distributed run against the single-process run of the same seed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
from gensim.test.utils import datapath

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hsmcy  # noqa: E402

PARAMS = dict(vector_size=100, window=5, min_count=5, sample=1e-3, epochs=5)


def write_shards(corpus, tokens, heldout, shard_counts, directory):
    """The first ``tokens`` tokens, minus a held-out tail of lines, as one file and as contiguous shards."""
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
    shards = {}
    for k in shard_counts:
        shards[k] = []
        for i in range(k):
            path = os.path.join(directory, f"shard-{k}-{i}.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(train[len(train) * i // k:len(train) * (i + 1) // k])
            shards[k].append(path)
    return paths, shards, sum(len(line.split()) for line in train)


def heldout_log_likelihood(model, path):
    """Mean ``Word2Vec.score`` log-likelihood per in-vocabulary held-out token (higher is better)."""
    with open(path, encoding="utf-8") as handle:
        sentences = [line.split() for line in handle]
    known = sum(1 for sentence in sentences for word in sentence if word in model.wv.key_to_index)
    return float(np.sum(model.score(sentences, total_sentences=len(sentences)))) / max(known, 1)


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
    started = time.perf_counter()
    analogy, covered = analogy_accuracy(model.wv)
    wordsim = model.wv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]
    simlex = model.wv.evaluate_word_pairs(datapath("simlex999.txt"))[1][0]
    return {"analogy": 100 * float(analogy), "analogy_questions": covered, "wordsim353": float(wordsim),
            "simlex999": float(simlex), "heldout_ll": heldout_log_likelihood(model, heldout_path),
            "evaluation_seconds": time.perf_counter() - started}


def workers_cpu_seconds(client):
    """CPU seconds used so far by the worker processes (user + system), summed."""
    def cpu():
        import psutil
        times = psutil.Process().cpu_times()
        return times.user + times.system
    return sum(client.run(cpu).values())


def summarise(rows):
    """Medians per (tokens, mode, run) and the comparisons with single-process training."""
    keys = sorted({(r["tokens"], r["mode"]) for r in rows})
    lines = [("| tokens | mode | run | seeds | analogy % | vs single | WS353 | Δ | SimLex | Δ | held-out LL | words/s "
              "| × single (per seed) | words/CPU-s × single | syncs/epoch | MB per sync | × model |"),
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for tokens, mode in keys:
        group = [r for r in rows if r["tokens"] == tokens and r["mode"] == mode]
        single = [r for r in group if r["run"] == "single"]
        if not single:
            continue
        median = {m: statistics.median(r[m] for r in single) for m in ("analogy", "wordsim353", "simlex999",
                                                                        "heldout_ll", "words_per_second")}
        by_seed = {r["seed"]: r for r in single}
        for run in sorted({r["run"] for r in group}, key=lambda name: (name != "single", name)):
            runs = [r for r in group if r["run"] == run]
            m = {k: statistics.median(r[k] for r in runs) for k in ("analogy", "wordsim353", "simlex999", "heldout_ll",
                                                                     "words_per_second")}
            speed = [r["words_per_second"] / by_seed[r["seed"]]["words_per_second"] for r in runs if r["seed"] in by_seed]
            speed_ratio = statistics.median(speed) if speed else float("nan")
            cpu = [r["words_per_cpu_second"] / by_seed[r["seed"]]["words_per_cpu_second"] for r in runs
                   if r["seed"] in by_seed]
            cpu_ratio = statistics.median(cpu) if cpu else float("nan")
            if run == "single":
                lines.append(f"| {tokens:,} | {mode} | single process, 2 threads | {len(runs)} | {m['analogy']:.2f} | "
                             f"| {m['wordsim353']:.3f} | | {m['simlex999']:.3f} | | {m['heldout_ll']:.4f} | "
                             f"{m['words_per_second']:,.0f} | | | | | |")
                continue
            relative = m["analogy"] / median["analogy"] if median["analogy"] else float("nan")
            d_ws, d_sl = m["wordsim353"] - median["wordsim353"], m["simlex999"] - median["simlex999"]
            syncs = statistics.median(r["syncs_per_epoch"] for r in runs)
            mb = statistics.median(r["bytes_per_sync"] for r in runs) / 1e6
            model_mb = runs[0]["model_bytes"] / 1e6
            lines.append(f"| {tokens:,} | {mode} | {run} | {len(runs)} | {m['analogy']:.2f} | {relative:.3f} | "
                         f"{m['wordsim353']:.3f} | {d_ws:+.3f} | {m['simlex999']:.3f} | {d_sl:+.3f} | "
                         f"{m['heldout_ll']:.4f} | {m['words_per_second']:,.0f} | {speed_ratio:.2f} | {cpu_ratio:.2f} | "
                         f"{syncs:g} | "
                         f"{mb:.2f} | {mb / model_mb:.2f} |")
            # word-pair correlations: not more than 0.02 below single-process (higher is better)
            verdicts.append((tokens, mode, run, relative >= 0.95, d_ws >= -0.02, d_sl >= -0.02, speed_ratio >= 0.7))
    lines.append("")
    lines.append("| tokens | mode | run | analogy >= 95% | WS353 >= single - 0.02 | SimLex >= single - 0.02 "
                 "| words/s >= 0.7x |")
    lines.append("|---:|---|---|---|---|---|---|")
    for tokens, mode, run, *met in verdicts:
        lines.append(f"| {tokens:,} | {mode} | {run} | " + " | ".join("yes" if x else "**no**" for x in met) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/hsmcy_bench/corpus.txt")
    parser.add_argument("--tokens", default="2000000,6000000", help="corpus sizes (first N tokens; 0 = all)")
    parser.add_argument("--heldout", type=float, default=0.02, help="fraction of lines held out")
    parser.add_argument("--shards", default="2,4")
    parser.add_argument("--modes", default="cbow,sg")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=PARAMS["epochs"])
    parser.add_argument("--syncs-per-epoch", type=int, default=None, help="override the default rounds")
    parser.add_argument("--replicas", type=int, default=None, help="override the default copies (one per worker)")
    parser.add_argument("--skip-single", action="store_true", help="distributed runs only (no reference)")
    parser.add_argument("--out", default="/tmp/hsmcy_bench/distributed.json")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --out and run only the missing ones (same options)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from dask.distributed import Client, LocalCluster

    import hsmcy.distributed

    shard_counts = [int(k) for k in args.shards.split(",")]
    params = {**PARAMS, "epochs": args.epochs}
    options = {k: v for k, v in (("syncs_per_epoch", args.syncs_per_epoch), ("replicas", args.replicas)) if v}
    rows, commands = [], [" ".join(sys.argv)]
    if args.resume and os.path.exists(args.out):
        with open(args.out) as handle:
            previous = json.load(handle)
        if (previous["parameters"], previous["distributed_options"]) != (params, options):
            parser.error(f"--resume: {args.out} was measured with other parameters or options")
        rows = previous["rows"]
        commands = previous.get("commands", [previous["command"]]) + commands
    done = {(r["tokens"], r["mode"], r["seed"], r["run"]) for r in rows}
    header = {"corpus": args.corpus, "parameters": params, "distributed_options": options,
              "command": " ; ".join(commands), "commands": commands,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                          "load_at_start": os.getloadavg()}}

    def record(row):
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:  # after every run: a partial result survives an interruption
            json.dump({**header, "rows": rows}, handle, indent=1)

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        for tokens in (int(t) for t in args.tokens.split(",")):
            with tempfile.TemporaryDirectory() as directory:
                paths, shards, train_tokens = write_shards(args.corpus, tokens, args.heldout, shard_counts, directory)
                print(f"{train_tokens:,} training tokens (first {tokens:,} of {args.corpus}), held out "
                      f"{args.heldout:.0%} of the lines", flush=True)
                for mode in args.modes.split(","):
                    sg = {"cbow": 0, "sg": 1}[mode]
                    for seed in (int(s) for s in args.seeds.split(",")):
                        base = {"tokens": tokens, "train_tokens": train_tokens, "mode": mode, "seed": seed,
                                "load": os.getloadavg()[0]}
                        if not args.skip_single and (tokens, mode, seed, "single") not in done:
                            started, cpu_started = time.perf_counter(), time.process_time()
                            model = hsmcy.Word2Vec(corpus_file=paths["train"], workers=2, sg=sg, seed=seed, **params)
                            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                            words = model.corpus_total_words * params["epochs"]
                            record({**base, "run": "single", "seconds": seconds, "words_per_second": words / seconds,
                                    "cpu_seconds": cpu, "words_per_cpu_second": words / cpu,
                                    "model_bytes": model.wv.vectors.nbytes + model.syn1.nbytes,
                                    **quality(model, paths["heldout"])})
                        for k in shard_counts:
                            if (tokens, mode, seed, f"{k} shards, 2 workers") in done:
                                continue
                            workers_cpu = workers_cpu_seconds(client)
                            started, cpu_started = time.perf_counter(), time.process_time()
                            model = hsmcy.distributed.train(client, shards[k], sg=sg, seed=seed, **params, **options)
                            seconds = time.perf_counter() - started
                            # the client and the scheduler (in this process) and the worker processes
                            cpu = time.process_time() - cpu_started + workers_cpu_seconds(client) - workers_cpu
                            report = model.distributed_report
                            record({**base, "run": f"{k} shards, 2 workers", "seconds": seconds,
                                    "words_per_second": report["words_seen"] / seconds, "cpu_seconds": cpu,
                                    "words_per_cpu_second": report["words_seen"] / cpu,
                                    **{key: report[key] for key in ("replicas", "syncs_per_epoch", "bytes_per_sync",
                                                                    "model_bytes", "vocab_size", "seconds_training",
                                                                    "seconds_exchanging", "seconds_vocabulary",
                                                                    "epochs_repeated")},
                                    **quality(model, paths["heldout"])})
    finally:
        client.close()
        cluster.close()
    table = summarise(rows)
    print(table)
    markdown = os.path.splitext(args.out)[0] + ".md"
    with open(markdown, "w") as handle:
        handle.write("Commands (in order; rows of a later command were missing after the earlier ones): "
                     + ", ".join(f"`{c}`" for c in commands) + "\n\n"
                     f"Parameters: {params}; distributed options: "
                     f"{options or 'defaults'}.\n\n{table}\n")
    print(f"wrote {args.out} and {markdown}")


if __name__ == "__main__":
    main()
