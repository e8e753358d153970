"""The libraries: which one is shown, and which ones the conversation searches (the ticks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

DEFAULT_LIBRARY = "default"


class LibraryList(QListWidget):
    """A list of libraries with a tick box each.

    The selected library is the one whose documents the pane shows; the ticked
    ones are the libraries the current conversation searches. Ticks are kept
    by name across refreshes.
    """

    current_library_changed = Signal(str)
    active_libraries_changed = Signal(list)  # list[str], ticked libraries

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Libraries")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._active: list[str] = [DEFAULT_LIBRARY]
        self._shown = ""  # the library last announced as current
        self._filling = False
        self.currentItemChanged.connect(self._on_current)
        self.itemChanged.connect(self._on_item_changed)

    # -- contents -------------------------------------------------------------
    def set_libraries(
        self,
        libraries: Sequence[tuple[str, int]],
        select: str = "",
        damaged: Collection[str] = (),
    ) -> None:
        """Show ``(name, document count)`` pairs, keeping the selection and the ticks.

        ``select`` picks the library to show (after creating or renaming one);
        ``damaged`` libraries cannot be read and say so instead of a count.
        """
        current = select or self.current_library()
        names = [n for n, _ in libraries]
        self._filling = True
        try:
            self.clear()
            for name, documents in libraries:
                label = f"{name}   (damaged)" if name in damaged else self._label(name, documents)
                item = QListWidgetItem(label)
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    Qt.CheckState.Checked if name in self._active else Qt.CheckState.Unchecked
                )
                item.setToolTip(
                    f"Tick to let the conversation search “{name}”; select to see its documents."
                )
                self.addItem(item)
        finally:
            self._filling = False
        self._fit_height()
        keep = current if current in names else (names[0] if names else "")
        if keep:
            self.select(keep)
        before = list(self._active)
        self._active = [n for n in self._active if n in names]
        if before != self._active:
            self.active_libraries_changed.emit(list(self._active))

    def _fit_height(self) -> None:
        """As tall as its rows (two to five), so the documents below get the room."""
        row = self.sizeHintForRow(0) if self.count() else self.fontMetrics().height() + 4
        rows = min(max(self.count(), 2), 5)
        self.setFixedHeight(rows * row + 2 * self.frameWidth() + 2)

    @staticmethod
    def _label(name: str, documents: int) -> str:
        return f"{name}   ({documents} document{'' if documents == 1 else 's'})"

    def set_count(self, name: str, documents: int) -> None:
        """Update one library's document count."""
        item = self._item(name)
        if item is not None:
            self._filling = True
            item.setText(self._label(name, documents))
            self._filling = False

    def names(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def _item(self, name: str) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == name:
                return self.item(i)
        return None

    # -- selection and ticks ------------------------------------------------------
    def current_library(self) -> str:
        item = self.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else ""

    def select(self, name: str) -> None:
        item = self._item(name)
        if item is not None:
            self.setCurrentItem(item)

    def active_libraries(self) -> list[str]:
        """The ticked libraries, in list order."""
        return list(self._active)

    def set_active_libraries(self, names: Sequence[str]) -> None:
        """Tick exactly ``names`` (one just created may not be listed yet; it is kept)."""
        self._active = list(dict.fromkeys(names))
        self._filling = True
        for i in range(self.count()):
            item = self.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in self._active
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self._filling = False
        self.active_libraries_changed.emit(list(self._active))

    def _on_current(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if item is None or self._filling:
            return
        name = str(item.data(Qt.ItemDataRole.UserRole))
        if name != self._shown:  # a refresh re-selects the same library: no reload
            self._shown = name
            self.current_library_changed.emit(name)

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        if self._filling:
            return
        ticked = [
            self.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.count())
            if self.item(i).checkState() == Qt.CheckState.Checked
        ]
        if ticked != self._active:
            self._active = ticked
            self.active_libraries_changed.emit(list(ticked))
