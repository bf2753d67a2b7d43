"""The documentation site builds with every warning an error (what CI checks of the docs)."""

from __future__ import annotations

import html
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fal_client

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    site_dir = tmp_path_factory.mktemp("site")
    # Silence mkdocs-material's end-of-life banner; it is not a warning of this build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site_dir


@pytest.mark.timeout(200)
def test_docs_build_strict(site: Path) -> None:
    assert (site / "api" / "index.html").is_file()


def _section_text(page: str, anchor: str) -> str:
    """The text of one member's entry (heading, signature, docstring), without whitespace."""
    start = page.find(f'id="{anchor}"')
    if start == -1:
        return ""
    end = page.find('<div class="doc doc-object', start)
    text = re.sub(r"<[^>]+>", "", page[start : end if end != -1 else None])
    # Rendering adds and drops spaces around markup: compare without any.
    return "".join(html.unescape(text).split())


@pytest.mark.timeout(200)
@pytest.mark.parametrize("cls", [fal_client.SyncClient, fal_client.SyncRequestHandle])
def test_sync_reference_shows_shared_docstrings(site: Path, cls: type) -> None:
    # The sync methods' docstrings are generated from the async namesakes (tools/gen_sync_api.py):
    # the page must show that text, not a bare signature.
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(getattr(cls, name))
        assert doc, f"{cls.__name__}.{name} has no docstring"
        first_paragraph = "".join(doc.split("\n\n")[0].replace("`", "").split())
        if first_paragraph not in _section_text(page, f"fal_client.{cls.__name__}.{name}"):
            missing.append(name)
    assert not missing, f"the API reference shows {cls.__name__} members without text: {missing}"
