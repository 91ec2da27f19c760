"""Transparent gzip inputs: `model.onnx.gz`, `prop.vnnlib.gz`, `net.nnet.gz` read as their uncompressed contents.

VNN-COMP ships its benchmarks gzipped since 2022. A file is read as gzip when its name ends in `.gz` (the format is
then told by the suffix before it); its certificate hashes stay over the bytes on disk (the compressed file).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..errors import ModelFormatError

GZIP_SUFFIX = ".gz"


def format_suffix(path: str | Path) -> str:
    """The lower-case suffix that tells the format, `.gz` looked through: 'model.onnx.gz' -> '.onnx'."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == GZIP_SUFFIX:
        return suffixes[-2] if len(suffixes) >= 2 else ""
    return p.suffix.lower()


def is_gzipped(path: str | Path) -> bool:
    return Path(path).suffix.lower() == GZIP_SUFFIX


def read_bytes(path: str | Path, what: str) -> bytes:
    """The file's contents, decompressed when its name ends in .gz; ModelFormatError (naming `what`) otherwise."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"cannot read {what}: {e.strerror or e}", str(p)) from None
    if not is_gzipped(p):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ModelFormatError(f"not a readable gzip file ({what}, named .gz): {e}", str(p)) from None


def read_text(path: str | Path, what: str) -> str:
    """The file's text (UTF-8), decompressed when its name ends in .gz; ModelFormatError otherwise."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        hint = " (a gzip file? name it .gz)" if data[:2] == b"\x1f\x8b" else ""
        raise ModelFormatError(f"cannot read {what}: not UTF-8 text at byte {e.start}{hint}", str(path)) from None
