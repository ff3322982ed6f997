package mimecasttest_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestFaultScript(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	p := mimecasttest.PathGetAccount
	s.RateLimit(p, 2, 1500*time.Millisecond)
	s.ServerError(p, 1, http.StatusServiceUnavailable)
	s.ServerError("/api/", 1, 0)
	assert.Equal(t, 4, s.PendingFaults())

	r := hmacPost(t, s, clk, p, nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "1500", r.header.Get("X-RateLimit-Reset"))
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	assert.NotEmpty(t, r.header.Get("X-RateLimit-Limit"))
	assert.JSONEq(t, `{"meta":{"status":429},"data":[],"fail":[{"errors":[{"code":"err_xdk_rate_limit_exceeded","message":"Quota Exceeded","retryable":true}]}]}`, string(r.body))
	assert.Equal(t, http.StatusTooManyRequests, hmacPost(t, s, clk, p, nil).status)
	r = hmacPost(t, s, clk, p, nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, 503, r.env(t).Meta.Status)
	assert.True(t, r.env(t).Fail[0].Errors[0].Retryable)

	// The token endpoint does not match "/api/".
	tok := token(t, s)
	r = bearerPost(t, s, tok, mimecasttest.PathGetFeed, nil)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, 0, s.PendingFaults())
	assert.Equal(t, http.StatusOK, hmacPost(t, s, clk, p, nil).status)

	var faults []string
	for _, e := range s.Requests() {
		faults = append(faults, e.Fault)
	}
	assert.Equal(t, []string{"rate_limit", "rate_limit", "server_error", "", "server_error", ""}, faults)
}

func TestFaultsNeedCredentials(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	s.ServerError("", 1, 0)
	r := do(t, s, newReq(t, s, mimecasttest.PathGetAccount, nil))
	assert.Equal(t, http.StatusUnauthorized, r.status, "a fault waits for an authenticated request")
	assert.Equal(t, 1, s.PendingFaults())
}

func TestFaultKnobsPanicOnZero(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	assert.PanicsWithValue(t, `mimecasttest: RateLimit("/api/", 0): n must be at least 1`, func() { s.RateLimit("/api/", 0, time.Second) })
	assert.Panics(t, func() { s.SetFeedPageSize(0) })
	assert.Panics(t, func() { mimecasttest.New(mimecasttest.WithFeedPageSize(0)) })
	assert.Panics(t, func() { mimecasttest.New(mimecasttest.WithRateLimit(5, 0)) })
	assert.Panics(t, func() { mimecasttest.New(mimecasttest.WithDataWindow(0)) })
}

func TestFailEnvelopeAndQuotaKnobs(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	s.FailEnvelope(mimecasttest.PathGetFeed, 1, "err_feed", "no feed today")
	r := hmacPost(t, s, clk, mimecasttest.PathGetFeed, nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.JSONEq(t, `{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_feed","message":"no feed today","retryable":false}]}]}`, string(r.body))
	assert.True(t, strings.HasPrefix(string(hmacPost(t, s, clk, mimecasttest.PathGetFeed, nil).body), mimecasttest.FeedHeader), "then CSV again")

	s.Quota(mimecasttest.PathCreateBatch, 1)
	r = hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(3, 32)}))
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, mimecasttest.QuotaMessage, r.env(t).Fail[0].Errors[0].Message)
	assert.Empty(t, s.Hashes())
	assert.Equal(t, -1, s.BatchQuota(), "the knob does not spend the counter")
}

