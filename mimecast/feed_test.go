package mimecast

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

const (
	md5A    = "44d88612fea8a8f36de82e1278abb02f"
	sha256A = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	sha256B = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856"
)

func parserBoth() *feedParser {
	return &feedParser{md5: true, sha256: true, tags: []string{FeedMalwareCustomer}}
}

func TestFeedParse(t *testing.T) {
	t.Parallel()
	body := "Timestamp|SenderAddress|RecipientAddress|FileName|MD5|SHA256\n" +
		"2024-05-01T10:02:03.000Z|bad@evil.example|user@acme.com|inv.docm|" + md5A + "|" + sha256A + "\n" +
		"2024-05-01T10:05:00+0000|null|user2@acme.com|a.zip|null|" + strings.ToUpper(sha256B) + "\r\n"
	res, err := parserBoth().parse([]byte(body), nil)
	require.NoError(t, err)
	require.Len(t, res.indicators, 3)
	ts := time.Date(2024, 5, 1, 10, 2, 3, 0, time.UTC)
	assert.Equal(t, ioc.Indicator{Type: ioc.TypeSHA256, Value: sha256A, Comments: "Sent from bad@evil.example",
		Tags: []string{FeedMalwareCustomer}, FirstSeen: ts, LastSeen: ts}, res.indicators[0])
	assert.Equal(t, ioc.TypeMD5, res.indicators[1].Type)
	assert.Equal(t, md5A, res.indicators[1].Value)
	assert.Equal(t, sha256B, res.indicators[2].Value, "upper-case hex is normalised")
	assert.Empty(t, res.indicators[2].Comments, "a null sender gives no comment")
	assert.Equal(t, time.Date(2024, 5, 1, 10, 5, 0, 0, time.UTC), res.newest)
	assert.Equal(t, 2, res.rows)
	assert.Equal(t, []cte.Invalid{{Reason: "md5: null", Count: 1, Example: "null"}}, res.invalid.list)
}

func TestFeedParseEdgeCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		body    string
		want    []string
		invalid []cte.Invalid
		wantErr string
	}{
		{name: "empty body", body: ""},
		{name: "blank lines", body: "\r\n\n"},
		{name: "header only without newline", body: "Timestamp|SenderAddress|MD5|SHA256"},
		{name: "header only with newline", body: "Timestamp|SenderAddress|MD5|SHA256\n"},
		{name: "empty values counted", body: "Timestamp|SenderAddress|MD5|SHA256\n2024-05-01T10:00:00Z|a@b.c||\n",
			invalid: []cte.Invalid{{Reason: "sha256: empty", Count: 1}, {Reason: "md5: empty", Count: 1}}},
		{name: "malformed hash counted not emitted", body: "Timestamp|SenderAddress|MD5|SHA256\n2024-05-01T10:00:00Z|a@b.c|zz" + md5A[2:] + "|abc\n",
			invalid: []cte.Invalid{{Reason: "sha256: want 64 hex digits, got 3 characters", Count: 1, Example: "abc"}, {Reason: "md5: not a hex digit at position 1", Count: 1, Example: "zz" + md5A[2:]}}},
		{name: "short row", body: "Timestamp|SenderAddress|MD5|SHA256\n2024|x\n",
			invalid: []cte.Invalid{{Reason: "row: want 4 fields, got 2", Count: 1, Example: "2024|x"}}},
		{name: "quoted fields", body: "Timestamp|SenderAddress|MD5|SHA256\n\"2024-05-01T10:00:00Z\"|\"a|\"\"b\"\"\"|\"" + md5A + "\"|\n",
			want: []string{md5A}, invalid: []cte.Invalid{{Reason: "sha256: empty", Count: 1}}},
		{name: "bad timestamp keeps the hash", body: "Timestamp|MD5\nyesterday|" + md5A + "\n",
			want: []string{md5A}, invalid: []cte.Invalid{{Reason: "timestamp: not RFC 3339", Count: 1, Example: "yesterday"}}},
		{name: "no hash column", body: "Timestamp|Sender\n2024-05-01T10:00:00Z|x\n", wantErr: "neither an MD5 nor a SHA256 column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := parserBoth().parse([]byte(tc.body), nil)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrProtocol)
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, in := range res.indicators {
				got = append(got, in.Value)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.invalid, res.invalid.list)
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 5, 1, 10, 2, 3, 500_000_000, time.UTC)
	for _, s := range []string{"2024-05-01T10:02:03.5Z", "2024-05-01T12:02:03.500+02:00", "2024-05-01T08:02:03.5-0200", "2024-05-01T10:02:03.500000000Z"} {
		got, ok := parseTimestamp([]byte(s))
		require.True(t, ok, s)
		assert.True(t, want.Equal(got), "%s gave %s", s, got)
	}
	for _, s := range []string{"", "2024-02-30T10:00:00Z", "2024-05-01 10:02:03Z", "2024-05-01T10:02:03", "2024-05-01T10:02:03.Z", "2024-13-01T10:02:03Z"} {
		_, ok := parseTimestamp([]byte(s))
		assert.False(t, ok, s)
	}
}

