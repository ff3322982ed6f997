package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Store keeps everything the engine must not lose: indicators, checkpoints, the
// sharing ledger, the applied digests of Replace targets, the audit log and run
// state. Implementations: sharing/store/memstore (tests, demos) and
// sharing/store/boltstore (the embedded default). Every read and write happens in a
// transaction, so an implementation over SQL maps one to one.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction: all of fn's writes are committed
	// together when fn returns nil, and none of them when it returns an error.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store.
	Close() error
}

// ErrReadOnly is returned by a write method called inside View.
var ErrReadOnly = errors.New("sharing: write in a read-only transaction")

// Tx is one transaction. It must not be used after its function returns.
//
// Scans (Records, LedgerEntries, Logs, Marks) take a function rather than
// returning an iter.Seq2, on purpose: a scan lives inside its transaction, and
// a callback cannot outlive it, whereas an iterator could be kept and ranged
// over after the View or Update returned, on a snapshot that is gone. The
// callback's error ends the scan and comes back unchanged, fn may write
// during a scan of an Update (the store finds its place again), and the
// shape maps one to one to a SQL cursor loop.
type Tx interface {
	// Merge stores indicators reported by source: a value seen before from the same
	// source is combined with ioc.Merge, a value new to this source adds an entry.
	// Entries merged again become active. Indicators must be normalised (ioc.Parse).
	Merge(source string, in []ioc.Indicator, now time.Time) (MergeStats, error)
	// Record returns the stored record of a value.
	Record(value string) (Record, bool, error)
	// Records calls fn for every record in value order until fn returns an error
	// (ErrStop ends the scan without error). fn must not keep r past its return.
	Records(fn func(r *Record) error) error
	// SetInactive marks the entries of source for values inactive (aged or
	// expired) at the given time. Unknown values are ignored.
	SetInactive(source string, values []string, at time.Time) error
	// Version returns the change number of source's entries: 0 before any,
	// then greater after every write that changes what a selection can see
	// of them. Merge adding an entry or changing one, SetInactive marking
	// one, PutRecord and DeleteRecord touching one all increase it (once per
	// call is enough); a Merge that only moves an entry's StoredAt does not,
	// unless the entry has no LastSeen (its aging then runs from StoredAt).
	// It is durable and increases across restarts. The engine compares it
	// with the version its last share or aging pass read, to skip the work
	// nothing changed.
	Version(source string) (uint64, error)
	// Checkpoint returns the stored checkpoint of a source; nil before its first page.
	Checkpoint(source string) (cte.Checkpoint, error)
	// SetCheckpoint stores a source's checkpoint.
	SetCheckpoint(source string, cp cte.Checkpoint) error

	// Ledger returns what the sharing configuration did with a value.
	Ledger(config, value string) (LedgerEntry, bool, error)
	// LedgerEntries calls fn for each ledger entry of a configuration in value order.
	LedgerEntries(config string, fn func(e *LedgerEntry) error) error
	// PutLedger stores ledger entries of a configuration, replacing those with the
	// same value.
	PutLedger(config string, entries []LedgerEntry) error

	// AppliedSet returns what was last applied to a configuration's Replace target.
	AppliedSet(config string) (AppliedSet, bool, error)
	// PutAppliedSet stores it.
	PutAppliedSet(config string, s AppliedSet) error

	// Log appends an audit entry; Seq is assigned by the store.
	Log(e AuditEntry) error
	// Logs calls fn for the entries that pass f, oldest first.
	Logs(f LogFilter, fn func(e AuditEntry) error) error
	// PruneLogs deletes the audit entries older than before and returns how many
	// it deleted (ErrReadOnly inside View). It walks the log from the oldest
	// entry in Seq order and stops at the first one not older than before, so
	// it reads only what it deletes; an older entry logged after a newer one
	// stays until the entries before it go. Seq keeps increasing after a prune:
	// a deleted number is never assigned again.
	PruneLogs(before time.Time) (int, error)

	// RunState returns the run state of a sharing configuration or source.
	RunState(name string) (RunState, bool, error)
	// PutRunState stores it.
	PutRunState(s RunState) error

	// PutRecord stores r as the record of r.Value, replacing all of its
	// entries (an operator's edit: tags added or removed). r must have at least
	// one entry; entries are stored sorted by Source, each with its Inactive,
	// InactiveAt and StoredAt as given.
	PutRecord(r Record) error
	// DeleteRecord removes the record of value with all its entries; an
	// unknown value is ignored. The ledger and marks of the value stay.
	DeleteRecord(value string) error
	// Marks calls fn for every mark in value order until fn returns an error
	// (ErrStop ends the scan without error). Marks are few (an operator sets
	// them one by one): the engine reads them all once per share.
	Marks(fn func(m Mark) error) error
	// PutMark stores m, replacing the mark of the same value.
	PutMark(m Mark) error
	// DeleteMark removes the mark of value; an unknown value is ignored.
	DeleteMark(value string) error
}

