package memstore_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

const pageSize = 5000

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ingest(b *testing.B, s sharing.Store, in []ioc.Indicator) {
	err := s.Update(b.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", in, now)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine it tells what the work cost when wall time includes waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest merges pages of 5,000 new sha256 indicators, one Update
// each, into a store that grows to 1,000,000 and then starts afresh. The
// issue's target is 1,000,000 indicators/s.
func BenchmarkIngest(b *testing.B) {
	const pages = 200
	s := memstore.New()
	b.ReportAllocs()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if i%pages == 0 {
			s = memstore.New()
		}
		in := storetest.Page(i%pages, pageSize)
		c := cpuTime()
		b.StartTimer()
		ingest(b, s, in)
		b.StopTimer()
		cpu += cpuTime() - c
		b.StartTimer()
	}
	n := float64(b.N * pageSize)
	b.ReportMetric(n/b.Elapsed().Seconds(), "indicators/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/indicator")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/indicator")
}

// BenchmarkReingest merges pages the store already holds (the Updated path).
func BenchmarkReingest(b *testing.B) {
	const pages = 20
	s := memstore.New()
	all := make([][]ioc.Indicator, pages)
	for p := range all {
		all[p] = storetest.Page(p, pageSize)
		ingest(b, s, all[p])
	}
	b.ReportAllocs()
	b.ResetTimer()
	c := cpuTime()
	for i := 0; i < b.N; i++ {
		ingest(b, s, all[i%pages])
	}
	n := float64(b.N * pageSize)
	b.ReportMetric(n/b.Elapsed().Seconds(), "indicators/s")
	b.ReportMetric(float64((cpuTime()-c).Nanoseconds())/n, "cpu-ns/indicator")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHeapPerIndicator stores 1,000,000 sha256 indicators from one
// source with short comments and reports the heap they take (target: at most
// 512 bytes each), after a scan has built the sorted index.
func BenchmarkHeapPerIndicator(b *testing.B) {
	const total = 1_000_000
	for b.Loop() {
		before := heapInUse()
		s := memstore.New()
		for p := range total / pageSize {
			ingest(b, s, storetest.Page(p, pageSize))
		}
		err := s.View(b.Context(), func(tx sharing.Tx) error {
			return tx.Records(func(*sharing.Record) error { return nil })
		})
		if err != nil {
			b.Fatal(err)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/total, "heap/indicator")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		runtime.KeepAlive(s)
	}
}

// BenchmarkRecordsScan walks 1,000,000 stored records in value order.
func BenchmarkRecordsScan(b *testing.B) {
	const total = 1_000_000
	s := memstore.New()
	for p := range total / pageSize {
		ingest(b, s, storetest.Page(p, pageSize))
	}
	scan := func() {
		n := 0
		err := s.View(b.Context(), func(tx sharing.Tx) error {
			return tx.Records(func(r *sharing.Record) error {
				if r.Entries[0].Severity >= ioc.SeverityHigh {
					n++
				}
				return nil
			})
		})
		if err != nil || n == 0 {
			b.Fatal(err, n)
		}
	}
	scan() // the first scan sorts the values once
	b.ReportAllocs()
	b.ResetTimer()
	c := cpuTime()
	for i := 0; i < b.N; i++ {
		scan()
	}
	n := float64(b.N * total)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64((cpuTime()-c).Nanoseconds())/n, "cpu-ns/record")
}

// BenchmarkFirstScanAfterIngest is the first scan after a bulk ingest of
// 1,000,000 values: it sorts them once.
func BenchmarkFirstScanAfterIngest(b *testing.B) {
	const total = 1_000_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := memstore.New()
		for p := range total / pageSize {
			ingest(b, s, storetest.Page(p, pageSize))
		}
		b.StartTimer()
		err := s.View(b.Context(), func(tx sharing.Tx) error {
			return tx.Records(func(*sharing.Record) error { return nil })
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
