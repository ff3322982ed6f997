package mimecasttest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

type clickJSON struct {
	URL        string `json:"url"`
	ScanResult string `json:"scanResult"`
	Route      string `json:"route"`
	Date       string `json:"date"`
}

func logsPage(t *testing.T, e envelope) []clickJSON {
	t.Helper()
	require.Len(t, e.Data, 1)
	var d struct {
		ClickLogs []clickJSON `json:"clickLogs"`
	}
	require.NoError(t, json.Unmarshal(e.Data[0], &d))
	require.NotNil(t, d.ClickLogs, "clickLogs is [] when empty, not null")
	return d.ClickLogs
}

func logsBody(pageSize int, pageToken string, item map[string]any) map[string]any {
	return map[string]any{"meta": map[string]any{"pagination": map[string]any{"pageSize": pageSize, "pageToken": pageToken}}, "data": []any{item}}
}

func TestGetLogsPaging(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithClickLogs(95))
	tok := token(t, s)
	all := s.ClickLogs()
	var want []mimecasttest.ClickLog
	for _, c := range all {
		if c.ScanResult == "malicious" {
			want = append(want, c)
		}
	}
	require.NotEmpty(t, want)
	require.Less(t, len(want), len(all), "some clean clicks exist")

	item := map[string]any{"from": t0.Add(-7 * 24 * time.Hour).Format("2006-01-02T15:04:05+00:00"), "scanResult": "malicious", "oldestFirst": true}
	var got []clickJSON
	next, pages := "", 0
	for {
		r := bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(10, next, item))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		e := r.env(t)
		require.NotNil(t, e.Meta.Pagination)
		assert.Equal(t, len(want), e.Meta.Pagination.TotalCount)
		if pages == 0 {
			assert.Empty(t, e.Meta.Pagination.Previous, "no previous on the first page")
		} else {
			assert.NotEmpty(t, e.Meta.Pagination.Previous)
		}
		got = append(got, logsPage(t, e)...)
		pages++
		next = e.Meta.Pagination.Next
		if next == "" {
			break
		}
		require.Less(t, pages, 20)
	}
	assert.Equal(t, (len(want)+9)/10, pages)
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].URL, got[i].URL)
		assert.Equal(t, "malicious", got[i].ScanResult)
		assert.Equal(t, want[i].Date.UTC().Format("2006-01-02T15:04:05+0000"), got[i].Date)
	}

	// Newest first by default; scanResult all includes clean clicks.
	r := bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(500, "", map[string]any{"from": "2026-04-01T00:00:00+0000"}))
	page := logsPage(t, r.env(t))
	require.Len(t, page, len(all))
	assert.Equal(t, all[len(all)-1].URL, page[0].URL)
	assert.Empty(t, r.env(t).Meta.Pagination.Next)

	// route filter, and a window with nothing in it.
	r = bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(500, "", map[string]any{"from": "2026-04-01T00:00:00Z", "route": "internal"}))
	for _, c := range logsPage(t, r.env(t)) {
		assert.Equal(t, "internal", c.Route)
	}
	r = bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(0, "", map[string]any{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}))
	assert.Empty(t, logsPage(t, r.env(t)))
	assert.Equal(t, 0, r.env(t).Meta.Pagination.TotalCount)

	// The default from is the start of the fake's day.
	s.AddClickLogs(mimecasttest.ClickLog{URL: "https://today.example/", ScanResult: "malicious", Route: "inbound", Date: t0.Add(-time.Hour)})
	r = bearerPost(t, s, tok, mimecasttest.PathGetLogs, `{"data":[]}`)
	page = logsPage(t, r.env(t))
	require.NotEmpty(t, page)
	assert.Equal(t, "https://today.example/", page[0].URL)
	for _, c := range page {
		d, err := time.Parse("2006-01-02T15:04:05-0700", c.Date)
		require.NoError(t, err)
		assert.False(t, d.Before(t0.Truncate(24*time.Hour)))
	}
}

