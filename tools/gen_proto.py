"""Generate the Python protobuf/gRPC code (and mypy stubs) from proto/.

Run `python tools/gen_proto.py` after editing a .proto file; `--check` exits 1
when the committed code differs from what the protos produce (CI runs it).
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "sdk_python"
PACKAGE_DIR = Path("splitline") / "v1"


def generate(out_root: Path) -> list[Path]:
    """Run protoc for every .proto under proto/splitline/v1 into out_root."""
    import grpc_tools  # local import: only the dev extra has grpcio-tools

    protos = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    plugin_dir = Path(sys.executable).parent
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{PROTO_ROOT}", f"-I{include}",
        f"--python_out={out_root}", f"--grpc_python_out={out_root}",
        f"--plugin=protoc-gen-mypy={plugin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out_root}", f"--mypy_grpc_out={out_root}",
        *[str(p) for p in protos],
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # protoc's chatter ("Writing mypy to ...") only when it failed
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"protoc failed with exit code {done.returncode}")
    init = out_root / PACKAGE_DIR / "__init__.py"
    init.write_text('"""Generated protobuf and gRPC code for splitline/v1 (see proto/)."""\n')
    return sorted((out_root / PACKAGE_DIR).iterdir())


def check() -> int:
    """Return 0 when the committed generated code matches a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = []
        for path in fresh:
            committed = OUT_ROOT / PACKAGE_DIR / path.name
            if path.is_file() and (not committed.exists() or not filecmp.cmp(path, committed, shallow=False)):
                stale.append(path.name)
        extra = {p.name for p in (OUT_ROOT / PACKAGE_DIR).glob("*_pb2*.py*")} - {p.name for p in fresh}
        stale.extend(sorted(extra))
    if stale:
        print("generated code is stale; run `python tools/gen_proto.py`:", ", ".join(stale))
        return 1
    print("generated code is up to date")
    return 0


def main() -> int:
    if "--check" in sys.argv[1:]:
        return check()
    target = OUT_ROOT / PACKAGE_DIR
    for old in target.glob("*_pb2*.py*"):
        old.unlink()
    generate(OUT_ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
