// Package memstore is an in-memory sharing.Store for tests, demos and hosts
// that keep their state elsewhere.
//
// # Transactions
//
// One Update runs at a time and no View runs beside it (a sync.RWMutex); many
// Views run together. An Update changes the store in place and keeps an undo
// log: the entries of each record before its first change, the records it
// created, and the previous value of every checkpoint, ledger entry, applied
// set, run state, the audit log's length and the audit log before a prune.
// When the function returns an error or panics, the log is replayed before the
// lock is released, so no reader ever sees a failed Update. Do not start a
// transaction inside another on the same store: it deadlocks.
//
// # Memory
//
// Values are found through an open-addressing hash table of 8-byte slots (32
// bits of hash and a record id), so merging a value hashes it once. Records sit
// in fixed blocks; a value is copied once into a shared byte block; each
// source's entry is a compact struct (96 bytes) with interned source names and
// tag sets and times packed as Unix seconds and nanoseconds. Strings are copied
// on the way in, so a stored indicator never pins the page it was parsed from.
// A million sha256 indicators from one source with short comments take about
// 270 bytes of heap each (BenchmarkHeapPerIndicator). Interned tag sets are
// never freed: tags unique to each indicator cost a map entry each.
//
// # Order
//
// Records and LedgerEntries walk values in byte order. New values wait in an
// unsorted list that the next scan sorts (by an 8-byte key prefix first) and
// merges in, so ingest does not pay for the order: the first scan after a bulk
// ingest of a million values sorts them once. A scan walks the order as it
// was when the scan began: values merged by the scan's own function are not
// visited.
//
// # Times
//
// Times come back in UTC without a monotonic clock reading, as in every store.
package memstore
