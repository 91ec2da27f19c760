"""The reduce → choose export format → save → certify flow, shared by `lumpcheck reduce` and the zoo runner."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from onnx import TensorProto

from ..epsilon.certificate import as_certificate, prove_epsilon, write_epsilon_certificate
from ..errors import LumpcheckError
from ..io import load_model, save_model, writable_suffix
from ..io.atomic import write_text_atomic
from ..io.marker import CERTIFICATE, CLAIM, DOMAIN, domain_value
from ..io.onnx.signature import OnnxSignature, describe
from ..io.onnx.write import written_signature
from ..io.vnnlib import read_box
from ..ir.domain import Box
from ..ir.network import Network, fold_normalization, layers_only
from ..ir.rounding import RoundingReport, rounding_report
from ..ir.semantics import chain_box, clip_report, model_box
from ..prove.claim_smt import claim_scripts
from ..prove.prover import prove
from ..prove.records import Certificate, sha256_file, write_certificate
from ..reduction.domain import reduce_on_domain
from ..reduction.lumping import Reduction
from ..reduction.lumping import reduce as lump
from .outputs import Named, Publication, ReductionTargets, StagedReduction, refuse_clashes

DECIMAL = "decimal"
"""The export 'dtype' of .nnet output: the writer prints every weight as its exact decimal (or refuses)."""


@dataclass
class PipelineResult:
    """What one reduction run produced: the quotient, how it was written, and the proof (if requested)."""

    reduction: Reduction
    rounding: RoundingReport  # what writing the quotient changed (always exact for .nnet output)
    dtype: str  # float32 / float64 (ONNX) or "decimal" (.nnet)
    certificate: Certificate | None
    output_path: str
    cert_path: str | None = None
    notes: list[str] = field(default_factory=list)  # what the user should know about the run (printed as is)
    smtlib_dir: str | None = None  # where the SMT-LIB files went (None: not asked for)

    @property
    def verdict(self) -> str | None:
        """'proved' / 'failed' when certified, None when no proof was asked for."""
        return None if self.certificate is None else self.certificate.verdict


def prepare_normalization(net: Network, normalization: str, out_path: str) -> Network:
    """Apply the user's normalisation choice before reducing: keep (.nnet and .onnx hold it), fold (the affine maps
    into the weights, exactly; input clipping stays), drop (the bare layer chain, on normalised values)."""
    torch_out = out_path.lower().endswith((".pt", ".pth"))
    if net.normalization is None or normalization == "keep" and not torch_out:
        return net
    if normalization == "drop":
        return layers_only(net)
    if normalization == "fold":
        try:
            folded = fold_normalization(net)
        except ValueError as e:
            raise LumpcheckError(f"--normalization fold: {e}", net.source) from None
        if folded.normalization is None or not torch_out:
            return folded
        raise LumpcheckError("--normalization fold keeps the model's input clipping, which a PyTorch file cannot hold: "
                             "write .onnx or .nnet, or pass --normalization drop (the layer chain on normalised values)",
                             net.source)
    raise LumpcheckError(
        "the model carries input/output normalisation that a PyTorch file cannot hold: pass --normalization fold "
        "(exact, raw inputs/outputs) or --normalization drop (network on normalised values, as the ACAS Xu ONNX files)",
        net.source,
    )


def prepare_domain(source: Network, box: Box, space: str, normalization: str) -> Box:
    """The box over the prepared network's input (see prepare_normalization) for a box given in `space` of the
    source model ('input': its own input; 'normalized': its layer chain's coordinates)."""
    return chain_box(source, box, space) if normalization == "drop" else model_box(source, box, space)


def choose_dtype(requested: str, source_dtype: str, network: Network) -> tuple[str, RoundingReport]:
    """'auto' keeps the quotient exact when a float format can: the source's dtype, else float64."""
    if requested != "auto":
        return requested, rounding_report(network, requested)
    candidates = ["float32", "float64"] if source_dtype == "float32" else ["float64"]
    reports = [(dtype, rounding_report(network, dtype)) for dtype in candidates]
    for dtype, report in reports:
        if report.exact:
            return dtype, report
    return reports[0]


def decimal_report(network: Network) -> RoundingReport:
    """.nnet stores exact decimals: nothing is rounded (a weight without a finite decimal makes the writer refuse)."""
    return RoundingReport(DECIMAL, network.param_count, 0, Fraction(0), Fraction(0), [0] * len(network.layers))


def _exact_hint(chosen: str, network: Network) -> str:
    """What would make the written file hold the quotient exactly."""
    if chosen != "float64" and rounding_report(network, "float64").exact:
        return "use --dtype float64"
    if _decimal_exact(network):
        return ("float64 cannot hold it exactly either: write a .nnet (exact decimals, ReLU networks) "
                "or reduce without --certify")
    return ("no file format holds it exactly (e.g. input normalisation folded into layer 1 gives weights with no "
            "finite decimal expansion): use --normalization keep or drop, or reduce without --certify")


def _decimal_refusal(network: Network) -> str:
    """Why a .nnet cannot hold the reduced network: its first weight without a finite decimal expansion."""
    bad = next((index, name, Fraction(v)) for index, layer in enumerate(network.layers, 1)
               for name, a in (("weights", layer.weight), ("biases", layer.bias)) if a.dtype == object
               for v in a.flat if not _decimal_exact_value(Fraction(v)))
    return (f"cannot write a .nnet exactly: layer {bad[0]} {bad[1]} hold {bad[2]}, which has no finite decimal "
            "expansion (input normalisation folded into the weights?); use --normalization keep (the .nnet header "
            "holds the normalisation) or --normalization drop, or write .onnx")


def _written_exactly(chosen: str, report: RoundingReport, network: Network) -> bool:
    """The file written in format `chosen` holds `network` exactly."""
    return report.exact and (chosen != DECIMAL or _decimal_exact(network))


def _decimal_exact_value(q: Fraction) -> bool:
    """q has a finite decimal expansion: its reduced denominator has no prime factor but 2 and 5."""
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _decimal_exact(network: Network) -> bool:
    """Every weight has a finite decimal expansion (what the .nnet writer needs)."""
    return all(a.dtype != object or all(_decimal_exact_value(Fraction(v)) for v in a.flat)
               for layer in network.layers for a in (layer.weight, layer.bias))


def run_reduction(
    model_path: str | Path,
    output_path: str | Path,
    *,
    domain_path: str | Path | None = None,
    dtype: str = "auto",
    cert_path: str | Path | None = None,
    smtlib_dir: str | Path | None = None,
    normalization: str = "keep",
    domain_reduction: bool = True,
    bounds_method: str = "auto",
    domain_space: str = "input",
    allow_outside_clip: bool = False,
    arch: list[str] | None = None,
    opset: int | None = None,
    source: Network | None = None,
    keep_original: bool = True,
) -> PipelineResult:
    """Reduce the model, write the quotient to `output_path` and, with `cert_path`, prove it and write the certificate.

    Never destroys or half-writes (outputs.py): outputs naming an input or each other are refused (OutputClash);
    the files are staged beside their targets and published together at the end. With `cert_path` they are
    published under the requested names only when the proof holds; a failed proof publishes them as
    NAME.unproved.EXT, CERT.failed.json and DIR.unproved instead (the result's paths say where).

    The written model is a drop-in replacement: an ONNX output keeps the source's interface (io/onnx/signature.py;
    `opset` overrides the opset) and every output carries the lumpcheck marker (io/marker.py): the claim, the box
    it holds on, and the certificate that binds to it. `arch`: the activations of a PyTorch state_dict source.
    `source`: the model as already read from `model_path` (saves reading it again). `keep_original=False`, when
    no certificate is asked for: the original's layers are released as the reduction reads them (peak memory;
    lumping.reduce's `release`): the result's `reduction.original` is then only its Outline, and `source` is left
    without layers.
    """
    targets = ReductionTargets.of(output_path, cert_path, smtlib_dir)
    refuse_clashes([Named("MODEL", model_path), Named("--domain", domain_path)], targets.all)
    writable_suffix(output_path)
    with Publication(targets.all) as publication:
        res = _reduce_into(str(model_path), str(output_path), targets.staged(publication), domain_path=domain_path,
                           dtype=dtype, normalization=normalization, domain_reduction=domain_reduction,
                           bounds_method=bounds_method, domain_space=domain_space,
                           allow_outside_clip=allow_outside_clip, arch=arch, opset=opset,
                           cert_name=None if cert_path is None else Path(cert_path).name, source=source,
                           release=not keep_original and cert_path is None)
        where = publication.publish(ok=res.verdict in (None, "proved"))
    published = {t: str(where[t.path]) for t in targets.all}
    return replace(res, output_path=published[targets.model], cert_path=published.get(targets.cert),
                   smtlib_dir=published.get(targets.smtlib))


def _reduce_into(
    model: str,
    output: str,
    staged: StagedReduction,
    *,
    domain_path: str | Path | None,
    dtype: str,
    normalization: str,
    domain_reduction: bool,
    bounds_method: str,
    domain_space: str,
    allow_outside_clip: bool,
    arch: list[str] | None = None,
    opset: int | None = None,
    cert_name: str | None = None,
    source: Network | None = None,
    release: bool = False,
) -> PipelineResult:
    """The reduction run of `run_reduction`, writing to the `staged` paths (`output` names the final file);
    `release`: the original's layers may be released as they are reduced (nothing certifies against them).

    With a domain (and `domain_reduction`), the reduction uses it (reduction/domain.py): the result equals the
    model only on the box. Its linear folding is skipped when the written file could not hold the folded
    (rational) weights exactly. The proof is about files: a quotient the output format rounds gets an
    ε-certificate on the domain (epsilon/certificate.py); without a domain that is impossible and it refuses (LumpcheckError).
    """
    cert_path = staged.cert
    source = source if source is not None else load_model(model, arch)
    net = prepare_normalization(source, normalization, output)
    semantics = "layers" if normalization == "drop" and source.normalization is not None else "model"
    box, notes = None, []
    if domain_path is not None:
        box, notes = _domain_box(source, net, domain_path, domain_space, normalization,
                                 refuse_outside=bool(cert_path) and not allow_outside_clip)
    if box is None or not domain_reduction:
        red = lump(net, release=release)  # released: from here on only net's meta and normalization are read
        red.domain = box
    else:
        red = reduce_on_domain(net, box, bounds_method=bounds_method)
        notes.append(f"equal to the original ONLY on the input box of {box.source or 'the domain'} "
                     f"(stable phases by {red.claims.describe()} bounds); not outside it")
    chosen, report = _export(output, dtype, net, red.network)
    if box is not None and domain_reduction and not _written_exactly(chosen, report, red.network):
        red = reduce_on_domain(net, box, bounds_method=bounds_method, fold=False)
        chosen, report = _export(output, dtype, net, red.network)
        notes.append("linear folding skipped: its rational weights cannot be written exactly in this format")
    if chosen == DECIMAL and not _decimal_exact(red.network):
        raise LumpcheckError(_decimal_refusal(red.network), output)
    if cert_path and not report.exact and box is None:
        raise LumpcheckError(f"cannot certify strict equality: {report.summary()}; {_exact_hint(chosen, red.network)}, "
                             "or give an input domain (--domain) for an ε-certificate: on all of R^n a rounding error "
                             "is unbounded", model)
    signature = interface(source, output, chosen, opset, red.network, notes)
    marker = marker_for(model, output, red, box, report.exact, semantics, cert_name)
    try:
        save_model(red.network, staged.model, dtype=chosen if chosen != DECIMAL else "float64", signature=signature,
                   opset=opset, metadata=marker)
    except ValueError as e:  # the target format cannot hold this network (e.g. .nnet with tanh)
        raise LumpcheckError(str(e), output) from e
    cert = None if not cert_path else _certify(model, staged, red, box, report.exact, semantics, arch)
    if cert is not None and cert.mode == "epsilon":
        notes.append(f"the {chosen} file rounds the quotient: certified max |original - reduced| <= ε = "
                     f"{float(cert.epsilon):.3g} on the box (ε-certificate, exact value in it)")
    return PipelineResult(red, report, chosen, cert, output, None if cert_path is None else str(cert_path), notes)


def _domain_box(source: Network, net: Network, domain_path: str | Path, space: str, normalization: str,
                refuse_outside: bool) -> tuple[Box, list[str]]:
    """The --domain box over the prepared network's input, and warnings for inputs it reaches beyond the clip
    range; with `refuse_outside`, a box wholly outside the clip range on some input is refused (LumpcheckError)."""
    box = prepare_domain(source, read_box(domain_path, n_inputs=net.input_size), space, normalization)
    warnings, wholly = clip_report(net, box)
    if wholly and refuse_outside:
        raise LumpcheckError("refusing to certify on a box that lies wholly outside the model's input clip range "
                             f"({'; '.join(warnings)}): every such input is clipped onto one value, which usually "
                             "means the box is in the wrong units (see --domain-space); pass --allow-outside-clip "
                             "if it is meant", str(domain_path))
    return box, [f"WARNING: {w} (inputs are clipped; check the box's units, see --domain-space)" for w in warnings]


def _certify(model: str, staged: StagedReduction, red: Reduction, box: Box | None, exact: bool,
             semantics: str, arch: list[str] | None) -> Certificate:
    """Prove the staged file and write its certificate: strict when the file holds the quotient exactly, else an
    ε-certificate on the box. The certificate records the file's final name (NAME.unproved.EXT on failure)."""
    if exact:
        cert = prove(model, staged.model, red, domain=box, smtlib_dir=staged.smtlib, semantics=semantics,
                     original_arch=arch)
        cert.reduced.path = staged.recorded_name(cert.verdict)
        write_certificate(cert, staged.cert)
    else:
        doc = prove_epsilon(model, staged.model, red, box, red.network, smtlib_dir=staged.smtlib, semantics=semantics,
                            original_arch=arch)
        cert = as_certificate(doc)
        doc["models"]["reduced"]["path"] = cert.reduced.path = staged.recorded_name(cert.verdict)
        write_epsilon_certificate(doc, staged.cert)
    if staged.smtlib is not None:
        _write_claim_scripts(model, staged, red, box, semantics, arch, cert)
    return cert


def _write_claim_scripts(model: str, staged: StagedReduction, red: Reduction, box: Box | None, semantics: str,
                         arch: list[str] | None, cert: Certificate) -> None:
    """Beside the obligations' scripts, the whole claim with every assumption (the box, the phase claims) as
    SMT-LIB scripts that z3 or cvc5 alone re-checks (prove/claim_smt.py); none for sigmoid/tanh networks."""
    original, written = load_model(model, arch), load_model(staged.model)
    if not (original.piecewise_linear and written.piecewise_linear):
        return
    epsilon = cert.epsilon if cert.mode == "epsilon" else None
    for name, text in claim_scripts(original, written, red.relation, box, getattr(red, "claims", None), semantics,
                                    epsilon).items():
        write_text_atomic(staged.smtlib / name, text)


def _export(output: str, dtype: str, source: Network, network: Network) -> tuple[str, RoundingReport]:
    """The format the quotient is written in and what writing it changes (LumpcheckError for a float --dtype with a
    .nnet output, which holds exact decimals, not floats)."""
    if output.lower().endswith(".nnet"):
        if dtype != "auto":
            raise LumpcheckError(f"--dtype {dtype} does not apply to a .nnet output: .nnet stores every weight as its "
                                 "exact decimal, so nothing is rounded; drop --dtype, or write .onnx to get "
                                 f"{dtype} weights", output)
        return DECIMAL, decimal_report(network)
    return choose_dtype(dtype, str(source.meta.get("dtype", "float32")), network)  # .nnet: float32 when exact


def interface(source: Network, output: str, dtype: str, opset: int | None, network: Network,
              notes: list[str]) -> OnnxSignature | None:
    """The ONNX interface of the written model: the source's (an ONNX source), else 'input' [batch, n] with a
    float32 input (a float64 model widens it exactly by a Cast, so float32 feeds work). Adds a note when the
    written interface differs from the source's (an element type float32 cannot keep exactly, an opset raised)."""
    if not output.lower().endswith(".onnx"):
        return None
    kept = source.meta.get("onnx_signature")
    if kept is not None and not kept.fits(network.input_size, network.output_size):
        plain = OnnxSignature.default(network.input_size, network.output_size, kept.input_type, kept.opset)
        notes.append(f"ONNX interface {describe(plain)}: the source's {describe(kept)} cannot be kept (a batch axis 0 "
                     f"and {network.input_size} inputs, {network.output_size} outputs per sample do not fit its shapes)")
        kept = None
    elem = TensorProto.DOUBLE if source.meta.get("dtype") == "float64" and kept is None else TensorProto.FLOAT
    sig = kept or OnnxSignature.default(network.input_size, network.output_size, elem)
    written = written_signature(network, dtype, opset, sig)
    if kept is not None and written != kept:
        why = []
        if written.output_type != kept.output_type or written.input_type != kept.input_type:
            why.append(f"the weights are written as {dtype} (the source's element type cannot hold them exactly, "
                       "or --dtype asked for it)")
        if written.opset != kept.opset:
            why.append("the graph needs a higher opset" if opset is None else "--opset asked for it")
        notes.append(f"ONNX interface {describe(written)}; the source's: {describe(kept)} ({'; '.join(why)})")
    return sig


def marker_for(model: str, output: str, red: Reduction, box: Box | None, exact: bool, semantics: str,
               cert_name: str | None) -> dict[str, str]:
    """The lumpcheck marker of the written model (io/marker.py): the claim, its box, and its certificate."""
    original = f"{'the layer chain of ' if semantics == 'layers' else ''}{Path(model).name} (sha256 {sha256_file(model)})"
    only = getattr(red, "claims", None) is not None
    if not exact:
        claim = (f"rounds the exact reduction of {original}: within the ε of its certificate of the original ONLY on "
                 "the box in lumpcheck.domain; not outside it")
    elif only:
        claim = (f"equal to {original} ONLY on the input box in lumpcheck.domain (neurons stable there were removed "
                 "or folded); NOT valid outside it")
    else:
        claim = f"equal to {original} on all inputs (exact lumping)" + (
            "; certified on the box in lumpcheck.domain" if box is not None and cert_name else "")
    marker = {CLAIM: claim}
    if box is not None:
        marker[DOMAIN] = domain_value(box, Path(box.source).name if box.source else "")
    if cert_name:
        marker[CERTIFICATE] = (f"{cert_name} (it records this file's SHA-256; a file cannot hold the hash of a "
                               f"certificate that hashes it); re-check: lumpcheck check {cert_name} {Path(model).name} "
                               f"{Path(output).name}")
    return marker
