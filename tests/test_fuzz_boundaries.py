"""Property-based fuzzing of the public boundaries (issue 12), with hypothesis.

Generated bad configs, config files, manifests, output folders and command lines are thrown at
the boundaries. The properties: a bad input gives ValueError or TypeError (the library) or one
line on stderr with exit status 2 (the CLI) that names the parameter or file; never another
exception type, never a traceback; nothing is left behind. Runs are derandomized (the same
examples every run; a failure prints the example to replay).
"""

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpgemm.costmodel import pe_cost
from mpgemm.costmodel.accel import accel_cost
from mpgemm.hw.array.config import accel_from_dict
from mpgemm.hw.array.presets import ARRAY_PRESETS
from mpgemm.hw.flow import cli, generate, lint, synth
from mpgemm.hw.flow.cli import load_config_file
from mpgemm.hw.flow.manifest import MANIFEST
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import config_from_dict
from mpgemm.sim import runner

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def fuzz(examples: int) -> settings:
    """The fuzz settings with ``examples`` generated cases."""
    return settings(FUZZ, max_examples=examples)

#: Values a careless or hostile config file may hold.
NASTY = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2, 3, 7, 8, 16, 128, 4096, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "int8", "uint4", "fp16", "os", "ws", "shared", "exact", "\n",
                     "int_mac", "booth"]),
    st.text(max_size=8),
    st.none(), st.booleans(),
    st.lists(st.sampled_from(["int8", "uint4", "fp16", 1, None]), max_size=4),
    st.just({}), st.just([]),
)


def _names_something(message: str, data: dict) -> bool:
    """Whether an error message names a parameter of ``data`` (any level) or the config."""
    keys = {"config", "kind"}
    stack = [data]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            keys |= {str(k) for k in d}
            stack.extend(d.values())
    return any(k in message for k in keys)