func TestUnauthorizedAndSkewKnobs(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	tok := token(t, s)
	s.Unauthorized("/api/", 2)
	r := bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"fail":[{"code":"token_expired","message":"Token expired"}]}`, string(r.body))
	r = hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, []string{"err_xdk_invalid_signature"}, r.env(t).codes())
	assert.Equal(t, http.StatusOK, bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil).status, "the token itself still works")

	s.SkewDate(mimecasttest.PathGetAccount, 1)
	r = hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, string(r.body), mimecasttest.SkewMessage)
	assert.Equal(t, http.StatusOK, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status, "a re-signed retry passes")
}

func TestResetConnection(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	s.ResetConnection(mimecasttest.PathCreateBatch, 1)
	req := newReq(t, s, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(1, 32)}))
	sign(req, s.Credentials(), mcDate(clk.Now()), uuid.NewString())
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the connection is reset")
	assert.Empty(t, s.Hashes(), "a reset request is not applied")
	reqs := s.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, 0, reqs[0].Status)
	assert.Equal(t, "reset", reqs[0].Fault)
	r := hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(1, 32)}))
	assert.Equal(t, http.StatusOK, r.status)
	assert.Len(t, s.Hashes(), 1)
}

func TestStall(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	tok := token(t, s)
	g := s.Stall(mimecasttest.PathGetAccount, 1)
	done := make(chan reply, 1)
	go func() { done <- bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil) }()
	<-g.Arrived()
	select {
	case <-done:
		t.Fatal("a stalled request must not be answered before the gate is released")
	default:
	}
	assert.Equal(t, 1, s.Count(mimecasttest.PathGetAccount), "counted on arrival")
	g.Release()
	g.Release() // idempotent
	r := <-done
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "stall", s.Requests()[len(s.Requests())-1].Fault)

	// A client that gives up frees the handler.
	g = s.Stall(mimecasttest.PathGetAccount, 1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req := newReq(t, s, mimecasttest.PathGetAccount, nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-g.Arrived()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
}

// Close releases stalled requests instead of hanging.
func TestCloseReleasesStalls(t *testing.T) {
	t.Parallel()
	s := mimecasttest.New()
	tok := token(t, s)
	g := s.Stall("", 1)
	done := make(chan int, 1)
	go func() {
		req := newReq(t, s, mimecasttest.PathGetAccount, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-g.Arrived()
	s.Close()
	assert.Equal(t, http.StatusOK, <-done)
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := mimecasttest.New()
	tok := token(t, s)
	// A long delay is cut short when the client gives up: Close below would
	// hang for an hour otherwise. No test waits for the delay.
	s.Delay(mimecasttest.PathGetAccount, 1, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for s.Count(mimecasttest.PathGetAccount) == 0 { // until the request arrived
			runtime.Gosched()
		}
		cancel()
	}()
	req := newReq(t, s, mimecasttest.PathGetAccount, nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+tok)
	_, err := s.Client().Do(req)
	assert.ErrorIs(t, err, context.Canceled)
	s.Close()
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "delay", reqs[1].Fault)

	// A zero delay answers normally.
	f, _ := fake(t)
	f.Delay(mimecasttest.PathGetAccount, 1, 0)
	assert.Equal(t, http.StatusOK, bearerPost(t, f, token(t, f), mimecasttest.PathGetAccount, nil).status)
	assert.Equal(t, "delay", f.Requests()[1].Fault)
}

func TestRateLimitBucket(t *testing.T) {
	t.Parallel()
	s, clk := fake(t, mimecasttest.WithRateLimit(3, 2*time.Second))
	for range 3 {
		require.Equal(t, http.StatusOK, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status)
	}
	r := hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "2000", r.header.Get("X-RateLimit-Reset"))
	assert.Equal(t, "3", r.header.Get("X-RateLimit-Limit"))
	clk.Add(500 * time.Millisecond)
	r = hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, "1500", r.header.Get("X-RateLimit-Reset"))

	// The bearer credential has a bucket of its own.
	tok := token(t, s)
	assert.Equal(t, http.StatusOK, bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil).status)

	clk.Add(1500 * time.Millisecond)
	assert.Equal(t, http.StatusOK, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status, "one request added back")
	assert.Equal(t, http.StatusTooManyRequests, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status)
	clk.Add(time.Hour)
	for range 3 {
		assert.Equal(t, http.StatusOK, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status, "refilled to the limit, not beyond")
	}
	assert.Equal(t, http.StatusTooManyRequests, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status)
}

func TestRoutingAndMalformedBodies(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+mimecasttest.PathGetAccount, nil)
	require.NoError(t, err)
	r := do(t, s, req)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "POST", r.header.Get("Allow"))
	assert.Equal(t, []string{"err_method_not_allowed"}, r.env(t).codes())

	r = hmacPost(t, s, clk, "/api/nope/nothing", nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, 404, r.env(t).Meta.Status)

	for _, body := range []string{"", "[]", "{", `{"data":{}}`, `{"data":[1]}`, `{"data":[]} {}`, `{"meta":{"pagination":{"pageSize":"x"}},"data":[]}`} {
		r := hmacPost(t, s, clk, mimecasttest.PathGetAccount, body)
		assert.Equal(t, http.StatusBadRequest, r.status, "body %q", body)
		assert.Equal(t, []string{"err_request_invalid"}, r.env(t).codes(), "body %q", body)
	}
	r = hmacPost(t, s, clk, mimecasttest.PathCreateBatch, `{"data":[{"operationType":"BLOCK","hashList":"x"}]}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.env(t).Fail[0].Errors[0].Message, "data[0]")

	big := `{"data":[{"x":"` + strings.Repeat("a", mimecasttest.MaxBodyBytes) + `"}]}`
	r = hmacPost(t, s, clk, mimecasttest.PathGetAccount, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	tok := token(t, s)
	hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(1, 32), Provider: "cte"}))
	hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(2, 32), Provider: "cte"}))
	bearerPost(t, s, "bogus", mimecasttest.PathGetAccount, nil)
	bearerPost(t, s, tok, mimecasttest.PathGetFeed, nil)

	reqs := s.Requests()
	require.Len(t, reqs, 5)
	tokReq, b1, b2, bad, feed := reqs[0], reqs[1], reqs[2], reqs[3], reqs[4]
	assert.Equal(t, mimecasttest.PathToken, tokReq.Path)
	assert.Nil(t, tokReq.Body)

	assert.Equal(t, "POST", b1.Method)
	assert.Equal(t, mimecasttest.AuthHMAC, b1.Auth)
	assert.Equal(t, http.StatusOK, b1.Status)
	assert.Equal(t, len(b1.Body), b1.BodySize)
	assert.Contains(t, string(b1.Body), `"provider":"cte"`)
	assert.Equal(t, "[redacted]", b1.Header.Get("Authorization"))
	assert.Equal(t, mcDate(t0), b1.Date)
	assert.Equal(t, t0, b1.Time)
	assert.NotEmpty(t, b1.ReqID)
	assert.NotEqual(t, b1.ReqID, b2.ReqID)

	assert.Equal(t, mimecasttest.AuthOAuth, bad.Auth)
	assert.Equal(t, http.StatusUnauthorized, bad.Status)
	assert.Equal(t, "[redacted]", bad.Header.Get("Authorization"))
	assert.Equal(t, http.StatusOK, feed.Status)
	assert.Empty(t, feed.ReqID)

	assert.Equal(t, 2, s.Count(mimecasttest.PathCreateBatch))
	assert.Equal(t, map[string]int{mimecasttest.PathToken: 1, mimecasttest.PathCreateBatch: 2, mimecasttest.PathGetAccount: 1, mimecasttest.PathGetFeed: 1}, s.Counts())
	s.ClearRequests()
	assert.Empty(t, s.Requests())
	assert.Equal(t, 0, s.Count(mimecasttest.PathCreateBatch))
}

// Knobs and requests from many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s, clk := fake(t, mimecasttest.WithFeedPageSize(50))
	tok := token(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				switch (i + j) % 5 {
				case 0:
					hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK", hashEntry{Hash: hexHash(i*100+j, 64)}))
				case 1:
					bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"feedType": "malware_grid"}))
				case 2:
					s.ServerError(mimecasttest.PathGetLogs, 1, 0)
					bearerPost(t, s, tok, mimecasttest.PathGetLogs, `{"data":[]}`)
				case 3:
					s.SetFeedMode("", mimecasttest.FeedMode(j%3))
					s.SetBatchQuota(-1)
					_ = s.Hashes()
				case 4:
					_ = s.Requests()
					clk.Add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, s.Hashes(), 16, "8 goroutines × 2 batches each")
	assert.Len(t, s.Requests(), 1+8*6, "the token and 6 requests per goroutine")
}
