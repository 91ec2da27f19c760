"""Never destroy or half-write a user's file.

1. `refuse_clashes`: an output that names an input, or another output, is refused before any work (one-line
   `OutputClash`, exit code 2). Existing files are compared with os.path.samefile (so a symlink or hard link
   to the input counts as the input); paths that do not exist yet by their resolved absolute path (symlinked
   directories resolved). An output directory may not hold an input or another output.
2. `Publication`: a run's outputs are written under hidden temporary names beside their targets (same
   directory, same suffix, so readers that go by the suffix work on them) and moved to their final names
   together, only when the run succeeds; a failed run moves each to its `failed` name (e.g. NAME.unproved.EXT)
   or drops it. Anything still staged when the block ends (an error, Ctrl-C, SIGTERM) is deleted.

Every single file is itself written atomically (io/atomic.py); this module makes the *set* of outputs appear together.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import LumpcheckError
from .interrupt import signals_deferred

SMTLIB_SUFFIX = ".smt2"


class OutputClash(LumpcheckError):
    """An output would overwrite an input or another output (or has the wrong kind: file vs directory)."""


@dataclass(frozen=True)
class Named:
    """A path and the option (or argument) the user named it with, e.g. Named("-o", "small.onnx")."""

    option: str
    path: str | Path


@dataclass(frozen=True)
class Target:
    """One output: its option, final path, the path it gets when the run fails (None: dropped), its kind.

    A directory target holds only files this run writes (it is replaced as a whole); an existing one may
    hold only `keep_suffix` files of an earlier run, nothing else.
    """

    option: str
    path: Path
    failed: Path | None = None
    directory: bool = False
    keep_suffix: str = SMTLIB_SUFFIX

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.failed is not None:
            object.__setattr__(self, "failed", Path(self.failed))
        if not str(self.path):
            raise OutputClash(f"{self.option}: empty path")

    def final(self, ok: bool) -> Path | None:
        return self.path if ok else self.failed

    def names(self) -> list[Named]:
        """Every path this target may be published under, as the user would read it."""
        out = [Named(self.option, self.path)]
        if self.failed is not None:
            out.append(Named(f"{self.option} (name if the run fails)", self.failed))
        return out


def failed_name(path: str | Path, tag: str, directory: bool = False) -> Path:
    """small.onnx → small.unproved.onnx (tag 'unproved'); cert.json → cert.failed.json; dir obligations → obligations.unproved."""
    p = Path(path)
    if directory or not p.suffix:
        p = p if p.name not in ("", ".", "..") else Path(os.path.abspath(p))
        return p.with_name(f"{p.name}.{tag}")
    return p.with_name(f"{p.stem}.{tag}{p.suffix}")


# ---------------------------------------------------------------- refusing clashes


def _absolute(path: str | Path) -> Path:
    """The resolved absolute path (symlinks followed as far as they exist)."""
    return Path(os.path.abspath(path)).resolve()


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file: samefile when both exist (links included), else by resolved path."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _absolute(a) == _absolute(b)


def _inside(path: str | Path, directory: str | Path) -> bool:
    return _absolute(path).is_relative_to(_absolute(directory))


def refuse_clashes(inputs: Iterable[Named], targets: Iterable[Target | Named]) -> None:
    """Raise OutputClash when an output names an input or another output, or an output directory holds one.

    `inputs` with path None are skipped. A Target counts with all its names (final and failed).
    """
    ins = [i for i in inputs if i.path is not None and str(i.path) != ""]
    outs: list[tuple[int, Named, bool]] = []  # (owner index, name, is a directory)
    for k, t in enumerate(targets):
        if isinstance(t, Target):
            outs += [(k, n, t.directory) for n in t.names()]
        else:
            outs.append((k, t, False))
    for _, o, directory in outs:
        _refuse_wrong_kind(o, directory)
        for i in ins:
            if same_file(o.path, i.path) or directory and _inside(i.path, o.path):
                raise OutputClash(_clash(o, i, directory, "input"))
    for n, (k, a, a_dir) in enumerate(outs):
        for k2, b, b_dir in outs[n + 1:]:
            if k2 == k:
                continue
            if same_file(a.path, b.path):
                raise OutputClash(f"{a.option} {a.path} and {b.option} {b.path} name the same file: "
                                  "give each output its own name")
            if a_dir and _inside(b.path, a.path):
                raise OutputClash(_clash(a, b, True, "output"))
            if b_dir and _inside(a.path, b.path):
                raise OutputClash(_clash(b, a, True, "output"))


def _clash(out: Named, other: Named, directory: bool, role: str) -> str:
    if directory:
        relation = "is" if same_file(out.path, other.path) else "contains"
        return (f"{out.option} {out.path} {relation} the {role} {other.option} {other.path}: writing there could "
                f"overwrite or delete it; name a new or separate directory")
    link = " (a link to it)" if Path(out.path).is_symlink() else ""
    what = f"the {role} {other.option} {other.path}" + (" itself" if str(out.path) == str(other.path) else link)
    fix = "writing it would destroy the input" if role == "input" else "one would overwrite the other"
    return f"{out.option} {out.path} is {what}: {fix}; choose another name"


def _refuse_wrong_kind(o: Named, directory: bool) -> None:
    p = Path(o.path)
    if directory and p.exists() and not p.is_dir():
        raise OutputClash(f"{o.option} {o.path} is an existing file, not a directory: name a directory")
    if not directory and p.is_dir():
        raise OutputClash(f"{o.option} {o.path} is a directory: name a file")


def refuse_foreign_files(target: Target) -> None:
    """An existing output directory is replaced as a whole: refuse one that holds anything but `keep_suffix` files."""
    for p in (target.path, target.failed):
        if p is None or not p.is_dir():
            continue
        foreign = sorted(e.name for e in p.iterdir() if not (e.is_file() and e.name.endswith(target.keep_suffix)))
        if foreign:
            raise OutputClash(f"{target.option} {p} already holds files other than {target.keep_suffix} "
                              f"(e.g. {foreign[0]}); it would be replaced as a whole: name a new or empty directory")


# ---------------------------------------------------------------- staging and publishing


class Publication:
    """Stage `targets` under hidden temporary names beside them; `publish` moves them to their final (or failed)
    names together. As a context manager, deletes whatever is still staged when the block ends.

    `staged(target)` is the path to write a target to. Directories created for the targets are removed again
    when nothing was published into them.
    """

    def __init__(self, targets: Sequence[Target]):
        self.targets = list(targets)
        for t in self.targets:
            if t.directory:
                refuse_foreign_files(t)
        self._staged: dict[Path, Path] = {}
        self._created_dirs: list[Path] = []

    def __enter__(self) -> "Publication":
        try:
            for t in self.targets:
                self._staged[t.path] = self._stage(t)
        except BaseException:
            self.discard()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def staged(self, target: Target) -> Path:
        return self._staged[target.path]

    def _stage(self, t: Target) -> Path:
        parent = Path(os.path.abspath(t.path)).parent
        missing = [d for d in [parent, *parent.parents] if not d.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        self._created_dirs += missing  # deepest first
        if t.directory:
            staged = Path(tempfile.mkdtemp(prefix=f".{t.path.name}.", suffix=".partial", dir=parent))
            umask = os.umask(0)
            os.umask(umask)
            staged.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the directory the mode mkdir would
            return staged
        fd, name = tempfile.mkstemp(prefix=f".{t.path.name}.", suffix=t.path.suffix or ".partial", dir=parent)
        os.close(fd)
        return Path(name)

    def publish(self, ok: bool) -> dict[Path, Path | None]:
        """Move every staged target to `target.final(ok)` (dropping those without one); {target path: where it is}.

        Stop signals are held meanwhile, so the set appears whole; a directory target replaces an existing one.
        """
        where: dict[Path, Path | None] = {}
        with signals_deferred():
            for t in self.targets:
                src, dst = self._staged.pop(t.path), t.final(ok)
                where[t.path] = dst
                if dst is None:
                    _remove(src)
                elif t.directory:
                    _replace_directory(src, dst, t)
                else:
                    assert src.stat().st_size > 0, f"nothing was written to {t.option} {t.path} (staged as {src})"
                    os.replace(src, dst)
        return where

    def discard(self) -> None:
        """Delete everything still staged, and the directories created for it if they are empty."""
        while self._staged:
            _, path = self._staged.popitem()
            _remove(path)
        for d in self._created_dirs:
            try:
                d.rmdir()
            except OSError:
                break  # not empty (something was published into it) or gone
        self._created_dirs = []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace_directory(src: Path, dst: Path, target: Target) -> None:
    """Put the staged directory `src` at `dst`; an existing `dst` (earlier run's files only) is swapped out whole."""
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    refuse_foreign_files(Target(target.option, dst, directory=True, keep_suffix=target.keep_suffix))
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=Path(os.path.abspath(dst)).parent))
    os.replace(dst, old / "d")
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- the outputs of `reduce`

