package netskopetest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/netskope/netskopetest"
)

var t0 = time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newServer(t *testing.T, opts ...netskopetest.Option) (*netskopetest.Server, *clock) {
	t.Helper()
	c := &clock{t: t0}
	s := netskopetest.NewServer(t, append([]netskopetest.Option{netskopetest.WithClock(c.Now)}, opts...)...)
	return s, c
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

func send(t *testing.T, s *netskopetest.Server, method, path string, hdr http.Header, body []byte) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := s.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func v2(s *netskopetest.Server) http.Header {
	return http.Header{"Netskope-Api-Token": {s.V2Token()}}
}

func jsonHdr() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func sha(i int) string { return fmt.Sprintf("%064x", i) }
func md5(i int) string { return fmt.Sprintf("%032x", i) }

func pushHashes(t *testing.T, s *netskopetest.Server, name string, list ...string) resp {
	t.Helper()
	body := mustJSON(t, map[string]string{"name": name, "list": strings.Join(list, ","), "token": s.V1Token()})
	return send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList, jsonHdr(), body)
}

const (
	successBody   = `{"msg":"File Filter Profile updated successfully","status":"success"}`
	duplicateBody = `{"errors":["Duplicate request, no change in file hashes"],"status":"error"}`
	badTokenBody  = `{"errorCode":"Authorization Error","errors":["Invalid token"],"status":"error"}`
)

func TestV1Auth(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"), netskopetest.WithV1Token("v1-secret"))
	require.Equal(t, "v1-secret", s.V1Token())
	list := sha(1)

	t.Run("missing", func(t *testing.T) {
		r := send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList, jsonHdr(), mustJSON(t, map[string]string{"name": "L", "list": list}))
		assert.Equal(t, http.StatusForbidden, r.status)
		assert.JSONEq(t, badTokenBody, string(r.body))
	})
	t.Run("wrong", func(t *testing.T) {
		r := send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList, jsonHdr(), mustJSON(t, map[string]string{"name": "L", "list": list, "token": "nope"}))
		assert.Equal(t, http.StatusForbidden, r.status)
		assert.JSONEq(t, badTokenBody, string(r.body))
	})
	t.Run("form", func(t *testing.T) {
		form := url.Values{"token": {"v1-secret"}, "name": {"L"}, "list": {sha(2)}}
		r := send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList,
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
		assert.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, successBody, string(r.body))
	})
	t.Run("app_instances", func(t *testing.T) {
		r := send(t, s, http.MethodPost, netskopetest.PathAppInstances+"?op=list&limit=1",
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("token=v1-secret"))
		assert.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, `{"status":"success","data":[]}`, string(r.body))
		r = send(t, s, http.MethodPost, netskopetest.PathAppInstances, nil, nil)
		assert.Equal(t, http.StatusForbidden, r.status)
	})
}

func TestTokenInURLIsRecordedAndRedacted(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"))
	r := pushHashes(t, s, "L", sha(1))
	require.Equal(t, http.StatusOK, r.status)
	assert.False(t, s.TokenInURL(), "token only in the body")

	q := url.Values{"token": {s.V1Token()}, "name": {"L"}, "list": {sha(2)}}
	r = send(t, s, http.MethodGet, netskopetest.PathUpdateFileHashList+"?"+q.Encode(), nil, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	// A v2 token smuggled under another parameter name is caught too.
	send(t, s, http.MethodGet, netskopetest.PathURLList+"?x="+s.V2Token(), v2(s), nil)

	assert.True(t, s.TokenInURL())
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	assert.False(t, reqs[0].TokenInURL)
	assert.True(t, reqs[1].TokenInURL)
	assert.Equal(t, []string{"REDACTED"}, reqs[1].Query["token"])
	assert.Equal(t, []string{"L"}, reqs[1].Query["name"])
	assert.True(t, reqs[2].TokenInURL)
	assert.Equal(t, []string{"REDACTED"}, reqs[2].Query["x"])
	for _, r := range reqs {
		assert.NotContains(t, fmt.Sprint(r), s.V1Token())
		assert.NotContains(t, fmt.Sprint(r), s.V2Token())
		assert.Equal(t, t0, r.Time)
	}
	assert.Equal(t, http.StatusOK, reqs[0].Status)
	assert.Equal(t, "nsk-00000001", reqs[0].RequestID)
	assert.Equal(t, "nsk-00000002", reqs[1].RequestID)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, netskopetest.PathUpdateFileHashList, reqs[0].Path)

	s.ResetRequests()
	assert.Empty(t, s.Requests())
	assert.False(t, s.TokenInURL())
}

func TestUpdateFileHashListReplaces(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes", sha(0xf)))
	assert.Equal(t, []string{sha(0xf)}, s.FileHashList("CE_Malware_Hashes"))
	assert.Nil(t, s.FileHashList("other"))
	assert.Equal(t, []string{"CE_Malware_Hashes"}, s.FileHashListNames())

	r := pushHashes(t, s, "CE_Malware_Hashes", sha(1), sha(2), md5(3))
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, successBody, string(r.body))
	assert.Equal(t, []string{sha(1), sha(2), md5(3)}, s.FileHashList("CE_Malware_Hashes"))

	// Same set in another order and case: duplicate, nothing changes.
	r = pushHashes(t, s, "CE_Malware_Hashes", md5(3), strings.ToUpper(sha(2)), sha(1), sha(1))
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, duplicateBody, string(r.body))
	assert.Equal(t, []string{sha(1), sha(2), md5(3)}, s.FileHashList("CE_Malware_Hashes"))

	// A new list replaces, it does not append.
	r = pushHashes(t, s, "CE_Malware_Hashes", sha(4))
	assert.JSONEq(t, successBody, string(r.body))
	assert.Equal(t, []string{sha(4)}, s.FileHashList("CE_Malware_Hashes"))
	assert.Equal(t, 2, s.FileHashListUpdates("CE_Malware_Hashes"))
	assert.Equal(t, 0, s.FileHashListUpdates("other"))
}

