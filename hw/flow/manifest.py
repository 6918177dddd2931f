"""The one reader of ``manifest.json`` (rtl_out/ and folders like it), checked against a schema.

Every tool that reads a manifest (``mpgemm sim``, ``lint``, ``synth``, the tests) goes through
:func:`load_manifest`, so a missing, corrupt, binary, folder-shaped, deeply nested or wrongly
shaped manifest gives the same clear :class:`~mpgemm.hw.flow.fileio.InputFileError` everywhere,
naming the file and the first problem (with its place in the file, e.g.
``designs -> int_mac_w8a8 -> ports -> 3 -> width``). :data:`MANIFEST_SCHEMA` is the JSON Schema
(draft 2020-12) of what :func:`mpgemm.hw.flow.generate.write_rtl` writes.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema

from .fileio import InputFileError, read_json_file

__all__ = ["MANIFEST", "MANIFEST_SCHEMA", "NAME_PATTERN", "VERILOG_KEYWORDS", "load_manifest",
           "check_manifest", "check_module_name"]

MANIFEST = "manifest.json"
#: Design and module names: a lower-case letter, then lower-case letters, digits and ``_``.
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

_COUNT = {"type": "integer", "minimum": 0}
_PORT = {
    "type": "object",
    "required": ["name", "direction", "width"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "direction": {"enum": ["input", "output", "inout"]},
        "width": {"type": "integer", "minimum": 1},
    },
}
_DESIGN = {
    "type": "object",
    "required": ["file", "top", "config", "ports", "modules", "hierarchy", "timing", "units",
                 "sha256"],
    "properties": {
        # A plain file name in the manifest's folder: no path, so no way out of the folder.
        "file": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*\.v$"},
        "top": {"type": "string", "pattern": NAME_PATTERN},
        "config": {"type": "object", "required": ["kind"],
                   "properties": {"kind": {"type": "string"}}},
        "timing": {"type": "object", "additionalProperties": {"type": ["integer", "string"]}},
        "simulator": {"enum": ["icarus", "verilator"]},
        "ports": {"type": "array", "minItems": 1, "items": _PORT},
        "modules": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "hierarchy": {"type": "array", "items": {
            "type": "array", "prefixItems": [{"type": "string"}, {"type": "string"},
                                             {"type": "integer", "minimum": 1}],
            "minItems": 3, "maxItems": 3}},
        "units": {"type": "object", "additionalProperties": {"type": "object"}},
        "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
    },
}
MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mpgemm rtl manifest",
    "type": "object",
    "required": ["generator", "designs"],
    "properties": {
        "generator": {"type": "object", "required": ["amaranth"],
                      "properties": {"amaranth": {"type": "string"}}},
        "designs": {"type": "object", "minProperties": 1,
                    "propertyNames": {"pattern": NAME_PATTERN},
                    "additionalProperties": _DESIGN},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)
# Manifests (as canonical JSON) that already passed the schema in this process: the schema
# walk takes about 0.3 s for rtl_out's 63 designs, and test modules and tools load the same
# manifest many times. The checks after the schema are cheap and always run.
_CONFORMING: set[str] = set()


def _where(error: jsonschema.ValidationError) -> str:
    path = " -> ".join(str(p) for p in error.absolute_path)
    return f"at {path}: " if path else ""


def check_manifest(manifest: Any, what: str) -> dict[str, Any]:
    """``manifest`` if it has the schema's shape and each design's ``top`` is its name, else
    :class:`InputFileError` naming ``what`` and the first problem."""
    try:
        key = json.dumps(manifest, sort_keys=True)
    except (TypeError, ValueError):
        key = None
    if key is None or key not in _CONFORMING:
        error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(manifest))
        if error is not None:
            raise InputFileError(f"{what} is not an rtl manifest ({_where(error)}"
                                 f"{error.message}); regenerate it with `make rtl`")
        if key is not None:
            if len(_CONFORMING) >= 16:
                _CONFORMING.clear()
            _CONFORMING.add(key)
    for name, entry in manifest["designs"].items():
        try:
            check_module_name(name, "design name")
        except ValueError as e:
            raise InputFileError(f"{what}: {e}") from None
        if entry["top"] != name or entry["file"] != f"{name}.v":
            raise InputFileError(f"{what}: design {name!r} names top {entry['top']!r} and file "
                                 f"{entry['file']!r}; expected {name!r} and {name + '.v'!r}")
    return manifest


def load_manifest(rtl_dir: str | os.PathLike, *, check_files: bool = True) -> dict[str, Any]:
    """The manifest of folder ``rtl_dir``, checked against :data:`MANIFEST_SCHEMA`.

    With ``check_files`` every design's Verilog file must exist beside it. Every problem is an
    :class:`InputFileError` naming the folder or file.
    """
    folder = Path(rtl_dir)
    if not folder.exists():
        raise InputFileError(f"rtl folder {str(folder)!r} does not exist; run `make rtl` to "
                             "generate it")
    if not folder.is_dir():
        raise InputFileError(f"rtl folder {str(folder)!r} is a file, not a folder")
    path = folder / MANIFEST
    if not path.exists():
        raise InputFileError(f"{str(path)!r} does not exist; run `make rtl` to generate it")
    what = f"manifest {str(path)!r}"
    manifest = check_manifest(read_json_file(path, what), what)
    if check_files:
        for name, entry in manifest["designs"].items():
            verilog = folder / entry["file"]
            if not verilog.is_file():
                raise InputFileError(f"{what}: design {name!r}'s Verilog {str(verilog)!r} "
                                     "does not exist; run `make rtl`")
    return manifest


#: Reserved words of Verilog (IEEE 1364-2005) and SystemVerilog (IEEE 1800-2017): a module named
#: after one would come out as an escaped identifier that many tools mishandle.
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup coverpoint
cross deassign default defparam design disable dist do edge else end endcase endchecker endclass
endclocking endconfig endfunction endgenerate endgroup endinterface endmodule endpackage
endprimitive endprogram endproperty endspecify endsequence endtable endtask enum event eventually
expect export extends extern final first_match for force foreach forever fork forkjoin function
generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies
import incdir include initial inout input inside instance int integer interconnect interface
intersect join join_any join_none large let liblist library local localparam logic longint
macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge primitive
priority program property protected pull0 pull1 pulldown pullup pulsestyle_ondetect
pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg reject_on
release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always s_eventually
s_nexttime s_until s_until_with scalared sequence shortint shortreal showcancelled signed small
soft solve specify specparam static string strong strong0 strong1 struct super supply0 supply1
sync_accept_on sync_reject_on table tagged task this throughout time timeprecision timeunit tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0 unsigned
until until_with untyped use uwire var vectored virtual void wait wait_order wand weak weak0
weak1 while wildcard wire with within wor xnor xor
""".split())
#: Longest design name: Verilog tools handle identifiers of at least 1,024 characters; with the
#: suffixes the generator adds (``__pe``, submodule paths) 128 leaves ample room.
MAX_NAME_LENGTH = 128


def check_module_name(name: object, parameter: str = "name") -> str:
    """``name`` if it can be a design's Verilog module name, else ValueError or TypeError naming
    ``parameter``: a str matching :data:`NAME_PATTERN` in full (no trailing newline), at most
    :data:`MAX_NAME_LENGTH` characters, and not a Verilog/SystemVerilog keyword."""
    if not isinstance(name, str):
        raise TypeError(f"{parameter} must be a str, not {type(name).__name__}")
    if not re.fullmatch(NAME_PATTERN[1:-1], name):
        raise ValueError(f"{parameter} {name!r} is not a valid module name: it must be a "
                         "lower-case letter followed by lower-case letters, digits or '_' "
                         f"(pattern {NAME_PATTERN})")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{parameter} is {len(name)} characters long; at most "
                         f"{MAX_NAME_LENGTH} are allowed")
    if name in VERILOG_KEYWORDS:
        raise ValueError(f"{parameter} {name!r} is a Verilog/SystemVerilog keyword; choose "
                         "another name")
    return name
