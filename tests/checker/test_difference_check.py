"""The independent checker: valid certificates check, and changing one field makes them invalid."""

import subprocess
import sys
import base64
import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.checker.difference import check_certificate
from lumpcheck.io import save_model
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network

from pair_helpers import epsilon_certificate_case, near_copy, random_box, random_net, sampled_max_difference




def _top1_relu_case():
    rng = np.random.default_rng(4)
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a = random_net(rng, [3, 6, 6, 3])
        b = near_copy(rng, a, "noise")
        centre = [Fraction(int(rng.integers(-2, 3)), 4) for _ in range(3)]
        box = Box(tuple(c - Fraction(1, 16) for c in centre), tuple(c + Fraction(1, 16) for c in centre))
        res = verify_pair(a, b, box, "top1", timeout=30, strategy="relu")
        if res.status == "unsat" and len(res.certificate["leaves"]) >= 2:
            return a, b, res.certificate
    pytest.skip("no random top1 instance needed ReLU splits")


@pytest.fixture(scope="module")
def eps_case():
    return epsilon_certificate_case()


@pytest.fixture(scope="module")
def relu_case():
    return _top1_relu_case()


def test_valid_certificates_check(eps_case, relu_case):
    a, b, cert, _ = eps_case
    res = check_certificate(cert, a, b)
    assert res.valid and res.scope.text.startswith("|A - B| <= ")  # two networks, not a model and its reduction
    a2, b2, cert2 = relu_case
    assert check_certificate(json.loads(json.dumps(cert2)), a2, b2).valid


def _tampered(cert, change):
    doc = copy.deepcopy(cert)
    change(doc)
    return doc