func TestUpdateFileHashListMethods(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"))
	// GET with everything in the query (SOAR).
	q := url.Values{"token": {s.V1Token()}, "name": {"L"}, "list": {sha(1)}}
	r := send(t, s, http.MethodGet, netskopetest.PathUpdateFileHashList+"?"+q.Encode(), nil, nil)
	assert.JSONEq(t, successBody, string(r.body))
	// PUT with name and list in the query and the token in a JSON body (Rapid7).
	q = url.Values{"name": {"L"}, "list": {sha(2)}}
	r = send(t, s, http.MethodPut, netskopetest.PathUpdateFileHashList+"?"+q.Encode(), jsonHdr(), mustJSON(t, map[string]string{"token": s.V1Token()}))
	assert.JSONEq(t, successBody, string(r.body))
	assert.Equal(t, []string{sha(2)}, s.FileHashList("L"))
	// PATCH with a JSON body and no Content-Type.
	r = send(t, s, http.MethodPatch, netskopetest.PathUpdateFileHashList, nil,
		mustJSON(t, map[string]string{"token": s.V1Token(), "name": "L", "list": sha(3)}))
	assert.JSONEq(t, successBody, string(r.body))
	// Multipart form.
	var mp bytes.Buffer
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + s.V1Token() +
		"\r\n--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nL\r\n--B\r\nContent-Disposition: form-data; name=\"list\"\r\n\r\n" +
		sha(4) + "\r\n--B--\r\n")
	r = send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList, http.Header{"Content-Type": {"multipart/form-data; boundary=B"}}, mp.Bytes())
	assert.JSONEq(t, successBody, string(r.body))
	assert.Equal(t, []string{sha(4)}, s.FileHashList("L"))

	r = send(t, s, http.MethodDelete, netskopetest.PathUpdateFileHashList+"?"+q.Encode(), nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "error", r.json(t)["status"])
}

func TestUpdateFileHashListErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L", sha(1)), netskopetest.WithFileHashListTypes("S", "sha256"),
		netskopetest.WithV1RateLimit(0, time.Second))
	tok := s.V1Token()
	huge := strings.Repeat(sha(9)+",", netskopetest.MaxFileHashListBytes/65) + sha(9)
	require.Greater(t, len(huge), netskopetest.MaxFileHashListBytes)
	tests := []struct {
		name     string
		ct       string
		body     string
		status   int
		want     string // exact body when set
		contains string
	}{
		{name: "nothing", body: `{"token":"` + tok + `"}`, status: 200,
			want: `{"status":"error","errorCode":"General Error","errors":["name not passed","list not passed"]}`},
		{name: "no list", body: `{"token":"` + tok + `","name":"L"}`, status: 200,
			want: `{"status":"error","errorCode":"General Error","errors":["list not passed"]}`},
		{name: "empty list", body: `{"token":"` + tok + `","name":"L","list":""}`, status: 200, contains: "list not passed"},
		{name: "unknown list", body: `{"token":"` + tok + `","name":"l","list":"` + sha(1) + `"}`, status: 200, contains: `File hash list \"l\" does not exist`},
		{name: "bad hash", body: `{"token":"` + tok + `","name":"L","list":"` + sha(1) + `,xyz, ` + sha(2) + `"}`, status: 200, contains: `Invalid hash \"xyz\"`},
		{name: "md5 in sha256 list", body: `{"token":"` + tok + `","name":"S","list":"` + md5(1) + `"}`, status: 200, contains: "64 hex digits (SHA256)"},
		{name: "empty entry", body: `{"token":"` + tok + `","name":"L","list":"` + sha(1) + `,"}`, status: 200, contains: `Invalid hash \"\"`},
		{name: "over 8 MiB", body: `{"token":"` + tok + `","name":"L","list":"` + huge + `"}`, status: 200, contains: "maximum size of the list is 8MB"},
		{name: "bad json", ct: "application/json", body: `{"token":`, status: 200, contains: "not a JSON object"},
		{name: "list not a string", body: `{"token":"` + tok + `","name":"L","list":["` + sha(1) + `"]}`, status: 200, contains: "list must be a string"},
		{name: "content type", ct: "text/plain", body: "token=" + tok, status: 200, contains: "unsupported Content-Type"},
		{name: "body too large", ct: "application/json", body: strings.Repeat(" ", 9<<20+10), status: 413, contains: "request body exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := jsonHdr()
			if tc.ct != "" {
				hdr = http.Header{"Content-Type": {tc.ct}}
			}
			r := send(t, s, http.MethodPost, netskopetest.PathUpdateFileHashList, hdr, []byte(tc.body))
			assert.Equal(t, tc.status, r.status)
			if tc.want != "" {
				assert.JSONEq(t, tc.want, string(r.body))
			}
			assert.Contains(t, string(r.body), tc.contains)
			assert.Contains(t, string(r.body), `"status":"error"`)
			assert.Equal(t, []string{sha(1)}, s.FileHashList("L"), "a refused update changes nothing")
		})
	}

	t.Run("pending", func(t *testing.T) {
		require.True(t, s.SetFileHashListPending("L", true))
		assert.False(t, s.SetFileHashListPending("nope", true))
		r := pushHashes(t, s, "L", sha(5))
		assert.Equal(t, http.StatusConflict, r.status)
		assert.JSONEq(t, `{"status":"error","errorCode":"General Error","errors":["`+netskopetest.MsgPendingProfile+`"]}`, string(r.body))
		require.True(t, s.SetFileHashListPending("L", false))
		r = pushHashes(t, s, "L", sha(5))
		assert.JSONEq(t, successBody, string(r.body))
		require.True(t, s.SetFileHashListPending("L", true)) // keep the table's "changes nothing" check honest
		r = pushHashes(t, s, "L", sha(1))
		assert.Equal(t, http.StatusConflict, r.status)
		require.True(t, s.SetFileHashListPending("L", false))
		r = pushHashes(t, s, "L", sha(1))
		assert.JSONEq(t, successBody, string(r.body))
	})
}

