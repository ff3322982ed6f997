package netskope

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

var fixedNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// fixedServer is a fake whose alerts depend only on the options (fixed clock and seed).
func fixedServer(t *testing.T, opts ...netskopetest.Option) *netskopetest.Server {
	return netskopetest.NewServer(t, append([]netskopetest.Option{
		netskopetest.WithClock(fixedClock), netskopetest.WithSeed(7),
		netskopetest.WithFileHashList("CE_Malware_Hashes"),
	}, opts...)...)
}

type pulled struct {
	pages []cte.Page
	err   error
}

// pull collects pages; stopAfter > 0 stops after that many (a consumer that stops or crashes).
func pull(ctx context.Context, p *Plugin, from cte.Checkpoint, stopAfter int) pulled {
	var r pulled
	for page, err := range p.Pull(ctx, from) {
		if err != nil {
			r.err = err
			break
		}
		r.pages = append(r.pages, page)
		if stopAfter > 0 && len(r.pages) == stopAfter {
			break
		}
	}
	return r
}

func (r pulled) keys() []string {
	var out []string
	for _, p := range r.pages {
		out = append(out, values(p.Indicators)...)
	}
	return out
}

// expectedHashes lists every hash value the fake's malware alerts carry.
func expectedHashes(s *netskopetest.Server) map[string]bool {
	want := map[string]bool{}
	for _, a := range s.Alerts(netskopetest.KindMalware) {
		for _, k := range []string{"md5", "local_md5", "sha256", "local_sha256"} {
			if v, _ := a[k].(string); v != "" {
				t := "md5"
				if len(v) == 64 {
					t = "sha256"
				}
				want[t+":"+strings.ToLower(v)] = true
			}
		}
	}
	return want
}

func TestPullFirstRunDeliversEveryAlert(t *testing.T) {
	t.Parallel()
	s := fixedServer(t, netskopetest.WithPageSize(30))
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	r := pull(t.Context(), p, nil, 0)
	require.NoError(t, r.err)
	require.Greater(t, len(r.pages), 2, "several pages")
	got := map[string]bool{}
	for _, k := range r.keys() {
		got[k] = true
	}
	assert.Equal(t, expectedHashes(s), got)
	for _, pg := range r.pages {
		assert.NotEmpty(t, pg.Next)
	}

	// The requests: one epoch operation at now - 7 days, then next until an empty page.
	var ops []string
	for _, rq := range s.Requests() {
		if strings.HasPrefix(rq.Path, netskopetest.PathDataExportAlerts) {
			assert.Equal(t, p.Index(), rq.Query.Get("index"))
			ops = append(ops, rq.Query.Get("operation"))
		}
	}
	require.NotEmpty(t, ops)
	assert.Equal(t, OpEpoch(fixedNow.Add(-7*24*time.Hour)), ops[0])
	for _, op := range ops[1:] {
		assert.Equal(t, OpNext, op)
	}
	pos, ok := s.IteratorPosition(netskopetest.KindMalware, p.Index())
	require.True(t, ok)
	assert.Equal(t, len(s.Alerts(netskopetest.KindMalware)), pos)
}

func TestPullInitialRange(t *testing.T) {
	t.Parallel()
	s := fixedServer(t)
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware}; c.InitialRangeDays = 1 })
	r := pull(t.Context(), p, nil, 0)
	require.NoError(t, r.err)
	want := map[string]bool{}
	cut := fixedNow.Add(-24 * time.Hour).Unix()
	for _, a := range s.Alerts(netskopetest.KindMalware) {
		if ts, _ := a["timestamp"].(int64); ts >= cut {
			for _, k := range []string{"md5", "local_md5", "sha256", "local_sha256"} {
				if v, _ := a[k].(string); v != "" {
					want[v] = true
				}
			}
		}
	}
	got := map[string]bool{}
	for _, pg := range r.pages {
		for _, ind := range pg.Indicators {
			got[ind.Value] = true
			assert.GreaterOrEqual(t, ind.LastSeen.Unix(), cut)
		}
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, got)
	assert.Less(t, len(got), len(expectedHashes(s)), "older alerts are left out")
}