// RankedTx is an optional capability of a Tx, found by a type assertion: a
// store that keeps an index of each source's active entries by priority
// implements it, and the engine then packs a Replace target by reading that
// index and stops once the target is full, instead of reading and holding
// every record of the source. A Tx without it is read whole (Records).
type RankedTx interface {
	// Ranked calls fn, with the value and its entry's type, for every entry of
	// source that is not Inactive, in the order a Replace target is packed:
	// Severity highest first, then LastSeen newest first (compared as
	// LastSeen.UnixNano(), so a zero LastSeen comes last), then value in byte
	// order. Expired entries are included (expiry depends on the reader's
	// clock and aging; the engine checks it). It reflects every write made
	// before it in the transaction (Merge, SetInactive, PutRecord,
	// DeleteRecord). Like Records, fn's error ends the scan and comes back
	// unchanged, ErrStop ends it without error; fn must not write.
	Ranked(source string, fn func(value string, t ioc.Type) error) error
	// RankedBefore calls fn, in Ranked's order, for each entry Ranked
	// would call it for whose LastSeen is before t (a zero LastSeen is
	// before every t), without reading the others, and returns the
	// earliest LastSeen at or after t among those others (zero when there
	// is none). Aging reads a source's expired entries and its next expiry
	// this way, not the whole source.
	RankedBefore(source string, t time.Time, fn func(value string, t ioc.Type) error) (time.Time, error)
	// RankedCount returns how many entries Ranked would call fn for whose
	// type accept accepts, without reading them: a share that stops reading
	// once its list is full counts what it left out this way.
	RankedCount(source string, accept func(ioc.Type) bool) (int, error)
}

// MarkKind is why an operator took a value out of sharing.
type MarkKind uint8

// Mark kinds.
const (
	// MarkSafe is a false positive: the value is never shared while marked
	// and is retracted from every target that has it.
	MarkSafe MarkKind = iota + 1
	// MarkDeleted is a deleted record whose retraction is not finished yet: the
	// engine removes the mark once no target of the value's sharing
	// configurations holds it.
	MarkDeleted
)

var markNames = [...]string{"", "safe", "deleted"}

// String returns the kind's name: safe or deleted.
func (k MarkKind) String() string {
	if int(k) < len(markNames) && k > 0 {
		return markNames[k]
	}
	return fmt.Sprintf("MarkKind(%d)", uint8(k))
}

// Mark takes one value out of sharing, whichever source reports it.
type Mark struct {
	Value  string
	Type   ioc.Type
	Kind   MarkKind
	Reason string    // the operator's words, audited
	At     time.Time // when it was set
}

// ErrStop ends a scan early without error.
var ErrStop = errors.New("sharing: stop scan")

// MergeStats counts what one Merge did.
type MergeStats struct {
	New     int // values never stored before
	Added   int // values stored before, new for this source
	Updated int // values this source reported before
}

