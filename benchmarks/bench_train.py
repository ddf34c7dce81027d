#!/usr/bin/env python
"""Train hsmcy, gensim and fastText on one corpus with the same parameters; compare.

Usage::

    python benchmarks/bench_train.py                       # default corpus, 3 repetitions
    python benchmarks/bench_train.py --quick               # 1 repetition, 1M tokens, no fastText
    python benchmarks/bench_train.py --corpus my.txt --repeats 5

What is measured
----------------
Every configuration (implementation x sg/cbow x workers 1/2 x repetition) runs in
a fresh Python process, so that peak RSS (``ru_maxrss``) belongs to that run alone.
Parameters everywhere: vector_size 100, window 5, min_count 5, sample 1e-3,
epochs 5, hierarchical softmax (gensim ``hs=1, negative=0``; fastText
``loss='hs'``, ``minn = maxn = 0`` so that it is plain word2vec), learning rate
0.025 and seed 1.

* ``total_s``: from the corpus file to a trained model (``build_vocab`` +
  ``train``: reading and encoding the text counts, wherever it happens; fastText
  does both inside ``train_unsupervised``).  ``train_s``: ``train`` alone.
* words/s: corpus tokens x epochs / seconds (the same numerator for everyone).
* peak RSS after training, before evaluation.
* quality, with gensim's own evaluators on gensim's bundled data: analogy accuracy
  on ``questions-words.txt`` (``restrict_vocab=30000``), Spearman correlation on
  ``wordsim353.tsv`` and ``simlex999.txt``.

Implementations: ``hsmcy`` (``corpus_file``; its default kernel), ``hsmcy-mmap``
(the same with ``corpus_buffer=``: encoded ids in a memory-mapped file), ``hsmcy-blas``
(the plain BLAS sdot/saxpy kernel, pair by pair), ``gensim`` (iterable mode:
``LineSentence``), ``gensim-file`` (``corpus_file`` mode), ``fasttext``.

Repetitions run in rounds (every configuration once per round) so that slow
phases of a shared machine spread over all of them; each ratio to gensim is taken
within a round, then the median over rounds is reported.

Output (``--out``, default ``benchmarks/results/``): ``train.json`` (every run
plus the summary), ``train.md`` (tables and the targets of issue 3) and
``train.png`` (words/s per implementation and worker count).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_latency import round_trip_ns  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path("/tmp/hsmcy_bench")
DEFAULT_TOKENS = 4_000_000
PARAMS = dict(vector_size=100, window=5, min_count=5, sample=1e-3, epochs=5, alpha=0.025, seed=1)
IMPLEMENTATIONS = ["hsmcy", "hsmcy-mmap", "hsmcy-blas", "gensim", "gensim-file", "fasttext"]


# ------------------------------------------------------------------ child side
def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def evaluate(wv):
    from gensim.test.utils import datapath
    analogy, _ = wv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)
    wordsim = wv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    simlex = wv.evaluate_word_pairs(datapath("simlex999.txt"))
    return {"analogy": float(analogy), "wordsim353_spearman": float(wordsim[1][0]),
            "simlex999_spearman": float(simlex[1][0]), "wordsim353_oov": float(wordsim[2]),
            "simlex999_oov": float(simlex[2])}


def run_hsmcy(corpus, sg, workers, kernel, corpus_buffer=None):
    sys.path.insert(0, str(ROOT))
    import hsmcy
    started = time.perf_counter()
    model = hsmcy.Word2Vec(sg=sg, workers=workers, hs=1, negative=0, min_alpha=0.0001, corpus_buffer=corpus_buffer,
                           kernel=kernel, **PARAMS)
    model.build_vocab(corpus_file=corpus)
    vocab_done = time.perf_counter()
    model.train(corpus_file=corpus, total_examples=model.corpus_count, total_words=model.corpus_total_words,
                epochs=PARAMS["epochs"])
    done = time.perf_counter()
    return model.wv, {"vocab_s": vocab_done - started, "train_s": done - vocab_done, "total_s": done - started,
                      "vocab_size": len(model.wv), "hsmcy_file": hsmcy.__file__}


def run_gensim(corpus, sg, workers, corpus_file_mode):
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence
    started = time.perf_counter()
    model = Word2Vec(sg=sg, workers=workers, hs=1, negative=0, min_alpha=0.0001, **PARAMS)
    if corpus_file_mode:
        model.build_vocab(corpus_file=corpus)
    else:
        model.build_vocab(corpus_iterable=LineSentence(corpus))
    vocab_done = time.perf_counter()
    if corpus_file_mode:
        model.train(corpus_file=corpus, total_examples=model.corpus_count, total_words=model.corpus_total_words,
                    epochs=PARAMS["epochs"])
    else:
        model.train(LineSentence(corpus), total_examples=model.corpus_count, epochs=PARAMS["epochs"])
    done = time.perf_counter()
    return model.wv, {"vocab_s": vocab_done - started, "train_s": done - vocab_done, "total_s": done - started,
                      "vocab_size": len(model.wv)}


def run_fasttext(corpus, sg, workers):
    import fasttext
    import numpy as np
    from gensim.models import KeyedVectors
    started = time.perf_counter()
    model = fasttext.train_unsupervised(
        corpus, model="skipgram" if sg else "cbow", loss="hs", dim=PARAMS["vector_size"], ws=PARAMS["window"],
        minCount=PARAMS["min_count"], t=PARAMS["sample"], epoch=PARAMS["epochs"], lr=PARAMS["alpha"],
        minn=0, maxn=0, wordNgrams=1, bucket=0, thread=workers, verbose=0)
    done = time.perf_counter()
    words = [w for w in model.get_words() if w != "</s>"]
    wv = KeyedVectors(PARAMS["vector_size"])
    wv.add_vectors(words, np.array([model.get_word_vector(w) for w in words], dtype=np.float32))
    # fastText reads and trains in one call: no separate vocabulary time.
    return wv, {"vocab_s": None, "train_s": done - started, "total_s": done - started, "vocab_size": len(words)}


def child(spec):
    import gensim  # noqa: F401  -- the same libraries loaded in every run, for comparable RSS
    import numpy  # noqa: F401
    impl, corpus, sg, workers = spec["impl"], spec["corpus"], spec["sg"], spec["workers"]
    if impl == "hsmcy":
        wv, result = run_hsmcy(corpus, sg, workers, "fast")
    elif impl == "hsmcy-mmap":
        import tempfile
        with tempfile.TemporaryDirectory() as buffer_dir:
            wv, result = run_hsmcy(corpus, sg, workers, "fast", corpus_buffer=buffer_dir)
    elif impl == "hsmcy-blas":
        wv, result = run_hsmcy(corpus, sg, workers, "blas")
    elif impl in ("gensim", "gensim-file"):
        wv, result = run_gensim(corpus, sg, workers, impl == "gensim-file")
    elif impl == "fasttext":
        wv, result = run_fasttext(corpus, sg, workers)
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    result["peak_rss_mb"] = peak_rss_mb()
    if spec.get("evaluate"):
        result.update(evaluate(wv))
    result.update(spec)
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------- parent side
def ensure_corpus(args):
    if args.corpus:
        return Path(args.corpus)
    tokens = 1_000_000 if args.quick else args.tokens
    path = BENCH_DIR / f"corpus_{tokens}.txt"
    if not path.exists():
        print(f"building the benchmark corpus ({tokens:,} tokens) -> {path}", flush=True)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_corpus.py"), "--out", str(path),
                        "--tokens", str(tokens)], check=True)
    return path


def count_tokens(path):
    tokens = sentences = 0
    with open(path, "rb") as handle:
        for line in handle:
            n = len(line.split())
            tokens += n
            sentences += n > 0
    return tokens, sentences


def machine_description():
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache",
                               "Hypervisor vendor"):
                info[key.strip()] = value.strip()
        info["avx512f"] = "avx512f" in lscpu
    except OSError:
        pass
    import gensim
    import numpy
    import scipy
    info.update(numpy=numpy.__version__, scipy=scipy.__version__, gensim=gensim.__version__)
    try:
        import fasttext  # noqa: F401
        from importlib.metadata import distributions
        info["fasttext"] = next((f"{d.metadata['Name']} {d.version}" for d in distributions()
                                 if d.metadata["Name"] and "fasttext" in d.metadata["Name"].lower()), "?")
    except ImportError:
        info["fasttext"] = None
    sys.path.insert(0, str(ROOT))
    from hsmcy import _kernels, _training
    info["hsmcy_kernel"] = _training.DEFAULT_KERNEL
    info["hsmcy_vector_dispatch"] = _kernels.VECTOR_DISPATCH
    info["load_average_at_start"] = os.getloadavg()
    return info


def run_child(spec, timeout):
    env = dict(os.environ, PYTHONHASHSEED="0")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"run {spec} failed:\n{proc.stderr[-3000:]}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs, corpus_tokens, epochs):
    """Medians per configuration and per-round ratios to gensim."""
    words = corpus_tokens * epochs
    by_key = {}
    for run in runs:
        by_key.setdefault((run["impl"], run["sg"], run["workers"]), []).append(run)
    rows = []
    for (impl, sg, workers), group in sorted(by_key.items(), key=lambda kv: (-kv[0][1], kv[0][2],
                                                                             IMPLEMENTATIONS.index(kv[0][0]))):
        row = {"impl": impl, "mode": "sg" if sg else "cbow", "sg": sg, "workers": workers, "runs": len(group)}
        for field in ("total_s", "train_s", "vocab_s", "peak_rss_mb", "analogy", "wordsim353_spearman",
                      "simlex999_spearman", "vocab_size"):
            row[field] = median([r.get(field) for r in group])
        row["words_per_s_total"] = words / row["total_s"]
        row["words_per_s_train"] = words / row["train_s"]
        for base in ("gensim", "gensim-file", "fasttext"):
            ratios = []
            for run in group:
                other = [r for r in by_key.get((base, sg, workers), []) if r["round"] == run["round"]]
                if other:
                    ratios.append(other[0]["total_s"] / run["total_s"])
            row[f"speedup_total_vs_{base}"] = median(ratios)
        if workers == 2:
            ones = {r["round"]: r for r in by_key.get((impl, sg, 1), [])}
            row["scaling_2w_over_1w_train"] = median([ones[r["round"]]["train_s"] / r["train_s"]
                                                      for r in group if r["round"] in ones])
            row["scaling_2w_over_1w_total"] = median([ones[r["round"]]["total_s"] / r["total_s"]
                                                      for r in group if r["round"] in ones])
        rows.append(row)
    return rows


def targets(rows, runs, corpus_tokens):
    """The targets of issue 3, each with its measured median ratio."""
    def row(impl, mode, workers):
        return next((r for r in rows if r["impl"] == impl and r["mode"] == mode and r["workers"] == workers), None)

    def paired(impl_a, impl_b, field, sg, workers, fn):
        a = {r["round"]: r for r in runs if r["impl"] == impl_a and r["sg"] == sg and r["workers"] == workers}
        b = {r["round"]: r for r in runs if r["impl"] == impl_b and r["sg"] == sg and r["workers"] == workers}
        values = [fn(a[k][field], b[k][field]) for k in a if k in b and a[k].get(field) is not None
                  and b[k].get(field) is not None]
        return median(values)

    out = []
    for mode, sg, goal in (("sg", 1, 3.0), ("cbow", 0, 2.0)):
        r = row("hsmcy", mode, 2)
        if r is None:
            continue
        out.append((f"{mode}, 2 workers: words/s vs gensim iterable", f">= {goal}x", r["speedup_total_vs_gensim"],
                    goal))
        out.append((f"{mode}, 2 workers: words/s vs gensim corpus_file", ">= 1.5x",
                    r["speedup_total_vs_gensim-file"], 1.5))
        out.append((f"{mode}, 2 workers: words/s vs fastText", ">= 1.5x", r["speedup_total_vs_fasttext"], 1.5))
        out.append((f"{mode}: 2 workers / 1 worker (training words/s)", ">= 1.8x",
                    r.get("scaling_2w_over_1w_train"), 1.8))
        for workers in (1, 2):
            out.append((f"{mode}, {workers} worker(s): analogy, hsmcy - gensim (points)", ">= -1.0",
                        paired("hsmcy", "gensim", "analogy", sg, workers, lambda a, b: 100 * (a - b)), -1.0))
            for name in ("wordsim353", "simlex999"):
                out.append((f"{mode}, {workers} worker(s): {name} Spearman, hsmcy - gensim", ">= -0.02",
                            paired("hsmcy", "gensim", f"{name}_spearman", sg, workers, lambda a, b: a - b), -0.02))
            out.append((f"{mode}, {workers} worker(s): peak RSS - gensim, bytes per token", "<= 4",
                        paired("hsmcy", "gensim", "peak_rss_mb", sg, workers,
                               lambda a, b: (a - b) * 2 ** 20 / corpus_tokens), None))
        for workers in (1, 2):
            out.append((f"{mode}, {workers} worker(s): peak RSS with memory-mapped buffer - gensim, MB", "<= 0",
                        paired("hsmcy-mmap", "gensim", "peak_rss_mb", sg, workers, lambda a, b: a - b), None))
    out.append(("build_vocab(corpus_file) speed vs gensim corpus_file (all runs)", ">= 2x",
                median([b["vocab_s"] / a["vocab_s"] for a in runs if a["impl"] == "hsmcy"
                        for b in runs if b["impl"] == "gensim-file" and b["round"] == a["round"]
                        and b["sg"] == a["sg"] and b["workers"] == a["workers"]]), 2.0))
    result = []
    for name, goal_text, value, goal in out:
        if value is None:
            continue  # not measured in this run (e.g. quality is evaluated for 2 workers only)
        if name.endswith("bytes per token"):
            met = None if value is None else value <= 4
        elif name.endswith("gensim, MB"):
            met = value <= 0
        else:
            met = None if value is None else value >= goal
        result.append({"target": name, "goal": goal_text, "median": value, "met": met})
    return result


def fmt(value, spec):
    return "" if value is None else format(value, spec)


def fmt_pair(values):
    """Core round trips before/after a run, e.g. ``57/341`` (ns)."""
    return "/".join("?" if v is None else f"{v:.0f}" for v in values or [None, None])


def markdown(summary, target_rows, meta, runs):
    lines = [f"Corpus: `{meta['corpus']}`, {meta['corpus_tokens']:,} tokens, {meta['corpus_sentences']:,} lines; "
             f"{meta['repeats']} round(s); medians.  Machine: {meta['machine'].get('Model name')}, "
             f"{meta['machine'].get('CPU(s)')} CPUs, Python {meta['machine']['python']}, numpy "
             f"{meta['machine']['numpy']}, scipy {meta['machine']['scipy']}, gensim {meta['machine']['gensim']}, "
             f"fastText {meta['machine'].get('fasttext')}; hsmcy kernel `{meta['machine']['hsmcy_kernel']}` "
             f"({meta['machine']['hsmcy_vector_dispatch']}).", "",
             "| mode | workers | implementation | corpus→model s | train s | vocab s | words/s (corpus→model) | "
             "× gensim | × gensim file | × fastText | peak RSS MB | analogy % | WS353 ρ | SimLex ρ |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary:
        lines.append(
            f"| {r['mode']} | {r['workers']} | {r['impl']} | {r['total_s']:.1f} | {r['train_s']:.1f} | "
            f"{fmt(r['vocab_s'], '.1f')} | {r['words_per_s_total']:,.0f} | {fmt(r['speedup_total_vs_gensim'], '.2f')} | "
            f"{fmt(r['speedup_total_vs_gensim-file'], '.2f')} | {fmt(r['speedup_total_vs_fasttext'], '.2f')} | "
            f"{r['peak_rss_mb']:.0f} | {fmt(r['analogy'] and 100 * r['analogy'], '.1f')} | "
            f"{fmt(r['wordsim353_spearman'], '.3f')} | {fmt(r['simlex999_spearman'], '.3f')} |")
    lines += ["", "Scaling (training words/s, 2 workers / 1 worker): " + ", ".join(
        f"{r['impl']} {r['mode']} {r['scaling_2w_over_1w_train']:.2f}x" for r in summary
        if r.get("scaling_2w_over_1w_train") is not None), "",
        "| target (issue 3) | goal | median | met |", "|---|---|---:|---|"]
    for t in target_rows:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        digits = ".3f" if "Spearman" in t["target"] else ".2f"
        lines.append(f"| {t['target']} | {t['goal']} | {fmt(t['median'], digits)} | {met} |")
    lines += ["", "Two-worker runs per round: seconds (corpus→model) and the core-to-core cache-line round trip "
              "before/after the run in ns (`benchmarks/core_latency.py`; on a VM it can jump between a "
              "shared-cache placement of the two CPUs and a slow one, which slows Hogwild training).", "",
              "| mode | implementation | " + " | ".join(f"round {k}" for k in range(meta["repeats"])) + " |",
              "|---|---|" + "---:|" * meta["repeats"]]
    for mode, sg in (("sg", 1), ("cbow", 0)):
        for impl in IMPLEMENTATIONS:
            cells = {r["round"]: f"{r['total_s']:.1f} s ({fmt_pair(r.get('core_round_trip_ns'))})"
                     for r in runs if r["impl"] == impl and r["sg"] == sg and r["workers"] == 2}
            if cells:
                lines.append(f"| {mode} | {impl} | " + " | ".join(cells.get(k, "") for k in range(meta["repeats"]))
                             + " |")
    return "\n".join(lines) + "\n"


def plot(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    groups = [(mode, workers) for mode in ("sg", "cbow") for workers in (1, 2)
              if any(r["mode"] == mode and r["workers"] == workers for r in summary)]
    impls = [i for i in IMPLEMENTATIONS if any(r["impl"] == i for r in summary)]
    width = 0.8 / max(len(impls), 1)
    fig, ax = plt.subplots(figsize=(10, 5))
    for k, impl in enumerate(impls):
        values = [next((r["words_per_s_total"] / 1e6 for r in summary if r["impl"] == impl and r["mode"] == m
                        and r["workers"] == w), np.nan) for m, w in groups]
        runs = max((r["runs"] for r in summary if r["impl"] == impl), default=0)
        bars = ax.bar(np.arange(len(groups)) + (k - (len(impls) - 1) / 2) * width, values, width,
                      label=f"{impl} ({runs} round{'s' if runs > 1 else ''})")
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.2f}" for v in values], fontsize=7)
    ax.set_xticks(np.arange(len(groups)), [f"{m}, {w} worker{'s' if w > 1 else ''}" for m, w in groups])
    ax.set_ylabel("million corpus words / s (corpus → trained model)")
    ax.set_title("Hierarchical-softmax word2vec, same corpus and parameters (median over rounds;\n"
                 "an implementation run in fewer rounds ran in the first one only)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--corpus", help="one sentence per line, whitespace-separated tokens "
                        "(default: built by make_corpus.py with --tokens)")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="size of the default corpus")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (every configuration once per round)")
    parser.add_argument("--quick", action="store_true", help="1 round, 1M-token corpus, no fastText/hsmcy-blas")
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--modes", default="sg,cbow")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--eval-rounds", type=int, default=None,
                        help="evaluate quality in the first N rounds (default: every round; one evaluation "
                        "moves by about half an analogy point between runs, so the targets take medians)")
    parser.add_argument("--eval-workers", default="2", help="worker counts whose runs are evaluated")
    parser.add_argument("--matrix", choices=["targets", "full"], default="targets",
                        help="targets: every implementation at the largest worker count, only hsmcy and "
                        "gensim at the others (what the targets need); full: every combination")
    parser.add_argument("--first-round-only", default="fasttext,hsmcy-blas",
                        help="implementations run in the first round only (fastText is the slowest here; "
                        "hsmcy-blas only shows which hsmcy kernel wins)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--resume", help="a train.json of an interrupted run: its runs are kept, not repeated")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.eval_rounds is None:
        args.eval_rounds = args.repeats
    if args.child:
        child(json.loads(args.child))
        return

    impls = args.impls.split(",")
    if args.quick:
        args.repeats = 1
        impls = [i for i in impls if i not in ("fasttext", "hsmcy-blas")]
    try:
        import fasttext  # noqa: F401
    except ImportError:
        if "fasttext" in impls:
            print("fastText is not installed (pip install -r benchmarks/requirements.txt): skipped")
            impls.remove("fasttext")
    corpus = ensure_corpus(args)
    corpus_tokens, corpus_sentences = count_tokens(corpus)
    modes = [1 if m == "sg" else 0 for m in args.modes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    meta = {"corpus": str(corpus), "corpus_tokens": corpus_tokens, "corpus_sentences": corpus_sentences,
            "repeats": args.repeats, "command": " ".join(sys.argv), "matrix": args.matrix,
            "first_round_only": args.first_round_only, "eval_rounds": args.eval_rounds,
            "eval_workers": args.eval_workers, "params": PARAMS, "machine": machine_description(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = json.loads(Path(args.resume).read_text())["runs"] if args.resume else []
    done = {(r["impl"], r["sg"], r["workers"], r["round"]) for r in runs}
    started = time.perf_counter()
    eval_workers = [int(w) for w in args.eval_workers.split(",")]
    first_round_only = [i for i in args.first_round_only.split(",") if i]
    for round_ in range(args.repeats):
        for sg in modes:
            for workers in worker_counts:
                for impl in impls:
                    if args.matrix == "targets" and workers != max(worker_counts) and impl not in ("hsmcy", "hsmcy-mmap", "gensim"):
                        continue
                    if impl in first_round_only and round_ > 0:
                        continue
                    if (impl, sg, workers, round_) in done:
                        continue
                    spec = {"impl": impl, "corpus": str(corpus), "sg": sg, "workers": workers, "round": round_,
                            "evaluate": (round_ < args.eval_rounds and workers in eval_workers
                                         and impl != "hsmcy-mmap")}  # the same training as hsmcy
                    before = round_trip_ns()
                    try:
                        run = run_child(spec, args.timeout)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        print(f"FAILED, skipped: {error}", flush=True)
                        continue
                    run["core_round_trip_ns"] = [before, round_trip_ns()]
                    runs.append(run)
                    print(f"[{time.perf_counter() - started:7.0f}s] round {round_} {'sg' if sg else 'cbow'} "
                          f"w={workers} {impl:12s} total {run['total_s']:6.1f}s train {run['train_s']:6.1f}s "
                          f"rss {run['peak_rss_mb']:5.0f}MB core rt {fmt_pair(run['core_round_trip_ns'])}"
                          + (f" analogy {100 * run['analogy']:.1f}% ws353 {run['wordsim353_spearman']:.3f}"
                             if "analogy" in run else ""), flush=True)
                    # Write as we go: a long run interrupted still leaves its data.
                    (out / "train.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    summary = summarise(runs, corpus_tokens, PARAMS["epochs"])
    target_rows = targets(summary, runs, corpus_tokens)
    meta["elapsed_s"] = time.perf_counter() - started
    (out / "train.json").write_text(json.dumps({"meta": meta, "summary": summary, "targets": target_rows,
                                                "runs": runs}, indent=1))
    table = markdown(summary, target_rows, meta, runs)
    (out / "train.md").write_text(table)
    try:
        plot(summary, out / "train.png")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -r benchmarks/requirements.txt)")
    print(table)


if __name__ == "__main__":
    main()
