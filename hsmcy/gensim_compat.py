"""Moving models between hsmcy and gensim.

gensim's hierarchical softmax keeps, per word, a ``code`` (uint8 branch bits) and a
``point`` (uint32 inner-node ids, root first) in ``wv.expandos``, and the inner-node
vectors in ``syn1`` (one row per word, the last unused).  hsmcy's tree stores the
same paths end to end (:class:`hsmcy.BinaryTree`), and its ``syn1`` has gensim's
layout, so the mapping is 1:1 in both directions.

Word vectors alone (``KeyedVectors``) need no adapter: ``model.wv`` *is* a gensim
``KeyedVectors``, so ``model.wv.save(...)``, ``model.wv.save_word2vec_format(...)``
and ``KeyedVectors.load_word2vec_format(...)`` work as in gensim.
"""
from __future__ import annotations

import numpy as np

from .tree import BinaryTree

__all__ = ["to_gensim", "from_gensim", "doc2vec_to_gensim", "doc2vec_from_gensim"]


def _shared_parameters(model):
    """The constructor parameters gensim's Word2Vec and Doc2Vec share, from ``model`` (hs=1, negative=0)."""
    return dict(vector_size=model.vector_size, alpha=model.alpha, min_alpha=model.min_alpha, window=model.window,
                min_count=model.min_count, max_vocab_size=model.max_vocab_size,
                max_final_vocab=model.max_final_vocab, sample=model.sample, seed=model.seed,
                workers=model.workers, hs=1, negative=0, epochs=model.epochs, sorted_vocab=model.sorted_vocab,
                batch_words=model.batch_words, compute_loss=model.compute_loss,
                shrink_windows=model.shrink_windows)


def _imported_parameters(gensim_model):
    """The constructor parameters hsmcy's Word2Vec and Doc2Vec take from a gensim model alike
    (gensim before 4.0 has no ``shrink_windows``: it always shrank windows)."""
    return dict(vector_size=gensim_model.vector_size, alpha=gensim_model.alpha, min_alpha=gensim_model.min_alpha,
                window=gensim_model.window, min_count=gensim_model.min_count,
                max_vocab_size=gensim_model.max_vocab_size, max_final_vocab=gensim_model.max_final_vocab,
                sample=gensim_model.sample, seed=gensim_model.seed, workers=gensim_model.workers,
                epochs=gensim_model.epochs, sorted_vocab=gensim_model.sorted_vocab,
                batch_words=gensim_model.batch_words,
                shrink_windows=getattr(gensim_model, "shrink_windows", True))


def to_gensim(model):
    """Build a ``gensim.models.Word2Vec`` (hs=1, negative=0) carrying ``model``'s state."""
    from gensim.models import Word2Vec as GensimWord2Vec

    if model.tree is None:
        raise RuntimeError("the model has no vocabulary yet: nothing to export")
    exported = GensimWord2Vec(sg=model.sg, cbow_mean=model.cbow_mean, **_shared_parameters(model))
    _export_words(model, exported)
    return exported


def _export_words(model, exported):
    """Vocabulary, tree, word vectors, ``syn1`` and counters of ``model`` into the gensim model ``exported``."""
    words = list(model.wv.index_to_key)
    wv = exported.wv
    wv.index_to_key = words
    wv.key_to_index = {word: i for i, word in enumerate(words)}
    wv.expandos = {}
    wv.allocate_vecattrs(["count", "sample_int"], [np.int64, np.uint32])
    wv.expandos["count"][:] = model.wv.expandos["count"]
    wv.expandos["sample_int"][:] = model.wv.expandos["sample_int"]
    codes, points = model.tree.to_gensim_codes()
    for name, values in (("code", codes), ("point", points)):
        column = np.empty(len(words), dtype=object)
        column[:] = values
        wv.expandos[name] = column
    wv.vectors = np.array(model.wv.vectors, dtype=np.float32, copy=True)
    wv.norms = None
    exported.syn1 = np.array(model.syn1, dtype=np.float32, copy=True)
    exported.corpus_count = model.corpus_count
    exported.corpus_total_words = model.corpus_total_words
    exported.effective_min_count = model.effective_min_count
    exported.raw_vocab = {}
    exported.train_count = model.train_count
    exported.min_alpha_yet_reached = model.min_alpha_yet_reached


def from_gensim(cls, gensim_model):
    """Import a gensim hierarchical-softmax ``Word2Vec`` into ``cls`` (hsmcy.Word2Vec)."""
    words, tree, syn1 = _gensim_words(gensim_model)
    model = cls(sg=gensim_model.sg, cbow_mean=gensim_model.cbow_mean, **_imported_parameters(gensim_model))
    _import_words(model, gensim_model, words, tree, syn1)
    return model