@st.composite
def mutated(draw, base: dict, extra_keys=("lanez", "rows ", "", "KIND")):
    """``base`` (a config's to_dict) with a few keys set to nasty values or removed."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        target = data
        # Accelerator dicts nest: sometimes mutate the array or the PE level.
        while isinstance(target.get("array"), dict) and draw(st.booleans()):
            target = target["array"]
        if isinstance(target.get("pe"), dict) and draw(st.booleans()):
            target = target["pe"]
        key = draw(st.sampled_from(sorted(target) + list(extra_keys)))
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(NASTY)
    return data


def _check_library_error(build, data: dict) -> None:
    try:
        built = build(data)
    except (ValueError, TypeError) as e:
        assert _names_something(str(e), data), f"{type(e).__name__}: {e} names nothing of {data}"
        return
    # A config that builds is a buildable design: the cost model takes it.
    cost = (accel_cost if "array" in data else pe_cost)(built)
    assert math.isfinite(cost.area_um2) and cost.area_um2 > 0


@fuzz(300)
@given(st.sampled_from(sorted(PRESETS)).flatmap(
    lambda name: mutated(PRESETS[name].to_dict())))
def test_fuzz_pe_configs(data):
    _check_library_error(config_from_dict, data)


@fuzz(200)
@given(st.sampled_from(sorted(ARRAY_PRESETS)).flatmap(
    lambda name: mutated(ARRAY_PRESETS[name].to_dict())))
def test_fuzz_accelerator_configs(data):
    _check_library_error(accel_from_dict, data)


def run(main, argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, prog: str) -> None:
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"{prog}: error: "), err
    assert "Traceback" not in err


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=10)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6),
                                                                      children, max_size=4),
    max_leaves=12)


@st.composite
def config_file_bytes(draw) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == 2:
        base = PRESETS[draw(st.sampled_from(sorted(PRESETS)))].to_dict()
        return json.dumps(draw(mutated(base))).encode()
    text = json.dumps(PRESETS[draw(st.sampled_from(sorted(PRESETS)))].to_dict()).encode()
    if kind == 3:   # a few bytes corrupted or cut
        data = bytearray(text)
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return text[:draw(st.integers(0, len(text)))]


@fuzz(250)
@given(content=config_file_bytes())
def test_fuzz_config_files(tmp_path, capsys, content):
    path = tmp_path / "pe.json"
    path.write_bytes(content)
    try:
        load_config_file(path, "--config")
        bad_file = False
    except (ValueError, TypeError) as e:
        bad_file = True
        assert f"--config '{path}'" in str(e)
    code, out, err = run(cli.main, ["cost", "--config", str(path), "--M", "1", "--N", "1",
                                    "--K", "128"], capsys)
    if bad_file:
        assert_one_line_error(code, err, "mpgemm cost")
        assert f"--config '{path}'" in err and out == ""
    else:
        assert code == 0 or (code == 2 and err.count("\n") == 1), err


#: Numbers as a user may type them: mostly the edge cases, sometimes ordinary ones.
NUMBER_TEXT = st.one_of(
    st.sampled_from(["0", "-1", "1e3", "nan", "inf", "-inf", "", " ", "abc", "9" * 400,
                     "2147483648", "0x10", "1.5", "5e-324", "1e308", "9" * 40]),
    st.sampled_from(["9" * 400, "2147483647", "2147483648", "1e308", "5e-324"]),
    st.integers(min_value=-5, max_value=5000).map(str),
)
OPTIONS = {
    "cost": [("--M", NUMBER_TEXT), ("--N", NUMBER_TEXT), ("--K", NUMBER_TEXT),
             ("--preset", st.sampled_from(["int_mac_w8a8", "mixpe_w4a8", "lut_w2_a8", "nope",
                                           ""])),
             ("--llm", st.sampled_from(["4096,11008,32", "8,16,2", "1,2", "a,b,c", "9" * 400,
                                        "0,0,0"])),
             ("--tokens", NUMBER_TEXT), ("--phase", st.sampled_from(["prefill", "decode", "x"])),
             ("--act-format", st.sampled_from(["int8", "fp16", "", "int99"])),
             ("--weight-format", st.sampled_from(["int8", "uint4", "", "bitmod_fp4"])),
             ("--group-size", NUMBER_TEXT), ("--n-pe", NUMBER_TEXT),
             ("--freq-mhz", NUMBER_TEXT), ("--tech", st.sampled_from(["28", "45", "7"])),
             ("--json", None)],
    "compare": [("--act", st.sampled_from(["int8", "fp16", "x"])),
                ("--weights", st.sampled_from(["uint4", "int8,uint2", "", "nope"])),
                ("--presets", st.sampled_from(["int_mac_w8a8", "mixpe_w4a8,lut_w2_a8", "x"])),
                ("--target", NUMBER_TEXT)],
    "compare-arrays": [("--M", NUMBER_TEXT), ("--N", NUMBER_TEXT), ("--K", NUMBER_TEXT),
                       ("--mode", st.sampled_from(["throughput", "area", "power"])),
                       ("--target", NUMBER_TEXT), ("--tech", st.sampled_from(["28", "7"])),
                       ("--presets", st.sampled_from(["array_int_mac_os_4x4", "int8_32x32",
                                                      "nope", ""])),
                       ("--json", None)],
}


#: A valid command line of each command, which the fuzzer usually starts from (so that one bad
#: option at a time reaches the code behind the argument checks).
VALID = {
    "cost": ["--preset", "int_mac_w8a8", "--M", "16", "--N", "64", "--K", "256"],
    "compare": ["--presets", "int_mac_w8a8,mixpe_w4a8"],
    "compare-arrays": ["--M", "16", "--N", "16", "--K", "128"],
}


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command, *(VALID[command] if draw(st.integers(0, 3)) else [])]
    for option, values in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=4)):
        argv.append(option)
        if values is not None:
            argv.append(draw(values))
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "extra", "-x"])))
    return argv


@fuzz(600)
@given(argv=command_lines())
def test_fuzz_command_lines(capsys, argv):
    code, out, err = run(cli.main, argv, capsys)
    if code == 0:
        assert out and not err
        if "--json" in argv:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
    else:
        assert_one_line_error(code, err, "mpgemm" if err.startswith("mpgemm: ")
                              else f"mpgemm {argv[0]}")


@st.composite
def broken_rtl_folders(draw, base: Path) -> Path:
    """A folder with a manifest that is not a valid one (bytes, JSON, or a valid manifest
    with a mutation) or no manifest at all."""
    kind = draw(st.integers(0, 3))
    folder = Path(tempfile.mkdtemp(prefix="rtl", dir=base))
    if kind == 0:
        return folder
    if kind == 1:
        (folder / MANIFEST).write_bytes(draw(st.binary(max_size=64)))
    elif kind == 2:
        (folder / MANIFEST).write_text(json.dumps(draw(JSON_VALUES)))
    else:
        manifest = json.loads(json.dumps(VALID_MANIFEST))
        entry = manifest["designs"]["int_mac_w8a8_l1"]
        key = draw(st.sampled_from(sorted(entry) + ["designs", "generator"]))
        value = draw(NASTY)
        if key in ("designs", "generator"):
            manifest[key] = value
        else:
            entry[key] = value
        (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


VALID_MANIFEST: dict = {}


@pytest.fixture(scope="module")
def valid_rtl(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "rtl"
    VALID_MANIFEST.update(generate.write_rtl(out, {"int_mac_w8a8_l1":
                                                   PRESETS["int_mac_w8a8_l1"]}))
    return out


@fuzz(120)
@given(data=st.data(), which=st.sampled_from(["sim", "lint", "synth"]))
def test_fuzz_manifests(valid_rtl, tmp_path, capsys, data, which):
    folder = data.draw(broken_rtl_folders(tmp_path))
    main = {"sim": runner.main, "lint": lint.main, "synth": synth.main}[which]
    code, _, err = run(main, ["--rtl-dir", str(folder)], capsys)
    assert_one_line_error(code, err, f"mpgemm {which}")
    assert str(folder) in err


@st.composite
def bad_output_places(draw, base: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="out", dir=base))
    (root / "file").write_text("x")
    kind = draw(st.sampled_from(["file", "under file", "foreign", "deep under file"]))
    if kind == "file":
        return root / "file"
    if kind == "under file":
        return root / "file" / draw(st.sampled_from(["rtl", "a b", ".x"]))
    if kind == "deep under file":
        return root / "file" / "a" / "b"
    folder = root / "mine"
    folder.mkdir()
    (folder / draw(st.sampled_from(["notes.txt", "x.sv", "manifest.json.bak", "sub"]))) \
        .write_text("keep me")
    return folder


@fuzz(60)
@given(data=st.data())
def test_fuzz_output_folders(tmp_path, capsys, data):
    target = data.draw(bad_output_places(tmp_path))
    root = next(p for p in [target, *target.parents] if p.name.startswith("out"))
    before = {str(p): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}
    code, out, err = run(cli.main, ["rtl", "--out", str(target)], capsys)
    assert_one_line_error(code, err, "mpgemm rtl")
    assert f"--out '{target}'" in err and out == ""
    after = {str(p): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}
    assert after == before
    assert not [p for p in root.parent.iterdir() if ".staging-" in p.name]