// The hand-made calendar of fastTimestamp agrees with time.Date on every day
// of the years around now and on the edge years of four digits.
func TestFastTimestampCalendar(t *testing.T) {
	t.Parallel()
	check := func(d time.Time) {
		s := d.Format("2006-01-02T15:04:05.000000000Z07:00")
		got, ok := fastTimestamp([]byte(s))
		if !ok || !got.Equal(d) || got.Location() != time.UTC {
			t.Fatalf("%s: got %v, %v; want %v", s, got, ok, d)
		}
	}
	for d := time.Date(1968, 1, 1, 23, 59, 58, 5, time.UTC); d.Year() < 2102; d = d.AddDate(0, 0, 1) {
		check(d)
	}
	for _, y := range []int{0, 1, 4, 99, 100, 399, 400, 1600, 1900, 2000, 2400, 9999} {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {3, 1}, {12, 31}} {
			check(time.Date(y, time.Month(md[0]), md[1], 12, 30, 0, 0, time.UTC))
		}
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			check(time.Date(y, 2, 29, 0, 0, 0, 0, time.UTC))
		} else if _, ok := fastTimestamp([]byte(fmt.Sprintf("%04d-02-29T00:00:00Z", y))); ok {
			t.Fatalf("%04d-02-29 is not a day", y)
		}
	}
	east := time.Date(2024, 3, 1, 0, 30, 0, 0, time.FixedZone("", 5*3600+45*60))
	got, ok := fastTimestamp([]byte("2024-03-01T00:30:00+0545"))
	require.True(t, ok)
	assert.True(t, got.Equal(east), "an offset crossing a month and a leap day: %v", got)
}

// FuzzParseTimestamp checks the hand-made decoder against time.Parse: where
// both accept a value they give the same instant.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-05-01T10:02:03.5Z", "2024-05-01T12:02:03.500+02:00", "2024-05-01T08:02:03.5-0200", "2024-02-29T00:00:00Z", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastTimestamp([]byte(s))
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
			want, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			if ok && !got.Equal(want) {
				t.Fatalf("%q: got %v, time.Parse gives %v", s, got, want)
			}
		}
		if ok && got.Location() != time.UTC {
			t.Fatalf("%q: %v is not UTC", s, got)
		}
	})
}

// feedCSV builds a CSV page of n rows.
func feedCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Timestamp|SenderAddress|RecipientAddress|FileName|MD5|SHA256\n")
	for i := range n {
		fmt.Fprintf(&b, "2024-05-01T10:%02d:%02d.000Z|sender%d@evil.example|user@acme.com|invoice.docm|%032x|%064x\n", (i/60)%60, i%60, i, i+1, i+1)
	}
	return b.Bytes()
}

func BenchmarkFeedParse(b *testing.B) {
	const rows = 10_000
	body := feedCSV(rows)
	p := parserBoth()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := p.parse(body, nil)
		if err != nil || len(res.indicators) != 2*rows {
			b.Fatalf("parse: %v, %d indicators", err, len(res.indicators))
		}
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		b.ReportMetric(float64(rows*b.N)/cpu.Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(rows*b.N), "allocs/row")
}

// BenchmarkFeedStream parses feed pages as a pull does: 5,000-row pages (the
// whole-job benchmark's page size) streamed from a reader in chunks of
// feedChunk, each chunk handed on and dropped.
func BenchmarkFeedStream(b *testing.B) {
	const rows = 5_000
	body := feedCSV(rows)
	p := parserBoth()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		n := 0
		err := p.stream(bytes.NewReader(body), feedChunk, func(res *feedResult, _ bool) error {
			n += len(res.indicators)
			return nil
		})
		if err != nil || n != 2*rows {
			b.Fatalf("stream: %v, %d indicators", err, n)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows*b.N), "cpu-ns/row")
	}
}

func TestFeedParseAllocsPerRow(t *testing.T) {
	const rows = 2_000
	body := feedCSV(rows)
	p := parserBoth()
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := p.parse(body, nil); err != nil {
			t.Fatal(err)
		}
	})
	perRow := allocs / rows
	t.Logf("%.2f allocs/row", perRow)
	assert.LessOrEqual(t, perRow, 1.05, "one string a row, nothing else")
}

func FuzzFeedParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("Timestamp|SenderAddress|MD5|SHA256"))
	f.Add(feedCSV(3))
	f.Add([]byte("Timestamp|SenderAddress|MD5|SHA256\n\"2024-05-01T10:00:00Z\"|\"a|\"\"b\"|\"" + md5A + "\"|null\r\n"))
	f.Add([]byte("MD5\n" + md5A + "\n\n" + strings.ToUpper(md5A)))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parserBoth().parse(body, nil)
		if err != nil {
			return
		}
		for _, in := range res.indicators {
			if v, err := ioc.Parse(in.Type, in.Value); err != nil || v != in.Value {
				t.Fatalf("indicator %q of type %s is not normal: %v", in.Value, in.Type, err)
			}
		}
		if res.invalid.total() < 0 || len(res.indicators) > 2*res.rows {
			t.Fatalf("%d indicators from %d rows", len(res.indicators), res.rows)
		}
	})
}
