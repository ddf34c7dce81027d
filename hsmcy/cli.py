"""The ``hsmcy`` command: train, evaluate, query and convert word vectors.

Run ``hsmcy --help`` or ``hsmcy COMMAND --help``.  Also available as ``python -m hsmcy``.

Errors (a missing file, an unreadable format, an unknown word, a bad option value)
print one line on stderr and exit with status 1 (2 for a usage error); never a
traceback (set ``HSMCY_TRACEBACK=1`` to see one when reporting a bug).

File formats (``--format``, or guessed from the file's contents when reading and
from its extension when writing) are described, read and written in
:mod:`hsmcy.formats`.  ``hsmcy predict`` needs a full model (``hsmcy`` or ``gensim-model``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from .formats import (FORMATS, FormatError, check_hsmcy_output, check_input_file, detect_format, extensions_help,
                      format_for_output, load_model, load_vectors, save)

__all__ = ["main", "FORMATS", "detect_format", "load_vectors", "load_model", "CommandError"]

_GENSIM_PICKLES = ("gensim", "gensim-model")
DEFAULT_CORPUS = "lee_background.cor"
# Options that set the model's parameters; a resumed run keeps the ones saved with it.
_PARAMETER_OPTIONS = {"sg": "--sg/--cbow", "size": "--size", "window": "--window", "min_count": "--min-count",
                      "epochs": "--epochs", "workers": "--workers", "alpha": "--alpha", "sample": "--sample",
                      "seed": "--seed"}
_PARAMETER_DEFAULTS = {"size": 100, "window": 5, "min_count": 5, "workers": min(os.cpu_count() or 1, 4),
                       "alpha": 0.025, "sample": 1e-3, "seed": 1}
# Words whose neighbours are shown after training, when the corpus has them.
_PROBE_WORDS = ("government", "fire", "Australia", "police", "president", "world", "city", "water")


class CommandError(Exception):
    """A user error: printed as one line by :func:`main`, exit status 1."""


def _gensim_datapath(name):
    from gensim.test.utils import datapath
    return datapath(name)


# ------------------------------------------------------------------ options
def _number_option(convert, accept, expected):
    """An argparse ``type=`` that converts with ``convert`` and refuses values ``accept`` rejects."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_int = _number_option(int, lambda value: value >= 1, "a positive integer")
_non_negative_int = _number_option(int, lambda value: value >= 0, "an integer >= 0")
_positive_float = _number_option(float, lambda value: 0 < value < float("inf"), "a positive finite number")

_non_negative_float = _number_option(float, lambda value: 0 <= value < float("inf"), "a finite number >= 0")