UNPROVED = "unproved"  # small.onnx → small.unproved.onnx, obligations/ → obligations.unproved/
FAILED = "failed"  # cert.json → cert.failed.json


@dataclass(frozen=True)
class ReductionTargets:
    """The outputs of a reduction: the model (-o), the certificate (--certify), the SMT-LIB files (--smtlib,
    only with --certify). With a certificate, a failed proof publishes them under their failed names."""

    model: Target
    cert: Target | None = None
    smtlib: Target | None = None

    @staticmethod
    def of(output: str | Path, cert_path: str | Path | None = None,
           smtlib_dir: str | Path | None = None) -> "ReductionTargets":
        if cert_path is None:
            return ReductionTargets(Target("-o", Path(output)))
        return ReductionTargets(
            Target("-o", Path(output), failed_name(output, UNPROVED)),
            Target("--certify", Path(cert_path), failed_name(cert_path, FAILED)),
            None if smtlib_dir is None else Target("--smtlib", Path(smtlib_dir), failed_name(smtlib_dir, UNPROVED, True),
                                                   directory=True),
        )

    @property
    def all(self) -> list[Target]:
        return [t for t in (self.model, self.cert, self.smtlib) if t is not None]

    def staged(self, publication: Publication) -> "StagedReduction":
        def path(t: Target | None) -> Path | None:
            return None if t is None else publication.staged(t)

        return StagedReduction(publication.staged(self.model), path(self.cert), path(self.smtlib), self)


@dataclass(frozen=True)
class StagedReduction:
    """Where a reduction run writes (temporary paths) and the model name its certificate records."""

    model: Path
    cert: Path | None
    smtlib: Path | None
    targets: ReductionTargets

    def recorded_name(self, verdict: str) -> str:
        """The reduced model's path as the certificate records it: where the model is published for this verdict."""
        final = self.targets.model.final(verdict == "proved")
        assert final is not None, f"no published name for the reduced model with verdict {verdict!r}"
        return str(final)
