package pgstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

// pgxRow is an entry's row as the store gave it to pgx.CopyFrom before it
// encoded rows itself: the reference the encoder must match byte for byte.
func pgxRow(e *entryRow) []any {
	x := e.x
	times, ns := packTimes(x.FirstSeen, x.LastSeen, x.ExpiresAt, e.inactiveAt, e.storedAt)
	var tags any
	if len(x.Tags) > 0 {
		tags = x.Tags
	}
	return []any{e.value, e.source, int16(e.recType), int16(x.Type), int16(x.Severity), int32(x.Reputation), x.Comments, tags,
		times[0], times[1], times[2], e.inactive, times[3], times[4], ns}
}

// entryOIDs are the types of entryCols.
var entryOIDs = []uint32{pgtype.TextOID, pgtype.TextOID, pgtype.Int2OID, pgtype.Int2OID, pgtype.Int2OID, pgtype.Int4OID,
	pgtype.TextOID, pgtype.TextArrayOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID,
	pgtype.BoolOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.Int8OID}

// pgxCopy encodes rows as pgx.CopyFrom does: header, rows, trailer.
func pgxCopy(t testing.TB, rows []entryRow) []byte {
	t.Helper()
	m := pgtype.NewMap()
	b := []byte(copyHeader)
	for i := range rows {
		vals := pgxRow(&rows[i])
		b = binary.BigEndian.AppendUint16(b, uint16(len(vals)))
		for k, v := range vals {
			at := len(b)
			b = append(b, 0, 0, 0, 0)
			enc, err := m.Encode(entryOIDs[k], pgtype.BinaryFormatCode, v, b)
			require.NoError(t, err)
			if enc == nil {
				b = append(b[:at], 0xff, 0xff, 0xff, 0xff)
				continue
			}
			b = enc
			binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
		}
	}
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func encode(t testing.TB, rows []entryRow) []byte {
	t.Helper()
	r := newEntryRows()
	for _, e := range rows {
		require.NoError(t, r.add(e.value, e.source, e.recType, e.x, e.inactive, e.inactiveAt, e.storedAt))
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// sampleRows are rows with the cases an encoding can get wrong: times with
// nanoseconds, before 2000 and 1970, in other zones, with a monotonic
// reading, zero; no, empty and several tags; unicode; extreme integers.
func sampleRows() []entryRow {
	paris := time.FixedZone("CET", 3600)
	ns := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	rows := []entryRow{
		{value: strings.Repeat("ab", 32), source: "feed", recType: ioc.TypeSHA256,
			x: &ioc.Indicator{Type: ioc.TypeSHA256, Severity: ioc.SeverityHigh, Reputation: 7, Comments: "plain",
				FirstSeen: ns, LastSeen: ns.Add(999), ExpiresAt: ns.Add(time.Hour + 1)},
			storedAt: ns.Add(5)},
		{value: "example.com", source: "s/ø", recType: ioc.TypeDomain,
			x: &ioc.Indicator{Type: ioc.TypeURL, Reputation: -2147483648, Comments: "héllo wörld, 日本語, 🦀, e\u0301",
				Tags: []string{}, LastSeen: time.Date(1999, 12, 31, 23, 59, 59, 999999999, paris)},
			inactive: true, inactiveAt: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), storedAt: time.Now()},
		{value: "1.2.3.4", source: "x", recType: ioc.TypeIPv4,
			x: &ioc.Indicator{Type: ioc.TypeIPv4, Severity: ioc.Severity(255), Reputation: 2147483647,
				Tags:      []string{"a", "", "ünï", strings.Repeat("t", 300)},
				FirstSeen: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999, paris)}},
		{value: "nothing", source: "y", x: &ioc.Indicator{}},
	}
	return rows
}

func TestEntryRowsEncodeAsPgxDid(t *testing.T) {
	t.Parallel()
	rows := sampleRows()
	assert.Equal(t, pgxCopy(t, rows), encode(t, rows))
	assert.Equal(t, pgxCopy(t, nil), encode(t, nil), "no rows: header and trailer")
}

// The reader gives the same bytes whatever the size of the reads.
func TestEntryRowsReader(t *testing.T) {
	t.Parallel()
	rows := sampleRows()
	want := pgxCopy(t, rows)
	for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
		r := newEntryRows()
		for _, e := range rows {
			require.NoError(t, r.add(e.value, e.source, e.recType, e.x, e.inactive, e.inactiveAt, e.storedAt))
		}
		got, err := io.ReadAll(wrap(r))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	r := newEntryRows()
	for _, e := range rows {
		require.NoError(t, r.add(e.value, e.source, e.recType, e.x, e.inactive, e.inactiveAt, e.storedAt))
	}
	require.NoError(t, iotest.TestReader(r, want))
}

// What PostgreSQL would refuse is refused before anything is sent, naming
// the indicator and saying what to do.
func TestEntryRowsRefuse(t *testing.T) {
	t.Parallel()
	early := time.Unix(minTime-1, 999_999_999)
	late := time.Unix(endTime, 0)
	for name, tc := range map[string]struct {
		value  string
		x      ioc.Indicator
		stored time.Time
		want   string
	}{
		"long comments":  {x: ioc.Indicator{Comments: strings.Repeat("c", 101)}, want: "a field of 101 bytes"},
		"long tags":      {x: ioc.Indicator{Tags: []string{strings.Repeat("t", 40), strings.Repeat("t", 40)}}, want: "a field of 108 bytes"},
		"NUL comments":   {x: ioc.Indicator{Comments: "a\x00b"}, want: "a NUL byte or invalid UTF-8 in its comments"},
		"bad UTF-8 tag":  {x: ioc.Indicator{Tags: []string{"ok", "\xffx"}}, want: `a NUL byte or invalid UTF-8 in its tag "\xffx"`},
		"NUL value":      {value: "evil\x00", want: "a NUL byte or invalid UTF-8 in its value"},
		"too early":      {x: ioc.Indicator{FirstSeen: early}, want: "outside the years PostgreSQL keeps"},
		"too late":       {x: ioc.Indicator{ExpiresAt: late}, want: "outside the years PostgreSQL keeps"},
		"too late store": {stored: late.AddDate(1000, 0, 0), want: "outside the years PostgreSQL keeps"},
	} {
		r := newEntryRows()
		r.maxField = 100
		value := cmp.Or(tc.value, "evil.example")
		err := r.add(value, "feed", ioc.TypeDomain, &tc.x, false, time.Time{}, tc.stored)
		require.Error(t, err, name)
		assert.ErrorContains(t, err, fmt.Sprintf("indicator %q of \"feed\"", value), name)
		assert.ErrorContains(t, err, tc.want, name)
		assert.Regexp(t, "(shorten|clean|correct) it at the source", err.Error(), name)
		assert.Empty(t, r.rows, name)
	}
	r := newEntryRows()
	r.maxField = 100
	x := ioc.Indicator{Comments: strings.Repeat("c", 100), FirstSeen: time.Unix(minTime, 0), LastSeen: time.Unix(endTime-1, 999_999_999)}
	require.NoError(t, r.add("ok.example", "feed", ioc.TypeDomain, &x, false, time.Time{}, time.Time{}), "the limits themselves")
	rows := []entryRow{{value: "ok.example", source: "feed", recType: ioc.TypeDomain, x: &x}}
	assert.Equal(t, pgxCopy(t, rows), encode(t, rows), "no overflow at the last time")
}

func TestArrayBodyAsPgx(t *testing.T) {
	t.Parallel()
	for _, ss := range [][]string{{"a"}, {"", "b", "ü", strings.Repeat("z", 70000)}} {
		want, err := pgtype.NewMap().Encode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, ss, nil)
		require.NoError(t, err)
		assert.Equal(t, want, appendArrayBody(nil, ss))
		assert.Len(t, want, arrayLen(ss))
	}
}

