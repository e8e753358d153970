"""Where Lectern keeps its state.

Everything lives under one data directory: an explicit ``--data-dir``, else
``$LECTERN_HOME``, else the platform's user data directory (platformdirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import DataDirError

ENV_VAR = "LECTERN_HOME"
APP_NAME = "Lectern"


def default_data_dir() -> Path:
    """The per-user data directory of this platform."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data directory: explicit argument, then ``$LECTERN_HOME``, then the default."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


@dataclass(frozen=True)
class DataPaths:
    """The layout of a data directory. Creating it is :meth:`ensure`'s job."""

    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def ui_state_file(self) -> Path:
        return self.root / "ui-state.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def model_registry_file(self) -> Path:
        return self.models_dir / "registry.json"

    @property
    def downloads_dir(self) -> Path:
        """Partial downloads; never offered as models."""
        return self.models_dir / ".partial"

    @property
    def embedders_dir(self) -> Path:
        return self.models_dir / "embedders"

    @property
    def rerankers_dir(self) -> Path:
        return self.models_dir / "rerankers"

    @property
    def libraries_dir(self) -> Path:
        return self.root / "libraries"

    @property
    def conversations_db(self) -> Path:
        return self.root / "conversations.sqlite3"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> DataPaths:
        """Create the directories; a clear error when that is impossible."""
        try:
            for d in (
                self.root,
                self.models_dir,
                self.embedders_dir,
                self.libraries_dir,
                self.logs_dir,
            ):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(
                f"Cannot create the data directory {self.root}: {exc.strerror or exc}",
                hint="choose another location with --data-dir or LECTERN_HOME",
            ) from exc
        return self
