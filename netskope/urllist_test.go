package netskope

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

func urlServer(t *testing.T, opts ...netskopetest.Option) *netskopetest.Server {
	return netskopetest.NewServer(t, append([]netskopetest.Option{
		netskopetest.WithURLList("CE_Malsites", "exact", "cedefaultpush.io", "old.example.com"),
		netskopetest.WithURLList("Regex_List", "regex", `.*\.bad\.example`),
	}, opts...)...)
}

func TestURLListEntry(t *testing.T) {
	t.Parallel()
	good := []struct {
		typ  string
		ind  ioc.Indicator
		want string
	}{
		{URLListExact, ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example.com/dl?x=1"}, "evil.example.com/dl?x=1"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeURL, Value: "https://Evil.example.com"}, "evil.example.com"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example.com:8080/"}, "evil.example.com:8080"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeURL, Value: "http://198.51.100.7/a/"}, "198.51.100.7/a/"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeDomain, Value: "Example.NET"}, "example.net"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeHostname, Value: "c2.example.net"}, "c2.example.net"},
		{URLListExact, ioc.Indicator{Type: ioc.TypeIPv4, Value: "203.0.113.7"}, "203.0.113.7"},
		{URLListRegex, ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example.com/a+b"}, `evil\.example\.com/a\+b`},
	}
	for _, c := range good {
		got, err := URLListEntry(c.typ, c.ind)
		if assert.NoError(t, err, c.ind.Value) {
			assert.Equal(t, c.want, got, c.ind.Value)
		}
	}
	bad := []struct {
		ind  ioc.Indicator
		want string
	}{
		{ioc.Indicator{Type: ioc.TypeIPv6, Value: "2001:db8::1"}, "URL lists take url, domain, hostname and ipv4"},
		{ioc.Indicator{Type: ioc.TypeSHA256, Value: shaA}, "URL lists take"},
		{ioc.Indicator{Type: ioc.TypeURL, Value: "http://[2001:db8::1]/"}, "IPv6"},
		{ioc.Indicator{Type: ioc.TypeURL, Value: "javascript:alert(1)"}, "invalid url"},
		{ioc.Indicator{Type: ioc.TypeDomain, Value: "-bad-.example"}, "invalid domain"},
		{ioc.Indicator{Type: ioc.TypeIPv4, Value: "999.1.1.1"}, "invalid ipv4"},
		{ioc.Indicator{Type: ioc.TypeIPv4, Value: "::ffff:198.51.100.1"}, ""}, // accepted: an IPv4-mapped address is IPv4
		{ioc.Indicator{Type: ioc.TypeURL, Value: "ftp://files.example/x"}, "scheme must be http or https"},
		{ioc.Indicator{Type: ioc.TypeHostname, Value: "has space.example"}, "invalid hostname"},
	}
	for _, c := range bad {
		ind, want := c.ind, c.want
		_, err := URLListEntry(URLListExact, ind)
		if want == "" {
			assert.NoError(t, err, ind.Value)
			continue
		}
		if assert.Error(t, err, ind.Value) {
			assert.Contains(t, err.Error(), want, ind.Value)
		}
	}
}

func TestURLListTargets(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = nil })
	ts, err := p.GetTargets(t.Context())
	require.NoError(t, err)
	require.Len(t, ts, 2)
	assert.Equal(t, "url-list/CE_Malsites", ts[0].ID)
	assert.Equal(t, cte.Append, ts[0].Mode)
	assert.Equal(t, []ioc.Type{ioc.TypeURL, ioc.TypeDomain, ioc.TypeHostname, ioc.TypeIPv4}, ts[0].Types)
	assert.Contains(t, ts[0].Label, "exact")
	assert.Equal(t, "url-list/Regex_List", ts[1].ID)
	for _, rq := range s.Requests() {
		assert.Equal(t, netskopetest.PathURLList, rq.Path)
	}

	// A token without the URL list scope: no URL list targets, no error.
	s2 := urlServer(t, netskopetest.WithV2Scopes(netskopetest.ScopeAlertsMalware))
	p2 := newPlugin(t, s2, nil)
	ts, err = p2.GetTargets(t.Context())
	require.NoError(t, err)
	require.Len(t, ts, 1)
	assert.Equal(t, "file-hash-list/CE_Malware_Hashes", ts[0].ID)

	// A refused token is an error.
	bad := newPlugin(t, s, func(c *Config) { c.V2Token = "wrong" })
	_, err = bad.GetTargets(t.Context())
	assert.ErrorIs(t, err, cte.ErrAuth)
}

