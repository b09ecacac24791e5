package follow

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/splitline/splitline/sdk_go/core"
	"github.com/splitline/splitline/sdk_go/splitline"
)

// TestFollowRealSidecar: a local client follows the real sidecar's snapshot
// stream and swaps in a new revision written to the sidecar's snapshot file.
// Skipped when `splitline` is not installed in the repo's .venv.
func TestFollowRealSidecar(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := os.Getenv("SPLITLINE_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "splitline"))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no splitline CLI at %s", bin)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "proto", "testdata", "assignment_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Snapshots map[string]json.RawMessage `json:"snapshots"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "slgo")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	snapPath := filepath.Join(dir, "snap.json")
	if err := os.WriteFile(snapPath, v.Snapshots["ramp_before"], 0o644); err != nil {
		t.Fatal(err)
	}
	grpcSock := filepath.Join(dir, "g.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "sidecar", "--snapshot", snapPath, "--socket", grpcSock,
		"--fast-socket", filepath.Join(dir, "f.sock"), "--spool-dir", filepath.Join(dir, "spool"), "--log-level", "WARNING")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	empty, _ := core.LoadSnapshotJSON([]byte(`{"revision": "0"}`))
	local := splitline.NewLocal(empty, splitline.LocalOptions{})
	swaps := make(chan uint64, 10)
	go func() {
		_ = Sidecar(ctx, grpcSock, local, Options{OnSwap: func(r uint64) { swaps <- r }})
	}()
	wait := func(rev uint64) {
		t.Helper()
		for {
			select {
			case r := <-swaps:
				if r == rev {
					return
				}
			case <-ctx.Done():
				t.Fatalf("revision %d never arrived", rev)
			}
		}
	}
	wait(7)
	if a := local.Assign("ramp_exp", map[string]string{"user_id": "u1"}, nil); a.Reason == core.ReasonUnknownExperiment {
		t.Fatalf("after the first snapshot: %+v", a)
	}
	// A new revision in the followed file reaches the client through the stream.
	var doc map[string]any
	_ = json.Unmarshal(v.Snapshots["ramp_after"], &doc)
	doc["revision"] = "8"
	next, _ := json.Marshal(doc)
	if err := os.WriteFile(snapPath+".tmp", next, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(snapPath+".tmp", snapPath); err != nil {
		t.Fatal(err)
	}
	wait(8)
	if local.Snapshot().Revision() != 8 {
		t.Fatalf("revision %d", local.Snapshot().Revision())
	}
}
