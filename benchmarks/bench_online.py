#!/usr/bin/env python
"""Online training: grow a trained model with new text, against training from scratch and gensim's update.

Usage::

    python benchmarks/make_corpus.py --out /tmp/hsmcy_bench/corpus.txt --tokens 0   # once
    python benchmarks/bench_online.py --tokens 4000000         # sg and CBOW, seeds 1 2 3
    # the committed run (gensim's rows taken from the earlier run: gensim has not changed)
    python benchmarks/bench_online.py --tokens 4000000 --seeds 1 2 3 --modes sg,cbow --no-rebuild \
        --resume benchmarks/results/online_gensim_runs.json
    python benchmarks/bench_online.py --quick                  # 1M tokens, one seed, sg only

What is measured
----------------
The corpus's lines are cut into a first and a second half (its lines are already
shuffled, so the halves are alike; the second brings words too rare in the first to
have passed ``min_count``).  For hsmcy and for gensim (``hs=1, negative=0``, both
``corpus_file`` mode), with vector_size 100, window 5, min_count 5, sample 1e-3, 5
epochs, 2 workers:

* ``scratch``: build_vocab + train on the whole text;
* ``grown/<protocol>``: build_vocab + train on the first half, then (on a copy of that
  model, so that every protocol starts from the same one) ``build_vocab(second half,
  update=True)`` and train on the second half, by one of three protocols:
  ``restart`` -- 5 epochs, the learning rate again from ``alpha`` to ``min_alpha``
  (gensim's documented way to continue); ``continue`` -- 5 epochs from ``alpha / 2``,
  where one run over both halves would be halfway; ``short`` -- a cheap update, 2
  epochs from ``alpha / 2``; and, on request (``--protocols``), ``low`` -- 5 epochs
  from ``alpha / 5`` -- and ``replay`` -- 5 epochs from ``alpha / 2`` over the whole
  text (first half again, then the second), for a user who still has the old text;
  hsmcy's models keep their default ``rehearsal_words`` (``--rehearsal-words`` sets
  it; 0 is gensim's behaviour), so their second call also trains a sample of the
  first half (``hsmcy.rehearsal``);
* ``grown+rebuild/continue`` (hsmcy only): ``continue`` with ``rebuild_tree()`` between
  the update and the training;
* with ``--controls``: ``first-half`` (the model before the update, evaluated as it
  is) and ``fixed-vocab/continue``: the vocabulary (and tree) built once from the whole
  text, then train on the first half and ``continue`` on the second -- the same two
  training calls with no vocabulary growth at all, so its gap to ``scratch`` is what the
  two-call protocol costs by itself.

Reported per configuration (medians over the seeds):

* analogy accuracy (gensim's evaluator, ``restrict_vocab=30000``) on the questions
  whose four words are all in the first half's vocabulary ("old words"), and WS353 /
  SimLex-999 Spearman correlations on the pairs of old words;
* neighbours of new words: for the words the update added (1,000 drawn with a fixed
  seed), the overlap of their 10 nearest neighbours with those in the same
  implementation's ``scratch`` model of the same seed; for scale, the same overlap
  between two ``scratch`` models of different seeds (``scratch-vs-scratch``);
* right after the update, before any training: the change of every old-word token's
  exact log-probability on 2,000 sentences of the second half restricted to old words
  (hsmcy: the documented halving of split words only; gensim: its rebuilt tree), the
  fraction of old words whose ``point`` changed, and the grown tree's mean path length
  against a fresh Huffman tree's;
* time: the update (``build_vocab(update=True)``) and the whole pipeline.

Output (``--out``, default ``benchmarks/results/``): ``online.json`` (every run and the
summary) and ``online.md`` (the table), rewritten after every implementation and seed, so
an interrupted run leaves what it finished.  Every run is also printed as one line of
JSON; ``--resume FILE`` takes the runs of an earlier invocation from such a log (or from
its ``online.json``) and runs only the (mode, seed, implementation) groups it does not
complete.  The overlap between two from-scratch models of different seeds needs both
models in memory, so it is measured only between seeds run in the same invocation.
"""
import argparse
import copy
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = Path("/tmp/hsmcy_bench")
PARAMS = dict(vector_size=100, window=5, min_count=5, sample=1e-3, epochs=5, alpha=0.025, min_alpha=0.0001,
              workers=2)
