"""The model files a report names: where each was looked for, and whether its bytes still match the certificate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileCheck:
    """One model file of the certificate: where it was looked for, and whether its bytes still match."""

    role: str  # original / reduced
    recorded_path: str
    path: str | None  # where it was found (None: not found)
    recorded_sha256: str | None
    sha256: str | None

    @property
    def status(self) -> str:
        if self.sha256 is None:
            return "missing"
        return "matches" if self.sha256 == self.recorded_sha256 else "differs"
