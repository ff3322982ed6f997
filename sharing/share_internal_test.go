package sharing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

func TestFingerprint(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := ioc.Indicator{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256, Severity: ioc.SeverityHigh,
		Comments: "c", Tags: []string{"a", "b"}, LastSeen: at, FirstSeen: at}
	fp := fingerprint(&base)
	same := base
	same.LastSeen, same.FirstSeen, same.ExpiresAt, same.Reputation, same.Source = at.Add(time.Hour), at.Add(-time.Hour), at, 9, "x"
	same.Tags = []string{"b", "a"}
	assert.Equal(t, fp, fingerprint(&same), "lastSeen, firstSeen, expiry, reputation, source and tag order do not count")
	for name, edit := range map[string]func(*ioc.Indicator){
		"type":     func(i *ioc.Indicator) { i.Type = ioc.TypeMD5 },
		"value":    func(i *ioc.Indicator) { i.Value = ioc.Placeholder },
		"severity": func(i *ioc.Indicator) { i.Severity = ioc.SeverityLow },
		"comments": func(i *ioc.Indicator) { i.Comments = "d" },
		"tags":     func(i *ioc.Indicator) { i.Tags = []string{"a"} },
		"boundary": func(i *ioc.Indicator) { i.Comments, i.Tags = "ca", []string{"b"} },
	} {
		x := base
		x.Tags = append([]string(nil), base.Tags...)
		edit(&x)
		assert.NotEqual(t, fp, fingerprint(&x), name)
	}
	assert.Equal(t, []string{"a", "b"}, base.Tags)
	unsorted := base
	unsorted.Tags = []string{"b", "a"}
	fingerprint(&unsorted)
	assert.Equal(t, []string{"b", "a"}, unsorted.Tags, "fingerprint does not sort the caller's tags")
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	le := func(s LedgerState, fp uint64, next time.Time) *LedgerEntry {
		return &LedgerEntry{State: s, Fingerprint: fp, NextAttempt: next}
	}
	for _, tc := range []struct {
		name string
		prev *LedgerEntry
		want action
	}{
		{"never shared", nil, actNew},
		{"applied same", le(StateApplied, 1, time.Time{}), actUnchanged},
		{"applied changed", le(StateApplied, 2, time.Time{}), actChanged},
		{"rejected same", le(StateRejected, 1, time.Time{}), actRejected},
		{"rejected changed", le(StateRejected, 2, time.Time{}), actChanged},
		{"retryable due", le(StateRetryable, 1, now), actRetry},
		{"retryable waiting", le(StateRetryable, 1, now.Add(time.Second)), actWaiting},
		{"retryable changed", le(StateRetryable, 2, now.Add(time.Hour)), actChanged},
		{"retracted", le(StateRetracted, 1, time.Time{}), actNew},
		{"update refused for good", &LedgerEntry{State: StateApplied, Fingerprint: 1, Reason: "too long"}, actRejected},
		{"update refused, due", &LedgerEntry{State: StateApplied, Fingerprint: 1, Reason: "busy", NextAttempt: now}, actRetry},
		{"update refused, waiting", &LedgerEntry{State: StateApplied, Fingerprint: 1, Reason: "busy", NextAttempt: now.Add(time.Second)}, actWaiting},
		{"update refused, changed again", &LedgerEntry{State: StateApplied, Fingerprint: 2, Reason: "too long"}, actChanged},
		{"over capacity", le(StateOverCapacity, 1, time.Time{}), actNew},
	} {
		assert.Equal(t, tc.want, decide(tc.prev, 1, now), tc.name)
	}
}

func TestExpired(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	aging := 90 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		en   Entry
		want bool
	}{
		{"fresh", Entry{Indicator: ioc.Indicator{LastSeen: now.Add(-time.Hour)}}, false},
		{"exactly at aging", Entry{Indicator: ioc.Indicator{LastSeen: now.Add(-aging)}}, false},
		{"past aging", Entry{Indicator: ioc.Indicator{LastSeen: now.Add(-aging - time.Second)}}, true},
		{"expiresAt passed", Entry{Indicator: ioc.Indicator{LastSeen: now, ExpiresAt: now}}, true},
		{"expiresAt ahead", Entry{Indicator: ioc.Indicator{LastSeen: now, ExpiresAt: now.Add(time.Second)}}, false},
		{"no lastSeen: stored time", Entry{StoredAt: now.Add(-aging - time.Hour)}, true},
		{"seen again after expiresAt", Entry{Indicator: ioc.Indicator{LastSeen: now.Add(-time.Hour), ExpiresAt: now.Add(-2 * time.Hour)}}, false},
		{"expiresAt passed, no lastSeen", Entry{Indicator: ioc.Indicator{ExpiresAt: now.Add(-time.Hour)}, StoredAt: now}, true},
		{"no times at all", Entry{}, false},
	} {
		assert.Equal(t, tc.want, expired(&tc.en, aging, now), tc.name)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	e := &Engine{retryBase: time.Minute, retryMax: 6 * time.Hour}
	assert.Equal(t, time.Minute, e.backoff(1))
	assert.Equal(t, 2*time.Minute, e.backoff(2))
	assert.Equal(t, 8*time.Minute, e.backoff(4))
	assert.Equal(t, 6*time.Hour, e.backoff(12))
	assert.Equal(t, 6*time.Hour, e.backoff(1000))
	WithRetryBackoff(time.Second, 3*time.Second)(e)
	assert.Equal(t, 2*time.Second, e.backoff(2))
	assert.Equal(t, 3*time.Second, e.backoff(3))
}

