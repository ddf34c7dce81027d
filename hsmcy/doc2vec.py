"""Doc2Vec (paragraph vectors) with hierarchical softmax: gensim's API on hsmcy's kernels.

``hsmcy.Doc2Vec`` takes gensim's ``Doc2Vec`` arguments for its hierarchical-softmax
modes, so that code written for ``gensim.models.Doc2Vec(hs=1, negative=0)`` runs
unchanged; ``dv`` (the document vectors) and ``wv`` (the word vectors) *are* gensim
``KeyedVectors``.

Paragraph vectors are word2vec with more input rows (Le & Mikolov 2014): every
document has a vector of its own, one per tag, which joins the context of every
centre word of the document.  PV-DBOW (``dm=0``) is skip-gram whose context is the
document's vectors (and, with ``dbow_words=1``, the window's words); PV-DM
(``dm=1``) is CBOW whose hidden vector is the mean (or, ``dm_mean=0``, the sum) of
the window's words and the document's vectors.  Training therefore runs in the
same ``nogil`` workers as :class:`hsmcy.Word2Vec` (``hsmcy._kernels.TrainingWorker``
with ``document_vectors``), and ``hsmcy.reference.train_document`` states the maths.

What differs from gensim, on purpose:

* the gradient is exact (no skipped nodes at ``|h.v| >= 6``), as in ``hsmcy.Word2Vec``;
* documents longer than 10,000 words are trained whole (gensim truncates them);
* ``corpus_file``: the tag of a document is its line number, also for the lines
  after an empty line (gensim's file mode skips empty lines without counting them,
  so its tags there disagree with the line numbers its own vocabulary scan gave);
* :meth:`Doc2Vec.infer_vector` is deterministic: the same words give the same
  vector, in every process (gensim seeds the start from Python's salted ``hash``
  and draws the windows from the model's shared random state);
* tags are ints (row numbers, as gensim) or strings; other types, a string given
  as the tags (``tags="doc1"``, four one-letter tags in gensim) and negative ints
  are refused;
* ``dm_concat=1`` and a pre-made ``dv`` / ``dv_mapfile`` are not supported;
* :meth:`Doc2Vec.score` and :meth:`Doc2Vec.log_prob` score *documents* (see there);
* the model file format (``save``/``load``) holds no pickle.
"""
from __future__ import annotations

import contextlib
import logging
import numbers
import threading
import zlib
from array import array

import numpy as np
from gensim.models import KeyedVectors
from gensim.models.doc2vec import TaggedDocument

from . import corpus as corpus_io
from . import persistence
from ._training import DEFAULT_KERNEL
from .checks import all_finite, check_array
from .corpus import EncodedCorpus
from .memory import CACHE_LINE, aligned_zeros, check_fits_in_memory
from .tree import BinaryTree, HuffmanTree
from .word2vec import Word2Vec, _check_float, _check_int, refill_norms

logger = logging.getLogger(__name__)

__all__ = ["Doc2Vec", "TaggedDocument", "TaggedLineDocument"]

# Document rows are int32 in the kernels.
_MAX_DOCUMENT_ROWS = persistence.MAX_DOCUMENT_ROWS
# Int tags are row numbers: a tag of 10**9 makes 10**9 rows.  Above this many bytes of
# rows that no document uses, build_vocab refuses instead of allocating them.
_MAX_UNUSED_ROW_BYTES = 1 << 30
# infer_vector keeps this many workers over the model's arrays for later calls.
_KEPT_INFERENCE_WORKERS = 8


class TaggedLineDocument:
    """Documents of a text file, one per line, tagged with their line number (as gensim's).

    Lines end at ``\\n``; words are separated by whitespace; invalid UTF-8 is
    replaced, not fatal.  Empty lines are documents too (with no words), so that
    every line keeps its number.

    Parameters
    ----------
    source : str or PathLike
        The file.
    """

    def __init__(self, source):
        self.source = corpus_io.check_corpus_file(source, "source")

    def __iter__(self):
        with open(self.source, "rb") as handle:
            for line_number, line in enumerate(handle):
                yield TaggedDocument(line.decode("utf-8", errors="replace").split(), [line_number])


class DocumentCorpus(EncodedCorpus):
    """An encoded corpus whose sentence ``s`` is a document with rows
    ``document_tags[tag_bounds[s]:tag_bounds[s + 1]]`` of the document vectors."""

    def __init__(self, encoded, document_tags, tag_bounds):
        super().__init__(encoded.token_ids, encoded.sentence_bounds, encoded.raw_words)
        self.document_tags = document_tags
        self.tag_bounds = tag_bounds


