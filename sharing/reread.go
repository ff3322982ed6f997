package sharing

// This file keeps a source's re-read memo: what its last pull stored, so
// that the next pull does not merge again what it re-reads unchanged.
//
// Plugins re-read an overlap on purpose (the Mimecast feed its last hour, to
// catch late events), so a pull with nothing new still brings thousands of
// indicators, each a random record lookup to merge what is already there.
// The memo holds a hash of the value and a hash of the whole report for the
// memoN newest reports (by LastSeen) a pull stored, with the source's
// version once they were stored.
//
// A report in the memo is merged into its entry already, and merging a
// report again changes nothing but the entry's StoredAt (ioc.Merge keeps
// the earliest, the latest, the highest and the union, and settles a tie
// of comments by byte order), so the pull leaves it out, as long as nothing
// else wrote the source since:
//   - the memo is used only while the source's version is the one it holds,
//     checked again in the transaction of every page (a write by anyone else
//     in the middle of a pull ends its use there, and that pull leaves no
//     memo);
//   - an aging pass keeps it current (memoInactive); an operator's edit ends
//     it;
//   - a report without LastSeen is always merged: its entry ages from
//     StoredAt.

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ctexchange/cte/ioc"
)

// memoN is how many reports the memo keeps: the newest of a pull. At 1M
// feed events the Mimecast overlap re-reads 13,000; each costs 16 bytes.
const memoN = 1 << 16

func memoKey(source string) string { return "reread/" + source }

// memoPrefix starts the memo's text in RunState.Inputs (version 1).
const memoPrefix = "m1:"

// report is the memo's hash of one indicator: its value, and everything a
// Merge reads of it.
type report struct{ value, body uint64 }

// reportOf hashes an indicator as the engine merges it (normalised).
func reportOf(d *xxhash.Digest, x *ioc.Indicator) report {
	d.Reset()
	var b [8]byte
	n := func(v uint64) { binary.LittleEndian.PutUint64(b[:], v); _, _ = d.Write(b[:]) }
	s := func(v string) { n(uint64(len(v))); _, _ = d.WriteString(v) }
	t := func(v time.Time) {
		if v.IsZero() {
			n(0)
			return
		}
		n(1)
		n(uint64(v.Unix()))
		n(uint64(v.Nanosecond()))
	}
	n(uint64(x.Type))
	n(uint64(x.Severity))
	n(uint64(x.Reputation))
	s(x.Comments)
	s(x.Source)
	t(x.FirstSeen)
	t(x.LastSeen)
	t(x.ExpiresAt)
	tags := x.Tags
	if !slices.IsSorted(tags) {
		tags = slices.Sorted(slices.Values(tags))
	}
	n(uint64(len(tags)))
	for _, tag := range tags {
		s(tag)
	}
	return report{value: xxhash.Sum64String(x.Value), body: d.Sum64()}
}

// memo is a source's re-read memo as stored.
type memo struct {
	version uint64 // the source's version the reports are stored at
	reports []report
}

// encodeMemo writes m as RunState.Inputs text.
func encodeMemo(m memo) string {
	b := binary.AppendUvarint(make([]byte, 0, 10+16*len(m.reports)), m.version)
	for _, r := range m.reports {
		b = binary.BigEndian.AppendUint64(b, r.value)
		b = binary.BigEndian.AppendUint64(b, r.body)
	}
	return memoPrefix + base64.RawStdEncoding.EncodeToString(b)
}

var errMemo = errors.New("not a re-read memo")

// decodeMemo reads what encodeMemo wrote.
func decodeMemo(s string) (memo, error) {
	if len(s) < len(memoPrefix) || s[:len(memoPrefix)] != memoPrefix {
		return memo{}, errMemo
	}
	b, err := base64.RawStdEncoding.DecodeString(s[len(memoPrefix):])
	if err != nil {
		return memo{}, fmt.Errorf("%w: %w", errMemo, err)
	}
	v, w := binary.Uvarint(b)
	if w <= 0 || (len(b)-w)%16 != 0 || (len(b)-w)/16 > memoN {
		return memo{}, errMemo
	}
	m := memo{version: v, reports: make([]report, 0, (len(b)-w)/16)}
	for b = b[w:]; len(b) > 0; b = b[16:] {
		m.reports = append(m.reports, report{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])})
	}
	return m, nil
}

// readMemo returns the memo of source stored at version ver; ok is false
// when there is none, or it is of another version, or unreadable (the pull
// then merges everything, as without a memo, and writes a new one).
func readMemo(tx Tx, source string, ver uint64) (memo, bool, error) {
	rs, found, err := tx.RunState(memoKey(source))
	if err != nil || !found || rs.Inputs == "" {
		return memo{}, false, err
	}
	m, err := decodeMemo(rs.Inputs)
	if err != nil || m.version != ver {
		return memo{}, false, nil
	}
	return m, true, nil
}

func putMemo(tx Tx, source string, m memo, now time.Time) error {
	return tx.PutRunState(RunState{Name: memoKey(source), LastRun: now, LastOK: now, Inputs: encodeMemo(m),
		Counts: map[string]int{"reports": len(m.reports)}})
}

