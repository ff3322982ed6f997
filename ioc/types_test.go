package ioc

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTypeText(t *testing.T) {
	t.Parallel()
	for _, typ := range Types() {
		b, err := typ.MarshalText()
		require.NoError(t, err)
		var back Type
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, typ, back)
	}
	var typ Type
	require.NoError(t, typ.UnmarshalText([]byte("SHA256")))
	assert.Equal(t, TypeSHA256, typ)
	err := typ.UnmarshalText([]byte("sha1"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown type "sha1": want one of sha256, md5, url, domain, hostname, ipv4, ipv6`)
	_, err = Type(0).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "Type(42)", Type(42).String())
	assert.True(t, TypeMD5.IsHash())
	assert.False(t, TypeURL.IsHash())
}

func TestSeverityOrderAndText(t *testing.T) {
	t.Parallel()
	assert.Less(t, SeverityUnknown, SeverityLow)
	assert.Less(t, SeverityLow, SeverityMedium)
	assert.Less(t, SeverityMedium, SeverityHigh)
	assert.Less(t, SeverityHigh, SeverityCritical)
	for in, want := range map[string]Severity{"": SeverityUnknown, "High": SeverityHigh, "critical": SeverityCritical, "info": SeverityLow, "Informational": SeverityLow} {
		got, err := ParseSeverity(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseSeverity("severe")
	assert.ErrorContains(t, err, `unknown severity "severe": want one of unknown, low, medium, high, critical`)
	_, err = Severity(9).MarshalText()
	assert.Error(t, err)
}

func TestIndicatorJSON(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 5, 1, 10, 2, 3, 0, time.UTC)
	in := Indicator{Type: TypeMD5, Value: "44d88612fea8a8f36de82e1278abb02f", Severity: SeverityHigh, Tags: []string{"a"}, FirstSeen: ts, LastSeen: ts}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"md5","value":"44d88612fea8a8f36de82e1278abb02f","severity":"high","tags":["a"],"firstSeen":"2026-05-01T10:02:03Z","lastSeen":"2026-05-01T10:02:03Z"}`, string(b))
	var back Indicator
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, in, back)
}

func TestRep(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 5, Indicator{}.Rep())
	assert.Equal(t, 1, Indicator{Reputation: -3}.Rep())
	assert.Equal(t, 10, Indicator{Reputation: 42}.Rep())
	assert.Equal(t, 7, Indicator{Reputation: 7}.Rep())
}

func TestMerge(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	t3 := t2.Add(time.Hour)
	a := Indicator{Type: TypeSHA256, Value: "v", Severity: SeverityLow, Reputation: 3, Comments: "old", Tags: []string{"x", "b"}, FirstSeen: t2, LastSeen: t2, ExpiresAt: t3, Source: "s"}
	b := Indicator{Type: TypeSHA256, Value: "v", Severity: SeverityHigh, Reputation: 8, Comments: "new", Tags: []string{"a", "b"}, FirstSeen: t1, LastSeen: t3}
	m := Merge(a, b)
	assert.Equal(t, t1, m.FirstSeen)
	assert.Equal(t, t3, m.LastSeen)
	assert.Equal(t, t3, m.ExpiresAt)
	assert.Equal(t, SeverityHigh, m.Severity)
	assert.Equal(t, 8, m.Reputation)
	assert.Equal(t, "new", m.Comments)
	assert.Equal(t, []string{"a", "b", "x"}, m.Tags)
	assert.Equal(t, "s", m.Source)
	assert.Equal(t, []string{"x", "b"}, a.Tags, "inputs are not modified")

	// The later report wins comments only when it has any; order of arguments does not matter.
	b.Comments = ""
	assert.Equal(t, "old", Merge(a, b).Comments)
	assert.Equal(t, "old", Merge(b, a).Comments)
	b.Comments = "new"
	assert.Equal(t, "new", Merge(b, a).Comments)
	// Seen at the same time: the greater comments, in either order.
	b.LastSeen = a.LastSeen
	assert.Equal(t, "old", Merge(a, b).Comments)
	assert.Equal(t, "old", Merge(b, a).Comments)
	b.Comments = ""
	assert.Equal(t, "old", Merge(b, a).Comments)
	assert.Equal(t, "old", Merge(a, b).Comments)
	// Zero times do not win.
	z := Merge(Indicator{Value: "v"}, Indicator{FirstSeen: t2, Type: TypeMD5})
	assert.Equal(t, t2, z.FirstSeen)
	assert.Equal(t, TypeMD5, z.Type)
	assert.Nil(t, Merge(Indicator{}, Indicator{}).Tags)
}

func TestNeverShare(t *testing.T) {
	t.Parallel()
	for _, v := range []string{EmptyMD5, EmptySHA256, Placeholder} {
		assert.True(t, NeverShare(v), v)
	}
	assert.False(t, NeverShare("44d88612fea8a8f36de82e1278abb02f"))
}

// Merging a report again into what it was merged into changes nothing,
// whatever came between: Merge keeps the earliest, the latest, the highest
// and the union, and settles comments of the same time by their byte order
// (before, the report merged last won a tie, so merging an earlier report
// of the same time again changed them). A pull leaves out the reports it
// re-reads unchanged on the strength of it.
func TestMergeAgainChangesNothing(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return t0.Add(time.Duration(rng.IntN(3)) * time.Hour) // few times: many ties
	}
	tags := [][]string{nil, {"a"}, {"a", "b"}, {"c"}}
	comments := []string{"", "x", "y", "z"}
	for round := range 2000 {
		in := make([]Indicator, 2+rng.IntN(5))
		for i := range in {
			in[i] = Indicator{Type: TypeSHA256, Value: "v", Severity: Severity(rng.IntN(5)), Reputation: rng.IntN(11),
				Comments: comments[rng.IntN(len(comments))], Tags: tags[rng.IntN(len(tags))],
				FirstSeen: at(), LastSeen: at(), ExpiresAt: at()}
		}
		e := in[0]
		for _, x := range in[1:] {
			e = Merge(e, x)
		}
		for i, x := range in {
			assert.Equal(t, e, Merge(e, x), "round %d: report %d merged again", round, i)
		}
	}
}
