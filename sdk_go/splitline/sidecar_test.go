package splitline

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// TestRealSidecar runs the vector cases of the main snapshot through the real
// Python sidecar's fast path (`splitline sidecar`, from the repo's .venv or
// $SPLITLINE_BIN) and ships events through it. Skipped when it is not installed.
func TestRealSidecar(t *testing.T) {
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
	dir, err := os.MkdirTemp("", "slgo") // short path: Unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	snapPath := filepath.Join(dir, "snap.json")
	if err := os.WriteFile(snapPath, mainSnapshotJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	fast := filepath.Join(dir, "f.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "sidecar", "--snapshot", snapPath, "--socket", filepath.Join(dir, "g.sock"),
		"--fast-socket", fast, "--spool-dir", filepath.Join(dir, "spool"), "--log-level", "WARNING")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(fast); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sidecar did not open its fast-path socket in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			Name     string `json:"name"`
			Snapshot string `json:"snapshot"`
			Input    struct {
				Units      map[string]string `json:"units"`
				Attributes map[string]string `json:"attributes"`
				Experiment string            `json:"experiment"`
			} `json:"input"`
			Expected struct {
				Variant *string `json:"variant"`
				Reason  string  `json:"reason"`
			} `json:"expected"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	r := NewRemote(fast, RemoteOptions{NoExposures: true})
	defer r.Close()
	checked := 0
	for _, c := range v.Cases {
		if c.Snapshot != "main" {
			continue
		}
		got, err := r.Assign(ctx, c.Input.Experiment, c.Input.Units, c.Input.Attributes)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		want := ""
		if c.Expected.Variant != nil {
			want = *c.Expected.Variant
		}
		if got.Variant != want || got.Reason.String() != c.Expected.Reason {
			t.Errorf("%s: sidecar (%q, %s), want (%q, %s)", c.Name, got.Variant, got.Reason, want, c.Expected.Reason)
		}
		checked++
	}
	t.Logf("%d vector cases agree through the real sidecar", checked)

	// Events: straight calls, then background batches.
	n, err := r.LogExposures(ctx, []*pb.Exposure{{EventId: NewEventID(), ExperimentKey: "checkout_v2", VariantKey: "control",
		UnitType: "user_id", UnitId: "1", ConfigRevision: 42, Client: DefaultClientName}})
	if err != nil || n != 1 {
		t.Fatalf("LogExposures: %d, %v", n, err)
	}
	for i := 0; i < 100; i++ {
		r.TrackAsync("user_id", "1", "purchase", float64(i), nil)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.logger().Stats(); st.Sent != 100 || st.Failures != 0 {
		t.Fatalf("logger stats %+v", st)
	}
}
