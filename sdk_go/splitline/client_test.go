package splitline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/splitline/splitline/sdk_go/core"
	"github.com/splitline/splitline/sdk_go/fastpath"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
	"github.com/splitline/splitline/sdk_go/internal/fakesidecar"
)

var vectorsPath = filepath.Join("..", "..", "proto", "testdata", "assignment_vectors.json")

func mainSnapshotJSON(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Snapshots map[string]json.RawMessage `json:"snapshots"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.Snapshots["main"]
}

func mainSnapshot(t testing.TB) *core.Snapshot {
	s, err := core.LoadSnapshotJSON(mainSnapshotJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLocalFileReloadKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(path, mainSnapshotJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewLocalFromFile(path, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	units := map[string]string{"user_id": "qa-alice"}
	if a := c.Assign("checkout_v2", units, nil); a.Variant != "treatment" || a.Reason != core.ReasonOverride {
		t.Fatalf("got %+v", a)
	}
	// An invalid file is refused and the last good snapshot stays in service.
	if err := os.WriteFile(path, []byte(`{"layers": [{"id": "bad id"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadFile(); err == nil {
		t.Fatal("invalid snapshot accepted")
	}
	if c.Snapshot().Revision() != 42 {
		t.Fatalf("revision %d", c.Snapshot().Revision())
	}
	// A valid new file is picked up by the watcher.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.WatchFile(ctx, 10*time.Millisecond, nil)
	if err := os.WriteFile(path, []byte(`{"revision": "43"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Snapshot().Revision() == 43 })
	if a := c.Assign("checkout_v2", units, nil); a.Reason != core.ReasonUnknownExperiment {
		t.Fatalf("after swap: %+v", a)
	}
}

func TestSwapIsAtomicUnderLoad(t *testing.T) {
	a := mainSnapshot(t)
	b, err := core.LoadSnapshotJSON([]byte(`{"revision": "2"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := NewLocal(a, LocalOptions{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			units := map[string]string{"user_id": "7"}
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := c.Assign("checkout_copy", units, nil)
				if r.Reason != core.ReasonUnknownExperiment && r.Reason != core.ReasonAssigned &&
					r.Reason != core.ReasonNotInTraffic && r.Reason != core.ReasonHoldout {
					t.Errorf("unexpected %+v", r)
					return
				}
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		if i%2 == 0 {
			c.Swap(b)
		} else {
			c.Swap(a)
		}
	}
	close(stop)
	wg.Wait()
}

func TestRemoteAgreesWithLocal(t *testing.T) {
	snap := mainSnapshot(t)
	srv := fakesidecar.Start(t, snap)
	r := NewRemote(srv.Path, RemoteOptions{})
	defer r.Close()
	ctx := context.Background()
	attrs := map[string]string{"country": "US", "app_version": "2.1.0", "age": "30"}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) { // pipelined on one connection
			defer wg.Done()
			units := map[string]string{"user_id": string(rune('a'+i%26)) + "-user"}
			for _, key := range []string{"checkout_v2", "search_rank", "no_such"} {
				got, err := r.Assign(ctx, key, units, attrs)
				if err != nil {
					t.Error(err)
					return
				}
				want := snap.Assign(key, units, attrs)
				if got.Variant != want.Variant || got.Reason != want.Reason {
					t.Errorf("%s: remote %+v, local %+v", key, got, want)
				}
			}
		}(i)
	}
	wg.Wait()
	all, rev, err := r.AssignAll(ctx, map[string]string{"user_id": "qa-alice"}, nil)
	if err != nil || rev != 42 || len(all) != len(snap.ExperimentKeys()) {
		t.Fatalf("AssignAll: %d results, revision %d, %v", len(all), rev, err)
	}
	// The connection is redialled after it drops.
	srv.DropConnections()
	time.Sleep(20 * time.Millisecond)
	if _, err := r.Assign(ctx, "checkout_v2", map[string]string{"user_id": "1"}, nil); err != nil {
		t.Fatalf("after a dropped connection: %v", err)
	}
}

func TestEventsAreBatchedAndRetried(t *testing.T) {
	snap := mainSnapshot(t)
	srv := fakesidecar.Start(t, snap)
	srv.FailEvents = 2 // the first two sends fail; the logger retries with the same event ids
	r := NewRemote(srv.Path, RemoteOptions{Logger: LoggerOptions{BatchSize: 100, FlushInterval: 20 * time.Millisecond}})
	local := NewLocal(snap, LocalOptions{Events: r, Logger: LoggerOptions{BatchSize: 100, FlushInterval: 20 * time.Millisecond}})
	exposed := 0
	for i := 0; i < 1000; i++ {
		units := map[string]string{"user_id": "u" + string(rune('A'+i%50)) + string(rune('a'+i/50))}
		if local.Assign("checkout_copy", units, nil).InExperiment() {
			exposed++
		}
		local.Track("user_id", units["user_id"], "purchase", 9.5, map[string]string{"sku": "x"})
	}
	// The same unit, experiment and variant again: deduplicated, not logged twice.
	for i := 0; i < 1000; i++ {
		units := map[string]string{"user_id": "u" + string(rune('A'+i%50)) + string(rune('a'+i/50))}
		local.Assign("checkout_copy", units, nil)
	}
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}
	gotExp, gotOut := srv.Counts()
	if gotExp != exposed || gotOut != 1000 {
		t.Fatalf("server got %d exposures (want %d) and %d outcomes (want 1000)", gotExp, exposed, gotOut)
	}
	ids := map[string]bool{}
	for _, e := range srv.Exposures {
		if e.GetEventId() == "" || ids[e.GetEventId()] || e.GetConfigRevision() != 42 || e.GetClient() != DefaultClientName {
			t.Fatalf("bad exposure %v", e)
		}
		ids[e.GetEventId()] = true
	}
	st := local.events.Stats()
	if st.Failures != 2 || st.DroppedAfterRetries != 0 || st.Sent != uint64(exposed+1000) {
		t.Fatalf("stats %+v", st)
	}
	_ = r.Close()
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	blocked := make(chan struct{})
	l := NewEventLogger(blockingSender{blocked}, LoggerOptions{QueueSize: 10, BatchSize: 5, MaxAttempts: 1})
	start := time.Now()
	for i := 0; i < 1000; i++ {
		l.Track(&pb.Outcome{Name: "x"})
	}
	if time.Since(start) > time.Second {
		t.Fatal("Track blocked")
	}
	if l.Stats().DroppedQueueFull == 0 {
		t.Fatal("nothing dropped")
	}
	close(blocked)
	_ = l.Close()
}

type blockingSender struct{ release chan struct{} }

func (b blockingSender) LogExposures(ctx context.Context, e []*pb.Exposure) (uint32, error) {
	<-b.release
	return uint32(len(e)), nil
}

func (b blockingSender) Track(ctx context.Context, o []*pb.Outcome) (uint32, error) {
	<-b.release
	return uint32(len(o)), nil
}

func TestFastPathErrorAnswer(t *testing.T) {
	srv := fakesidecar.Start(t, mainSnapshot(t))
	conn, err := fastpath.Dial(context.Background(), srv.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Do(context.Background(), &pb.FastPathRequest{})
	fe, ok := err.(*fastpath.Error)
	if !ok || fe.Code != 3 || fe.Field != "body" {
		t.Fatalf("got %v", err)
	}
}

func TestNewEventID(t *testing.T) {
	id := NewEventID()
	if len(id) != 36 || id[14] != '4' {
		t.Fatalf("not a UUIDv4: %s", id)
	}
}

func TestExposureDedupLRU(t *testing.T) {
	d := newExposureDedup(2)
	a, b, c := exposureKey{"e", "u", "1", "v"}, exposureKey{"e", "u", "2", "v"}, exposureKey{"e", "u", "3", "v"}
	if !d.firstTime(a) || d.firstTime(a) || !d.firstTime(b) {
		t.Fatal("first sightings")
	}
	d.firstTime(a) // a is now the most recent; c evicts b
	if !d.firstTime(c) || d.firstTime(a) || !d.firstTime(b) {
		t.Fatal("LRU order")
	}
	d.forget(b)
	if !d.firstTime(b) {
		t.Fatal("forget")
	}
	// A unit that moves to another variant is logged again.
	if !d.firstTime(exposureKey{"e", "u", "1", "w"}) {
		t.Fatal("variant change not logged")
	}
}
