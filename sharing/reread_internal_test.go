package sharing

import (
	"reflect"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

// Every field a Merge reads changes a report's hash: a field added to
// ioc.Indicator and left out of reportOf fails here.
func TestReportCoversEveryField(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := ioc.Indicator{Type: ioc.TypeSHA256, Value: "v", Severity: ioc.SeverityLow, Reputation: 3, Comments: "c",
		Tags: []string{"a"}, FirstSeen: t0, LastSeen: t0, ExpiresAt: t0, Source: "s"}
	var d xxhash.Digest
	want := reportOf(&d, &base)
	typ := reflect.TypeFor[ioc.Indicator]()
	for i := range typ.NumField() {
		x := base
		f := reflect.ValueOf(&x).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Uint8, reflect.Int8:
			if f.CanInt() {
				f.SetInt(f.Int() + 1)
			} else {
				f.SetUint(f.Uint() + 1)
			}
		case reflect.Slice:
			x.Tags = []string{"a", "b"}
		case reflect.Struct:
			f.Set(reflect.ValueOf(t0.Add(time.Nanosecond)))
		default:
			t.Fatalf("field %s of kind %s: teach this test (and reportOf) about it", typ.Field(i).Name, f.Kind())
		}
		assert.NotEqual(t, want, reportOf(&d, &x), "field %s", typ.Field(i).Name)
	}
	x := base
	x.Tags = []string{"b", "a"}
	y := base
	y.Tags = []string{"a", "b"}
	assert.Equal(t, reportOf(&d, &y), reportOf(&d, &x), "tags in any order")
	x = base
	x.LastSeen = time.Time{}
	y = base
	y.LastSeen = time.Unix(0, 0)
	assert.NotEqual(t, reportOf(&d, &x), reportOf(&d, &y), "no LastSeen is not the epoch")
}

func TestMemoRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []memo{{version: 0}, {version: 1 << 40, reports: []report{{1, 2}, {3, 4}}}} {
		got, err := decodeMemo(encodeMemo(m))
		require.NoError(t, err)
		if len(m.reports) == 0 {
			m.reports = []report{}
		}
		assert.Equal(t, m, got)
	}
	for _, bad := range []string{"", "m1", "m2:AA", "m1:!!", "m1:", "m1:AQI"} {
		_, err := decodeMemo(bad)
		assert.ErrorIs(t, err, errMemo, "%q", bad)
	}
}

// The memo keeps the newest reports by LastSeen, not the last read: a source
// with two feeds pulls one after the other, and re-reads the end of each.
func TestRereadsKeepTheNewest(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newRereads(memo{}, false)
	feed := func(name string, n int, from time.Time) []ioc.Indicator {
		out := make([]ioc.Indicator, n)
		for i := range out {
			out[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: name + time.Duration(i).String(), LastSeen: from.Add(time.Duration(i) * time.Second)}
		}
		return out
	}
	// a seen from t0+60,000 s, b (pulled after it) from t0+45,536 s, a
	// report a second: the newest 65,536 are those from t0+120,000 s, a's
	// last 40,000 and b's last 25,536
	a := feed("a", 100_000, t0.Add(60_000*time.Second))
	b := feed("b", 100_000, t0.Add(45_536*time.Second))
	for _, page := range [][]ioc.Indicator{a[:50_000], a[50_000:], b[:50_000], b[50_000:]} {
		for i := 0; i < len(page); i += 5000 {
			in := page[i : i+5000]
			out, known := r.filter(in)
			require.Equal(t, 0, known)
			require.Len(t, out, len(in))
			r.stored()
		}
	}
	m := r.next(7)
	require.Len(t, m.reports, memoN)
	var d xxhash.Digest
	want := map[report]bool{}
	for _, x := range append(a[len(a)-40_000:], b[len(b)-25_536:]...) {
		want[reportOf(&d, &x)] = true
	}
	for _, x := range m.reports {
		assert.True(t, want[x], "kept a report that is not among the newest")
	}

	r = newRereads(m, true)
	page := append(a[len(a)-3:], ioc.Indicator{Type: ioc.TypeMD5, Value: "new", LastSeen: t0})
	out, known := r.filter(page)
	assert.Equal(t, 3, known)
	assert.Equal(t, []ioc.Indicator{page[3]}, out)
	assert.Len(t, page, 4, "the page is left as it was")
}

func FuzzDecodeMemo(f *testing.F) {
	f.Add(encodeMemo(memo{version: 3, reports: []report{{1, 2}}}))
	f.Add("m1:")
	f.Add("m1://///////w")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeMemo(s)
		if err != nil {
			return
		}
		got, err := decodeMemo(encodeMemo(m))
		require.NoError(t, err)
		assert.Equal(t, m.version, got.version)
		assert.Equal(t, len(m.reports), len(got.reports))
	})
}
