package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// Open returns a new, empty store for one test. It should register the store's
// Close with t.Cleanup.
type Open func(t *testing.T) sharing.Store

// Run checks that the stores open returns behave as sharing.Store requires.
// Every check runs as a parallel subtest on a store of its own.
func Run(t *testing.T, open Open) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

var checks = []struct {
	name string
	fn   func(t *testing.T, s sharing.Store)
}{
	{"MergeCounts", testMergeCounts},
	{"MergeCombinesPerSource", testMergeCombinesPerSource},
	{"MergeDuplicateInOnePage", testMergeDuplicateInOnePage},
	{"MergeRejectsBadInput", testMergeRejectsBadInput},
	{"MergeKeepsFirstType", testMergeKeepsFirstType},
	{"SetInactiveAndReactivate", testSetInactiveAndReactivate},
	{"RecordsOrder", testRecordsOrder},
	{"RecordsStopAndError", testRecordsStopAndError},
	{"RecordsSeeOwnWrites", testRecordsSeeOwnWrites},
	{"RecordsWriteDuringScan", testRecordsWriteDuringScan},
	{"RecordsNestedScan", testRecordsNestedScan},
	{"ReadsAreCopies", testReadsAreCopies},
	{"TimesUTC", testTimesUTC},
	{"Checkpoints", testCheckpoints},
	{"Ledger", testLedger},
	{"LedgerRejectsBadInput", testLedgerRejectsBadInput},
	{"LedgerWriteDuringScan", testLedgerWriteDuringScan},
	{"AppliedSets", testAppliedSets},
	{"AuditSeqAndFilters", testAuditSeqAndFilters},
	{"PruneLogs", testPruneLogs},
	{"PruneLogsRollback", testPruneLogsRollback},
	{"RunState", testRunState},
	{"RollbackOnError", testRollbackOnError},
	{"RollbackOnPanic", testRollbackOnPanic},
	{"ReadOnlyView", testReadOnlyView},
	{"CancelledContext", testCancelledContext},
	{"TxAfterReturn", testTxAfterReturn},
	{"Concurrency", testConcurrency},
}

var (
	t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

// Hash returns a distinct normalised sha256 value for i. Its hex digits look
// random all the way, as real hashes do (the first 16 are a bijection of i).
func Hash(i int) string {
	var b [64]byte
	x := uint64(i)
	for w := range 4 {
		x = mix(x + uint64(w))
		for j := range 16 {
			b[w*16+j] = "0123456789abcdef"[(x>>(60-4*j))&15]
		}
	}
	return string(b[:])
}

// mix is splitmix64's finaliser, a bijection.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func sha(i int, lastSeen time.Time) ioc.Indicator {
	return ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(i), Severity: ioc.SeverityMedium, Reputation: 6,
		Comments: fmt.Sprintf("file-%d.exe", i), Tags: []string{"malware"}, FirstSeen: lastSeen, LastSeen: lastSeen}
}

func update(t *testing.T, s sharing.Store, fn func(tx sharing.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), fn))
}

func merge(t *testing.T, s sharing.Store, source string, in []ioc.Indicator, now time.Time) sharing.MergeStats {
	t.Helper()
	var st sharing.MergeStats
	update(t, s, func(tx sharing.Tx) error {
		var err error
		st, err = tx.Merge(source, in, now)
		return err
	})
	return st
}

func record(t *testing.T, s sharing.Store, value string) (sharing.Record, bool) {
	t.Helper()
	var r sharing.Record
	var ok bool
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		r, ok, err = tx.Record(value)
		return err
	}))
	return r, ok
}

// Values returns the values of the records s holds, in value order.
func Values(t *testing.T, s sharing.Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			out = append(out, r.Value)
			return nil
		})
	}))
	return out
}
