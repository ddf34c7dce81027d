"""hsmcy: hierarchical softmax, fast and readable.

The main entry points:

* :class:`hsmcy.Word2Vec` -- gensim-compatible word2vec (skip-gram / CBOW) trained
  with hierarchical softmax on nogil Cython/BLAS kernels;
* :class:`hsmcy.Doc2Vec` -- gensim-compatible paragraph vectors (PV-DBOW / PV-DM) on
  the same kernels;
* :class:`hsmcy.HuffmanTree` -- the tree as flat path arrays;
* :class:`hsmcy.HierarchicalSoftmax` -- HS as a general output layer (NumPy in and out);
* :mod:`hsmcy.reference` -- the maths in plain NumPy.
"""
import importlib

from .tree import BinaryTree, HuffmanTree
from .word2vec import Word2Vec

# Imported on first use (PEP 562): a word2vec run need not load the classifier's
# and the output layer's compiled code, which would count in its memory.
_LAZY = {"Doc2Vec": ("doc2vec", "Doc2Vec"), "TaggedDocument": ("doc2vec", "TaggedDocument"),
         "TaggedLineDocument": ("doc2vec", "TaggedLineDocument"),
         "HSClassifier": ("classifier", "HSClassifier"), "read_fasttext_file": ("classifier", "read_fasttext_file"),
         "HierarchicalSoftmax": ("layer", "HierarchicalSoftmax"), "callbacks": ("callbacks", None),
         "reference": ("reference", None)}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'hsmcy' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__version__ = "0.1.0"

__all__ = ["BinaryTree", "Doc2Vec", "HSClassifier", "HierarchicalSoftmax", "HuffmanTree", "TaggedDocument",
           "TaggedLineDocument", "Word2Vec", "read_fasttext_file", "__version__"]
