"""Every boundary rejects bad input cleanly and nothing is half-written (issue 12).

Input files (config files, manifests, synthesis reports), output folders (``write_rtl``,
``mpgemm rtl --out``, ``make synth``'s reports), names, numbers and object types: each bad input
gives one clear error naming the parameter or file; a failure leaves the previous output as it
was and no stray files. The kill -9 test is here too.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mpgemm.costmodel.compare import equal_throughput
from mpgemm.hw.flow import cli, fileio, generate, lint, synth
from mpgemm.hw.flow.fileio import InputFileError, OutputFolderError, read_json_file
from mpgemm.hw.flow.generate import (
    RTL_DIR,
    check_designs,
    generate_verilog,
    write_rtl,
)
from mpgemm.hw.flow.manifest import MANIFEST, VERILOG_KEYWORDS, check_module_name, load_manifest
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.sim import runner
from mpgemm.sim.golden.contract import QuantizedWeights, gemm
from mpgemm.sim.golden.mac import int_mac_step

SMALL = {"int_mac_w8a8_l1": PRESETS["int_mac_w8a8_l1"], "int_mac_w4a8": PRESETS["int_mac_w4a8"]}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def stray(parent: Path) -> list[str]:
    """Hidden staging or temporary entries left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def small_rtl(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "rtl"
    write_rtl(out, SMALL)
    return out


@pytest.fixture
def rtl_copy(small_rtl, tmp_path) -> Path:
    out = tmp_path / "rtl"
    out.mkdir()
    for p in small_rtl.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


# --- strict JSON files ---------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not valid JSON: Expecting property name"),
    (b"", "is not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text (byte 0 is 0x89); is it a binary file?"),
    ('{"kind": "int_mac"}'.encode("utf-16"), "starts with a byte-order mark"),
    ('{"kind": "int_mac"}'.encode("utf-16-le"), "is not text: it holds NUL bytes"),
    (b'\xef\xbb\xbf{"kind": "int_mac"}', "starts with a byte-order mark"),
    (b'{"a": 1, "a": 2}', "key 'a' appears more than once in an object"),
    (b'{"x": {"a": 1, "b": 2, "a": 3}}', "key 'a' appears more than once"),
    (b'{"lanes": NaN}', "NaN is not a JSON number"),
    (b'{"lanes": -Infinity}', "-Infinity is not a JSON number"),
    (b"[" * 65 + b"]" * 65, "nests objects and lists 65 deep; at most 64 are allowed"),
    (b"[" * 100_000 + b"]" * 100_000, "nests objects and lists too deeply to read"),
])
def test_read_json_file_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "in.json"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as info:
        read_json_file(path, "--config 'in.json'")
    assert str(info.value).startswith("--config 'in.json'")
    assert message in str(info.value)


def test_read_json_file_missing_folder_unreadable(tmp_path, monkeypatch):
    with pytest.raises(InputFileError, match=r"'.*nope\.json': no such file"):
        read_json_file(tmp_path / "nope.json")
    with pytest.raises(InputFileError, match="is a folder, not a file"):
        read_json_file(tmp_path)
    path = tmp_path / "locked.json"
    path.write_text("{}")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(InputFileError, match="locked.json': permission denied"):
        read_json_file(path)


def test_read_json_file_accepts_what_we_write(tmp_path):
    path = tmp_path / "ok.json"
    data = {"kind": "int_mac", "nested": [[[1, 2.5, 'x\\"y [ {']]], "deep": [[[[{}]]]]}
    path.write_text(json.dumps(data))
    assert read_json_file(path) == data


# --- config files given to the CLI -----------------------------------------------------------

def run_cli(capsys, *argv):
    code = exit_status(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("content, message", [
    ('["int_mac"]', "config must be a mapping, not list"),
    ('{"kind": ["int_mac"]}', "config kind must be one of"),
    ('{"kind": "int_mac", "lanes": "4"}', "lanes"),
    ('{"kind": "int_mac", "lanez": 4}', "unknown IntMacConfig parameter(s) 'lanez'"),
    ('{"kind": "int_mac", "kind": "int_mac"}', "key 'kind' appears more than once"),
    ('{"kind": "int_mac", "lanes": 1e999}', "lanes"),
])
def test_config_file_errors_name_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "pe.json"
    path.write_text(content)
    code, out, err = run_cli(capsys, "cost", "--config", str(path), "--M", "1", "--N", "1",
                             "--K", "4")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"mpgemm cost: error: --config '{path}'")
    assert message in err


