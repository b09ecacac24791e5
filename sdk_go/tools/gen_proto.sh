#!/usr/bin/env bash
# Generate the Go protobuf code under sdk_go/gen/ from proto/splitline/v1/*.proto.
#
#   sdk_go/tools/gen_proto.sh          regenerate (after editing a .proto)
#   sdk_go/tools/gen_proto.sh --check  exit 1 when the committed code is stale
#
# protoc comes from the Python dev venv (grpcio-tools, pinned in pyproject.toml);
# protoc-gen-go is built from the google.golang.org/protobuf version pinned in
# sdk_go/go.mod, so the output depends only on pinned versions.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SDK="$(dirname "$HERE")"
ROOT="$(dirname "$SDK")"
PY="${PY:-$ROOT/.venv/bin/python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$SDK" && go build -o "$TMP/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)
INCLUDE="$("$PY" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"
mkdir -p "$TMP/out"
(cd "$ROOT" && "$PY" -m grpc_tools.protoc -I proto -I "$INCLUDE" \
    --plugin=protoc-gen-go="$TMP/bin/protoc-gen-go" \
    --go_out="$TMP/out" --go_opt=module=github.com/splitline/splitline/sdk_go \
    proto/splitline/v1/*.proto)

if [[ "${1:-}" == "--check" ]]; then
    if diff -r "$TMP/out/gen" "$SDK/gen" >/dev/null 2>&1; then
        echo "go generated code is up to date"
        exit 0
    fi
    echo "sdk_go/gen is stale; run sdk_go/tools/gen_proto.sh" >&2
    diff -r "$TMP/out/gen" "$SDK/gen" | head -20 >&2 || true
    exit 1
fi
rm -rf "$SDK/gen"
cp -r "$TMP/out/gen" "$SDK/gen"
echo "wrote sdk_go/gen"
