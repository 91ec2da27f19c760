"""The checker's answer, and the two model files it is about (loaded only if their hashes are the certified ones)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import LumpcheckError
from ..io import load_model
from ..ir.network import Network
from .document import Scope


@dataclass
class CheckResult:
    """The checker's answer: valid (with the scope of what holds), or invalid with every reason found."""

    valid: bool
    reasons: list[str]
    scope: Scope | None = None

    def __str__(self) -> str:
        if not self.valid:
            return f"invalid: {self.reasons[0]}"
        return "valid" if self.scope is None else f"valid: {self.scope.text}"


def load_hashed(hashes: dict, original_path: str | Path, reduced_path: str | Path,
                original_arch: list[str] | None = None) -> tuple[list[Network], list[str]]:
    """Load both models, checking each file's SHA-256 against the certificate (and that it did not change);
    `original_arch`: the activations of an original PyTorch state_dict (lumpcheck's own .pt files carry theirs)."""
    reasons: list[str] = []
    nets = []
    for name, path, arch in (("original", original_path, original_arch), ("reduced", reduced_path, None)):
        before = _sha256(path)
        nets.append(load_model(path, arch))
        if _sha256(path) != before:
            reasons.append(f"{name} model: {path} changed while it was being read")
        elif before != hashes[name]:
            reasons.append(f"{name} model: sha256 of {path} is {before[:12]}…, the certificate says {hashes[name][:12]}…")
    return nets, reasons


def _sha256(path: str | Path) -> str:
    try:
        with open(path, "rb") as fh:  # streamed: a model is not held in memory to be hashed
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        raise LumpcheckError("no such file", str(path)) from None
    except OSError as e:
        raise LumpcheckError(f"cannot read the model file ({e.strerror or e})", str(path)) from None
