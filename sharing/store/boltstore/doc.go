// Package boltstore is the embedded default sharing.Store: one bbolt file.
//
// # Opening
//
// Open creates the file when it does not exist. Only one process may hold it:
// a second Open waits one second (WithLockTimeout) and then fails with "state
// file X is in use by another cte process". A file that is not a cte state
// file, or one written by a newer cte (a higher SchemaVersion), is refused with
// an error that says so; nothing in it is changed.
//
// # Layout
//
// Bucket meta holds the format marker ("cte-state") and the schema version.
// Bucket records maps each indicator value to its entries, one per source, in a
// compact binary encoding (a version byte, then varints and length-prefixed
// strings; times as Unix seconds and nanoseconds). Bucket checkpoints maps a
// source to its checkpoint, ledger holds one nested bucket per sharing
// configuration mapping a value to its binary ledger entry, applied and runs
// hold JSON per configuration, and audit holds JSON entries under big-endian
// sequence numbers, so the log reads in order and its newest entries from the
// end.
//
// # Durability
//
// An Update commits with fsync before it returns nil, and bbolt's
// copy-on-write pages mean a crash at any point leaves the file as of the last
// commit: a page of indicators and its checkpoint, stored in one Update, are
// both there or both absent. The tests kill a writing process with SIGKILL at
// several points and close and reopen the file at every step. The freelist is
// not written at each commit (bbolt's NoFreelistSync); it is rebuilt when the
// file is opened.
//
// # Transactions
//
// One Update runs at a time; Views run beside it on a consistent snapshot. A
// function given to Records may write (for example mark the record it was
// given inactive): the scan finds its place again after a write, and visits
// values the function added after its current position. Do not start
// a transaction inside another on the same store: it can deadlock.
//
// # Speed
//
// A Merge walks its page in value order. Records are keyed by value, so the
// values of a page land on leaves all over the tree: once the file holds many
// more leaves than a page has values, each page of 5,000 new values rewrites
// about 5,000 4 KiB leaves in its commit. Ingest therefore slows as the file
// grows (see BenchmarkIngest and BenchmarkIngestInto1M); steady-state pulls,
// which bring few new values, are not affected. A scan reads leaves in order
// and is fast.
//
// # Times
//
// Times come back in UTC without a monotonic clock reading, as in every store.
package boltstore