func TestPullMalsite(t *testing.T) {
	t.Parallel()
	s := fixedServer(t)
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalsite} })
	r := pull(t.Context(), p, nil, 0)
	require.NoError(t, r.err)
	want := map[string]bool{}
	for _, a := range s.Alerts(netskopetest.KindMalsite) {
		if u, _ := a["url"].(string); u != "" {
			typ, v, err := ParseSiteValue(u)
			require.NoError(t, err, u)
			want[typ.String()+":"+v] = true
		}
	}
	got := map[string]bool{}
	types := map[ioc.Type]bool{}
	for _, pg := range r.pages {
		assert.Empty(t, pg.Invalid)
		for _, ind := range pg.Indicators {
			got[ind.Type.String()+":"+ind.Value] = true
			types[ind.Type] = true
			assert.Contains(t, ind.Comments, s.URL+" - ")
		}
	}
	assert.Equal(t, want, got)
	assert.True(t, types[ioc.TypeURL] && types[ioc.TypeHostname], "URLs and bare host names: %v", types)
}

// TestPullResumeAfterCrash: a page received but not stored (the consumer crashed
// before storing it) is delivered again when the pull resumes from the last stored
// checkpoint; the stored page is not repeated.
func TestPullResumeAfterCrash(t *testing.T) {
	t.Parallel()
	s := fixedServer(t, netskopetest.WithPageSize(10))
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	first := pull(t.Context(), p, nil, 2) // page 1 stored, page 2 received, then a crash
	require.NoError(t, first.err)
	require.Len(t, first.pages, 2)
	stored := first.pages[0].Next
	lost := values(first.pages[1].Indicators)
	require.NotEmpty(t, lost)

	again := pull(t.Context(), p, stored, 0)
	require.NoError(t, again.err)
	require.NotEmpty(t, again.pages)
	assert.Equal(t, lost, values(again.pages[0].Indicators), "the unstored page comes first")
	seen := map[string]bool{}
	for _, k := range values(first.pages[0].Indicators) {
		seen[k] = true
	}
	for _, k := range again.keys() {
		assert.False(t, seen[k] && !slices.Contains(lost, k), "page 1 repeated: %s", k)
		seen[k] = true
	}
	assert.Equal(t, expectedHashes(s), seen, "nothing lost")
	ops := dataExportOps(s)
	assert.Contains(t, ops, OpResend)
}

func dataExportOps(s *netskopetest.Server) []string {
	var ops []string
	for _, rq := range s.Requests() {
		if strings.HasPrefix(rq.Path, netskopetest.PathDataExportAlerts) {
			ops = append(ops, rq.Query.Get("operation"))
		}
	}
	return ops
}

// TestPullResumeAfterBrokenBody: the tenant moved its cursor but the page broke in
// transit; the pull fails and the next one resends that page.
func TestPullResumeAfterBrokenBody(t *testing.T) {
	t.Parallel()
	ref := fixedServer(t, netskopetest.WithPageSize(10))
	refPages := pull(t.Context(), newPlugin(t, ref, func(c *Config) { c.AlertTypes = []string{AlertMalware} }), nil, 0)
	require.NoError(t, refPages.err)
	require.Greater(t, len(refPages.pages), 2)

	s := fixedServer(t, netskopetest.WithPageSize(10))
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	var stored cte.Checkpoint
	var pullErr error
	pages := 0
	for page, err := range p.Pull(t.Context(), nil) {
		if err != nil {
			pullErr = err
			break
		}
		pages++
		stored = page.Next // the host stores page 1
		s.BreakBody(netskopetest.PathDataExportAlerts, 1)
	}
	require.Equal(t, 1, pages)
	require.Error(t, pullErr)
	assert.ErrorIs(t, pullErr, ErrUnavailable)
	pos, _ := s.IteratorPosition(netskopetest.KindMalware, p.Index())
	require.Equal(t, 20, pos, "the tenant moved past the broken page")

	resumed := pull(t.Context(), p, stored, 0)
	require.NoError(t, resumed.err)
	var want []string
	for _, pg := range refPages.pages[1:] {
		want = append(want, values(pg.Indicators)...)
	}
	assert.Equal(t, want, resumed.keys())
}

