package splitline

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// Sender delivers event batches; *fastpath.Conn is one (the sidecar spools
// them durably before it answers).
type Sender interface {
	LogExposures(ctx context.Context, exposures []*pb.Exposure) (uint32, error)
	Track(ctx context.Context, outcomes []*pb.Outcome) (uint32, error)
}

// Defaults of the event logger.
const (
	DefaultQueueSize     = 10000
	DefaultBatchSize     = 500
	DefaultFlushInterval = time.Second
	DefaultSendTimeout   = 5 * time.Second
	DefaultMaxAttempts   = 5
)

// LoggerOptions tune the background event logger; zero values take the defaults.
type LoggerOptions struct {
	QueueSize     int           // events buffered before new ones are dropped (counted)
	BatchSize     int           // events per LogExposures / Track call
	FlushInterval time.Duration // the longest an event waits in the queue
	SendTimeout   time.Duration
	MaxAttempts   int // tries per batch (same event ids on every try) before it is dropped
	// OnError, when set, hears about failed sends and dropped batches.
	OnError func(error)
}

// LoggerStats counts what the logger did.
type LoggerStats struct {
	Sent, DroppedQueueFull, DroppedAfterRetries, Failures uint64
}

// EventLogger ships exposures and outcomes in background batches. Log and
// Track never block: when the bounded queue is full the event is dropped and
// counted. Every event gets its event_id (a UUIDv4) when it is queued, and
// keeps it across retries, so the pipeline can deduplicate.
type EventLogger struct {
	sender Sender
	opts   LoggerOptions
	queue  chan any // *pb.Exposure or *pb.Outcome
	flush  chan chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	sent, droppedFull, droppedRetries, failures atomic.Uint64
}

// NewEventLogger starts a logger sending through sender.
func NewEventLogger(sender Sender, opts LoggerOptions) *EventLogger {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	l := &EventLogger{
		sender: sender,
		opts:   opts,
		queue:  make(chan any, opts.QueueSize),
		flush:  make(chan chan struct{}),
		stop:   make(chan struct{}),
	}
	l.wg.Add(1)
	go l.run()
	return l
}

// NewEventID is a random (version 4) UUID.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (l *EventLogger) enqueue(ev any) bool {
	select {
	case <-l.stop:
		l.droppedFull.Add(1)
		return false
	default:
	}
	select {
	case l.queue <- ev:
		return true
	default:
		l.droppedFull.Add(1)
		return false
	}
}

// LogExposure queues an exposure (event_id and timestamp filled in when empty).
// It reports false when the event was dropped.
func (l *EventLogger) LogExposure(e *pb.Exposure) bool {
	if e.EventId == "" {
		e.EventId = NewEventID()
	}
	if e.Timestamp == nil {
		e.Timestamp = timestamppb.Now()
	}
	return l.enqueue(e)
}

// Track queues an outcome event (event_id and timestamp filled in when empty).
func (l *EventLogger) Track(o *pb.Outcome) bool {
	if o.EventId == "" {
		o.EventId = NewEventID()
	}
	if o.Timestamp == nil {
		o.Timestamp = timestamppb.Now()
	}
	return l.enqueue(o)
}

// Flush sends everything queued so far and waits for it (or for ctx).
func (l *EventLogger) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case l.flush <- done:
	case <-l.stop:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the logger after a final flush of the queue.
func (l *EventLogger) Close() error {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return nil
}

// Stats returns the counters.
func (l *EventLogger) Stats() LoggerStats {
	return LoggerStats{
		Sent: l.sent.Load(), DroppedQueueFull: l.droppedFull.Load(),
		DroppedAfterRetries: l.droppedRetries.Load(), Failures: l.failures.Load(),
	}
}

func (l *EventLogger) run() {
	defer l.wg.Done()
	ticker := time.NewTicker(l.opts.FlushInterval)
	defer ticker.Stop()
	var exposures []*pb.Exposure
	var outcomes []*pb.Outcome
	add := func(ev any) {
		switch e := ev.(type) {
		case *pb.Exposure:
			exposures = append(exposures, e)
		case *pb.Outcome:
			outcomes = append(outcomes, e)
		}
	}
	drain := func() {
		for {
			select {
			case ev := <-l.queue:
				add(ev)
			default:
				return
			}
		}
	}
	send := func(final bool) {
		for len(exposures) > 0 {
			n := min(len(exposures), l.opts.BatchSize)
			l.deliver(func(ctx context.Context) (uint32, error) { return l.sender.LogExposures(ctx, exposures[:n]) }, n, final)
			exposures = exposures[n:]
		}
		for len(outcomes) > 0 {
			n := min(len(outcomes), l.opts.BatchSize)
			l.deliver(func(ctx context.Context) (uint32, error) { return l.sender.Track(ctx, outcomes[:n]) }, n, final)
			outcomes = outcomes[n:]
		}
		exposures, outcomes = nil, nil
	}
	for {
		select {
		case ev := <-l.queue:
			add(ev)
			if len(exposures) >= l.opts.BatchSize || len(outcomes) >= l.opts.BatchSize {
				send(false)
			}
		case <-ticker.C:
			drain()
			send(false)
		case done := <-l.flush:
			drain()
			send(false)
			close(done)
		case <-l.stop:
			drain()
			send(true)
			return
		}
	}
}

// deliver tries one batch up to MaxAttempts times with backoff (the events
// keep their ids, so a retry after a lost answer is deduplicated downstream).
func (l *EventLogger) deliver(call func(context.Context) (uint32, error), n int, final bool) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.SendTimeout)
		_, err := call(ctx)
		cancel()
		if err == nil {
			l.sent.Add(uint64(n))
			return
		}
		l.failures.Add(1)
		if attempt >= l.opts.MaxAttempts {
			l.droppedRetries.Add(uint64(n))
			if l.opts.OnError != nil {
				l.opts.OnError(fmt.Errorf("splitline: dropped %d events after %d attempts: %w", n, attempt, err))
			}
			return
		}
		if l.opts.OnError != nil {
			l.opts.OnError(fmt.Errorf("splitline: sending %d events (attempt %d): %w", n, attempt, err))
		}
		if final {
			backoff = 10 * time.Millisecond
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}
