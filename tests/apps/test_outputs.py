"""Never destroy or half-write: outputs naming an input or each other are refused (exit 2) with the input untouched;
a failed proof publishes nothing under the requested names; outputs appear together and leave no temporary files."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import lumpcheck.apps.pipeline as pipeline
from lumpcheck.apps.cli import cli
from lumpcheck.apps.console import EXIT_REFUTED, EXIT_USAGE
from lumpcheck.apps.outputs import Named, OutputClash, Publication, Target, failed_name, refuse_clashes
from lumpcheck.checker import check
from lumpcheck.ir.network import Layer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def work(tmp_path):
    """A directory holding a copy of the example model and its box (the inputs a run must never touch)."""
    shutil.copy(EXAMPLES / "planted_relu.onnx", tmp_path / "model.onnx")
    shutil.copy(EXAMPLES / "box.vnnlib", tmp_path / "box.vnnlib")
    return tmp_path


def run(*args, cwd: Path | None = None):
    if cwd is None:
        return CliRunner().invoke(cli, [str(a) for a in args])
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(old)


def listing(directory: Path) -> dict[str, str]:
    """Every entry under `directory` (hidden ones included) with the SHA-256 of its bytes ('dir' / 'link -> …')."""
    out = {}
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_symlink():
            out[rel] = f"link -> {os.readlink(p)}"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def refused(res, *names: str) -> None:
    assert res.exit_code == EXIT_USAGE, res.output
    line = res.output.strip()
    assert "\n" not in line and "Traceback" not in line, line
    for name in names:
        assert name in line, (name, line)


# ---------------------------------------------------------------- refusals


def test_output_over_the_input_model_is_refused(work):
    before = listing(work)
    res = run("reduce", "model.onnx", "-o", "model.onnx", cwd=work)
    refused(res, "-o model.onnx", "MODEL model.onnx", "itself")
    assert listing(work) == before


def test_symlink_output_to_the_input_is_refused(work):
    (work / "link.onnx").symlink_to("model.onnx")
    before = listing(work)
    res = run("reduce", work / "model.onnx", "-o", work / "link.onnx")
    refused(res, "link.onnx", "model.onnx", "a link to it")
    assert listing(work) == before and (work / "link.onnx").is_symlink()


def test_hard_link_output_to_the_input_is_refused(work):
    os.link(work / "model.onnx", work / "twin.onnx")
    before = listing(work)
    refused(run("reduce", work / "model.onnx", "-o", work / "twin.onnx"), "twin.onnx", "model.onnx")
    assert listing(work) == before


def test_certificate_over_the_model_or_the_output_is_refused(work):
    before = listing(work)
    refused(run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "model.onnx", cwd=work),
            "--certify model.onnx", "MODEL model.onnx")
    refused(run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "small.onnx", cwd=work),
            "-o small.onnx", "--certify small.onnx", "same file")
    refused(run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "./sub/../small.onnx", cwd=work),
            "small.onnx")  # different spelling, same (future) file
    refused(run("reduce", "model.onnx", "-o", "box.vnnlib", "--domain", "box.vnnlib", cwd=work), "--domain box.vnnlib")
    assert listing(work) == before


def test_smtlib_directory_holding_an_input_or_output_is_refused(work):
    before = listing(work)
    refused(run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", "--smtlib", ".", cwd=work),
            "--smtlib .", "MODEL model.onnx")
    refused(run("reduce", work / "model.onnx", "-o", work / "obl" / "small.onnx", "--certify", work / "c.json",
                "--smtlib", work / "obl"), "--smtlib", "contains the output -o")
    assert listing(work) == before
    res = run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", "--smtlib", "model.onnx", cwd=work)
    assert res.exit_code == EXIT_USAGE and "is a file" in res.output  # click's own check
    assert listing(work) == before


def test_the_failure_names_are_checked_too(work):
    """-o small.onnx --certify would keep an unproved model as small.unproved.onnx: that must not be an input."""
    shutil.copy(work / "model.onnx", work / "small.unproved.onnx")
    before = listing(work)
    res = run("reduce", "small.unproved.onnx", "-o", "small.onnx", "--certify", "c.json", cwd=work)
    refused(res, "small.unproved.onnx", "if the run fails")
    assert listing(work) == before
    assert run("reduce", "small.unproved.onnx", "-o", "small.onnx", cwd=work).exit_code == 0  # no proof: no failure name


def test_report_approx_and_zoo_refuse_to_overwrite_inputs(work):
    assert run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", cwd=work).exit_code == 0
    before = listing(work)
    refused(run("report", "c.json", "-o", "c.json", cwd=work), "-o c.json", "CERTIFICATE c.json")
    refused(run("report", "c.json", "-o", "small.onnx", cwd=work), "-o small.onnx", "reduced model")
    refused(run("approx", "model.onnx", "--domain", "box.vnnlib", "-t", "0.3", "-o", "model.onnx", cwd=work), "MODEL")
    (work / "sub").mkdir()
    refused(run("zoo", work, "-o", work), "is the input DIRECTORY")
    refused(run("zoo", work / "sub", "-o", work), "contains the input DIRECTORY")
    res = run("zoo", work, "-o", work / "c.json")
    assert res.exit_code == EXIT_USAGE and "is a file" in res.output  # click's own check
    assert listing(work) == {**before, "sub": "dir"}


def test_zoo_refuses_an_output_directory_holding_a_model(tmp_path):
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    shutil.copy(EXAMPLES / "planted_relu.onnx", out / "models" / "m.onnx")
    (tmp_path / "in").mkdir()
    shutil.copy(EXAMPLES / "box.vnnlib", tmp_path / "box.vnnlib")
    (tmp_path / "in" / "map.csv").write_text("../out/models/m.onnx,../box.vnnlib,60\n")
    before = listing(tmp_path)
    refused(run("zoo", tmp_path / "in", "-o", out, "--domain-map", tmp_path / "in" / "map.csv"), "-o", "m.onnx")
    assert listing(tmp_path) == before


def test_refuse_clashes_api():
    refuse_clashes([Named("MODEL", "a.onnx"), Named("--domain", None)], [Named("-o", "b.onnx")])  # no clash: no error
    with pytest.raises(OutputClash) as e:
        refuse_clashes([], [Target("-o", Path("x/a.onnx"), failed_name("x/a.onnx", "unproved")),
                            Named("--certify", "x/a.unproved.onnx")])
    assert e.value.exit_code == EXIT_USAGE and "a.unproved.onnx" in str(e.value)
    assert failed_name("d/small.onnx", "unproved") == Path("d/small.unproved.onnx")
    assert failed_name("cert.json", "failed") == Path("cert.failed.json")
    assert failed_name("obligations", "unproved", directory=True) == Path("obligations.unproved")


# ---------------------------------------------------------------- publishing


def _reduced(doc_path: Path) -> dict:
    return json.loads(doc_path.read_text())["models"]["reduced"]


def test_proved_outputs_appear_under_the_requested_names(work):
    res = run("reduce", "model.onnx", "-o", "new/small.onnx", "--certify", "c.json", "--smtlib", "obl", cwd=work)
    assert res.exit_code == 0, res.output
    names = set(listing(work))
    assert {"new/small.onnx", "c.json", "obl"} <= names and not any(Path(n).name.startswith(".") for n in names)
    assert any(n.endswith(".smt2") for n in names if n.startswith("obl/"))
    recorded = _reduced(work / "c.json")
    assert recorded["path"] == "new/small.onnx"  # the final name, not the staged temporary file
    assert recorded["sha256"] == hashlib.sha256((work / "new/small.onnx").read_bytes()).hexdigest()
    assert check(work / "c.json", work / "model.onnx", work / "new/small.onnx").valid


def test_rerun_replaces_an_earlier_smtlib_set_whole(work):
    (work / "obl").mkdir()
    (work / "obl" / "stale.smt2").write_text("(check-sat)\n")
    res = run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", "--smtlib", "obl", cwd=work)
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (work / "obl").iterdir())
    assert files and "stale.smt2" not in files and all(f.endswith(".smt2") for f in files)
    (work / "obl" / "notes.txt").write_text("mine")
    before = listing(work)
    res = run("reduce", "model.onnx", "-o", "small2.onnx", "--certify", "c2.json", "--smtlib", "obl", cwd=work)
    refused(res, "--smtlib", "notes.txt")
    assert listing(work) == before


@pytest.fixture
def failing_proof(monkeypatch):
    """The reducer hands over a quotient with one output bias off by one: a real reduction whose proof fails."""
    real = pipeline.lump

    def off_by_one(net, **options):
        red = real(net, **options)
        last = red.network.layers[-1]
        bias = last.bias.copy()
        bias[0] += 1
        red.network.layers[-1] = Layer(last.weight, bias, last.activation)  # IR arrays are read-only
        return red

    monkeypatch.setattr(pipeline, "lump", off_by_one)


def test_failed_proof_publishes_nothing_under_the_requested_names(work, failing_proof):
    (work / "small.onnx").write_bytes(b"an earlier file of the user's")
    before = listing(work)
    res = run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", "--smtlib", "obl", cwd=work)
    assert res.exit_code == EXIT_REFUTED, res.output
    assert "proof FAILED" in res.output and "L3.linear" in res.output and "constant term" in res.output
    assert "small.unproved.onnx" in res.output and "c.failed.json" in res.output and "nothing written under" in res.output
    after = listing(work)
    assert {k: v for k, v in after.items() if k in before} == before  # every earlier file untouched
    new = set(after) - set(before)
    assert {"small.unproved.onnx", "c.failed.json", "obl.unproved"} <= new
    assert not {"c.json", "obl"} & new and not any(Path(n).name.startswith(".") for n in new)
    recorded = _reduced(work / "c.failed.json")
    assert recorded["path"] == "small.unproved.onnx"
    assert recorded["sha256"] == hashlib.sha256((work / "small.unproved.onnx").read_bytes()).hexdigest()
    assert json.loads((work / "c.failed.json").read_text())["verdict"] == "failed"
    assert not check(work / "c.failed.json", work / "model.onnx", work / "small.unproved.onnx").valid


def test_failed_proof_json_names_the_kept_files(work, failing_proof):
    res = run("reduce", "model.onnx", "-o", "small.onnx", "--certify", "c.json", "--json", cwd=work)
    assert res.exit_code == EXIT_REFUTED
    doc = json.loads(res.stdout)
    assert (doc["output"], doc["certificate"], doc["verdict"]) == ("small.unproved.onnx", "c.failed.json", "failed")
    assert [f["id"] for f in doc["failures"]] == ["L3.linear"]


def test_an_error_mid_run_leaves_no_files(work, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(pipeline, "prove", broken)
    before = listing(work)
    res = run("reduce", "model.onnx", "-o", "deep/er/small.onnx", "--certify", "c.json", "--smtlib", "obl", cwd=work)
    assert res.exit_code == 70 and "solver crashed" in res.output
    assert listing(work) == before  # no output, no temporary file, not even the directories made for them


def test_publication_is_all_or_nothing(tmp_path):
    targets = [Target("-o", tmp_path / "a.onnx", tmp_path / "a.unproved.onnx"),
               Target("--smtlib", tmp_path / "d", tmp_path / "d.unproved", directory=True)]
    with pytest.raises(KeyboardInterrupt):
        with Publication(targets) as pub:
            pub.staged(targets[0]).write_bytes(b"model")
            (pub.staged(targets[1]) / "x.smt2").write_text("(check-sat)\n")
            assert len(list(tmp_path.iterdir())) == 2  # staged: hidden, beside the targets
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with Publication(targets) as pub:
        pub.staged(targets[0]).write_bytes(b"model")
        where = pub.publish(ok=False)
    assert where == {t.path: t.failed for t in targets}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.unproved.onnx", "d.unproved"]
    assert (tmp_path / "a.unproved.onnx").read_bytes() == b"model"


def test_zoo_job_with_a_failed_proof_keeps_the_unproved_files(tmp_path, failing_proof):
    """A zoo model process (run here, in-process, so the failing reducer applies) whose proof fails."""
    from lumpcheck.apps.zoo import child_main
    from lumpcheck.apps.zoo_summary import Row, ZooResult, index_html

    directory = tmp_path / "out" / "models" / "m"
    directory.mkdir(parents=True)
    spec = {"model": str(EXAMPLES / "planted_relu.onnx"), "domain": None, "dir": str(directory), "suffix": ".onnx",
            "dtype": "auto", "normalization": "keep", "memory_mb": None}
    (directory / "job.json").write_text(json.dumps(spec))
    assert child_main(str(directory / "job.json")) == 0
    result = json.loads((directory / "result.json").read_text())
    assert result["status"] == "failed" and result["reason"].startswith("proof failed: L3.linear")
    assert result["verdict"] == "failed"
    names = {p.name for p in directory.iterdir()}
    assert {"reduced.unproved.onnx", "cert.failed.json", "report.html"} <= names
    assert not {"reduced.onnx", "cert.json"} & names and not [n for n in names if n.startswith(".")]
    page = index_html(ZooResult([Row("m.onnx", status=result["status"], reason=result["reason"], dir="models/m")], 1.0,
                                str(tmp_path / "out")))
    assert 'href="models/m/reduced.unproved.onnx">unproved model' in page and "failed certificate" in page


def test_an_output_the_file_system_refuses_is_a_one_line_error(tmp_path):
    """-o under a regular file (its parent cannot be a directory): exit 2 naming the path, no internal error."""
    (tmp_path / "plain").write_text("x")
    model = Path(__file__).parents[2] / "examples" / "planted_relu.onnx"
    for args in (["reduce", model, "-o", tmp_path / "plain" / "sub" / "o.onnx"],
                 ["verify", model, model, "--results-file", tmp_path / "plain" / "r.txt"]):
        res = CliRunner().invoke(cli, [str(a) for a in args])
        assert res.exit_code == 2 and "plain" in res.output and "internal error" not in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