func TestGetLogsValidation(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	tok := token(t, s)
	for code, body := range map[string]any{
		"err_validation_invalid_page_token": logsBody(10, "forged", map[string]any{}),
		"err_validation_invalid_date":       logsBody(10, "", map[string]any{"from": "05/01/2026"}),
		"err_validation_invalid_value":      logsBody(10, "", map[string]any{"scanResult": "bad"}),
	} {
		r := bearerPost(t, s, tok, mimecasttest.PathGetLogs, body)
		assert.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, []string{code}, r.env(t).codes())
	}
	r := bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(10, "", map[string]any{"route": "sideways"}))
	assert.Contains(t, string(r.body), "sideways")
	r = bearerPost(t, s, tok, mimecasttest.PathGetLogs, `{"meta":{"pagination":{"pageSize":-1}},"data":[]}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	r = bearerPost(t, s, tok, mimecasttest.PathGetLogs, logsBody(100000, "", map[string]any{"from": "2026-01-01T00:00:00Z"}))
	assert.Len(t, logsPage(t, r.env(t)), min(mimecasttest.DefaultClickLogs, mimecasttest.MaxLogsPageSize), "page size is clamped")
}

type decodeResult struct {
	data  []string
	plain []string // fail items without errors
	bad   map[string]string
}

func decode(t *testing.T, s *mimecasttest.Server, tok string, urls ...string) decodeResult {
	t.Helper()
	items := make([]any, len(urls))
	for i, u := range urls {
		items[i] = map[string]string{"url": u}
	}
	r := bearerPost(t, s, tok, mimecasttest.PathDecodeURL, map[string]any{"data": items})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e := r.env(t)
	res := decodeResult{bad: map[string]string{}}
	for _, raw := range e.Data {
		var d struct {
			URL     string `json:"url"`
			Success bool   `json:"success"`
		}
		require.NoError(t, json.Unmarshal(raw, &d))
		assert.True(t, d.Success)
		res.data = append(res.data, d.URL)
	}
	for _, f := range e.Fail {
		var k struct {
			URL string `json:"url"`
		}
		require.NoError(t, json.Unmarshal(f.Key, &k))
		if len(f.Errors) == 0 {
			res.plain = append(res.plain, k.URL)
		} else {
			res.bad[k.URL] = f.Errors[0].Message
		}
	}
	return res
}

func TestDecodeURL(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	tok := token(t, s)
	rw := s.RewriteURL("https://evil.example/x?y=1")
	res := decode(t, s, tok, rw, "https://plain.example/a", "https://protect-eu.mimecast.com/s/UnknownToken?domain=x", "")
	assert.Equal(t, []string{"https://evil.example/x?y=1"}, res.data)
	assert.Equal(t, []string{"https://plain.example/a"}, res.plain, "links that are not rewritten come back as fail items without errors")
	assert.Equal(t, "Token is invalid", res.bad["https://protect-eu.mimecast.com/s/UnknownToken?domain=x"])
	assert.Equal(t, "url is required", res.bad[""])

	// Every generated click log decodes to its Decoded value.
	logs := s.ClickLogs()
	var kinds [4]int // rewritten, plain, unknown token, empty
	for lo := 0; lo < len(logs); lo += mimecasttest.MaxDecodeURLs {
		chunk := logs[lo:min(lo+mimecasttest.MaxDecodeURLs, len(logs))]
		urls := make([]string, len(chunk))
		for i, c := range chunk {
			urls[i] = c.URL
		}
		res := decode(t, s, tok, urls...)
		di, pi := 0, 0
		for _, c := range chunk {
			switch {
			case c.URL == "":
				kinds[3]++
				assert.Contains(t, res.bad, "")
			case c.Decoded == "":
				kinds[2]++
				assert.Equal(t, "Token is invalid", res.bad[c.URL])
			case c.Decoded == c.URL:
				kinds[1]++
				assert.Equal(t, c.URL, res.plain[pi])
				pi++
			default:
				kinds[0]++
				assert.Equal(t, c.Decoded, res.data[di])
				di++
			}
		}
	}
	for i, n := range kinds {
		assert.Positive(t, n, "kind %d of click log is generated", i)
	}

	many := make([]string, mimecasttest.MaxDecodeURLs+1)
	for i := range many {
		many[i] = rw
	}
	items := make([]any, len(many))
	for i, u := range many {
		items[i] = map[string]string{"url": u}
	}
	r := bearerPost(t, s, tok, mimecasttest.PathDecodeURL, map[string]any{"data": items})
	assert.Equal(t, []string{"err_validation_too_many_items"}, r.env(t).codes())
	assert.Empty(t, r.env(t).Data)
}

type managedJSON struct {
	ID          string `json:"id"`
	Scheme      string `json:"scheme"`
	Domain      string `json:"domain"`
	Port        int    `json:"port"`
	Path        string `json:"path"`
	QueryString string `json:"queryString"`
	MatchType   string `json:"matchType"`
	Action      string `json:"action"`
	Comment     string `json:"comment"`
}

func managed(t *testing.T, e envelope) []managedJSON {
	t.Helper()
	out := make([]managedJSON, len(e.Data))
	for i, raw := range e.Data {
		require.NoError(t, json.Unmarshal(raw, &out[i]))
	}
	return out
}

func TestManagedURLs(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	create := func(items ...map[string]any) envelope {
		return hmacPost(t, s, clk, mimecasttest.PathCreateManagedURL, map[string]any{"data": items}).env(t)
	}
	e := create(
		map[string]any{"url": "https://Evil.example:8443/x?a=1", "action": "block", "matchType": "explicit", "comment": "cte | src"},
		map[string]any{"url": "http://bad.example", "action": "permit"},
		map[string]any{"url": "https://evil.example:8443/x?a=1", "action": "block", "matchType": "domain"},
	)
	assert.Empty(t, e.Fail)
	got := managed(t, e)
	require.Len(t, got, 3)
	assert.Equal(t, managedJSON{ID: got[0].ID, Scheme: "https", Domain: "evil.example", Port: 8443, Path: "/x", QueryString: "a=1", MatchType: "explicit", Action: "block", Comment: "cte | src"}, got[0])
	assert.Equal(t, -1, got[1].Port)
	assert.Equal(t, "/", got[1].Path)
	assert.Equal(t, "explicit", got[1].MatchType, "matchType defaults to explicit")
	assert.NotEqual(t, got[0].ID, got[1].ID)

	e = create(
		map[string]any{"url": "https://evil.example:8443/x?a=1/", "action": "block"},
		map[string]any{"url": "http://bad.example/", "action": "block"},
		map[string]any{"url": "https://x.example/#frag", "action": "block"},
		map[string]any{"url": "evil.example", "action": "block"},
		map[string]any{"url": "ftp://x.example/", "action": "block"},
		map[string]any{"url": "https://ok.example/", "action": "allow"},
		map[string]any{"url": "https://ok.example/", "action": "block", "matchType": "regex"},
	)
	assert.Len(t, e.Data, 1, "the query differs, so the first is new")
	assert.Equal(t, []string{"err_managed_url_exists_code", "err_managed_url_invalid", "err_managed_url_invalid", "err_managed_url_invalid",
		"err_validation_invalid_action", "err_validation_invalid_match_type"}, e.codes())
	assert.Equal(t, "The managed URL already exists; to update it, delete and recreate", e.Fail[0].Errors[0].Message)
	assert.Contains(t, e.Fail[1].Errors[0].Message, "The URL is invalid")
	assert.JSONEq(t, `{"url":"http://bad.example/","action":"block","disableRewrite":false,"disableUserAwareness":false,"disableLogClick":false}`, string(e.Fail[0].Key))

	items := make([]map[string]any, mimecasttest.MaxCreateManagedURLs+1)
	for i := range items {
		items[i] = map[string]any{"url": fmt.Sprintf("https://n%d.example/", i), "action": "block"}
	}
	e = create(items...)
	assert.Equal(t, []string{"err_validation_too_many_items"}, e.codes())
	assert.Len(t, s.ManagedURLs(), 4, "nothing of an oversized request is applied")
	e = create(items[:mimecasttest.MaxCreateManagedURLs]...)
	assert.Len(t, e.Data, mimecasttest.MaxCreateManagedURLs)

	// get-all: exact match ignores a trailing slash; partial matches substrings.
	find := func(q map[string]any) []managedJSON {
		return managed(t, hmacPost(t, s, clk, mimecasttest.PathGetAllManagedURLs, map[string]any{"data": []any{q}}).env(t))
	}
	exact := find(map[string]any{"domainOrUrl": "http://bad.example/", "exactMatch": true})
	require.Len(t, exact, 1)
	assert.Equal(t, got[1].ID, exact[0].ID)
	assert.Len(t, find(map[string]any{"domainOrUrl": "evil.example", "exactMatch": true}), 3, "a domain matches exactly by domain")
	assert.Len(t, find(map[string]any{"domainOrUrl": "n1", "exactMatch": false}), 11, "n1, n10..n19")
	assert.Len(t, find(map[string]any{}), 24)
	r := hmacPost(t, s, clk, mimecasttest.PathGetAllManagedURLs, `{"data":[]}`)
	assert.Equal(t, 24, r.env(t).Meta.Pagination.TotalCount)

	// delete by id; an unknown id is a fail without key.
	r = hmacPost(t, s, clk, mimecasttest.PathDeleteManagedURL, map[string]any{"data": []any{map[string]string{"id": got[1].ID}}})
	assert.JSONEq(t, `{"meta":{"status":200},"data":[],"fail":[]}`, string(r.body))
	assert.Empty(t, find(map[string]any{"domainOrUrl": "http://bad.example", "exactMatch": true}))
	r = hmacPost(t, s, clk, mimecasttest.PathDeleteManagedURL, map[string]any{"data": []any{map[string]string{"id": got[1].ID}}})
	assert.JSONEq(t, `{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_managed_url_not_found","message":"Managed URL not found","retryable":false}]}]}`, string(r.body))
	assert.Len(t, s.ManagedURLs(), 23)
	r = hmacPost(t, s, clk, mimecasttest.PathDeleteManagedURL, `{"data":[]}`)
	assert.Equal(t, []string{"err_validation_missing_data"}, r.env(t).codes())
}