func TestUpdateFileHashListTakesFull8MiB(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"))
	n := (netskopetest.MaxFileHashListBytes + 1) / 65
	list := make([]string, n)
	for i := range list {
		list[i] = sha(i)
	}
	require.LessOrEqual(t, len(strings.Join(list, ",")), netskopetest.MaxFileHashListBytes)
	r := pushHashes(t, s, "L", list...)
	assert.JSONEq(t, successBody, string(r.body))
	assert.Len(t, s.FileHashList("L"), n)
}

func TestV1RateLimit(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, netskopetest.WithFileHashList("L"))
	for i := range netskopetest.DefaultV1Limit {
		r := pushHashes(t, s, "L", sha(i))
		require.Equal(t, http.StatusOK, r.status, "request %d", i+1)
		c.Add(100 * time.Millisecond)
	}
	r := pushHashes(t, s, "L", sha(100))
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "3", r.header.Get("Retry-After"), "the first request leaves the window 2.6 s from now")
	assert.Equal(t, "error", r.json(t)["status"])
	assert.Equal(t, []string{sha(23)}, s.FileHashList("L"))

	c.Add(2600 * time.Millisecond) // the first request is now 5 s old
	r = pushHashes(t, s, "L", sha(100))
	assert.Equal(t, http.StatusOK, r.status)
	r = pushHashes(t, s, "L", sha(101))
	assert.Equal(t, http.StatusTooManyRequests, r.status, "the second request is still inside the window")
}

func TestV2Auth(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithV2Token("v2-secret"), netskopetest.WithV2Scopes(netskopetest.ScopeAlertsMalware))
	require.Equal(t, "v2-secret", s.V2Token())
	malware := netskopetest.PathDataExportAlerts + "malware?index=i&operation=tail"
	tests := []struct {
		name   string
		hdr    http.Header
		path   string
		status int
		msg    string
	}{
		{"missing", nil, malware, 401, "Unauthorized: missing Netskope-Api-Token header"},
		{"wrong", http.Header{"Netskope-Api-Token": {"v2-wrong"}}, malware, 401, "Unauthorized: invalid Netskope-Api-Token"},
		{"bearer is not enough", http.Header{"Authorization": {"Bearer v2-secret"}}, malware, 401, "Unauthorized: missing Netskope-Api-Token header"},
		{"out of scope", http.Header{"Netskope-Api-Token": {"v2-secret"}}, netskopetest.PathURLList, 403, "Forbidden: the API token has no privilege for /api/v2/policy/urllist"},
		{"other alert type", http.Header{"Netskope-Api-Token": {"v2-secret"}}, netskopetest.PathDataExportAlerts + "malsite?index=i&operation=tail", 403, "Forbidden: the API token has no privilege for /api/v2/events/dataexport/alerts/malsite"},
		{"in scope, any header case", http.Header{"NETSKOPE-API-TOKEN": {"v2-secret"}}, malware, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, http.MethodGet, tc.path, tc.hdr, nil)
			assert.Equal(t, tc.status, r.status)
			if tc.msg != "" {
				assert.JSONEq(t, mustJSONString(t, map[string]string{"message": tc.msg}), string(r.body))
			}
			for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
				assert.NotEmpty(t, r.header.Get(h), h)
			}
		})
	}

	t.Run("no scopes", func(t *testing.T) {
		s2, _ := newServer(t, netskopetest.WithV2Scopes())
		r := send(t, s2, http.MethodGet, malware, v2(s2), nil)
		assert.Equal(t, http.StatusForbidden, r.status)
	})
}

func mustJSONString(t *testing.T, v any) string { return string(mustJSON(t, v)) }

func TestV2RateLimit(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, netskopetest.WithV2RateLimit(2))
	path := netskopetest.PathDataExportAlerts + "malware?index=i&operation=tail"
	r := send(t, s, http.MethodGet, path, v2(s), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "2", r.header.Get("RateLimit-Limit"))
	assert.Equal(t, "1", r.header.Get("RateLimit-Remaining"))
	assert.Equal(t, "1", r.header.Get("RateLimit-Reset"))
	r = send(t, s, http.MethodGet, path, v2(s), nil)
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))

	r = send(t, s, http.MethodGet, path, v2(s), nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.JSONEq(t, `{"message":"API rate limit exceeded"}`, string(r.body))
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))

	// Budgets are per endpoint.
	r = send(t, s, http.MethodGet, netskopetest.PathURLList, v2(s), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "1", r.header.Get("RateLimit-Remaining"))

	c.Add(time.Second)
	r = send(t, s, http.MethodGet, path, v2(s), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "1", r.header.Get("RateLimit-Remaining"))
}

type page struct {
	OK           int              `json:"ok"`
	Result       []map[string]any `json:"result"`
	WaitTime     int              `json:"wait_time"`
	TimestampHWM int64            `json:"timestamp_hwm"`
}

func pull(t *testing.T, s *netskopetest.Server, kind, index, op string) page {
	t.Helper()
	r := send(t, s, http.MethodGet, netskopetest.PathDataExportAlerts+kind+"?index="+index+"&operation="+op, v2(s), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var p page
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&p))
	return p
}

func ids(p page) []string {
	out := make([]string, len(p.Result))
	for i, a := range p.Result {
		out[i] = a["_id"].(string)
	}
	return out
}

func alertIDs(as []netskopetest.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a["_id"].(string)
	}
	return out
}