_EXAMPLES = """examples:
  hsmcy train -o vectors.kv                   train on gensim's bundled corpus, save gensim KeyedVectors
  hsmcy train corpus.txt -o model.hsmcy --sg  skip-gram on your corpus, save the full model
  hsmcy similar model.hsmcy king queen        nearest neighbours
  hsmcy predict model.hsmcy the prime said    most probable centre words for a context
  hsmcy eval model.hsmcy                      analogies and word pairs (gensim's bundled test sets)
  hsmcy convert model.hsmcy vectors.bin       to word2vec binary (also .txt/.vec, .kv)

Gensim's native format is a pickle: load such files only from sources you trust."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hsmcy train: error: argument --size: ...``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The ``hsmcy`` argument parser (exposed for documentation tools)."""
    parser = _Parser(prog="hsmcy", description="Hierarchical-softmax word2vec: train, evaluate, query and convert "
                     "word vectors (gensim-compatible).", epilog=_EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__
    parser.add_argument("--version", action="version", version=f"hsmcy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser(
        "train", help="train word vectors on a text file",
        description="Train word vectors with hierarchical softmax. With no CORPUS, train on gensim's bundled "
                    f"{DEFAULT_CORPUS} (300 news articles, 60k tokens) with --sg and --epochs 20 unless given.")
    train.add_argument("corpus", nargs="?", metavar="CORPUS",
                       help="UTF-8 text (.gz/.bz2/.xz read as such), one sentence per line, tokens separated by whitespace "
                            f"(default: gensim's bundled {DEFAULT_CORPUS})")
    train.add_argument("-o", "--output", required=True, metavar="OUT", help="where to save the result")
    train.add_argument("--format", choices=FORMATS, default=None,
                       help=f"output format (default: from OUT's extension: {extensions_help()})")
    train.add_argument("--sg", action="store_true", default=None,
                       help="skip-gram (the default without CORPUS; with a CORPUS the default is CBOW)")
    train.add_argument("--cbow", dest="sg", action="store_false", help="CBOW (the default for a given CORPUS)")
    train.add_argument("--size", type=_positive_int, default=None, help="vector size (default 100)")
    train.add_argument("--window", type=_positive_int, default=None, help="context window (default 5)")
    train.add_argument("--min-count", type=_non_negative_int, default=None,
                       help="ignore words rarer than this (default 5)")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="passes over the corpus (default 5; 20 without CORPUS)")
    train.add_argument("--workers", type=_positive_int, default=None,
                       help=f"training threads (default: the number of cores, at most 4; here "
                            f"{_PARAMETER_DEFAULTS['workers']})")
    train.add_argument("--alpha", type=_positive_float, default=None, help="initial learning rate (default 0.025)")
    train.add_argument("--sample", type=_non_negative_float, default=None,
                       help="down-sampling threshold of frequent words (default 1e-3; 0 disables)")
    train.add_argument("--seed", type=_non_negative_int, default=None, help="random seed (default 1)")
    train.add_argument("--loss", action="store_true",
                       help="compute and show the training loss (training takes about a third longer)")
    train.add_argument("--checkpoint", metavar="FILE", default=None,
                       help="save the run in hsmcy format to FILE after every epoch and when interrupted "
                            "(Ctrl-C), so that --resume FILE can continue it")
    train.add_argument("--resume", metavar="FILE", default=None,
                       help="continue the interrupted run saved in FILE by --checkpoint, on the same CORPUS "
                            "(its parameters come from FILE)")
    train.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing but errors: no summary, progress bar or log lines")

    evaluate = commands.add_parser(
        "eval", help="analogy accuracy and word-pair correlation",
        description="Score word vectors with gensim's evaluators. Defaults: gensim's bundled "
                    "questions-words.txt (analogies), wordsim353.tsv and simlex999.txt (word pairs).")
    evaluate.add_argument("vectors", metavar="VECTORS", help="word vectors in any supported format")
    evaluate.add_argument("--analogies", metavar="FILE", default=None,
                          help="analogy questions (default: gensim's questions-words.txt)")
    evaluate.add_argument("--pairs", metavar="FILE", nargs="+", default=None,
                          help="word-pair similarity files (default: wordsim353.tsv simlex999.txt)")
    evaluate.add_argument("--restrict-vocab", type=_positive_int, default=30000,
                          help="use only the most frequent N words for analogies (default 30000)")
    evaluate.add_argument("--format", choices=FORMATS, default=None, help="format of VECTORS (default: guessed)")

    similar = commands.add_parser("similar", help="nearest neighbours of words",
                                  description="Print the nearest neighbours (cosine similarity) of each WORD.")
    similar.add_argument("vectors", metavar="VECTORS", help="word vectors in any supported format")
    similar.add_argument("words", metavar="WORD", nargs="+")
    similar.add_argument("-n", "--topn", type=_positive_int, default=10, help="neighbours per word (10)")
    similar.add_argument("--format", choices=FORMATS, default=None, help="format of VECTORS (default: guessed)")

    predict = commands.add_parser(
        "predict", help="most probable words given a context",
        description="Print the most probable centre words given CONTEXT words, from the hierarchical softmax "
                    "of a full model (hsmcy format, or a gensim Word2Vec saved with hs=1).")
    predict.add_argument("model", metavar="MODEL", help="a full model: hsmcy or gensim-model format")
    predict.add_argument("context", metavar="CONTEXT", nargs="+", help="context words")
    predict.add_argument("-n", "--topn", type=_positive_int, default=10, help="words to print (10)")

    convert = commands.add_parser(
        "convert", help="convert between formats",
        description="Convert between gensim native, word2vec text/binary and hsmcy's model format. A full model "
                    "(hsmcy, or a gensim Word2Vec with hs=1) can become any format; word vectors alone cannot "
                    "become an hsmcy model (they have no tree).")
    convert.add_argument("input", metavar="IN")
    convert.add_argument("output", metavar="OUT")
    convert.add_argument("--from", dest="from_format", choices=FORMATS, default=None,
                         help="format of IN (default: guessed from its contents)")
    convert.add_argument("--to", dest="to_format", choices=FORMATS, default=None,
                         help=f"format of OUT (default: from its extension: {extensions_help()})")
    return parser


