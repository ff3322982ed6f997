// Package pgstore is a sharing.Store in PostgreSQL (through pgx), the shared
// state of several cte instances.
//
// # Opening
//
// Open takes a connection string (postgres://user@host:5432/db?sslmode=require;
// the password from PGPASSWORD or ~/.pgpass, or in the URL) and applies the
// schema migrations embedded in the binary that the database lacks, in one
// transaction under an advisory lock, so instances starting together apply
// each once. The version is kept in table cte_schema; a database written by a
// newer cte is refused (ErrNewerSchema) and left unchanged. The user needs
// CONNECT on the database and USAGE and CREATE on its schema for the first
// Open (CREATE only while migrations are pending), then SELECT, INSERT, UPDATE
// and DELETE on the cte_ tables and USAGE on their sequences (cte_audit's).
// A search_path runtime parameter in the URL
// puts the tables in another schema.
//
// # Layout
//
// One row per indicator value and source in cte_entries (primary key value,
// source, in the "C" collation so rows sort as Go strings do), the ledger in
// cte_ledger (config, value), checkpoints, applied sets, run state, the audit
// log (cte_audit, by a sequence), leases, each source's change number
// (cte_versions, sharing.Tx.Version) and the operator's marks (cte_marks),
// each in a table of its own, with
// plain columns other tools can query. Times are timestamptz, NULL for none;
// a table's ns column keeps the nanoseconds under the microsecond, so times
// come back exactly as stored, in UTC.
//
// # Transactions
//
// A View is a REPEATABLE READ, read-only transaction: a consistent snapshot,
// beside writers. An Update takes a transaction-level advisory lock first, so
// one write transaction runs at a time across all instances (as with the
// embedded store), and everything committed before it is visible to it. Scans
// (Records, LedgerEntries) read 1,000 rows per query and call their function
// between queries, so it may read and write in the same transaction.
//
// # Leases
//
// Store implements sharing.Leaser on table cte_leases: a row per lease with
// its holder, an expiry by the database's clock (so instances' clocks do not
// matter) and a fencing token that grows whenever the lease changes hands or
// is taken after expiring. Update checks, just before committing, that every
// lease its context carries (sharing.WithLeases) is still held with its token,
// and locks those rows FOR SHARE, so a takeover waits for the commit; a
// stalled instance's late write fails with sharing.ErrLeaseLost instead.
// Writers take one advisory lock; a session left idle in a transaction (an
// instance paused in the middle of an Update) is ended by the database after
// DefaultStallTimeout (WithStallTimeout), so it cannot hold the others' writes.
//
// # Speed
//
// Merge reads a page's stored values in one query (value = ANY, the values
// sent as one binary text[] to a prepared statement), merges in memory,
// writes new entries with COPY and changed ones with COPY into a temporary
// table and one UPDATE. It handles a page's values in value order, so the
// read's index probes and the COPY's index inserts walk the primary key in
// order rather than at random. The COPY is in PostgreSQL's binary format,
// encoded by the store column by column (copy.go) as the connection sends
// it, so the client encodes while the server stores the rows before; a page
// of new values is merged while the server looks them up; and the store
// keeps a merge's working memory for the next one. PutLedger writes 20,000
// entries per statement (INSERT ... SELECT FROM unnest ... ON CONFLICT). A
// transaction that looks up more than 64 values in one configuration's
// ledger reads that whole ledger once (PutLedger keeps the copy current), and
// a View whose Record lookups go up in value order (a share reading what it
// packed) reads 1,000 rows ahead at a time while each window serves at least
// 50 of them, so neither costs a round trip per value.
//
// BenchmarkIngest (make bench-pg) stores pages of 5,000 new sha256
// indicators, one Update each, into the throwaway cluster of
// scripts/testpg.sh (PostgreSQL 15, default settings, fsync and
// synchronous_commit on) on the same 2-core machine, and reports the CPU both
// processes spent as well as the wall rate. Measured on the shared machine
// (load about 1.6), in interleaved runs of 40 pages against the design
// before (rows as []any through pgx.CopyFrom, the read's values encoded by
// pgx, no overlap): 1.6 to 1.9 µs of client CPU per indicator (the
// benchmark's own page building included) against 6.0 to 6.6 µs; 7.0 to 7.3
// µs of server CPU against 7.2 to 8.1 µs; 109,000 to 117,000 indicators per
// CPU second against 68,000 to 75,000; and 123,000 to 128,000 indicators/s
// of wall time against 79,000 to 92,000 (99,000 to 111,000 while other
// people's benchmarks kept the load at 2 to 2.5). Most of the server's share
// is the primary key's B-tree (its descents for the read's probes and the
// COPY's inserts: the values are random hashes) and the WAL. An Update of a
// page of new values makes five round trips: begin and lock, the read, the
// COPY, the version, and the commit, which waits for the WAL's fsync.
//
// Tried and measured earlier, against the design before this one: copying
// a page into a temporary table and inserting its new values with one
// INSERT ... SELECT (with or without ON CONFLICT), with no read before, costs
// 2.5 to 3 times the server CPU (24,000 to 31,000 ns per indicator against
// 9,000 to 11,500), as a row-by-row insert loses COPY's batched heap and WAL
// writes; server-side wal_compression = lz4 changed the server's share by
// under 10%, within the noise.
package pgstore
