"""The documents of one library, one :class:`DocumentRow` each, keyed by path."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from desktop.documents.document_row import DocumentRow, RowState


def _order(state: RowState) -> str:
    return state.file.casefold()


class DocumentList(QListWidget):
    """Rows in file-name order; live status updates change rows in place."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Documents")
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(False)
        self.rows: dict[str, tuple[QListWidgetItem, DocumentRow]] = {}

    def set_rows(self, states: Iterable[RowState]) -> None:
        """Show exactly ``states``: rows are updated in place, gone ones dropped, new ones
        added in file-name order (rebuilding every widget would stall a large library)."""
        wanted = {s.path: s for s in states}
        for path in [p for p in self.rows if p not in wanted]:
            self.take(path)
        fresh = sorted((s for p, s in wanted.items() if p not in self.rows), key=_order)
        for state in wanted.values():
            if state.path in self.rows:
                self.put(state)
        for state in fresh:
            self.put(state)

    def put(self, state: RowState) -> DocumentRow:
        """Update the row for ``state.path``, adding it at the end if it is new."""
        found = self.rows.get(state.path)
        if found is not None:
            item, row = found
            row.apply(state)
        else:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, state.path)
            row = DocumentRow(state)
            self.addItem(item)
            self.setItemWidget(item, row)
            self.rows[state.path] = (item, row)
        # rows grow when a failure reason or progress bar appears
        item.setSizeHint(self._row_size(row))
        return row

    def _row_size(self, row: DocumentRow) -> QSize:
        height = row.heightForWidth(max(120, self.viewport().width()))
        return QSize(0, height if height > 0 else row.sizeHint().height())

    def take(self, path: str) -> None:
        """Drop the row for ``path``."""
        found = self.rows.pop(path, None)
        if found is not None:
            self.takeItem(self.row(found[0]))

    def state_of(self, path: str) -> RowState | None:
        found = self.rows.get(path)
        return found[1].state if found is not None else None

    def states(self) -> list[RowState]:
        return [row.state for _item, row in self.rows.values()]

    def selected_paths(self) -> list[str]:
        return [str(i.data(Qt.ItemDataRole.UserRole)) for i in self.selectedItems()]

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)  # type: ignore[arg-type]
        # wrapped failure reasons change height with the width
        for item, row in self.rows.values():
            item.setSizeHint(self._row_size(row))
