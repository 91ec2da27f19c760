"""The `lumpcheck` command line: info, reduce, check (each a thin layer over the Python API)."""

from __future__ import annotations

import functools
import json
import sys
import traceback
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import LumpcheckError

EXIT_OK = 0
EXIT_REFUTED = 1  # counterexample found / certificate invalid
EXIT_USAGE = 2  # bad input file or arguments
EXIT_UNSUPPORTED = 3  # model outside lumpcheck's scope
EXIT_UNKNOWN = 4  # solver gave up or timed out
EXIT_INTERNAL = 70  # a bug in lumpcheck

EXIT_CODES_HELP = f"""
\b
Exit codes:
  {EXIT_OK}   success (reduced / proved / valid)
  {EXIT_REFUTED}   refuted: counterexample found, or certificate invalid
  {EXIT_USAGE}   bad input: unreadable model, malformed file, bad option
  {EXIT_UNSUPPORTED}   unsupported model (conv, branches, unknown op): nothing to do
  {EXIT_UNKNOWN}   unknown or timeout: the solver could not decide
  {EXIT_INTERNAL}  internal error (a bug: please report it with --debug output)
"""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def user_errors(fn: Callable) -> Callable:
    """Turn LumpcheckError into a one-line message and its exit code; bugs get one line unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return fn(*args, **kwargs)
        except LumpcheckError as e:
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: error: {e.one_line()}", markup=False, soft_wrap=True)
            sys.exit(e.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: internal error: {type(e).__name__}: {e} (rerun with --debug)", markup=False, soft_wrap=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="lumpcheck")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def cli(debug: bool) -> None:
    """Shrink neural networks without changing what they compute, and prove it.

    \b
    Typical session:
      lumpcheck info model.onnx                       what is in the file
      lumpcheck reduce model.onnx -o small.onnx \\
                --certify cert.json                   exact lumping + proof certificate
      lumpcheck check cert.json model.onnx small.onnx independent re-check

    Models: ONNX (dense chains: Gemm/MatMul+Add with Relu, LeakyRelu, Sigmoid, Tanh) and ACAS Xu .nnet.
    Domains: VNN-LIB files (their input box). Every weight is read as the exact rational it is; no
    decision anywhere rests on float rounding.
    """


def _load(path: str):
    from .io import load_model

    return load_model(path)


def _load_box(path: str | None, n_inputs: int):
    if path is None:
        return None
    from .io.vnnlib import read_box

    return read_box(path, n_inputs=n_inputs)


def _activations(net) -> str:
    kinds: list[str] = []
    for layer in net.layers[:-1]:
        if str(layer.activation) not in kinds:
            kinds.append(str(layer.activation))
    out_act = str(net.layers[-1].activation)
    return f"{', '.join(kinds) or 'none'} (hidden); {out_act} (output)"


def info_dict(net, box) -> dict:
    """Machine-readable summary of a network (and domain) for `info --json`."""
    return {
        "source": net.source,
        "shape": net.shape_str(),
        "widths": net.widths,
        "params": net.param_count,
        "hidden_neurons": net.hidden_neurons,
        "layers": [
            {"in": layer.in_features, "out": layer.out_features, "activation": str(layer.activation)}
            for layer in net.layers
        ],
        "normalization": net.normalization is not None,
        "meta": {k: v for k, v in net.meta.items() if isinstance(v, (str, int, float, bool))},
        "domain": None
        if box is None
        else {"lower": [str(v) for v in box.lower], "upper": [str(v) for v in box.upper]},
    }


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--domain", "domain", type=click.Path(dir_okay=False), help="VNN-LIB file whose input box to show.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
@user_errors
def info(model: str, domain: str | None, as_json: bool) -> None:
    """Show a model's layers, widths, activations and parameter count.

    \b
    Example:
      lumpcheck info examples/planted_relu.onnx
      lumpcheck info acas_1_1.onnx --domain prop_3.vnnlib
    """
    net = _load(model)
    box = _load_box(domain, net.input_size)
    if as_json:
        click.echo(json.dumps(info_dict(net, box), indent=2))
        return
    out.print(f"[bold]{Path(model).name}[/bold]: {net.shape_str()}, {net.param_count:,} params, {_activations(net)}")
    table = Table("layer", "in", "out", "activation", "params")
    for i, layer in enumerate(net.layers, start=1):
        table.add_row(str(i), str(layer.in_features), str(layer.out_features), str(layer.activation), f"{layer.param_count:,}")
    out.print(table)
    if net.normalization is not None:
        out.print("normalisation: input means/ranges and output mean/range kept as metadata (not folded)")
    if box is not None:
        bt = Table("input", "lower", "upper", title=f"domain from {Path(domain).name}")
        for i, (lo, hi) in enumerate(zip(box.lower, box.upper)):
            if i >= 20:
                bt.add_row("…", f"({box.dim - 20} more)", "")
                break
            bt.add_row(f"X_{i}", f"{float(lo):.6g}", f"{float(hi):.6g}")
        out.print(bt)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="lumpcheck")


if __name__ == "__main__":
    main()
