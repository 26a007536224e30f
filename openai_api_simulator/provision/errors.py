"""Errors raised while provisioning llama.cpp and models.

Exception tree::

    SimulatorError                      (openai_api_simulator.errors)
    └── ProvisionError                  anything in this package; the message says what to do
        ├── UnsupportedPlatform         no llama.cpp build for this OS / CPU / variant
        ├── ReleaseError                the release could not be resolved (no tag, asset missing)
        ├── DownloadError               network or HTTP failure after retries
        │   ├── ChecksumMismatch        the bytes do not hash to the expected SHA256
        │   │   └── GitBlobMismatch     ... or to the git blob SHA-1 the server's ETag declares
        │   └── UnverifiedDownload      no hash to check against and the user did not opt out
        ├── InsufficientDiskSpace       not enough free space before starting
        ├── ArchiveError                an archive could not be unpacked (a write failed)
        │   └── UnsafeArchive           refused: unreadable, over the caps, or an entry that would land
        │                               (or point) outside the target folder or is of a refused kind
        ├── BinaryCheckFailed           llama-server did not run (``--version``)
        ├── ModelSpecError              a model name / URL / path that cannot be understood
        └── OfflineError                offline and the cache does not hold what is needed

Every message names the file, URL or directory involved and what the user can do about it.
"""

from __future__ import annotations

from ..errors import SimulatorError


class ProvisionError(SimulatorError):
    """Base class of the provisioning errors."""


class UnsupportedPlatform(ProvisionError):
    """No llama.cpp release asset exists for this platform."""


class ReleaseError(ProvisionError):
    """A llama.cpp release or one of its assets could not be found."""


class DownloadError(ProvisionError):
    """A download failed (network, HTTP status) after the retries ran out."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ChecksumMismatch(DownloadError):
    """The downloaded bytes do not match the expected SHA256."""

    def __init__(self, *, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"SHA256 mismatch for {url}: expected {expected}, got {actual}. The partial file was "
            "deleted; run the command again to download it afresh. If it fails again, the mirror "
            "or the pinned hash is wrong.",
            url=url,
        )
        self.expected = expected
        self.actual = actual


class GitBlobMismatch(ChecksumMismatch):
    """The downloaded bytes do not match the git blob SHA-1 the server declared in its ``ETag``.

    A `ChecksumMismatch`, so whatever handles a wrong SHA256 (the one fresh retry of a resumed file, the
    callers' ``except``) handles this too; only the message differs, because the hash is a different one.
    """

    def __init__(self, *, url: str, expected: str, actual: str) -> None:
        DownloadError.__init__(
            self,
            f"Git blob SHA-1 mismatch for {url}: its ETag declares the git blob hash {expected}, the bytes "
            f"received hash to {actual}. The partial file was deleted; run the command again to download "
            "it afresh. If it fails again, the mirror serves other bytes than its ETag describes.",
            url=url,
        )
        self.expected = expected
        self.actual = actual


class UnverifiedDownload(DownloadError):
    """Neither a pinned hash nor a server-declared hash is available."""


class InsufficientDiskSpace(ProvisionError):
    """Too little free space to download or unpack."""


class ArchiveError(ProvisionError):
    """An archive could not be unpacked: the target folder refused a write (full disk, permissions)."""


class UnsafeArchive(ArchiveError):
    """An archive that is refused: unreadable or truncated, over the size caps, or with an entry that escapes
    the extraction folder or is of a refused kind. Nothing from it is left unpacked."""


class BinaryCheckFailed(ProvisionError):
    """The llama-server binary did not run."""


class ModelSpecError(ProvisionError):
    """A model specification that names nothing this package can fetch."""


class OfflineError(ProvisionError):
    """Offline (by choice or by circumstance) and the cache lacks what is needed."""
