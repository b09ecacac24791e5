package splitline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/splitline/splitline/sdk_go/core"
	"github.com/splitline/splitline/sdk_go/fastpath"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// RemoteOptions configure a Remote client.
type RemoteOptions struct {
	// Client names the caller in exposures; default "go/<Version>".
	Client    string
	SessionID string
	// NoExposures turns off the exposures the sidecar logs in the same call
	// for every ASSIGNED or OVERRIDE answer.
	NoExposures bool
	DialTimeout time.Duration // default 2s
	// Logger tunes the batching of Track and LogExposure events.
	Logger LoggerOptions
}

// Remote asks the sidecar over its fast-path socket. It dials lazily,
// pipelines concurrent calls on one connection and redials after a
// connection error. It is also a Sender, so a Local client can ship its
// events through it. Safe for concurrent use.
type Remote struct {
	path string
	opts RemoteOptions

	mu     sync.Mutex
	conn   *fastpath.Conn
	events *EventLogger
	closed bool
}

// NewRemote makes a client for the sidecar's fast path at socketPath.
func NewRemote(socketPath string, opts RemoteOptions) *Remote {
	if opts.Client == "" {
		opts.Client = DefaultClientName
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	return &Remote{path: socketPath, opts: opts}
}

var errClientClosed = errors.New("splitline: client closed")

func (r *Remote) connection(ctx context.Context) (*fastpath.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClientClosed
	}
	if r.conn != nil && r.conn.Err() == nil {
		return r.conn, nil
	}
	dctx, cancel := context.WithTimeout(ctx, r.opts.DialTimeout)
	defer cancel()
	conn, err := fastpath.Dial(dctx, r.path)
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return conn, nil
}

// call runs fn on a live connection, once more on a fresh one when the
// connection (not the sidecar's answer) failed. Every fast-path call is
// idempotent: events carry their event ids.
func call[T any](ctx context.Context, r *Remote, fn func(*fastpath.Conn) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		conn, err := r.connection(ctx)
		if err != nil {
			return zero, err
		}
		out, err := fn(conn)
		var answer *fastpath.Error
		if err == nil || errors.As(err, &answer) || ctx.Err() != nil || attempt == 1 || conn.Err() == nil {
			return out, err
		}
	}
}

// AssignRequest sends a raw AssignRequest (client and session filled in when empty).
func (r *Remote) AssignRequest(ctx context.Context, req *pb.AssignRequest) (*pb.AssignResponse, error) {
	if req.Client == "" {
		req.Client = r.opts.Client
	}
	if req.SessionId == "" {
		req.SessionId = r.opts.SessionID
	}
	return call(ctx, r, func(c *fastpath.Conn) (*pb.AssignResponse, error) { return c.Assign(ctx, req) })
}

func fromProto(a *pb.Assignment) core.Assignment {
	return core.Assignment{
		ExperimentKey: a.GetExperimentKey(),
		Variant:       a.GetVariantKey(),
		Reason:        core.Reason(a.GetReason()),
		Params:        a.GetParams(),
	}
}

// Assign asks the sidecar for one experiment; the sidecar logs the exposure
// in the same call unless NoExposures is set.
func (r *Remote) Assign(ctx context.Context, experimentKey string, units, attrs map[string]string) (core.Assignment, error) {
	resp, err := r.AssignRequest(ctx, &pb.AssignRequest{
		Units: units, Attributes: attrs, ExperimentKeys: []string{experimentKey}, LogExposures: !r.opts.NoExposures,
	})
	if err != nil {
		return core.Assignment{}, err
	}
	for _, a := range resp.GetAssignments() {
		if a.GetExperimentKey() == experimentKey {
			return fromProto(a), nil
		}
	}
	return core.Assignment{ExperimentKey: experimentKey, Reason: core.ReasonUnknownExperiment}, nil
}

// AssignAll asks the sidecar for every experiment of the snapshot.
func (r *Remote) AssignAll(ctx context.Context, units, attrs map[string]string) ([]core.Assignment, uint64, error) {
	resp, err := r.AssignRequest(ctx, &pb.AssignRequest{Units: units, Attributes: attrs, LogExposures: !r.opts.NoExposures})
	if err != nil {
		return nil, 0, err
	}
	out := make([]core.Assignment, len(resp.GetAssignments()))
	for i, a := range resp.GetAssignments() {
		out[i] = fromProto(a)
	}
	return out, resp.GetConfigRevision(), nil
}

// LogExposures sends exposures now and waits until the sidecar spooled them.
func (r *Remote) LogExposures(ctx context.Context, exposures []*pb.Exposure) (uint32, error) {
	return call(ctx, r, func(c *fastpath.Conn) (uint32, error) { return c.LogExposures(ctx, exposures) })
}

// Track sends outcome events now and waits until the sidecar spooled them.
func (r *Remote) Track(ctx context.Context, outcomes []*pb.Outcome) (uint32, error) {
	return call(ctx, r, func(c *fastpath.Conn) (uint32, error) { return c.Track(ctx, outcomes) })
}

func (r *Remote) logger() *EventLogger {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil && !r.closed {
		r.events = NewEventLogger(r, r.opts.Logger)
	}
	return r.events
}

// TrackAsync queues an outcome for a background batch; it never blocks.
func (r *Remote) TrackAsync(unitType, unitID, name string, value float64, properties map[string]string) bool {
	l := r.logger()
	if l == nil {
		return false
	}
	return l.Track(&pb.Outcome{UnitType: unitType, UnitId: unitID, Name: name, Value: value, Properties: properties})
}

// LogExposureAsync queues an exposure for a background batch; it never blocks.
func (r *Remote) LogExposureAsync(e *pb.Exposure) bool {
	l := r.logger()
	if l == nil {
		return false
	}
	if e.Client == "" {
		e.Client = r.opts.Client
	}
	return l.LogExposure(e)
}

// Flush sends queued events now.
func (r *Remote) Flush(ctx context.Context) error {
	r.mu.Lock()
	l := r.events
	r.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.Flush(ctx)
}

// Close flushes queued events and closes the connection.
func (r *Remote) Close() error {
	r.mu.Lock()
	l := r.events
	r.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.conn != nil {
		return r.conn.Close()
	}
	return nil
}
