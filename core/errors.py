"""The typed errors of the engine.

Every error a user can meet is a :class:`LecternError` carrying a one-line
``message`` and an optional ``hint`` on what to do about it. Front ends map
these to dialogs (desktop) or to one line on stderr with exit status 1 (CLI)
in exactly one place each; anything else that escapes is a bug.
"""

from __future__ import annotations

from pathlib import Path


class LecternError(Exception):
    """Base of all user-facing errors."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(LecternError):
    """The request itself is malformed (bad argument combination, unknown id)."""


class SettingsError(LecternError):
    """The settings file cannot be read or holds invalid values."""


class DataDirError(LecternError):
    """The data directory cannot be created or written."""


class ModelError(LecternError):
    """Base for problems with a model."""


class ModelNotFoundError(ModelError):
    """No installed model matches the given id or path."""


class ModelFileError(ModelError):
    """A GGUF file is missing, truncated, corrupt or not a GGUF at all."""


class StarterModelError(ModelError):
    """The offline starter model could not be installed from its package."""


class DownloadError(ModelError):
    """A download failed (network, verification, disk space)."""


class AccessDeniedError(DownloadError):
    """The Hub refused access (gated or private repository, bad token)."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for the requested file."""


class VerificationError(DownloadError):
    """Downloaded bytes do not match the checksum the Hub advertises."""


class DownloadInProgressError(DownloadError):
    """The same file is already being downloaded (here or by another Lectern)."""


class HubError(ModelError):
    """The Hugging Face Hub could not answer (network, offline mode, server error)."""


class RemoteNotFoundError(HubError):
    """No such repository, revision or file on the Hub."""


class GenerationError(LecternError):
    """The language model failed while answering."""


class WorkerCrashedError(GenerationError):
    """The isolated llama.cpp worker process died."""


class DocumentError(LecternError):
    """Base for problems with documents and libraries."""


class LibraryLockedError(DocumentError):
    """Another process is writing to this library."""


class LibraryNotFoundError(DocumentError):
    """No library of that name exists."""


class LibraryDamagedError(DocumentError):
    """A library's files cannot be read (a damaged database or description)."""

    def __init__(self, message: str, hint: str = "", reason: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason or message  # what is damaged, in a few words

    @classmethod
    def of(cls, folder: Path, what: str) -> LibraryDamagedError:
        """The error for the library in ``folder``, whose ``what`` cannot be read."""
        return cls(
            f"The library '{folder.name}' is damaged: {what}.",
            hint=f"delete it in the Documents pane, or delete the folder {folder}, then "
            "index its PDFs again; your PDF files are not affected",
            reason=what,
        )


class HardwareError(LecternError):
    """Hardware detection or planning failed."""


class ModelLoadError(ModelError):
    """llama.cpp could not load a model or create its context (bad file, memory)."""