// Issue 12 item 4: URL lists are optional. A 5xx listing them does not keep the
// File Hash List targets from a configuration that only pushes hashes; it is a
// warning. With nothing else to offer, it is the error.
func TestURLListOutageKeepsFileHashTargets(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	var logs logBuffer
	p := newPlugin(t, s, nil, WithLogger(logs.logger()), WithRetry(Retry{Max: 1, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	s.ServerError(netskopetest.PathURLList, 2, 503)
	ts, err := p.GetTargets(t.Context())
	require.NoError(t, err)
	require.Len(t, ts, 1)
	assert.Equal(t, "file-hash-list/CE_Malware_Hashes", ts[0].ID)
	assert.Contains(t, logs.String(), "listing URL lists failed")

	only := newPlugin(t, s, func(c *Config) { c.FileHashLists = nil }, WithRetry(Retry{Max: 1, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	s.ServerError(netskopetest.PathURLList, 2, 503)
	_, err = only.GetTargets(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestPushURLListAppendsAndDeploys(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	tgt := cte.Target{ID: "url-list/CE_Malsites"}
	in := []ioc.Indicator{
		{Type: ioc.TypeURL, Value: "http://evil.example.com/dl"},
		{Type: ioc.TypeDomain, Value: "old.example.com"},  // already there
		{Type: ioc.TypeHostname, Value: "c2.example.net"}, // new
		{Type: ioc.TypeURL, Value: "https://c2.example.net/"},
		{Type: ioc.TypeIPv4, Value: "203.0.113.7"},
		{Type: ioc.TypeIPv6, Value: "2001:db8::1"},
	}
	res, err := p.Push(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Applied, "the URL and host name c2.example.net are one entry, both applied")
	assert.Equal(t, 1, res.Unchanged)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, "2001:db8::1", res.Rejected[0].Value)
	l, ok := s.URLListByName("CE_Malsites")
	require.True(t, ok)
	want := []string{"cedefaultpush.io", "old.example.com", "evil.example.com/dl", "c2.example.net", "203.0.113.7"}
	assert.Equal(t, want, l.URLs)
	assert.Equal(t, want, l.Deployed, "deployed")
	assert.False(t, l.Pending)
	assert.Equal(t, 1, s.Deploys())

	// Pushing the same again changes nothing and calls neither append nor deploy.
	s.ResetRequests()
	res, err = p.Push(t.Context(), tgt, in[:5])
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 5}, res)
	for _, rq := range s.Requests() {
		assert.Equal(t, "GET", rq.Method)
	}
	assert.Equal(t, 1, s.Deploys())
}

func TestPushURLListRegexQuotes(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	res, err := p.Push(t.Context(), cte.Target{ID: "url-list/Regex_List"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example"}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	l, _ := s.URLListByName("Regex_List")
	assert.Equal(t, []string{`.*\.bad\.example`, `x\.example`}, l.URLs)
}

func TestPushURLListRefusedValuesRetriedOnce(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	// A value ioc accepts but the tenant refuses: a wildcard-looking host is not
	// possible through ioc, so the tenant's 400 is scripted for one value.
	s.FailStatus(netskopetest.PathURLList+"/1/append", 1, 400,
		`{"statusCode":400,"message":[["bad.example.com","invalid host name"]]}`)
	res, err := p.Push(t.Context(), cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{
		{Type: ioc.TypeDomain, Value: "bad.example.com"},
		{Type: ioc.TypeDomain, Value: "good.example.com"},
	})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, cte.Rejected{Value: "bad.example.com", Reason: "refused by the tenant: invalid host name", Code: "400"}, res.Rejected[0])
	l, _ := s.URLListByName("CE_Malsites")
	assert.Contains(t, l.Deployed, "good.example.com")
	assert.NotContains(t, l.URLs, "bad.example.com")
	appends := 0
	for _, rq := range s.Requests() {
		if strings.HasSuffix(rq.Path, "/append") {
			appends++
		}
	}
	assert.Equal(t, 2, appends, "sent once more without the refused value")

	// Refused twice: not looped on; the rest are retryable rejections and an error.
	s.FailStatus(netskopetest.PathURLList+"/1/append", 2, 400,
		`{"statusCode":400,"message":[["a.example.com","no"]]}`)
	res, err = p.Push(t.Context(), cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{
		{Type: ioc.TypeDomain, Value: "a.example.com"},
		{Type: ioc.TypeDomain, Value: "b.example.com"},
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRejected)
	assert.Equal(t, 0, res.Applied)
	require.Len(t, res.Rejected, 2)
	assert.False(t, res.Rejected[0].Retryable)
	assert.True(t, res.Rejected[1].Retryable)
}

func TestPushURLListRealValidation(t *testing.T) {
	t.Parallel()
	// The fake validates entries; an over-long label passes ioc (63 bytes is its
	// limit too), so everything ioc accepts is accepted here: the rejection path is
	// driven by FailStatus above. This checks the round trip of many values.
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	var in []ioc.Indicator
	for i := range 500 {
		in = append(in, ioc.Indicator{Type: ioc.TypeURL, Value: "http://h" + strings.Repeat("x", i%50) + ".example.org/p" + strings.Repeat("y", i)})
	}
	res, err := p.Push(t.Context(), cte.Target{ID: "url-list/CE_Malsites"}, in)
	require.NoError(t, err)
	assert.Equal(t, 500, res.Applied)
	l, _ := s.URLListByName("CE_Malsites")
	assert.Len(t, l.Deployed, 502)
}

func TestPushURLListPendingChanges(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	require.True(t, s.EditURLListInUI(1))
	s.ResetRequests()
	res, err := p.Push(t.Context(), cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example.com"}})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPendingChanges)
	assert.Contains(t, err.Error(), "apply or discard")
	require.Len(t, res.Rejected, 1)
	assert.True(t, res.Rejected[0].Retryable)
	patches := 0
	for _, rq := range s.Requests() {
		if rq.Method == "PATCH" {
			patches++
		}
	}
	assert.Equal(t, 1, patches, "reported, not looped on")
	assert.Zero(t, s.Deploys())
}

func TestPushURLListNeverDeploysUIChanges(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	require.True(t, s.EditURLListInUI(1))
	res, err := p.Push(t.Context(), cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "old.example.com"}})
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 1}, res)
	assert.Zero(t, s.Deploys(), "an administrator's staged change is not published by us")
	l, _ := s.URLListByName("CE_Malsites")
	assert.True(t, l.Pending)
}

func TestPushURLListDeployFailure(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	s.FailStatus(netskopetest.PathURLListDeploy, 1, 409, `{"statusCode":409,"message":"non-interactive operation on pending profile is not allowed"}`)
	tgt := cte.Target{ID: "url-list/CE_Malsites"}
	in := []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example.com"}}
	res, err := p.Push(t.Context(), tgt, in)
	assert.ErrorIs(t, err, ErrPendingChanges)
	assert.Contains(t, err.Error(), "staged but not deployed")
	assert.Zero(t, res.Applied, "written but staged: not in force")
	require.Len(t, res.Rejected, 1, "every value is accounted for")
	assert.True(t, res.Rejected[0].Retryable, "the engine sends it again")
	assert.Contains(t, res.Rejected[0].Reason, "staged but not deployed")

	// Sent again, the value is found staged and the pending change deployed.
	res, err = p.Push(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 1}, res)
	l, _ := s.URLListByName("CE_Malsites")
	assert.Contains(t, l.Deployed, "x.example.com")
}

// TestPushURLListLaterAppendFails pushes more than one append request holds:
// the first passes, the second fails through the retries. What the first
// wrote is staged, not deployed: no value may count as applied (the engine
// would never send it again, and nothing would deploy the list), and every
// one is retryable. Sent again, the first batch is found staged, the rest
// appended, and the list deployed.
func TestPushURLListLaterAppendFails(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60)
	var in []ioc.Indicator
	for i := range 40000 { // about 200 bytes each: two append requests
		in = append(in, ioc.Indicator{Type: ioc.TypeDomain, Value: fmt.Sprintf("%s.h%d.example.com", long, i)})
	}
	path := netskopetest.PathURLList + "/1/append"
	gate := s.Stall(path, 1) // the first append passes (held, then handled)
	go func() { <-gate.Arrived(); gate.Release() }()
	s.ServerError(path, 4, 503) // the second fails through the retries (fastOptions: 3)
	tgt := cte.Target{ID: "url-list/CE_Malsites"}
	res, err := p.Push(t.Context(), tgt, in)
	require.Error(t, err)
	require.Zero(t, s.PendingFaults())
	assert.Zero(t, s.Deploys())
	l, _ := s.URLListByName("CE_Malsites")
	require.True(t, l.Pending, "the first batch is staged")
	assert.Zero(t, res.Applied, "staged, not in force")
	assert.Zero(t, res.Unchanged)
	require.Equal(t, len(in), len(res.Rejected), "every value is accounted for")
	for _, r := range res.Rejected {
		require.True(t, r.Retryable, r.Value)
	}

	res, err = p.Push(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, len(in), res.Applied+res.Unchanged)
	assert.Positive(t, res.Unchanged, "the first batch is found staged")
	assert.Equal(t, 1, s.Deploys())
	l, _ = s.URLListByName("CE_Malsites")
	assert.False(t, l.Pending)
	assert.Contains(t, l.Deployed, in[0].Value)
}

func TestPushURLListUnknown(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	_, err := p.Push(t.Context(), cte.Target{ID: "url-list/Nope"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example.com"}})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "Policies > Web > URL Lists")
	_, err = p.Push(t.Context(), cte.Target{ID: "operation/BLOCK"}, nil)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestRetractURLList(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	tgt := cte.Target{ID: "url-list/CE_Malsites"}
	_, err := p.Push(t.Context(), tgt, []ioc.Indicator{
		{Type: ioc.TypeURL, Value: "http://evil.example.com/dl"},
		{Type: ioc.TypeDomain, Value: "keep.example.com"},
	})
	require.NoError(t, err)
	res, err := p.Retract(t.Context(), tgt, []ioc.Indicator{
		{Type: ioc.TypeURL, Value: "http://evil.example.com/dl"},
		{Type: ioc.TypeDomain, Value: "old.example.com"},
		{Type: ioc.TypeDomain, Value: "never.example.com"},
		{Type: ioc.TypeIPv6, Value: "2001:db8::1"},
	})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Applied)
	assert.Equal(t, 1, res.Unchanged)
	assert.Len(t, res.Rejected, 1)
	l, _ := s.URLListByName("CE_Malsites")
	assert.Equal(t, []string{"cedefaultpush.io", "keep.example.com"}, l.Deployed)

	// Retracting everything leaves the placeholder (the tenant refuses an empty list).
	_, err = p.Retract(t.Context(), tgt, []ioc.Indicator{
		{Type: ioc.TypeDomain, Value: "keep.example.com"},
		{Type: ioc.TypeDomain, Value: "cedefaultpush.io"},
	})
	require.NoError(t, err)
	l, _ = s.URLListByName("CE_Malsites")
	assert.Equal(t, []string{URLListPlaceholder}, l.Deployed)

	// Nothing to remove: no change, no deploy.
	deploys := s.Deploys()
	res, err = p.Retract(t.Context(), tgt, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "never.example.com"}})
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 1}, res)
	assert.Equal(t, deploys, s.Deploys())

	// File hash lists are replaced, not retracted.
	_, err = p.Retract(t.Context(), cte.Target{ID: "file-hash-list/CE_Malware_Hashes"}, shaIndicators(1))
	assert.ErrorIs(t, err, cte.ErrNotSupported)
	_, err = p.Retract(t.Context(), cte.Target{ID: "nope"}, shaIndicators(1))
	assert.ErrorIs(t, err, ErrNotFound)

	// A pending UI change: reported, the values are retryable.
	require.True(t, s.EditURLListInUI(1))
	res, err = p.Retract(t.Context(), tgt, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "cedefaultpush.io"}})
	assert.ErrorIs(t, err, ErrPendingChanges)
	require.Len(t, res.Rejected, 1)
	assert.True(t, res.Rejected[0].Retryable)
}
