package splitline

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/splitline/splitline/sdk_go/core"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// LocalOptions configure a Local client; the zero value evaluates without
// logging anything.
type LocalOptions struct {
	// Events, when set, receives exposures (for ASSIGNED and OVERRIDE results)
	// and outcomes in background batches; a *Remote connected to the sidecar
	// is the usual choice.
	Events Sender
	// Logger tunes the batching of events.
	Logger LoggerOptions
	// Client names the caller in exposures; default "go/<Version>".
	Client string
	// SessionID is copied into every exposure.
	SessionID string
	// DedupSize bounds the LRU that logs each (experiment, unit, variant)
	// exposure once per process; default DefaultDedupSize.
	DedupSize int
}

// Local evaluates assignments in process against the current snapshot. The
// snapshot is swapped atomically (Swap, ReloadFile, WatchFile): a call sees
// either the old or the new snapshot, never a mix. Safe for concurrent use.
type Local struct {
	snap   atomic.Pointer[core.Snapshot]
	opts   LocalOptions
	events *EventLogger
	dedup  *exposureDedup

	path     string
	reloadMu sync.Mutex
	fileStat os.FileInfo
}

// NewLocal serves the given compiled snapshot.
func NewLocal(snapshot *core.Snapshot, opts LocalOptions) *Local {
	if opts.Client == "" {
		opts.Client = DefaultClientName
	}
	c := &Local{opts: opts}
	c.snap.Store(snapshot)
	if opts.Events != nil {
		c.events = NewEventLogger(opts.Events, opts.Logger)
		c.dedup = newExposureDedup(opts.DedupSize)
	}
	return c
}

// NewLocalFromFile reads, validates and serves a proto3 JSON snapshot file.
func NewLocalFromFile(path string, opts LocalOptions) (*Local, error) {
	snap, info, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	c := NewLocal(snap, opts)
	c.path, c.fileStat = path, info
	return c, nil
}

func loadFile(path string) (*core.Snapshot, os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	snap, err := core.LoadSnapshotJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return snap, info, nil
}

// Snapshot is the snapshot currently served.
func (c *Local) Snapshot() *core.Snapshot { return c.snap.Load() }

// Swap serves s from now on; in-flight calls finish on the old snapshot.
func (c *Local) Swap(s *core.Snapshot) {
	if s != nil {
		c.snap.Store(s)
	}
}

// ReloadFile re-reads the snapshot file. On any error the last good snapshot
// stays in service and the error is returned.
func (c *Local) ReloadFile() error {
	if c.path == "" {
		return fmt.Errorf("splitline: this client was not made from a file")
	}
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	snap, info, err := loadFile(c.path)
	if err != nil {
		return err
	}
	c.fileStat = info
	c.Swap(snap)
	return nil
}

// WatchFile polls the snapshot file every interval and reloads it when its
// size or modification time changes, until ctx ends. Errors (a half-written
// or invalid file) keep the last good snapshot and go to onError when set.
func (c *Local) WatchFile(ctx context.Context, interval time.Duration, onError func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		info, err := os.Stat(c.path)
		if err != nil {
			if onError != nil {
				onError(err)
			}
			continue
		}
		c.reloadMu.Lock()
		prev := c.fileStat
		c.reloadMu.Unlock()
		if prev != nil && info.Size() == prev.Size() && info.ModTime().Equal(prev.ModTime()) {
			continue
		}
		if err := c.ReloadFile(); err != nil && onError != nil {
			onError(err)
		}
	}
}

// Assign decides one experiment for the unit and, when an event sender is
// configured, queues an exposure for ASSIGNED and OVERRIDE results (once per
// experiment, unit and variant while the LRU remembers it; SHIPPED answers
// log nothing).
// attrs are the contract's strings (core.EncodeAttributes makes them).
func (c *Local) Assign(experimentKey string, units map[string]string, attrs map[string]string) core.Assignment {
	snap := c.snap.Load()
	a := snap.Assign(experimentKey, units, attrs)
	if c.events != nil && a.InExperiment() {
		c.logExposure(snap, a, units)
	}
	return a
}

// AssignAll lists every experiment that gives the unit a variant, logging
// exposures like Assign.
func (c *Local) AssignAll(units map[string]string, attrs map[string]string) []core.Assignment {
	snap := c.snap.Load()
	out := snap.AssignAll(units, attrs)
	if c.events != nil {
		for _, a := range out {
			if a.InExperiment() {
				c.logExposure(snap, a, units)
			}
		}
	}
	return out
}

func (c *Local) logExposure(snap *core.Snapshot, a core.Assignment, units map[string]string) {
	unitType, _ := snap.UnitType(a.ExperimentKey)
	key := exposureKey{a.ExperimentKey, unitType, units[unitType], a.Variant}
	if !c.dedup.firstTime(key) {
		return
	}
	queued := c.events.LogExposure(&pb.Exposure{
		ExperimentKey:  a.ExperimentKey,
		VariantKey:     a.Variant,
		UnitType:       unitType,
		UnitId:         units[unitType],
		ConfigRevision: snap.Revision(),
		Forced:         a.Forced(),
		Client:         c.opts.Client,
		SessionId:      c.opts.SessionID,
	})
	if !queued {
		c.dedup.forget(key) // not logged: a later call may try again
	}
}

// Track queues an outcome event; false when there is no sender or the queue is full.
func (c *Local) Track(unitType, unitID, name string, value float64, properties map[string]string) bool {
	if c.events == nil {
		return false
	}
	return c.events.Track(&pb.Outcome{UnitType: unitType, UnitId: unitID, Name: name, Value: value, Properties: properties})
}

// Flush sends queued events now.
func (c *Local) Flush(ctx context.Context) error {
	if c.events == nil {
		return nil
	}
	return c.events.Flush(ctx)
}

// Close flushes queued events and stops the logger.
func (c *Local) Close() error {
	if c.events != nil {
		return c.events.Close()
	}
	return nil
}
