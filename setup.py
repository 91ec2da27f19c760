"""The one compiled module, lumpcheck.ir.exact_loops (loops of the reducer's exact float fast path); the rest of the
package metadata is in pyproject.toml. -ffp-contract=off: the error-free tests need every a*b and a+b rounded
on its own (no fused multiply-add); -fno-fast-math keeps IEEE semantics whatever CFLAGS the environment sets."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lumpcheck.ir.exact_loops",
            ["lumpcheck/ir/exact_loops.c"],
            depends=["lumpcheck/ir/exact_aggregate.h", "lumpcheck/ir/exact_maps.h"],  # included by exact_loops.c
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-finite-math-only"],
        )
    ]
)
