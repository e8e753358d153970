"""Workarounds for bugs in the Qt binding Lectern runs on, each detected before it is applied.

PySide6 6.12.0 on CPython 3.11 releases one reference to ``None`` more than
it takes on every call of a method that returns nothing (``setText``,
``setHtml``, ``setFixedHeight``...). ``None`` starts with a few thousand
references, so after some tens of thousands of such calls — a minute or two
of a streaming answer — its count reaches zero and the interpreter aborts
("none_dealloc: deallocating None"), or memory is corrupted first and Qt
crashes somewhere unrelated. Python 3.12 made ``None`` immortal, which hides
the bug there.

:func:`guard_none_refcount` measures the leak with a harmless probe and, only
when it is there, raises ``None``'s reference count far out of reach (2**40),
which is what 3.12 does by design; ``True`` and ``False``, which leak the
same way through other methods, get the same headroom. It runs once, from the bridge's
constructor, so every window and test that talks to the engine is covered.

:func:`collect_garbage_on_gui_thread` moves Python's cyclic garbage
collection onto the GUI thread. Left automatic, a collection runs in
whichever thread happens to allocate, often an executor thread, and Qt
objects caught in a reference cycle (a widget and a lambda connected to its
signal) are then destroyed there: "QObject::~QObject: Timers cannot be
stopped from another thread", or worse. A timer on the GUI thread collects
instead: the young generations when their counts pass the usual thresholds
(a millisecond or two); where Python would run a full collection (over 100
ms with torch and Chroma loaded: a visible stall) the survivors are frozen
(``gc.freeze``) instead. The price is that a reference cycle among
long-lived objects is never freed; Lectern's widgets are deleted by Qt
(``deleteLater``), so that is a few Python wrappers at most.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

PROBE_CALLS = 64
HEADROOM = 1 << 40

_checked = False
guarded = False  # whether the workaround was applied (shown in bug reports, tested)


def none_refcount_leaks() -> bool:
    """Whether calling a void Qt method loses a reference to ``None``."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")
    return sys.getrefcount(None) <= before - PROBE_CALLS // 2


def guard_none_refcount() -> bool:
    """Apply the ``None`` reference-count workaround if this binding needs it (idempotent)."""
    global _checked, guarded
    if _checked:
        return guarded
    _checked = True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # None is immortal there (or the layout below does not hold)
    if not none_refcount_leaks():
        return False
    import ctypes

    # CPython 3.11: a PyObject starts with its Py_ssize_t reference count. True and False
    # leak the same way through other methods (seen as "bool_dealloc" at exit).
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += HEADROOM
    guarded = True
    return True


GC_INTERVAL_MS = 200
FREEZE_INSTEAD_ABOVE = 50_000  # young objects; see collect()
_collector: Any = None


def collect_garbage_on_gui_thread() -> None:
    """Switch automatic garbage collection off; collect on the GUI thread instead (idempotent).

    Needs a running ``QApplication``; the collecting timer is its child.
    """
    global _collector
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    gc.disable()
    if _collector is not None and _collector.parent() is app:
        return
    thresholds = gc.get_threshold()

    def collect() -> None:
        counts = gc.get_count()
        if counts[0] > FREEZE_INSTEAD_ABOVE:
            # a burst of new objects (an import such as torch, a model's metadata): scanning
            # them would stall the window for 100+ ms and they are mostly long-lived, so
            # they are frozen unscanned; cycles among them are never freed (a bounded cost)
            gc.freeze()
        elif counts[0] > thresholds[0]:
            gc.collect(0)  # the young generation only: a few ms
            if gc.get_count()[1] > thresholds[1]:
                # what survived several young collections is long-lived; collecting the
                # older generations stalled the window for 100+ ms (measured when torch and
                # chromadb still ran in this process), so survivors are frozen instead
                gc.freeze()

    timer = QTimer(app)
    timer.setInterval(GC_INTERVAL_MS)
    timer.timeout.connect(collect)
    timer.start()
    _collector = timer
