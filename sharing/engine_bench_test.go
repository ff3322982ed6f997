package sharing_test

import (
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

const benchStored = 1_000_000

var (
	benchOnce   sync.Once
	benchEngine *sharing.Engine
	benchHeap   uint64
)

// benchWorld stores 1,000,000 indicators of one source and configures a Replace
// sharing (a 300,000-entry hash list) and an Append sharing over them.
func benchWorld(b *testing.B) *sharing.Engine {
	benchOnce.Do(func() {
		now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := memstore.New()
		page := make([]ioc.Indicator, 0, 5000)
		var buf [32]byte
		for i := range benchStored {
			binary.BigEndian.PutUint64(buf[:], uint64(i)*0x9e3779b97f4a7c15)
			page = append(page, ioc.Indicator{Type: ioc.TypeSHA256, Value: hex.EncodeToString(buf[:]),
				Severity: ioc.Severity(i % 5), LastSeen: now.Add(-time.Duration(i%1000) * time.Minute), Tags: []string{"feed"}})
			if len(page) == cap(page) {
				if err := s.Update(b.Context(), func(tx sharing.Tx) error { _, err := tx.Merge("src", page, now); return err }); err != nil {
					b.Fatal(err)
				}
				page = page[:0]
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		benchHeap = after.HeapInuse - before.HeapInuse
		list := cte.Target{ID: "list", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 300_000, MaxBytes: 8 << 20}}
		op := cte.Target{ID: "op", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{BatchSize: 500}}
		eng, err := sharing.New(s, sharing.WithClock(func() time.Time { return now }))
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		must := func(err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		must(eng.AddPlugin("src", plugintest.NewFake(), sharing.SourceSettings{}))
		list2 := list
		list2.ID = "list2"
		must(eng.AddPlugin("dst", plugintest.NewFake(list, list2, op), sharing.SourceSettings{}))
		must(eng.AddRule(sharing.Rule{Name: "r", Filter: `type == sha256 and severity >= medium and lastSeen > 30d`,
			Exceptions: []sharing.Exception{{Tags: []string{"benign"}}}}))
		must(eng.AddSharing(ctx, sharing.Config{Name: "replace", Source: "src", Rule: "r", Destination: "dst", Target: "list"}))
		must(eng.AddSharing(ctx, sharing.Config{Name: "append", Source: "src", Rule: "r", Destination: "dst", Target: "op"}))
		must(eng.AddSharing(ctx, sharing.Config{Name: "replace-share", Source: "src", Rule: "r", Destination: "dst", Target: "list2"}))
		benchEngine = eng
	})
	return benchEngine
}

// BenchmarkPlan1M plans a share over 1,000,000 stored indicators (600,000 match).
func BenchmarkPlan1M(b *testing.B) {
	eng := benchWorld(b)
	for _, name := range []string{"replace", "append"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := eng.Plan(b.Context(), name, 0)
				if err != nil {
					b.Fatal(err)
				}
				if p.Matched != 600_000 {
					b.Fatalf("matched %d, want 600000", p.Matched)
				}
			}
			b.ReportMetric(float64(benchHeap)/benchStored, "store-heap-B/indicator")
		})
	}
}

// BenchmarkShareReplaceNoChange1M is the steady state of a Replace sharing over
// 1,000,000 stored indicators: select, pack, compare with the applied list, and
// push nothing.
func BenchmarkShareReplaceNoChange1M(b *testing.B) {
	eng := benchWorld(b)
	rep, err := eng.Share(b.Context(), "replace-share")
	if err != nil || !rep.Pushed || rep.Applied != (8<<20)/65 {
		b.Fatalf("first share: %+v, %v", rep, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := eng.Share(b.Context(), "replace-share")
		if err != nil || rep.Pushed {
			b.Fatalf("share: %+v, %v", rep, err)
		}
	}
}

// BenchmarkAgingPass200k is a day of aging over a file store of 200,000
// indicators seen over 100 days (90 days of aging): each pass marks about 2,000
// inactive. "index" reads the entries seen before the cut from the ranked
// index (RankedTx.RankedBefore); "full-scan" reads every record, as a store
// without the index makes it.
func BenchmarkAgingPass200k(b *testing.B) {
	for _, mode := range []string{"index", "full-scan"} {
		b.Run(mode, func(b *testing.B) {
			const n, days = 200_000, 100
			start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			page := make([]ioc.Indicator, 0, 5000)
			var buf [32]byte
			for i := range n {
				binary.BigEndian.PutUint64(buf[:], uint64(i)*0x9e3779b97f4a7c15)
				seen := start.Add(-time.Duration(i%(days*24)) * time.Hour)
				page = append(page, ioc.Indicator{Type: ioc.TypeSHA256, Value: hex.EncodeToString(buf[:]), Severity: ioc.Severity(i % 5), LastSeen: seen})
				if len(page) == cap(page) {
					if err := s.Update(b.Context(), func(tx sharing.Tx) error { _, err := tx.Merge("src", page, start); return err }); err != nil {
						b.Fatal(err)
					}
					page = page[:0]
				}
			}
			now := start.Add(-11 * 24 * time.Hour) // nothing expired yet
			var st sharing.Store = s
			if mode == "full-scan" {
				st = unranked{s}
			}
			eng, err := sharing.New(st, sharing.WithClock(func() time.Time { return now }))
			if err != nil {
				b.Fatal(err)
			}
			if err := eng.AddPlugin("src", plugintest.NewFake(), sharing.SourceSettings{Aging: 90 * 24 * time.Hour}); err != nil {
				b.Fatal(err)
			}
			if _, err := eng.Age(b.Context()); err != nil { // the first pass counts the source
				b.Fatal(err)
			}
			inactive := 0
			for b.Loop() {
				now = now.Add(24 * time.Hour)
				rep, err := eng.Age(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				inactive += rep.Inactive["src"]
			}
			if inactive == 0 {
				b.Fatal("nothing aged out")
			}
			b.ReportMetric(float64(inactive)/float64(b.N), "inactive/pass")
		})
	}
}
