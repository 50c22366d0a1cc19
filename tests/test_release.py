"""The package is release-ready: the sdist and wheel build, pass ``twine check``, carry the license
and the right metadata, and the sdist's own tests run from its unpacked folder.

Built once per session without build isolation (the environment's setuptools, no network), into a
temporary folder. Skipped without ``build`` and ``twine`` (the ``dev`` extra), except under CI.
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import visionloss

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("build", "twine", "setuptools"):
        if importlib.util.find_spec(module) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{module} is missing (the dev extra; scripts/setup.sh installs it)")
            pytest.skip(f"{module} is not installed (dev extra)")
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel built from the unpacked sdist (build's default order)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_twine_check_passes(dist: Path):
    files = [str(p) for p in sorted(dist.iterdir())]
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheel_metadata(dist: Path):
    wheel = _one(dist, f"visionloss-{visionloss.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"visionloss-{visionloss.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert "visionloss/py.typed" in names
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["Version"] == visionloss.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    classifiers = metadata.get_all("Classifier")
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert metadata["Author"] == "visionloss developers" or "visionloss developers" in str(
        metadata["Author-email"]
    )
    assert metadata.get_all("Project-URL")
    extras = metadata.get_all("Provides-Extra")
    assert {"cli", "peers", "docs", "dev"} <= set(extras)


def test_sdist_carries_the_tests_and_the_docs(dist: Path):
    sdist = _one(dist, f"visionloss-{visionloss.__version__}.tar.gz")
    top = f"visionloss-{visionloss.__version__}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(top + "/") for name in archive.getnames()}
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "CITATION.cff", "CONTRIBUTING.md",
                   "pyproject.toml", "conftest.py", "constraints.txt", "tests/conftest.py",
                   "tests/catalogue/__init__.py", "tests/peers/test_migration.py",
                   "tests/typing/user_script.py", "docs/conf.py", "docs/migration_table.py",
                   "docs/_ext/visionloss_docs.py", "docs/BENCHMARKS.md", "scripts/setup.sh",
                   "src/visionloss/__init__.py", "src/visionloss/py.typed"):
        assert needed in names, needed
    assert not any(name.startswith(("docs/_build", "docs/_generated")) for name in names)
    assert not any("__pycache__" in name for name in names)


def test_tests_run_from_the_unpacked_sdist(dist: Path, tmp_path: Path):
    sdist = _one(dist, f"visionloss-{visionloss.__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"visionloss-{visionloss.__version__}"
    env = dict(os.environ, PYTHONPATH=str(unpacked / "src"))
    where = subprocess.run([sys.executable, "-c", "import visionloss; print(visionloss.__file__)"],
                           cwd=unpacked, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(unpacked)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "tests/test_regression.py", "tests/peers/test_migration.py"],
        cwd=unpacked, env=env, capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout)


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in config["project"] and "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "visionloss.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    latest = re.search(r"^## (\S+)", changelog, re.MULTILINE)
    assert latest and latest.group(1) == visionloss.__version__
