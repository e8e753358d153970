"""Start the desktop application: QApplication, qasync loop, engine, main window."""

from __future__ import annotations

import asyncio
import logging
import sys
from types import TracebackType

from core import __version__
from core.errors import LecternError
from core.executors import shutdown_all
from core.logs import log_unexpected, start_logging, stop_logging


def run_app(data_dir: str | None = None) -> int:
    """Show the main window and run the event loop until it closes."""
    import qasync
    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from core.engine import Engine
    from desktop.bridge import EngineBridge
    from desktop.errors import show_error
    from desktop.main_window import MainWindow
    from desktop.qt_workarounds import guard_none_refcount
    from desktop.wizard import install_wizard

    app = QApplication.instance() or QApplication(sys.argv)
    guard_none_refcount()  # before the first windows make thousands of Qt calls
    app.setApplicationName("Lectern")
    app.setOrganizationName("Lectern")
    try:
        engine = Engine(data_dir)
    except LecternError as exc:
        show_error(None, exc)
        return 1
    start_logging(engine.paths)
    log_uncaught_exceptions()
    logging.getLogger("desktop").info(
        "Lectern %s started: data %s, Python %s, Qt %s, platform %s",
        __version__,
        engine.paths.root,
        sys.version.split()[0],
        qVersion(),
        QGuiApplication.platformName(),
    )
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    bridge = EngineBridge(engine)
    window = MainWindow(bridge)
    window.show()
    window.start()
    install_wizard(window, bridge)  # Help → First-run wizard…; opens now on the first run
    with loop:
        loop.run_until_complete(closed.wait())
        loop.run_until_complete(engine.close())
    shutdown_all()  # the page viewer's OCR process, the executors' threads
    stop_logging()
    return 0


def log_uncaught_exceptions() -> None:
    """An exception escaping a Qt slot is written to the log (Qt only printed it)."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        log_unexpected(error.with_traceback(tb), "uncaught exception")
        previous(kind, error, tb)

    sys.excepthook = hook
