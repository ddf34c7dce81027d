#!/usr/bin/env python
"""Micro-benchmarks: nanoseconds per inner-node update, and Huffman-tree build time.

Usage::

    python benchmarks/bench_kernels.py                      # lee_background.cor, V = 10k/100k/1M
    python benchmarks/bench_kernels.py --corpus /tmp/hsmcy_bench/corpus.txt --max-words 500000
    python benchmarks/bench_kernels.py --full               # also gensim's tree at V = 1M (~35 s)

Node updates
    One *node update* is one (hidden vector, inner node) pair: a dot product, a
    sigmoid and two row updates.  Both libraries train the same sentences with
    subsampling off and fixed windows (``sample=0``, ``shrink_windows=False``), so
    the number of node updates is known exactly: for skip-gram the sum over centre
    positions of (context words x centre path length), for CBOW the sum of centre
    path lengths.  hsmcy is timed through its batch kernel
    (``hsmcy._kernels.TrainingWorker``, one per ``kernel``); gensim through
    ``gensim.models.word2vec_inner.train_batch_sg`` / ``train_batch_cbow`` on the
    token lists (its per-pair cost including its own word lookups).  Both use the
    same Huffman tree (hsmcy's, installed into the gensim model).  One thread;
    times are CPU time of the process (``time.process_time``), so that other load
    on a shared machine inflates them less than wall-clock time would.

Trees
    ``hsmcy.HuffmanTree.from_counts`` against gensim's ``_assign_binary_codes``
    (``_build_heap`` + code assignment, pure Python) on Zipf counts.

Writes ``--out`` (JSON) and prints a Markdown table.
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gensim  # noqa: E402
from gensim.models import Word2Vec as GensimWord2Vec  # noqa: E402
from gensim.models import word2vec as gensim_word2vec  # noqa: E402
from gensim.models import word2vec_inner  # noqa: E402
from gensim.models.keyedvectors import KeyedVectors  # noqa: E402
from gensim.test.utils import datapath  # noqa: E402

import hsmcy  # noqa: E402
from hsmcy import _kernels  # noqa: E402
from hsmcy.tree import HuffmanTree  # noqa: E402


GENSIM_MAX_WORDS = 10_000  # gensim's MAX_SENTENCE_LEN: words per batch call


def read_sentences(path, max_words):
    sentences, total = [], 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            tokens = line.split()
            if tokens:
                sentences.append(tokens)
                total += len(tokens)
                if total >= max_words:
                    break
    return sentences


def node_update_count(sentences_ids, path_lengths, window, sg):
    """Exact node updates for fixed windows and no subsampling."""
    total = 0
    for ids in sentences_ids:
        n = len(ids)
        if n < 2:
            continue
        lengths = path_lengths[ids]
        if sg:
            positions = np.arange(n)
            contexts = np.minimum(positions + window, n - 1) - np.maximum(positions - window, 0)
            total += int(np.dot(contexts, lengths))
        else:
            total += int(lengths.sum())
    return total


def bench_node_updates(sentences, *, size, window, repeats, kernels):
    """ns per node update for each hsmcy kernel and for gensim, sg and cbow."""
    model = hsmcy.Word2Vec(vector_size=size, window=window, min_count=5, sample=0, workers=1, sg=1,
                           shrink_windows=False)
    model.build_vocab(corpus_iterable=sentences)
    index = model.wv.key_to_index
    ids_per_sentence = [np.array([index[w] for w in s if w in index], dtype=np.int32) for s in sentences]
    ids_per_sentence = [ids for ids in ids_per_sentence if len(ids) >= 2]
    token_ids = np.concatenate(ids_per_sentence)
    bounds = np.zeros(len(ids_per_sentence) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(ids) for ids in ids_per_sentence])
    tree = model.tree
    keep = np.ones(len(model.wv), dtype=np.float32)
    vocab_words = [[model.wv.index_to_key[i] for i in ids] for ids in ids_per_sentence]

    # A gensim model on the same vocabulary and tree.
    gmodel = model.to_gensim()
    gmodel.window = window
    gmodel.shrink_windows = False
    gmodel.sample = 0
    gmodel.wv.expandos["sample_int"][:] = 2 ** 32 - 1

    # gensim's batch functions stop at 10,000 words per call: feed chunks below that.
    gensim_chunks, chunk, chunk_words = [], [], 0
    for words in vocab_words:
        words = words[:GENSIM_MAX_WORDS]
        if chunk_words + len(words) > GENSIM_MAX_WORDS:
            gensim_chunks.append(chunk)
            chunk, chunk_words = [], 0
        chunk.append(words)
        chunk_words += len(words)
    gensim_chunks.append(chunk)
    ids_per_sentence = [ids[:GENSIM_MAX_WORDS] for ids in ids_per_sentence]

    rows = []
    for sg in (1, 0):
        updates = node_update_count(ids_per_sentence, tree.path_lengths, window, sg)
        timings = {name: [] for name in list(kernels) + ["gensim"]}
        for _ in range(repeats):
            for name in kernels:
                worker = _kernels.TrainingWorker(
                    sg=sg, kernel=name, input_vectors=model.wv.vectors.copy(),
                    inner_node_vectors=np.zeros_like(model.syn1), path_nodes=tree.path_nodes,
                    path_codes=tree.path_codes, path_offsets=tree.path_offsets, keep_probability=keep,
                    window=window, shrink_windows=False)
                started = time.process_time()
                worker.train(token_ids, bounds, 0.025, 0.025)
                timings[name].append(time.process_time() - started)
            gmodel.syn1[:] = 0
            work = np.zeros(size, dtype=np.float32)
            neu1 = np.zeros(size, dtype=np.float32)
            started = time.process_time()
            for chunk in gensim_chunks:
                if sg:
                    word2vec_inner.train_batch_sg(gmodel, chunk, 0.025, work, False)
                else:
                    word2vec_inner.train_batch_cbow(gmodel, chunk, 0.025, work, neu1, False)
            timings["gensim"].append(time.process_time() - started)
        for name, values in timings.items():
            median = statistics.median(values)
            rows.append({"mode": "sg" if sg else "cbow", "implementation": "gensim" if name == "gensim"
                         else f"hsmcy[{name}]", "node_updates": updates, "seconds_median": median,
                         "ns_per_node_update": 1e9 * median / updates, "repeats": len(values)})
        gensim_ns = next(r["ns_per_node_update"] for r in rows if r["implementation"] == "gensim"
                         and r["mode"] == ("sg" if sg else "cbow"))
        for row in rows:
            if row["mode"] == ("sg" if sg else "cbow"):
                row["speedup_vs_gensim"] = gensim_ns / row["ns_per_node_update"]
    return rows, len(model.wv), int(token_ids.size)


def zipf_counts(n_words, rng):
    """Zipf-like counts (rank^-1.05, largest 10^8), at least 1."""
    ranks = np.arange(1, n_words + 1, dtype=np.float64)
    counts = np.maximum(1, (1e8 * ranks ** -1.05 * rng.uniform(0.9, 1.1, n_words)).astype(np.int64))
    return np.sort(counts)[::-1].copy()


def gensim_tree_seconds(counts):
    wv = KeyedVectors(1, count=len(counts))
    wv.index_to_key = list(range(len(counts)))
    wv.allocate_vecattrs(["count"], [np.int64])
    wv.expandos["count"][:] = counts
    started = time.process_time()
    gensim_word2vec._assign_binary_codes(wv)
    return time.process_time() - started


def bench_trees(sizes, full, repeats):
    rng = np.random.default_rng(0)
    rows = []
    for n_words in sizes:
        counts = zipf_counts(n_words, rng)
        hsmcy_times = []
        for _ in range(repeats):
            started = time.process_time()
            tree = HuffmanTree.from_counts(counts)
            hsmcy_times.append(time.process_time() - started)
        row = {"vocab_size": n_words, "hsmcy_seconds": statistics.median(hsmcy_times),
               "hsmcy_max_depth": int(tree.max_depth)}
        if n_words < 1_000_000 or full:
            row["gensim_seconds"] = gensim_tree_seconds(counts)  # once: it is slow
            row["speedup_vs_gensim"] = row["gensim_seconds"] / row["hsmcy_seconds"]
        rows.append(row)
    return rows


def markdown(node_rows, tree_rows):
    lines = ["| mode | implementation | ns / node update | speed-up vs gensim |", "|---|---|---:|---:|"]
    for row in node_rows:
        lines.append(f"| {row['mode']} | {row['implementation']} | {row['ns_per_node_update']:.1f} | "
                     f"{row['speedup_vs_gensim']:.2f}x |")
    lines += ["", "| vocabulary | hsmcy tree (s) | gensim tree (s) | speed-up |", "|---:|---:|---:|---:|"]
    for row in tree_rows:
        gensim_s = f"{row['gensim_seconds']:.3f}" if "gensim_seconds" in row else "(skipped, --full)"
        speedup = f"{row['speedup_vs_gensim']:.0f}x" if "speedup_vs_gensim" in row else ""
        lines.append(f"| {row['vocab_size']:,} | {row['hsmcy_seconds']:.4f} | {gensim_s} | {speedup} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--corpus", default=datapath("lee_background.cor"))
    parser.add_argument("--max-words", type=int, default=300_000, help="tokens of the corpus to use")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--kernels", default=",".join(_kernels.KERNELS))
    parser.add_argument("--full", action="store_true", help="also time gensim's tree at V = 1,000,000")
    parser.add_argument("--tree-sizes", default="10000,100000,1000000")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "kernels.json"))
    args = parser.parse_args(argv)

    sentences = read_sentences(args.corpus, args.max_words)
    node_rows, vocab_size, tokens = bench_node_updates(
        sentences, size=args.size, window=args.window, repeats=args.repeats, kernels=args.kernels.split(","))
    tree_rows = bench_trees([int(v) for v in args.tree_sizes.split(",")], args.full, args.repeats)
    result = {
        "corpus": str(args.corpus), "tokens": tokens, "vocab_size": vocab_size, "vector_size": args.size,
        "window": args.window, "vector_dispatch": _kernels.VECTOR_DISPATCH,
        "python": platform.python_version(), "numpy": np.__version__, "gensim": gensim.__version__,
        "node_updates": node_rows, "trees": tree_rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    table = markdown(node_rows, tree_rows)
    out.with_suffix(".md").write_text(
        f"Kernels on {Path(args.corpus).name} ({tokens:,} tokens, V = {vocab_size:,}), vector_size "
        f"{args.size}, window {args.window}, one thread; vector code: {_kernels.VECTOR_DISPATCH}.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