def test_missing_leaf_is_invalid(eps_case):
    a, b, cert, _ = eps_case
    doc = _tampered(cert, lambda d: d["leaves"].pop(len(d["leaves"]) // 2))
    res = check_certificate(doc, a, b)
    assert not res.valid
    assert "neither a leaf nor split" in res.reasons[0] or "lacks a side" in res.reasons[0]


def test_duplicated_leaf_is_invalid(eps_case):
    a, b, cert, _ = eps_case
    assert not check_certificate(_tampered(cert, lambda d: d["leaves"].append(d["leaves"][0])), a, b).valid


def test_moved_split_point_is_invalid(eps_case):
    a, b, cert, _ = eps_case

    def move(d):
        leaf = next(l for l in d["leaves"] if l["path"])
        leaf["path"][-1][2] = (float.fromhex(leaf["path"][-1][2]) * 0.5 + 0.125).hex()

    assert not check_certificate(_tampered(cert, move), a, b).valid


def test_smaller_epsilon_than_the_true_maximum_is_invalid(eps_case):
    """A claim that is false (ε below an observed difference) cannot be certified, whatever the leaves say."""
    a, b, cert, true_max = eps_case
    lie = Fraction(true_max * 0.9).limit_denominator(1024)
    doc = _tampered(cert, lambda d: d["claim"].__setitem__("mode", f"epsilon={lie.numerator}/{lie.denominator}"))
    assert not check_certificate(doc, a, b).valid


def test_changed_network_is_invalid(eps_case):
    a, b, cert, _ = eps_case
    w = a.layers[0].weight.copy()
    w[0, 0] = np.nextafter(w[0, 0], np.inf)
    a2 = Network([Layer(w, a.layers[0].bias, a.layers[0].activation)] + a.layers[1:])
    res = check_certificate(cert, a2, b)
    assert not res.valid and "sha256" in res.reasons[0]


def test_slopes_are_rederived_not_trusted(eps_case):
    """Huge recorded slopes are still sound (offsets are re-derived), so the bounds no longer close: invalid."""
    a, b, cert, _ = eps_case

    def poison(d):
        for leaf in d["leaves"]:
            raw = bytearray(base64.b64decode(leaf["slopes"]))
            n_p, n_a = np.frombuffer(bytes(raw[:8]), "<i4")
            if n_p:
                vals = np.frombuffer(bytes(raw[8 + 4 * n_p: 8 + 20 * n_p]), "<f4").copy()
                vals[:] = 1e6
                raw[8 + 4 * n_p: 8 + 20 * n_p] = vals.tobytes()
                leaf["slopes"] = base64.b64encode(bytes(raw)).decode()
                leaf["empty"] = True  # the flag is informative only
                return

    assert not check_certificate(_tampered(cert, poison), a, b).valid


def test_truncated_slopes_are_invalid(eps_case):
    a, b, cert, _ = eps_case
    doc = _tampered(cert, lambda d: d["leaves"][0].__setitem__("slopes", d["leaves"][0]["slopes"][:-8]))
    assert not check_certificate(doc, a, b).valid


def test_wrong_class_is_invalid(relu_case):
    a, b, cert = relu_case
    doc = _tampered(cert, lambda d: d["leaves"][0].__setitem__("class", (d["leaves"][0]["class"] + 1) % 3))
    assert not check_certificate(doc, a, b).valid


def test_dropped_relu_branch_is_invalid(relu_case):
    a, b, cert = relu_case
    assert not check_certificate(_tampered(cert, lambda d: d["leaves"].pop()), a, b).valid


KERNEL_RUN = """
import json, sys
from lumpcheck.checker.difference import check_certificate
from lumpcheck.io import load_model
result = check_certificate(sys.argv[1], load_model(sys.argv[2]), load_model(sys.argv[3]))
print(json.dumps({"valid": result.valid, "modules": sorted(m for m in sys.modules if m.startswith("lumpcheck"))}))
"""


def test_the_checker_runs_without_loading_untrusted_code(eps_case, tmp_path):
    a, b, cert, _ = eps_case
    save_model(a, tmp_path / "a.onnx", dtype="float64")
    save_model(b, tmp_path / "b.onnx", dtype="float64")
    (tmp_path / "c.json").write_text(json.dumps(cert))
    proc = subprocess.run([sys.executable, "-c", KERNEL_RUN, str(tmp_path / "c.json"), str(tmp_path / "a.onnx"),
                           str(tmp_path / "b.onnx")], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    assert out["valid"]
    untrusted = ("lumpcheck.equivalence", "lumpcheck.prove", "lumpcheck.reduction", "lumpcheck.apps",
                 "lumpcheck.solver", "lumpcheck.bounds.difference", "lumpcheck.bounds.outward")
    assert [m for m in out["modules"] if m.startswith(untrusted)] == []


def test_input_boxes_handing_over_to_one_network_check():
    """argmin on boxes: some boxes prove one network's decision in lockstep, then only the other's (both passes)."""
    rng = np.random.default_rng(22)
    a = random_net(rng, [2, 8, 8, 4])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    res = verify_pair(a, b, box, "argmin", timeout=30)
    assert res.status == "unsat"
    kinds = {(leaf["part"], leaf["pass"]) for leaf in res.certificate["leaves"]}
    assert {("a", "pair"), ("b", "single")} <= kinds or {("b", "pair"), ("a", "single")} <= kinds
    assert check_certificate(res.certificate, a, b).valid
    doc = _tampered(res.certificate, lambda d: d["leaves"][0].__setitem__("pass", "both"))
    assert not check_certificate(doc, a, b).valid


def _set_all_slopes(doc: dict, values: list[float]) -> None:
    """Overwrite every recorded slope of every leaf (records: int32 n_p, n_a, int32[n_p], float32[n_p][4],
    int32[n_a], float32[n_a][2] per hidden layer) with the given values, cycling through them."""
    k = 0
    for leaf in doc["leaves"]:
        raw = bytearray(base64.b64decode(leaf["slopes"]))
        pos = 0
        while pos < len(raw):
            n_p, n_a = np.frombuffer(bytes(raw[pos:pos + 8]), "<i4")
            pos += 8 + 4 * int(n_p)
            for count in (4 * int(n_p), None):
                if count is None:
                    pos += 4 * int(n_a)
                    count = 2 * int(n_a)
                new = np.array([values[(k + i) % len(values)] for i in range(count)], dtype="<f4")
                raw[pos:pos + 4 * count] = new.tobytes()
                k += count
                pos += 4 * count
        leaf["slopes"] = base64.b64encode(bytes(raw)).decode()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(-4, 4, width=32), min_size=1, max_size=7))
def test_no_slopes_certify_a_false_claim(eps_case, values):
    """Slopes inside or outside [0, 1]: offsets are re-derived, so a claim that is false (ε below a difference
    the networks really reach) is never valid, whatever the optimiser recorded."""
    a, b, cert, true_max = eps_case
    lie = Fraction(true_max * 0.9).limit_denominator(1024)

    def change(d):
        d["claim"]["mode"] = f"epsilon={lie.numerator}/{lie.denominator}"
        _set_all_slopes(d, values)

    assert not check_certificate(_tampered(cert, change), a, b).valid


def test_enlarged_box_is_invalid(eps_case):
    """The claim's box grown around its centre: the networks differ by more than ε there, the leaves no longer
    close (their split points stay, the outer boxes grow)."""
    a, b, cert, _ = eps_case
    lower = [Fraction(v) for v in cert["claim"]["box"]["lower"]]
    upper = [Fraction(v) for v in cert["claim"]["box"]["upper"]]
    big = Box(tuple(l - 4 * (u - l) for l, u in zip(lower, upper)), tuple(u + 4 * (u - l) for l, u in zip(lower, upper)))
    eps = Fraction(cert["claim"]["mode"].split("=")[1])
    assert sampled_max_difference(a, b, big, np.random.default_rng(0), 5000) > eps  # the bigger claim is false

    def change(d):
        d["claim"]["box"] = {"lower": [str(v) for v in big.lower], "upper": [str(v) for v in big.upper]}

    assert not check_certificate(_tampered(cert, change), a, b).valid


def test_claim_about_the_models_needs_their_comparison_box(eps_case):
    """A certificate naming the models' box ("models") is checked on the comparison form of that box: a
    different box there is refused even though the leaves are unchanged."""
    a, b, cert, _ = eps_case
    box = cert["claim"]["box"]
    ok = _tampered(cert, lambda d: d["claim"].__setitem__("models", {"domain": box}))
    assert check_certificate(ok, a, b).valid
    shifted = {"lower": [str(Fraction(v) - 1) for v in box["lower"]], "upper": box["upper"]}
    bad = _tampered(cert, lambda d: d["claim"].__setitem__("models", {"domain": shifted}))
    res = check_certificate(bad, a, b)
    assert not res.valid and "comparison form" in res.reasons[0]


def test_numbers_are_read_only_as_the_spec_writes_them(eps_case):
    """Exact values are 'p/q' texts and split entries are numbers: a JSON boolean (Python reads true as 1) or a bare
    JSON number in their place makes the document malformed, even where the value it would stand for is right."""
    a, b, cert, _ = eps_case
    box = cert["claim"]["box"]
    side = next(l for l in cert["leaves"] if l["path"])["path"][-1][3]

    def as_boolean(d):
        next(l for l in d["leaves"] if l["path"] and l["path"][-1][3] == side)["path"][-1][3] = bool(side)

    changes = [lambda d: d["claim"]["box"]["lower"].__setitem__(0, float(Fraction(box["lower"][0]))), as_boolean]
    if Fraction(box["upper"][0]) in (0, 1):
        changes.append(lambda d: d["claim"]["box"]["upper"].__setitem__(0, bool(Fraction(box["upper"][0]))))
    for change in changes:
        res = check_certificate(_tampered(cert, change), a, b)
        assert not res.valid, (changes.index(change), res.reasons)


def test_the_document_needs_both_its_format_and_its_version(eps_case):
    """Kills: a document accepted when only one of format and version is right."""
    a, b, cert, _ = eps_case
    for key in ("format", "version"):
        res = check_certificate(_tampered(cert, lambda d: d.__setitem__(key, "other")), a, b)
        assert not res.valid and res.reasons[0].startswith("not a "), (key, res.reasons)


def test_outward_rounding_steps_are_outward():
    """Kills: `up`/`dn` rounding the wrong way. Each must move past the next float in its direction (the float-sound
    bounds rely on it), for zero, subnormals, normal numbers of both signs and huge values."""
    from lumpcheck.checker.difference_bounds import dn, up

    xs = np.array([0.0, 5e-324, -5e-324, 1e-310, 1.0, -1.0, 0.1, -3.7e5, 1e300, -1e300])
    assert np.all(up(xs) >= np.nextafter(xs, np.inf)) and np.all(dn(xs) <= np.nextafter(xs, -np.inf))


def test_the_check_runs_with_one_blas_thread_and_the_same_verdict(eps_case, monkeypatch):
    """The checker limits BLAS to one thread while it works (speed on a shared machine; the rounding charges hold
    for any summation order), and restores the caller's setting afterwards."""
    from threadpoolctl import threadpool_info

    from lumpcheck.checker import difference_pass

    a, b, cert, _ = eps_case
    seen = []
    original = difference_pass.hidden_pass

    def spy(*args, **kwargs):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return original(*args, **kwargs)

    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    monkeypatch.setattr(difference_pass, "hidden_pass", spy)
    monkeypatch.setattr("lumpcheck.checker.difference.hidden_pass", spy)
    assert check_certificate(cert, a, b).valid
    assert seen and set(seen) == {1}
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before
    tampered = copy.deepcopy(cert)
    tampered["claim"]["mode"] = "epsilon=0"
    assert not check_certificate(tampered, a, b).valid
