package netskope

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

const (
	md5A = "e28eb9739b6e84d0f796e3acc0f5b71e"
	md5B = "44d88612fea8a8f36de82e1278abb02f"
	shaA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	shaB = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
)

var both = []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}

func values(inds []ioc.Indicator) []string {
	out := make([]string, len(inds))
	for i, ind := range inds {
		out[i] = ind.Type.String() + ":" + ind.Value
	}
	return out
}

func TestExtractHashes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1716300000, 0)
	cases := []struct {
		name  string
		alert Alert
		types []ioc.Type
		want  []string
	}{
		{"equal gives one", Alert{MD5: md5A, LocalMD5: md5A, SHA256: shaA, LocalSHA256: shaA}, both,
			[]string{"md5:" + md5A, "sha256:" + shaA}},
		{"different gives both, local first", Alert{MD5: md5A, LocalMD5: md5B, SHA256: shaA, LocalSHA256: shaB}, both,
			[]string{"md5:" + md5B, "md5:" + md5A, "sha256:" + shaB, "sha256:" + shaA}},
		{"only local", Alert{LocalMD5: md5A, LocalSHA256: shaA}, both, []string{"md5:" + md5A, "sha256:" + shaA}},
		{"only reported", Alert{MD5: md5A}, both, []string{"md5:" + md5A}},
		{"empty gives none", Alert{MD5: "", LocalMD5: " ", SHA256: ""}, both, []string{}},
		{"equal after case folding", Alert{MD5: strings.ToUpper(md5A), LocalMD5: md5A}, both, []string{"md5:" + md5A}},
		{"sha256 only", Alert{MD5: md5A, SHA256: shaA}, []ioc.Type{ioc.TypeSHA256}, []string{"sha256:" + shaA}},
		{"md5 only", Alert{MD5: md5A, SHA256: shaA}, []ioc.Type{ioc.TypeMD5}, []string{"md5:" + md5A}},
		{"no hash types", Alert{MD5: md5A, SHA256: shaA}, []ioc.Type{}, []string{}},
	}
	for _, c := range cases {
		x := NewExtractor("https://acme.goskope.com", c.types, now)
		got, invalid := x.Page(AlertMalware, []Alert{c.alert})
		assert.Equal(t, c.want, values(got), c.name)
		assert.Empty(t, invalid, c.name)
	}
}

func TestExtractFields(t *testing.T) {
	t.Parallel()
	now := time.Unix(1716300000, 0)
	x := NewExtractor("https://acme.goskope.com", both, now)
	got, _ := x.Page(AlertMalware, []Alert{
		{SHA256: shaA, Severity: "HIGH", Timestamp: 1716200400, Object: "invoice.exe", MalwareName: "Gen.Trojan", MalwareType: "Trojan"},
		{SHA256: shaB, Severity: "bogus", Object: "a.pdf"},
		{MD5: md5A, Severity: "critical", Timestamp: 1716200400.5},
	})
	require.Len(t, got, 3)
	assert.Equal(t, ioc.SeverityHigh, got[0].Severity)
	assert.Equal(t, time.Unix(1716200400, 0).UTC(), got[0].FirstSeen)
	assert.Equal(t, got[0].FirstSeen, got[0].LastSeen)
	assert.Equal(t, "https://acme.goskope.com - invoice.exe, Malware Name: Gen.Trojan, Malware Type: Trojan", got[0].Comments)
	assert.Equal(t, ioc.SeverityUnknown, got[1].Severity)
	assert.Equal(t, now.UTC(), got[1].FirstSeen, "no timestamp: now")
	assert.Equal(t, "https://acme.goskope.com - a.pdf", got[1].Comments)
	assert.Equal(t, ioc.SeverityCritical, got[2].Severity)
	assert.Equal(t, time.Unix(1716200400, 5e8).UTC(), got[2].FirstSeen)
	assert.Equal(t, "https://acme.goskope.com", got[2].Comments)
}

func TestExtractMergesRepeats(t *testing.T) {
	t.Parallel()
	x := NewExtractor("t", both, time.Unix(1, 0))
	got, _ := x.Page(AlertMalware, []Alert{
		{SHA256: shaA, Severity: "low", Timestamp: 100, Object: "first"},
		{LocalSHA256: strings.ToUpper(shaA), Severity: "high", Timestamp: 200, Object: "second"},
	})
	require.Len(t, got, 1)
	assert.Equal(t, ioc.SeverityHigh, got[0].Severity)
	assert.Equal(t, time.Unix(100, 0).UTC(), got[0].FirstSeen)
	assert.Equal(t, time.Unix(200, 0).UTC(), got[0].LastSeen)
	assert.Equal(t, "t - second", got[0].Comments)

	// A second page starts afresh.
	got, _ = x.Page(AlertMalware, []Alert{{SHA256: shaA}})
	assert.Len(t, got, 1)
}

