"""The outcome of `lumpcheck verify`: a Verdict, how it was reached, and for `sat` an exactly replayed witness."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..ir.exact import fraction_str
from ..solver import Verdict
from .falsify import Value
from .mode import Mode


@dataclass
class VerifyResult:
    """The verdict, how it was reached, and (for 'sat') an exact witness with both networks' exact outputs."""

    status: str
    mode: Mode
    engine: str
    message: str = ""
    witness: tuple[Fraction, ...] | None = None
    output_a: tuple[Value, ...] | None = None  # Fractions; rigorous Enclosures for sigmoid/tanh networks
    output_b: tuple[Value, ...] | None = None
    onnxruntime: dict[str, list[float]] = field(default_factory=dict)  # float replays: informative only
    times: dict[str, float] = field(default_factory=dict)
    proofs: dict[str, list] = field(default_factory=dict)  # lumping-match: each side's certified obligation records
    details: dict = field(default_factory=dict)
    certificate: dict | None = None  # 'unsat' of differential (checker/difference.py) or domain-match (checker/domain_match.py)

    def __post_init__(self) -> None:
        try:
            self.status = Verdict(self.status)
        except ValueError:
            raise ValueError(f"unknown status {self.status!r}") from None

    @property
    def equivalent(self) -> bool:
        return self.status == "unsat"

    def to_dict(self) -> dict:
        """JSON-ready form; exact numbers as 'p/q' strings, enclosures as '[lo, hi]'."""

        def text(v: Value) -> str:
            return fraction_str(v) if isinstance(v, Fraction) else str(v)

        return {
            "status": self.status,
            "mode": str(self.mode),
            "engine": self.engine,
            "message": self.message,
            "witness": None if self.witness is None else [fraction_str(v) for v in self.witness],
            "output_a": None if self.output_a is None else [text(v) for v in self.output_a],
            "output_b": None if self.output_b is None else [text(v) for v in self.output_b],
            "onnxruntime": self.onnxruntime,
            "times": {k: round(v, 6) for k, v in self.times.items()},
            "proofs": {side: [f"{r.id}: {r.status}" for r in records] for side, records in self.proofs.items()},
            "details": {k: v for k, v in self.details.items() if isinstance(v, (str, int, float, bool, list))},
        }
