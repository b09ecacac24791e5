package core

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user+system CPU time. The benchmarks report it per
// op next to ns/op: on a shared, oversubscribed machine wall time includes
// waiting for a core, CPU time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func benchSnapshot(b *testing.B) *Snapshot {
	v := loadVectors(b)
	return compiledSnapshots(b, v)["main"]
}

// A single assignment: a running experiment without rules, unit in traffic.
func BenchmarkAssignSingle(b *testing.B) {
	s := benchSnapshot(b)
	units := map[string]string{"user_id": "12345"}
	attrs := map[string]string{}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		sinkAssignment = s.Assign("checkout_copy", units, attrs)
	}
	reportCPU(b, start)
}

// Three rules (IN, SEMVER_GTE, GTE) and two holdouts: search_rank.
func BenchmarkAssignThreeRules(b *testing.B) {
	s := benchSnapshot(b)
	units := map[string]string{"user_id": "12345"}
	attrs := map[string]string{"country": "US", "app_version": "2.1.0", "age": "30", "plan": "free"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		sinkAssignment = s.Assign("search_rank", units, attrs)
	}
	reportCPU(b, start)
}

// Every experiment of the 42-experiment vectors snapshot for one unit.
func BenchmarkAppendAll(b *testing.B) {
	s := benchSnapshot(b)
	units := map[string]string{"user_id": "12345", "device_id": "d-1", "session_id": "s-1"}
	attrs := map[string]string{"country": "US", "app_version": "2.1.0", "age": "30", "plan": "free", "attr": "US"}
	buf := make([]Assignment, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		buf = s.AppendAll(buf[:0], units, attrs)
	}
	reportCPU(b, start)
}

func BenchmarkBucket(b *testing.B) {
	b.ReportAllocs()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		sinkBucket = bucketSuffix("4f1c2a9e-7d1b-4c9a-8e2f-123456789abc", "|checkout")
	}
	reportCPU(b, start)
}

var (
	sinkAssignment Assignment
	sinkBucket     uint32
)