# ------------------------------------------------------------------ commands
def _configure_logging(quiet, progress_bar):
    """Plain INFO lines on stderr unless a progress bar or --quiet takes their place.

    Returns a function that undoes it (so that ``main`` called in-process leaves
    logging as it found it).
    """
    logger = logging.getLogger("hsmcy")
    saved = logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_not_about_ctrl_c)
    logger.setLevel(logging.WARNING if quiet or progress_bar else logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False

    def restore():
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    return restore


def _not_about_ctrl_c(record):
    """Drop the library's log lines written while a Ctrl-C unwinds: the command says itself what was kept
    and how to continue on the command line (the library's words are about Python calls)."""
    return not isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _probe_words(wv, count=3):
    """A few words to show neighbours of: well-known ones if present, else mid-frequency words."""
    chosen = [word for word in _PROBE_WORDS if word in wv.key_to_index][:count]
    for rank in range(min(50, len(wv) // 3), len(wv), 37):
        if len(chosen) >= count:
            break
        if wv.index_to_key[rank] not in chosen:
            chosen.append(wv.index_to_key[rank])
    return chosen if len(wv) > 1 else []


class _Interrupted(Exception):
    """Ctrl-C during training: the message says what was kept and how to go on (exit status 130)."""


def _same_file(a, b):
    """True if paths ``a`` and ``b`` name one file: same real path (symlinks), or same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): different files
        return False


def _check_output(path, inputs, what="output"):
    """Refuse, before anything is opened for writing, an output that is one of the ``inputs`` (name -> path)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"cannot write {path!r}: it is a folder")
    for name, source in inputs.items():
        if source is not None and _same_file(path, source):
            raise CommandError(f"the {what} {path!r} is the {name} {source!r}: writing it would destroy the "
                               f"{name}; choose another file name")


def _output_format(path, requested, option):
    fmt = format_for_output(path, requested)
    if fmt is None:
        extension = os.path.splitext(path)[1] or "no extension"
        raise CommandError(f"cannot tell which format to write {path!r} in ({extension}): name it "
                           f"{extensions_help()}, or give {option} FORMAT")
    return fmt


def _cmd_train(args, out):
    if args.corpus is None:
        corpus = _gensim_datapath(DEFAULT_CORPUS)
        source = f"gensim's bundled {DEFAULT_CORPUS}"
    else:
        corpus = args.corpus
        check_input_file(corpus, "corpus file")
        source = corpus
    if args.resume is not None:
        check_input_file(args.resume, "checkpoint")
        given = [option for name, option in _PARAMETER_OPTIONS.items() if getattr(args, name) is not None]
        if given or args.loss:
            raise CommandError(f"--resume continues the run saved in {args.resume!r} with its own parameters; "
                               f"drop {', '.join(given + (['--loss'] if args.loss else []))}")
    else:  # defaults: the demo corpus gets skip-gram and 20 epochs (a small corpus needs more passes)
        if args.sg is None:
            args.sg = args.corpus is None
        if args.epochs is None:
            args.epochs = 20 if args.corpus is None else 5
        for name, value in _PARAMETER_DEFAULTS.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
    inputs = {"corpus": corpus, "checkpoint to resume": args.resume}
    _check_output(args.output, inputs)
    fmt = _output_format(args.output, args.format, "--format")
    if args.checkpoint is not None:
        _check_output(args.checkpoint, inputs, "checkpoint")
        try:
            check_hsmcy_output(args.checkpoint, "checkpoint")
        except ValueError as error:
            raise CommandError(f"--checkpoint: {error}") from None
        if fmt != "hsmcy" and _same_file(args.checkpoint, args.output):
            raise CommandError("--checkpoint and -o name the same file but OUT is not in hsmcy format; "
                               "give the checkpoint its own .hsmcy file")
    show_bar = not args.quiet and sys.stderr.isatty()
    restore_logging = _configure_logging(args.quiet, show_bar)
    try:
        return _train(args, out, corpus, source, fmt, show_bar)
    finally:
        restore_logging()


def _resume_hint(args):
    corpus = f"{args.corpus} " if args.corpus is not None else ""
    return f"hsmcy train {corpus}-o {args.output} --resume {args.checkpoint}"


def _train(args, out, corpus, source, fmt, show_bar):
    from .callbacks import Checkpoint
    from .word2vec import Word2Vec

    started = time.perf_counter()
    if args.resume is not None:
        model = load_model(args.resume, "hsmcy")
        if model.training_state is None:
            raise CommandError(f"{args.resume!r} holds a finished run: nothing to resume "
                               f"(`hsmcy convert {args.resume} {args.output}` writes it in another format)")
    else:
        model = Word2Vec(vector_size=args.size, window=args.window, min_count=args.min_count, workers=args.workers,
                         epochs=args.epochs, sg=int(args.sg), alpha=args.alpha, sample=args.sample, seed=args.seed)
        try:
            model.build_vocab(corpus_file=corpus)
        except ValueError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            raise _Interrupted("interrupted while reading the corpus, before training; nothing was saved") from None
    callbacks = [Checkpoint(args.checkpoint)] if args.checkpoint is not None else []
    try:
        if args.resume is not None:
            trained, seen = model.resume_training(corpus_file=corpus, callbacks=callbacks, progress=show_bar)
        else:
            trained, seen = model.train(corpus_file=corpus, epochs=args.epochs, compute_loss=args.loss,
                                        progress=show_bar, callbacks=callbacks)
    except KeyboardInterrupt:
        state = model.training_state
        where = f" in epoch {state['epoch'] + 1} of {state['epochs']}" if state is not None else ""
        if args.checkpoint is None and args.resume is not None:
            raise _Interrupted(f"interrupted{where}; {args.resume} still holds the run as it was when resumed: "
                               "the same command resumes from there again (add --checkpoint FILE to keep the "
                               "progress of a run)") from None
        if args.checkpoint is None:
            raise _Interrupted(f"interrupted{where}; nothing was saved (with --checkpoint FILE the run is saved "
                               "after every epoch and when interrupted, and --resume FILE continues it)") from None
        model.save(args.checkpoint)  # whole batches only: the batches of this epoch are kept too
        raise _Interrupted(f"interrupted{where}; the run so far is saved in {args.checkpoint}: continue it with "
                           f"`{_resume_hint(args)}`") from None
    elapsed = time.perf_counter() - started
    save(model, args.output, fmt)
    if args.quiet:
        return 0
    kind = "skip-gram" if model.sg else "CBOW"
    epochs = model.epochs
    in_vocabulary = int(model.wv.expandos["count"].sum())
    action = f"resumed {args.resume} and trained" if args.resume is not None else "trained"
    print(f"{action} {kind} vectors (size {model.vector_size}, window {model.window}, {epochs} epochs, "
          f"{model.workers} worker{'s' if model.workers != 1 else ''}) on {source}", file=out)
    print(f"  {model.corpus_total_words:,} tokens in {model.corpus_count:,} sentences; {len(model.wv):,} words "
          f"with min-count {model.min_count}, {in_vocabulary:,} tokens of them per epoch", file=out)
    if args.resume is None:
        print(f"  {seen:,} words read in {elapsed:.1f}s ({seen / max(elapsed, 1e-9):,.0f} words/s)", file=out)
    else:
        print(f"  {seen:,} words read over the whole run ({elapsed:.1f}s since resuming)", file=out)
    if model.compute_loss:
        loss = model.get_latest_training_loss()
        print(f"  training loss {loss:,.1f} over {trained:,} trained words ({loss / max(trained, 1):.4f} per word)",
              file=out)
    print(f"  saved to {args.output} ({fmt} format)", file=out)
    print("nearest neighbours:", file=out)
    for word in _probe_words(model.wv):
        neighbours = ", ".join(f"{other} {similarity:.2f}" for other, similarity in model.wv.most_similar(word, topn=5))
        print(f"  {word}: {neighbours}", file=out)
    return 0


def _cmd_eval(args, out):
    wv = load_vectors(args.vectors, args.format)
    analogies = args.analogies or _gensim_datapath("questions-words.txt")
    pairs = args.pairs or [_gensim_datapath("wordsim353.tsv"), _gensim_datapath("simlex999.txt")]
    for path in [analogies, *pairs]:
        check_input_file(path, "evaluation file")
    gensim_logger = logging.getLogger("gensim")
    level = gensim_logger.level
    gensim_logger.setLevel(logging.ERROR)  # gensim logs every section at INFO; we print a summary
    try:
        return _evaluate(wv, analogies, pairs, args.restrict_vocab, out)
    finally:
        gensim_logger.setLevel(level)


def _evaluate(wv, analogies, pairs, restrict_vocab, out):
    try:
        accuracy, sections = wv.evaluate_word_analogies(analogies, restrict_vocab=restrict_vocab)
    except (ValueError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read analogies {analogies!r}: {error}") from None
    total = next((s for s in sections if s["section"] == "Total accuracy"), None)
    answered = len(total["correct"]) + len(total["incorrect"]) if total else 0
    print(f"analogies ({os.path.basename(analogies)}): accuracy {accuracy:.4f} on {answered} questions "
          f"within the {restrict_vocab} most frequent words", file=out)
    for path in pairs:
        try:
            pearson, spearman, oov = wv.evaluate_word_pairs(path, restrict_vocab=restrict_vocab)
        except (ValueError, UnicodeDecodeError, IndexError) as error:
            raise CommandError(f"cannot read word pairs {path!r}: {error}") from None
        print(f"word pairs ({os.path.basename(path)}): Spearman {spearman.statistic:.4f}, "
              f"Pearson {pearson[0]:.4f}, {oov:.1f}% of pairs out of vocabulary", file=out)
    return 0


def _cmd_similar(args, out):
    wv = load_vectors(args.vectors, args.format)
    unknown = [word for word in args.words if word not in wv.key_to_index]
    if unknown:
        raise CommandError(f"unknown word{'s' if len(unknown) > 1 else ''}: {', '.join(map(repr, unknown))} "
                           f"(not among the {len(wv):,} words of {args.vectors})")
    for word in args.words:
        print(f"{word}:", file=out)
        for other, similarity in wv.most_similar(word, topn=args.topn):
            print(f"  {similarity:.4f}  {other}", file=out)
    return 0


def _cmd_predict(args, out):
    model = load_model(args.model)
    if not hasattr(model, "predict_output_word"):
        raise CommandError("this hsmcy has no Word2Vec.predict_output_word yet")
    unknown = [word for word in args.context if word not in model.wv.key_to_index]
    if len(unknown) == len(args.context):
        raise CommandError(f"none of the context words is in the vocabulary of {args.model}: "
                           f"{', '.join(map(repr, unknown))}")
    if unknown:
        print(f"hsmcy predict: ignoring unknown context word{'s' if len(unknown) > 1 else ''}: "
              f"{', '.join(map(repr, unknown))}", file=sys.stderr)
    predictions = model.predict_output_word(args.context, topn=args.topn)
    for word, probability in predictions or ():
        print(f"  {probability:.4f}  {word}", file=out)
    return 0


def _cmd_convert(args, out):
    check_input_file(args.input, "input file")
    _check_output(args.output, {"input": args.input})
    target_format = _output_format(args.output, args.to_format, "--to")
    source_format = args.from_format or detect_format(args.input)
    if source_format == "hsmcy":
        thing = load_model(args.input, "hsmcy")
    elif source_format in _GENSIM_PICKLES and target_format in ("hsmcy", "gensim-model"):
        thing = load_model(args.input, "gensim")
    else:
        thing = load_vectors(args.input, source_format)
    save(thing, args.output, target_format)
    wv = getattr(thing, "wv", thing)
    print(f"converted {args.input} ({source_format}) -> {args.output} ({target_format}): "
          f"{len(wv):,} words x {wv.vector_size}", file=out)
    return 0


_COMMANDS = {"train": _cmd_train, "eval": _cmd_eval, "similar": _cmd_similar, "predict": _cmd_predict,
             "convert": _cmd_convert}


def main(argv=None):
    """Run the ``hsmcy`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 on an error (printed as one line on stderr),
        2 on a usage error, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"hsmcy {args.command}"
    try:
        return _COMMANDS[args.command](args, sys.stdout)
    except (CommandError, FormatError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
    except (ValueError, TypeError, KeyError, OSError, ImportError, RuntimeError, FloatingPointError) as error:
        if os.environ.get("HSMCY_TRACEBACK"):  # for bug reports: the full story
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{prog}: error: {message}", file=sys.stderr)
    except _Interrupted as interrupted:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
