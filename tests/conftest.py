"""Shared fixtures: small real corpora from gensim's test data, random trees and weights."""
import numpy as np
import pytest
from gensim.test.utils import datapath


@pytest.fixture(scope="session")
def lee_path():
    """gensim's bundled Lee background corpus (~60k tokens of news text)."""
    return datapath("lee_background.cor")


@pytest.fixture(scope="session")
def lee_sentences(lee_path):
    with open(lee_path, encoding="utf-8") as handle:
        return [line.split() for line in handle if line.split()]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_weights(rng, rows, dim, scale=0.5):
    return (rng.standard_normal((rows, dim)) * scale).astype(np.float32)