func TestIteratorCursors(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, netskopetest.WithPageSize(10), netskopetest.WithAlerts(netskopetest.KindMalware, 25),
		netskopetest.WithWaitTime(3))
	all := s.Alerts(netskopetest.KindMalware)
	require.Len(t, all, 25)
	want := alertIDs(all)

	p := pull(t, s, "malware", "ce", "head")
	assert.Equal(t, 1, p.OK)
	assert.Equal(t, 3, p.WaitTime)
	assert.Equal(t, want[:10], ids(p))
	assert.Equal(t, all[9]["timestamp"], p.TimestampHWM, "more remain: hwm is the last alert's time")

	p = pull(t, s, "malware", "ce", "next")
	assert.Equal(t, want[10:20], ids(p))
	hwm := p.TimestampHWM

	p = pull(t, s, "malware", "ce", "resend")
	assert.Equal(t, want[10:20], ids(p), "resend re-delivers the last page")
	assert.Equal(t, hwm, p.TimestampHWM)
	p = pull(t, s, "malware", "ce", "resend")
	assert.Equal(t, want[10:20], ids(p), "resend does not advance")
	pos, ok := s.IteratorPosition("malware", "ce")
	assert.True(t, ok)
	assert.Equal(t, 20, pos)

	p = pull(t, s, "malware", "ce", "next")
	assert.Equal(t, want[20:], ids(p))
	assert.Equal(t, t0.Unix(), p.TimestampHWM, "drained: hwm is now")
	p = pull(t, s, "malware", "ce", "next")
	assert.Empty(t, p.Result)
	assert.NotNil(t, p.Result)

	// Another index has its own cursor.
	p = pull(t, s, "malware", "other", "head")
	assert.Equal(t, want[:10], ids(p))

	// New alerts arrive: the next "next" sees them, whatever their timestamp.
	c.Add(time.Minute)
	added := s.AddGeneratedAlerts(netskopetest.KindMalware, 2)
	s.AddAlerts(netskopetest.KindMalware, netskopetest.Alert{"timestamp": t0.Add(-240 * time.Hour).Unix(), "local_md5": md5(7)})
	p = pull(t, s, "malware", "ce", "next")
	require.Len(t, p.Result, 3)
	assert.Equal(t, alertIDs(added), ids(p)[:2])
	assert.Equal(t, md5(7), p.Result[2]["local_md5"])
	assert.Equal(t, "Malware", p.Result[2]["alert_type"], "alert_type filled in")
	assert.NotEmpty(t, p.Result[2]["_id"], "_id filled in")
	assert.Equal(t, c.Now().Unix(), p.TimestampHWM)
	for _, a := range added {
		assert.Equal(t, c.Now().Unix(), a["timestamp"])
	}

	// Epoch operation: the first alert received at or after that time.
	p = pull(t, s, "malware", "epoch", fmt.Sprint(all[12]["timestamp"]))
	assert.Equal(t, want[12:22], ids(p))
	p = pull(t, s, "malware", "epoch", "next")
	assert.Equal(t, append(want[22:], ids(pull(t, s, "malware", "x", fmt.Sprint(c.Now().Unix())))...), ids(p))
	p = pull(t, s, "malware", "future", fmt.Sprint(c.Now().Add(time.Minute).Unix()))
	assert.Empty(t, p.Result)

	// Tail skips what exists; a fresh index's "next" starts at the tail.
	p = pull(t, s, "malware", "tail", "tail")
	assert.Empty(t, p.Result)
	assert.Equal(t, c.Now().Unix(), p.TimestampHWM)
	p = pull(t, s, "malware", "fresh", "next")
	assert.Empty(t, p.Result)
	more := s.AddGeneratedAlerts(netskopetest.KindMalware, 1)
	assert.Equal(t, alertIDs(more), ids(pull(t, s, "malware", "tail", "next")))
	assert.Equal(t, alertIDs(more), ids(pull(t, s, "malware", "fresh", "next")))

	// Malsite has separate data and cursors.
	p = pull(t, s, "malsite", "ce", "head")
	assert.Len(t, p.Result, 10)
	assert.Equal(t, "malsite", p.Result[0]["alert_type"])
	// A type without data answers empty pages.
	assert.Empty(t, pull(t, s, "dlp", "ce", "head").Result)
}

func TestIteratorErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"no index", "malware?operation=head", 400, "index is required"},
		{"no operation", "malware?index=i", 400, "operation is required"},
		{"bad operation", "malware?index=i&operation=first", 400, `invalid operation \"first\"`},
		{"negative epoch", "malware?index=i&operation=-5", 400, "invalid operation"},
		{"resend before any page", "malware?index=new&operation=resend", 400, "no page to resend"},
		{"unknown type", "virus?index=i&operation=head", 404, `unknown alert type \"virus\"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, http.MethodGet, netskopetest.PathDataExportAlerts+tc.path, v2(s), nil)
			assert.Equal(t, tc.status, r.status)
			assert.Contains(t, string(r.body), tc.contains)
			assert.Contains(t, r.json(t), "message")
		})
	}
	r := send(t, s, http.MethodPost, netskopetest.PathDataExportAlerts+"malware?index=i&operation=head", v2(s), nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	_, ok := s.IteratorPosition("malware", "i")
	assert.False(t, ok, "refused calls create no cursor")
}

func TestIteratorGzip(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithAlerts(netskopetest.KindMalware, 50))
	hdr := v2(s)
	hdr.Set("Accept-Encoding", "gzip")
	r := send(t, s, http.MethodGet, netskopetest.PathDataExportAlerts+"malware?index=g&operation=head", hdr, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "gzip", r.header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	var p page
	require.NoError(t, json.Unmarshal(plain, &p))
	assert.Len(t, p.Result, 50)

	s2, _ := newServer(t, netskopetest.WithGzip(false))
	r = send(t, s2, http.MethodGet, netskopetest.PathDataExportAlerts+"malware?index=g&operation=head", hdr, nil)
	assert.Empty(t, r.header.Get("Content-Encoding"))
	assert.True(t, json.Valid(r.body))
}

func TestGeneratedAlerts(t *testing.T) {
	t.Parallel()
	opts := []netskopetest.Option{netskopetest.WithSeed(42), netskopetest.WithAlerts(netskopetest.KindMalware, 700),
		netskopetest.WithAlerts(netskopetest.KindMalsite, 300)}
	a, _ := newServer(t, opts...)
	b, _ := newServer(t, opts...)
	other, _ := newServer(t, netskopetest.WithSeed(43))
	mw := a.Alerts(netskopetest.KindMalware)
	assert.Equal(t, mw, b.Alerts(netskopetest.KindMalware), "same seed, same alerts")
	assert.Equal(t, a.Alerts(netskopetest.KindMalsite), b.Alerts(netskopetest.KindMalsite))
	assert.NotEqual(t, mw[:10], other.Alerts(netskopetest.KindMalware)[:10])
	assert.Equal(t, a.V1Token(), b.V1Token())
	assert.NotEqual(t, a.V1Token(), a.V2Token())
	assert.NotEqual(t, a.V1Token(), other.V1Token())

	str := func(al netskopetest.Alert, k string) (string, bool) {
		v, ok := al[k]
		if !ok {
			return "", false
		}
		return v.(string), true
	}
	counts := map[string]int{}
	var prev int64
	for _, al := range mw {
		ts := al["timestamp"].(int64)
		assert.GreaterOrEqual(t, ts, t0.Add(-netskopetest.DefaultAlertSpan).Unix())
		assert.LessOrEqual(t, ts, t0.Unix())
		assert.GreaterOrEqual(t, ts, prev, "seeded alerts are in time order")
		prev = ts
		assert.Equal(t, "Malware", al["alert_type"])
		assert.NotEmpty(t, al["object"])
		md, hasMD := str(al, "md5")
		lmd, hasLMD := str(al, "local_md5")
		sh, _ := str(al, "sha256")
		lsh, _ := str(al, "local_sha256")
		switch {
		case !hasMD && hasLMD && lmd != "":
			counts["local only"]++
		case md == netskopetest.EmptyMD5:
			counts["empty file"]++
		case md != "" && md == lmd && sh != "" && sh == lsh:
			counts["equal"]++
		case md != "" && lmd != "" && md != lmd:
			counts["different"]++
		case hasMD && md == "" && lmd == "" && sh == "" && lsh == "":
			counts["empty"]++
		case md == "" && sh != "" && sh == lsh:
			counts["sha256 only"]++
		case md != "" && md == lmd && sh == "":
			counts["md5 only"]++
		default:
			t.Errorf("unexpected hash shape: %v", al)
		}
		for _, h := range []string{md, lmd} {
			assert.True(t, h == "" || len(h) == 32, h)
		}
		for _, h := range []string{sh, lsh} {
			assert.True(t, h == "" || len(h) == 64, h)
		}
	}
	for _, k := range []string{"local only", "empty file", "equal", "different", "empty", "sha256 only", "md5 only"} {
		assert.Equal(t, 100, counts[k], k)
	}

	urls := map[string]int{}
	for _, al := range a.Alerts(netskopetest.KindMalsite) {
		u := al["url"].(string)
		switch {
		case u == "":
			urls["empty"]++
		case strings.HasPrefix(u, "https://"):
			urls["https"]++
		case strings.HasPrefix(u, "http://198.51.100."):
			urls["ip"]++
		case strings.HasPrefix(u, "http://"):
			urls["http"]++
		case strings.Contains(u, "/"):
			urls["no scheme"]++
		default:
			urls["host"]++
		}
		assert.NotEmpty(t, al["malsite_category"])
	}
	for _, k := range []string{"empty", "https", "ip", "http", "no scheme", "host"} {
		assert.Equal(t, 50, urls[k], k)
	}

	d, _ := newServer(t)
	assert.Len(t, d.Alerts(netskopetest.KindMalware), netskopetest.DefaultMalwareAlerts)
	assert.Len(t, d.Alerts(netskopetest.KindMalsite), netskopetest.DefaultMalsiteAlerts)
	assert.Nil(t, d.Alerts("dlp"))
}

func TestAlertsAreCopies(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithAlerts(netskopetest.KindMalsite, 1))
	a := s.Alerts(netskopetest.KindMalsite)[0]
	a["url"] = "changed"
	a["malsite_category"].([]string)[0] = "changed"
	b := s.Alerts(netskopetest.KindMalsite)[0]
	assert.NotEqual(t, "changed", b["url"])
	assert.NotEqual(t, "changed", b["malsite_category"].([]string)[0])
}

func urlListBody(t *testing.T, urls ...string) []byte {
	return mustJSON(t, map[string]any{"data": map[string]any{"urls": urls, "type": "exact"}})
}

func TestURLLists(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, netskopetest.WithURLList("Existing", "exact", "a.example.com"))
	hdr := v2(s)

	r := send(t, s, http.MethodGet, netskopetest.PathURLList+"?field=id,name", hdr, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `[{"id":1,"name":"Existing"}]`, string(r.body))
	r = send(t, s, http.MethodGet, netskopetest.PathURLList+"?field=id&field=pending", hdr, nil)
	assert.JSONEq(t, `[{"id":1,"pending":0}]`, string(r.body))

	// Create stages a new list.
	c.Add(time.Hour)
	r = send(t, s, http.MethodPost, netskopetest.PathURLList, hdr,
		mustJSON(t, map[string]any{"name": "CE_Malsites", "data": map[string]any{"urls": []string{"cedefaultpush.io"}, "type": "exact"}}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `[{"id":2,"name":"CE_Malsites","data":{"urls":["cedefaultpush.io"],"type":"exact","json_version":2},
		"modify_by":"Netskope REST API","modify_time":"2026-05-20 13:00:00","modify_type":"Created","pending":1}]`, string(r.body))
	l, ok := s.URLListByName("CE_Malsites")
	require.True(t, ok)
	assert.True(t, l.Pending)
	assert.Nil(t, l.Deployed, "never deployed")

	r = send(t, s, http.MethodGet, netskopetest.PathURLList+"?pending=1&field=name", hdr, nil)
	assert.JSONEq(t, `[{"name":"CE_Malsites"}]`, string(r.body))

	// Append unions, keeping order; replace sets exactly.
	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/2/append", hdr, urlListBody(t, "b.example.net", "cedefaultpush.io", "*.bad.org"))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, float64(1), r.json(t)["pending"])
	l, _ = s.URLList(2)
	assert.Equal(t, []string{"cedefaultpush.io", "b.example.net", "*.bad.org"}, l.URLs)
	assert.Equal(t, "Edited", l.ModifyType)

	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/1/replace", hdr, urlListBody(t, "192.0.2.0/24", "c.example.org:8443/path"))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	l, _ = s.URLList(1)
	assert.Equal(t, []string{"192.0.2.0/24", "c.example.org:8443/path"}, l.URLs)
	assert.Equal(t, []string{"a.example.com"}, l.Deployed, "staged, not deployed")
	assert.True(t, l.Pending)

	r = send(t, s, http.MethodGet, netskopetest.PathURLList+"/1", hdr, nil)
	assert.Equal(t, "Existing", r.json(t)["name"])

	// Deploy applies every staged change.
	assert.Equal(t, 0, s.Deploys())
	r = send(t, s, http.MethodPost, netskopetest.PathURLListDeploy, hdr, nil)
	require.Equal(t, http.StatusOK, r.status)
	var deployed []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &deployed))
	require.Len(t, deployed, 2)
	for _, d := range deployed {
		assert.Equal(t, float64(0), d["pending"])
	}
	assert.Equal(t, 1, s.Deploys())
	l, _ = s.URLList(1)
	assert.Equal(t, []string{"192.0.2.0/24", "c.example.org:8443/path"}, l.Deployed)
	assert.False(t, l.Pending)
	l, _ = s.URLList(2)
	assert.Equal(t, l.URLs, l.Deployed)

	// Delete stages; deploy removes.
	r = send(t, s, http.MethodDelete, netskopetest.PathURLList+"/1", hdr, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "Deleted", r.json(t)["modify_type"])
	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/1/append", hdr, urlListBody(t, "x.example.com"))
	assert.Equal(t, http.StatusBadRequest, r.status)
	send(t, s, http.MethodPost, netskopetest.PathURLListDeploy, hdr, nil)
	_, ok = s.URLList(1)
	assert.False(t, ok)
	assert.Len(t, s.URLLists(), 1)
}

func TestURLListValidation(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithURLList("L", "exact", "a.example.com"), netskopetest.WithURLList("R", "regex", `^a\.example\.com$`))
	hdr := v2(s)
	bad := []string{
		"has space.example.com", "bücher.example", "*.*.example.com", "a.*.example.com", "http://[2001:db8::1]/x", "2001:db8::1",
		"192.0.2.1/24", "user:pw@example.com", "example.com:0", "example.com:65536", "", "-bad.example.com", "300.1.2.3",
	}
	good := []string{"https://ok.example.com/path?q=1", "*.ok.example.org", "xn--bcher-kva.example", "192.0.2.0/24",
		"192.0.2.1-192.0.2.9", "198.51.100.7", "ok.example.com:443"}
	body := urlListBody(t, append(append([]string{}, good...), bad...)...)
	r := send(t, s, http.MethodPatch, netskopetest.PathURLList+"/1/append", hdr, body)
	require.Equal(t, http.StatusBadRequest, r.status)
	var got struct {
		StatusCode int         `json:"statusCode"`
		Message    [][2]string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(r.body, &got), "%s", r.body)
	assert.Equal(t, 400, got.StatusCode)
	var rejected []string
	for _, m := range got.Message {
		rejected = append(rejected, m[0])
		assert.NotEmpty(t, m[1], "reason for %q", m[0])
	}
	assert.Equal(t, bad, rejected)
	l, _ := s.URLList(1)
	assert.Equal(t, []string{"a.example.com"}, l.URLs, "a refused request changes nothing")
	assert.False(t, l.Pending)

	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/1/append", hdr, urlListBody(t, good...))
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// Regex lists compile each entry; look-around is refused.
	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/2/replace", hdr,
		mustJSON(t, map[string]any{"data": map[string]any{"urls": []string{`^b\.example\.com$`, `(?=x)`}, "type": "regex"}}))
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), `(?=x)`)

	other := []struct {
		name, method, path string
		body               string
		status             int
		contains           string
	}{
		{"no urls", http.MethodPatch, "/1/append", `{"data":{"urls":[],"type":"exact"}}`, 400, "data.urls is required"},
		{"no data", http.MethodPatch, "/1/replace", `{}`, 400, "data.urls is required"},
		{"bad json", http.MethodPatch, "/1/replace", `{`, 400, "not valid JSON"},
		{"bad type", http.MethodPatch, "/1/replace", `{"data":{"urls":["a.example.com"],"type":"Exact"}}`, 400, "use exact or regex"},
		{"type mismatch", http.MethodPatch, "/1/append", `{"data":{"urls":["a"],"type":"regex"}}`, 400, "does not match the list type"},
		{"unknown id", http.MethodPatch, "/99/append", `{"data":{"urls":["a.example.com"]}}`, 404, "URL list 99 not found"},
		{"unknown action", http.MethodPatch, "/1/remove", `{}`, 404, "unknown URL-list action"},
		{"get unknown", http.MethodGet, "/99", ``, 404, "not found"},
		{"bad id", http.MethodGet, "/abc", ``, 404, "no such endpoint"},
		{"create without name", http.MethodPost, "", `{"data":{"urls":["a.example.com"]}}`, 400, "name is required"},
		{"create duplicate", http.MethodPost, "", `{"name":"L","data":{"urls":["a.example.com"]}}`, 400, "already exists"},
		{"deploy by GET", http.MethodGet, "/deploy", ``, 405, "not allowed"},
		{"file upload", http.MethodPost, "/file", ``, 501, "does not implement"},
		{"put empty name", http.MethodPut, "/1", `{"name":"","data":{"urls":["a.example.com"]}}`, 400, "name must not be empty"},
		{"too large", http.MethodPatch, "/1/append", `{"data":{"urls":["` + strings.Repeat("a", netskopetest.MaxURLListBodyBytes) + `"]}}`, 413, "exceeds"},
	}
	for _, tc := range other {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			if tc.body != "" {
				b = []byte(tc.body)
			}
			r := send(t, s, tc.method, netskopetest.PathURLList+tc.path, hdr, b)
			assert.Equal(t, tc.status, r.status)
			assert.Contains(t, string(r.body), tc.contains)
		})
	}

	r = send(t, s, http.MethodPut, netskopetest.PathURLList+"/2", hdr,
		mustJSON(t, map[string]any{"name": "R2", "data": map[string]any{"urls": []string{"c.example.com"}, "type": "exact"}}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	l, _ = s.URLList(2)
	assert.Equal(t, "R2", l.Name)
	assert.Equal(t, "exact", l.Type)
}

func TestURLListPendingInUI(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithURLList("L", "exact", "a.example.com"))
	hdr := v2(s)
	require.True(t, s.EditURLListInUI(1, "ui.example.com"))
	assert.False(t, s.EditURLListInUI(9))
	l, _ := s.URLList(1)
	assert.Equal(t, netskopetest.ModifiedByUI, l.ModifyBy)

	for _, path := range []string{"/1/append", "/1/replace"} {
		r := send(t, s, http.MethodPatch, netskopetest.PathURLList+path, hdr, urlListBody(t, "b.example.com"))
		assert.Equal(t, http.StatusConflict, r.status)
		assert.JSONEq(t, `{"statusCode":409,"message":"`+netskopetest.MsgPendingProfile+`"}`, string(r.body))
	}
	r := send(t, s, http.MethodDelete, netskopetest.PathURLList+"/1", hdr, nil)
	assert.Equal(t, http.StatusConflict, r.status)

	// Deploy applies the other admin's change too, then the API may edit again.
	r = send(t, s, http.MethodPost, netskopetest.PathURLListDeploy, hdr, nil)
	require.Equal(t, http.StatusOK, r.status)
	l, _ = s.URLList(1)
	assert.Equal(t, []string{"ui.example.com"}, l.Deployed)
	r = send(t, s, http.MethodPatch, netskopetest.PathURLList+"/1/append", hdr, urlListBody(t, "b.example.com"))
	assert.Equal(t, http.StatusOK, r.status)
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"))
	s.RateLimit("", 2, 6500*time.Millisecond)
	assert.Equal(t, 2, s.PendingFaults())
	r := pushHashes(t, s, "L", sha(1))
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "7", r.header.Get("Retry-After"))
	assert.JSONEq(t, `{"status":"error","errorCode":"Too Many Requests","errors":["API rate limit exceeded"]}`, string(r.body))
	r = send(t, s, http.MethodGet, netskopetest.PathURLList, nil, nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status, "faults fire before authentication")
	assert.Equal(t, "nsk-00000002", r.header.Get("X-Request-Id"))
	assert.JSONEq(t, `{"message":"API rate limit exceeded"}`, string(r.body))
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))
	assert.Equal(t, "7", r.header.Get("RateLimit-Reset"))
	assert.Nil(t, s.FileHashList("L"), "the refused push did nothing")

	s.ServerError("/api/v2/", 1, 503)
	r = send(t, s, http.MethodGet, netskopetest.PathURLList, v2(s), nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.JSONEq(t, `{"message":"Service Unavailable"}`, string(r.body))
	assert.Equal(t, http.StatusOK, send(t, s, http.MethodGet, netskopetest.PathURLList, v2(s), nil).status)

	// Path-scoped fault with a custom body, e.g. an iterator error page or a failed deploy.
	s.FailStatus(netskopetest.PathURLListDeploy, 1, 400, `{"message":["deploy failed"]}`)
	assert.Equal(t, http.StatusOK, send(t, s, http.MethodGet, netskopetest.PathURLList, v2(s), nil).status, "other paths unaffected")
	r = send(t, s, http.MethodPost, netskopetest.PathURLListDeploy, v2(s), nil)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"message":["deploy failed"]}`, string(r.body))
	assert.Equal(t, 0, s.Deploys())
	assert.Equal(t, 0, s.PendingFaults())

	s.FailStatus("/api/v1/", 1, 500, "")
	r = pushHashes(t, s, "L", sha(1))
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, "error", r.json(t)["status"])

	var faults []string
	for _, req := range s.Requests() {
		faults = append(faults, req.Fault)
	}
	assert.Equal(t, []string{netskopetest.FaultRateLimit, netskopetest.FaultRateLimit, netskopetest.FaultServerError, "", "",
		netskopetest.FaultStatus, netskopetest.FaultStatus}, faults)

	assert.Panics(t, func() { s.ServerError("", 1, 404) })
	assert.Panics(t, func() { s.RateLimit("", 0, 0) })
	assert.Panics(t, func() { s.FailStatus("", 1, 42, "") })
	s.ServerError("", 1, 0)
	assert.Equal(t, http.StatusInternalServerError, send(t, s, http.MethodGet, "/x", nil, nil).status)
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"))
	s.ResetConnection(netskopetest.PathUpdateFileHashList, 1)
	body := mustJSON(t, map[string]string{"name": "L", "list": sha(1), "token": s.V1Token()})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+netskopetest.PathUpdateFileHashList, bytes.NewReader(body))
	require.NoError(t, err)
	_, err = s.Client().Do(req)
	require.Error(t, err)
	assert.Nil(t, s.FileHashList("L"), "a reset request is not handled")
	reqs := s.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, 0, reqs[0].Status)
	assert.Equal(t, netskopetest.FaultReset, reqs[0].Fault)
	assert.Empty(t, reqs[0].RequestID)
	assert.JSONEq(t, successBody, string(pushHashes(t, s, "L", sha(1)).body))
}