// Record is one stored indicator value with one entry per source that reported it.
type Record struct {
	Type    ioc.Type
	Value   string
	Entries []Entry // sorted by Source
}

// Entry is one source's view of a value.
type Entry struct {
	ioc.Indicator           // Source names the reporting configuration
	Inactive      bool      // aged out or expired at InactiveAt
	InactiveAt    time.Time //
	StoredAt      time.Time // when a Merge of this source last stored a report of it (a pull's re-read of a report it stored already is not merged again)
}

// Entry returns the entry of a source.
func (r *Record) Entry(source string) (*Entry, bool) {
	for i := range r.Entries {
		if r.Entries[i].Source == source {
			return &r.Entries[i], true
		}
	}
	return nil, false
}

// Sources returns the names of the sources that reported the value.
func (r *Record) Sources() []string {
	out := make([]string, len(r.Entries))
	for i, e := range r.Entries {
		out[i] = e.Source
	}
	return out
}

// LedgerState is what happened last to a value in one sharing configuration.
type LedgerState uint8

// Ledger states.
const (
	StateApplied      LedgerState = iota + 1 // the target has it (with a Reason: an earlier version; this one was refused)
	StateRejected                            // refused for good until the indicator changes
	StateRetryable                           // refused for now; retried at NextAttempt
	StateRetracted                           // removed from the target
	StateOverCapacity                        // left out of a full Replace target
	StateSending                             // being pushed to an Append target: sent, not confirmed yet (recorded before the push)
)

var stateNames = [...]string{"", "applied", "rejected", "retryable", "retracted", "over capacity", "sending"}

// String returns the state's name.
func (s LedgerState) String() string {
	if int(s) < len(stateNames) && s > 0 {
		return stateNames[s]
	}
	return fmt.Sprintf("LedgerState(%d)", uint8(s))
}

// LedgerEntry records one value's outcome in one sharing configuration.
type LedgerEntry struct {
	Value       string
	Type        ioc.Type
	State       LedgerState
	Fingerprint uint64    // of the indicator as pushed; a change re-shares it
	Reason      string    // why it was rejected
	Code        string    // the product's code
	Attempts    int       // consecutive failed attempts
	NextAttempt time.Time // for StateRetryable
	At          time.Time // when State was set
}

// AppliedSet is what a Replace target was last given. Every sharing
// configuration has one naming the target its ledger is about, so that a
// configuration moved to another target starts its ledger again.
type AppliedSet struct {
	Digest string // of the sorted values; empty when nothing was pushed yet
	Count  int
	At     time.Time
	Target string // "destination target-ID"; empty in sets stored before it was kept
}

// AuditEntry is one audit log line: every pull, share, retraction and error.
type AuditEntry struct {
	Seq        uint64            // assigned by the store, increasing
	Time       time.Time         //
	Level      slog.Level        //
	Config     string            // the plugin or sharing configuration concerned
	Message    string            //
	Details    map[string]string // counts, reasons, ids
	Resolution string            // what the operator can do, for warnings and errors
}

// LogFilter selects audit entries. Zero fields select everything.
type LogFilter struct {
	MinLevel slog.Level // entries at or above it; the zero value is Info, so set it to slog.LevelDebug for all
	Since    time.Time
	Config   string
	Limit    int // the newest Limit entries, oldest first
}

// RunState is the last run of a source or a sharing configuration.
type RunState struct {
	Name      string
	LastRun   time.Time
	LastOK    time.Time
	LastError string
	Counts    map[string]int // e.g. "applied", "rejected", "pulled"
	// Inputs and Until let the engine skip a share or an aging pass that
	// nothing changed: Inputs is an opaque fingerprint of what the last
	// complete run read (store versions, rules, target), Until the time from
	// which it must run again anyway (an expiry, a retry falling due). An
	// empty Inputs never skips. Stores keep both as they are given.
	Inputs string
	Until  time.Time
}
