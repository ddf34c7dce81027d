"""Shared fixtures: small real corpora from gensim's test data, random trees and weights."""
import os
import signal
import threading

import numpy as np
import pytest
from gensim.test.utils import datapath
from hypothesis import settings

# Property tests draw the same examples on every run (a CI run is reproducible);
# HSMCY_HYPOTHESIS_PROFILE=explore draws new ones, for a hunt.
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HSMCY_HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session")
def lee_path():
    """gensim's bundled Lee background corpus (~60k tokens of news text)."""
    return datapath("lee_background.cor")


@pytest.fixture(scope="session")
def lee_sentences(lee_path):
    with open(lee_path, encoding="utf-8") as handle:
        return [line.split() for line in handle if line.split()]


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own Ctrl-C handler in every test, even when the test run was started with
    SIGINT ignored (a shell's background job is, and Python then installs no handler):
    the tests that interrupt training or scoring need it to see the interrupt at all."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def live_threads(prefix):
    """Threads of hsmcy's runner still alive, by name prefix ("hsmcy-worker", "hsmcy-classifier",
    "hsmcy-inference"): none may outlive the call that started them."""
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def random_weights(rng, rows, dim, scale=0.5):
    return (rng.standard_normal((rows, dim)) * scale).astype(np.float32)


# ----------------------------------------------- watching the training workers
from hsmcy import _kernels  # noqa: E402


class RecordingWorker(_kernels.TrainingWorker):
    """A TrainingWorker that logs its settings, batches and finish() calls."""

    log = []

    def train(self, token_ids, sentence_bounds, alpha_start, alpha_end, **documents):
        RecordingWorker.log.append(("train", self.kernel, self.private_levels, len(token_ids),
                                    int(sentence_bounds[0]), int(sentence_bounds[-1]), alpha_start, alpha_end))
        return super().train(token_ids, sentence_bounds, alpha_start, alpha_end, **documents)

    def finish(self):
        RecordingWorker.log.append(("finish", self.private_rows_pending))
        return super().finish()


@pytest.fixture
def recording_workers(monkeypatch):
    """Every TrainingWorker made during the test records into the returned list:
    ``("train", kernel, private_levels, len(token_ids), first bound, last bound,
    alpha_start, alpha_end)`` per batch and ``("finish", private rows pending)``."""
    RecordingWorker.log = []
    monkeypatch.setattr(_kernels, "TrainingWorker", RecordingWorker)
    return RecordingWorker.log
