"""Packaging promises: a light bare install, a pure core, fresh generated files."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import splitline.core

ROOT = Path(__file__).resolve().parents[2]


def test_bare_install_needs_only_grpcio_protobuf_mmh3() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = sorted(d.split("=")[0].split(">")[0].split("<")[0].strip() for d in deps)
    assert names == ["grpcio", "mmh3", "protobuf"]


def test_core_imports_no_transport_or_clock() -> None:
    code = ("import sys; before = set(sys.modules); import splitline.core; "
            "print(','.join(m for m in ('grpc', 'asyncio', 'socket', 'http', 'urllib') "
            "if m in sys.modules and m not in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    # Statically, too: the core's own modules import no I/O, clock or concurrency.
    forbidden = {"time", "datetime", "asyncio", "socket", "threading", "os", "io", "pathlib", "random", "grpc"}
    for path in (ROOT / "sdk_python" / "splitline" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_core_exports_are_what_we_mean() -> None:
    assert sorted(splitline.core.__all__) == sorted([
        "BUCKET_COUNT", "HASH_SEED", "SPEC_VERSION", "Assignment", "CompiledSnapshot", "FieldError", "Operator",
        "Reason", "RegexError", "RuleError", "SnapshotError", "bucket", "compile_regex", "compile_snapshot",
        "contiguous_ranges", "encode_attributes", "encode_value", "explain", "format_number", "hash32",
        "parse_decimal", "parse_semver", "validate_snapshot",
    ])


def test_generated_code_and_vectors_are_fresh() -> None:
    for tool in ("gen_proto.py", "gen_vectors.py"):
        out = subprocess.run([sys.executable, str(ROOT / "tools" / tool), "--check"], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stdout + out.stderr
