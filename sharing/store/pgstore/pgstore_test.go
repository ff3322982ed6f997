package pgstore_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
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