func TestPullResumeAtEndThenNewAlerts(t *testing.T) {
	t.Parallel()
	s := fixedServer(t, netskopetest.WithPageSize(40))
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	all := pull(t.Context(), p, nil, 0)
	require.NoError(t, all.err)
	last := all.pages[len(all.pages)-1].Next

	again := pull(t.Context(), p, last, 0)
	require.NoError(t, again.err)
	assert.Empty(t, again.keys(), "caught up: nothing repeated")

	added := s.AddGeneratedAlerts(netskopetest.KindMalware, 3)
	want := map[string]bool{}
	for _, a := range added {
		for _, k := range []string{"md5", "local_md5", "sha256", "local_sha256"} {
			if v, _ := a[k].(string); v != "" {
				want[v] = true
			}
		}
	}
	more := pull(t.Context(), p, last, 0)
	require.NoError(t, more.err)
	got := map[string]bool{}
	for _, pg := range more.pages {
		for _, ind := range pg.Indicators {
			got[ind.Value] = true
		}
	}
	assert.Equal(t, want, got)
}

// TestPullResendRefusedFallsBackToHWM: a tenant that lost the index cannot resend;
// the pull restarts from the stored timestamp_hwm and loses nothing.
func TestPullResendRefusedFallsBackToHWM(t *testing.T) {
	t.Parallel()
	a := fixedServer(t, netskopetest.WithPageSize(10))
	pa := newPlugin(t, a, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	first := pull(t.Context(), pa, nil, 1)
	require.NoError(t, first.err)
	all := pull(t.Context(), pa, first.pages[0].Next, 0)
	require.NoError(t, all.err)

	b := fixedServer(t, netskopetest.WithPageSize(10)) // same alerts, no cursors
	pb := newPlugin(t, b, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	resumed := pull(t.Context(), pb, first.pages[0].Next, 0)
	require.NoError(t, resumed.err)
	got := map[string]bool{}
	for _, k := range resumed.keys() {
		got[k] = true
	}
	for _, k := range all.keys() {
		assert.True(t, got[k], "lost %s", k)
	}
	ops := dataExportOps(b)
	require.GreaterOrEqual(t, len(ops), 2)
	assert.Equal(t, OpResend, ops[0])
	var cp checkpoint
	require.NoError(t, json.Unmarshal(first.pages[0].Next, &cp))
	assert.Equal(t, fmt.Sprint(cp.Types[AlertMalware].HWM), ops[1])
}

func TestPullIndexChangedResumesFromHWM(t *testing.T) {
	t.Parallel()
	s := fixedServer(t, netskopetest.WithPageSize(10))
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	first := pull(t.Context(), p, nil, 1)
	require.NoError(t, first.err)
	var cp checkpoint
	require.NoError(t, json.Unmarshal(first.pages[0].Next, &cp))
	cp.Index = "cte_renamed"
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	s.ResetRequests()
	r := pull(t.Context(), p, b, 0)
	require.NoError(t, r.err)
	ops := dataExportOps(s)
	require.NotEmpty(t, ops)
	assert.Equal(t, fmt.Sprint(cp.Types[AlertMalware].HWM), ops[0])
}

func TestPullBadCheckpoint(t *testing.T) {
	t.Parallel()
	s := fixedServer(t)
	p := newPlugin(t, s, nil)
	for _, bad := range []string{`garbage`, `{"v":2}`, `[]`} {
		r := pull(t.Context(), p, cte.Checkpoint(bad), 0)
		assert.ErrorIs(t, r.err, cte.ErrInvalidConfig, bad)
		assert.Empty(t, r.pages)
	}
	assert.Empty(t, s.Requests(), "no call with an unreadable checkpoint")
}

func TestPullErrors(t *testing.T) {
	t.Parallel()
	s := fixedServer(t)
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	s.FailStatus(netskopetest.PathDataExportAlerts, 1, 200, `{"ok":0,"message":"iterator busy"}`)
	r := pull(t.Context(), p, nil, 0)
	require.Error(t, r.err)
	assert.ErrorIs(t, r.err, ErrBadAnswer)
	assert.Contains(t, r.err.Error(), "iterator busy")
	assert.Empty(t, r.pages)

	bad := newPlugin(t, s, func(c *Config) { c.V2Token = "wrong"; c.AlertTypes = []string{AlertMalware} })
	n := 0
	for _, err := range bad.Pull(t.Context(), nil) {
		n++
		assert.ErrorIs(t, err, cte.ErrAuth)
		assert.Contains(t, err.Error(), "v2_token")
	}
	assert.Equal(t, 1, n, "the error is yielded once")

	// The last check: a 5xx answer makes the client pause (RateLimit-Remaining: 0).
	once := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} }, WithRetry(Retry{Max: -1}))
	s.ServerError(netskopetest.PathDataExportAlerts, 1, 503)
	r = pull(t.Context(), once, nil, 0)
	assert.ErrorIs(t, r.err, ErrUnavailable)
	var e *Error
	require.ErrorAs(t, r.err, &e)
	assert.True(t, e.Retryable)
	assert.Equal(t, 503, e.Status)
}

