package boltstore_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

const benchPage = 5000

var benchNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchIngest(b *testing.B, s sharing.Store, in []ioc.Indicator) {
	err := s.Update(b.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", in, benchNow)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func benchOpen(b *testing.B) *boltstore.Store {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkIngest merges pages of 5,000 new sha256 indicators, one Update
// (with fsync) each, into a file that grows with b.N; the target is
// 100,000 indicators/s.
func BenchmarkIngest(b *testing.B) {
	s := benchOpen(b)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := storetest.Page(i, benchPage)
		c := cpuTime()
		b.StartTimer()
		benchIngest(b, s, in)
		b.StopTimer()
		cpu += cpuTime() - c
		b.StartTimer()
	}
	n := float64(b.N * benchPage)
	b.ReportMetric(n/b.Elapsed().Seconds(), "indicators/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/indicator")
	if fi, err := os.Stat(s.Path()); err == nil {
		b.ReportMetric(float64(fi.Size())/n, "file-bytes/indicator")
	}
}

// BenchmarkIngestInto1M is BenchmarkIngest into a file that already holds
// 1,000,000 indicators: folding the staging log rewrites leaves all over the
// tree. Run it for a multiple of 105 pages (-benchtime 105x) to count one fold
// per 105 pages, as a long ingest does.
func BenchmarkIngestInto1M(b *testing.B) {
	const prefill = 1_000_000 / benchPage
	s := benchOpen(b)
	for p := range prefill {
		benchIngest(b, s, storetest.Page(p, benchPage))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := storetest.Page(prefill+i, benchPage)
		b.StartTimer()
		benchIngest(b, s, in)
	}
	b.ReportMetric(float64(b.N*benchPage)/b.Elapsed().Seconds(), "indicators/s")
}

// BenchmarkRecordsScan walks 1,000,000 stored records in value order.
func BenchmarkRecordsScan(b *testing.B) {
	const total = 1_000_000
	s := benchOpen(b)
	for p := range total / benchPage {
		benchIngest(b, s, storetest.Page(p, benchPage))
	}
	b.ReportAllocs()
	b.ResetTimer()
	c := cpuTime()
	for i := 0; i < b.N; i++ {
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
	n := float64(b.N * total)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64((cpuTime()-c).Nanoseconds())/n, "cpu-ns/record")
}