def _gensim_words(gensim_model):
    """``(words, tree, syn1)`` of a gensim hierarchical-softmax model, checked."""
    if not getattr(gensim_model, "hs", 0):
        raise ValueError("gensim_model was not trained with hierarchical softmax (hs=1): it has no tree to import")
    wv = gensim_model.wv
    words = list(wv.index_to_key)
    if not words:
        raise ValueError("gensim_model has an empty vocabulary")
    if "code" not in wv.expandos or "point" not in wv.expandos:
        raise ValueError("gensim_model has no Huffman codes/points (was build_vocab run with hs=1?)")
    tree = BinaryTree.from_gensim_codes(list(wv.expandos["code"]), list(wv.expandos["point"]))
    if getattr(gensim_model, "syn1", None) is None:
        raise ValueError("gensim_model has no syn1 (inner-node vectors): nothing to import the tree's weights from")
    syn1 = np.ascontiguousarray(gensim_model.syn1, dtype=np.float32)
    if syn1.shape != (len(words), gensim_model.vector_size):
        raise ValueError(f"gensim_model.syn1 has shape {syn1.shape}, expected {(len(words), gensim_model.vector_size)}")
    if getattr(gensim_model, "negative", 0):
        import logging
        logging.getLogger(__name__).warning("gensim_model also used negative sampling; its syn1neg is not imported")
    return words, tree, syn1


def _import_words(model, gensim_model, words, tree, syn1):
    """Install what :func:`_gensim_words` read (and the gensim model's counters) into ``model``."""
    wv = gensim_model.wv
    counts = np.asarray(wv.expandos["count"], dtype=np.int64) if "count" in wv.expandos else \
        np.ones(len(words), dtype=np.int64)
    model._set_vocabulary(words, counts, tree)
    model.wv.vectors = np.array(wv.vectors, dtype=np.float32, copy=True)
    if not (np.all(np.isfinite(model.wv.vectors)) and np.all(np.isfinite(syn1))):
        raise ValueError("gensim_model holds NaN or infinite weights")
    model.syn1 = syn1.copy()
    model.corpus_count = int(getattr(gensim_model, "corpus_count", 0) or 0)
    model.corpus_total_words = int(getattr(gensim_model, "corpus_total_words", 0) or 0)
    model.effective_min_count = int(getattr(gensim_model, "effective_min_count", model.min_count) or 0)


# ------------------------------------------------------------------ Doc2Vec
def doc2vec_to_gensim(model):
    """Build a ``gensim.models.Doc2Vec`` (hs=1, negative=0) carrying ``model``'s state (an ``hsmcy.Doc2Vec``)."""
    from gensim.models import Doc2Vec as GensimDoc2Vec

    if model.tree is None:
        raise RuntimeError("the model has no vocabulary yet: nothing to export")
    exported = GensimDoc2Vec(dm=model.dm, dbow_words=model.dbow_words, dm_mean=model.cbow_mean,
                             dm_tag_count=model.dm_tag_count, **_shared_parameters(model))
    _export_words(model, exported)
    dv = exported.dv
    dv.index_to_key = list(model.dv.index_to_key)
    dv.key_to_index = dict(model.dv.key_to_index)   # string tags only: gensim's layout
    dv.expandos = {}
    dv.allocate_vecattrs(["doc_count", "word_count"], [np.int64, np.int64])
    dv.expandos["doc_count"][:] = model._document_counts("doc_count")
    dv.expandos["word_count"][:] = model._document_counts("word_count")
    dv.vectors = np.array(model.dv.vectors, dtype=np.float32, copy=True)
    dv.norms = None
    return exported


def doc2vec_from_gensim(cls, gensim_model):
    """Import a gensim hierarchical-softmax ``Doc2Vec`` into ``cls`` (hsmcy.Doc2Vec)."""
    if getattr(gensim_model, "dm_concat", 0):
        raise ValueError("gensim_model uses dm_concat=1, which hsmcy does not support")
    if not hasattr(gensim_model, "dv"):
        raise ValueError("gensim_model is not a Doc2Vec model (it has no dv)")
    words, tree, syn1 = _gensim_words(gensim_model)
    keys = list(gensim_model.dv.index_to_key)
    n_int = 0
    while n_int < len(keys) and not isinstance(keys[n_int], str):
        if keys[n_int] != n_int or isinstance(keys[n_int], bool):
            raise ValueError(f"gensim_model.dv has key {keys[n_int]!r} at row {n_int}: hsmcy imports gensim's own "
                             "layout (int tags 0 .. n - 1, then string tags)")
        n_int += 1
    if not all(isinstance(key, str) for key in keys[n_int:]):
        raise ValueError("gensim_model.dv mixes int tags among its string tags: hsmcy imports gensim's own layout "
                         "(int tags 0 .. n - 1, then string tags)")
    vectors = np.array(gensim_model.dv.vectors, dtype=np.float32, copy=True)
    if vectors.shape != (len(keys), gensim_model.vector_size):
        raise ValueError(f"gensim_model.dv.vectors has shape {vectors.shape}, expected "
                         f"{(len(keys), gensim_model.vector_size)}")
    if not np.all(np.isfinite(vectors)):
        raise ValueError("gensim_model holds NaN or infinite document vectors")
    model = cls(dm=int(gensim_model.dm), dbow_words=int(gensim_model.dbow_words), dm_mean=int(gensim_model.cbow_mean),
                dm_tag_count=int(getattr(gensim_model, "dm_tag_count", 1)), **_imported_parameters(gensim_model))
    _import_words(model, gensim_model, words, tree, syn1)
    expandos = gensim_model.dv.expandos
    counts = [np.asarray(expandos[name], dtype=np.int64) if name in expandos else np.zeros(len(keys), np.int64)
              for name in ("doc_count", "word_count")]
    model._install_documents(n_int, keys[n_int:], vectors, *counts)
    return model
