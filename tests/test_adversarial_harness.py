"""The machinery of fuzz/adversarial.py: a few cases run through it, one per kind of outcome.

The sweep itself takes many minutes and is not part of the test suite; this checks that its
classification cannot mistake a crash, a hang or a memory blow-up for something milder.
"""
import os
import sys

import pytest

import hsmcy

# The cases import the hsmcy under test (the installed one in CI, not the uncompiled source tree).
os.environ["ADVERSARIAL_PACKAGE_PARENT"] = os.path.dirname(os.path.dirname(os.path.abspath(hsmcy.__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz"))
import adversarial  # noqa: E402


@pytest.fixture(scope="module")
def outcomes():
    case = adversarial.case
    cases = [
        case("t", "refused", "tiny(vector_size=None)", expect="error", names=["vector_size"]),
        case("t", "trained", "check_word2vec(tiny(vector_size=4))", expect="ok"),
        case("t", "segfault", "import ctypes; ctypes.string_at(0)"),
        case("t", "hang", "import time; time.sleep(30)", timeout=3),
        case("t", "memory", "x = bytearray(3 << 30)"),
        case("t", "command line", argv=["similar", "missing.kv", "the"], expect="error", names=["missing.kv"]),
    ]
    results = adversarial.run_cases(cases, jobs=2, memory_gib=1.5, progress=False, fixtures=False)
    return {result["name"]: result for result in results}


@pytest.mark.parametrize("name, outcome", [
    ("refused", "clear error"), ("trained", "correct"), ("segfault", "crash"), ("hang", "hang"), ("memory", "memory"),
    ("command line", "clear error")])
def test_each_outcome_is_recognised(outcomes, name, outcome):
    assert outcomes[name]["outcome"] == outcome, outcomes[name]


def test_a_crash_names_its_signal(outcomes):
    assert "SIGSEGV" in outcomes["segfault"]["detail"]


def test_the_catalogue_is_large_and_its_names_are_unique():
    cases = adversarial.catalogue()
    assert len(cases) >= 300
    keys = [(c["category"], c["name"]) for c in cases]
    assert len(keys) == len(set(keys))
    assert all(c["body"] or c["argv"] is not None for c in cases)
