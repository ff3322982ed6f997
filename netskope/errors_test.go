package netskope

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
)

const (
	mockTenant = "https://acme.goskope.com"
	mockV1     = "v1-SECRET-token-value"
	mockV2     = "v2-SECRET-token-value"
)

// mockClient returns a client on an httpmock transport (never httpmock.Activate).
func mockClient(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	c, err := New(Config{TenantURL: mockTenant, V2Token: mockV2, V1Token: mockV1},
		append([]Option{WithHTTPClient(&http.Client{Transport: mt}), WithRetry(Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond})}, opts...)...)
	require.NoError(t, err)
	return c, mt
}

func TestV1Envelopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		status   int
		body     string
		result   V1Result
		sentinel error
		text     string
	}{
		{"success", 200, `{"status":"success","msg":"File Filter Profile updated successfully"}`, V1Success, nil, ""},
		{"duplicate", 200, `{"status":"error","errors":["Duplicate request, no change in file hashes"]}`, V1Duplicate, nil, ""},
		{"general error on 200", 200, `{"status":"error","errorCode":"General Error","errors":["name not passed","list not passed"]}`, 0, ErrRejected, `name not passed; list not passed (code "General Error")`},
		{"unknown list", 200, `{"status":"error","errorCode":"General Error","errors":["File hash list \"X\" does not exist"]}`, 0, ErrNotFound, "file_hash_lists"},
		{"auth in envelope", 200, `{"status":"error","errorCode":"Authorization Error","errors":["Invalid token"]}`, 0, cte.ErrAuth, "v1_token"},
		{"pending in envelope", 200, `{"status":"error","errors":["there is already a pending change"]}`, 0, ErrPendingChanges, "pending change"},
		{"403", 403, `{"status":"error","errorCode":"Authorization Error","errors":["Invalid token"]}`, 0, cte.ErrAuth, "check v1_token"},
		{"409 pending", 409, `{"status":"error","errorCode":"General Error","errors":["non-interactive operation on pending profile is not allowed"]}`, 0, ErrPendingChanges, "apply or discard"},
		{"409 other", 409, `{"status":"error","errors":["conflict"]}`, 0, ErrRejected, "conflict"},
		{"not JSON", 200, `<html>login</html>`, 0, ErrBadAnswer, "not a JSON object"},
		{"no status", 200, `{"data":[]}`, 0, ErrBadAnswer, `status ""`},
		{"500", 500, `{"status":"error","errors":["boom"]}`, 0, ErrUnavailable, "boom"},
		{"404", 404, `Not Found`, 0, ErrNotFound, "Not Found"},
		{"302", 302, ``, 0, ErrBadAnswer, "redirected"},
		{"413", 413, `{"status":"error","errors":["too big"]}`, 0, ErrRejected, "8 MB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cl, mt := mockClient(t)
			var sawToken bool
			mt.RegisterResponder("POST", mockTenant+"/api/v1/updateFileHashList", func(r *http.Request) (*http.Response, error) {
				b := make([]byte, 1<<10)
				n, _ := r.Body.Read(b)
				sawToken = strings.Contains(string(b[:n]), `"token":"`+mockV1+`"`)
				assert.Empty(t, r.URL.RawQuery, "nothing in the URL")
				resp := httpmock.NewStringResponse(c.status, c.body)
				resp.Header.Set("X-Request-Id", "req-42")
				return resp, nil
			})
			res, err := cl.UpdateFileHashList(t.Context(), "L", []string{shaA})
			assert.True(t, sawToken, "the v1 token travels in the JSON body")
			if c.sentinel == nil {
				require.NoError(t, err)
				assert.Equal(t, c.result, res)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.sentinel)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "v1", e.API)
			assert.Equal(t, c.status, e.Status)
			assert.Contains(t, err.Error(), c.text)
			assert.NotContains(t, err.Error(), mockV1)
			if c.status != 200 {
				assert.Equal(t, "req-42", e.RequestID)
			}
		})
	}
}

func TestV2Errors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		body     string
		sentinel error
		text     string
		retry    bool
	}{
		{401, `{"message":"Unauthorized: invalid Netskope-Api-Token"}`, cte.ErrAuth, "check v2_token: the REST API v2 token was refused", false},
		{403, `{"message":"Forbidden"}`, cte.ErrAuth, "lacks read+write access to /api/v2/policy/urllist (URL lists)", false},
		{409, `{"statusCode":409,"message":"non-interactive operation on pending profile is not allowed"}`, ErrPendingChanges, "Policies > Web > URL Lists", true},
		{400, `{"statusCode":400,"message":[["bad value","invalid host"]]}`, ErrRejected, `"bad value": invalid host`, false},
		{422, `{"validation_errors":[{"field":"values[3]","message":"bad"}]}`, ErrRejected, "field values[3]; message bad", false},
		{503, `<html>maintenance</html>`, ErrUnavailable, "maintenance", true},
		{501, `{"message":"nope"}`, ErrUnavailable, "nope", false},
		{418, `{"error":"teapot"}`, ErrBadAnswer, "teapot", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			t.Parallel()
			cl, mt := mockClient(t)
			mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", func(r *http.Request) (*http.Response, error) {
				assert.Equal(t, mockV2, r.Header.Get("Netskope-Api-Token"))
				return httpmock.NewStringResponse(c.status, c.body), nil
			})
			_, err := cl.URLLists(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, c.sentinel)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, c.retry, e.Retryable)
			assert.Equal(t, "v2", e.API)
			assert.Contains(t, err.Error(), c.text)
			if c.status == 400 {
				assert.Equal(t, []InvalidValue{{Value: "bad value", Reason: "invalid host"}}, e.Invalid)
			}
		})
	}
}