def test_config_file_unreadable_is_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "pe.json"
    path.write_text('{"kind": "int_mac"}')
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")))
    code, _, err = run_cli(capsys, "cost", "--config", str(path), "--M", "1", "--N", "1",
                           "--K", "4")
    assert code == 2 and err == f"mpgemm cost: error: --config '{path}': permission denied " \
                                 "(cannot read it)\n"


# --- numbers ---------------------------------------------------------------------------------

HUGE = "9" * 400


@pytest.mark.parametrize("argv, message", [
    (["cost", "--preset", "int_mac_w8a8", "--M", HUGE, "--N", "4", "--K", "4"],
     "--M must be at most 2,147,483,647, not a 400-digit number"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4", "--n-pe", HUGE],
     "--n-pe must be at most 2,147,483,647"),
    (["cost", "--preset", "int_mac_w8a8", "--llm", f"4096,11008,{HUGE}", "--tokens", "4"],
     "n_heads must be at most 2,147,483,647"),
    (["cost", "--preset", "int_mac_w8a8", "--llm", "4096,11008,32", "--tokens", HUGE],
     "--tokens must be at most"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4",
      "--freq-mhz", "1e308"], "freq_mhz must be a finite number in [0.001, 1e+06] MHz"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4",
      "--freq-mhz", "5e-324"], "freq_mhz must be a finite number in [0.001, 1e+06] MHz"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4",
      "--freq-mhz", "nan"], "freq_mhz must be a finite number"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4",
      "--act-format", ""], "--act-format is empty"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "4", "--K", "4",
      "--weight-format", " "], "--weight-format is empty"),
    (["compare", "--target", "inf"], "target_macs_per_cycle must be a finite number"),
    (["compare", "--target", "-0"], "target_macs_per_cycle must be a finite number"),
    (["compare-arrays", "--M", HUGE, "--N", "4", "--K", "4"], "--M must be at most"),
    (["compare-arrays", "--M", "4", "--N", "4", "--K", "4", "--target", "1e400"],
     "target must be a finite number in (0, 1e+15]"),
])
def test_numbers_are_bounded(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_cost_json_is_strict_json(capsys):
    code, out, _ = run_cli(capsys, "cost", "--preset", "int_mac_w8a8", "--M", "1", "--N", "1",
                           "--K", "4", "--json")
    assert code == 0

    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    json.loads(out, parse_constant=refuse)


# --- names and object types --------------------------------------------------------------------

@pytest.mark.parametrize("name, error, message", [
    ("good_name\n", ValueError, "is not a valid module name"),
    ("Bad", ValueError, "is not a valid module name"),
    ("9lives", ValueError, "is not a valid module name"),
    ("a-b", ValueError, "is not a valid module name"),
    ("", ValueError, "is not a valid module name"),
    ("x" * 129, ValueError, "is 129 characters long; at most 128"),
    ("module", ValueError, "is a Verilog/SystemVerilog keyword"),
    ("logic", ValueError, "is a Verilog/SystemVerilog keyword"),
    ("wire", ValueError, "is a Verilog/SystemVerilog keyword"),
    (None, TypeError, "must be a str, not NoneType"),
    (b"abc", TypeError, "must be a str, not bytes"),
])
def test_module_names(name, error, message):
    with pytest.raises(error, match=message):
        check_module_name(name, "name")
    with pytest.raises(error, match=message):
        generate_verilog(PRESETS["int_mac_w8a8_l1"], name)


def test_keyword_list_covers_both_languages():
    # Verilog-2005 and SystemVerilog-2017 words, and none of our own presets.
    assert {"always_ff", "endmodule", "interface", "uwire", "nettype", "implements"} \
        <= VERILOG_KEYWORDS
    assert not VERILOG_KEYWORDS & set(PRESETS)
    assert all(check_module_name(n) == n for n in PRESETS)


@pytest.mark.parametrize("bad", [None, "int_mac_w8a8", {"kind": "int_mac"}, 3])
def test_non_configs_are_type_errors(bad, tmp_path):
    with pytest.raises(TypeError, match="config must be a PE config"):
        generate_verilog(bad, "x")
    with pytest.raises(TypeError, match=r"designs\['x'\] must be a PE config"):
        write_rtl(tmp_path / "rtl", {"x": bad})
    with pytest.raises(TypeError, match=r"designs\['x'\] must be a PE config"):
        equal_throughput({"x": bad}, "int8", ["int8"])
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("designs, error, message", [
    ({}, ValueError, "designs is empty"),
    ([("x", PRESETS["fp16_mac"])], TypeError, "designs must be a mapping"),
    ({"module": PRESETS["fp16_mac"]}, ValueError, "keyword"),
    ({"ok\n": PRESETS["fp16_mac"]}, ValueError, "not a valid module name"),
])
def test_design_sets(designs, error, message):
    with pytest.raises(error, match=message):
        check_designs(designs)


# --- write_rtl: all or nothing ---------------------------------------------------------------

@pytest.mark.synth  # writes Verilog (Amaranth's Yosys)
def test_failure_part_way_leaves_the_folder_as_it_was(rtl_copy, monkeypatch):
    before = snapshot(rtl_copy)
    # A bad name is refused before any work...
    with pytest.raises(ValueError, match="keyword"):
        write_rtl(rtl_copy, {"fp16_mac": PRESETS["fp16_mac"], "wire": PRESETS["fp16_mac"]})
    assert snapshot(rtl_copy) == before and stray(rtl_copy.parent) == []
    # ...and a design that fails after the first one was generated and staged changes nothing.
    real = generate.generate_verilog

    def fail_second(config, name):
        if name == "int_mac_w4a8":
            raise RuntimeError("elaboration failed")
        return real(config, name)

    monkeypatch.setattr(generate, "generate_verilog", fail_second)
    changed = {"int_mac_w8a8_l1": replace(PRESETS["int_mac_w8a8_l1"], acc_bits=28),
               "int_mac_w4a8": PRESETS["int_mac_w4a8"]}
    with pytest.raises(RuntimeError, match="elaboration failed"):
        write_rtl(rtl_copy, changed)
    assert snapshot(rtl_copy) == before and stray(rtl_copy.parent) == []


@pytest.mark.synth  # writes Verilog (Amaranth's Yosys)
def test_failing_manifest_write_leaves_the_folder_as_it_was(rtl_copy, monkeypatch):
    before = snapshot(rtl_copy)
    real = fileio.link_or_write

    def fail_on_manifest(dest, text, previous):
        if dest.name == MANIFEST:
            raise OSError(28, "No space left on device")
        return real(dest, text, previous)

    monkeypatch.setattr(generate, "link_or_write", fail_on_manifest)
    changed = {"int_mac_w8a8_l1": replace(PRESETS["int_mac_w8a8_l1"], acc_bits=28)}
    with pytest.raises(OSError, match="No space left"):
        write_rtl(rtl_copy, changed)
    assert snapshot(rtl_copy) == before and stray(rtl_copy.parent) == []


@pytest.mark.synth  # writes Verilog (Amaranth's Yosys)
def test_a_successful_write_replaces_exactly(rtl_copy):
    first = (rtl_copy / "int_mac_w8a8_l1.v").stat()
    manifest = write_rtl(rtl_copy, {"int_mac_w8a8_l1": PRESETS["int_mac_w8a8_l1"]})
    assert sorted(p.name for p in rtl_copy.iterdir()) == ["int_mac_w8a8_l1.v", MANIFEST]
    # An unchanged file is the same file (hard link): make and simulator caches see no change.
    assert (rtl_copy / "int_mac_w8a8_l1.v").stat().st_mtime_ns == first.st_mtime_ns
    assert load_manifest(rtl_copy) == manifest
    assert stray(rtl_copy.parent) == []


def _bad_output(base: Path, case: str) -> Path:
    """A path `write_rtl` must refuse, made under ``base``."""
    (base / "f").write_text("x")
    if case == "a file":
        return base / "f"
    if case == "under a file":
        return base / "f" / "rtl"
    folder = base / "home"
    folder.mkdir()
    if case == "a foreign file":
        (folder / "notes.txt").write_text("mine")
    else:
        (folder / "sub").mkdir()
    return folder


@pytest.mark.parametrize("case, message", [
    ("a file", "is a file, not a folder"),
    ("under a file", "which is a file"),
    ("a foreign file", "holds 'notes.txt', which this tool did not write"),
    ("a foreign folder", "holds 'sub', which this tool did not write"),
])
def test_output_folder_errors(tmp_path, capsys, case, message):
    target = _bad_output(tmp_path, case)
    before = snapshot(tmp_path)
    with pytest.raises(OutputFolderError, match=message):
        write_rtl(target, SMALL)
    code, out, err = run_cli(capsys, "rtl", "--out", str(target))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"mpgemm rtl: error: --out '{target}'") and message in err
    assert snapshot(tmp_path) == before and stray(tmp_path) == []


