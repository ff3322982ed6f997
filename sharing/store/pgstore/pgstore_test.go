package pgstore_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/pgstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), dsn, pgstore.WithMaxConns(8))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) sharing.Store { return open(t, pgtest.DSN(t)) })
}

// BenchmarkIngest stores pages of 5,000 new sha256 indicators, one Update
// each, and reports indicators/s of wall time, and per CPU second of this
// process and its database server process together (cpu-indicators/s: what a
// machine with a free core for each would do; the shared test machine's wall
// time depends on its load).
func BenchmarkIngest(b *testing.B) {
	s, err := pgstore.Open(b.Context(), pgtest.DSN(b), pgstore.WithMaxConns(1))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	const page = 5000
	server := serverPID(b, s)
	client0, server0 := processCPU(b, os.Getpid()), processCPU(b, server)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		in := storetest.Page(i, page)
		b.StartTimer()
		require.NoError(b, s.Update(b.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", in, t0)
			return err
		}))
	}
	client, srv := processCPU(b, os.Getpid())-client0, processCPU(b, server)-server0
	n := float64(b.N * page)
	b.ReportMetric(n/b.Elapsed().Seconds(), "indicators/s")
	b.ReportMetric(n/(client+srv).Seconds(), "cpu-indicators/s")
	b.ReportMetric(float64(client.Microseconds())*1000/n, "client-cpu-ns/indicator")
	b.ReportMetric(float64(srv.Microseconds())*1000/n, "server-cpu-ns/indicator")
}

// serverPID returns the process id of the database server process of a store
// with one connection (the cluster runs on this machine).
func serverPID(b *testing.B, s *pgstore.Store) int {
	var pid int
	require.NoError(b, s.View(b.Context(), func(tx sharing.Tx) error {
		return pgstore.QueryRow(tx, `SELECT pg_backend_pid()`, &pid)
	}))
	return pid
}

// processCPU returns the user and system time of a process from /proc.
func processCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// BenchmarkIngestUpdate merges pages of 5,000 indicators the store holds
// already (the merge-and-update path).
func BenchmarkIngestUpdate(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	const page, pages = 5000, 10
	for p := range pages {
		in := storetest.Page(p, page)
		require.NoError(b, s.Update(b.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", in, t0)
			return err
		}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in := storetest.Page(i%pages, page)
		require.NoError(b, s.Update(b.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", in, t0.Add(time.Hour))
			return err
		}))
	}
	b.ReportMetric(float64(b.N*page)/b.Elapsed().Seconds(), "indicators/s")
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// Many ledger lookups in one transaction are answered from the ledger read
// at once; they still see the transaction's own writes, and only its own.
func TestLedgerLookupsAfterPrefetch(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	entries := make([]sharing.LedgerEntry, 200)
	for i := range entries {
		entries[i] = sharing.LedgerEntry{Value: storetest.Hash(i), Type: ioc.TypeSHA256, State: sharing.StateApplied,
			Fingerprint: uint64(i) << 60, At: t0.Add(time.Duration(i) * time.Nanosecond)}
	}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutLedger("c", entries) }))
	lookup := func(tx sharing.Tx, i int) (sharing.LedgerEntry, bool) {
		e, ok, err := tx.Ledger("c", storetest.Hash(i))
		require.NoError(t, err)
		return e, ok
	}
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		for i := range 150 { // past the prefetch threshold
			e, ok := lookup(tx, i)
			require.True(t, ok, i)
			require.Equal(t, entries[i], e, i)
		}
		_, ok := lookup(tx, 1000)
		assert.False(t, ok, "an unknown value")
		changed := entries[3]
		changed.State, changed.Reason, changed.NextAttempt = sharing.StateRetryable, "quota", t0.Add(time.Hour+time.Nanosecond)
		added := sharing.LedgerEntry{Value: storetest.Hash(1000), Type: ioc.TypeSHA256, State: sharing.StateRejected, At: t0}
		require.NoError(t, tx.PutLedger("c", []sharing.LedgerEntry{changed, added}))
		e, _ := lookup(tx, 3)
		assert.Equal(t, changed, e, "the transaction's own write")
		e, ok = lookup(tx, 1000)
		assert.True(t, ok)
		assert.Equal(t, added, e)
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for i := range 100 {
			lookup(tx, i)
		}
		e, _ := lookup(tx, 3)
		assert.Equal(t, entries[3], e, "rolled back")
		_, ok := lookup(tx, 1000)
		assert.False(t, ok, "rolled back")
		return nil
	}))
}

// Record lookups in ascending order are read ahead in a View; they give what
// point lookups give, absent values included, in any order.
func TestRecordReadAhead(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	var values []string
	for p := range 3 {
		in := storetest.Page(p, 1000)
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", in, t0)
			return err
		}))
		for _, x := range in {
			values = append(values, x.Value)
		}
	}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { // a second source on some values
		_, err := tx.Merge("other", storetest.Page(1, 10), t0)
		return err
	}))
	// every third value, with absent ones between: a sparse and a dense pass
	lookups := slices.Clone(values)
	for i := range 500 {
		lookups = append(lookups, storetest.Hash(1_000_000+i))
	}
	slices.Sort(lookups)
	want := map[string]sharing.Record{}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { // no read-ahead in an Update
		for _, v := range lookups {
			r, ok, err := tx.Record(v)
			require.NoError(t, err)
			if ok {
				want[v] = r
			}
		}
		return nil
	}))
	require.Len(t, want, len(values))
	check := func(order []string) {
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			for _, v := range order {
				r, ok, err := tx.Record(v)
				require.NoError(t, err)
				w, wok := want[v]
				require.Equal(t, wok, ok, v)
				require.Equal(t, w, r, v)
			}
			return nil
		}))
	}
	check(lookups)
	sparse := []string{}
	for i := 0; i < len(lookups); i += 40 {
		sparse = append(sparse, lookups[i])
	}
	check(sparse)
	desc := slices.Clone(lookups)
	slices.Reverse(desc)
	check(desc)
}
