"""Packaging metadata that current setuptools accepts without deprecation warnings (issue 23)."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

pytestmark = pytest.mark.skipif(not PYPROJECT.exists(), reason="pyproject.toml is not next to tests/")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_license_is_an_spdx_string_and_setuptools_can_read_it():
    import tomllib

    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    # a TOML table ({text = "MIT"}) is deprecated and an error from 2027-02-18
    assert isinstance(config["project"]["license"], str)
    requirement = next(r for r in config["build-system"]["requires"] if r.startswith("setuptools"))
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", requirement)
    assert minimum and int(minimum.group(1)) >= 77, "SPDX license strings need setuptools 77"


def test_manifest_excludes_only_what_the_build_makes():
    """``recursive-exclude`` of a pattern that matches nothing warns on every build."""
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    excluded = re.findall(r"^recursive-exclude hsmcy (.+)$", manifest, re.M)
    assert [pattern.split() for pattern in excluded] == [["*.c"]]  # Cython's output of hsmcy/*.pyx
    assert list((ROOT / "hsmcy").glob("*.pyx"))