func TestBatches(t *testing.T) {
	t.Parallel()
	in := []int{1, 2, 3, 4, 5}
	assert.Equal(t, [][]int{{1, 2}, {3, 4}, {5}}, batches(in, 2))
	assert.Equal(t, [][]int{{1, 2, 3, 4, 5}}, batches(in, 0))
	assert.Empty(t, batches([]int(nil), 3))
	b := batches(in, 2)
	b[0] = append(b[0], 99)
	assert.Equal(t, 3, in[2], "a batch cannot grow into the next")
}

func TestListBytes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, int64(65), listBytes(ioc.EmptySHA256))
	assert.Equal(t, int64(1), listBytes(""))
}

func TestCheckPage(t *testing.T) {
	t.Parallel()
	long := "http://example.com/" + string(make([]byte, maxValueLen))
	in := []ioc.Indicator{
		{Type: ioc.TypeMD5, Value: ioc.EmptyMD5},
		{Type: ioc.TypeMD5, Value: "D41D8CD98F00B204E9800998ECF8427E"}, // normalised
		{Type: ioc.TypeMD5, Value: "nope"},
		{Type: 99, Value: "x"},
		{Type: ioc.TypeURL, Value: long},
	}
	orig := append([]ioc.Indicator(nil), in...)
	rep := SyncReport{Reasons: map[string]int{}}
	ex := map[string]string{}
	out := checkPage(in, &rep, ex)
	assert.Equal(t, []ioc.Indicator{{Type: ioc.TypeMD5, Value: ioc.EmptyMD5}, {Type: ioc.TypeMD5, Value: ioc.EmptyMD5}}, out)
	assert.Equal(t, orig, in, "the plugin's slice is not modified")
	assert.Equal(t, 3, rep.Invalid)
	assert.Equal(t, 1, rep.Reasons["unknown type 99"])
	assert.Equal(t, 1, rep.Reasons["value longer than 16384 bytes"])
	assert.Len(t, rep.Reasons, 3)
	assert.Equal(t, "nope", ex["md5: "+reasonOf(t, ioc.TypeMD5, "nope")])

	valid := []ioc.Indicator{{Type: ioc.TypeMD5, Value: ioc.EmptyMD5}}
	got := checkPage(valid, &rep, ex)
	assert.Same(t, &valid[0], &got[0], "an all-valid page is not copied")
}

// TestCheckPageCleansText: comments and tags that are not plain text
// (invalid UTF-8, NUL bytes, which PostgreSQL refuses in a text column) are
// cleaned, not refused: the indicator is kept, and the plugin's page is not
// modified.
func TestCheckPageCleansText(t *testing.T) {
	t.Parallel()
	tags := []string{"ok", "bad\xffbyte", "nul\x00tag"}
	in := []ioc.Indicator{
		{Type: ioc.TypeMD5, Value: ioc.EmptyMD5, Comments: "fine, ünïcode"},
		{Type: ioc.TypeMD5, Value: "D41D8CD98F00B204E9800998ECF8427E", Comments: "a\x00b\xc3", Tags: tags},
	}
	orig := []ioc.Indicator{in[0], in[1]}
	orig[1].Tags = slices.Clone(tags)
	rep := SyncReport{Reasons: map[string]int{}}
	out := checkPage(in, &rep, map[string]string{})
	require.Len(t, out, 2)
	assert.Equal(t, "fine, ünïcode", out[0].Comments, "plain text is kept as it is")
	assert.Equal(t, "ab\uFFFD", out[1].Comments)
	assert.Equal(t, []string{"ok", "bad\uFFFDbyte", "nultag"}, out[1].Tags)
	assert.Equal(t, ioc.EmptyMD5, out[1].Value, "normalised as well")
	assert.Equal(t, orig, in, "the plugin's page is not modified")
	assert.Zero(t, rep.Invalid)
	for _, s := range []string{"", "abc", "ünï", "a\x00", "\xff", "\xc3"} {
		assert.Equal(t, utf8.ValidString(s) && !strings.Contains(s, "\x00"), plainText(s), "%q", s)
	}
}

func reasonOf(t *testing.T, typ ioc.Type, v string) string {
	t.Helper()
	_, err := ioc.Parse(typ, v)
	var pe *ioc.ParseError
	if !assert.ErrorAs(t, err, &pe) {
		return ""
	}
	return pe.Rule
}