def test_read_only_output_folder(tmp_path, monkeypatch, capsys):
    target = tmp_path / "ro"
    target.mkdir()
    monkeypatch.setattr(fileio.os, "access", lambda path, mode: Path(path) != target)
    code, _, err = run_cli(capsys, "rtl", "--out", str(target))
    assert code == 2 and f"--out '{target}': '{target}' is not writable" in err
    monkeypatch.setattr(fileio.os, "access", lambda path, mode: False)
    code, _, err = run_cli(capsys, "rtl", "--out", str(target / "new"))
    assert code == 2 and f"cannot create it, '{target}' is not writable" in err


KILL_CHILD = """
import sys
from mpgemm.hw.flow.generate import write_rtl
from mpgemm.pe_designs.presets import PRESETS
names = sys.argv[2].split(",")
write_rtl(sys.argv[1], {n: PRESETS[n] for n in names})
"""


def _start_writer(out: Path, names: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(out), ",".join(names)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_staging(parent: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(STAGING in p.name for p in parent.iterdir()):
            return
        time.sleep(0.005)
    raise AssertionError("the writer finished or stalled before it staged anything")


STAGING = fileio.STAGING_MARK


@pytest.mark.synth  # writes Verilog (Amaranth's Yosys)
@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_kill_9_leaves_the_previous_folder_intact(rtl_copy, delay):
    """A `make rtl` killed with SIGKILL while it writes leaves rtl_out/ as it was; the next run
    removes what the killed one staged and completes."""
    before = snapshot(rtl_copy)
    names = ["fp16_mac", "int_mac_w8a8", "dequant_mac_w4a16"]
    proc = _start_writer(rtl_copy, names)
    _wait_for_staging(rtl_copy.parent, proc)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(rtl_copy) == before
    left = [p.name for p in rtl_copy.parent.iterdir() if STAGING in p.name]
    assert left, "the kill should have caught the writer while staging"
    # The next run cleans up and writes the new set completely.
    write_rtl(rtl_copy, {"fp16_mac": PRESETS["fp16_mac"]})
    assert stray(rtl_copy.parent) == []
    assert sorted(load_manifest(rtl_copy)["designs"]) == ["fp16_mac"]


@pytest.mark.synth  # writes Verilog (Amaranth's Yosys)
def test_a_live_writer_staging_is_not_removed(rtl_copy):
    """Two runs on one folder: the second does not delete the first one's staging folder (it
    is locked while the first lives), both succeed, and the folder holds one run's set whole."""
    proc = _start_writer(rtl_copy, ["fp16_mac", "int_mac_w8a8"])
    _wait_for_staging(rtl_copy.parent, proc)
    write_rtl(rtl_copy, {"int_mac_w8a8_l1": PRESETS["int_mac_w8a8_l1"]})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert sorted(load_manifest(rtl_copy)["designs"]) in (["fp16_mac", "int_mac_w8a8"],
                                                          ["int_mac_w8a8_l1"])
    assert stray(rtl_copy.parent) == []


# --- manifests: one loader for every reader ------------------------------------------------

def _corrupt(folder: Path, how: str) -> None:
    path = folder / MANIFEST
    data = json.loads(path.read_text())
    if how == "missing":
        path.unlink()
    elif how == "folder":
        path.unlink()
        path.mkdir()
    elif how == "binary":
        path.write_bytes(b"\x00\x01\xff" * 10)
    elif how == "truncated":
        path.write_text(path.read_text()[:500])
    elif how == "nested":
        path.write_text("[" * 5000 + "]" * 5000)
    elif how == "list":
        path.write_text("[]")
    elif how == "no designs":
        data["designs"] = {}
        path.write_text(json.dumps(data))
    elif how == "escape":
        data["designs"]["int_mac_w4a8"]["file"] = "../../etc/passwd"
        path.write_text(json.dumps(data))
    elif how == "keyword":
        data["designs"]["module"] = data["designs"].pop("int_mac_w4a8")
        path.write_text(json.dumps(data))
    elif how == "port width":
        data["designs"]["int_mac_w4a8"]["ports"][0]["width"] = "wide"
        path.write_text(json.dumps(data))
    elif how == "top":
        data["designs"]["int_mac_w4a8"]["top"] = "int_mac_w8a8_l1"
        path.write_text(json.dumps(data))
    elif how == "no verilog":
        (folder / "int_mac_w4a8.v").unlink()
    elif how == "duplicate":
        path.write_text(path.read_text().replace('"designs": {', '"designs": {}, "designs": {',
                                                 1))
    else:
        raise AssertionError(how)


MANIFEST_CASES = {
    "missing": "does not exist; run `make rtl`",
    "folder": "is a folder, not a file",
    "binary": "is not UTF-8 text (byte 2 is 0xff); is it a binary file?",
    "truncated": "is not valid JSON",
    "nested": "nests objects and lists",
    "list": "is not an rtl manifest ([] is not of type 'object')",
    "no designs": "is not an rtl manifest (at designs: {} should be non-empty)",
    "escape": "at designs -> int_mac_w4a8 -> file: '../../etc/passwd' does not match",
    "keyword": "'module' is a Verilog/SystemVerilog keyword",
    "port width": "at designs -> int_mac_w4a8 -> ports -> 0 -> width: 'wide' is not of type",
    "top": "design 'int_mac_w4a8' names top 'int_mac_w8a8_l1'",
    "no verilog": "design 'int_mac_w4a8''s Verilog",
    "duplicate": "key 'designs' appears more than once",
}


@pytest.mark.parametrize("how", MANIFEST_CASES)
def test_every_manifest_reader_gives_the_same_one_line_error(rtl_copy, capsys, how):
    _corrupt(rtl_copy, how)
    message = MANIFEST_CASES[how]
    with pytest.raises(InputFileError) as info:
        load_manifest(rtl_copy)
    assert message in str(info.value)
    assert "manifest" in str(info.value) and str(rtl_copy) in str(info.value)
    for prog, main in (("mpgemm sim", runner.main), ("mpgemm lint", lint.main),
                       ("mpgemm synth", synth.main)):
        code = exit_status(main, ["--rtl-dir", str(rtl_copy)])
        out, err = capsys.readouterr()
        assert code == 2, (prog, out, err)
        assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and message in err


def exit_status(main, argv) -> int:
    """A command's exit status, whether it returns it or exits (argparse's way)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def test_rtl_folder_errors(tmp_path, capsys):
    with pytest.raises(InputFileError, match="does not exist; run `make rtl`"):
        load_manifest(tmp_path / "none")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputFileError, match="is a file, not a folder"):
        load_manifest(tmp_path / "file")
    code = runner.main(["--rtl-dir", str(tmp_path / "none")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_sim_refuses_an_unwritable_results_file(small_rtl, tmp_path, capsys):
    code = runner.main(["--rtl-dir", str(small_rtl), "--json", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--json" in err and "is a folder" in err
    (tmp_path / "f").write_text("x")
    code = runner.main(["--rtl-dir", str(small_rtl), "--json", str(tmp_path / "f" / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "which is a file" in err
    code = runner.main(["--rtl-dir", str(small_rtl), "--build-dir", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "--build-dir" in err and "is a file, not a folder" in err


def test_the_project_manifest_passes_its_schema():
    manifest = load_manifest(RTL_DIR)
    assert len(manifest["designs"]) > 40


def test_a_manifest_changed_after_passing_is_checked_again(rtl_copy):
    # load_manifest remembers manifests that passed the schema in this process; an edit to
    # the file after that must still be caught.
    load_manifest(rtl_copy)
    _corrupt(rtl_copy, "port width")
    with pytest.raises(InputFileError, match=MANIFEST_CASES["port width"]):
        load_manifest(rtl_copy)


# --- synthesis reports read by `mpgemm compare --synth-dir` ---------------------------------

@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "must hold a JSON object, not list"),
    ('{"generic": 3}', "'generic' must be an object, not int"),
    ('{"generic": {"cells": -1}}', "generic 'cells' must be a non-negative integer, not -1"),
    ('{"generic": {"cells": "many"}}', "generic 'cells' must be a non-negative integer"),
    ("\x00", "is not text"),
])
def test_synthesis_reports_are_checked(tmp_path, capsys, content, message):
    (tmp_path / "int_mac_w8a8.json").write_text(content)
    code, out, err = run_cli(capsys, "compare", "--presets", "int_mac_w8a8",
                             "--synth-dir", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"synthesis report '{tmp_path / 'int_mac_w8a8.json'}'" in err and message in err


def test_synth_reports_folder_is_all_or_nothing(tmp_path):
    """`make synth` stages its reports: the other designs' reports survive, and a run that
    fails part way leaves the folder as it was."""
    out = tmp_path / "reports"
    out.mkdir()
    (out / "other.json").write_text('{"generic": {"cells": 5}}')
    (out / "other").mkdir()
    (out / "other" / "generic.log").write_text("log")
    before = snapshot(out)
    with pytest.raises(RuntimeError), fileio.replace_folder(
            out, keep=lambda e: e.name not in {"mine", "mine.json"}) as staging:
        (staging / "mine.json").write_text("{}")
        raise RuntimeError("synthesis crashed")
    assert snapshot(out) == before and stray(tmp_path) == []
    with fileio.replace_folder(out, keep=lambda e: e.name not in {"mine"}) as staging:
        fileio.atomic_write_text(staging / "mine.json", "{}")
    after = snapshot(out)
    assert after == {**before, "mine.json": b"{}"} and stray(tmp_path) == []


# --- the golden model's operands ---------------------------------------------------------------

def _weights(config, k: int, n: int, *, codes: int = 1, zeros: int | None = None):
    g = config.group_size
    scales = None if g is None else np.full((k // g, n), 0x3C00)
    z = None if zeros is None else np.full((k // g, n), zeros)
    return QuantizedWeights(codes=np.full((k, n), codes), scales=scales, zeros=z)


@pytest.mark.parametrize("preset, a, w_kwargs, error, message", [
    ("int_mac_w8a8", 1000, {}, ValueError, r"A\[0, 0\] = 1000 is outside the int8 "
     r"activations' codes \[-128, 127\]"),
    ("int_mac_w8a8", 1.5, {}, TypeError, "A must hold integers"),
    ("int_mac_w8a8", True, {}, TypeError, "A must hold integers"),
    ("int_mac_w8a8", 1, {"codes": 128}, ValueError, r"W.codes\[0, 0\] = 128 is outside int8 "
     r"codes \[-128, 127\]"),
    ("int_mac_w4a8", 1, {"codes": 8}, ValueError, r"outside int4 codes \[-8, 7\]"),
    ("fp16_mac", 0x10000, {}, ValueError, r"outside the fp16 activations' codes \[0, 65535\]"),
    ("fp16_mac", 1, {"codes": -1}, ValueError, r"outside fp16 codes \[0, 65535\]"),
    ("dequant_mac_w4a16", 0x3C00, {"codes": 16, "zeros": 0}, ValueError,
     r"outside uint4 codes \[0, 15\]"),
    ("dequant_mac_w4a16", 0x3C00, {"codes": 1, "zeros": 16}, ValueError,
     r"W.zeros\[0, 0\] = 16 is outside zero points of uint4 weights \[0, 15\]"),
    ("mixpe_w4a8", 1, {"codes": 16, "zeros": 0}, ValueError, r"outside uint4 codes \[0, 15\]"),
    ("mixpe_w8a8", -129, {"codes": 1}, ValueError, r"outside the int8 activations' codes"),
])
def test_golden_gemm_checks_operands(preset, a, w_kwargs, error, message):
    config = PRESETS[preset]
    k = config.group_size or 8
    acts = np.full((1, k), a, dtype=object if isinstance(a, bool) else None)
    with pytest.raises(error, match=message):
        gemm(config, acts, _weights(config, k, 2, **w_kwargs))


def test_golden_step_names_a_wrong_lane_count():
    config = PRESETS["int_mac_w8a8"]
    with pytest.raises(ValueError, match="needs 4 activations .one per lane., not 3"):
        int_mac_step(config, 0, (1, 2, 3), (1, 2, 3, 4))
    with pytest.raises(TypeError, match="must be integers"):
        int_mac_step(config, 0, (1, 2, 3, 4.0), (1, 2, 3, 4))
