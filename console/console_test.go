package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/console"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

var (
	blockTarget = cte.Target{ID: "operation/BLOCK", Label: "Block", Mode: cte.Append,
		Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{BatchSize: 4}}
	listTarget = cte.Target{ID: "file-hash-list/CE_Malware_Hashes", Label: "CE hashes", Mode: cte.Replace,
		Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{MaxItems: 1000}}
)

func hash(seed string, i int) string {
	return fmt.Sprintf("%064x", fmt.Sprintf("%s-%d", seed, i))[:64]
}

type world struct {
	eng    *sharing.Engine
	store  *memstore.Store
	mc, ns *plugintest.Fake
	con    *console.Console
	srv    *httptest.Server
}

// newWorld is an engine over two fakes (mc: BLOCK operation, ns: hash list)
// with the two seed configurations, synced once, behind a console.
func newWorld(t *testing.T, opts console.Options) *world {
	t.Helper()
	w := &world{store: memstore.New(), mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(listTarget)}
	t.Cleanup(func() { _ = w.store.Close() })
	eng, err := sharing.New(w.store)
	require.NoError(t, err)
	w.eng = eng
	ctx := t.Context()
	require.NoError(t, eng.AddPlugin("mimecast", w.mc, sharing.SourceSettings{SyncInterval: 10 * time.Minute}))
	require.NoError(t, eng.AddPlugin("netskope", w.ns, sharing.SourceSettings{SyncInterval: time.Hour}))
	require.NoError(t, eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)"}))
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes", Destination: "netskope", Target: listTarget.ID}))
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "ns-to-mc", Source: "netskope", Rule: "hashes", Destination: "mimecast", Target: blockTarget.ID}))
	now := time.Now()
	for i := range 3 {
		w.mc.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: hash("mc", i), Severity: ioc.SeverityHigh, LastSeen: now, FirstSeen: now})
		w.ns.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: hash("ns", i), Severity: ioc.SeverityMedium, LastSeen: now, FirstSeen: now, Tags: []string{"malware"}})
	}
	for _, s := range []string{"mimecast", "netskope"} {
		_, err := eng.SyncSource(ctx, s)
		require.NoError(t, err)
	}
	sw := serve(t, eng, opts)
	w.con, w.srv = sw.con, sw.srv
	return w
}

