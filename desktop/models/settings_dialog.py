"""Per-model settings: context length, GPU layers, chat template override and sampling.

They are stored in the model's registry record (``ModelRecord.overrides``)
under the names of the settings they override; an empty field means "use the
default" and is not stored. Load-time keys (``n_ctx``, ``n_gpu_layers``,
``chat_template``) take effect at the next load; sampling keys at the next
answer.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.models.overrides import LOAD_KEYS, SAMPLING_KEYS, sampling_for
from core.models.registry import ModelRecord
from core.settings import GenerationSettings

__all__ = ["LOAD_KEYS", "SAMPLING_KEYS", "ModelSettingsDialog", "sampling_for"]


class _Optional(QWidget):
    """A spin box with a "default" check box: unchecked means "not overridden"."""

    def __init__(self, spin: QSpinBox | QDoubleSpinBox, value: Any, default_text: str) -> None:
        super().__init__()
        from PySide6.QtWidgets import QHBoxLayout

        self.spin = spin
        self.check = QCheckBox("override")
        self.check.setAccessibleName(f"Override {spin.accessibleName()}")
        self.hint = QLabel(default_text)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(spin, 1)
        layout.addWidget(self.hint)
        self.check.toggled.connect(spin.setEnabled)
        if value is not None:
            spin.setValue(value)
        self.check.setChecked(value is not None)
        spin.setEnabled(value is not None)

    def value(self) -> Any:
        return self.spin.value() if self.check.isChecked() else None


class ModelSettingsDialog(QDialog):
    """Edits one model's overrides; :meth:`overrides` is the result."""

    def __init__(
        self, record: ModelRecord, defaults: GenerationSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Settings for {record.name}")
        self.record = record
        o = record.overrides
        form = QFormLayout()
        self.fields: dict[str, _Optional] = {}

        def spin(name: str, lo: int, hi: int, step: int = 1) -> QSpinBox:
            s = QSpinBox()
            s.setRange(lo, hi)
            s.setSingleStep(step)
            s.setAccessibleName(name)
            return s

        def dspin(name: str, lo: float, hi: float, step: float) -> QDoubleSpinBox:
            s = QDoubleSpinBox()
            s.setRange(lo, hi)
            s.setSingleStep(step)
            s.setDecimals(2)
            s.setAccessibleName(name)
            return s

        ctx_max = record.context_length or 131072
        self._add(
            form,
            "n_ctx",
            "Context length",
            spin("Context length", 256, ctx_max, 256),
            o,
            f"model max {ctx_max}",
        )
        self._add(
            form,
            "n_gpu_layers",
            "GPU layers",
            spin("GPU layers", -1, 999),
            o,
            "-1 = all; default: planner",
        )
        self._add(
            form,
            "temperature",
            "Temperature",
            dspin("Temperature", 0, 2, 0.05),
            o,
            f"default {defaults.temperature}",
        )
        self._add(
            form, "top_p", "Top-p", dspin("Top-p", 0.01, 1, 0.01), o, f"default {defaults.top_p}"
        )
        self._add(form, "top_k", "Top-k", spin("Top-k", 0, 1000), o, f"default {defaults.top_k}")
        self._add(
            form, "min_p", "Min-p", dspin("Min-p", 0, 1, 0.01), o, f"default {defaults.min_p}"
        )
        self._add(
            form,
            "repeat_penalty",
            "Repeat penalty",
            dspin("Repeat penalty", 0.5, 2, 0.05),
            o,
            f"default {defaults.repeat_penalty}",
        )
        self._add(
            form,
            "dry_multiplier",
            "Repetition guard",
            dspin("Repetition guard (DRY multiplier)", 0, 5, 0.1),
            o,
            f"default {defaults.dry_multiplier}; 0 = off, 0.8 usual",
        )
        self._add(form, "seed", "Seed", spin("Seed", -1, 2**31 - 1), o, "-1 = random")
        self._add(
            form,
            "max_tokens",
            "Max tokens",
            spin("Max tokens", 1, 32768, 64),
            o,
            f"default {defaults.max_tokens}",
        )
        self.template = QPlainTextEdit()
        self.template.setAccessibleName("Chat template override")
        self.template.setPlaceholderText(
            "Jinja chat template; empty = the model's own (or Lectern's fallback)"
        )
        self.template.setPlainText(str(o.get("chat_template") or ""))
        self.template.setMaximumHeight(120)
        form.addRow("Chat template", self.template)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        note = QLabel("Context, GPU layers and template apply at the next load.")
        note.setWordWrap(True)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _add(
        self,
        form: QFormLayout,
        key: str,
        label: str,
        spin: QSpinBox | QDoubleSpinBox,
        overrides: dict[str, object],
        hint: str,
    ) -> None:
        field = _Optional(spin, overrides.get(key), hint)
        self.fields[key] = field
        form.addRow(label, field)

    def overrides(self) -> dict[str, object]:
        """The overrides as edited (only the ones switched on)."""
        out: dict[str, object] = {
            k: f.value() for k, f in self.fields.items() if f.value() is not None
        }
        template = self.template.toPlainText().strip()
        if template:
            out["chat_template"] = template
        # keep overrides this dialog does not know (other areas may add some)
        for k, v in self.record.overrides.items():
            if k not in self.fields and k != "chat_template":
                out[k] = v
        return out