#: How the second training call runs (start_alpha, epochs, text), after build_vocab(update=True):
#: "restart" is gensim's documented way (the whole schedule again); "continue" starts where
#: one run over both halves would be halfway (alpha / 2), as if the first call had stopped
#: there; "short" is a cheap update (alpha / 2, 2 epochs); "low" a gentler one (alpha / 5);
#: "replay" trains on the whole text (old and new) rather than on the new half only.
PROTOCOLS = {"restart": (PARAMS["alpha"], PARAMS["epochs"], "second"),
             "continue": (PARAMS["alpha"] / 2, PARAMS["epochs"], "second"),
             "short": (PARAMS["alpha"] / 2, 2, "second"),
             "low": (PARAMS["alpha"] / 5, PARAMS["epochs"], "second"),
             "replay": (PARAMS["alpha"] / 2, PARAMS["epochs"], "whole")}
NEW_WORD_PROBES = 1000
REHEARSAL_WORDS = None   # hsmcy's rehearsal_words (None: the library's default); --rehearsal-words
SCORE_SENTENCES = 2000


# --------------------------------------------------------------------------- data
def split_corpus(corpus, out_dir, tokens=None):
    """First and second half of the corpus's lines (optionally its first ``tokens`` tokens only)."""
    lines = []
    total = 0
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if not line.split():
                continue
            lines.append(line if line.endswith("\n") else line + "\n")
            total += len(line.split())
            if tokens and total >= tokens:
                break
    half = len(lines) // 2
    paths = {}
    for name, part in (("whole", lines), ("first", lines[:half]), ("second", lines[half:])):
        paths[name] = out_dir / f"{name}.txt"
        paths[name].write_text("".join(part), encoding="utf-8")
    return paths, total


