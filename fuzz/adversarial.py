"""An adversarial sweep of hsmcy's public API: hundreds of hostile cases, each in a fresh process.

Every case runs in its own interpreter (cwd a new temporary folder, ``PYTHONPATH`` the
package's parent, ``RLIMIT_AS`` capped, a timeout) and its outcome is classified:

==================  ===================================================================
clear error         an ordinary exception (ValueError, TypeError, KeyError, OSError, ...)
                    whose message names the offending parameter, attribute or file
error, unnamed      an ordinary exception whose message does not name it
internal error      an exception that betrays a missing check (AttributeError,
                    IndexError, ZeroDivisionError, OverflowError, AssertionError, ...),
                    or a command that printed a traceback
correct             finished, and the case's checks of the result passed
accepted            finished; the case has nothing to check (harmless input)
wrong/silent        finished but a check failed, or bad input was silently accepted,
                    or valid input was refused
crash               killed by a signal (segfault, bus error, abort)
hang                did not finish within the timeout
memory              MemoryError, or the memory cap was hit
known limit         a signal the documentation promises (a mapped file truncated)
==================  ===================================================================

Usage::

    PYTHONPATH=$PWD python fuzz/adversarial.py                 # everything, tables + JSON
    PYTHONPATH=$PWD python fuzz/adversarial.py --list          # the cases, by category
    PYTHONPATH=$PWD python fuzz/adversarial.py --only layer    # one category (repeatable)
    PYTHONPATH=$PWD python fuzz/adversarial.py --json out.json --markdown out.md --jobs 2
    PYTHONPATH=$PWD python fuzz/adversarial.py --rerun out.json   # only what crashed, hung, ... before

``ADVERSARIAL_PACKAGE_PARENT=DIR`` tests the hsmcy in ``DIR`` instead of this checkout's.

Not part of the test suite (it takes minutes); ``tests/test_adversarial_harness.py`` runs a
few of its cases through the same machinery.
"""
from __future__ import annotations

import argparse
import bz2
import concurrent.futures
import gzip
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