// TestPullHonoursWaitTime runs under synctest with an in-memory transport: the next
// page is asked for wait_time seconds after the previous one.
func TestPullHonoursWaitTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		var times []time.Time
		calls := 0
		mt.RegisterRegexpResponder("GET", mustRe(`/api/v2/events/dataexport/alerts/malware`), func(r *http.Request) (*http.Response, error) {
			times = append(times, time.Now())
			calls++
			if calls == 1 {
				return httpmock.NewStringResponse(200, `{"ok":1,"wait_time":30,"timestamp_hwm":5,"result":[{"_id":"1","sha256":"`+shaA+`"}]}`), nil
			}
			return httpmock.NewStringResponse(200, `{"ok":1,"wait_time":30,"timestamp_hwm":6,"result":[]}`), nil
		})
		c := Config{TenantURL: "https://acme.goskope.com", V2Token: "tok", AlertTypes: []string{AlertMalware}}
		p, err := NewPlugin(c, WithName("w"), WithHTTPClient(&http.Client{Transport: mt}))
		require.NoError(t, err)
		r := pull(t.Context(), p, nil, 0)
		require.NoError(t, r.err)
		require.Len(t, times, 2)
		assert.Equal(t, 30*time.Second, times[1].Sub(times[0]))
		assert.Len(t, r.pages, 1)

		// A cancelled wait ends the pull with the context's error.
		calls = 0
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		r = pull(ctx, p, nil, 0)
		assert.ErrorIs(t, r.err, context.DeadlineExceeded)
	})
}

// The tenant keeps the Data Export iterator's position: each read moves it, and
// a page fetched ahead of the one being stored would be lost with it if that
// store failed. The engine reads Netskope one page after the other.
func TestPluginDoesNotReadPagesAhead(t *testing.T) {
	t.Parallel()
	var p cte.Plugin = &Plugin{}
	_, ok := p.(cte.PageAheadReader)
	assert.False(t, ok)
}

// lostAnswer delivers the n-th "next" Data Export request to the tenant (its
// cursor moves) and then loses the answer, as a gateway's 502 or a
// connection dropped after the tenant handled the request does.
type lostAnswer struct {
	next  http.RoundTripper
	n     int32
	count atomic.Int32
}

func (l *lostAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "/dataexport/") || r.URL.Query().Get("operation") != OpNext {
		return resp, err
	}
	if l.count.Add(1) != l.n {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"message":"Bad Gateway"}`)), Request: r}, nil
}

// TestLostNextAnswerIsReadAgain: the tenant moves its cursor for a "next"
// whose answer is lost on the way (a 502): the pull ends with the error,
// and the next pull, from the last page stored, reads that page with
// "resend": every alert is pulled. The client sent "next" again, got the
// page after, and the lost one was never read.
func TestLostNextAnswerIsReadAgain(t *testing.T) {
	t.Parallel()
	s := fixedServer(t, netskopetest.WithPageSize(10))
	want := expectedHashes(s)
	tr := &lostAnswer{next: http.DefaultTransport, n: 2}
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} }, WithHTTPClient(&http.Client{Transport: tr}))
	r := pull(t.Context(), p, nil, 0)
	require.Error(t, r.err, "the lost answer ends the pull")
	require.NotEmpty(t, r.pages)
	again := pull(t.Context(), p, r.pages[len(r.pages)-1].Next, 0)
	require.NoError(t, again.err)
	got := map[string]bool{}
	for _, k := range append(r.keys(), again.keys()...) {
		got[k] = true
	}
	missing := 0
	for k := range want {
		if !got[k] {
			missing++
		}
	}
	assert.Zero(t, missing, "%d of %d hashes never pulled; operations %v", missing, len(want), dataExportOps(s))
}