func TestFaultBreakThenResend(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithAlerts(netskopetest.KindMalware, 30), netskopetest.WithPageSize(20))
	s.BreakBody(netskopetest.PathDataExportAlerts+"malware", 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		s.URL+netskopetest.PathDataExportAlerts+"malware?index=b&operation=head", nil)
	require.NoError(t, err)
	req.Header = v2(s)
	res, err := s.Client().Do(req)
	require.NoError(t, err, "headers arrive")
	_, err = io.ReadAll(res.Body)
	res.Body.Close()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	// The cursor moved: resend delivers the lost page, next continues after it.
	want := alertIDs(s.Alerts(netskopetest.KindMalware))
	assert.Equal(t, want[:20], ids(pull(t, s, "malware", "b", "resend")))
	assert.Equal(t, want[20:], ids(pull(t, s, "malware", "b", "next")))
	reqs := s.Requests()
	assert.Equal(t, netskopetest.FaultBreak, reqs[0].Fault)
	assert.Equal(t, http.StatusOK, reqs[0].Status)
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	st := s.Stall(netskopetest.PathURLList, 1)
	done := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+netskopetest.PathURLList, nil)
		req.Header = v2(s)
		res, err := s.Client().Do(req)
		if err != nil {
			done <- resp{}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- resp{status: res.StatusCode, body: b}
	}()
	<-st.Arrived()
	// Other requests are not held.
	assert.Equal(t, 1, pull(t, s, "malware", "x", "tail").OK)
	select {
	case <-done:
		t.Fatal("stalled request answered before Release")
	default:
	}
	st.Release()
	st.Release() // idempotent
	r := <-done
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "[]", string(r.body))
}

