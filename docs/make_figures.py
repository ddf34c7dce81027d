"""Draw the README's figures with hsmcy's own code: ``python docs/make_figures.py``.

Needs matplotlib (``pip install "hsmcy[plot]"``).  Writes ``docs/hs_tree.png``: the
four-word Huffman tree of the README's worked example, with the branch
probabilities for the example's hidden vector and the path of "sat" in bold.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import hsmcy  # noqa: E402
from hsmcy.plotting import draw_tree  # noqa: E402

# The README's worked example (tests/test_readme.py checks the README's numbers).
COUNTS = {"the": 45, "cat": 30, "sat": 15, "mat": 10}
INNER_NODE_VECTORS = np.array([[1.2, 0.3], [-0.4, 0.9], [0.8, -0.6]])  # n0, n1, n2 (the root)
HIDDEN = np.array([0.5, -1.0])


def worked_example_model():
    """The worked example as an hsmcy.Word2Vec: vocabulary, Huffman tree and inner-node vectors."""
    model = hsmcy.Word2Vec(vector_size=2, min_count=1)
    model.build_vocab_from_freq(COUNTS)
    model.syn1[:3] = INNER_NODE_VECTORS
    return model


def main(folder):
    model = worked_example_model()
    labels = [f"{word} ({COUNTS[word]})" for word in model.wv.index_to_key]
    ax = draw_tree(model.tree, labels=labels, hidden=HIDDEN, inner_node_vectors=model.inner_node_vectors,
                   highlight=model.wv.key_to_index["sat"],
                   title='Huffman tree of 4 words (counts), h = (0.5, -1.0); the path of "sat" in red\n'
                         'p(code 0 at node n) = sigmoid(h . v_n),  p(code 1) = 1 - that;  '
                         'P(word) = product of p along its path')
    path = os.path.join(folder, "hs_tree.png")
    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