func TestDataExport403NamesScope(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	mt.RegisterRegexpResponder("GET", mustRe(`/api/v2/events/dataexport/alerts/malsite`), httpmock.NewStringResponder(403, `{"message":"Forbidden"}`))
	_, err := cl.Alerts(t.Context(), AlertMalsite, "i", OpNext)
	assert.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "lacks read access to /api/v2/events/dataexport/alerts/malsite (Data Export alerts)")
}

func TestErrorScrubsEchoedToken(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist",
		httpmock.NewStringResponder(400, `{"message":"bad token `+mockV2+` and `+mockV1+`"}`))
	_, err := cl.URLLists(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
	assert.Contains(t, err.Error(), "[redacted]")
}

func TestRateLimitedAfterRetries(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	calls := 0
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", func(*http.Request) (*http.Response, error) {
		calls++
		resp := httpmock.NewStringResponse(429, `{"message":"API rate limit exceeded"}`)
		resp.Header.Set("Retry-After", "0")
		return resp, nil
	})
	_, err := cl.URLLists(t.Context())
	assert.ErrorIs(t, err, cte.ErrRateLimited)
	assert.Equal(t, 3, calls, "first attempt and two retries")

	// A wait longer than the client accepts fails at once.
	cl2, mt2 := mockClient(t)
	calls = 0
	mt2.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", func(*http.Request) (*http.Response, error) {
		calls++
		resp := httpmock.NewStringResponse(429, `{"message":"API rate limit exceeded"}`)
		resp.Header.Set("Retry-After", "3600")
		return resp, nil
	})
	_, err = cl2.URLLists(t.Context())
	assert.ErrorIs(t, err, cte.ErrRateLimited)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Error(), "1h0m0s")
	wait, ok := cte.RetryAfter(err)
	assert.True(t, ok, "the wait reaches the host")
	assert.Equal(t, time.Hour, wait)
	assert.Equal(t, 1, calls)
}

func TestRetriesThen200(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	calls := 0
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", func(*http.Request) (*http.Response, error) {
		calls++
		if calls < 3 {
			return httpmock.NewStringResponse(502, `bad gateway`), nil
		}
		return httpmock.NewStringResponse(200, `[{"id":1,"name":"L","data":{"urls":["a.example"],"type":"exact"}}]`), nil
	})
	lists, err := cl.URLLists(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []URLList{{ID: 1, Name: "L", Data: URLListData{URLs: []string{"a.example"}, Type: "exact"}}}, lists)
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", httpmock.NewErrorResponder(errors.New("connection refused")))
	_, err := cl.URLLists(t.Context())
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), "check tenant_url")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = cl.URLLists(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestBadAnswers(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", httpmock.NewStringResponder(200, `{"not":"an array"}`))
	_, err := cl.URLLists(t.Context())
	assert.ErrorIs(t, err, ErrBadAnswer)
	mt.RegisterRegexpResponder("GET", mustRe(`dataexport`), httpmock.NewStringResponder(200, `{"ok":1,"result":"x"}`))
	_, err = cl.Alerts(t.Context(), AlertMalware, "i", OpNext)
	assert.ErrorIs(t, err, ErrBadAnswer)
	assert.Contains(t, err.Error(), `"result" is a string`)
	mt.RegisterResponder("PATCH", mockTenant+"/api/v2/policy/urllist/7/append", httpmock.NewStringResponder(200, `not json`))
	l, err := cl.AppendURLs(t.Context(), 7, URLListExact, []string{"a.example"})
	require.NoError(t, err, "the change is staged; an unreadable echo is logged")
	assert.Equal(t, int64(7), l.ID)
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	e := &Error{Op: "deploy URL lists", Status: 409, Err: ErrPendingChanges, Message: "m", Code: "C", RequestID: "r", Hint: "h"}
	assert.Equal(t, `netskope: deploy URL lists: HTTP 409: pending changes: m (code "C") (request id r); h`, e.Error())
	assert.Equal(t, "netskope: x", (&Error{Op: "x"}).Error())
}

// TestV1RateLimit: the client sends at most 24 v1 requests in any 5 seconds.
func TestV1RateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl, mt := mockClient(t)
		var times []time.Time
		mt.RegisterResponder("POST", mockTenant+"/api/v1/updateFileHashList", func(*http.Request) (*http.Response, error) {
			times = append(times, time.Now())
			return httpmock.NewStringResponse(200, `{"status":"success"}`), nil
		})
		start := time.Now()
		for range 60 {
			_, err := cl.UpdateFileHashList(t.Context(), "L", []string{shaA})
			require.NoError(t, err)
		}
		require.Len(t, times, 60)
		for i := range times {
			n := 0
			for _, u := range times[i:] {
				if u.Sub(times[i]) < 5*time.Second {
					n++
				}
			}
			assert.LessOrEqual(t, n, 24, "requests in the 5 s from request %d", i)
		}
		assert.Equal(t, 4, countBefore(times, start.Add(time.Millisecond)), "a burst of 4")
		assert.GreaterOrEqual(t, times[59].Sub(start), 14*time.Second, "then 4 per second")

		// v2 calls are not held by the v1 limiter.
		mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", httpmock.NewStringResponder(200, `[]`))
		before := time.Now()
		for range 10 {
			_, err := cl.URLLists(t.Context())
			require.NoError(t, err)
		}
		assert.Equal(t, before, time.Now())

		// Waiting ends with the context.
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		for range 10 {
			if _, err := cl.UpdateFileHashList(ctx, "L", []string{shaA}); err != nil {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				return
			}
		}
		t.Fatal("the limiter never made a call wait past the deadline")
	})
}