func TestFaultSlowClientGivesUp(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	st := s.Stall("", 1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+netskopetest.PathURLList, nil)
		req.Header = v2(s)
		res, err := s.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-st.Arrived()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
}

func TestCloseReleasesStalls(t *testing.T) {
	t.Parallel()
	s := netskopetest.New()
	st := s.Stall("", 1)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+netskopetest.PathURLList, nil)
		res, err := s.Client().Do(req)
		if err == nil {
			res.Body.Close()
			err = errors.New("answered")
		}
		errc <- err
	}()
	<-st.Arrived()
	s.Close()
	s.Close()
	assert.Error(t, <-errc)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, netskopetest.WithFileHashList("L"), netskopetest.WithV1RateLimit(0, time.Second),
		netskopetest.WithURLList("U", "exact", "a.example.com"), netskopetest.WithPageSize(7))
	appendPath := netskopetest.PathURLList + "/1/append"
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pushHashes(t, s, "L", sha(i))
			send(t, s, http.MethodGet, netskopetest.PathDataExportAlerts+"malware?operation=head&index=i"+fmt.Sprint(i), v2(s), nil)
			s.AddGeneratedAlerts(netskopetest.KindMalware, 1)
			send(t, s, http.MethodPatch, appendPath, v2(s), urlListBody(t, fmt.Sprintf("h%d.example.com", i)))
			s.ServerError("", 1, 500)
			_ = s.Requests()
			_, _ = s.URLList(1)
		})
	}
	wg.Wait()
	applied := 0
	for _, r := range s.Requests() {
		if r.Path == appendPath && r.Status == http.StatusOK {
			applied++
		}
	}
	l, _ := s.URLList(1)
	assert.Len(t, l.URLs, 1+applied)
	assert.Len(t, s.Alerts(netskopetest.KindMalware), netskopetest.DefaultMalwareAlerts+8)
	assert.Len(t, s.Requests(), 8*3)
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	r := send(t, s, http.MethodGet, "/api/v2/nothing", v2(s), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	r = send(t, s, http.MethodGet, "/api/v1/nothing", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "error", r.json(t)["status"])
}

func TestOptionPanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"clock":      func() { netskopetest.WithClock(nil) },
		"v1 token":   func() { netskopetest.WithV1Token("") },
		"v2 token":   func() { netskopetest.WithV2Token("") },
		"hash list":  func() { netskopetest.WithFileHashList("") },
		"hash types": func() { netskopetest.WithFileHashListTypes("L", "sha1") },
		"no types":   func() { netskopetest.WithFileHashListTypes("L") },
		"url type":   func() { netskopetest.WithURLList("U", "Exact") },
		"alert kind": func() { netskopetest.WithAlerts("dlp", 1) },
		"alert n":    func() { netskopetest.WithAlerts(netskopetest.KindMalware, -1) },
		"span":       func() { netskopetest.WithAlertSpan(0) },
		"page":       func() { netskopetest.WithPageSize(10001) },
		"wait":       func() { netskopetest.WithWaitTime(-1) },
		"v1 limit":   func() { netskopetest.WithV1RateLimit(1, 0) },
		"v2 limit":   func() { netskopetest.WithV2RateLimit(0) },
	} {
		assert.Panics(t, f, name)
	}
	s, _ := newServer(t)
	assert.Panics(t, func() { s.AddAlerts("virus") })
	assert.Panics(t, func() { s.AddGeneratedAlerts("dlp", 1) })
	assert.Panics(t, func() { s.AddAlerts("dlp", netskopetest.Alert{"bad": make(chan int)}) })
}

func BenchmarkUpdateFileHashList8MiB(b *testing.B) {
	s := netskopetest.New(netskopetest.WithFileHashList("L"), netskopetest.WithV1RateLimit(0, time.Second))
	defer s.Close()
	n := (netskopetest.MaxFileHashListBytes + 1) / 65
	lists := [2][]string{make([]string, n), make([]string, n)}
	for i := range n {
		lists[0][i], lists[1][i] = sha(i), sha(i+n)
	}
	var bodies [2][]byte
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]string{"name": "L", "list": strings.Join(lists[i], ","), "token": s.V1Token()})
	}
	b.SetBytes(int64(len(bodies[0])))
	i := 0
	for b.Loop() {
		res, err := s.Client().Post(s.URL+netskopetest.PathUpdateFileHashList, "application/json", bytes.NewReader(bodies[i%2]))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		i++
	}
}

func BenchmarkNew10kAlerts(b *testing.B) {
	for b.Loop() {
		s := netskopetest.New(netskopetest.WithAlerts(netskopetest.KindMalware, 10000), netskopetest.WithAlerts(netskopetest.KindMalsite, 0))
		s.Close()
	}
}

func BenchmarkIteratorPage10k(b *testing.B) {
	s := netskopetest.New(netskopetest.WithAlerts(netskopetest.KindMalware, 10000), netskopetest.WithV2RateLimit(1<<30))
	defer s.Close()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+netskopetest.PathDataExportAlerts+"malware?index=b&operation=head", nil)
		req.Header.Set("Netskope-Api-Token", s.V2Token())
		req.Header.Set("Accept-Encoding", "identity")
		res, err := s.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		b.SetBytes(n)
	}
}
