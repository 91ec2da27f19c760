"""What every `lumpcheck` command shares: exit codes, the two consoles, the error wrapper, common options and
loading a model or a --domain box."""

from __future__ import annotations

import contextlib
import functools
import sys
import traceback
from pathlib import Path
from typing import Callable

import click
from rich.console import Console

from ..errors import LumpcheckError
from ..io import load_any, load_model
from ..io.torch import ArchitectureNeeded
from ..io.vnncomp import seconds
from ..io.vnnlib import read_box
from ..ir.semantics import clip_report, model_box
from . import interrupt

EXIT_OK = 0
EXIT_REFUTED = 1  # counterexample found / certificate invalid
EXIT_USAGE = 2  # bad input file or arguments
EXIT_UNSUPPORTED = 3  # model outside lumpcheck's scope
EXIT_UNKNOWN = 4  # solver gave up or timed out
EXIT_INTERNAL = 70  # a bug in lumpcheck
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM gives 143 (128 + signal number)

EXIT_CODES_HELP = f"""
\b
Exit codes:
  {EXIT_OK}   success (reduced / proved / valid)
  {EXIT_REFUTED}   refuted: counterexample found, certificate invalid, or proof failed
  {EXIT_USAGE}   bad input: unreadable model, malformed file, bad option, output over an input
  {EXIT_UNSUPPORTED}   unsupported model (conv, branches, unknown op): nothing to do
  {EXIT_UNKNOWN}   unknown or timeout: the solver could not decide
  {EXIT_INTERNAL}  internal error (a bug: please report it with --debug output)
  {EXIT_INTERRUPTED} interrupted by Ctrl-C (143: by SIGTERM); no partial or temporary files are left
"""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Seconds(click.ParamType):
    """A --timeout value: positive, finite, at most io.vnncomp.MAX_SECONDS (a usage error, exit 2, otherwise)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            return value if isinstance(value, float) else seconds(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


SECONDS = Seconds()


def user_errors(fn: Callable) -> Callable:
    """Turn LumpcheckError into a one-line message and its exit code; bugs get one line unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return fn(*args, **kwargs)
        except ArchitectureNeeded as e:  # a state_dict read by a command whose model option is --arch
            err.print(f"lumpcheck: error: {architecture_needed(e).one_line()}", markup=False, soft_wrap=True)
            sys.exit(EXIT_USAGE)
        except LumpcheckError as e:
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: error: {e.one_line()}", markup=False, soft_wrap=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (interrupt.py): temporary files are already gone
            name = interrupt.signal_of(e).name
            notes = "".join(f"; {note}" for note in getattr(e, "__notes__", []))
            err.print(f"lumpcheck: interrupted ({name}){notes}", markup=False, soft_wrap=True)
            sys.exit(interrupt.exit_code(e))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except (PermissionError, FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError) as e:
            # a path the system refused (an output directory that cannot be made or written): the user's to fix
            if debug:
                traceback.print_exc()
            where = f"{e.filename}: " if e.filename else ""
            err.print(f"lumpcheck: error: {where}{e.strerror or e} (the file system refused it)", markup=False,
                      soft_wrap=True)
            sys.exit(EXIT_USAGE)
        except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: internal error: {type(e).__name__}: {e} (rerun with --debug)", markup=False, soft_wrap=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


def arch_list(arch: str | None) -> list[str] | None:
    """The --arch value as a list of activations (None when not given)."""
    return [a.strip() for a in arch.split(",")] if arch else None


def load_network(path: str, arch: str | None = None, option: str = "--arch"):
    """The model at `path` in the exact IR (`arch`: a PyTorch state_dict's activations, comma-separated, given
    by `option`); a state_dict without it is a one-line error naming the option (exit 2)."""
    try:
        return load_model(path, arch_list(arch))
    except ArchitectureNeeded as e:
        raise architecture_needed(e, option) from None


def load_any_model(path: str, arch: str | None = None, option: str = "--arch"):
    """Like `load_network`, but an ONNX model the dense reader refuses comes back as the graph IR (io.load_any)."""
    try:
        return load_any(path, arch_list(arch))
    except ArchitectureNeeded as e:
        raise architecture_needed(e, option) from None


def architecture_needed(e: ArchitectureNeeded, option: str = "--arch") -> LumpcheckError:
    """The missing-architecture error in command-line words: which option to pass, with an example."""
    return LumpcheckError(f"a PyTorch state_dict does not say which activation follows each Linear layer: pass "
                          f"{option} with one activation per Linear, e.g. {option} relu,relu,identity", e.path, e.where)


def normalization_option(keep_help: str):
    """The --normalization option: what to do with input/output normalisation metadata (.nnet headers, ONNX Sub/Div)."""
    return click.option(
        "--normalization",
        type=click.Choice(["keep", "fold", "drop"]),
        default="keep",
        show_default=True,
        help=f"Input/output normalisation: keep = {keep_help}; fold = the affine maps into the first/last layer "
        "(exact; input clipping stays, as metadata); drop = the bare layer chain on normalised values (claims "
        "are then about the layer chains).",
    )


ARCH_HELP = ("PyTorch state_dict only: the activation after each Linear, e.g. relu,relu,identity (relu, leaky_relu(1/100), "
             "sigmoid, tanh, identity).")


def arch_option(option: str = "--arch", of: str = "MODEL"):
    """The --arch option: a state_dict's activations (lumpcheck's own .pt files, .onnx, .nnet and .h5 need none)."""
    return click.option(option, option.lstrip("-").replace("-", "_"), help=f"{of}: {ARCH_HELP}")


domain_space_option = click.option(
    "--domain-space",
    type=click.Choice(["input", "normalized"]),
    default="input",
    show_default=True,
    help="Coordinates of the --domain box: input = the model file's own (raw) input, clipped and normalised "
    "by the model as every input is; normalized = the layer chain's coordinates after the model's normalisation "
    "(VNN-COMP's ACAS Xu properties are in these coordinates, an ACAS .nnet's own input is raw).",
)


def load_box(path: str | None, net, space: str = "input"):
    """The --domain box over the model's own input (converted from `space`); clip warnings on stderr."""
    if path is None:
        return None
    box = model_box(net, read_box(path, n_inputs=net.input_size), space)
    for line in clip_report(net, box)[0]:
        err.print(f"lumpcheck: warning: {Path(path).name}: {line}: inputs there are clipped; is the box in the "
                  f"model's input units? (see --domain-space)", markup=False, soft_wrap=True)
    return box


def nullcontext():
    return contextlib.nullcontext()
