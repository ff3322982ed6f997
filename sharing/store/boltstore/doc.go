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
// strings; times as Unix seconds and nanoseconds). Bucket staged is the staging
// log: record versions written since the last fold, in blobs of up to 3,800
// bytes (about four to a page) under increasing big-endian sequence numbers, each
// a run of entries: the value then its record encoding, each uvarint length
// then bytes. The newest staged version of a value is its record. Schema
// version 2 added the log, one version per key; version 4 writes blobs, and
// opening an older file rewrites its log (each version a blob of one entry).
// A version 1 file is upgraded when opened. Bucket ranked is the index of
// sharing.RankedTx: one key per active entry, the source's length-prefixed
// name, 255 minus the severity, LastSeen's Unix nanoseconds inverted (newest
// first) and the value, mapped to the entry's type byte. Schema version 3
// added it: opening an older file builds it once from the records (after
// folding the log), with its counts, in one transaction; a build that fails
// leaves it missing, and the next Open builds it again. Opening a file of an older schema marks it with the
// current one (SchemaVersion), which an older cte refuses: it would not keep
// the index, nor read the log's blobs. Bucket rankedN counts the ranked
// keys: the source's length-prefixed name and a type byte, mapped to a
// big-endian count. Schema version 5 added it: opening an older file counts
// the ranked bucket once. Bucket checkpoints maps a
// source to its checkpoint, ledger holds one nested bucket per sharing
// configuration mapping a value to its binary ledger entry, applied and runs
// hold JSON per configuration, marks maps a value an operator took out of
// sharing to its mark (JSON), and audit holds JSON entries under big-endian
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
// written at each commit, so Open reads it instead of walking every page
// (a file written by an older cte, which did not keep it, is walked once).
//
// # Damage
//
// A damaged file never crashes cte. Open refuses an existing empty file (it
// is never initialised again, which would share everything again) and a
// file shorter than the pages its last commit uses (checked from the meta
// pages before bbolt maps the file); the panics and memory faults bbolt
// raises on an overwritten page become errors. All of them wrap ErrDamaged
// and say how to recover: restore a backup, or move the file away. Check
// reads the whole file (every page and key first, where a fault is
// recovered, then bbolt's page and freelist check, then every record and
// ledger entry decoded) and reports what is wrong; Updates wait for it.
// Backup and BackupFile write a consistent copy while the store is in use. cte state check and cte
// state backup FILE run them.
//
// # Versions
//
// Bucket versions holds each source's change number (sharing.Tx.Version),
// bumped in the transaction that changes the source's entries, so the
// engine can skip a share or an aging pass that nothing changed.
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
// Records are keyed by value and values (hashes) are random, so writing a
// page's records in place would rewrite about one leaf per value in every
// commit once the file holds many more leaves than a page has values. Record
// writes (Merge, SetInactive) therefore append to the staging log, in values
// (blobs) of up to 3,800 bytes, about 190 for a page of 5,000 records,
// rather than one bbolt put per record (a put
// costs about a microsecond and an allocation: a third of the puts of a first
// sync), and an in-memory index maps each staged value's hash to its
// versions (a random-seeded 64-bit maphash; a reader checks the value in the
// blob entry, and values that share a hash are kept by value). Open's
// index build, a fold, a View's Records and a View that reads thousands of
// staged versions read the log's blobs once into a table by sequence
// (blobs.go) rather than seek each from the log's root; the folds and
// Records find each value's newest version by sorting the log's entries.
// When the log holds 4,194,304 versions (or 524,288 when the records
// bucket holds at least as many values as the log versions, by the count of
// the key filter below, once built), the Update that reaches that number
// folds it into the records bucket in value order, rewriting each leaf once
// for many values, and empties it (a fold that large is made after the
// Update's commit, in bounded transactions: see below); so does the first
// Records call of an Update, inside it, so that the scan sees the writes its
// function makes.
// The index is rebuilt from the log on Open and costs about 30 bytes of
// memory per value staged once, none of it a string or a pointer for the
// collector to scan (a value staged again adds a slice of its older
// versions; 30 bytes each for 383,146 values, 36 for 1.9M; about
// 145 MiB when full; a fold keeps 8 bytes per value
// more, the refs it puts in value order, and briefly 16 per version while
// it sorts the log's entries in a View, each as its value's first 8 bytes
// and its ref: the last version of each value is its newest, checked
// against the index's count and a sum of its values' hashes and newest
// refs, so a blob lost or changed since is found before anything is put);
// a Bloom filter of the records bucket's keys (2 to 4 bytes
// per record) lets a Merge skip the tree lookup of a value never stored; it is
// built (reading every key) only once a store has made 131,072 lookups, so a
// sync with little new does not pay for it at every open. Both
// live only in memory: the file alone is the state, and crash safety is
// bbolt's. A View on a snapshot older than the last fold reads its own copy of
// that snapshot's log.
//
// A fold whose values all sort after the last record (the first one, into an
// empty file) fills its leaves full instead of half, writing half the pages.
// The first fold of a store (into an empty records bucket, from a Merge or
// Close) takes the same path, without old records to merge. A fold of at
// least an eighth as many values as the records bucket holds (about: the
// count of the Bloom filter below; the fold at Close that ends a first sync,
// and those in the middle of a sync of more than 4M values), writes the
// bucket anew
// instead of putting each value at random (rebuild.go): after the Update
// that started it has committed, the records and the newest staged versions
// are merged in key order and put in order into a new bucket with full
// leaves, 131,072 records a transaction, under a bucket of their own; a last
// transaction moves it in place of the records and empties the log. Until
// then the records and the log are as they were, for Views and after a
// crash alike (Open drops a half-written bucket). A put at random costs
// several in order and splits its leaf half full; and since bbolt splits a
// bucket's nodes only at the commit, a bucket written whole in one
// transaction would be one node of millions of entries, regrown at every
// put, with all its pages held until the commit. A log that large lands on
// nearly every leaf, so folded in place it would hold every page of the
// bucket in memory until its commit (474 MB of page buffers and 213 MB of
// nodes at the end of a first sync of 1M events, when Close folded in
// place).
//
// Any other fold of a log of more than 8,192 versions that a Merge or Close
// starts (a Close of a steady-state sync, 65,000 to 150,000 values into a
// file of 1.9M records) is made in place after its Update has committed too
// (fold.go): the newest staged versions, in value order, 8,192 a
// transaction, then a last transaction empties the log. A value lands on a
// leaf of its own, and bbolt holds every leaf a transaction dirties, with a
// page buffer each, until the commit: in one transaction, 148,000 values
// into 1.9M records held about 800 MB of heap and the file grew by 260 MB,
// as none of the pages it freed could be reused before its commit. Until
// the last transaction a folded value is in the records and still in the
// log, the same version, and reads take the log's: Views read what they
// did, and after a crash the next fold puts those values again. Smaller
// folds are made inside their Update, and so are, whatever the log holds,
// the folds that a write needing every record in the bucket makes: a
// Records call inside an Update (so that its scan sees the Update's writes)
// and the one-time build of the ranked index of an old file. DeleteRecord
// folds nothing: it deletes the value from the records bucket and, when the
// log holds it, stages a tombstone (an empty record), which reads as no
// record and which a fold turns into a delete. An Update that meets a damaged page after its commit (in a rebuild
// or a fold) returns ErrDamaged and keeps what it committed visible.
//
// The ranked index and the ledger of a first share also fill their leaves
// whole: their keys come in runs (a page's new values at the front of their
// severities; a ledger written in key order into an empty bucket). In a View,
// lookups in key order (a ranked read's batch; a ledger's, whose bucket and
// cursor a transaction keeps) step the cursor forward a few keys before they
// seek from the root, and seek at once for a while after a step ran out.
//
// Close folds what the log holds once it holds at least 65,536 versions, so
// that the next Open of the file (the next cte sync) has no large index to
// rebuild: a no-change sync of a 200k-event store went from 0.52 to 0.34 s of
// CPU. A smaller log is left for the next Open to index (tens of
// milliseconds): folding it into a large file would rewrite a leaf per value
// (0.66 s of a 1%-new sync into a 1M-event store).
//
// Why a staging log on bbolt rather than another engine: measured with
// internal/storecmp (README, "State store"), the write pattern of a pull
// (pages of 5,000 random keys, each read then written, one fsync per page)
// costs bbolt with sorted puts about 13 µs of CPU per record at 390,000
// records and 26 µs at 1.9M, SQLite through modernc.org/sqlite about 70, and
// pebble/v2 used as its source says (sorted pages, one iterator with
// UseL6Filters, a block cache larger than its memtables) about 5.3 and 7.5
// µs. The log turns bbolt's random writes into appends: this package's
// whole Merge costs about 6 µs per indicator at 390,000 and 11.5 at 1.9M,
// and bbolt scans and reopens in milliseconds with no further dependency.
// A pebble store is the candidate once stores of millions are common.
//
// Pages of 5,000 new sha256 indicators, one Update with fsync each, on 2
// cores: BenchmarkIngest about 200,000 to 265,000 indicators/s into a new
// file (500,000 indicators; 3.7 to 5.2 µs of CPU each), BenchmarkIngestInto1M
// about 107,000/s into a file of 1M (one fold per 105 pages), against 50,000
// and 29,000/s when pages were written in place. A scan merges the log
// with the records bucket, each staged value looked up in the log:
// BenchmarkRecordsScan about 650 ns per record when 476,000 of the 1M are
// staged, 270 when none are.
//
// # The ranked index
//
// Merge, SetInactive, PutRecord and DeleteRecord change an entry's ranked
// key in the transaction that changes the entry: the old key (when the entry
// was active) is deleted and the new one (when it is active) put. The keys
// are written to their bucket directly, not through the staging log, so
// every snapshot, staged or folded, sees the index of its own records, and a
// fold, which changes no record, leaves the index alone. A call's key
// changes wait in memory and are applied in key order at its end (and
// before a Ranked call of the same Update), as bbolt wants its puts, with
// the changes to the counts of bucket rankedN. A share that stops reading
// once its list is full learns from the counts how many keys it left
// (RankedCount), without reading them: at 1M events they are 1.7M keys.
//
// What it costs and gains, measured with the whole-job benchmark (README,
// "Speed"): the index is a second B-tree write per stored value, about 1.8
// µs of CPU per value on this machine, and about 100 bytes per active entry
// on disk. A Replace share then reads the source in packing order and stops
// once the list is full; every record it reads is a random lookup (with its
// ledger lookup), which costs more per record than the sequential scan it
// replaces, so it pays off only where the list holds a small part of the
// source. Measured in one session against the code without it: a 1%-new
// sync of a 1M-event store 5.9 → 4.8 s of CPU and 357 → 203 MB of peak
// heap; at 200,000 events (the list a third of the source) every scenario
// within noise in CPU; a first sync of 1M events 27.0 → 31.4 s, and peak
// RSS about 80 MB (200k) and 400 MB (1M) higher.
//
// # Times
//
// Times come back in UTC without a monotonic clock reading, as in every store.
package boltstore
