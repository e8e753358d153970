"""core/ must never import Qt: import every core module with Qt made unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, importlib.util, pkgutil, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"PySide6", "shiboken6", "qasync", "PyQt5", "PyQt6"}:
                raise ImportError(f"core imported Qt: {name}")
            return None

    sys.meta_path.insert(0, Block())
    import core
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    for name in names:
        __import__(name)
    print(len(names))
    """
)


def test_every_core_module_imports_without_qt() -> None:
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) >= 10  # really walked the package


def test_blocker_catches_a_qt_import() -> None:
    """The check itself works: a module importing PySide6 is caught."""
    code = BLOCKER.replace("import core\n", "import core\nimport PySide6.QtCore\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0
    assert "core imported Qt" in out.stderr
