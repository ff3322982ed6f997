package pgstore

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Rows of cte_entries go to the server in PostgreSQL's binary COPY format,
// encoded here column by column, rather than through pgx.CopyFrom, which
// takes each row as a []any and looks up an encoder for each of its fifteen
// values: that was about half of the client's CPU time of an ingest.
//
// The format (PostgreSQL's documentation, COPY, "Binary Format"): a header,
// then per row the number of fields as an int16 and each field as its length
// (int32, -1 for NULL) followed by the bytes of the type's binary "send"
// form, and an int16 -1 at the end. All integers are big-endian.

// copyHeader is the signature, the flags (none) and the length of the header
// extension (none).
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// copyEntries is the COPY statement that reads entryRows' rows into table.
func copyEntries(table string) string {
	return "COPY " + table + " (" + strings.Join(entryCols, ", ") + ") FROM STDIN (FORMAT binary)"
}

// maxField is the longest field PostgreSQL takes (1 GiB less one byte).
const maxField = 1<<30 - 1

// pgEpoch is 2000-01-01 UTC, the zero of PostgreSQL's timestamps, in
// microseconds since the Unix epoch.
const pgEpoch = 946_684_800 * 1_000_000

// textOID is the type of the elements of a text[].
const textOID = 25

// entryRows is rows of cte_entries (entryCols, in order) to copy: an
// io.Reader of them in the binary COPY format. It encodes a row at a time as
// the connection reads them (64 KiB per message), so the client encodes while
// the server stores the rows before, and no buffer of the whole COPY is made.
type entryRows struct {
	rows     []entryRow
	maxField int // the longest field it takes: maxField, lower in tests

	next    int    // the next row to encode; len(rows)+1 after the trailer
	scratch []byte // the encoding of one row
	pending []byte // what the reader has not taken of scratch
}

// entryRow is the fields of an entry's row.
type entryRow struct {
	value, source        string
	recType              ioc.Type
	x                    *ioc.Indicator
	inactive             bool
	inactiveAt, storedAt time.Time
}

func newEntryRows() *entryRows {
	return &entryRows{maxField: maxField}
}

// add adds an entry's row (x must not change until the rows are read). It
// refuses what PostgreSQL would refuse, naming the indicator, before anything
// is sent: a field longer than it keeps, text with a NUL byte or invalid
// UTF-8, a time outside its years.
func (r *entryRows) add(value, source string, recType ioc.Type, x *ioc.Indicator,
	inactive bool, inactiveAt, storedAt time.Time) error {
	if err := r.check(value, source, x, inactiveAt, storedAt); err != nil {
		return fmt.Errorf("indicator %q of %q: %w", storeutil.Trunc(value), source, err)
	}
	r.rows = append(r.rows, entryRow{value, source, recType, x, inactive, inactiveAt, storedAt})
	return nil
}

// check returns why PostgreSQL would refuse a row, if it would.
func (r *entryRows) check(value, source string, x *ioc.Indicator, inactiveAt, storedAt time.Time) error {
	if n := longest(value, x); n > r.maxField {
		return fmt.Errorf("a field of %d bytes (comments or tags) is longer than the %d PostgreSQL keeps: shorten it at the source",
			n, r.maxField)
	}
	for _, f := range [...]struct{ name, s string }{{"value", value}, {"source", source}, {"comments", x.Comments}} {
		if !pgText(f.s) {
			return fmt.Errorf("a NUL byte or invalid UTF-8 in its %s, which PostgreSQL does not store: clean it at the source", f.name)
		}
	}
	for _, tag := range x.Tags {
		if !pgText(tag) {
			return fmt.Errorf("a NUL byte or invalid UTF-8 in its tag %q, which PostgreSQL does not store: clean it at the source", storeutil.Trunc(tag))
		}
	}
	for _, t := range [...]time.Time{x.FirstSeen, x.LastSeen, x.ExpiresAt, inactiveAt, storedAt} {
		if sec := t.Unix(); !t.IsZero() && (sec < minTime || sec >= endTime) {
			return fmt.Errorf("time %s is outside the years PostgreSQL keeps (4713 BC to 294246 AD): correct it at the source", t.Format(time.RFC3339))
		}
	}
	return nil
}