func countBefore(ts []time.Time, cut time.Time) int {
	n := 0
	for _, t := range ts {
		if t.Before(cut) {
			n++
		}
	}
	return n
}

// TestV2PausesOnRateLimitRemainingZero: after an answer with RateLimit-Remaining: 0
// the next v2 call waits RateLimit-Reset seconds.
func TestV2PausesOnRateLimitRemainingZero(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl, mt := mockClient(t)
		var times []time.Time
		mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", func(*http.Request) (*http.Response, error) {
			times = append(times, time.Now())
			resp := httpmock.NewStringResponse(200, `[]`)
			resp.Header.Set("RateLimit-Limit", "4")
			resp.Header.Set("RateLimit-Remaining", fmt.Sprint(len(times)%2)) // 1, then 0
			resp.Header.Set("RateLimit-Reset", "2")
			return resp, nil
		})
		for range 3 {
			_, err := cl.URLLists(t.Context())
			require.NoError(t, err)
		}
		require.Len(t, times, 3)
		assert.Zero(t, times[1].Sub(times[0]), "remaining 1: no pause")
		assert.Equal(t, 2*time.Second, times[2].Sub(times[1]), "remaining 0: wait for the reset")
	})
}

// Issue 12 item 8: a Data Export page past the body limit fails with an error
// naming the limit, read no further than the limit.
func TestAlertPageOverTheLimit(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	cl.pageLimit = 1 << 10
	mt.RegisterResponder("GET", `=~^`+mockTenant+`/api/v2/events/dataexport/alerts/malware`, func(r *http.Request) (*http.Response, error) {
		body := `{"ok":1,"result":[` + strings.Repeat(`{"_id":"x","sha256":"`+strings.Repeat("a", 64)+`"},`, 100) + `{}]}`
		return httpmock.NewStringResponse(200, body), nil
	})
	_, err := cl.Alerts(t.Context(), AlertMalware, "i", OpNext)
	require.ErrorIs(t, err, ErrBadAnswer)
	assert.ErrorContains(t, err, "more than 1024 bytes")
	assert.Equal(t, 1, mt.GetTotalCallCount(), "not retried")
}

// TestEchoedTokenCutAtTheLimit has the tenant echo a token across the
// 400-byte limit of an error's message: no part of it may survive (the
// message was cut before the token was looked for, and its head was kept).
// A 200 answer's error message is read from the same scrubbed body.
func TestEchoedTokenCutAtTheLimit(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	msg := strings.Repeat("x", 390) + " " + mockV2 // the token straddles the cut at 400 bytes
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist",
		httpmock.NewStringResponder(400, `{"message":"`+msg+`"}`))
	_, err := cl.URLLists(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), mockV2[:6], "no part of the token")

	msg1 := strings.Repeat("y", 390) + " " + mockV1
	mt.RegisterResponder("POST", mockTenant+"/api/v1/updateFileHashList",
		httpmock.NewStringResponder(200, `{"status":"error","errors":["`+msg1+`"]}`))
	_, err = cl.UpdateFileHashList(t.Context(), "L", []string{strings.Repeat("a", 64)})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), mockV1[:6], "no part of the v1 token")
}
