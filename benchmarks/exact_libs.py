"""Do python-flint or gmpy2 pay on the prover's and checker's exact hot spots? (issue 15) Not a test.

The kernels, each on the planted workload's shapes (float32 weights of a width-W layer, W/2 classes with 2^k factors):
  substitute  the prover's PreActivations.exact: integer weights (mantissa · 2^shift, Python ints) summed into
              class columns with integer scales -- numpy object arrays of ints (today) vs python-flint fmpz_mat
              (M @ S, S the scale matrix) vs gmpy2 mpz in object arrays;
  compare     exact_linear's cross-multiplied comparison lhs = num·q·rd vs rhs = rm·p·den, elementwise;
  literals    SMT-LIB text of float weights (prove/smt.py literal): Fraction (before) vs gmpy2.mpq vs flint.fmpq vs
              float.as_integer_ratio (what smt.literal does now, no library).
CPU seconds (time.process_time), best of --repeat. Run: python benchmarks/exact_libs.py [--width 512] [--repeat 3].
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def integer_weights(width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 weights as (mantissa · 2^shift) Python ints (prove/obligations.integer_form), and the class map."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(width, width)).astype(np.float32).astype(np.float64)
    mant, exp = np.frexp(w)
    mant = (mant * 2.0**53).astype(np.int64)
    exp = exp.astype(np.int64) - 53
    shifts = exp - exp.min()
    ints = mant.astype(object) * np.array([1 << int(k) for k in range(int(shifts.max()) + 1)], dtype=object)[shifts]
    classes = rng.integers(0, width // 2, size=width)
    return ints, classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w, r = args.width, args.repeat
    ints, classes = integer_weights(w, 0)
    scales = [1 << int(k) for k in np.random.default_rng(1).integers(0, 3, size=w)]
    n_cls = w // 2
    rows = {}

    def substitute(values):
        """The prover's substitution: class sums of scaled integer columns, in object arrays of `values`' type."""
        num = np.zeros((w, n_cls), dtype=object)
        for col in range(w):
            num[:, classes[col]] += values[:, col] * scales[col]
        return num

    rows["substitute: numpy object ints (today)"] = best(lambda: substitute(ints), r)
    reference = substitute(ints)
    try:
        import flint

        def substitute_flint():
            m = flint.fmpz_mat(ints.tolist())
            s = flint.fmpz_mat(w, n_cls)
            for col in range(w):
                s[col, int(classes[col])] += scales[col]
            return m * s

        rows["substitute: flint fmpz_mat M*S (incl. conversion)"] = best(substitute_flint, r)
        got = substitute_flint()
        assert all(int(got[i, j]) == reference[i, j] for i in range(0, w, 37) for j in range(0, n_cls, 11))
        mat, smat = flint.fmpz_mat(ints.tolist()), flint.fmpz_mat(w, n_cls)
        for col in range(w):
            smat[col, int(classes[col])] += scales[col]
        rows["  flint: conversion of M alone"] = best(lambda: flint.fmpz_mat(ints.tolist()), r)
        rows["  flint: M*S alone"] = best(lambda: mat * smat, r)
    except ImportError:
        rows["substitute: flint"] = None
    try:
        import gmpy2

        mp = np.vectorize(gmpy2.mpz, otypes=[object])(ints)

        rows["substitute: numpy object gmpy2.mpz (excl. conversion)"] = best(lambda: substitute(mp), r)
        rows["  gmpy2: conversion to mpz"] = best(lambda: np.vectorize(gmpy2.mpz, otypes=[object])(ints), r)
    except ImportError:
        rows["substitute: gmpy2"] = None

    p = np.array([1 << int(k) for k in np.random.default_rng(2).integers(0, 3, size=w)], dtype=object)[:, None]
    rhs_src = reference[np.random.default_rng(3).integers(0, w, size=w)]
    rows["compare: object ints lhs*q != rhs*p (today)"] = best(lambda: np.any(reference * 3 != rhs_src * p), r)
    try:
        import gmpy2

        ref_mp = np.vectorize(gmpy2.mpz, otypes=[object])(reference)
        rhs_mp = np.vectorize(gmpy2.mpz, otypes=[object])(rhs_src)
        rows["compare: gmpy2.mpz arrays (excl. conversion)"] = best(lambda: np.any(ref_mp * 3 != rhs_mp * p), r)
    except ImportError:
        pass

    rng = np.random.default_rng(4)
    values = [Fraction(float(np.float32(x))) for x in rng.normal(size=50_000)]

    def text(n: int, d: int) -> str:
        """SMT-LIB text of n/d (in lowest terms, d > 0), as prove/smt.py writes it."""
        mag = f"{abs(n)}.0" if d == 1 else f"(/ {abs(n)}.0 {d}.0)"
        return f"(- {mag})" if n < 0 else mag

    def literal(f: Fraction) -> str:
        return text(f.numerator, f.denominator)

    floats = [float(v) for v in values]
    rows["literals: Fraction(float) -> SMT text, 50k (before)"] = best(lambda: [literal(Fraction(x)) for x in floats], r)
    try:
        import gmpy2

        def literal_mpq(x: float) -> str:
            f = gmpy2.mpq(x)
            return text(f.numerator, f.denominator)

        rows["literals: gmpy2.mpq(float) -> SMT text, 50k"] = best(lambda: [literal_mpq(x) for x in floats], r)
    except ImportError:
        pass
    try:
        import flint

        def literal_fmpq(x: float) -> str:
            n, d = x.as_integer_ratio()
            f = flint.fmpq(n, d)
            return text(f.p, f.q)

        rows["literals: flint.fmpq -> SMT text, 50k"] = best(lambda: [literal_fmpq(x) for x in floats], r)
    except ImportError:
        pass

    def literal_ratio(x: float) -> str:  # no library: float.as_integer_ratio is already in lowest terms
        return text(*x.as_integer_ratio())

    rows["literals: float.as_integer_ratio -> SMT text, 50k (now)"] = best(
        lambda: [literal_ratio(x) for x in floats], r)
    assert [literal_ratio(x) for x in floats[:1000]] == [literal(Fraction(x)) for x in floats[:1000]]

    print(f"width {w}, CPU seconds, best of {r}")
    for name, value in rows.items():
        if value is not None or not name.startswith("  "):
            print(f"  {name:<62} {'n/a' if value is None else f'{value:.4f}'}")


if __name__ == "__main__":
    main()