// BenchmarkCheckPage checks a pulled page of 10,000 normal hashes, half
// sha256 and half md5, as the engine does for every page.
func BenchmarkCheckPage(b *testing.B) {
	page := make([]ioc.Indicator, 10_000)
	for i := range page {
		page[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i)}
		if i%2 == 1 {
			page[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: fmt.Sprintf("%032x", i)}
		}
	}
	rep := SyncReport{Reasons: map[string]int{}}
	ex := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		if out := checkPage(page, &rep, ex); len(out) != len(page) {
			b.Fatalf("%d of %d kept", len(out), len(page))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(page)), "ns/indicator")
}

// TestRankBatchSize: a ranked read's batch holds what the list still has
// room for (were every value of the smallest size), within rankBatchN and
// rankBatchMax.
func TestRankBatchSize(t *testing.T) {
	t.Parallel()
	sha := minListBytes([]ioc.Type{ioc.TypeSHA256})
	for _, tc := range []struct {
		lim         cte.Limits
		packed      int
		packedBytes int64
		want        int
		what        string
	}{
		{cte.Limits{MaxBytes: 8 << 20}, 0, 0, int((8 << 20) / sha), "an empty 8 MiB list: its room"},
		{cte.Limits{MaxBytes: 8 << 20}, 100_000, 100_000 * sha, int((8<<20)/sha) - 100_000, "what is left"},
		{cte.Limits{MaxBytes: 8 << 20}, 129_000, 129_000 * sha, rankBatchN, "nearly full: the least"},
		{cte.Limits{MaxItems: 500_000}, 0, 0, rankBatchMax, "a large list: the most"},
		{cte.Limits{MaxItems: 5_000, MaxBytes: 8 << 20}, 0, 0, 5_000, "the tighter limit"},
		{cte.Limits{}, 0, 0, rankBatchMax, "no limit"},
	} {
		rs := &replaceSet{target: cte.Target{Limits: tc.lim}, packedN: tc.packed, packedBytes: tc.packedBytes}
		assert.Equal(t, tc.want, rs.batchSize(sha), tc.what)
	}
}

// TestSortCands: candidates in sorted runs of any lengths, the first one
// long or not, come out as a full sort orders them.
func TestSortCands(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		n := r.IntN(60)
		perm := r.Perm(n)
		var cands []cand
		for len(perm) > 0 {
			run := perm[:1+r.IntN(len(perm))]
			if round%2 == 0 && len(cands) == 0 {
				run = perm[:len(perm)-r.IntN(min(len(perm), 4))] // a long first run
			}
			perm = perm[len(run):]
			slices.Sort(run)
			for _, v := range run {
				cands = append(cands, cand{value: fmt.Sprintf("%04d", v), fp: uint64(v)})
			}
		}
		want := slices.Clone(cands)
		slices.SortFunc(want, func(a, b cand) int { return strings.Compare(a.value, b.value) })
		sortCands(cands)
		require.Equal(t, want, cands, "round %d", round)
	}
}

// recordTx is a Tx of one record: what a probe reads.
type recordTx struct {
	Tx
	r Record
}

func (t recordTx) Record(value string) (Record, bool, error) {
	return t.r, value == t.r.Value, nil
}

// TestProbeAllocatesLittle: a probe judges one value and keeps at most one
// candidate, so it must not make a chunk for many (a probe per value that
// left a full list made 16 KiB each: 147 MB of a 1%-new sync at 1M events).
func TestProbeAllocatesLittle(t *testing.T) {
	rule, err := CompileRule(Rule{Name: "all", Filter: "type in (sha256)"})
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	value := fmt.Sprintf("%064x", 7)
	tx := recordTx{r: Record{Value: value, Type: ioc.TypeSHA256, Entries: []Entry{{Indicator: ioc.Indicator{
		Source: "feed", Type: ioc.TypeSHA256, Value: value, Severity: ioc.SeverityHigh, LastSeen: now.Add(-time.Hour)}}}}}
	target := cte.Target{ID: "list", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 1}}
	m := &scan{cfg: Config{Name: "c", Source: "feed", Destination: "ns"}, target: target, rule: rule, aging: 90 * 24 * time.Hour,
		now: now, fresh: true, excluded: map[string]int{}}
	rs := &replaceSet{target: target, last: rank{sev: ioc.SeverityCritical}}
	found, err := rs.probe(tx, m, value)
	require.NoError(t, err)
	require.True(t, found, "the probe finds the candidate")
	require.Len(t, rs.probed, 1)
	var before, after runtime.MemStats
	const n = 200
	runtime.ReadMemStats(&before)
	for range n {
		rs.probed = rs.probed[:0]
		if _, err := rs.probe(tx, m, value); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perProbe := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per probe", perProbe)
	assert.Less(t, perProbe, uint64(4096), "bytes allocated per probe")
}
