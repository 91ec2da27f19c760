"""The lumpcheck marker: what a reduced model file says about itself (ONNX `metadata_props`, `.nnet` comment lines).

A reduced model is written with

- `lumpcheck.claim`: what it is claimed to compute, relative to the original file (named, with its SHA-256);
- `lumpcheck.domain` (only when the reduction or its proof used an input box): `box sha256:HEX from NAME (N inputs):
  TEXT`, where TEXT lists `X_i in [lo, hi]` with exact rational bounds and HEX is the SHA-256 of TEXT (UTF-8);
- `lumpcheck.certificate` (only with --certify): the certificate's file name and how it binds to this file.

Why the model does not hold its certificate's hash: the certificate records the SHA-256 of the model file's bytes,
so a model holding the certificate's hash would be a fixed point of SHA-256 (each file's hash depending on the
other's). The binding therefore goes one way: the certificate binds to the model (by the model's hash, checked by
`lumpcheck check`), and the model carries what is claimed and on which box, so that a model separated from its
certificate still warns everyone who opens it. The marker is information, not evidence: the evidence is the
certificate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..ir.domain import Box
from ..ir.exact import fraction_str

PREFIX = "lumpcheck."
CLAIM = "lumpcheck.claim"
DOMAIN = "lumpcheck.domain"
CERTIFICATE = "lumpcheck.certificate"
KEYS = (CLAIM, DOMAIN, CERTIFICATE)
NNET_PREFIX = "// "
_DOMAIN = re.compile(r"box sha256:(?P<digest>[0-9a-f]{64}) from (?P<source>.*?) \((?P<n>\d+) inputs\): (?P<text>.*)",
                     re.DOTALL)


def box_text(box: Box) -> str:
    """`X_0 in [lo, hi]; X_1 in [lo, hi]; ...` with exact rational bounds (p/q)."""
    return "; ".join(f"X_{i} in [{fraction_str(lo)}, {fraction_str(hi)}]" for i, (lo, hi) in
                     enumerate(zip(box.lower, box.upper)))


def box_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def domain_value(box: Box, source: str) -> str:
    """The `lumpcheck.domain` value for `box` (read from the file named `source`)."""
    text = box_text(box)
    return f"box sha256:{box_digest(text)} from {source or 'the domain'} ({box.dim} inputs): {text}"


@dataclass(frozen=True)
class Marker:
    """A model's lumpcheck marker as read back (empty strings for absent keys)."""

    claim: str = ""
    domain: str = ""
    certificate: str = ""

    @property
    def present(self) -> bool:
        return bool(self.claim or self.domain or self.certificate)

    @property
    def only_on_box(self) -> bool:
        """The claim holds only on the marker's box (the model computes something else outside it, in general)."""
        return bool(self.domain) and "ONLY" in self.claim

    def domain_parts(self) -> tuple[str, int, str, bool] | None:
        """(source, inputs, box text, whether the text matches its recorded hash), or None if malformed/absent."""
        m = _DOMAIN.fullmatch(self.domain)
        if m is None:
            return None
        return m["source"], int(m["n"]), m["text"], box_digest(m["text"]) == m["digest"]

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in ((CLAIM, self.claim), (DOMAIN, self.domain), (CERTIFICATE, self.certificate)) if v}


def marker_of(meta: dict) -> Marker:
    """The marker a model was read with (ONNX metadata_props or .nnet comment lines in its `meta`)."""
    props = dict(meta.get("onnx_metadata") or {})
    for line in str(meta.get("nnet_comments", "")).splitlines():
        key, sep, value = line.removeprefix(NNET_PREFIX).partition(": ")
        if sep and key in KEYS:
            props[key] = value
    return Marker(props.get(CLAIM, ""), props.get(DOMAIN, ""), props.get(CERTIFICATE, ""))


def nnet_lines(metadata: dict[str, str]) -> list[str]:
    """The marker as .nnet comment lines (one per key; newlines flattened)."""
    return [f"{NNET_PREFIX}{key}: {' '.join(value.split())}" for key, value in metadata.items()]


def without_marker(comments: list[str]) -> list[str]:
    """Comment lines minus an earlier lumpcheck marker (a reduced model reduced again gets a new one)."""
    return [c for c in comments if not c.removeprefix(NNET_PREFIX).startswith(PREFIX)]
