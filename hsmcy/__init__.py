"""hsmcy: hierarchical softmax, fast and readable.

The main entry points:

* :class:`hsmcy.Word2Vec` -- gensim-compatible word2vec (skip-gram / CBOW) trained
  with hierarchical softmax on nogil Cython/BLAS kernels;
* :class:`hsmcy.HuffmanTree` -- the tree as flat path arrays;
* :class:`hsmcy.HierarchicalSoftmax` -- HS as a general output layer (NumPy in and out);
* :mod:`hsmcy.reference` -- the maths in plain NumPy.
"""
from . import callbacks
from . import reference
from .classifier import HSClassifier, read_fasttext_file
from .layer import HierarchicalSoftmax
from .tree import BinaryTree, HuffmanTree
from .word2vec import Word2Vec

__version__ = "0.1.0"

__all__ = ["BinaryTree", "HSClassifier", "HierarchicalSoftmax", "HuffmanTree", "Word2Vec", "read_fasttext_file",
           "__version__"]