def filtered_evaluation_files(old_words, out_dir):
    """gensim's analogy and word-pair files reduced to items made of old words only."""
    from gensim.test.utils import datapath
    files = {}
    kept = []
    with open(datapath("questions-words.txt"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(":") or all(w.lower() in old_words for w in line.split()):
                kept.append(line)
    files["analogy"] = out_dir / "questions-old.txt"
    files["analogy"].write_text("".join(kept), encoding="utf-8")
    for name, source in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        kept = []
        with open(datapath(source), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("#"):
                    kept.append(line)
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3 and parts[0].lower() in old_words and parts[1].lower() in old_words:
                    kept.append(line)
        files[name] = out_dir / f"{name}-old.txt"
        files[name].write_text("".join(kept), encoding="utf-8")
    return files


def old_word_vectors(wv, old_order):
    """The model's vectors of the old words only, in one fixed order shared by every model.

    Evaluating on this, every model answers the same analogy questions and word pairs,
    choosing among the same candidate words (``restrict_vocab`` takes the first
    30,000 of them: the most frequent in the first half).
    """
    from gensim.models import KeyedVectors
    restricted = KeyedVectors(wv.vector_size, count=0)
    restricted.add_vectors(old_order, wv[old_order])
    return restricted


def evaluate(wv, files, old_order):
    restricted = old_word_vectors(wv, old_order)
    analogy, sections = restricted.evaluate_word_analogies(str(files["analogy"]), restrict_vocab=30000)
    result = {"analogy": 100.0 * float(analogy),
              "analogy_questions": sum(len(s["correct"]) + len(s["incorrect"]) for s in sections
                                       if s["section"] == "Total accuracy")}
    for name in ("wordsim353", "simlex999"):
        pearson, spearman, oov = restricted.evaluate_word_pairs(str(files[name]))
        result[name] = float(spearman[0])
    return result


def neighbours(wv, words, topn=10):
    """Top-``topn`` neighbours (cosine, excluding the word) of each word, as sets."""
    matrix = wv.get_normed_vectors()
    rows = np.array([wv.key_to_index[w] for w in words])
    found = []
    for start in range(0, len(rows), 256):
        block = rows[start:start + 256]
        similarity = matrix[block] @ matrix.T
        similarity[np.arange(len(block)), block] = -np.inf
        top = np.argpartition(-similarity, topn, axis=1)[:, :topn]
        found.extend({wv.index_to_key[i] for i in row} for row in top)
    return found


def overlap(wv_a, wv_b, words):
    words = [w for w in words if w in wv_a.key_to_index and w in wv_b.key_to_index]
    a, b = neighbours(wv_a, words), neighbours(wv_b, words)
    return float(np.mean([len(x & y) / 10.0 for x, y in zip(a, b)])), len(words)


def old_word_sentences(path, old_words, n_sentences, seed=0):
    with open(path, encoding="utf-8") as handle:
        sentences = [line.split() for line in handle]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(sentences), size=min(n_sentences, len(sentences)), replace=False)
    kept = [[w for w in sentences[i] if w in old_words] for i in chosen]
    return [s for s in kept if len(s) > 1]


# ---------------------------------------------------------------------- runs
def exact_token_scores(model, sentences):
    """Every token's log-likelihood term (``score_words``) under ``model``, every node counted exactly.

    gensim's own ``score()`` leaves out every node with ``|h . v| >= 6`` (and reads a
    table), which hides exactly what a scrambled ``syn1`` does; a gensim model is
    therefore scored by hsmcy after ``Word2Vec.from_gensim`` (its tree and ``syn1``
    as they are).
    """
    import hsmcy
    if not isinstance(model, hsmcy.Word2Vec):
        model = hsmcy.Word2Vec.from_gensim(model)
    return np.concatenate(model.score_words(sentences, total_sentences=len(sentences)))


def new_model(impl, sg, seed):
    import gensim
    import hsmcy
    params = dict(PARAMS, sg=sg, seed=seed)
    if impl == "hsmcy":
        if REHEARSAL_WORDS is not None:
            params["rehearsal_words"] = REHEARSAL_WORDS
        return hsmcy.Word2Vec(**params)
    return gensim.models.Word2Vec(hs=1, negative=0, **params)


def train_on(model, path, counts=None, **schedule):
    """Train ``model`` on ``path``; ``counts`` (lines, tokens) when it is not the corpus of the last build_vocab."""
    examples, words = counts or (model.corpus_count, model.corpus_total_words)
    model.train(corpus_file=str(path), total_examples=examples, total_words=words,
                **{"epochs": PARAMS["epochs"], **schedule})


def corpus_counts(path):
    lines = tokens = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            lines += 1
            tokens += len(line.split())
    return lines, tokens


def run_scratch(impl, sg, seed, paths):
    started = time.perf_counter()
    model = new_model(impl, sg, seed)
    model.build_vocab(corpus_file=str(paths["whole"]))
    train_on(model, paths["whole"])
    return model.wv, {"impl": impl, "variant": "scratch", "sg": sg, "seed": seed,
                      "total_s": time.perf_counter() - started, "vocab": len(model.wv)}


def run_first_half(impl, sg, seed, paths):
    started = time.perf_counter()
    model = new_model(impl, sg, seed)
    model.build_vocab(corpus_file=str(paths["first"]))
    train_on(model, paths["first"])
    return model, time.perf_counter() - started


def update_metrics(impl, model, probes, paths):
    """Grow ``model`` (in place) with the second half; what the update did to the old words, and its time."""
    old_words = list(model.wv.index_to_key)
    points = {w: np.array(model.wv.get_vecattr(w, "point")) if impl == "gensim" else
              model.tree.path(model.wv.key_to_index[w])[0].copy() for w in old_words}
    before = exact_token_scores(model, probes)
    started = time.perf_counter()
    model.build_vocab(corpus_file=str(paths["second"]), update=True)
    metrics = {"update_s": time.perf_counter() - started}
    change = exact_token_scores(model, probes) - before
    metrics.update(logp_change_mean=float(np.mean(change)), logp_change_mean_abs=float(np.mean(np.abs(change))),
                   tokens_changed=float(np.mean(change != 0)), vocab_after_update=len(model.wv))
    if impl == "gensim":
        moved = sum(not np.array_equal(points[w], model.wv.get_vecattr(w, "point")) for w in old_words)
    else:
        new_paths = {w: model.tree.path(model.wv.key_to_index[w])[0] for w in old_words}
        moved = sum(not np.array_equal(points[w], new_paths[w][:len(points[w])]) for w in old_words)
        metrics["path_length_ratio"] = model.tree_cost()["ratio"]
        metrics["old_words_split"] = sum(len(new_paths[w]) > len(points[w]) for w in old_words)
    metrics["old_paths_changed"] = moved / len(old_words)
    return metrics, before


def run_grown(impl, base, first_half_s, protocol, rebuild, sg, seed, paths, probes):
    """``base`` (trained on the first half) copied, grown with the second half, trained on it."""
    model = copy.deepcopy(base)
    result = {"impl": impl, "variant": ("grown+rebuild/" if rebuild else "grown/") + protocol, "sg": sg,
              "seed": seed}
    metrics, before = update_metrics(impl, model, probes, paths)
    result.update(metrics)
    started = time.perf_counter()
    if rebuild:
        report = model.rebuild_tree()
        result["rebuild_s"] = time.perf_counter() - started
        result["rebuild_carried"] = report["carried"]
        result["logp_change_mean_abs_after_rebuild"] = float(np.mean(np.abs(exact_token_scores(model, probes) -
                                                                            before)))
    start_alpha, epochs, text = PROTOCOLS[protocol]
    train_on(model, paths[text], counts=None if text == "second" else corpus_counts(paths[text]),
             start_alpha=start_alpha, end_alpha=PARAMS["min_alpha"], epochs=epochs)
    result["total_s"] = first_half_s + result["update_s"] + time.perf_counter() - started
    result["vocab"] = len(model.wv)
    return model.wv, result


def run_fixed_vocabulary(impl, sg, seed, paths, protocol="continue"):
    """The control: vocabulary and tree from the whole text, then the same two training calls as ``grown``."""
    started = time.perf_counter()
    model = new_model(impl, sg, seed)
    model.build_vocab(corpus_file=str(paths["whole"]))
    train_on(model, paths["first"], counts=corpus_counts(paths["first"]))
    start_alpha, epochs, text = PROTOCOLS[protocol]
    train_on(model, paths[text], counts=corpus_counts(paths[text]), start_alpha=start_alpha,
             end_alpha=PARAMS["min_alpha"], epochs=epochs)
    return model.wv, {"impl": impl, "variant": f"fixed-vocab/{protocol}", "sg": sg, "seed": seed,
                      "total_s": time.perf_counter() - started, "vocab": len(model.wv)}


def summarise(runs, modes):
    rows = []
    for sg in modes:
        for impl in ("hsmcy", "gensim"):
            order = list(PROTOCOLS)
            kinds = ["scratch", "first-half", "grown", "grown+rebuild", "fixed-vocab"]
            variants = sorted({r["variant"] for r in runs if r["impl"] == impl and r["sg"] == sg},
                              key=lambda v: (kinds.index(v.split("/")[0]),
                                             order.index(v.split("/")[1]) if "/" in v else -1))
            for variant in variants:
                chosen = [r for r in runs if r["sg"] == sg and r["impl"] == impl and r["variant"] == variant]
                row = {"mode": "sg" if sg else "cbow", "impl": impl, "variant": variant, "runs": len(chosen)}
                for key in ("analogy", "wordsim353", "simlex999", "new_word_overlap", "logp_change_mean",
                            "logp_change_mean_abs", "tokens_changed", "logp_change_mean_abs_after_rebuild",
                            "old_paths_changed", "path_length_ratio", "update_s", "rebuild_s", "total_s",
                            "scratch_vs_scratch_overlap", "old_words_split", "rebuild_carried"):
                    values = [r[key] for r in chosen if r.get(key) is not None]
                    if values:
                        row[key] = statistics.median(values)
                rows.append(row)
    return rows


def per_seed(runs, mode, first, second, key="analogy"):
    """``{seed: first - second}`` of ``key`` (each an (impl, variant) pair), for the seeds that have both."""
    sg = 1 if mode == "sg" else 0
    values = {}
    for run_result in runs:
        if run_result["sg"] == sg and key in run_result:
            values[run_result["impl"], run_result["variant"], run_result["seed"]] = run_result[key]
    seeds = sorted({seed for (_, _, seed) in values})
    return {seed: values[first + (seed,)] - values[second + (seed,)] for seed in seeds
            if first + (seed,) in values and second + (seed,) in values}


def paired_gaps(runs, mode, first, second, key="analogy"):
    """Per-seed ``first - second`` of ``key``, for the seeds that have both."""
    return list(per_seed(runs, mode, first, second, key).values())


def load_runs(path):
    """The finished runs recorded in ``path``: an ``online.json``, or a log of this script (one JSON run per line)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return list(json.loads(text)["runs"])
    except (ValueError, KeyError, TypeError):
        pass
    runs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            if {"impl", "variant", "sg", "seed"} <= set(record):
                runs.append(record)
    return runs


def expected_variants(impl, protocols, rebuild, controls=False):
    variants = {"scratch"} | {f"grown/{protocol}" for protocol in protocols}
    if controls:
        variants |= {"first-half", "fixed-vocab/continue"}
    if impl == "hsmcy" and rebuild:
        variants.add("grown+rebuild/continue")
    return variants


def markdown(rows, runs, meta):
    seeds_text = "; ".join(f"{'sg' if sg else 'cbow'} {sorted({r['seed'] for r in runs if r['sg'] == sg})}"
                           for sg in (1, 0) if any(r["sg"] == sg for r in runs))
    schedules = ", ".join(f"{name}: start_alpha {alpha:g}, {epochs} epochs"
                          + (" over the whole text" if text == "whole" else "")
                          for name, (alpha, epochs, text) in meta["protocols"].items())
    lines = [f"Corpus: `{meta['corpus']}`, first {meta['tokens']:,} tokens, cut into two halves of lines; "
             f"seeds {seeds_text}; medians.  vector_size 100, window 5, min_count 5, sample 1e-3, 2 workers, "
             "corpus_file mode; every training call from scratch or on the first half: 5 epochs, alpha 0.025 to "
             f"0.0001; the call on the second half after `build_vocab(update=True)` ({schedules}) ends at 0.0001.  "
             f"Machine: {meta['machine']}; commit {meta['commit']}.  Command: `{meta['command']}`."
             + (f"  {meta['resumed_runs']} runs taken from `{meta['resumed_from']}` (an earlier invocation of the "
                "same command)." if meta.get("resumed_runs") else "")
             + (f"  Tables written again from its JSON by `{meta['rendered']}`." if meta.get("rendered") else ""), "",
             "Old-word evaluations: only the questions / pairs whose words are all in the first half's "
             f"vocabulary ({meta['old_questions']} analogy questions), answered among the old words only (the "
             "30,000 most frequent in the first half), the same for every model.  New-word overlap: shared top-10 "
             "neighbours with the same implementation's from-scratch model (same seed), for 1,000 words the "
             "update added.  Change of log P: each old-word token's `score_words()` term (its log-probability "
             "given its window, every node counted exactly; a gensim model is scored through "
             "`hsmcy.Word2Vec.from_gensim`) on 2,000 second-half sentences of old words, right after "
             "`build_vocab(update=True)` against right before, before any training.  Total s: from the corpus "
             "to the final model (grown: first half + update + second half).", "",
             "| mode | implementation | variant | analogy % (old) | WS353 ρ (old) | SimLex ρ (old) | new-word top-10 "
             "overlap | mean abs. change of log P at update | tokens whose log P changed | old paths changed | "
             "path length / Huffman | update s | total s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(row, key, fmt):
        return format(row[key], fmt) if key in row else ""

    for row in rows:
        lines.append(f"| {row['mode']} | {row['impl']} | {row['variant']} | {cell(row, 'analogy', '.2f')} | "
                     f"{cell(row, 'wordsim353', '.3f')} | {cell(row, 'simlex999', '.3f')} | "
                     f"{cell(row, 'new_word_overlap', '.3f')} | {cell(row, 'logp_change_mean_abs', '.4f')} | "
                     f"{cell(row, 'tokens_changed', '.1%')} | "
                     f"{cell(row, 'old_paths_changed', '.1%')} | {cell(row, 'path_length_ratio', '.4f')} | "
                     f"{cell(row, 'update_s', '.2f')} | {cell(row, 'total_s', '.1f')} |")
    lines.append("")
    for row in rows:
        if "scratch_vs_scratch_overlap" in row:
            lines.append(f"- {row['mode']} {row['impl']}: new-word top-10 overlap between two from-scratch models "
                         f"of different seeds: {row['scratch_vs_scratch_overlap']:.3f}")
        if "rebuild_s" in row:
            lines.append(f"- {row['mode']} hsmcy {row['variant']}: `rebuild_tree()` took {row['rebuild_s']:.1f} s, "
                         f"{row.get('rebuild_carried', 0):.1%} of the inner nodes kept their vector; mean abs. "
                         f"change of log P after update + rebuild: "
                         f"{row.get('logp_change_mean_abs_after_rebuild', float('nan')):.4f}")
        if "old_words_split" in row and row["variant"] == "grown/restart":
            lines.append(f"- {row['mode']} hsmcy: {row['old_words_split']:.0f} old words were split at the "
                         "update (their probability halved); every other old word's is unchanged")
    targets = []
    for mode in [m for m in ("sg", "cbow") if any(r["mode"] == m for r in rows)]:
        for protocol in meta["protocols"]:
            variant = f"grown/{protocol}"
            gaps = paired_gaps(runs, mode, ("hsmcy", variant), ("hsmcy", "scratch"))
            if gaps:
                gap = statistics.median(gaps)
                targets.append(f"| {mode}, {protocol}: analogy (old words), hsmcy grown - hsmcy from scratch | "
                               f">= -1.0 | {gap:+.2f} | {'yes' if gap >= -1.0 else '**no**'} |")
            gaps = paired_gaps(runs, mode, ("hsmcy", variant), ("gensim", variant))
            if gaps:
                gap = statistics.median(gaps)
                targets.append(f"| {mode}, {protocol}: analogy (old words), hsmcy grown - gensim grown | "
                               f"far ahead (> 0) | {gap:+.2f} | {'yes' if gap > 0 else '**no**'} |")
            # each library against its own from-scratch model: what the update path costs, without
            # the (small) difference between the two libraries' from-scratch models
            ours = per_seed(runs, mode, ("hsmcy", variant), ("hsmcy", "scratch"))
            theirs = per_seed(runs, mode, ("gensim", variant), ("gensim", "scratch"))
            own = [ours[seed] - theirs[seed] for seed in ours if seed in theirs]
            if own:
                gap = statistics.median(own)
                targets.append(f"| {mode}, {protocol}: analogy (old words), (hsmcy grown - hsmcy scratch) - "
                               f"(gensim grown - gensim scratch) | far ahead (> 0) | {gap:+.2f} | "
                               f"{'yes' if gap > 0 else '**no**'} |")
        for impl in ("hsmcy", "gensim"):
            for variant in ("first-half", "fixed-vocab/continue"):
                gaps = paired_gaps(runs, mode, (impl, variant), (impl, "scratch"))
                if gaps:
                    targets.append(f"| {mode}, control: analogy (old words), {impl} {variant} - {impl} from scratch "
                                   f"| (no goal) | {statistics.median(gaps):+.2f} | |")
    if targets:
        lines += ["", "Per-seed differences, then their median:", "",
                  "| target (issue 21) | goal | median | met |", "|---|---|---:|---|"] + targets
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(BENCH_DIR / "corpus.txt"))
    parser.add_argument("--tokens", type=int, default=0, help="use only the first N tokens (0: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--modes", default="sg,cbow")
    parser.add_argument("--no-gensim", action="store_true")
    parser.add_argument("--no-rebuild", dest="rebuild", action="store_false",
                        help="skip the hsmcy grown+rebuild variant")
    parser.add_argument("--protocols", default="restart,continue,short",
                        help=f"second training calls to run, of {sorted(PROTOCOLS)}")
    parser.add_argument("--controls", action="store_true",
                        help="also evaluate the first-half model and run the fixed-vocab/continue control")
    parser.add_argument("--quick", action="store_true", help="1M tokens, seed 1, sg only")
    parser.add_argument("--rehearsal-words", type=int, default=None,
                        help="hsmcy's rehearsal_words (default: the library's; 0: no rehearsal, gensim's behaviour)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--render", action="store_true",
                        help="only write the tables again from the runs and settings in --resume's online.json")
    parser.add_argument("--resume", metavar="FILE",
                        help="reuse the finished runs in FILE (this script's log, or its online.json); "
                             "run only the groups it does not complete")
    args = parser.parse_args()
    global REHEARSAL_WORDS
    REHEARSAL_WORDS = args.rehearsal_words
    if args.quick:
        args.tokens, args.seeds, args.modes = 1_000_000, [1], "sg"
    corpus = Path(args.corpus)
    if not corpus.exists():
        sys.exit(f"{corpus} does not exist: build it with python benchmarks/make_corpus.py --out {corpus} --tokens 0")
    modes = [1 if m == "sg" else 0 for m in args.modes.split(",")]
    protocols = args.protocols.split(",")
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        sys.exit(f"unknown protocols {unknown}; choose from {sorted(PROTOCOLS)}")
    import gensim
    import hsmcy
    machine = f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, " \
              f"numpy {np.__version__}, gensim {gensim.__version__}, hsmcy at {Path(hsmcy.__file__).parent}"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = None
    runs = []
    resumed = load_runs(args.resume) if args.resume else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "online_quick" if args.quick else "online"
    meta = {"corpus": str(corpus), "tokens": None, "seeds": args.seeds, "machine": machine, "commit": commit,
            "params": PARAMS, "old_questions": None, "command": " ".join(sys.argv),
            "protocols": {name: PROTOCOLS[name] for name in protocols},
            "rehearsal_words": args.rehearsal_words if args.rehearsal_words is not None else
            hsmcy.rehearsal.DEFAULT_REHEARSAL_WORDS}

    def write_results(final=False):
        rows = summarise(runs, modes)
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": rows, "runs": runs}, indent=1))
        table = markdown(rows, runs, meta)
        (out / f"{stem}.md").write_text(table)
        if final:
            print(table)

    if args.render:
        if not args.resume:
            sys.exit("--render needs --resume FILE (an online.json)")
        recorded = json.loads(Path(args.resume).read_text(encoding="utf-8"))
        meta, runs[:] = recorded["meta"], recorded["runs"]
        meta["protocols"] = {name: PROTOCOLS[name] for name in meta["protocols"]}
        meta["rendered"] = f"{' '.join(sys.argv)} (at commit {commit})"
        modes = [sg for sg in (1, 0) if any(r["sg"] == sg for r in runs)]
        write_results(final=True)
        return

    with tempfile.TemporaryDirectory(prefix="hsmcy-online-") as scratch_dir:
        out_dir = Path(scratch_dir)
        paths, tokens = split_corpus(corpus, out_dir, args.tokens or None)
        # The first half's vocabulary (the same for hsmcy and gensim: the same rules): the old words.
        first_vocabulary = hsmcy.Word2Vec(**PARAMS)
        first_vocabulary.build_vocab(corpus_file=str(paths["first"]))
        old_order = list(first_vocabulary.wv.index_to_key)
        del first_vocabulary
        old_words = set(old_order)
        files = filtered_evaluation_files(old_words, out_dir)
        probes = old_word_sentences(paths["second"], old_words, SCORE_SENTENCES)
        meta["tokens"] = tokens
        meta["old_questions"] = sum(1 for line in open(files["analogy"], encoding="utf-8")
                                    if not line.startswith(":"))
        implementations = ["hsmcy"] + ([] if args.no_gensim else ["gensim"])
        for sg in modes:
            scratch_models = {}
            for seed in args.seeds:
                for impl in implementations:
                    # the last record of each variant (a log may hold a group twice)
                    earlier = list({r["variant"]: r for r in resumed
                                    if (r["impl"], r["sg"], r["seed"]) == (impl, sg, seed)}.values())
                    if {r["variant"] for r in earlier} >= expected_variants(impl, protocols, args.rebuild, args.controls):
                        print(f"{'sg' if sg else 'cbow'} seed {seed} {impl}: {len(earlier)} runs from {args.resume}",
                              flush=True)
                        runs.extend(earlier)
                        meta["resumed_from"] = args.resume
                        meta["resumed_runs"] = meta.get("resumed_runs", 0) + len(earlier)
                        write_results()
                        continue
                    print(f"{'sg' if sg else 'cbow'} seed {seed} {impl} scratch ...", flush=True)
                    wv, result = run_scratch(impl, sg, seed, paths)
                    models = {"scratch": wv}
                    results = [result]
                    print(f"{'sg' if sg else 'cbow'} seed {seed} {impl} first half ...", flush=True)
                    base, first_half_s = run_first_half(impl, sg, seed, paths)
                    grown = [(protocol, False) for protocol in protocols]
                    if impl == "hsmcy" and args.rebuild:
                        grown.append(("continue", True))
                    for protocol, rebuild in grown:
                        print(f"{'sg' if sg else 'cbow'} seed {seed} {impl} grown/{protocol}"
                              f"{' + rebuild' if rebuild else ''} ...", flush=True)
                        wv, result = run_grown(impl, base, first_half_s, protocol, rebuild, sg, seed, paths, probes)
                        models[result["variant"]] = wv
                        results.append(result)
                    if args.controls:
                        models["first-half"] = base.wv
                        results.append({"impl": impl, "variant": "first-half", "sg": sg, "seed": seed,
                                        "total_s": first_half_s, "vocab": len(base.wv)})
                        print(f"{'sg' if sg else 'cbow'} seed {seed} {impl} fixed-vocab/continue ...", flush=True)
                        wv, result = run_fixed_vocabulary(impl, sg, seed, paths)
                        models[result["variant"]] = wv
                        results.append(result)
                    del base
                    new_words = [w for w in models[results[1]["variant"]].index_to_key if w not in old_words]
                    new_words = sorted(np.random.default_rng(0).choice(
                        new_words, size=min(NEW_WORD_PROBES, len(new_words)), replace=False).tolist())
                    for result in results:
                        result.update(evaluate(models[result["variant"]], files, old_order))
                        if result["variant"] not in ("scratch", "first-half"):
                            result["new_word_overlap"], result["new_words_compared"] = overlap(
                                models[result["variant"]], models["scratch"], new_words)
                        print("   ", json.dumps(result), flush=True)
                    runs.extend(results)
                    scratch_models[impl, seed] = (models["scratch"], new_words)
                    write_results()
            # the scale of the neighbour overlap: two from-scratch models of different seeds
            for impl in implementations:
                seeds = [s for s in args.seeds if (impl, s) in scratch_models]
                for a, b in zip(seeds, seeds[1:]):
                    (model_a, words), (model_b, _) = scratch_models[impl, a], scratch_models[impl, b]
                    value, _ = overlap(model_a, model_b, words)
                    next(r for r in runs if r["impl"] == impl and r["sg"] == sg and r["seed"] == a
                         and r["variant"] == "scratch")["scratch_vs_scratch_overlap"] = value
            write_results()
    write_results(final=True)


if __name__ == "__main__":
    main()