// rereads is the memo at work in one pull: the reports known (from the
// stored memo) and the pull's own, of which the memoN newest by LastSeen go
// into the next memo. A plugin re-reads by event time (a source with
// several feeds re-reads the end of each), so the newest, not the last
// read, are what the next pull re-reads.
type rereads struct {
	known   map[report]struct{}
	base    uint64  // the version of the memo known holds
	seen    []timed // of the pages stored
	floor   int64   // the oldest LastSeen seen keeps once cut to memoN (math.MinInt64 before)
	pending []timed // of the page being stored
	tainted bool    // another writer changed the source during the pull
	d       xxhash.Digest
}

type timed struct {
	r  report
	at int64 // LastSeen, Unix nanoseconds
}

func newRereads(m memo, ok bool) *rereads {
	r := &rereads{floor: math.MinInt64}
	if ok {
		r.base = m.version
		r.known = make(map[report]struct{}, len(m.reports))
		for _, x := range m.reports {
			r.known[x] = struct{}{}
		}
	}
	return r
}

// filter returns the indicators of a page that are not known to be merged
// already (in, when all are new; a new slice otherwise) and how many it
// left out. Every indicator goes into the next memo once the page is
// stored (stored).
func (r *rereads) filter(in []ioc.Indicator) ([]ioc.Indicator, int) {
	out := in
	skipped := 0
	r.pending = r.pending[:0]
	for i := range in {
		// A report without LastSeen is always merged, and never known: its
		// entry ages from StoredAt, which only a Merge moves.
		known := false
		if !in[i].LastSeen.IsZero() {
			x := reportOf(&r.d, &in[i])
			if at := in[i].LastSeen.UnixNano(); at >= r.floor { // else older than every report kept
				r.pending = append(r.pending, timed{x, at})
			}
			_, known = r.known[x]
		}
		if !known {
			if skipped > 0 {
				out = append(out, in[i])
			}
			continue
		}
		if skipped == 0 {
			out = append(make([]ioc.Indicator, 0, len(in)-1), in[:i]...)
		}
		skipped++
	}
	return out, skipped
}

// taint ends the memo's use in this pull: another writer changed the
// source, so the page filter read last was merged whole, the reports known
// are no longer, and the pull leaves no memo.
func (r *rereads) taint() { r.known, r.tainted = nil, true }

// stored adds the reports of the page filter read last to the next memo:
// its page is stored.
func (r *rereads) stored() {
	r.seen = append(r.seen, r.pending...)
	r.pending = r.pending[:0]
	if len(r.seen) >= 2*memoN {
		r.keepNewest()
	}
}

// keepNewest cuts seen to its memoN newest reports.
func (r *rereads) keepNewest() {
	if len(r.seen) <= memoN {
		return
	}
	slices.SortFunc(r.seen, func(a, b timed) int { return cmp.Compare(b.at, a.at) })
	r.seen = r.seen[:memoN]
	r.floor = r.seen[memoN-1].at
}

// next is the memo the pull leaves, at version ver.
func (r *rereads) next(ver uint64) memo {
	r.keepNewest()
	m := memo{version: ver, reports: make([]report, len(r.seen))}
	for i, x := range r.seen {
		m.reports[i] = x.r
	}
	return m
}

// saveMemo stores the memo of a pull whose last page left the source at
// version ver. If the source changed since (another writer), the memo is
// dropped: it could hold reports of entries that writer changed.
func (e *Engine) saveMemo(tx Tx, source string, r *rereads, ver uint64) error {
	cur, err := tx.Version(source)
	if err != nil {
		return err
	}
	if cur != ver || r.tainted {
		return dropMemo(tx, source)
	}
	next := r.next(ver)
	if r.same(next) {
		return nil // the stored memo says this already: a pull that changed nothing writes nothing
	}
	return putMemo(tx, source, next, e.now())
}

// same reports whether m is the memo the pull read: its version and its
// reports.
func (r *rereads) same(m memo) bool {
	if r.known == nil || r.base != m.version || len(m.reports) != len(r.known) {
		return false
	}
	for _, x := range m.reports {
		if _, ok := r.known[x]; !ok {
			return false
		}
	}
	return true
}

func dropMemo(tx Tx, source string) error {
	_, found, err := tx.RunState(memoKey(source))
	if err != nil || !found {
		return err
	}
	return tx.PutRunState(RunState{Name: memoKey(source)})
}

// memoInactive keeps the memo of source current through SetInactive of
// values in the same transaction, which moved the source from version
// before: the reports of those values leave it (a report merged again
// would make its entry active), and the rest stays, at the new version.
func memoInactive(tx Tx, source string, before uint64, values []string, now time.Time) error {
	m, ok, err := readMemo(tx, source, before)
	if err != nil || !ok {
		return err
	}
	after, err := tx.Version(source)
	if err != nil || after == before {
		return err
	}
	gone := make(map[uint64]bool, len(values))
	for _, v := range values {
		gone[xxhash.Sum64String(v)] = true
	}
	m.reports = slices.DeleteFunc(m.reports, func(x report) bool { return gone[x.value] })
	m.version = after
	return putMemo(tx, source, m, now)
}