def _document_parts(document, number, name):
    """``(words, tags)`` of one document, or a ``TypeError``/``ValueError`` saying what is wrong with it."""
    try:
        words, tags = document.words, document.tags
    except AttributeError:
        raise TypeError(f"{name}: document #{number} is a {type(document).__name__}, not a TaggedDocument "
                        "(an object with .words and .tags); wrap token lists as TaggedDocument(words, [tag])") \
            from None
    if isinstance(words, (str, bytes)):
        raise TypeError(f"{name}: document #{number} has words {words[:40]!r}, a {type(words).__name__}; "
                        "words must be a list of tokens, e.g. 'hello world'.split()")
    if isinstance(tags, (str, bytes)):
        raise TypeError(f"{name}: document #{number} has tags {tags[:40]!r}, a {type(tags).__name__}; "
                        f"tags must be a list, e.g. [{tags[:40]!r}]")
    try:
        tags = list(tags)
    except TypeError:
        raise TypeError(f"{name}: document #{number} has tags {tags!r}: tags must be a list of ints or strings") \
            from None
    for tag in tags:
        if isinstance(tag, (bool, np.bool_)) or not isinstance(tag, (numbers.Integral, str)):
            raise TypeError(f"{name}: document #{number} has tag {tag!r} ({type(tag).__name__}): "
                            "a tag is an int (a row number) or a string")
        if not isinstance(tag, str) and tag < 0:
            raise ValueError(f"{name}: document #{number} has tag {tag}: int tags are row numbers, >= 0")
    return words, tags


class _DocumentScan:
    """Reads documents once: hands their words on (to the corpus encoder) and keeps their tags.

    A tag occurrence is kept as an int64: an int tag as itself, a string tag as
    ``-1 - k`` with ``k`` its order of first appearance; :meth:`rows` turns these into
    rows of ``dv``: int tags first (tag ``t`` is row ``t``), then string tags in order
    of first appearance (gensim's layout).  With ``known`` (an existing ``dv``), tags
    it does not have are dropped, as gensim does when training on new documents.
    """

    def __init__(self, name, known=None):
        self.name = name
        self.known = known
        self.values = array("q")          # one per tag occurrence
        self.ends = array("q", [0])       # per document: end of its tags in values
        self.lengths = array("q")         # per document: its words, before the vocabulary drops any
        self.strings = {}                 # string tag -> order of first appearance
        self.max_int = -1
        self.dropped = 0

    def words_of(self, documents):
        for number, document in enumerate(documents):
            words, tags = _document_parts(document, number, self.name)
            for tag in tags:
                if self.known is not None:
                    row = self.known.row_of(tag)
                    if row is None:
                        self.dropped += 1
                    else:
                        self.values.append(row)
                elif isinstance(tag, str):
                    self.values.append(-1 - self.strings.setdefault(tag, len(self.strings)))
                else:
                    if int(tag) > 2**63 - 1:   # an int64 cannot hold it (np.uint64 2**64 - 1 was an OverflowError)
                        raise ValueError(f"{self.name}: document #{number} has the int tag {tag!r}; int tags are "
                                         "row numbers of dv and this one is far beyond any possible row")
                    self.values.append(int(tag))
                    self.max_int = max(self.max_int, int(tag))
            self.ends.append(len(self.values))
            self.lengths.append(len(words))
            yield words

    def tag_arrays(self):
        """``(document_tags int32, tag_bounds int64)``: each document's rows of ``dv``."""
        values = np.frombuffer(self.values, dtype=np.int64)
        if self.known is None:
            values = np.where(values >= 0, values, self.max_int + 1 + (-1 - values))
        return values.astype(np.int32), np.frombuffer(self.ends, dtype=np.int64).copy()


class _Tags:
    """The keys of ``dv``: ``n_int`` int tags (rows ``0 .. n_int - 1``), then string tags."""

    def __init__(self, n_int, strings):
        self.n_int = int(n_int)
        self.strings = list(strings)
        self.string_rows = {tag: self.n_int + k for k, tag in enumerate(self.strings)}

    def __len__(self):
        return self.n_int + len(self.strings)

    def keys(self):
        return list(range(self.n_int)) + self.strings

    def row_of(self, tag):
        if isinstance(tag, str):
            return self.string_rows.get(tag)
        return int(tag) if 0 <= tag < self.n_int else None