PACKAGE_PARENT = os.environ.get("ADVERSARIAL_PACKAGE_PARENT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_MARK = "@@ADVERSARIAL-RESULT@@"
OUTCOMES = ("clear error", "error, unnamed", "internal error", "correct", "accepted", "wrong/silent", "crash",
            "hang", "memory", "known limit")
BAD_OUTCOMES = ("crash", "hang", "memory")
# Exceptions that are a deliberate refusal; anything else means a check is missing.
CLEAR_TYPES = {"ValueError", "TypeError", "KeyError", "FileNotFoundError", "IsADirectoryError",
               "NotADirectoryError", "PermissionError", "RuntimeError", "FloatingPointError", "UnicodeDecodeError",
               "UnicodeEncodeError", "FileExistsError", "OSError", "BadZipFile", "FormatError", "CommandError",
               "UnpicklingError", "EOFError", "ArgumentTypeError", "NotImplementedError", "LookupError"}

# ---------------------------------------------------------------------------------------------- case prelude
# Executed in every case's interpreter before its body.  FIX is the folder of fixtures made once per sweep.
PRELUDE = r'''
import json, math, os, sys, threading, traceback, warnings
import numpy as np
FIX = os.environ["ADVERSARIAL_FIXTURES"]
import hsmcy
from gensim.test.utils import common_texts, datapath
LEE = datapath("lee_background.cor")
W2V, D2V, CLF, LAYER = (os.path.join(FIX, name) for name in ("w2v.hsmcy", "d2v.hsmcy", "clf.hsmcy", "layer.hsmcy"))
_CHECKS = []

class Wrong(Exception):
    """A check of the result failed."""

def check(condition, what):
    _CHECKS.append(what)
    if not condition:
        raise Wrong(what)

def finite(array):
    return bool(np.all(np.isfinite(np.asarray(array, dtype=np.float64))))

def lee_sentences(n=None):
    with open(LEE, encoding="utf-8") as lines:
        sentences = [line.split() for line in lines]
    return sentences[:n]

def w2v(**load):
    return hsmcy.Word2Vec.load(W2V, **load)

def d2v(**load):
    return hsmcy.Doc2Vec.load(D2V, **load)

def clf(**load):
    return hsmcy.HSClassifier.load(CLF, **load)

def layer(**load):
    return hsmcy.HierarchicalSoftmax.load(LAYER, **load)

def tiny(**parameters):
    settings = dict(min_count=1, vector_size=8, epochs=2, workers=1, seed=3)
    settings.update(parameters)
    return hsmcy.Word2Vec(common_texts, **settings)

def check_word2vec(model, nan_ok=False):
    V = len(model.wv.index_to_key)
    check(model.wv.vectors.shape == (V, model.vector_size), "wv.vectors has shape (V, vector_size)")
    check(nan_ok or finite(model.wv.vectors), "wv.vectors finite")
    check(nan_ok or finite(model.syn1), "syn1 finite")
    if V >= 2:
        words = model.wv.index_to_key[:2]
        top = model.predict_output_word(words, topn=2)
        check(top is None or (len(top) <= 2 and all(nan_ok or 0 <= p <= 1 for _, p in top)), "top-k probabilities in [0, 1]")

def run_threads(functions, timeout=50):
    """Run callables in threads; return the exceptions they raised (a thread still running is an error)."""
    errors = []
    def wrap(function):
        try:
            function()
        except BaseException as error:
            errors.append(error)
    threads = [threading.Thread(target=wrap, args=(f,), daemon=True) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("a thread did not finish")
    return errors

def first_clean_error(errors):
    """Re-raise the first error from run_threads (so the harness classifies it), or nothing."""
    if errors:
        raise errors[0]
'''

EPILOGUE = r'''
def _report(outcome):
    sys.stdout.write("\n" + MARK + json.dumps(outcome) + "\n")
    sys.stdout.flush()

with warnings.catch_warnings(record=True) as _warned:
    warnings.simplefilter("always")
    try:
        _case()
        _outcome = {"status": "done", "checks": len(_CHECKS)}
    except Wrong as error:
        _outcome = {"status": "wrong", "detail": str(error)}
    except MemoryError as error:
        _outcome = {"status": "memory", "type": type(error).__name__, "message": str(error)[:400]}
    except BaseException as error:
        _outcome = {"status": "raised", "type": type(error).__name__, "message": str(error)[:600],
                    "where": "".join(traceback.format_exception(error)[-3:])[-900:]}
_outcome["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in _warned})[:5]
_report(_outcome)
'''


def case(category, name, body=None, *, argv=None, files=None, expect="either", names=(), timeout=None,
         known_limit=None, check=None):
    """One case: ``body`` (Python, run after PRELUDE) or ``argv`` (arguments of ``python -m hsmcy``).

    expect: ``"error"`` (finishing cleanly is silent acceptance), ``"ok"`` (an exception is a wrong
    refusal) or ``"either"``.  names: substrings of which one should appear in an error message.
    files: {relative name: bytes} written into the case's folder first.  check (CLI only): Python
    expression over ``rc, out, err, folder`` that must hold when the command exits 0.
    """
    return {"category": category, "name": name, "body": textwrap.dedent(body).strip() if body else None,
            "argv": argv, "files": files or {}, "expect": expect, "names": list(names), "timeout": timeout,
            "known_limit": known_limit, "check": check}


# ============================================================================================== catalogue
# Bad values, by kind: (label, Python source).
ODD_VALUES = [("None", "None"), ("str", "'5'"), ("float 5.5", "5.5"), ("nan", "float('nan')"),
              ("inf", "float('inf')"), ("-inf", "float('-inf')"), ("-1", "-1"), ("0", "0"), ("10**18", "10**18"),
              ("True", "True"), ("np.uint64 max", "np.uint64(2**64 - 1)"), ("np.int8(5)", "np.int8(5)"),
              ("np.float16(5)", "np.float16(5)"), ("list [5]", "[5]"), ("complex", "1j"),
              ("np.int64(5)", "np.int64(5)"), ("np.float32(0.05)", "np.float32(0.05)")]


# The shorter grid used where a parameter grid would otherwise dominate the sweep's time.
SHORT_VALUES = [v for v in ODD_VALUES if v[0] in ("None", "str", "float 5.5", "nan", "inf", "-1", "0", "10**18", "True",
                                                  "np.uint64 max", "list [5]", "np.int64(5)", "np.float32(0.05)")]


def expectation(kind, label, low=1, high=None):
    """What a parameter of ``kind`` ('int' >= low, 'float' > 0 or >= 0) should do with value ``label``."""
    always_bad = {"None", "str", "nan", "inf", "-inf", "list [5]", "complex", "True", "np.uint64 max"}
    if kind == "int":
        if label in always_bad or label in ("float 5.5", "np.float16(5)", "np.float32(0.05)") or label == "-1":
            return "error"
        if label == "0":
            return "error" if low >= 1 else "ok"
        if label == "10**18":
            return "error" if high is not None else "either"
        return "ok"                              # np.int8(5), np.int64(5)
    # floats: a huge integer (np.uint64 max) is just a large number
    if label in always_bad - {"np.uint64 max"}:
        return "error"
    if label == "-1":
        return "error"
    if label == "0":
        return "error" if kind == "positive float" else "ok"
    return "either"                              # 5.5, 10**18 (may diverge), numpy scalars


def word2vec_parameter_cases():
    cases = []
    ints = {"vector_size": (1, None), "window": (1, 2**31 - 1), "min_count": (0, None), "epochs": (1, None),
            "workers": (1, 1024)}
    floats = {"alpha": "positive float", "min_alpha": "float", "sample": "float"}
    for parameter, (low, high) in ints.items():
        for label, source in SHORT_VALUES:
            if parameter in ("max_vocab_size", "max_final_vocab") and label == "None":
                continue                         # None is their default
            expect = expectation("int", label, low, high)
            if parameter in ("epochs", "vector_size") and label == "10**18":
                expect = "either"
            if parameter == "min_count" and expect == "ok":
                expect = "either"                # common_texts has no word 5 times: refusing is right
            cases.append(case("word2vec-parameters", f"{parameter}={label}", f"""
                value = {source}
                model = tiny({parameter}=value)
                check(model.{parameter} == value, "the parameter is kept")
                check_word2vec(model)
            """, expect=expect, names=[parameter], timeout=60))
    for parameter, kind in floats.items():
        for label, source in SHORT_VALUES:
            cases.append(case("word2vec-parameters", f"{parameter}={label}", f"""
                value = {source}
                model = tiny({parameter}=value)
                check(model.{parameter} == float(value), "the parameter is kept")
                check_word2vec(model)
            """, expect=expectation(kind, label), names=[parameter, "diverged"]))
    choices = {"sg": ["2", "-1", "'1'", "None", "float('nan')", "0.5"], "cbow_mean": ["2", "'0'", "None", "-1"],
               "hs": ["0", "2", "None"], "negative": ["5", "-1", "float('nan')"], "kernel": ["'Fast'", "None", "1", "''"],
               "null_word": ["1", "'x'"], "corpus_buffer": ["123", "'/proc/nonexistent/dir/x'", "b'\\x00'"]}
    for parameter, values in choices.items():
        for source in values:
            cases.append(case("word2vec-parameters", f"{parameter}={source}", f"""
                model = tiny({parameter}={source})
                check_word2vec(model)
            """, expect="error", names=[parameter]))
    for parameter, source, names in (("callbacks", "[object()]", ["callback", "on_"]), ("callbacks", "5", ["callbacks"]),
                                     ("trim_rule", "5", ["trim_rule"]), ("trim_rule", "lambda *a: 'junk'", ["trim_rule"]),
                                     ("sorted_vocab", "'no'", ["sorted_vocab"]), ("compute_loss", "'yes'", ["compute_loss"]),
                                     ("shrink_windows", "None", ["shrink_windows"])):
        cases.append(case("word2vec-parameters", f"{parameter}={source}", f"""
            model = tiny({parameter}={source})
            check_word2vec(model)
        """, names=names))
    return cases


CORPUS_FILES = {
    "empty": b"",
    "blank lines": b"\n\n   \n\t\n",
    "one word": b"word\n",
    "one word repeated": b"same " * 2000 + b"\n",
    "two words": b"a b\n" * 50,
    "CRLF": b"the cat sat\r\nthe dog ran\r\n" * 100,
    "lone CR": b"the cat sat\rthe dog ran\r" * 100,
    "NUL bytes": b"the\x00cat sat\x00\x00 on\n" * 100,
    "binary": bytes(range(256)) * 400,
    "UTF-16": "the cat sat on the mat\n".encode("utf-16") * 200,
    "Latin-1": "caf\xe9 na\xefve r\xe9sum\xe9\n".encode("latin-1") * 200,
    "emoji and RTL": ("\U0001F600 \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u202e evil \u200b zw\n"
                      * 300).encode("utf-8"),
    "combining marks": ("e\u0301 a\u0300\u0301\u0302\u0303 " * 10 + "\n").encode("utf-8") * 100,
    "surrogate escapes": b"\xed\xa0\x80 \xf4\x90\x80\x80 ok\n" * 200,
    "one long line": b" ".join(b"w%d" % (i % 500) for i in range(300_000)) + b"\n",
    "whitespace-free 8 MB token": b"x" * (8 << 20) + b"\n",
    "many distinct words": b"\n".join(b" ".join(b"u%d" % (i * 50 + j) for j in range(50)) for i in range(4000)),
    "no final newline": b"the cat sat on the mat",
    "form feeds and vertical tabs": b"a\x0cb\x0bc d\x1c e\x1d f\x1e g\x1f h\x85i\xc2\xa0j\n" * 200,
    "gzip, damaged": gzip.compress(b"the cat sat on the mat\n" * 2000)[:-40] + b"\x00" * 40,
    "gzip, truncated": gzip.compress(b"the cat sat on the mat\n" * 2000)[:200],
    "gzip, valid": gzip.compress(b"the cat sat on the mat\n" * 2000),
    "bzip2, truncated": bz2.compress(b"the cat sat on the mat\n" * 2000)[:100],
    "gzip bomb (64 MB of zeros)": gzip.compress(b"\x00" * (64 << 20)),
    "zstd magic": b"\x28\xb5\x2f\xfd" + b"\x00" * 100,
    "zip magic": b"PK\x03\x04" + b"\x00" * 100,
}


def corpus_cases():
    cases = []
    suffix = {"gzip, damaged": ".gz", "gzip, truncated": ".gz", "gzip, valid": ".gz", "bzip2, truncated": ".bz2",
              "gzip bomb (64 MB of zeros)": ".gz"}
    for label, data in CORPUS_FILES.items():
        name = "corpus" + suffix.get(label, ".txt")
        for api in ("Word2Vec", "Doc2Vec") if label in ("empty", "one word", "NUL bytes", "binary", "gzip, damaged") else ("Word2Vec",):
            cls_args = "dm=0" if api == "Doc2Vec" else "sg=1"
            cases.append(case("corpus-files", f"{api}(corpus_file=<{label}>)", f"""
                model = hsmcy.{api}(corpus_file={name!r}, min_count=1, vector_size=8, epochs=1, workers=2, {cls_args})
                check(len(model.wv) >= 1, "a vocabulary")
                check(finite(model.wv.vectors) and finite(model.syn1), "finite weights")
                if {api == "Word2Vec"!r} and len(model.wv) >= 2:
                    check(len(model.predict_output_word(model.wv.index_to_key[:1], topn=3)) >= 1, "predicts")
            """, files={name: data}, names=["corpus", name, "min_count", "empty"], timeout=90))
        cases.append(case("corpus-files", f"LineSentence-like buffer + train (<{label}>)", f"""
            model = hsmcy.Word2Vec(min_count=1, vector_size=8, epochs=1, workers=1, corpus_buffer="buffers")
            os.mkdir("buffers")
            model.build_vocab(corpus_file={name!r})
            model.train(corpus_file={name!r}, total_examples=model.corpus_count, epochs=1)
            check(finite(model.wv.vectors), "finite weights")
        """, files={name: data}, names=["corpus", name, "min_count", "empty", "buffer"], timeout=90))
    special = [("a directory", "os.mkdir('d'); path = 'd'", ["d"]),
               ("a missing file", "path = 'missing.txt'", ["missing.txt"]),
               ("/dev/null", "path = '/dev/null'", ["/dev/null", "empty"]),
               ("a FIFO with nobody writing", "os.mkfifo('pipe'); path = 'pipe'", ["pipe"]),
               ("bytes path", "open('c.txt', 'w').write('a b c\\n' * 10); path = b'c.txt'", ["corpus_file"]),
               ("int path", "path = 3", ["corpus_file"]),
               ("unreadable file", "open('c.txt', 'w').write('a b\\n'); os.chmod('c.txt', 0); path = 'c.txt'", ["c.txt"]),
               ("path with NUL", "path = 'c\\x00.txt'", ["corpus_file", "null"]),
               ("the saved model file", "path = W2V", ["w2v.hsmcy", "zip"])]
    for label, setup, names in special:
        timeout = 20 if "FIFO" in label else None
        cases.append(case("corpus-files", f"Word2Vec(corpus_file=<{label}>)", f"""
            {setup}
            if os.geteuid() == 0 and "{label}" == "unreadable file":
                raise PermissionError("c.txt: running as root, nothing is unreadable")
            model = hsmcy.Word2Vec(corpus_file=path, min_count=1, vector_size=8, epochs=1, workers=1)
            check(len(model.wv) >= 1, "a vocabulary")
        """, expect="error", names=names, timeout=timeout))
    iterables = [
        ("empty list", "[]", "error"), ("one empty sentence", "[[]]", "error"), ("one word", "[['w']]", "either"),
        ("a string (characters as words)", "'the cat sat'", "either"),
        ("list of strings, not token lists", "['the cat sat', 'on the mat']", "either"),
        ("a one-shot generator", "(s for s in common_texts)", "error"),
        ("int tokens", "[[1, 2, 3]] * 5", "error"), ("None tokens", "[[None, 'a']] * 5", "error"),
        ("bytes tokens", "[[b'a', b'b']] * 5", "error"), ("nested lists", "[[['a']]] * 5", "error"),
        ("numpy array of str", "np.array([['a', 'b'], ['b', 'c']])", "either"),
        ("dict", "{'a': 1}", "error"), ("None sentences inside", "[None, ['a']]", "error"),
        ("an int", "5", "error"), ("a sentence of 1,000,000 tokens", "[['w%d' % (i % 97) for i in range(1_000_000)]]",
                                                                      "either"),
        ("100,000 one-token sentences", "[['w%d' % (i % 300)] for i in range(100_000)]", "either"),
        ("a token of 10 MB", "[['x' * 10_000_000, 'y']] * 2", "either"),
        ("emoji, RTL, zero-width, NUL tokens", "[['\\U0001F600', '\\u05e9', '\\u200b', 'a\\x00b', '\\ud800']] * 10",
         "either"),
        ("only words below min_count", "[['a%d' % i] for i in range(50)]", "error"),
        ("a list that changes length while read", "Growing()", "either"),
        ("an iterable whose iterator raises", "Raising()", "error"),
    ]
    helpers = """
        class Growing(list):
            def __iter__(self):
                for sentence in list.__iter__(self):
                    if len(self) < 500:
                        self.append(['grow', 'ing'])
                    yield sentence
        class Raising:
            def __iter__(self):
                yield ['a', 'b']
                raise OSError("Raising: the disk went away")
    """
    for label, source, expect in iterables:
        for api in ("Word2Vec", "Doc2Vec"):
            documents = (f"[hsmcy.TaggedDocument(s, [i]) for i, s in enumerate(corpus)]" if api == "Doc2Vec"
                         else "corpus")
            convert = "" if api == "Word2Vec" else "if isinstance(corpus, (list, np.ndarray)): corpus = " + documents
            body = "\n".join([textwrap.dedent(helpers), f"corpus = {source}", convert,
                              f"model = hsmcy.{api}(corpus, min_count={2 if label.startswith('only') else 1}, "
                              "vector_size=8, epochs=1, workers=2)",
                              'check(finite(model.wv.vectors), "finite weights")'])
            cases.append(case("corpus-iterables", f"{api}(<{label}>)", body, expect=expect,
                              names=["sentences", "documents", "corpus", "token", "Raising", "min_count", "str",
                                     "tags", "TaggedDocument", "empty", "words"], timeout=90))
    return cases


# State edited after training: (label, code editing m, names a message should hold, nan_ok)
STATE_EDITS = [
    ("wv.vectors: too few rows", "m.wv.vectors = m.wv.vectors[:-5].copy()", ["vectors"], False),
    ("wv.vectors: extra rows", "m.wv.vectors = np.vstack([m.wv.vectors, m.wv.vectors[:3]])", ["vectors"], False),
    ("wv.vectors: wrong width", "m.wv.vectors = np.zeros((len(m.wv), 3), np.float32)", ["vectors"], False),
    ("wv.vectors: float64", "m.wv.vectors = m.wv.vectors.astype(np.float64)", ["vectors"], False),
    ("wv.vectors: float16", "m.wv.vectors = m.wv.vectors.astype(np.float16)", ["vectors"], False),
    ("wv.vectors: int32", "m.wv.vectors = m.wv.vectors.astype(np.int32)", ["vectors"], False),
    ("wv.vectors: Fortran order", "m.wv.vectors = np.asfortranarray(m.wv.vectors)", ["vectors"], False),
    ("wv.vectors: read-only", "m.wv.vectors.flags.writeable = False", ["vectors"], False),
    ("wv.vectors: every other column", "m.wv.vectors = np.repeat(m.wv.vectors, 2, axis=1)[:, ::2]", ["vectors"], False),
    ("wv.vectors: NaN", "m.wv.vectors[5, 2] = np.nan", ["vectors", "NaN", "diverged"], True),
    ("wv.vectors: a list", "m.wv.vectors = m.wv.vectors.tolist()", ["vectors"], False),
    ("wv.vectors: 1-D", "m.wv.vectors = m.wv.vectors.ravel()", ["vectors"], False),
    ("syn1: too few rows", "m.syn1 = m.syn1[:10].copy()", ["syn1", "inner"], False),
    ("syn1: float64", "m.syn1 = m.syn1.astype(np.float64)", ["syn1", "inner"], False),
    ("syn1: Fortran order", "m.syn1 = np.asfortranarray(m.syn1)", ["syn1", "inner"], False),
    ("syn1: read-only", "m.syn1.flags.writeable = False", ["syn1", "inner"], False),
    ("syn1: inf", "m.syn1[-2, 0] = np.inf", ["syn1", "inner", "NaN", "diverged"], True),
    ("syn1: None", "m.syn1 = None", ["syn1", "inner"], False),
    ("tree: node id out of range", "m.tree.path_nodes[3] = 10**6", ["tree", "path"], False),
    ("tree: negative node id", "m.tree.path_nodes[0] = -7", ["tree", "path"], False),
    ("tree: code 5", "m.tree.path_codes[1] = 5", ["tree", "code"], False),
    ("tree: offsets past the end", "m.tree.path_offsets[-1] = 10**7", ["tree", "offset"], False),
    ("tree: offsets running backwards", "m.tree.path_offsets[5] = 0", ["tree", "offset"], False),
    ("tree: None", "m.tree = None", ["tree"], False),
    ("tree: another model's", "m.tree = hsmcy.HuffmanTree.from_counts([5, 3, 2])", ["tree"], False),
    ("key_to_index: word -> 10**6", "m.wv.key_to_index['the'] = 10**6", ["vocabulary", "key_to_index", "edited"], False),
    ("key_to_index: word -> -1", "m.wv.key_to_index['the'] = -1", ["vocabulary", "key_to_index", "edited"], False),
    ("key_to_index: word -> 'x'", "m.wv.key_to_index['the'] = 'x'", ["vocabulary", "key_to_index", "edited"], False),
    ("index_to_key truncated", "del m.wv.index_to_key[100:]", ["vocabulary", "index_to_key", "edited"], False),
    ("counts: negative", "m.wv.expandos['count'][:] = -1", ["count"], False),
    ("counts: removed", "del m.wv.expandos['count']", ["count"], False),
    ("workers = 0", "m.workers = 0", ["workers"], False),
    ("workers = 10**9", "m.workers = 10**9", ["workers"], False),
    ("workers = '2'", "m.workers = '2'", ["workers"], False),
    ("window = 0", "m.window = 0", ["window"], False),
    ("window = 10**12", "m.window = 10**12", ["window"], False),
    ("window = nan", "m.window = float('nan')", ["window"], False),
    ("vector_size = 7", "m.vector_size = 7", ["vector_size", "vectors"], False),
    ("alpha = nan", "m.alpha = float('nan')", ["alpha"], False),
    ("sg = 5", "m.sg = 5", ["sg"], False),
    ("kernel = 'bogus'", "m.kernel = 'bogus'", ["kernel"], False),
    ("batch_words = 0", "m.batch_words = 0", ["batch_words"], False),
    ("sample = -1", "m.sample = -1.0", ["sample"], False),
    ("epochs = 0", "m.epochs = 0", ["epochs"], False),
    ("corpus_count = -1", "m.corpus_count = -1", ["corpus_count"], False),
]
STATE_OPERATIONS = [
    ("train", """
        m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=1)
        check_word2vec(m, nan_ok=NAN_OK)
    """),
    ("score", """
        scores = m.score([s[:30] for s in lee_sentences(6)])
        check(len(scores) == 6, "one score per sentence")
        check(NAN_OK or bool(np.all(np.asarray(scores) <= 0)), "log-likelihoods <= 0")
    """),
    ("save and load", """
        m.save("edited.hsmcy")
        back = hsmcy.Word2Vec.load("edited.hsmcy")
        check(np.array_equal(back.wv.vectors, m.wv.vectors) and np.array_equal(back.syn1, m.syn1), "round trip")
    """),
]


def state_cases():
    cases = []
    for label, edit, names, nan_ok in STATE_EDITS:
        for operation, body in STATE_OPERATIONS:
            cases.append(case("state-edited", f"{label} -> {operation}", f"m = w2v()\nNAN_OK = {nan_ok}\n{edit}\n"
                              + textwrap.dedent(body), names=names))
    return cases


# Model files: (label, Python that writes 'bad.<ext>' from SOURCE, expect)
FILE_MUTATIONS = [
    ("empty file", "open(OUT, 'wb').close()", "error"),
    ("truncated to 100 bytes", "open(OUT, 'wb').write(open(SOURCE, 'rb').read()[:100])", "error"),
    ("truncated to half", "d = open(SOURCE, 'rb').read(); open(OUT, 'wb').write(d[:len(d) // 2])", "error"),
    ("one byte short", "d = open(SOURCE, 'rb').read(); open(OUT, 'wb').write(d[:-1])", "error"),
    ("byte flipped at 10%", "flip(0.10)", "either"), ("byte flipped at 50%", "flip(0.50)", "either"),
    ("byte flipped at 90%", "flip(0.90)", "either"), ("byte flipped at 99.9%", "flip(0.999)", "either"),
    ("64 bytes zeroed at 30%", "zero(0.30, 64)", "either"),
    ("members swapped", "swap_members()", "either"),
    ("metadata: []", "metadata(lambda h: [])", "error"),
    ("metadata: every number 10**30", "metadata(lambda h: big_numbers(h))", "error"),
    ("metadata: strings for numbers", "metadata(lambda h: stringify(h))", "error"),
    ("metadata: not JSON", "metadata(None)", "error"),
    ("a member removed", "drop_member()", "error"),
    ("a gensim pickle", "gensim_pickle()", "error"),
    ("word2vec text vectors", "w2v().wv.save_word2vec_format(OUT)", "error"),
    ("random bytes", "open(OUT, 'wb').write(np.random.default_rng(0).bytes(5000))", "error"),
    ("a directory", "os.mkdir(OUT)", "error"),
]
FILE_HELPERS = r'''
import zipfile, io, random
def _members():
    with zipfile.ZipFile(SOURCE) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
def _write(members):
    with zipfile.ZipFile(OUT, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
def flip(fraction):
    data = bytearray(open(SOURCE, "rb").read()); i = int(len(data) * fraction); data[i] ^= 0xFF
    open(OUT, "wb").write(bytes(data))
def zero(fraction, n):
    data = bytearray(open(SOURCE, "rb").read()); i = int(len(data) * fraction); data[i:i + n] = bytes(n)
    open(OUT, "wb").write(bytes(data))
def swap_members():
    members = _members(); arrays = sorted(n for n in members if n.endswith(".npy"))
    members[arrays[0]], members[arrays[-1]] = members[arrays[-1]], members[arrays[0]]
    _write(members)
def drop_member():
    members = _members(); del members[sorted(n for n in members if n.endswith(".npy"))[-1]]; _write(members)
def big_numbers(h):
    if isinstance(h, dict): return {k: big_numbers(v) for k, v in h.items()}
    if isinstance(h, list): return [big_numbers(v) for v in h]
    if isinstance(h, (int, float)) and not isinstance(h, bool): return 10**30
    return h
def stringify(h):
    if isinstance(h, dict): return {k: stringify(v) for k, v in h.items()}
    if isinstance(h, list): return [stringify(v) for v in h]
    if isinstance(h, (int, float)) and not isinstance(h, bool): return str(h)
    return h
def metadata(change):
    members = _members()
    members["metadata.json"] = b"{not json" if change is None else json.dumps(change(json.loads(members["metadata.json"]))).encode()
    _write(members)
def gensim_pickle():
    w2v().to_gensim().save(OUT)
'''
LOADERS = {
    "Word2Vec": ("W2V", "hsmcy.Word2Vec.load", "check_word2vec(loaded, nan_ok=True)"),
    "Doc2Vec": ("D2V", "hsmcy.Doc2Vec.load", "check(loaded.infer_vector(['the', 'fire']).shape == (loaded.vector_size,), 'infers')"),
    "HSClassifier": ("CLF", "hsmcy.HSClassifier.load", "check(len(loaded.predict(['fire in the city', 'cricket'])) == 2, 'predicts')"),
    "HierarchicalSoftmax": ("LAYER", "hsmcy.HierarchicalSoftmax.load",
                            "p = loaded.predict_proba(np.ones((2, loaded.dim), np.float32)); check(p.shape[0] == 2, 'predicts')"),
}


def file_cases():
    cases = []
    for loader, (source, load, query) in LOADERS.items():
        for label, mutate, expect in FILE_MUTATIONS:
            for mmap in (None, "r") if loader == "Word2Vec" else (None,):
                cases.append(case("model-files", f"{loader}.load(<{label}>, mmap={mmap!r})",
                                  f"SOURCE = {source}\nOUT = 'bad.hsmcy'\n" + FILE_HELPERS + f"""
{mutate}
loaded = {load}(OUT, mmap={mmap!r})
{query}
""", expect=expect, names=["bad.hsmcy"]))
    # a model of one kind given to another kind's loader, and wrong extensions
    for loader, (_, load, query) in LOADERS.items():
        for other in LOADERS.values():
            if other[1] == load:
                continue
            cases.append(case("model-files", f"{loader}.load(<a {other[1].split('.')[1]} file>)", f"""
                import shutil
                shutil.copy({other[0]}, "other.hsmcy")
                loaded = {load}("other.hsmcy")
                {query}
            """, expect="error" if not (loader == "Word2Vec" and other[0] == "D2V") else "either",
                names=["other.hsmcy"]))
    for extension in (".model", ".kv", ".txt", ".bin", "", ".hsmcy.gz"):
        cases.append(case("model-files", f"Word2Vec.save('x{extension}')", f"""
            m = w2v()
            m.save("x{extension}")
            check(np.array_equal(hsmcy.Word2Vec.load("x{extension}").wv.vectors, m.wv.vectors), "round trip")
        """, names=[extension or "extension", "x"]))
    # files changed after a mapped load
    changes = [("overwritten in place with random bytes",
                "d = np.random.default_rng(1).bytes(size); f = open(path, 'r+b'); f.write(d); f.close()", None),
               ("overwritten in place with 0xFF", "f = open(path, 'r+b'); f.write(b'\\xff' * size); f.close()", None),
               ("replaced by another model (rename)", "m2 = tiny(); m2.save(path)", None),
               ("deleted", "os.remove(path)", None),
               ("truncated to 0", "os.truncate(path, 0)", "SIGBUS on a mapped file truncated by another program (docs/safety.md)")]
    for loader, (source, load, query) in LOADERS.items():
        for label, change, limit in changes:
            cases.append(case("model-files", f"{loader}.load(mmap='r'), then file {label}", f"""
                import shutil
                path = "mapped.hsmcy"
                shutil.copy({source}, path)
                size = os.path.getsize(path)
                loaded = {load}(path, mmap="r")
                {change}
                for _ in range(5):
                    try:
                        {query.replace('check(', 'check(True or ')}
                    except (ValueError, KeyError) as error:
                        pass
            """, known_limit=limit, names=["mapped"]))
    return cases


def layer_cases():
    cases = []
    hidden = [("float64", "H.astype(np.float64)", "either"), ("float16", "H.astype(np.float16)", "either"),
              ("int", "H.astype(np.int64)", "either"), ("NaN", "np.where(np.eye(4, 16, dtype=bool), np.nan, H)", "error"),
              ("inf", "np.full_like(H, np.inf)", "error"), ("huge 1e30", "np.full_like(H, 1e30)", "either"),
              ("zero rows", "H[:0]", "either"), ("1-D", "H[0]", "error"), ("3-D", "H[None]", "error"),
              ("wrong width", "H[:, :15].copy()", "error"), ("strided", "np.repeat(H, 2, axis=1)[:, ::2]", "either"),
              ("Fortran", "np.asfortranarray(H)", "either"), ("list", "H.tolist()", "either"),
              ("read-only", "ro(H)", "either"), ("None", "None", "error"), ("object", "H.astype(object)", "error"),
              ("complex", "H.astype(np.complex64)", "error"), ("bool", "H > 0", "either"),
              ("100,000 rows", "np.ones((100_000, 16), np.float32)", "either")]
    methods = {
        "log_prob": ("layer_.log_prob(X, y)", "check(r.shape == (len(y),) and np.all(r <= 1e-6), 'log-probabilities <= 0')"),
        "update": ("layer_.update(X, y, lr=0.1)", "check(r.shape == (len(y), 16) and finite(layer_.inner_node_vectors), 'dH, finite weights')"),
        "predict": ("layer_.predict(X, k=3)", "check(r[0].shape == (len(y), 3) and np.all(np.diff(r[1], axis=1) <= 1e-7), 'top-3 sorted')"),
    }
    prelude = """
        layer_ = hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts([50, 30, 10, 5, 3, 2, 1, 1]), dim=16, seed=0)
        H = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
        def ro(a):
            a = a.copy(); a.flags.writeable = False; return a
        X = {hidden}
        y = np.zeros(len(X) if hasattr(X, '__len__') and np.ndim(X) == 2 else 4, dtype=np.int64)
    """
    for label, source, expect in hidden:
        for method, (call, check_) in methods.items():
            cases.append(case("layer", f"{method}(H=<{label}>)", textwrap.dedent(prelude.format(hidden=source))
                              + f"r = {call}\n{check_}\n", expect=expect, names=["H"]))
    labels = [("out of range", "np.array([0, 8, 1, 2])"), ("negative", "np.array([0, -1, 1, 2])"),
              ("uint64 max", "np.array([0, 2**64 - 1, 1, 2], dtype=np.uint64)"), ("float", "np.array([0., 1.5, 1., 2.])"),
              ("bool", "np.array([True, False, True, False])"), ("too short", "np.array([0, 1])"),
              ("2-D", "np.zeros((4, 1), int)"), ("strings", "np.array(['a', 'b', 'c', 'd'])"),
              ("int8", "np.array([0, 1, 2, 3], np.int8)"), ("None", "None"), ("10**18", "np.array([10**18] * 4)")]
    for label, source in labels:
        for method in ("log_prob", "update"):
            call, check_ = methods[method]
            expect = "either" if label in ("int8", "bool") else "error"
            cases.append(case("layer", f"{method}(y=<{label}>)", textwrap.dedent(prelude.format(hidden="H"))
                              + f"y = {source}\nr = {call}\n{check_}\n", expect=expect, names=["y"]))
    for label, source, expect in [("0", "0", "error"), ("-1", "-1", "error"), ("9 > classes", "9", "error"),
                                  ("8 = classes", "8", "ok"), ("10**18", "10**18", "error"), ("2.0", "2.0", "error"),
                                  ("True", "True", "error"), ("nan", "float('nan')", "error"), ("np.int8(2)", "np.int8(2)", "ok"),
                                  ("None", "None", "error")]:
        cases.append(case("layer", f"predict(k={label})", textwrap.dedent(prelude.format(hidden="H")) + f"""
classes, probabilities = layer_.predict(X, k={source})
check(classes.shape == (4, int({source})), "k columns")
check(np.allclose(np.sort(np.exp(layer_.predict_log_proba(X)), axis=1)[:, ::-1][:, :int({source})], probabilities, atol=1e-5), "exact top-k")
""", expect=expect, names=["k"]))
    for label, source, expect in [("nan", "float('nan')", "error"), ("inf", "float('inf')", "error"), ("-0.1", "-0.1", "either"),
                                  ("0", "0", "either"), ("1e30", "1e30", "either"), ("'0.1'", "'0.1'", "error"),
                                  ("None", "None", "error"), ("array", "np.array([0.1, 0.2])", "error")]:
        cases.append(case("layer", f"update(lr={label})", textwrap.dedent(prelude.format(hidden="H")) + f"""
layer_.update(X, y, lr={source})
check(finite(layer_.inner_node_vectors), "the weights stay finite (or the step is refused)")
""", expect=expect, names=["lr"]))
    for label, source, expect in [("n_samples=0", "n_samples=0", "error"), ("n_samples=10**12", "n_samples=10**12", "either"),
                                  ("n_samples=-1", "n_samples=-1", "error"), ("rng='x'", "rng='x'", "error"),
                                  ("rng=-1", "rng=-1", "error"), ("n_samples=2.0", "n_samples=2.0", "error")]:
        cases.append(case("layer", f"sample({label})", textwrap.dedent(prelude.format(hidden="H")) + f"""
r = layer_.sample(X, {source})
check(np.all((0 <= r) & (r < 8)), "classes in range")
""", expect=expect, names=[source.split("=")[0]], timeout=60))
    for label, source, expect in [("dim=0", "dim=0", "error"), ("dim=10**12", "dim=10**12", "error"),
                                  ("dim=2.0", "dim=2.0", "error"), ("workers=0", "dim=4, workers=0", "error"),
                                  ("workers=10**9", "dim=4, workers=10**9", "either"), ("seed=-1", "dim=4, seed=-1", "error"),
                                  ("tree=None", "dim=4, tree=None", "error")]:
        tree = "" if "tree=" in source else "hsmcy.HuffmanTree.from_counts([5, 3, 2]), "
        cases.append(case("layer", f"HierarchicalSoftmax({label})", f"""
            layer_ = hsmcy.HierarchicalSoftmax({tree}{source})
            p = layer_.predict_proba(np.ones((3, layer_.dim), np.float32))
            check(np.allclose(p.sum(axis=1), 1, atol=1e-5), "rows sum to 1")
        """, expect=expect, names=[source.split("=")[-2].split(", ")[-1]]))
    trees = [("from_counts([])", "hsmcy.HuffmanTree.from_counts([])", "error"),
             ("from_counts([5])", "hsmcy.HuffmanTree.from_counts([5])", "either"),
             ("from_counts([-1, 2])", "hsmcy.HuffmanTree.from_counts([-1, 2])", "error"),
             ("from_counts([nan, 2])", "hsmcy.HuffmanTree.from_counts([float('nan'), 2])", "error"),
             ("from_counts([2**63, 2**63])", "hsmcy.HuffmanTree.from_counts([2**63, 2**63])", "error"),
             ("from_counts(1,000,000 ones)", "hsmcy.HuffmanTree.from_counts(np.ones(1_000_000, np.int64))", "either"),
             ("from_counts(['a'])", "hsmcy.HuffmanTree.from_counts(['a'])", "error"),
             ("from_counts(2-D)", "hsmcy.HuffmanTree.from_counts(np.ones((2, 2)))", "error"),
             ("from_parents(cycle)", "hsmcy.BinaryTree.from_parents([1, 0, -1])", "error"),
             ("from_parents(two roots)", "hsmcy.BinaryTree.from_parents([-1, -1])", "error"),
             ("from_parents(a node of three children)", "hsmcy.BinaryTree.from_parents([3, 3, 3, -1])", "either"),
             ("from_parents(uint64 max)", "hsmcy.BinaryTree.from_parents(np.array([2**64 - 1, 2, 2], np.uint64))", "error"),
             ("BinaryTree(garbage)", "hsmcy.BinaryTree(np.array([0]), np.array([7]), np.array([0, 1]))", "error"),
             ("BinaryTree(lists of str)", "hsmcy.BinaryTree(['a'], ['b'], ['c'])", "error")]
    for label, source, expect in trees:
        cases.append(case("layer", f"tree {label}", f"""
            tree = {source}
            if tree.n_leaves >= 2:
                layer_ = hsmcy.HierarchicalSoftmax(tree, dim=4)
                p = layer_.predict_proba(np.ones((2, 4), np.float32))
                check(np.allclose(p.sum(axis=1), 1, atol=1e-4), "rows sum to 1")
        """, expect=expect, names=["count", "parent", "path", "tree", "node", "code", "offset"], timeout=60))
    return cases


def classifier_cases():
    cases = []
    base = "texts = ['cheap flights to paris', 'hotel in rome', 'fix a flat tyre', 'new brake pads'] * 10\n" \
           "labels = ['travel', 'travel', 'bike', 'bike'] * 10\n"
    for parameter in ("dim", "epochs", "lr", "word_ngrams", "bucket", "workers"):
        for label, source in SHORT_VALUES:
            kind = "positive float" if parameter == "lr" else "int"
            low = 0 if parameter == "seed" else 1
            high = 100 if parameter == "word_ngrams" else None
            expect = expectation(kind, label, low, high)
            if parameter in ("dim", "bucket", "epochs", "workers") and label == "10**18":
                expect = "either"
            if parameter in ("bucket", "workers", "lr") and label == "np.uint64 max":
                expect = "either"        # unused buckets, one thread per chunk, a huge rate: all allowed
            cases.append(case("classifier", f"HSClassifier({parameter}={label}).fit", base + f"""
model = hsmcy.HSClassifier(**dict(dict(dim=8, epochs=2, workers=1, bucket=1000), {parameter}={source}))
model.fit(texts, labels)
check(list(model.predict(['flights to rome', 'flat tyre'])) in (['travel', 'bike'], ['travel', 'travel'], ['bike', 'bike'], ['bike', 'travel']), "predicts known labels")
check(finite(model.input_vectors_) and finite(model.inner_node_vectors_), "finite weights")
""", expect=expect, names=[parameter], timeout=60))
    fits = [("no texts", "[], []", "error"), ("lengths differ", "texts, labels[:-1]", "error"),
            ("one label only", "texts, ['x'] * len(texts)", "either"), ("labels None", "texts, None", "error"),
            ("unhashable labels", "texts, [['a', ['b']]] * len(texts)", "error"),
            ("None label", "texts, [None] * len(texts)", "either"),
            ("NaN labels", "texts, [float('nan')] * 20 + [1.0] * 20", "either"),
            ("int texts", "[1, 2, 3, 4] * 10, labels", "error"), ("None texts", "[None] * 40, labels", "error"),
            ("empty texts", "[''] * 40, labels", "error"), ("bytes texts", "[b'a b'] * 40, labels", "error"),
            ("a string as texts", "'abc', 'xyz'", "error"),
            ("emoji and RTL", "['\\U0001F600 \\u05e9\\u05dc\\u05d5\\u05dd \\u202e x'] * 40, labels", "either"),
            ("empty label lists", "texts, [[]] * len(texts)", "error"),
            ("10,000 labels, one text each", "['t%d' % i for i in range(10_000)], [str(i) for i in range(10_000)]", "either"),
            ("a text of 1,000,000 tokens", "['w ' * 1_000_000] + texts[1:], labels", "either"),
            ("generator texts", "(t for t in texts), labels", "either"),
            ("numpy str arrays", "np.array(texts), np.array(labels)", "either")]
    for label, source, expect in fits:
        cases.append(case("classifier", f"fit(<{label}>)", base + f"""
model = hsmcy.HSClassifier(dim=8, epochs=2, workers=2, bucket=1000).fit({source})
predicted = model.predict(['flights to rome', 'flat tyre'])
check(len(predicted) == 2 and all(p in set(model.classes_.tolist()) for p in predicted), "predicts known labels")
""", expect=expect, names=["texts", "labels", "label", "text"], timeout=60))
    predicts = [("before fit", "hsmcy.HSClassifier().predict(['a'])", "error"),
                ("no texts", "m.predict([])", "either"), ("None", "m.predict(None)", "error"),
                ("a string", "m.predict('fire')", "error"), ("ints", "m.predict([1, 2])", "error"),
                ("only unknown words", "m.predict(['zzzz qqqq'])", "either"),
                ("predict_top k=0", "m.predict_top(['fire'], k=0)", "error"),
                ("predict_top k=10**9", "m.predict_top(['fire'], k=10**9)", "error"),
                ("predict_top k=-1", "m.predict_top(['fire'], k=-1)", "error"),
                ("predict_top k='2'", "m.predict_top(['fire'], k='2')", "error"),
                ("score, labels unknown", "m.score(['fire'], ['no-such-label'])", "either"),
                ("text_vectors of 10,000 texts", "m.text_vectors(['a b c'] * 10_000)", "either")]
    for label, source, expect in predicts:
        cases.append(case("classifier", f"predict <{label}>", f"""
            m = clf()
            r = {source}
        """, expect=expect, names=["texts", "k", "fit", "label"]))
    edits = [("input_vectors_ too few rows", "m.input_vectors_ = m.input_vectors_[:3].copy()", ["input_vectors_"]),
             ("input_vectors_ float64", "m.input_vectors_ = m.input_vectors_.astype(np.float64)", ["input_vectors_"]),
             ("input_vectors_ Fortran", "m.input_vectors_ = np.asfortranarray(m.input_vectors_)", ["input_vectors_"]),
             ("inner_node_vectors_ too few rows", "m.inner_node_vectors_ = m.inner_node_vectors_[:1].copy()",
              ["inner_node_vectors_"]),
             ("inner_node_vectors_ NaN", "m.inner_node_vectors_[0, 0] = np.nan", ["inner_node_vectors_", "NaN"]),
             ("vocabulary_ word -> 10**9", "m.vocabulary_[next(iter(m.vocabulary_))] = 10**9", ["vocabulary_"]),
             ("vocabulary_ word -> -5", "m.vocabulary_[next(iter(m.vocabulary_))] = -5", ["vocabulary_"]),
             ("word_ngrams = 10**9", "m.word_ngrams = 10**9", ["word_ngrams"]),
             ("word_ngrams = 0", "m.word_ngrams = 0", ["word_ngrams"]),
             ("bucket = 10**12", "m.bucket = 10**12", ["bucket"]),
             ("bucket = 0", "m.bucket = 0", ["bucket"]),
             ("dim = 3", "m.dim = 3", ["dim"]),
             ("classes_ truncated", "m.classes_ = m.classes_[:1]", ["classes_"]),
             ("tree_ of 3 leaves", "m.tree_ = hsmcy.HuffmanTree.from_counts([3, 2, 1])", ["tree_"]),
             ("workers = 0", "m.workers = 0", ["workers"])]
    for label, edit, names in edits:
        for operation, call in (("predict", "r = m.predict(['fire in the city', 'cricket test'])\ncheck(len(r) == 2, 'two labels')"),
                                ("save", "m.save('x.hsmcy'); back = hsmcy.HSClassifier.load('x.hsmcy')\ncheck(list(back.predict(['fire'])) == list(m.predict(['fire'])), 'round trip')")):
            cases.append(case("classifier", f"{label} -> {operation}", f"m = clf()\n{edit}\n{call}\n", names=names))
    return cases


def doc2vec_cases():
    cases = []
    documents = "docs = [hsmcy.TaggedDocument(words, [i]) for i, words in enumerate(common_texts)]\n"
    for parameter, values in (("dm", ["2", "None", "'1'"]), ("dbow_words", ["2", "'1'"]), ("dm_concat", ["1"]),
                              ("dm_mean", ["2", "'x'"]), ("dm_tag_count", ["0", "-1", "10**18", "'2'"]),
                              ("dv", ["object()"]), ("dv_mapfile", ["'x'"]), ("vector_size", ["0", "10**18", "2.5"]),
                              ("epochs", ["0", "-1"]), ("window", ["0", "10**18"])):
        for source in values:
            expect = "either" if source in ("10**18",) and parameter in ("dm_tag_count", "vector_size") else "error"
            cases.append(case("doc2vec", f"Doc2Vec({parameter}={source})", documents + f"""
model = hsmcy.Doc2Vec(docs, **dict(dict(min_count=1, vector_size=8, epochs=2, workers=1), {parameter}={source}))
check(len(model.dv) == len(docs), "one vector per document")
""", expect=expect, names=[parameter]))
    tags = [("tag 10**12", "[hsmcy.TaggedDocument(['a', 'b'], [10**12])]", "either"),
            ("tag -1", "[hsmcy.TaggedDocument(['a', 'b'], [-1])]", "error"),
            ("tag 2.5", "[hsmcy.TaggedDocument(['a', 'b'], [2.5])]", "error"),
            ("tag None", "[hsmcy.TaggedDocument(['a', 'b'], [None])]", "error"),
            ("tags a string (characters)", "[hsmcy.TaggedDocument(['a', 'b'], 'doc')]", "either"),
            ("no tags", "[hsmcy.TaggedDocument(['a', 'b'], [])]", "either"),
            ("np.uint64 max tag", "[hsmcy.TaggedDocument(['a', 'b'], [np.uint64(2**64 - 1)])]", "error"),
            ("bool tag", "[hsmcy.TaggedDocument(['a', 'b'], [True])]", "either"),
            ("plain token lists", "[['a', 'b'], ['b', 'c']]", "error"),
            ("words a string", "[hsmcy.TaggedDocument('a b c', [0])]", "either"),
            ("10,000 tags on one document", "[hsmcy.TaggedDocument(['a', 'b'], list(range(10_000)))]", "either"),
            ("int and str tags mixed", "[hsmcy.TaggedDocument(['a', 'b'], [0, 'x']), hsmcy.TaggedDocument(['b'], ['0'])]",
             "either"),
            ("empty documents", "[hsmcy.TaggedDocument([], [0])] * 3", "error"),
            ("a dict per document", "[{'words': ['a'], 'tags': [0]}]", "error")]
    for label, source, expect in tags:
        cases.append(case("doc2vec", f"Doc2Vec(<{label}>)", f"""
            docs = {source}
            model = hsmcy.Doc2Vec(docs, min_count=1, vector_size=8, epochs=2, workers=1)
            check(finite(model.dv.vectors), "finite document vectors")
            check(model.infer_vector(['a']).shape == (8,), "infers")
        """, expect=expect, names=["tag", "documents", "words", "TaggedDocument", "empty"], timeout=60))
    infers = [("no words", "[]", "", "either"), ("only unknown words", "['zzzq', 'qqqz']", "", "either"),
              ("a string", "'the fire'", "", "error"), ("ints", "[1, 2]", "", "error"), ("None", "None", "", "error"),
              ("bytes words", "[b'the']", "", "error"), ("200,000 words", "['the'] * 200_000", "", "either"),
              ("epochs=0", "['the', 'fire']", "epochs=0", "error"), ("epochs=-1", "['the', 'fire']", "epochs=-1", "error"),
              ("epochs=10**9", "['the', 'fire']", "epochs=10**9", "error"),
              ("epochs=2.5", "['the', 'fire']", "epochs=2.5", "error"),
              ("alpha=nan", "['the', 'fire']", "alpha=float('nan')", "error"),
              ("alpha=inf", "['the', 'fire']", "alpha=float('inf')", "error"),
              ("alpha=-1", "['the', 'fire']", "alpha=-1.0", "error"),
              ("alpha=1e30", "['the', 'fire']", "alpha=1e30", "either"),
              ("min_alpha=nan", "['the', 'fire']", "min_alpha=float('nan')", "error"),
              ("alpha='0.1'", "['the', 'fire']", "alpha='0.1'", "error")]
    for label, words, options, expect in infers:
        limit = ("asked for: 10**9 passes over the document, a Python loop of kernel calls that Ctrl-C stops"
                 if label == "epochs=10**9" else None)
        cases.append(case("doc2vec", f"infer_vector(<{label}>)", f"""
            m = d2v()
            v = m.infer_vector({words}{', ' if options else ''}{options})
            check(v.shape == (m.vector_size,) and finite(v), "a finite vector")
            check(np.array_equal(v, m.infer_vector({words}{', ' if options else ''}{options})), "the same words give the same vector")
        """, expect=expect, names=["doc_words", "epochs", "alpha", "min_alpha", "words"], timeout=60,
                          known_limit=limit))
    for label, edit, names in [("dv.vectors too few rows", "m.dv.vectors = m.dv.vectors[:2].copy()", ["dv"]),
                               ("dv.vectors float64", "m.dv.vectors = m.dv.vectors.astype(np.float64)", ["dv"]),
                               ("dv.vectors read-only", "m.dv.vectors.flags.writeable = False", ["dv"]),
                               ("wv.vectors too few rows", "m.wv.vectors = m.wv.vectors[:2].copy()", ["vectors", "wv"]),
                               ("syn1 NaN", "m.syn1[0, 0] = np.nan", ["syn1", "NaN", "inner"]),
                               ("key_to_index edited", "m.wv.key_to_index['the'] = 10**6", ["vocabulary", "edited"]),
                               ("vector_size edited", "m.vector_size = 5", ["vector_size"]),
                               ("dv.key_to_index edited", "m.dv.key_to_index[0] = 10**6", ["dv", "edited", "tag"])]:
        for operation, call in (("infer_vector", "v = m.infer_vector(['the', 'fire'])\ncheck(finite(v), 'finite')"),
                                ("score", "s = m.score([hsmcy.TaggedDocument(['the', 'fire'], [0])])\ncheck(len(s) == 1, 'one score')"),
                                ("train", "m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=1)\ncheck(finite(m.dv.vectors), 'finite')"),
                                ("save", "m.save('x.hsmcy'); back = hsmcy.Doc2Vec.load('x.hsmcy')\ncheck(np.array_equal(back.dv.vectors, m.dv.vectors), 'round trip')")):
            cases.append(case("doc2vec", f"{label} -> {operation}", f"m = d2v()\n{edit}\n{call}\n", names=names))
    for label, source, expect in [("a TaggedDocument of unknown tag", "[hsmcy.TaggedDocument(['the'], ['nope'])]", "either"),
                                  ("plain lists", "[['the', 'fire']]", "error"), ("empty words", "[hsmcy.TaggedDocument([], [0])]", "either"),
                                  ("a string", "'the fire'", "error")]:
        cases.append(case("doc2vec", f"score(<{label}>)", f"""
            m = d2v()
            s = m.score({source})
            check(len(s) == 1, "one score")
        """, expect=expect, names=["documents", "tag", "TaggedDocument", "words"]))
    cases.append(case("doc2vec", "similarity_unseen_docs(<empty, unknown>)", """
        m = d2v()
        s = m.similarity_unseen_docs([], ['zzqq'])
        check(np.isfinite(s) or np.isnan(s), "a number")
    """))
    return cases


def inference_cases():
    cases = []
    contexts = [("empty", "[]", "either"), ("only unknown", "['zzqq', 'qqzz']", "either"), ("a string", "'the'", "either"),
                ("ints", "[1, 2]", "either"), ("None", "None", "error"), ("bytes", "[b'the']", "error"),
                ("100,000 words", "['the', 'of'] * 50_000", "either"), ("a set", "{'the', 'of'}", "either")]
    for label, source, expect in contexts:
        cases.append(case("inference", f"predict_output_word(<{label}>)", f"""
            m = w2v()
            top = m.predict_output_word({source}, topn=5)
            check(top is None or (len(top) <= 5 and all(0 <= p <= 1 for _, p in top)), "at most 5, probabilities")
        """, expect=expect, names=["context"]))
        cases.append(case("inference", f"predict_proba(<{label}>)", f"""
            m = w2v()
            p = m.predict_proba({source})
            check(p is None or abs(float(np.sum(p)) - 1) < 1e-3, "sums to 1")
        """, expect=expect, names=["context"]))
    for label, source in ODD_VALUES + [("10**9", "10**9"), ("len(wv)", "len(m.wv)")]:
        exp = "ok" if label == "len(wv)" else expectation("int", label, 1, None)
        if label in ("10**18", "10**9", "np.uint64 max"):
            exp = "either"               # topn beyond the vocabulary: the whole vocabulary
        cases.append(case("inference", f"predict_output_word(topn={label})", f"""
            m = w2v()
            top = m.predict_output_word(['the', 'fire'], topn={source})
            check(top is not None and len(top) == min(int({source}), len(m.wv)), "topn words")
            p = m.predict_proba(['the', 'fire'])
            check(np.allclose(sorted(p)[::-1][:len(top)], [q for _, q in top], atol=1e-5), "the exact top words")
        """, expect=exp, names=["topn"]))
    ids = [("out of range", "[0, 10**6]"), ("negative", "[-2, 3]"), ("uint64 max", "np.array([2**64 - 1, 3], np.uint64)"),
           ("float", "np.array([1.5, 2.0])"), ("2-D", "np.zeros((2, 2), int)"), ("strings", "['the']"),
           ("bool", "np.array([True, False])"), ("int8", "np.array([1, 2], np.int8)"), ("None", "None"),
           ("object", "np.array([1, None], object)")]
    for label, source in ids:
        expect = "either" if label in ("int8", "bool") else "error"
        for call in ("m.predict_output_word_ids({s}, topn=3)", "m.log_prob_ids({s}, [[1, 2]])"):
            text = call.format(s=source)
            # (n, c) context ids are predict_output_word_ids' documented input: a 2-D array is valid there.
            expect_here = "ok" if label == "2-D" and call.startswith("m.predict_output_word_ids") else expect
            cases.append(case("inference", f"{call.split('(')[0][2:]}(<{label}> ids){' as words' if call.startswith('m.log_prob_ids({s}') else ''}", f"""
                m = w2v()
                r = {text}
                check(r is None or np.all(np.isfinite(np.asarray(r if not isinstance(r, list) else [p for _, p in r], dtype=float))), "finite")
            """, expect=expect_here, names=["id", "context", "word"]))
    scores = [("empty sentences", "[[]] * 3", "either"), ("a string", "'the cat'", "error"),
              ("bytes sentence", "[b'the cat']", "error"), ("int tokens", "[[1, 2]]", "error"),
              ("a sentence of 500,000 tokens", "[['the', 'fire'] * 250_000]", "either"),
              ("only unknown words", "[['zzqq', 'qqzz']]", "either"), ("None", "None", "error"),
              ("generator", "(s for s in [['the', 'fire']])", "either")]
    for label, source, expect in scores:
        for method in ("score", "score_words"):
            cases.append(case("inference", f"{method}(<{label}>)", f"""
                m = w2v()
                r = m.{method}({source})
                check(len(r) >= 1, "a result per sentence")
            """, expect=expect, names=["sentence", "token"], timeout=60))
    for label, source, expect in [("chunksize=0", "chunksize=0", "error"), ("chunksize=-1", "chunksize=-1", "error"),
                                  ("chunksize=10**18", "chunksize=10**18", "either"), ("chunksize=nan", "chunksize=float('nan')", "error"),
                                  ("total_sentences=0", "total_sentences=0", "either"), ("total_sentences=-5", "total_sentences=-5", "either"),
                                  ("total_sentences=1 of 3", "total_sentences=1", "either"), ("queue_factor=0", "queue_factor=0", "either"),
                                  ("chunksize='10'", "chunksize='10'", "error")]:
        cases.append(case("inference", f"score({label})", f"""
            m = w2v()
            r = m.score([['the', 'fire'], ['of', 'the'], ['a', 'fire']], {source})
            check(len(r) <= 3 and np.all(np.asarray(r) <= 0), "log-likelihoods")
        """, expect=expect, names=[source.split("=")[0]], timeout=60))
    for word, context, expect in [("'zzqq'", "['the']", "either"), ("'the'", "[]", "either"), ("None", "['the']", "error"),
                                  ("b'the'", "['the']", "error"), ("5", "['the']", "either"), ("'the'", "'fire'", "either")]:
        cases.append(case("inference", f"log_prob({word}, {context})", f"""
            m = w2v()
            r = m.log_prob({word}, {context})
            check(r is None or float(r) <= 0 or np.isnan(r), "a log-probability")
        """, expect=expect, names=["word", "context"]))
    return cases


def gensim_cases():
    cases = []
    for label, source, expect in [
            ("a negative-sampling model", "gensim.models.Word2Vec(common_texts, min_count=1, vector_size=8, hs=0, negative=5)", "error"),
            ("hs=1 and negative=5", "gensim.models.Word2Vec(common_texts, min_count=1, vector_size=8, hs=1, negative=5)", "either"),
            ("an untrained model", "gensim.models.Word2Vec(vector_size=8, hs=1, negative=0)", "either"),
            ("a KeyedVectors", "gensim.models.KeyedVectors(8)", "error"), ("None", "None", "error"),
            ("a Doc2Vec", "gensim.models.Doc2Vec([gensim.models.doc2vec.TaggedDocument(w, [i]) for i, w in enumerate(common_texts)], min_count=1, vector_size=8, hs=1, negative=0)", "either"),
            ("a FastText", "gensim.models.FastText(common_texts, min_count=1, vector_size=8, hs=1, negative=0)", "either"),
            ("syn1 wrong shape", "G = g(); G.syn1 = G.syn1[:3]", "error"),
            ("syn1 NaN", "G = g(); G.syn1[0, 0] = np.nan", "error"),
            ("syn1 float64", "G = g(); G.syn1 = G.syn1.astype(np.float64)", "either"),
            ("syn1 deleted", "G = g(); del G.syn1", "error"),
            ("vectors Fortran", "G = g(); G.wv.vectors = np.asfortranarray(G.wv.vectors)", "either"),
            ("codes edited", "G = g(); G.wv.expandos['code'][0] = np.array([7], np.uint8)", "error"),
            ("points out of range", "G = g(); G.wv.expandos['point'][0] = np.array([10**6], np.uint32)", "error"),
            ("points deleted", "G = g(); del G.wv.expandos['point']", "either"),
            ("counts zero", "G = g(); G.wv.expandos['count'][:] = 0", "either"),
            ("vector_size mismatch", "G = g(); G.vector_size = 3", "either"),
            ("key_to_index edited", "G = g(); G.wv.key_to_index['system'] = 10**6", "either")]:
        statement = source if source.startswith("G = g()") else f"G = {source}"
        cases.append(case("gensim", f"Word2Vec.from_gensim(<{label}>)", f"""
            import gensim
            def g():
                return gensim.models.Word2Vec(common_texts, min_count=1, vector_size=8, hs=1, negative=0, workers=1,
                                              seed=1)
            {statement}
            m = hsmcy.Word2Vec.from_gensim(G)
            check_word2vec(m)
            if len(m.wv) >= 2:
                check(np.array_equal(m.wv.vectors, G.wv.vectors), "vectors carried over")
        """, expect=expect, names=["gensim", "syn1", "hs", "negative", "code", "point", "vector", "tree", "model"]))
    for api, source in (("Word2Vec", "w2v()"), ("Doc2Vec", "d2v()")):
        cases.append(case("gensim", f"{api} to_gensim -> from_gensim round trip", f"""
            m = {source}
            back = hsmcy.{api}.from_gensim(m.to_gensim())
            check(np.array_equal(back.wv.vectors, m.wv.vectors) and np.array_equal(back.syn1, m.syn1), "the same weights")
            check(back.wv.index_to_key == m.wv.index_to_key, "the same words")
        """, expect="ok"))
        cases.append(case("gensim", f"{api} to_gensim, gensim trains on", f"""
            m = {source}
            g = m.to_gensim()
            g.train(corpus_file=LEE, total_words=g.corpus_total_words, epochs=1)
            check(finite(g.wv.vectors), "gensim trains it")
        """, expect="ok", timeout=90))
    cases.append(case("gensim", "Doc2Vec.from_gensim(<a gensim Word2Vec>)", """
        import gensim
        hsmcy.Doc2Vec.from_gensim(gensim.models.Word2Vec(common_texts, min_count=1, vector_size=8, hs=1, negative=0))
    """, expect="error", names=["Doc2Vec", "doc2vec", "gensim"]))
    for label, text, expect in [("header claims 10**12 words", "1000000000000 4\na 1 2 3 4\n", "error"),
                                ("header claims 10**9 dimensions", "1 1000000000\na 1 2\n", "error"),
                                ("rows too short", "2 4\na 1 2\nb 1 2 3 4\n", "error"),
                                ("NaN values", "1 2\na nan 1\n", "either"),
                                ("no header", "a 1 2\nb 3 4\n", "either")]:
        cases.append(case("gensim", f"word2vec text vectors: {label} -> hsmcy similar", f"""
            open("v.txt", "w").write({text!r})
            from hsmcy import formats
            kv = formats.load_vectors("v.txt")
            check(len(kv) >= 1, "vectors")
        """, expect=expect, names=["v.txt"], timeout=60))
    return cases


def cli_cases():
    cases = []
    small = b"the cat sat on the mat\nthe dog sat on the log\n" * 200
    files = {"c.txt": small}
    runs = [
        ("no arguments", [], "error", ["usage", "command"]),
        ("unknown command", ["frobnicate"], "error", ["frobnicate"]),
        ("train a missing file", ["train", "missing.txt", "-o", "o.kv"], "error", ["missing.txt"]),
        ("train a directory", ["train", ".", "-o", "o.kv"], "error", ["."]),
        ("train an empty file", ["train", "empty.txt", "-o", "o.kv"], "error", ["empty.txt"]),
        ("train, output over the corpus", ["train", "c.txt", "-o", "c.txt", "--format", "word2vec"], "error", ["c.txt"]),
        ("train, output in a missing folder", ["train", "c.txt", "-o", "no/such/o.kv", "--min-count", "1"], "error", ["no/such"]),
        ("train, unknown output extension", ["train", "c.txt", "-o", "o.xyz"], "error", ["o.xyz", "extension", "format"]),
        ("train --format bogus", ["train", "c.txt", "-o", "o.kv", "--format", "bogus"], "error", ["format", "bogus"]),
        ("train --resume a text file", ["train", "c.txt", "-o", "o.hsmcy", "--resume", "c.txt"], "error", ["c.txt", "resume"]),
        ("train --checkpoint = -o", ["train", "c.txt", "-o", "o.hsmcy", "--checkpoint", "o.hsmcy", "--min-count", "1",
                                     "--epochs", "1"], "either", ["checkpoint", "o.hsmcy"]),
        ("similar on a missing word", ["similar", "FIX/w2v.hsmcy", "zzqqzz"], "error", ["zzqqzz"]),
        ("similar on a corrupt file", ["similar", "junk.hsmcy", "the"], "error", ["junk.hsmcy"]),
        ("similar -n 0", ["similar", "FIX/w2v.hsmcy", "the", "-n", "0"], "error", ["-n"]),
        ("similar -n 10**18", ["similar", "FIX/w2v.hsmcy", "the", "-n", "1000000000000000000"], "either", ["-n"]),
        ("predict with word vectors only", ["predict", "v.txt", "the"], "error", ["v.txt", "full model"]),
        ("predict with only unknown words", ["predict", "FIX/w2v.hsmcy", "zzqq"], "either", ["zzqq", "context"]),
        ("predict -n -1", ["predict", "FIX/w2v.hsmcy", "the", "-n", "-1"], "error", ["-n"]),
        ("convert a corrupt file", ["convert", "junk.hsmcy", "o.txt"], "error", ["junk.hsmcy"]),
        ("convert onto itself", ["convert", "FIX/w2v.hsmcy", "FIX/w2v.hsmcy"], "error", ["w2v.hsmcy"]),
        ("convert --to bogus", ["convert", "FIX/w2v.hsmcy", "o.bin", "--to", "bogus"], "error", ["bogus", "--to"]),
        ("convert a doc2vec model to .txt", ["convert", "FIX/d2v.hsmcy", "o.txt"], "either", ["d2v.hsmcy"]),
        ("convert a classifier file", ["convert", "FIX/clf.hsmcy", "o.txt"], "error", ["clf.hsmcy"]),
        ("eval with a garbage pairs file", ["eval", "FIX/w2v.hsmcy", "--pairs", "junk.hsmcy"], "either", ["junk.hsmcy", "pairs"]),
        ("eval --restrict-vocab 0", ["eval", "FIX/w2v.hsmcy", "--restrict-vocab", "0"], "error", ["restrict"]),
        ("eval an empty vectors file", ["eval", "empty.txt"], "error", ["empty.txt"]),
    ]
    for option, values in (("--size", ["0", "-1", "abc", "1e18", "nan", "1000000000000000000"]),
                           ("--window", ["0", "-5", "99999999999"]), ("--min-count", ["-1", "x"]),
                           ("--epochs", ["0", "1.5"]), ("--workers", ["0", "1000000000"]),
                           ("--alpha", ["nan", "inf", "-1", "0", "1e30"]), ("--sample", ["-1", "nan"]),
                           ("--seed", ["-1", "1e3"])):
        for value in values:
            expect = "either" if (option, value) in (("--alpha", "1e30"),) else "error"
            runs.append((f"train {option} {value}", ["train", "c.txt", "-o", "o.kv", option, value, "--min-count" if option != "--min-count" else "--quiet", "1" if option != "--min-count" else "--quiet"],
                         expect, [option, option.strip("-").replace("-", "_"), "vector_size" if option == "--size" else option,
                                  "diverged"]))
    for label, argv, expect, names in runs:
        argv = [a for a in argv if a != "--quiet"] + (["--quiet"] if argv and argv[0] == "train" else [])
        cases.append(case("cli", label, argv=argv, files={**files, "empty.txt": b"", "junk.hsmcy": b"PK\x03\x04junk" * 10,
                                                              "v.txt": b"2 3\nthe 1 2 3\ncat 3 2 1\n"},
                          expect=expect, names=names, timeout=90,
                          check="rc == 0"))
    cases.append(case("cli", "train a gzipped corpus", argv=["train", "c.txt.gz", "-o", "o.txt", "--min-count", "1", "--quiet",
                                                            "--epochs", "1"],
                      files={"c.txt.gz": gzip.compress(small)}, expect="ok", timeout=90,
                      check="open(os.path.join(folder, 'o.txt')).readline().split() == ['7', '100']"))
    cases.append(case("cli", "train a unicode-named corpus", argv=["train", "\u00e9\U0001F600.txt", "-o", "\u00e9.hsmcy",
                                                                  "--min-count", "1", "--quiet", "--epochs", "1"],
                      files={"\u00e9\U0001F600.txt": small}, expect="ok", timeout=90,
                      check="os.path.exists(os.path.join(folder, '\u00e9.hsmcy'))"))
    return cases


def concurrency_cases():
    body = {
        "train while save": """
            m = w2v()
            stop = []
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=2)
            def save():
                for i in range(5):
                    try:
                        m.save('x.hsmcy')
                    except (ValueError, RuntimeError):
                        pass
            first_clean_error(run_threads([train, save]))
            back = hsmcy.Word2Vec.load('x.hsmcy')
            check(back.wv.vectors.shape == m.wv.vectors.shape and finite(back.wv.vectors), "a whole, finite file")
        """,
        "score while train": """
            m = w2v()
            scores = []
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=2)
            def score():
                for i in range(5):
                    scores.append(m.score([s[:20] for s in lee_sentences(20)]))
            first_clean_error(run_threads([train, score]))
            check(all(len(s) == 20 for s in scores), "every score call answered")
        """,
        "two trains of one model": """
            m = w2v()
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=2)
            errors = run_threads([train, train])
            check(all(isinstance(e, RuntimeError) for e in errors) and len(errors) <= 1, "the second is refused or both run")
            check_word2vec(m)
        """,
        "most_similar and predict while train": """
            m = w2v()
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=2)
            def query():
                for i in range(30):
                    m.wv.most_similar('the', topn=3); m.predict_output_word(['the', 'fire'], topn=3)
            first_clean_error(run_threads([train, query, query]))
            check_word2vec(m)
        """,
        "build_vocab while train": """
            m = w2v()
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=2)
            def rebuild():
                m.build_vocab(common_texts, update=False)
            errors = run_threads([train, rebuild])
            check(all(isinstance(e, (RuntimeError, ValueError)) for e in errors), "refused, or done one after the other")
            check(m.wv.vectors.shape == (len(m.wv), m.vector_size), "consistent shapes")
        """,
        "two fits of one classifier": """
            texts = ['cheap flights to paris', 'hotel in rome', 'fix a flat tyre', 'new brake pads'] * 200
            labels = ['travel', 'travel', 'bike', 'bike'] * 200
            c = hsmcy.HSClassifier(dim=16, epochs=5, workers=2)
            errors = run_threads([lambda: c.fit(texts, labels), lambda: c.fit(texts, labels)])
            check(all(isinstance(e, RuntimeError) for e in errors), "refused")
            check(len(c.predict(['flat tyre'])) == 1, "predicts")
        """,
        "predict during fit": """
            texts = ['cheap flights to paris', 'hotel in rome', 'fix a flat tyre', 'new brake pads'] * 300
            labels = ['travel', 'travel', 'bike', 'bike'] * 300
            c = hsmcy.HSClassifier(dim=16, epochs=2, workers=1).fit(texts, labels)
            def predict():
                for i in range(50):
                    c.predict(['flat tyre', 'rome hotel'])
            errors = run_threads([lambda: c.fit(texts, labels), predict, predict])
            check(all(isinstance(e, (RuntimeError, ValueError)) for e in errors), "refused or consistent")
        """,
        "predict during fit with new labels": """
            texts = ['cheap flights to paris', 'hotel in rome', 'fix a flat tyre', 'new brake pads'] * 300
            c = hsmcy.HSClassifier(dim=16, epochs=2, workers=1).fit(texts, ['a', 'b', 'c', 'd'] * 300)
            def predict():
                for i in range(50):
                    c.predict_top(['flat tyre', 'rome hotel'], k=2)
            errors = run_threads([lambda: c.fit(texts * 2, [str(i) for i in range(len(texts) * 2)]), predict, predict])
            check(all(isinstance(e, (RuntimeError, ValueError)) for e in errors), "refused or consistent")
        """,
        "infer_vector from 4 threads": """
            m = d2v()
            words = lee_sentences(8)
            expected = [m.infer_vector(w) for w in words]
            results = {}
            def infer(i):
                for j, w in enumerate(words):
                    results[(i, j)] = m.infer_vector(w)
            first_clean_error(run_threads([lambda i=i: infer(i) for i in range(4)]))
            check(all(np.array_equal(results[(i, j)], expected[j]) for i in range(4) for j in range(8)), "each thread gets the one-thread vectors")
        """,
        "infer_vector while train": """
            m = d2v()
            def train():
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=1)
            def infer():
                for i in range(20):
                    m.infer_vector(['the', 'fire'])
            errors = run_threads([train, infer, infer])
            check(all(isinstance(e, RuntimeError) for e in errors), "refused or fine")
        """,
        "layer update from 2 threads while predict": """
            l = layer()
            H = np.random.default_rng(0).normal(size=(2000, l.dim)).astype(np.float32)
            y = np.random.default_rng(1).integers(0, l.n_classes, 2000)
            def update():
                for i in range(10):
                    l.update(H, y, lr=0.05)
            def predict():
                for i in range(10):
                    p = l.predict_proba(H[:50]); assert np.allclose(p.sum(axis=1), 1, atol=1e-3)
            first_clean_error(run_threads([update, update, predict]))
            check(finite(l.inner_node_vectors), "finite")
        """,
        "replace the layer's weights while predicting": """
            l = layer()
            H = np.ones((5000, l.dim), np.float32)
            def predict():
                for i in range(20):
                    try:
                        l.predict(H, k=2)
                    except ValueError:
                        pass
            def replace():
                for i in range(200):
                    l.inner_node_vectors = np.zeros((1, l.dim), np.float32) if i % 2 else np.zeros((l.tree.n_inner, l.dim), np.float32)
            first_clean_error(run_threads([predict, replace]))
        """,
        "edit key_to_index while scoring": """
            m = w2v()
            sentences = [s[:40] for s in lee_sentences(200)]
            def score():
                for i in range(3):
                    try:
                        m.score(sentences)
                    except ValueError:
                        pass
            def edit():
                for i in range(2000):
                    m.wv.key_to_index['the'] = 10**7 if i % 2 else 0
            first_clean_error(run_threads([score, edit]))
        """,
        "swap wv.vectors while predicting": """
            m = w2v()
            good = m.wv.vectors
            def predict():
                for i in range(200):
                    try:
                        m.predict_output_word(['the', 'fire'], topn=3)
                    except ValueError:
                        pass
            def swap():
                for i in range(2000):
                    m.wv.vectors = good[:2] if i % 2 else good
            first_clean_error(run_threads([predict, swap]))
        """,
        "save from two threads to one path": """
            m = w2v()
            first_clean_error(run_threads([lambda: m.save('x.hsmcy'), lambda: m.save('x.hsmcy'), lambda: m.save('x.hsmcy')]))
            check(np.array_equal(hsmcy.Word2Vec.load('x.hsmcy').wv.vectors, m.wv.vectors), "a whole file")
            check(sorted(set(os.listdir('.')) - {'_case.py'}) == ['x.hsmcy'], "no temporary file left")
        """,
        "load one file from 4 threads, mmap": """
            models = []
            first_clean_error(run_threads([lambda: models.append(hsmcy.Word2Vec.load(W2V, mmap='r')) for _ in range(4)]))
            check(len(models) == 4 and all(np.array_equal(x.wv.vectors, models[0].wv.vectors) for x in models), "four equal models")
        """,
        "Ctrl-C (SIGINT) during train": """
            import signal, _thread
            m = w2v()
            threading.Timer(0.3, _thread.interrupt_main).start()
            try:
                m.train(corpus_file=LEE, total_examples=m.corpus_count, epochs=50)
            except KeyboardInterrupt:
                pass
            check_word2vec(m)
            m.save('x.hsmcy')
        """,
        "two models trained from two threads": """
            a, b = tiny(epochs=1), tiny(epochs=1)
            def train(x):
                x.train(corpus_file=LEE, total_examples=300, epochs=1)
            a.build_vocab(corpus_file=LEE); b.build_vocab(corpus_file=LEE)
            first_clean_error(run_threads([lambda: train(a), lambda: train(b)]))
            check_word2vec(a); check_word2vec(b)
        """,
        "corpus file rewritten while build_vocab reads it": """
            open('c.txt', 'w').write(open(LEE).read() * 5)
            def rewrite():
                for i in range(50):
                    open('c.txt', 'wb').write(np.random.default_rng(i).bytes(100_000))
            def build():
                m = hsmcy.Word2Vec(min_count=1, vector_size=8, workers=1)
                m.build_vocab(corpus_file='c.txt')
            errors = run_threads([build, rewrite])
            check(all(isinstance(e, (ValueError, OSError)) for e in errors), "an error or a vocabulary")
        """,
        "corpus file truncated between build_vocab and train": """
            open('c.txt', 'w').write(open(LEE).read())
            m = hsmcy.Word2Vec(min_count=1, vector_size=8, workers=1)
            m.build_vocab(corpus_file='c.txt')
            os.truncate('c.txt', 1000)
            m.train(corpus_file='c.txt', total_examples=m.corpus_count, epochs=1)
            check_word2vec(m)
        """,
    }
    return [case("concurrency", label, code, timeout=90,
                 names=["concurrent", "already", "running", "training", "c.txt", "changed", "vectors", "corpus",
                        "edited", "inner"]) for label, code in body.items()]


def distributed_cases():
    setup = """
        from dask.distributed import Client, LocalCluster
        from hsmcy import distributed
        cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
        client = Client(cluster)
        shards = []
        for i in range(2):
            path = f"shard{i}.txt"
            with open(LEE) as source, open(path, "w") as target:
                target.writelines(source.readlines()[i * 150:(i + 1) * 150])
            shards.append(path)
        try:
            {call}
        finally:
            client.close(); cluster.close()
    """
    calls = [("a valid run", "m = distributed.train(client, shards, vector_size=8, epochs=1, min_count=2); check_word2vec(m)", "ok"),
             ("no shards", "distributed.train(client, [], vector_size=8)", "error"),
             ("a missing shard", "distributed.train(client, shards + ['missing.txt'], vector_size=8)", "error"),
             ("an empty shard", "open('e.txt', 'w').close(); distributed.train(client, shards + ['e.txt'], vector_size=8, min_count=2)", "either"),
             ("syncs_per_epoch=0", "distributed.train(client, shards, syncs_per_epoch=0, vector_size=8)", "error"),
             ("syncs_per_epoch=10**9", "distributed.train(client, shards, syncs_per_epoch=10**9, vector_size=8)", "error"),
             ("sync_every=-1", "distributed.train(client, shards, sync_every=-1, vector_size=8)", "error"),
             ("averaging='bogus'", "distributed.train(client, shards, averaging='bogus', vector_size=8)", "error"),
             ("workers=10**9", "distributed.train(client, shards, workers=10**9, vector_size=8)", "error"),
             ("vector_size=0", "distributed.train(client, shards, vector_size=0)", "error"),
             ("a gzipped shard", "import gzip; open('g.txt.gz', 'wb').write(gzip.compress(open(LEE, 'rb').read())); "
                                 "m = distributed.train(client, ['g.txt.gz'], vector_size=8, epochs=1, min_count=2); check(len(m.wv) > 1000, 'the text, not junk')", "ok")]
    return [case("distributed", label, textwrap.dedent(setup).replace("{call}", call), expect=expect, timeout=120,
                 names=["corpus_files", "shard", "missing.txt", "syncs_per_epoch", "sync_every", "averaging", "workers",
                        "vector_size", "e.txt"]) for label, call, expect in calls]


CATEGORIES = {"word2vec-parameters": word2vec_parameter_cases, "corpus-files": corpus_cases,
              "state-edited": state_cases, "model-files": file_cases, "layer": layer_cases,
              "classifier": classifier_cases, "doc2vec": doc2vec_cases, "inference": inference_cases,
              "gensim": gensim_cases, "cli": cli_cases, "concurrency": concurrency_cases,
              "distributed": distributed_cases}


def catalogue(only=()):
    """Every case, or those of the categories in ``only``."""
    cases = [c for make in CATEGORIES.values() for c in make()]
    return [c for c in cases if not only or c["category"] in only]


# ============================================================================================== running
FIXTURES = r'''
import os, sys, numpy as np, hsmcy
from gensim.test.utils import datapath
out = sys.argv[1]
lee = datapath("lee_background.cor")
hsmcy.Word2Vec(corpus_file=lee, vector_size=16, epochs=1, workers=1, seed=1).save(os.path.join(out, "w2v.hsmcy"))
hsmcy.Doc2Vec(corpus_file=lee, vector_size=16, epochs=2, workers=1, dm=0, seed=1).save(os.path.join(out, "d2v.hsmcy"))
with open(lee, encoding="utf-8") as lines:
    texts = [line for line in lines]
labels = ["fire" if "fire" in t else ("sport" if ("cricket" in t or "test" in t) else "other") for t in texts]
hsmcy.HSClassifier(dim=16, epochs=2, workers=1, word_ngrams=2, bucket=5000).fit(texts, labels).save(os.path.join(out, "clf.hsmcy"))
layer = hsmcy.HierarchicalSoftmax(hsmcy.HuffmanTree.from_counts(np.arange(1, 41)), dim=16, seed=0)
layer.save(os.path.join(out, "layer.hsmcy"))
'''


def child_environment(fixtures):
    environment = dict(os.environ)
    environment["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + environment.get("PYTHONPATH", "")
    environment["ADVERSARIAL_FIXTURES"] = fixtures
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        environment[name] = "1"
    environment["PYTHONFAULTHANDLER"] = "1"   # a signal prints the Python stack on stderr
    environment["HSMCY_TRACEBACK"] = ""
    return environment


def limit_memory(cap_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_process(argv, folder, environment, timeout, cap_bytes):
    """(returncode or None on timeout, stdout, stderr, seconds)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, preexec_fn=limit_memory(cap_bytes), start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)   # the case's own process group, started above
        out, err = process.communicate()
        code = None
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - started


def fatal_error_stack(err):
    """The Python stack faulthandler printed for a signal (without its list of extension modules)."""
    start = err.find("Fatal Python error")
    if start < 0:
        return "stderr: " + err.strip()[-700:]
    stack = err[start:].split("\nExtension modules")[0]
    return " | ".join(line.strip() for line in stack.splitlines() if line.strip())[:900]


def names_one(message, names):
    lowered = message.lower()
    return not names or any(name.lower() in lowered for name in names)


def classify(spec, code, out, err, folder):
    """The outcome of one finished process, and a short detail."""
    memory_words = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
    if code is None:
        if spec["known_limit"]:
            return "known limit", f"timed out: {spec['known_limit']}"
        return "hang", "timed out"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(code)
        if spec["known_limit"]:
            return "known limit", f"{name}: {spec['known_limit']}"
        if any(word in err for word in memory_words):
            return "memory", f"{name} ({next(w for w in memory_words if w in err)})"
        return "crash", f"{name}; {fatal_error_stack(err)}"
    if spec["argv"] is not None:                       # the command line
        if code == 0:
            try:
                ok = eval(spec["check"], {"os": os}, {"rc": code, "out": out, "err": err, "folder": folder})
            except Exception as error:                 # noqa: BLE001 -- a failed check is an outcome
                ok, err = False, f"check raised {error!r}"
            if spec["expect"] == "error":
                return "wrong/silent", f"exit 0 where an error was expected; stdout: {out.strip()[-200:]}"
            return ("correct", "") if ok else ("wrong/silent", f"check failed: {spec['check']}")
        if any(word in err for word in memory_words):
            return "memory", err.strip()[-300:]
        if "Traceback" in err:
            return "internal error", err.strip()[-500:]
        if spec["expect"] == "ok":
            return "wrong/silent", f"refused valid input (exit {code}): {err.strip()[-300:]}"
        lines = [line for line in err.strip().splitlines() if line.strip()]
        message = lines[-1] if lines else ""
        if not lines:
            return "error, unnamed", f"exit {code} with nothing on stderr"
        return ("clear error" if names_one(message, spec["names"]) else "error, unnamed"), f"exit {code}: {message[:300]}"
    marker = out.rfind(RESULT_MARK)
    if marker < 0:
        if any(word in err for word in memory_words):
            return "memory", err.strip()[-300:]
        # an exit status without a signal: the case's own code failed (not a crash of hsmcy)
        return "internal error", f"exit {code} without a result; stderr: {err.strip()[-700:]}"
    result = json.loads(out[marker + len(RESULT_MARK):].splitlines()[0])
    status = result["status"]
    if status == "memory":
        return "memory", f"{result['type']}: {result['message'][:200]}"
    if status == "wrong":
        return "wrong/silent", f"check failed: {result['detail']}"
    if status == "done":
        if spec["expect"] == "error":
            return "wrong/silent", "accepted where an error was expected" + (
                f" (warned: {result['warnings']})" if result.get("warnings") else "")
        return ("correct", f"{result['checks']} checks") if result["checks"] else ("accepted", "nothing to check")
    kind, message = result["type"], result["message"]
    if status == "raised" and kind not in CLEAR_TYPES:
        return "internal error", f"{kind}: {message[:300]} | {result['where'][-400:]}"
    if spec["expect"] == "ok":
        return "wrong/silent", f"refused valid input: {kind}: {message[:300]}"
    named = names_one(message, spec["names"])
    return ("clear error" if named else "error, unnamed"), f"{kind}: {message[:300]}"


def run_case(spec, fixtures, environment, default_timeout, cap_bytes):
    folder = tempfile.mkdtemp(prefix="hsmcy-adv-")
    try:
        for name, data in spec["files"].items():
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(data)
        timeout = spec["timeout"] or default_timeout
        if spec["argv"] is not None:
            argv = [sys.executable, "-m", "hsmcy"] + [a.replace("FIX/", fixtures + os.sep) for a in spec["argv"]]
        else:
            script = (PRELUDE + "\nMARK = " + repr(RESULT_MARK) + "\n\ndef _case():\n"
                      + textwrap.indent(spec["body"], "    ") + "\n" + EPILOGUE)
            with open(os.path.join(folder, "_case.py"), "w", encoding="utf-8") as handle:
                handle.write(script)
            argv = [sys.executable, "_case.py"]
        code, out, err, seconds = run_process(argv, folder, environment, timeout, cap_bytes)
        outcome, detail = classify(spec, code, out, err, folder)
        return {"category": spec["category"], "name": spec["name"], "outcome": outcome, "detail": detail,
                "returncode": code, "seconds": round(seconds, 2), "expect": spec["expect"]}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_fixtures(folder, environment, cap_bytes):
    path = os.path.join(folder, "_make_fixtures.py")
    with open(path, "w") as handle:
        handle.write(FIXTURES)
    code, out, err, _ = run_process([sys.executable, path, folder], folder, environment, 300, cap_bytes)
    if code != 0:
        raise SystemExit(f"could not make the fixtures (exit {code}):\n{err}")


def run_cases(cases, jobs=2, timeout=60, memory_gib=3.0, progress=True, fixtures=True):
    """Run ``cases``; returns their results in order.  Used by the script and by its test
    (which passes ``fixtures=False`` for cases that need no saved models)."""
    cap_bytes = int(memory_gib * (1 << 30))
    fixture_folder = tempfile.mkdtemp(prefix="hsmcy-adv-fixtures-")
    environment = child_environment(fixture_folder)
    try:
        if fixtures:
            make_fixtures(fixture_folder, environment, cap_bytes)
        results = [None] * len(cases)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run_case, spec, fixture_folder, environment, timeout, cap_bytes): index
                       for index, spec in enumerate(cases)}
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                index = futures[future]
                results[index] = future.result()
                if progress:
                    r = results[index]
                    flag = "  <<<" if r["outcome"] in BAD_OUTCOMES + ("internal error", "wrong/silent") else ""
                    print(f"[{done}/{len(cases)}] {r['category']}: {r['name']} -> {r['outcome']} "
                          f"({r['seconds']} s){flag}", file=sys.stderr, flush=True)
        return results
    finally:
        shutil.rmtree(fixture_folder, ignore_errors=True)


def markdown(results, command, seconds, finished=None):
    categories = list(dict.fromkeys(r["category"] for r in results))
    columns = [o for o in OUTCOMES if any(r["outcome"] == o for r in results)] or list(OUTCOMES)
    lines = [f"Command: `{command}`", "",
             f"{len(results)} cases, {seconds:.0f} s wall clock, Python {platform.python_version()}, "
             f"finished {finished or time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| category | cases | " + " | ".join(columns) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |"]
    for category in categories + ["**all**"]:
        rows = [r for r in results if category == "**all**" or r["category"] == category]
        counts = [sum(r["outcome"] == o for r in rows) for o in columns]
        lines.append(f"| {category} | {len(rows)} | " + " | ".join(str(c) if c else "" for c in counts) + " |")
    for outcome in ("crash", "hang", "memory", "internal error", "wrong/silent", "error, unnamed", "known limit"):
        chosen = [r for r in results if r["outcome"] == outcome]
        if chosen:
            lines += ["", f"### {outcome} ({len(chosen)})", ""]
            lines += [f"- {r['category']}: {r['name']}: {short_detail(r['detail'])}" for r in chosen]
    return "\n".join(lines) + "\n"


def short_detail(detail):
    """One line of a case's detail for the tables (without the list of extension modules of a signal)."""
    detail = detail.split("Extension modules")[0].replace("\n", " ")
    if "stderr: ._shortest_path" in detail:      # older runs kept the tail of the module list only
        detail = detail.split(";")[0] + " (see the JSON)"
    return detail[:300]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(CATEGORIES) + ["corpus-iterables"], default=[],
                        help="run one category (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--match", help="run only cases whose name contains this text")
    parser.add_argument("--rerun", metavar="JSON",
                        help="run again the cases of an earlier run's JSON whose outcome was one of --outcomes "
                             "(and every case of the --only categories)")
    parser.add_argument("--outcomes", default="crash;hang;memory;internal error;wrong/silent",
                        help="outcomes that --rerun selects (separated by ;)")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier run's JSON and exit")
    parser.add_argument("--every", type=int, default=1, help="run every Nth case only (a quick sample)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per case unless it sets its own")
    parser.add_argument("--memory-gib", type=float, default=3.0, help="RLIMIT_AS of each case")
    parser.add_argument("--json", default="adversarial.json", help="where to write every case's outcome")
    parser.add_argument("--markdown", help="also write the tables to this file")
    options = parser.parse_args(argv)
    if options.report:
        with open(options.report) as handle:
            earlier = json.load(handle)
        table = markdown(earlier["cases"], earlier["command"], earlier["seconds"], earlier.get("finished"))
        print(table)
        if options.markdown:
            with open(options.markdown, "w") as handle:
                handle.write(table)
        return 0
    if options.rerun:   # the selected outcomes of the earlier run, and every case of the --only categories
        with open(options.rerun) as handle:
            wanted = {(r["category"], r["name"]) for r in json.load(handle)["cases"]
                      if r["outcome"] in options.outcomes.split(";")}
        cases = [c for c in catalogue() if (c["category"], c["name"]) in wanted or c["category"] in options.only]
    else:
        cases = catalogue(set(options.only))
    if options.match:
        cases = [c for c in cases if options.match in c["name"]]
    cases = cases[::options.every]
    if options.list:
        for category in dict.fromkeys(c["category"] for c in cases):
            chosen = [c for c in cases if c["category"] == category]
            print(f"{category} ({len(chosen)})")
            for c in chosen:
                print(f"  {c['name']}  [expect {c['expect']}]")
        print(f"{len(cases)} cases")
        return 0
    started = time.monotonic()
    results = run_cases(cases, jobs=options.jobs, timeout=options.timeout, memory_gib=options.memory_gib)
    seconds = time.monotonic() - started
    command = "PYTHONPATH=$PWD python fuzz/adversarial.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(results, command.strip(), seconds)
    print(table)
    with open(options.json, "w") as handle:
        json.dump({"command": command.strip(), "seconds": round(seconds, 1),
                   "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cases": results}, handle, indent=1)
    if options.markdown:
        with open(options.markdown, "w") as handle:
            handle.write(table)
    return 1 if any(r["outcome"] in BAD_OUTCOMES for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
