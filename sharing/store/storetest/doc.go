// Package storetest is the conformance suite every sharing.Store passes.
//
// # Use
//
// A store's tests call Run with a function that opens a new, empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) sharing.Store {
//			s := memstore.New()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// # What it checks
//
//   - Merge: ioc.Merge per source, New/Added/Updated counts (a value repeated
//     within one page counts once as new and then as updated), entries sorted by
//     source, Source and StoredAt set by the store, reactivation of inactive
//     entries, and refusal of unnormalised values, invalid types and empty
//     source names (a failed Merge stores none of its page).
//   - Records in value order (also between pages, for stores that sort lazily),
//     ErrStop, errors passed through, writes during a scan, and reads that are
//     copies the caller may change.
//   - SetInactive, checkpoints (nil before the first page, nil resets),
//     the ledger per sharing configuration, applied sets, run state.
//   - The audit log: increasing Seq assigned by the store, filters by level
//     (the zero MinLevel is Info), time, configuration, and Limit (the newest N,
//     oldest first).
//   - Transactions: an Update whose function returns an error or panics leaves
//     no trace anywhere; writes inside View return sharing.ErrReadOnly; a
//     cancelled context stops View, Update and long scans; a Tx used after its
//     function returned fails; readers beside a writer only see whole commits.
//   - Times come back in UTC without a monotonic reading, nanoseconds and the
//     zero time kept.
//   - RunRanked, for a store whose Tx is a sharing.RankedTx: Ranked and
//     RankedBefore against what Records gives, and RankedCount against what
//     Ranked gives, by type, after writes, inside Updates and after a
//     rollback.
//
// Hash gives distinct normalised sha256 values for a store's own tests and
// benchmarks.
package storetest
