"""The binding workaround: a window can make any number of Qt calls without aborting."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import sys
    from PySide6.QtWidgets import QApplication, QLabel
    from core.engine import Engine
    from desktop.bridge import EngineBridge
    from desktop import qt_workarounds

    app = QApplication([])
    EngineBridge(Engine(sys.argv[1]))  # the bridge applies the workaround when needed
    label = QLabel()
    for i in range(200_000):  # far more void calls than None has references without it
        label.setText("x")
    print("ok", qt_workarounds.guarded, flush=True)
    """
)


def test_many_void_qt_calls_do_not_abort(data_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok ")


def test_garbage_is_collected_on_the_gui_thread(qtbot: object, aqt: object, data_dir: Path) -> None:
    import gc
    import weakref

    from core.engine import Engine
    from desktop import qt_workarounds
    from desktop.bridge import EngineBridge

    EngineBridge(Engine(data_dir))
    assert not gc.isenabled()  # no collection in whatever thread allocates next
    timer = qt_workarounds._collector
    assert timer is not None and timer.isActive()

    class Node:
        pass

    nodes = []
    for _ in range(gc.get_threshold()[0] * 2):  # past the first generation's threshold
        n = Node()
        n.me = n  # type: ignore[attr-defined] - a reference cycle
        nodes.append(weakref.ref(n))
    del n
    assert all(r() is not None for r in nodes)  # automatic collection is off
    timer.timeout.emit()  # what the timer does every half second, on the GUI thread
    assert all(r() is None for r in nodes)