def inference_start(words, vector_size, model_seed):
    """Where ``infer_vector`` starts: ``(vector, random-stream state)``, functions of the words alone.

    The vector follows gensim's formula, ``(uniform [0, 1) - 0.5) / vector_size``, drawn
    from the CRC-32 of the words joined by spaces (gensim uses Python's ``hash``, salted
    per process); the kernel's random stream (down-sampling, windows) starts from the
    same CRC-32 and the model's ``seed``."""
    seed = zlib.crc32(" ".join(words).encode("utf-8", errors="surrogatepass"))
    start = np.random.Generator(np.random.SFC64(seed)).random(vector_size).astype(np.float32)
    return (start - 0.5) / vector_size, ((seed << 32) ^ (int(model_seed) & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF


def document_huffman_tree(counts, seed):
    """The Huffman tree of ``counts``, equal counts merged in a seeded random order (as gensim's heap does).

    ``HuffmanTree.from_counts`` merges equal counts in id order, and words of equal
    count have ids in order of first appearance, so the rare words of one document
    become siblings.  A document's vector then learns inner nodes that only its own
    words use, and an inferred vector lands farther from the documents like it: on
    the film reviews of ``benchmarks/bench_doc2vec.py`` (PV-DBOW, 6 seeds), a held-out
    review's nearest training review had its polarity 69.6 % of the time on that tree
    and 73.2 % on gensim's, whose heap scatters equal counts (``docs/doc2vec.md``).
    So the tree is built over the words in a random order (seeded: ``seed``) and its
    leaves numbered back; inner node ``i`` is still the ``i``-th merge.
    """
    counts = np.asarray(counts, dtype=np.int64)
    shuffle = np.random.default_rng(seed).permutation(len(counts))
    shuffled = HuffmanTree.from_counts(counts[shuffle])       # its leaf j is word shuffle[j]
    leaf_of = np.empty_like(shuffle)
    leaf_of[shuffle] = np.arange(len(counts))
    offsets = shuffled.path_offsets
    lengths = offsets[leaf_of + 1] - offsets[leaf_of]
    path_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=path_offsets[1:])
    positions = np.repeat(offsets[leaf_of] - path_offsets[:-1], lengths) + np.arange(path_offsets[-1])
    return BinaryTree(shuffled.path_nodes[positions], shuffled.path_codes[positions], path_offsets)


class Doc2Vec(Word2Vec):
    """Document vectors (paragraph vectors) trained with hierarchical softmax: PV-DBOW or PV-DM.

    Parameters follow :class:`gensim.models.Doc2Vec`; those that select negative
    sampling or the concatenating PV-DM are refused.  Those shared with
    :class:`hsmcy.Word2Vec` (``alpha``, ``min_count``, ``sample``, ``seed``, ``workers``,
    ``min_alpha``, ``max_vocab_size``, ``max_final_vocab``, ``sorted_vocab``,
    ``batch_words``, ``compute_loss``, ``shrink_windows``, ``kernel``, ...) mean the same.

    Parameters
    ----------
    documents : iterable of TaggedDocument, optional
        A re-iterable corpus of ``TaggedDocument(words, tags)``: ``words`` a list of
        tokens, ``tags`` a list of ints (row numbers of ``dv``) and/or strings.  If
        given (or ``corpus_file``), the vocabulary is built and the model trained.
    corpus_file : str or PathLike, optional
        A UTF-8 text file, one document per line, tokens separated by whitespace;
        each document's tag is its line number (from 0).
    dm : {1, 0}, default 1
        1: PV-DM (distributed memory); 0: PV-DBOW (distributed bag of words).
    vector_size : int, default 100
        Width of the word and document vectors.
    window : int, default 5
        Maximum distance between a centre word and a context word.
    dm_mean : {None, 0, 1}, default None
        PV-DM's hidden vector: 1 the mean of the context vectors (words and the
        document's), 0 their sum; ``None`` takes ``cbow_mean``.
    dbow_words : {0, 1}, default 0
        PV-DBOW only: also train the word vectors by skip-gram, interleaved with the
        document vectors (for each centre word: its window's words, then the
        document's vectors, as gensim).
    dm_concat : {0}, default 0
        1 (concatenated context vectors) is not supported.
    dm_tag_count : int, default 1
        Only used with ``dm_concat`` in gensim; kept for compatibility.
    epochs : int, default 10
        Passes over the corpus (gensim's Doc2Vec default).
    hs, negative : {1}, {0}
        Hierarchical softmax only.
    dv, dv_mapfile : None
        A pre-made document ``KeyedVectors`` or a file to memory-map it from are not
        supported.
    kernel : {"fast", "blas"}, default "fast"
        The training kernel, as for :class:`hsmcy.Word2Vec`.

    Attributes
    ----------
    dv : gensim.models.KeyedVectors
        The document vectors, one per tag: ``dv[tag]``, ``dv.most_similar(tag)``.
        Int tags are row numbers (tag ``t`` is row ``t``, as gensim), string tags
        follow in order of first appearance.
    wv : gensim.models.KeyedVectors
        The word vectors (trained in PV-DM, and in PV-DBOW with ``dbow_words=1``).
    syn1 : ndarray
        The inner-node vectors, gensim's layout (see :class:`hsmcy.Word2Vec`).

    Examples
    --------
    >>> from gensim.test.utils import common_texts
    >>> from hsmcy import Doc2Vec, TaggedDocument
    >>> documents = [TaggedDocument(words, [i]) for i, words in enumerate(common_texts)]
    >>> model = Doc2Vec(documents, vector_size=8, window=2, min_count=1, epochs=20, workers=1)
    >>> model.dv.vectors.shape
    (9, 8)
    >>> vector = model.infer_vector(["system", "response"])
    >>> model.dv.most_similar([vector], topn=2)  # doctest: +SKIP
    """

    _collects_rehearsal = False   # no update=True here, and its sentences carry tags


    def __init__(self, documents=None, corpus_file=None, vector_size=100, dm_mean=None, dm=1, dbow_words=0,
                 dm_concat=0, dm_tag_count=1, dv=None, dv_mapfile=None, comment=None, trim_rule=None, callbacks=(),
                 window=5, epochs=10, shrink_windows=True, alpha=0.025, min_count=5, max_vocab_size=None,
                 sample=1e-3, seed=1, workers=3, min_alpha=0.0001, hs=1, negative=0, ns_exponent=0.75,
                 cbow_mean=1, hashfxn=hash, null_word=0, sorted_vocab=1, batch_words=10000, compute_loss=False,
                 max_final_vocab=None, kernel=DEFAULT_KERNEL):
        if dm not in (0, 1, True, False):
            raise ValueError(f"dm must be 1 (PV-DM) or 0 (PV-DBOW), got {dm!r}")
        if dbow_words not in (0, 1, True, False):
            raise ValueError(f"dbow_words must be 0 or 1, got {dbow_words!r}")
        if dm_concat:
            raise ValueError("dm_concat=1 (PV-DM over concatenated context vectors) is not supported by hsmcy; "
                             "use dm_concat=0 (mean or sum, dm_mean) or gensim")
        if dv is not None or dv_mapfile is not None:
            raise ValueError("dv and dv_mapfile are not supported: hsmcy makes dv in build_vocab "
                             "(memory-map a saved model with Doc2Vec.load(path, mmap='r'))")
        if dm_mean is not None and dm_mean not in (0, 1, True, False):
            raise ValueError(f"dm_mean must be None, 0 or 1, got {dm_mean!r}")
        super().__init__(
            vector_size=vector_size, alpha=alpha, window=window, min_count=min_count, max_vocab_size=max_vocab_size,
            sample=sample, seed=seed, workers=workers, min_alpha=min_alpha, sg=int(not dm), hs=hs, negative=negative,
            ns_exponent=ns_exponent, cbow_mean=cbow_mean if dm_mean is None else dm_mean, hashfxn=hashfxn,
            epochs=epochs, null_word=null_word, trim_rule=trim_rule, sorted_vocab=sorted_vocab,
            batch_words=batch_words, compute_loss=compute_loss, callbacks=callbacks, comment=comment,
            max_final_vocab=max_final_vocab, shrink_windows=shrink_windows, kernel=kernel)
        self.dbow_words = int(dbow_words)
        self.dm_concat = 0
        self.dm_tag_count = _check_int("dm_tag_count", dm_tag_count, 1)
        self._tags = _Tags(0, [])
        self.dv = KeyedVectors(self.vector_size)
        self._inference_lock = threading.Lock()
        self._inference_pool = []     # (arrays, settings, worker, document row): see _inference_worker
        if documents is not None or corpus_file is not None:
            self._check_one_corpus(documents, corpus_file, "documents")
            corpus_io.check_corpus_iterable(documents, "documents", passes=2)
            self.build_vocab(corpus_iterable=documents, corpus_file=corpus_file, trim_rule=trim_rule)
            self.train(corpus_iterable=documents, corpus_file=corpus_file, total_examples=self.corpus_count,
                       total_words=self.corpus_total_words, epochs=self.epochs, start_alpha=self.alpha,
                       end_alpha=self.min_alpha, compute_loss=self.compute_loss, callbacks=self.callbacks)

    def __getstate__(self):
        # The kept inference workers (compiled objects) and their lock are rebuilt on use.
        state = self.__dict__.copy()
        state["_inference_lock"], state["_inference_pool"] = None, []
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._inference_lock = threading.Lock()

    # ------------------------------------------------------------- helpers
    @property
    def dm(self):
        """1 for PV-DM, 0 for PV-DBOW: the opposite of ``sg`` (as in gensim, one setting, not two)."""
        return int(not self.sg)

    @property
    def dbow(self):
        """Whether this is PV-DBOW (gensim's name)."""
        return bool(self.sg)

    @property
    def dm_mean(self):
        """PV-DM's mean (1) or sum (0) of the context vectors: ``cbow_mean``."""
        return self.cbow_mean

    def __str__(self):
        mode = ("dbow+w" if self.dbow_words else "dbow") if self.sg else ("dm/m" if self.cbow_mean else "dm/s")
        return (f"Doc2Vec<{mode}, vocab={len(self.wv)}, documents={len(self.dv)}, vector_size={self.vector_size}, "
                f"window={self.window}, hs=1>")

    __repr__ = __str__

    @staticmethod
    def _documents_of(corpus_iterable, corpus_file):
        return TaggedLineDocument(corpus_file) if corpus_file is not None else corpus_iterable

    # ------------------------------------------------------------ vocabulary
    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False, progress_per=10000,
                    keep_raw_vocab=False, trim_rule=None, **kwargs):
        """Read the documents once: words, tags, Huffman tree, and fresh word and document vectors.

        The documents are encoded into word ids during the same pass and kept until
        the next :meth:`train` on the same corpus, which then needs no second reading.

        Parameters
        ----------
        corpus_iterable : iterable of TaggedDocument, optional
        corpus_file : str or PathLike, optional
            Exactly one of the two (a file: one document per line, tagged with its line number).
        update : bool
            Online vocabulary growth is not supported (``ValueError``).
        progress_per : int
            Log progress every this many documents.
        trim_rule : callable, optional
            gensim's vocabulary hook; overrides the constructor's.
        keep_raw_vocab :
            Accepted for gensim compatibility.
        """
        if update:
            raise ValueError("build_vocab(update=True) is not supported: hsmcy builds the Huffman tree once")
        if kwargs:
            raise TypeError(f"build_vocab() got unexpected arguments: {sorted(kwargs)}")
        self._check_one_corpus(corpus_iterable, corpus_file)
        name = "corpus_file" if corpus_file is not None else "documents"
        documents = self._documents_of(corpus_iterable, corpus_file)
        corpus_io.check_corpus_iterable(documents, name)
        tags = _DocumentScan(name)
        scan = corpus_io.scan_iterable(tags.words_of(documents), progress_per=progress_per)
        if scan.corpus.n_words == 0:
            raise ValueError(f"{name} holds no words")
        vocabulary, remap = self._vocabulary_of_scan(scan, trim_rule)
        n_documents = scan.corpus.n_sentences
        document_tags, tag_bounds = self._check_tag_rows(tags, n_documents, name)
        self.corpus_count = n_documents
        self.corpus_total_words = int(scan.counts.sum())
        self._encoded = DocumentCorpus(scan.encode(remap), document_tags, tag_bounds)
        self._encoded_source = self._source_key(corpus_iterable, corpus_file)
        del scan, remap
        self._set_vocabulary(vocabulary.words, vocabulary.counts, document_huffman_tree(vocabulary.counts, self.seed))
        self.effective_min_count = int(vocabulary.counts.min())
        layout = _Tags(tags.max_int + 1, tags.strings)
        documents_of_tag = np.repeat(np.arange(n_documents), np.diff(tag_bounds))
        doc_counts = np.bincount(document_tags, minlength=len(layout)).astype(np.int64)
        word_counts = np.bincount(document_tags, weights=np.frombuffer(tags.lengths, dtype=np.int64)[documents_of_tag],
                                  minlength=len(layout)).astype(np.int64)
        self._install_documents(layout.n_int, layout.strings, np.zeros((0, self.vector_size), np.float32),
                                doc_counts, word_counts)
        self._init_weights()
        logger.info("build_vocab: %d words, %d documents with %d tags (%d vectors), %d tokens (%d in vocabulary)",
                    len(vocabulary), n_documents, len(document_tags), len(self.dv), self.corpus_total_words,
                    self._encoded.n_words)

    def _check_tag_rows(self, tags, n_documents, name):
        """The documents' rows of ``dv``, refusing int tags that would make an absurd ``dv``."""
        n_rows = tags.max_int + 1 + len(tags.strings)
        if n_rows > _MAX_DOCUMENT_ROWS:
            raise ValueError(f"{name}: the tags make {n_rows} document vectors (int tags are row numbers, up to "
                             f"{tags.max_int}); at most {_MAX_DOCUMENT_ROWS} are possible")
        document_tags, tag_bounds = tags.tag_arrays()
        if tags.max_int >= 0:
            used = len(np.unique(document_tags[document_tags <= tags.max_int]))
            unused_bytes = (tags.max_int + 1 - used) * self.vector_size * 4
            if unused_bytes > _MAX_UNUSED_ROW_BYTES:
                raise ValueError(
                    f"{name}: int tags are row numbers of dv, and tag {tags.max_int} makes {tags.max_int + 1} rows "
                    f"of which {tags.max_int + 1 - used} belong to no document ({unused_bytes / 2**30:.1f} GiB "
                    "of vectors): number the documents from 0, or use string tags for sparse ids")
            if tags.max_int > n_documents:
                logger.warning("highest int tag (%d) is larger than the number of documents (%d): %d rows of dv "
                               "belong to no document", tags.max_int, n_documents, tags.max_int + 1 - used)
        return document_tags, tag_bounds

    def _install_documents(self, int_tags, string_tags, vectors, doc_counts, word_counts):
        """Make ``dv`` in gensim's layout: ``int_tags`` int tags (rows ``0 .. int_tags - 1``),
        then ``string_tags``, with these vectors and each tag's document and word counts."""
        self._tags = _Tags(int_tags, string_tags)
        dv = KeyedVectors(self.vector_size, count=0)
        dv.index_to_key = self._tags.keys()
        dv.key_to_index = dict(self._tags.string_rows)   # gensim maps string tags only; an int tag is its row
        dv.expandos = {"doc_count": np.asarray(doc_counts, dtype=np.int64),
                       "word_count": np.asarray(word_counts, dtype=np.int64)}
        dv.vectors = vectors
        self.dv = dv

    def _tag_layout(self):
        """``(int tags, string tags)`` of ``dv``: what a file or gensim needs to rebuild it."""
        return self._tags.n_int, list(self._tags.strings)

    def _init_weights(self):
        """gensim's initialisation: words as :class:`hsmcy.Word2Vec`, document vectors uniform in
        ``[-1/size, 1/size)`` from the seed ``seed + 7919``, ``syn1`` zero."""
        check_fits_in_memory(len(self._tags) * self.vector_size * 4,
                             f"{len(self._tags):,} document vectors of vector_size {self.vector_size} (int tags are "
                             f"row numbers of dv: the largest is {self._tags.n_int - 1:,})")
        super()._init_weights()
        vectors = aligned_zeros((len(self._tags), self.vector_size))
        np.random.default_rng(self.seed + 7919).random(out=vectors, dtype=np.float32)
        vectors *= 2.0
        vectors -= 1.0
        vectors /= self.vector_size
        self.dv.vectors = vectors
        self.dv.norms = None

    # ------------------------------------------------------------- training
    def _encoded_corpus_for(self, corpus_iterable, corpus_file):
        """The documents to train on: those of build_vocab, or new ones encoded with its words and tags."""
        key = self._source_key(corpus_iterable, corpus_file)
        if self._encoded is not None and key == self._encoded_source:
            return self._encoded
        name = "corpus_file" if corpus_file is not None else "documents"
        tags = _DocumentScan(name, known=self._tags)
        encoded = corpus_io.encode_iterable(tags.words_of(self._documents_of(corpus_iterable, corpus_file)),
                                            self.wv.key_to_index)
        if tags.dropped:
            logger.warning("%s: %d tags are not in dv (not seen by build_vocab): those documents train without "
                           "them", name, tags.dropped)
        return DocumentCorpus(encoded, *tags.tag_arrays())

    def _more_inputs(self):
        return dict(document_vectors=self.dv.vectors, window_words=bool(self.dm or self.dbow_words))

    def _check_trainable(self):
        super()._check_trainable()
        check_array(self.dv.vectors, "dv.vectors", np.float32, (len(self._tags), self.vector_size),
                    "the document vectors")
        if not self.dv.vectors.flags.writeable:
            raise ValueError("dv.vectors is read-only (memory-mapped with mmap='r'?): copy it before training")
        if not all_finite(self.dv.vectors):
            raise ValueError("dv.vectors holds NaN or infinite values (an earlier run diverged?): "
                             "reload a checkpoint before training")

    def _align_weights(self):
        super()._align_weights()
        vectors = self.dv.vectors
        if vectors.shape[1] * vectors.itemsize % CACHE_LINE == 0 and vectors.ctypes.data % CACHE_LINE:
            aligned = aligned_zeros(vectors.shape, vectors.dtype)
            aligned[...] = vectors
            self.dv.vectors = aligned

    def _vectors_changed(self):
        super()._vectors_changed()
        refill_norms(self.dv)

    def estimate_memory(self, vocab_size=None, report=None):
        """As :meth:`hsmcy.Word2Vec.estimate_memory`, plus the document vectors (``"doc_vectors"``).

        Parameters
        ----------
        vocab_size : int, optional
            Defaults to the current vocabulary.
        report : dict, optional
            Filled in place and returned.
        """
        report = super().estimate_memory(vocab_size, report)
        report["doc_vectors"] = len(self.dv) * self.vector_size * 4
        report["total"] += report["doc_vectors"]
        return report

    # ------------------------------------------------------------- inference
    def infer_vector(self, doc_words, alpha=None, min_alpha=None, epochs=None):
        """The vector of a new document: trained as a training document's, every other weight frozen.

        As gensim: the vector starts small and random, from a seed derived from the
        words; then ``epochs`` passes over the document train it alone (word and
        inner-node vectors frozen; PV-DBOW trains no word pairs), the learning rate
        falling from ``alpha`` in the first pass to ``min_alpha`` in the last,
        constant within a pass.  Unlike gensim, the result depends on the words only:
        the same words give the same vector in every call and process.

        Parameters
        ----------
        doc_words : list of str
            The document's words (unknown ones are ignored).
        alpha, min_alpha : float, optional
            Defaults: the model's ``alpha`` and ``min_alpha``.
        epochs : int, optional
            Default: the model's ``epochs``.

        Returns
        -------
        ndarray of float32, shape (vector_size,)
        """
        if isinstance(doc_words, (str, bytes)):
            raise TypeError("infer_vector() takes a list of words (e.g. text.split()), not a single string")
        doc_words = list(doc_words)
        if not all(isinstance(word, str) for word in doc_words):
            raise TypeError("infer_vector(): doc_words must be a list of str")
        if self.tree is None:
            raise RuntimeError("the model has no vocabulary yet: build_vocab and train it first")
        alpha = self.alpha if alpha is None else _check_float("alpha", alpha, strictly_above=0.0)
        min_alpha = self.min_alpha if min_alpha is None else _check_float("min_alpha", min_alpha, minimum=0.0)
        epochs = self.epochs if epochs is None else _check_int("epochs", epochs, 1)
        start, rng_state = inference_start(doc_words, self.vector_size, self.seed)
        index = self.wv.key_to_index
        word_ids = np.fromiter((index[w] for w in doc_words if w in index), dtype=np.int32)
        if len(word_ids) == 0:
            return start
        bounds, tags, tag_bounds = np.array([0, len(word_ids)]), np.zeros(1, np.int32), np.array([0, 1])
        step = (alpha - min_alpha) / max(epochs - 1, 1)
        with self._inference_worker(word_ids) as (worker, ids, document):
            document[0] = start
            worker.rng_state = rng_state
            for _ in range(epochs):
                worker.train(ids, bounds, alpha, alpha, tags, tag_bounds)
                alpha -= step
            return document[0].copy()

    @contextlib.contextmanager
    def _inference_worker(self, word_ids):
        """``(worker, ids, document)``: a worker that trains the one row of ``document`` on
        the sentence ``ids`` (``word_ids`` in its numbering) with every other weight frozen.

        Workers over the model's own arrays are kept for the next call (a few, one per
        thread inferring at once): making one checks the whole tree.  They are keyed by
        the arrays and settings they were made with, so reassigned weights or an edited
        ``window`` get a new one.  A model whose arrays are read-only (``mmap="r"``)
        gets a worker over copies of just the rows the document reaches instead."""
        arrays = (self.wv.vectors, self.syn1, self.tree.path_nodes, self.tree.path_codes, self.tree.path_offsets,
                  self._keep_probability)
        settings = (self.sg, self.dm, self.kernel, self.window, self.shrink_windows, self.cbow_mean)
        if not all(isinstance(array, np.ndarray) and array.flags.writeable for array in arrays[:2]):
            yield self._worker_on_copies(word_ids)
            return
        entry = None
        with self._inference_lock:
            for position, (held, held_settings, _, _) in enumerate(self._inference_pool):
                if held_settings == settings and all(a is b for a, b in zip(held, arrays)):
                    entry = self._inference_pool.pop(position)
                    break
        if entry is None:
            document = aligned_zeros((1, self.vector_size))
            entry = (arrays, settings, self._frozen_worker(*arrays, document), document)
        try:
            yield entry[2], word_ids, entry[3]
        finally:
            with self._inference_lock:
                # Workers of weights the model no longer has would only keep them alive.
                self._inference_pool = [held for held in self._inference_pool
                                        if all(a is b for a, b in zip(held[0], arrays))]
                if len(self._inference_pool) < _KEPT_INFERENCE_WORKERS:
                    self._inference_pool.append(entry)

    def _frozen_worker(self, input_vectors, inner_node_vectors, path_nodes, path_codes, path_offsets,
                       keep_probability, document):
        from ._kernels import TrainingWorker

        return TrainingWorker(
            sg=self.sg, kernel=self.kernel, input_vectors=input_vectors, inner_node_vectors=inner_node_vectors,
            path_nodes=path_nodes, path_codes=path_codes, path_offsets=path_offsets,
            keep_probability=keep_probability, window=self.window, shrink_windows=self.shrink_windows,
            cbow_mean=self.cbow_mean, document_vectors=document, window_words=bool(self.dm), learn_words=False,
            learn_inner_nodes=False)

    def _worker_on_copies(self, word_ids):
        """:meth:`_inference_worker` for read-only weights: copies of the document's
        distinct words and of the inner nodes on their paths (renumbered), so the worker
        may hold them writeable (it writes only the document's row)."""
        words, local_ids = np.unique(word_ids, return_inverse=True)
        offsets = self.tree.path_offsets
        lengths = offsets[words + 1] - offsets[words]
        local_offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=local_offsets[1:])
        positions = np.repeat(offsets[words] - local_offsets[:-1], lengths) + np.arange(local_offsets[-1])
        nodes, local_nodes = np.unique(self.tree.path_nodes[positions], return_inverse=True)
        word_rows = aligned_zeros((len(words), self.vector_size))
        word_rows[...] = self.wv.vectors[words]
        inner_rows = aligned_zeros((max(len(nodes), 1), self.vector_size))
        inner_rows[:len(nodes)] = self.syn1[nodes]
        document = aligned_zeros((1, self.vector_size))
        worker = self._frozen_worker(word_rows, inner_rows, local_nodes.astype(np.int32),
                                     np.ascontiguousarray(self.tree.path_codes[positions]), local_offsets,
                                     np.ascontiguousarray(self._keep_probability[words]), document)
        return worker, local_ids.astype(np.int32), document

    def similarity_unseen_docs(self, doc_words1, doc_words2, alpha=None, min_alpha=None, epochs=None):
        """Cosine similarity of the inferred vectors of two documents (gensim's method).

        Parameters
        ----------
        doc_words1, doc_words2 : list of str
        alpha, min_alpha, epochs :
            As in :meth:`infer_vector`.
        """
        first = self.infer_vector(doc_words1, alpha=alpha, min_alpha=min_alpha, epochs=epochs)
        second = self.infer_vector(doc_words2, alpha=alpha, min_alpha=min_alpha, epochs=epochs)
        norms = float(np.linalg.norm(first) * np.linalg.norm(second))
        return float(first @ second) / norms if norms else 0.0

    # ------------------------------------------------------------- scoring
    def log_prob(self, words, document_vector):
        """``log P(words | document vector)`` under the model, summed over the words.

        What training maximises, taken exactly, without down-sampling and with the
        full window: PV-DBOW sums ``log P(word | document vector)`` over the words;
        PV-DM sums ``log P(word_i | mean or sum of the window's words and the
        document vector)``.  Use it to compare how well vectors explain a document
        (e.g. an inferred vector against a trained one), or as a per-word perplexity
        (divide by the number of known words).  Unknown words are ignored.

        Word-level scores (``hsmcy.Word2Vec.log_prob(word, context)``) are not offered:
        the model never predicts a word without its document.

        Parameters
        ----------
        words : list of str
        document_vector : array_like, shape (vector_size,) or (tags, vector_size)
            Several rows (a document with several tags) are combined as training
            combines them: each predicts every word (PV-DBOW), or all join the mean.
        """
        if isinstance(words, (str, bytes)):
            raise TypeError("log_prob() takes a list of words, not a single string")
        rows = np.asarray(document_vector, dtype=np.float32)
        if rows.ndim not in (1, 2) or rows.size == 0 or rows.shape[-1] != self.vector_size:
            raise ValueError(f"document_vector must be one vector of {self.vector_size} values, or a (tags, "
                             f"{self.vector_size}) array; got shape {rows.shape}")
        rows = rows.reshape(-1, self.vector_size)
        if not np.all(np.isfinite(rows)):
            raise ValueError("document_vector holds NaN or infinite values")
        return float(self._log_probs([list(words)], [rows])[0])

    def score(self, documents, total_sentences=int(1e6), chunksize=100, queue_factor=2, report_delay=1):
        """The log-likelihood of each document's words given its trained vectors (see :meth:`log_prob`).

        Parameters
        ----------
        documents : iterable of TaggedDocument
            Documents whose tags are in ``dv`` (a document with no known tag is an
            error: infer its vector and use :meth:`log_prob`).
        total_sentences : int, default 1,000,000
            Score at most this many documents (gensim's name).
        chunksize, queue_factor, report_delay :
            Accepted for compatibility with ``hsmcy.Word2Vec.score``.

        Returns
        -------
        ndarray of float64, one score per document.
        """
        corpus_io.check_corpus_iterable(documents, "documents")
        word_lists, vectors = [], []
        for number, document in enumerate(documents):
            if number >= total_sentences:
                break
            words, tags = _document_parts(document, number, "documents")
            rows = [row for row in map(self._tags.row_of, tags) if row is not None]
            if not rows:
                raise ValueError(f"documents: document #{number} has no tag of dv ({tags!r}); infer its vector "
                                 "and score it with log_prob(words, vector)")
            word_lists.append(list(words))
            vectors.append(self.dv.vectors[rows])
        return self._log_probs(word_lists, vectors)

    def _log_probs(self, word_lists, vectors):
        """One log-likelihood per document: every word's hidden vector, then one batched kernel call."""
        from . import inference

        index = self.wv.key_to_index
        n_words = min(len(self.wv.index_to_key), len(self.wv.vectors), self.tree.n_leaves)
        hidden, labels, owners = [], [], []
        for number, (words, rows) in enumerate(zip(word_lists, vectors)):
            ids = np.array([index[w] for w in words if w in index], dtype=np.int64)
            if not len(ids):
                continue
            if ids.min() < 0 or ids.max() >= n_words:
                raise ValueError(f"wv.key_to_index maps a word of document #{number} to row "
                                 f"{ids[(ids < 0) | (ids >= n_words)][0]}, outside [0, {n_words}) of wv.vectors and "
                                 "the tree: the vocabulary was edited")
            if self.dm:
                hidden.append(self._dm_hidden(ids, rows))
                labels.append(ids)
                owners.append(np.full(len(ids), number))
            else:   # every document row predicts every word
                hidden.append(np.repeat(rows, len(ids), axis=0))
                labels.append(np.tile(ids, len(rows)))
                owners.append(np.full(len(ids) * len(rows), number))
        scores = np.zeros(len(word_lists), dtype=np.float64)
        if hidden:
            log_probs = inference.log_prob_rows(self.tree, self.inner_node_vectors,
                                                np.ascontiguousarray(np.concatenate(hidden), dtype=np.float32),
                                                np.concatenate(labels), workers=self.workers)
            np.add.at(scores, np.concatenate(owners), log_probs)
        return scores

    def _dm_hidden(self, ids, rows):
        """PV-DM's hidden vector at every position: the full window's words and the document rows."""
        word_vectors = self.wv.vectors[ids].astype(np.float64)
        prefix = np.zeros((len(ids) + 1, self.vector_size))
        np.cumsum(word_vectors, axis=0, out=prefix[1:])
        positions = np.arange(len(ids))
        low = np.maximum(positions - self.window, 0)
        high = np.minimum(positions + self.window + 1, len(ids))
        hidden = prefix[high] - prefix[low] - word_vectors + rows.astype(np.float64).sum(axis=0)
        if self.cbow_mean:
            hidden /= (high - low - 1 + len(rows))[:, None]
        return hidden.astype(np.float32)

    # ---------------------------------------------------------- persistence
    def save(self, path):
        """Save to ``path`` in hsmcy's format (arrays + JSON, no pickle, written atomically).

        Parameters
        ----------
        path : str or PathLike
            The file to write (replaced atomically if it exists).  The layout is in
            :mod:`hsmcy.persistence`: a ``Word2Vec`` file's, plus the document vectors and tags.
        """
        persistence.save_doc2vec(self, path)

    def _document_counts(self, name):
        """gensim's ``dv.get_vecattr(tag, name)`` for every tag (zeros if ``dv`` has none)."""
        counts = self.dv.expandos.get(name)
        return np.zeros(len(self._tags), np.int64) if counts is None else np.asarray(counts, dtype=np.int64)

    @classmethod
    @persistence.malformed_file_is_value_error
    def load(cls, path, mmap=None):
        """Load a model saved by :meth:`save`, every array checked before use.

        Parameters
        ----------
        path : str or PathLike
        mmap : None or "r"
            ``"r"`` memory-maps the large arrays read-only: the model can be queried
            (``dv``, ``wv``, :meth:`infer_vector`, :meth:`score`) but not trained.
        """
        return persistence.load_doc2vec(cls, path, mmap)

    # ---------------------------------------------------------- gensim interop
    def to_gensim(self):
        """A :class:`gensim.models.Doc2Vec` (hs=1, negative=0) holding this model.

        It carries the word and document vectors, ``syn1``, counts and every word's
        ``code`` and ``point``, so gensim's ``infer_vector()`` and ``train()`` continue
        from it.
        """
        from .gensim_compat import doc2vec_to_gensim
        return doc2vec_to_gensim(self)

    @classmethod
    def from_gensim(cls, gensim_model):
        """Import a gensim ``Doc2Vec`` trained with ``hs=1`` (tree, weights and document vectors).

        Parameters
        ----------
        gensim_model : gensim.models.Doc2Vec
            A model with ``hs=1`` and ``dm_concat=0``; its tags must be gensim's own
            layout (int tags ``0 .. n - 1``, then strings).

        Returns
        -------
        hsmcy.Doc2Vec
        """
        from .gensim_compat import doc2vec_from_gensim
        return doc2vec_from_gensim(cls, gensim_model)