// FuzzEntryRowsEncodeAsPgxDid checks the encoder against pgx's encoding of
// the same row on arbitrary strings, integers and times.
func FuzzEntryRowsEncodeAsPgxDid(f *testing.F) {
	f.Add("v", "s", "c", "t1", "t2", uint8(2), uint8(3), int64(7), int64(1_700_000_000), int64(123456789), true)
	f.Add("", "", "", "", "", uint8(0), uint8(0), int64(-1), int64(-62135596800), int64(1), false)
	f.Add("v", "s", "\x00", "\xff", "", uint8(1), uint8(2), int64(0), int64(0), int64(0), false)
	f.Fuzz(func(t *testing.T, value, source, comments, tag1, tag2 string, typ, ntags uint8, rep, sec, nsec int64, inactive bool) {
		if sec < -62135596800 || sec > 253402300799 { // years 1 to 9999
			sec %= 253402300799
		}
		at := time.Unix(sec, nsec%2_000_000_000)
		tags := []string{tag1, tag2, tag1 + tag2}[:ntags%4]
		x := &ioc.Indicator{Type: ioc.Type(typ), Severity: ioc.Severity(typ >> 2), Reputation: int(int32(rep)), Comments: comments,
			Tags: tags, FirstSeen: at, LastSeen: at.Add(time.Duration(nsec)), ExpiresAt: at.Add(-time.Duration(rep))}
		rows := []entryRow{{value: value, source: source, recType: ioc.Type(typ), x: x, inactive: inactive,
			inactiveAt: at.Add(time.Duration(rep) * time.Microsecond), storedAt: at.Add(1)}}
		if err := newEntryRows().add(value, source, x.Type, x, false, time.Time{}, time.Time{}); err != nil {
			if pgText(value) && pgText(source) && pgText(comments) && pgText(tag1) && pgText(tag2) {
				t.Fatalf("refused a row PostgreSQL takes: %v", err)
			}
			return
		}
		if !bytes.Equal(pgxCopy(t, rows), encode(t, rows)) {
			t.Fatalf("the encoding of %+v differs from pgx's", rows[0])
		}
	})
}