// serve puts a console over eng behind a test server.
func serve(t *testing.T, eng *sharing.Engine, opts console.Options) *world {
	t.Helper()
	con, err := console.New(eng, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(con)
	t.Cleanup(srv.Close)
	return &world{eng: eng, con: con, srv: srv}
}

func (w *world) do(t *testing.T, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, w.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := w.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
	return v
}

func TestAPIShapes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	code, body := w.do(t, "GET", "/api/v1/sharing", "")
	require.Equal(t, http.StatusOK, code, body)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &rows))
	require.Len(t, rows, 2)
	assert.Equal(t, "mc-to-ns", rows[0]["name"])
	assert.Equal(t, "replace", rows[0]["mode"])
	assert.EqualValues(t, 3, rows[1]["applied"])
	for _, k := range []string{"source", "rule", "destination", "target", "lastRun", "lastOk", "rejected", "retryable", "overCapacity", "retracted"} {
		assert.Contains(t, rows[1], k)
	}

	code, body = w.do(t, "GET", "/api/v1/plugins", "")
	require.Equal(t, http.StatusOK, code, body)
	ps := decode[[]console.Plugin](t, body)
	require.Len(t, ps, 2)
	assert.Equal(t, "mimecast", ps[0].Name)
	assert.Equal(t, "10m0s", ps[0].SyncInterval)
	require.NotNil(t, ps[0].LastPull)
	assert.Equal(t, 3, ps[0].LastPull.Counts["indicators"])
	require.Len(t, ps[0].Targets, 1)
	assert.Equal(t, console.Target{ID: blockTarget.ID, Label: "Block", Mode: "append", Types: []string{"sha256", "md5"}, BatchSize: 4}, ps[0].Targets[0])
	assert.Contains(t, body, `"lastPull":{"lastRun":`)

	code, body = w.do(t, "POST", "/api/v1/plugins/mimecast/validate", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.JSONEq(t, `{"plugin":"mimecast","ok":true}`, body)
	w.mc.SetBadAuth(true)
	_, body = w.do(t, "POST", "/api/v1/plugins/mimecast/validate", "")
	assert.Contains(t, body, `"ok":false`)
	assert.Contains(t, body, "credentials refused")
	w.mc.SetBadAuth(false)

	code, body = w.do(t, "GET", "/api/v1/indicators?sort=severity&limit=2&q="+url.QueryEscape("severity >= medium"), "")
	require.Equal(t, http.StatusOK, code, body)
	page := decode[console.IndicatorPage](t, body)
	assert.Equal(t, 6, page.Total)
	assert.True(t, page.More)
	require.Len(t, page.Items, 2)
	assert.Equal(t, "high", page.Items[0].Severity)
	assert.Equal(t, "mimecast", page.Items[0].Sources[0].Source)
	assert.Contains(t, body, `"items":[{"value":`)

	code, body = w.do(t, "GET", "/api/v1/indicators/"+hash("ns", 1), "")
	require.Equal(t, http.StatusOK, code, body)
	d := decode[console.Detail](t, body)
	assert.True(t, d.Found)
	require.Len(t, d.Sharing, 2)
	assert.Equal(t, "ns-to-mc", d.Sharing[1].Config)
	assert.True(t, d.Sharing[1].Shared)
	require.NotNil(t, d.Sharing[1].Ledger)
	assert.Equal(t, "applied", d.Sharing[1].Ledger.State)

	code, body = w.do(t, "POST", "/api/v1/sharing/ns-to-mc/test", "")
	require.Equal(t, http.StatusOK, code, body)
	p := decode[console.Plan](t, body)
	assert.Equal(t, 3, p.Matched)
	assert.Equal(t, 3, p.Unchanged)
	assert.Equal(t, map[string]int{"sha256": 3}, p.ByType)

	code, body = w.do(t, "POST", "/api/v1/sharing/ns-to-mc/replay", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, 3, decode[console.Share](t, body).Sent)

	code, body = w.do(t, "POST", "/api/v1/plugins/netskope/sync", "")
	require.Equal(t, http.StatusOK, code, body)
	s := decode[console.Sync](t, body)
	assert.Equal(t, "netskope", s.Source)
	require.Len(t, s.Shares, 1)

	for _, call := range []struct{ method, path string }{{"GET", "/api/v1/logs?since=7d"}, {"POST", "/api/v1/sharing/ns-to-mc/test?window=7d"}} {
		code, body = w.do(t, call.method, call.path, "")
		require.Equal(t, http.StatusOK, code, "days, as the CLI and the configuration write them: %s", body)
	}
	code, body = w.do(t, "GET", "/api/v1/logs?level=info&config=ns-to-mc&limit=5", "")
	require.Equal(t, http.StatusOK, code, body)
	es := decode[[]console.LogEntry](t, body)
	require.NotEmpty(t, es)
	last := es[len(es)-1]
	assert.Equal(t, "ns-to-mc", last.Config)
	assert.IsType(t, float64(0), last.Details["applied"], "a count is a JSON number, as in cte logs --json: %s", body)
	code, body = w.do(t, "GET", fmt.Sprintf("/api/v1/logs?after=%d", last.Seq), "")
	require.Equal(t, http.StatusOK, code, body)
	for _, e := range decode[[]console.LogEntry](t, body) {
		assert.Greater(t, e.Seq, last.Seq, "polling returns newer entries only")
	}

	code, body = w.do(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"status":"ok"`)
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v1/sharing/nope/test", "", 404, `is not defined`},
		{"POST", "/api/v1/sharing/nope/replay", "", 404, "not defined"},
		{"POST", "/api/v1/plugins/nope/sync", "", 404, "not configured"},
		{"POST", "/api/v1/plugins/nope/validate", "", 404, "not configured"},
		{"POST", "/api/v1/sharing/ns-to-mc/test?window=x", "", 400, "window"},
		{"POST", "/api/v1/sharing/ns-to-mc/test?window=-1h", "", 400, "window"},
		{"GET", "/api/v1/indicators?q=" + url.QueryEscape("severity >"), "", 400, "query"},
		{"GET", "/api/v1/indicators?sort=size", "", 400, "sort"},
		{"GET", "/api/v1/indicators?limit=x", "", 400, "limit"},
		{"GET", "/api/v1/indicators?offset=99999", "", 400, "offset"},
		{"GET", "/api/v1/logs?level=loud", "", 400, "level"},
		{"GET", "/api/v1/logs?level=" + url.QueryEscape("info+2"), "", 400, "level"},
		{"GET", "/api/v1/logs?limit=0", "", 400, "limit"},
		{"GET", "/api/v1/logs?after=x", "", 400, "after"},
		{"GET", "/api/v1/logs?since=yesterday", "", 400, "since"},
		{"POST", "/api/v1/indicators/mark-safe", `{"values":["` + hash("ns", 1) + `"]}`, 400, "no reason"},
		{"POST", "/api/v1/indicators/mark-safe", `{"values":[]}`, 400, "no values"},
		{"POST", "/api/v1/indicators/mark-safe", `{"value":"x"}`, 400, "unknown field"},
		{"POST", "/api/v1/indicators/mark-safe", `{"values":[""],"reason":"x"}`, 400, "no values given"},
		{"POST", "/api/v1/indicators/unmark-safe", `{"values":[" "]}`, 400, "no values given"},
		{"POST", "/api/v1/indicators/delete", `{"values":[""],"reason":"x"}`, 400, "no values given"},
		{"POST", "/api/v1/indicators/tag", `{"values":["` + hash("ns", 1) + `"]}`, 400, "no tags"},
		{"POST", "/api/v1/indicators", `{"indicators":[{"value":"not an ioc"}]}`, 400, "not an indicator"},
		{"POST", "/api/v1/indicators", `{"indicators":[{"value":"x.example","severity":"loud"}]}`, 400, "severity"},
		{"POST", "/api/v1/indicators", `{"indicators":[{"value":"x.example","type":"blob"}]}`, 400, "type"},
		{"GET", "/api/v1/nothing", "", 404, "no API"},
	} {
		code, body := w.do(t, c.method, c.path, c.body)
		assert.Equal(t, c.code, code, "%s %s: %s", c.method, c.path, body)
		assert.Contains(t, body, c.want, "%s %s", c.method, c.path)
		assert.Contains(t, body, `{"error":`)
	}
}

func TestActionsThroughTheAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	fromNS, fromMC := hash("ns", 1), hash("mc", 1)
	code, body := w.do(t, "POST", "/api/v1/indicators/mark-safe", `{"values":["`+fromNS+`","`+fromMC+`"],"reason":"false positive"}`)
	require.Equal(t, http.StatusOK, code, body)
	a := decode[console.Action](t, body)
	assert.Equal(t, "mark-safe", a.Action)
	assert.Len(t, a.Shares, 2, "applied at once")
	assert.NotContains(t, w.mc.Contents(blockTarget.ID), fromNS)
	assert.NotContains(t, w.ns.Contents(listTarget.ID), fromMC)
	_, body = w.do(t, "GET", "/api/v1/marks", "")
	ms := decode[[]console.Mark](t, body)
	require.Len(t, ms, 2)
	assert.Equal(t, "safe", ms[0].Kind)
	assert.Equal(t, "false positive", ms[0].Reason)

	code, body = w.do(t, "POST", "/api/v1/indicators/unmark-safe", `{"values":["`+fromNS+`"]}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, w.mc.Contents(blockTarget.ID), fromNS)

	code, body = w.do(t, "POST", "/api/v1/indicators/tag", `{"values":["`+fromNS+`"],"tags":["reviewed"]}`)
	require.Equal(t, http.StatusOK, code, body)
	_, body = w.do(t, "GET", "/api/v1/indicators?q="+url.QueryEscape("tags has reviewed"), "")
	assert.Equal(t, 1, decode[console.IndicatorPage](t, body).Total)
	code, body = w.do(t, "POST", "/api/v1/indicators/untag", `{"values":["`+fromNS+`"],"tags":["reviewed"]}`)
	require.Equal(t, http.StatusOK, code, body)

	code, body = w.do(t, "POST", "/api/v1/indicators", `{"indicators":[{"value":"evil.example","severity":"high","tags":["manual"]}]}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, []string{"evil.example"}, decode[console.Action](t, body).Values)
	_, page := w.do(t, "GET", "/", "")
	assert.Contains(t, page, "<b>reason</b> false positive", "the audit log on the page shows why a value was marked safe")
	assert.Contains(t, page, "added by hand", "the manual source's plugin row")
	assert.NotContains(t, page, `data-name="manual"`, "no Sync now or Validate for indicators added by hand")
	assert.Contains(t, page, `data-act="sync" data-name="netskope"`)

	code, body = w.do(t, "POST", "/api/v1/indicators/delete", `{"values":["`+hash("ns", 2)+`"],"reason":"cleanup"}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.NotContains(t, w.mc.Contents(blockTarget.ID), hash("ns", 2))
	_, body = w.do(t, "GET", "/api/v1/indicators/"+hash("ns", 2), "")
	assert.False(t, decode[console.Detail](t, body).Found)
}

func TestSecurity(t *testing.T) {
	t.Parallel()
	open := newWorld(t, console.Options{})
	// no token: loopback names only (DNS rebinding)
	code, body := open.do(t, "GET", "/api/v1/sharing", "", "Host", "evil.example")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, _ = open.do(t, "GET", "/api/v1/sharing", "", "Host", "localhost:8080")
	assert.Equal(t, http.StatusOK, code)
	// cross-origin state changes are refused, reads are not
	code, body = open.do(t, "POST", "/api/v1/indicators/mark-safe", `{"values":["`+hash("ns", 1)+`"],"reason":"x"}`, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, body = open.do(t, "POST", "/api/v1/plugins/netskope/sync", "", "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, _ = open.do(t, "POST", "/api/v1/sharing/ns-to-mc/test", "", "Origin", open.srv.URL)
	assert.Equal(t, http.StatusOK, code, "same origin")
	marks, err := open.eng.Marks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, marks)

	w := newWorld(t, console.Options{Token: "s3cret-token"})
	code, body = w.do(t, "GET", "/api/v1/sharing", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.NotContains(t, body, "s3cret")
	code, _ = w.do(t, "GET", "/api/v1/sharing", "", "Authorization", "Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = w.do(t, "GET", "/api/v1/sharing", "", "Authorization", "bearer s3cret-token")
	assert.Equal(t, http.StatusOK, code, "the scheme is case-insensitive")
	code, _ = w.do(t, "GET", "/api/v1/sharing", "", "Authorization", "Bearer ")
	assert.Equal(t, http.StatusUnauthorized, code)
	for _, path := range []string{"/static/", "/static/index.html"} {
		code, body := w.do(t, "GET", path, "")
		assert.Equal(t, http.StatusNotFound, code, "%s: the page's template is not served without the token", path)
		assert.NotContains(t, body, "{{")
	}
	code, _ = w.do(t, "GET", "/static/app.css", "")
	assert.Equal(t, http.StatusOK, code, "the style sheet needs no token (the login form uses it)")
	code, _ = w.do(t, "GET", "/metrics", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = w.do(t, "GET", "/api/v1/sharing", "", "Authorization", "Bearer s3cret-token", "Host", "cte.example")
	assert.Equal(t, http.StatusOK, code, "any host name with the token")
	code, _ = w.do(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, code, "health needs no token")

	// the page sends a browser to the login form; the form sets a cookie
	cl := w.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Get(w.srv.URL + "/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/login", res.Header.Get("Location"))
	res, err = cl.PostForm(w.srv.URL+"/login", url.Values{"token": {"wrong"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, err = cl.PostForm(w.srv.URL+"/login", url.Values{"token": {"s3cret-token"}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		ck = c
	}
	require.NotNil(t, ck)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	code, _ = w.do(t, "GET", "/", "", "Cookie", ck.Name+"="+ck.Value)
	assert.Equal(t, http.StatusOK, code)

	assert.True(t, console.IsLoopback("127.0.0.1:0"))
	assert.True(t, console.IsLoopback("[::1]:8080"))
	assert.True(t, console.IsLoopback("localhost:80"))
	assert.False(t, console.IsLoopback(":8080"), "all interfaces")
	assert.False(t, console.IsLoopback("0.0.0.0:8080"))
	assert.False(t, console.IsLoopback("10.0.0.1:8080"))
}

func TestPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	code, body := w.do(t, "GET", "/", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"mc-to-ns", "ns-to-mc", `data-act="test"`, `data-act="sync"`, hash("ns", 1)[:12], "Audit log", `src="/static/app.js"`} {
		assert.Contains(t, body, want)
	}
	assert.Contains(t, body, "every 10m, ages after 90d", "durations for people")
	assert.NotContains(t, body, "2160h", "not Go's duration strings")
	assert.NotContains(t, body, "http://", "nothing from the internet")
	assert.NotContains(t, body, "https://")

	code, body = w.do(t, "GET", "/?q="+url.QueryEscape("value == nothing.example"), "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `class="empty"`)
	assert.Contains(t, body, "No indicators match")
	code, body = w.do(t, "GET", "/?q="+url.QueryEscape("severity >= bogus"), "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Could not list the indicators: the filter does not parse: column 13:")
	assert.Contains(t, body, "<pre class=\"caret\">severity &gt;= bogus\n            ^</pre>", "a caret under the column")
	code, body = w.do(t, "GET", "/?v="+hash("ns", 1), "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Sharing decisions")

	code, body = w.do(t, "GET", "/static/app.js", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "/api/v1/")

	// every table's error state: a store that fails
	require.NoError(t, w.store.Close())
	code, body = w.do(t, "GET", "/", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"Could not read the plugins", "Could not read the sharing configurations", "Could not list the indicators", "Could not read the audit log"} {
		assert.Contains(t, body, want)
	}
	for _, path := range []string{"/api/v1/plugins", "/api/v1/sharing", "/api/v1/indicators?sort=lastSeen&q=type+%3D%3D+md5", "/api/v1/logs", "/api/v1/marks", "/api/v1/indicators/x.example"} {
		code, body := w.do(t, "GET", path, "")
		assert.Equal(t, http.StatusInternalServerError, code, path)
		assert.Contains(t, body, `{"error":`, path)
	}
	code, body = w.do(t, "GET", "/metrics", "")
	assert.Equal(t, http.StatusInternalServerError, code, "a stored count that cannot be read is a scrape error")
	assert.Contains(t, body, "cte_stored_indicators")
}

func TestWarm(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	require.NoError(t, w.con.Warm(t.Context()))
	require.NoError(t, w.store.Close())
	assert.Error(t, w.con.Warm(t.Context()), "a store that fails")
}

func TestPageEmpty(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	t.Cleanup(func() { _ = s.Close() })
	eng, err := sharing.New(s)
	require.NoError(t, err)
	_, b := serve(t, eng, console.Options{}).do(t, "GET", "/", "")
	for _, want := range []string{"No plugins configured", "No sharing configurations", "No indicators match", "No audit entries yet"} {
		assert.Contains(t, b, want)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	rep, err := w.eng.SyncSource(t.Context(), "netskope")
	w.con.ObserveSync(rep, err, time.Unix(2_000_000_000, 0))
	_, err = w.eng.MarkSafe(t.Context(), []string{hash("ns", 0)}, "fp")
	require.NoError(t, err)
	code, body := w.do(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`cte_pulls_total{result="ok",source="netskope"} 1`,
		`cte_next_sync_timestamp_seconds{source="netskope"} 2e+09`,
		`cte_stored_indicators{state="active"} 6`,
		`cte_stored_indicators{state="marked"} 1`,
		`cte_sync_duration_seconds_count{source="netskope"} 1`,
		"go_goroutines",
	} {
		assert.Contains(t, body, want)
	}
	// a share the console runs counts too
	_, _ = w.do(t, "POST", "/api/v1/sharing/ns-to-mc/replay", "")
	_, body = w.do(t, "GET", "/metrics", "")
	assert.Contains(t, body, `cte_pushed_indicators_total{config="ns-to-mc"} 2`)
	assert.Contains(t, body, `cte_share_outcomes_total{config="ns-to-mc",outcome="applied"} 2`)
}

// A product that asks to wait shows in cte_rate_limit_waits_total and in the
// rejections by reason: the console matches the engine's reason text, so a
// change of that text must fail here, not silently stop the metric.
func TestMetricsRateLimitWaits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	_, body := w.do(t, "GET", "/metrics", "")
	for _, want := range []string{
		`cte_rate_limit_waits_total{config="ns-to-mc"} 0`,
		`cte_retries_total{config="mc-to-ns"} 0`,
		`cte_pushed_indicators_total{config="ns-to-mc"} 0`,
	} {
		assert.Contains(t, body, want, "every configuration's counters exist from the start")
	}
	w.mc.FailNextPush(&cte.RateLimitError{Wait: time.Hour, Reason: "HTTP 429"})
	code, body := w.do(t, "POST", "/api/v1/sharing/ns-to-mc/replay", "")
	require.Equal(t, http.StatusOK, code, body)
	// the next share, within the wait, holds what it would send
	code, body = w.do(t, "POST", "/api/v1/sharing/ns-to-mc/replay", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 1, decode[console.Share](t, body).Reasons["held: the product asked to wait"], body)
	_, body = w.do(t, "GET", "/metrics", "")
	assert.Contains(t, body, `cte_rate_limit_waits_total{config="ns-to-mc"} 1`)
	assert.Contains(t, body, `cte_rejections_total{config="ns-to-mc",reason="held"} 1`)
}

// GET /api/v1/logs?after=SEQ gives the entries that follow SEQ, not the
// newest ones: a page polling after a burst of entries misses none.
func TestLogsAfterMissesNone(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	for i := range 6 {
		_, err := w.eng.Tag(t.Context(), []string{hash("ns", 0)}, []string{fmt.Sprintf("t%d", i)})
		require.NoError(t, err)
	}
	_, body := w.do(t, "GET", "/api/v1/logs?limit=500", "")
	all := decode[[]console.LogEntry](t, body)
	require.Greater(t, len(all), 6)
	seqs := func(es []console.LogEntry) []uint64 {
		out := make([]uint64, 0, len(es))
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	from := all[0].Seq
	_, body = w.do(t, "GET", fmt.Sprintf("/api/v1/logs?after=%d&limit=2", from), "")
	assert.Equal(t, seqs(all[1:3]), seqs(decode[[]console.LogEntry](t, body)), "the two entries after %d", from)
	_, body = w.do(t, "GET", fmt.Sprintf("/api/v1/logs?after=%d&limit=2", all[len(all)-2].Seq), "")
	assert.Equal(t, seqs(all[len(all)-1:]), seqs(decode[[]console.LogEntry](t, body)), "the last one")
	_, body = w.do(t, "GET", fmt.Sprintf("/api/v1/logs?after=%d", all[len(all)-1].Seq), "")
	assert.Empty(t, decode[[]console.LogEntry](t, body), "nothing newer")
}

// failingViews is a store whose reads fail once armed: an action's Update
// is stored, the read after it (the clean-up of deleted values) fails.
type failingViews struct {
	sharing.Store
	armed atomic.Bool
}

func (s *failingViews) View(ctx context.Context, fn func(sharing.Tx) error) error {
	if s.armed.Load() {
		return errors.New("read timed out")
	}
	return s.Store.View(ctx, fn)
}

// TestActionStoredThenFailedIs200: a mark-safe is stored, then the engine's
// read after it fails (no configuration held the value, so no share ran):
// the answer is 200 with the values and the error, as for a share that
// failed, not a 500 that says nothing was done. An action that stored
// nothing is still a problem answer.
func TestActionStoredThenFailedIs200(t *testing.T) {
	t.Parallel()
	fs := &failingViews{Store: memstore.New()}
	eng, err := sharing.New(fs)
	require.NoError(t, err)
	w := serve(t, eng, console.Options{})
	fs.armed.Store(true)
	code, body := w.do(t, "POST", "/api/v1/indicators/mark-safe", `{"values":["evil.example"],"reason":"fp"}`)
	fs.armed.Store(false)
	marks, err := eng.Marks(t.Context())
	require.NoError(t, err)
	require.Len(t, marks, 1, "the mark is stored")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "evil.example")
	assert.Contains(t, body, "read timed out")

	code, body = w.do(t, "POST", "/api/v1/indicators", `{"indicators":[{"value":"good.example"},{"value":"not an indicator"}]}`)
	assert.Equal(t, http.StatusBadRequest, code, body)
}

// TestPreviousGoesBackAPage: from the second page, with no limit in the URL
// (the default page size), "previous" goes back a page, to the first row,
// not one row.
func TestPreviousGoesBackAPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	var in []sharing.NewIndicator
	for i := range 120 {
		in = append(in, sharing.NewIndicator{Value: fmt.Sprintf("h%03d.example", i)})
	}
	_, err := w.eng.AddIndicators(t.Context(), in)
	require.NoError(t, err)
	_, first := w.do(t, "GET", "/", "")
	next := regexp.MustCompile(`<a href="([^"]+)">next →</a>`).FindStringSubmatch(first)
	require.NotNil(t, next, first)
	_, second := w.do(t, "GET", strings.ReplaceAll(next[1], "&amp;", "&"), "")
	prev := regexp.MustCompile(`<a href="([^"]+)">← previous</a>`).FindStringSubmatch(second)
	require.NotNil(t, prev, second)
	u, err := url.Parse(strings.ReplaceAll(prev[1], "&amp;", "&"))
	require.NoError(t, err)
	assert.Contains(t, []string{"", "0"}, u.Query().Get("offset"), prev[1])
}

// TestRejectedStandsOnce: one value refused for good, then three syncs: the
// product was asked once, and the metrics say one rejection, not one a sync
// (cte_share_outcomes_total counted what stands rejected again at every
// share, a skipped one included, so rate() showed rejections that were not
// happening): what stands refused is the gauge cte_share_standing.
func TestRejectedStandsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	bad := hash("bad", 1)
	now := time.Now()
	w.ns.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: bad, Severity: ioc.SeverityHigh, LastSeen: now, FirstSeen: now})
	w.mc.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
		if ind.Value == bad {
			return &cte.Rejected{Reason: "policy", Code: "policy"}
		}
		return nil
	})
	for range 3 {
		rep, err := w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		w.con.ObserveSync(rep, err, time.Now().Add(time.Hour))
	}
	sent := 0
	for _, c := range w.mc.Pushes() {
		for _, ind := range c.Indicators {
			if ind.Value == bad {
				sent++
			}
		}
	}
	require.Equal(t, 1, sent, "the product was asked once")
	_, body := w.do(t, "GET", "/metrics", "")
	metric := func(series string) string {
		m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)`).FindStringSubmatch(body)
		require.NotNil(t, m, "%s in\n%s", series, body)
		return m[1]
	}
	assert.Equal(t, "1", metric(`cte_rejections_total{config="ns-to-mc",reason="policy"}`))
	assert.Equal(t, "1", metric(`cte_share_standing{config="ns-to-mc",state="rejected"}`))
	assert.NotContains(t, body, `outcome="rejected"`)
}

// TestInputAStoreRefusesIs400: a value longer than a store keeps is bad
// input, answered 400, not a server failure.
func TestInputAStoreRefusesIs400(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	code, body := w.do(t, "POST", "/api/v1/indicators", `{"indicators":[{"value":"https://c.example/`+strings.Repeat("a", 20000)+`"}]}`)
	assert.Equal(t, http.StatusBadRequest, code, "%.200s", body)
	code, body = w.do(t, "POST", "/api/v1/indicators", `{"indicators":[{"value":"a.example","comments":"x\u0000y"}]}`)
	assert.Equal(t, http.StatusBadRequest, code, "%.200s", body)
}

// TestSyncNowOfAPushOnlyPlugin: a "sync now" of a plugin that only receives
// indicators is bad input (400), with what to do, and counts no failed pull
// in the metrics; it was answered 200 and counted as a pull that failed.
func TestSyncNowOfAPushOnlyPlugin(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	eng, err := sharing.New(st)
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("sink", plugintest.NewFake(blockTarget), sharing.SourceSettings{PushOnly: true}))
	w := serve(t, eng, console.Options{})
	code, body := w.do(t, "POST", "/api/v1/plugins/sink/sync", "")
	assert.Equal(t, http.StatusBadRequest, code, body)
	assert.Contains(t, body, "only receives indicators")
	_, metrics := w.do(t, "GET", "/metrics", "")
	assert.NotContains(t, metrics, `cte_pulls_total{result="error",source="sink"}`)
}

// TestLoginTokenWithAnyCharacter: a token holding characters a cookie keeps
// none of ('"', ';', '\', non-ASCII) signs in through the form and its
// cookie works; net/http dropped them from the cookie, which then never
// matched, and the form sent the browser back to itself.
func TestLoginTokenWithAnyCharacter(t *testing.T) {
	t.Parallel()
	const tok = `s3"cr;et\tokén`
	w := newWorld(t, console.Options{Token: tok})
	cl := w.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.PostForm(w.srv.URL+"/login", url.Values{"token": {tok}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	cks := res.Cookies()
	require.Len(t, cks, 1)
	code, _ := w.do(t, "GET", "/", "", "Cookie", cks[0].Name+"="+cks[0].Value)
	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, cks[0].Value, "s3", "the token is not in the cookie as it is")
}