func TestExtractInvalidCounted(t *testing.T) {
	t.Parallel()
	x := NewExtractor("t", both, time.Unix(1, 0))
	got, invalid := x.Page(AlertMalware, []Alert{
		{MD5: "zz", SHA256: "abc"},
		{MD5: "not-a-hash", LocalMD5: md5A},
	})
	assert.Equal(t, []string{"md5:" + md5A}, values(got))
	assert.Equal(t, []cte.Invalid{
		{Reason: "md5: not 32 hex digits", Count: 2, Example: "zz"},
		{Reason: "sha256: not 64 hex digits", Count: 1, Example: "abc"},
	}, invalid)
}

func TestExtractInvalidReasonsBounded(t *testing.T) {
	t.Parallel()
	x := NewExtractor("t", both, time.Unix(1, 0))
	var alerts []Alert
	for i := range 100 {
		alerts = append(alerts, Alert{URL: "http://" + strings.Repeat("x", i%60) + "bad host/"})
		alerts = append(alerts, Alert{URL: "ftp://" + strings.Repeat("y", i) + ".example/"})
		alerts = append(alerts, Alert{URL: "http://h.example:" + strings.Repeat("9", i+6) + "/"})
	}
	_, invalid := x.Page(AlertMalsite, alerts)
	n := 0
	for _, iv := range invalid {
		n += iv.Count
	}
	assert.Equal(t, 300, n, "every invalid value is counted")
	assert.LessOrEqual(t, len(invalid), maxReasons+1)
}

func TestExtractMalsite(t *testing.T) {
	t.Parallel()
	x := NewExtractor("https://acme.goskope.com", both, time.Unix(1, 0))
	got, invalid := x.Page(AlertMalsite, []Alert{
		{URL: "http://Evil.Example.com/dl?x=1", MalsiteCategory: Categories{"Phishing", "Botnet"}, Severity: "medium", Timestamp: 5},
		{URL: "evil.example.com/dl"},
		{URL: "bare-host.example.net"},
		{URL: "198.51.100.7"},
		{URL: "2001:db8::1"},
		{URL: "198.51.100.7:8080/x"},
		{URL: ""},
		{URL: "bad host.example/x"},
		{URL: "javascript:alert(1)"},
		{URL: "h.example", MD5: md5A}, // hashes of malsite alerts are not read
	})
	assert.Equal(t, []string{
		"url:http://evil.example.com/dl?x=1",
		"url:http://evil.example.com/dl",
		"hostname:bare-host.example.net",
		"ipv4:198.51.100.7",
		"ipv6:2001:db8::1",
		"url:http://198.51.100.7:8080/x",
		"hostname:h.example",
	}, values(got))
	assert.Equal(t, "https://acme.goskope.com - Phishing, Botnet", got[0].Comments)
	assert.Equal(t, "https://acme.goskope.com", got[1].Comments)
	assert.Equal(t, ioc.SeverityMedium, got[0].Severity)
	total := 0
	for _, iv := range invalid {
		total += iv.Count
		assert.True(t, strings.HasPrefix(iv.Reason, "url: "), iv.Reason)
	}
	assert.Equal(t, 2, total, "never dropped silently: %+v", invalid)
}

func TestParseSiteValue(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://x.example/a":   "url:https://x.example/a",
		"x.example/":            "url:http://x.example/",
		"x.example:8443":        "url:http://x.example:8443/",
		"user@x.example/p":      "url:http://user@x.example/p",
		"X.EXAMPLE":             "hostname:x.example",
		"::ffff:198.51.100.1":   "ipv4:198.51.100.1",
		"[2001:db8::1]/path":    "url:http://[2001:db8::1]/path",
		"  x.example/q?a=b  ":   "url:http://x.example/q?a=b",
		"localhost":             "url:http://localhost/",
		"xn--bcher-kva.example": "hostname:xn--bcher-kva.example",
	}
	for in, want := range good {
		typ, v, err := ParseSiteValue(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, typ.String()+":"+v, in)
		}
	}
	for _, in := range []string{"bad host", "http://", "x.example/\x00", "ftp://x.example/"} {
		_, _, err := ParseSiteValue(in)
		assert.ErrorIs(t, err, ioc.ErrInvalid, in)
	}
}