// minTime and endTime bound the times the store keeps, in Unix seconds:
// from PostgreSQL's first (MIN_TIMESTAMP, 4714-11-24 00:00 UTC BC) to the
// last whose microseconds since 1970 fit in an int64 (year 294246; PostgreSQL
// goes on to 294276).
const (
	minTime = -210866803200
	endTime = math.MaxInt64 / 1_000_000
)

// pgText reports whether PostgreSQL stores s in a text column of a UTF8
// database: valid UTF-8 without NUL.
func pgText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// longest returns the length of the longest variable-length field of a row:
// the value, the comments, or the tags (an array's field holds its elements
// and a header).
func longest(value string, x *ioc.Indicator) int {
	n := max(len(value), len(x.Comments))
	if len(x.Tags) > 0 {
		n = max(n, arrayLen(x.Tags))
	}
	return n
}

// Read implements io.Reader: the header, the rows, the trailer.
func (r *entryRows) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.pending) == 0 {
			if r.next > len(r.rows) {
				break
			}
			b := r.scratch[:0]
			if r.next == 0 {
				b = append(b, copyHeader...)
			}
			if r.next < len(r.rows) {
				b = r.rows[r.next].append(b)
			} else {
				b = binary.BigEndian.AppendUint16(b, 0xffff)
			}
			r.next++
			r.scratch, r.pending = b, b
		}
		c := copy(p[n:], r.pending)
		n += c
		r.pending = r.pending[c:]
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// append appends the row, with the nanoseconds under the microsecond of its
// five times in the ns column, and the zero time as NULL.
func (e *entryRow) append(b []byte) []byte {
	x := e.x
	b = binary.BigEndian.AppendUint16(b, uint16(len(entryCols)))
	b = appendText(b, e.value)
	b = appendText(b, e.source)
	b = appendInt16(b, int16(e.recType))
	b = appendInt16(b, int16(x.Type))
	b = appendInt16(b, int16(x.Severity))
	b = appendInt32(b, int32(x.Reputation))
	b = appendText(b, x.Comments)
	b = appendTextArray(b, x.Tags)
	var ns int64
	for i, t := range [...]time.Time{x.FirstSeen, x.LastSeen, x.ExpiresAt} {
		var rem int64
		b, rem = appendTime(b, t)
		ns |= rem << (10 * i)
	}
	b = append(b, 0, 0, 0, 1, 0)
	if e.inactive {
		b[len(b)-1] = 1
	}
	b, rem := appendTime(b, e.inactiveAt)
	ns |= rem << 30
	b, rem = appendTime(b, e.storedAt)
	ns |= rem << 40
	return appendInt64(b, ns)
}

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendInt16(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(b, 0, 0, 0, 2), uint16(v))
}

func appendInt32(b []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0, 0, 0, 4), uint32(v))
}

func appendInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0, 0, 0, 8), uint64(v))
}

func appendNull(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff) }

// appendTime appends t as a timestamptz, microseconds since pgEpoch (NULL for
// the zero time), and returns the nanoseconds under the microsecond. The
// microseconds are rounded down (UnixMicro), so the remainder is never
// negative, before 1970 too.
func appendTime(b []byte, t time.Time) ([]byte, int64) {
	if t.IsZero() {
		return appendNull(b), 0
	}
	return appendInt64(b, t.UnixMicro()-pgEpoch), int64(t.Nanosecond() % 1000)
}

// arrayLen is the length of the binary form of a one-dimensional text[].
func arrayLen(ss []string) int {
	n := 20
	for _, s := range ss {
		n += 4 + len(s)
	}
	return n
}

// appendTextArray appends ss as a one-dimensional text[] field, NULL when
// empty.
func appendTextArray(b []byte, ss []string) []byte {
	if len(ss) == 0 {
		return appendNull(b)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(arrayLen(ss)))
	return appendArrayBody(b, ss)
}

// appendArrayBody appends the binary form of a one-dimensional text[] of ss
// (no NULL elements, lower bound 1): the form of a field's bytes, and of a
// binary query parameter.
func appendArrayBody(b []byte, ss []string) []byte {
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULL elements
	b = binary.BigEndian.AppendUint32(b, textOID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ss)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, s := range ss {
		b = appendText(b, s)
	}
	return b
}
