package mimecast

// One test per weakness W1–W16 of the reference plugin (the Python Mimecast
// plugin of Netskope Cloud Exchange that this package replaces). The comment on
// each test states the behaviour required instead; the test checks that this
// client has it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// sha256s returns n distinct sha256 indicators.
func sha256s(n int) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	for i := range out {
		out[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i+1), Comments: "test"}
	}
	return out
}

func target(id string) cte.Target { return cte.Target{ID: id, Mode: cte.Append} }

// requestBodies decodes the data[0] of every logged request to path.
func requestBodies(t *testing.T, s *mimecasttest.Server, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range s.Requests() {
		if r.Path != path {
			continue
		}
		var body struct {
			Data []map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &body))
		require.NotEmpty(t, body.Data)
		out = append(out, body.Data[0])
	}
	return out
}

// W1: a batch with failures (or an HTTP error) does not stop the later batches;
// its hashes are retryable (a whole-batch failure is no verdict on each hash) and
// the push reports the failure.
func TestW1FailedBatchDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  func(s *mimecasttest.Server)
		status int
	}{
		{"fail envelope", func(s *mimecasttest.Server) {
			s.FailEnvelope(mimecasttest.PathCreateBatch, 1, "err_internal", "Batch could not be stored")
		}, http.StatusOK},
		{"HTTP 500 after retries", func(s *mimecasttest.Server) { s.ServerError(mimecasttest.PathCreateBatch, 3, 500) }, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mimecasttest.NewServer(t)
			p := newTestPlugin(t, s, hmacConfig(s), time.Now, WithRetry(Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
			tc.fault(s)
			in := sha256s(2500)
			res, err := p.Push(t.Context(), target(TargetBlock), in)
			require.Error(t, err, "a batch not applied is a failed push")
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.status, e.Status)
			assert.Contains(t, err.Error(), "1 of 3 batches not applied")
			assert.Equal(t, 1500, res.Applied)
			require.Len(t, res.Rejected, 1000)
			assert.Equal(t, in[0].Value, res.Rejected[0].Value)
			for _, r := range res.Rejected {
				require.True(t, r.Retryable, "%s: a failed batch is retried", r.Value)
			}
			assert.NotEmpty(t, res.Rejected[0].Reason)
			assert.Len(t, s.Hashes(), 1500)
			assert.Contains(t, s.Hashes(), in[2499].Value, "the last batch was sent")
		})
	}
}

// W2: both MD5 and SHA256 are pulled and every page of the feed is followed.
func TestW2PullsBothHashTypesAndAllPages(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithFeed(FeedMalwareCustomer, 250), mimecasttest.WithFeed(FeedMalwareGrid, 0), mimecasttest.WithFeedPageSize(100))
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Count(mimecasttest.PathGetFeed), "3 customer pages and 1 grid page")
	got := values(pages)
	rows := s.Feed(FeedMalwareCustomer)
	last := rows[len(rows)-1]
	assert.Contains(t, got, "sha256:"+last.SHA256, "the last page is read")
	assert.Contains(t, got, "md5:"+last.MD5)
	md5s, shas := 0, 0
	for _, in := range got {
		switch in.Type {
		case ioc.TypeMD5:
			md5s++
		case ioc.TypeSHA256:
			shas++
		}
	}
	assert.Greater(t, md5s, 200)
	assert.Greater(t, shas, 200)

	// hash_types narrows the types.
	cfg := hmacConfig(s)
	cfg.HashTypes = []ioc.Type{ioc.TypeSHA256}
	pages, err = pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
	require.NoError(t, err)
	for _, in := range values(pages) {
		assert.Equal(t, ioc.TypeSHA256, in.Type)
	}
}

// W3: one request per page over one fixed window (start and end), no
// day-by-day loop and no overlapping windows inside a pull.
func TestW3OneWindowNoDayLoop(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithFeedPageSize(500))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareGrid}
	p := newTestPlugin(t, s, cfg, clock.Now)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	bodies := requestBodies(t, s, mimecasttest.PathGetFeed)
	require.Len(t, bodies, len(pages))
	assert.Len(t, bodies, 3, "1200 rows in pages of 500")
	assert.Equal(t, clock.Now().AddDate(0, 0, -7).Format(time.RFC3339), bodies[0]["start"])
	assert.Equal(t, clock.Now().Format(time.RFC3339), bodies[0]["end"])
	for _, b := range bodies[1:] {
		assert.NotEmpty(t, b["token"], "later pages follow the token")
	}
	seen := map[string]int{}
	for i, pg := range pages {
		for _, in := range pg.Indicators {
			if prev, dup := seen[in.Value]; dup && prev != i {
				// The fake repeats some hashes on purpose (consecutive rows), never a window.
				assert.Equal(t, prev+1, i, "%s repeated across distant pages", in.Value)
			}
			seen[in.Value] = i
		}
	}
}

// W4: the rate-limit wait is the server's X-RateLimit-Reset in ms (not modulo 60),
// and a wait above the cap fails at once instead of sleeping.
func TestW4RateLimitResetHonoured(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now, WithRetry(Retry{MaxWait: time.Second, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	s.RateLimit(mimecasttest.PathGetAccount, 1, 60*time.Second)
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrRateLimited)
	assert.Contains(t, err.Error(), "1m0s", "a 60000 ms reset is a 60 s wait, not 0 s")
	assert.Equal(t, 1, s.Count(mimecasttest.PathGetAccount), "no retry when the wait is over the cap")

	s.RateLimit(mimecasttest.PathGetAccount, 1, 5*time.Millisecond)
	_, err = c.GetAccount(t.Context())
	require.NoError(t, err, "a short reset is waited out and retried")

	// The misspelled X-Rate-Limit-Reset is read too (not a fallback of 60 s).
	mc, mt := mockClient(t, mockHMAC(), WithRetry(Retry{MaxWait: time.Second}))
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(429, `{"meta":{"status":429},"fail":[{"errors":[{"code":"err_xdk_rate_limit_exceeded","message":"Quota Exceeded","retryable":true}]}]}`)
		resp.Header.Set("X-Rate-Limit-Reset", "90000")
		return resp, nil
	})
	_, err = mc.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrRateLimited)
	assert.Contains(t, err.Error(), "1m30s")
}

// W5: every request (every page, every retry) is signed afresh.
func TestW5FreshSignaturePerRequest(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// The client's clock runs 10 minutes further per request; reused headers
	// would drift past the fake's 15-minute skew window by the third page.
	var calls int
	tick := func() time.Time { calls++; return clock.Now() }
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithFeedPageSize(100), mimecasttest.WithReplayCheck(true))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareCustomer}
	p := newTestPlugin(t, s, cfg, tick)
	pages := 0
	for _, err := range p.Pull(t.Context(), nil) {
		require.NoError(t, err)
		pages++
		clock.Add(10 * time.Minute)
	}
	assert.Equal(t, 3, pages)
	ids := map[string]bool{}
	dates := map[string]bool{}
	for _, r := range s.Requests() {
		assert.Equal(t, http.StatusOK, r.Status)
		assert.False(t, ids[r.ReqID], "x-mc-req-id %s reused", r.ReqID)
		ids[r.ReqID] = true
		dates[r.Date] = true
	}
	assert.Len(t, dates, 3, "each page carries its own x-mc-date")
}

// W6: the token's expiry is tracked (no 401 needed to renew it), and a 401 that
// is not token_expired does not trigger a token fetch.
func TestW6TokenExpiryTracked(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithTokenTTL(10*time.Minute))
	c := newTestClient(t, s, oauthConfig(s), clock.Now)
	for range 4 {
		_, err := c.GetAccount(t.Context())
		require.NoError(t, err)
		clock.Add(5 * time.Minute)
	}
	for _, r := range s.Requests() {
		assert.NotEqual(t, http.StatusUnauthorized, r.Status)
	}
	assert.Equal(t, 2, s.Count(mimecasttest.PathToken), "renewed before expiry: at 0 and 10 min")

	mc, mt := mockClient(t, mockOAuth())
	mt.RegisterResponder("POST", "https://mock.test/oauth/token", tokenResponder(1800))
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, jsonResponder(403, `{"fail":[{"code":"forbidden","message":"Application lacks permission"}]}`))
	_, err := mc.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST https://mock.test/oauth/token"], "a permissions error fetches no new token")
}

// W7: the checkpoint is the newest feed Timestamp per feed type (not "now"), and
// a page with no rows keeps it.
func TestW7CheckpointIsNewestTimestampPerFeed(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now))
	p := newTestPlugin(t, s, hmacConfig(s), clock.Now)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	cp, err := decodeCheckpoint(pages[len(pages)-1].Next)
	require.NoError(t, err)
	for _, ft := range []string{FeedMalwareCustomer, FeedMalwareGrid} {
		rows := s.Feed(ft)
		assert.True(t, rows[len(rows)-1].Timestamp.Equal(cp.Feeds[ft]), "%s: checkpoint %s, newest row %s", ft, cp.Feeds[ft], rows[len(rows)-1].Timestamp)
		assert.True(t, cp.Feeds[ft].Before(clock.Now()))
	}
	assert.NotEqual(t, cp.Feeds[FeedMalwareCustomer], cp.Feeds[FeedMalwareGrid], "feeds do not share a checkpoint")

	// A later pull with header-only pages keeps every position.
	s.SetFeedMode("", mimecasttest.FeedHeaderOnly)
	more, err := pullAll(t, p, pages[len(pages)-1].Next)
	require.NoError(t, err)
	require.Len(t, more, 2)
	for _, pg := range more {
		assert.Empty(t, pg.Indicators)
		assert.JSONEq(t, string(pages[len(pages)-1].Next), string(pg.Next))
	}
}

// W8: paging stops on a missing, empty or repeated token and at the page cap.
// A repeated token leaves the feed incomplete: the pull ends with an error
// (issue 12 item 3), after yielding the pages read.
func TestW8PagingStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		mode     mimecasttest.FeedMode
		requests int
		wantErr  string
	}{
		{"endless fresh tokens stop at the cap", mimecasttest.FeedEndless, 5, ""},
		{"repeated token", mimecasttest.FeedRepeatToken, 2, "page 2 gave the page token of an earlier page"},
		{"empty body", mimecasttest.FeedEmptyBody, 1, ""},
		{"header only", mimecasttest.FeedHeaderOnly, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(50))
			s.SetFeedMode(FeedMalwareCustomer, tc.mode)
			cfg := hmacConfig(s)
			cfg.FeedTypes = []string{FeedMalwareCustomer}
			cfg.MaxPages = 5
			pages, err := pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrProtocol)
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Len(t, pages, 2, "the pages read before are yielded")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.requests, s.Count(mimecasttest.PathGetFeed))
		})
	}
	t.Run("empty token header", func(t *testing.T) {
		t.Parallel()
		c, mt := mockClient(t, mockHMAC())
		mt.RegisterResponder("POST", "https://mock.test"+pathGetFeed, func(r *http.Request) (*http.Response, error) {
			resp := httpmock.NewStringResponse(200, "Timestamp|MD5\n2024-05-01T10:00:00Z|"+md5A+"\n")
			resp.Header.Set(headerFeedNextPage, "  ")
			return resp, nil
		})
		cfg := mockHMAC()
		cfg.FeedTypes = []string{FeedMalwareGrid}
		p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: time.Now}
		pages, err := pullAll(t, p, nil)
		require.NoError(t, err)
		assert.Len(t, pages, 2, "one page per default feed type")
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
}

// W9: a JSON fail answered with HTTP 200 by get-feed is an error, never CSV rows.
func TestW9JSONFeedAnswerIsAnEnvelope(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	s.SetFeedMode(FeedMalwareCustomer, mimecasttest.FeedJSONFail)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	pages, err := pullAll(t, p, nil)
	assert.Empty(t, pages)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "err_threat_feed_unavailable", e.Code)
	assert.Contains(t, err.Error(), "malware_customer")

	// The fault knob (whole-request fail on 200) too, through the client call.
	s2 := mimecasttest.NewServer(t)
	c := newTestClient(t, s2, hmacConfig(s2), time.Now)
	s2.FailEnvelope(mimecasttest.PathGetFeed, 1, "err_x", "No feed")
	_, err = c.GetFeed(t.Context(), FeedRequest{FeedType: FeedMalwareCustomer})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "No feed", e.Message)
}

// W10: odd fail shapes (empty errors, API 2.0 flat shape, no fail at all with a bad
// meta.status, a fail that is not a list) give a clear error, never a crash.
func TestW10OddFailShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"fail item without errors", `{"meta":{"status":400},"fail":[{"errors":[]}]}`, "HTTP 400"},
		{"flat API 2.0 item", `{"fail":[{"code":"token_verification_failed"}]}`, "token_verification_failed"},
		{"empty fail list", `{"meta":{"status":400},"fail":[]}`, "Bad Request"},
		{"fail not a list", `{"fail":{"message":"x"}}`, `"message":"x"`},
		{"not JSON", `Bad things`, "Bad things"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(t, mockHMAC())
			mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, jsonResponder(400, tc.body))
			_, err := c.GetAccount(t.Context())
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 400, e.Status)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// W11: HTTP 200 with meta.status other than 200 is an error from Validate, not nil.
func TestW11MetaStatusNot200(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"meta":{"status":500},"data":[],"fail":[]}`,
		`{"meta":{"status":200},"data":[],"fail":[]}`,
	} {
		c, mt := mockClient(t, mockHMAC())
		mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, jsonResponder(200, body))
		p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: time.Now}
		err := p.Validate(t.Context())
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), "https://mock.test", "the resolved URL is shown")
		_, err = p.GetTargets(t.Context())
		require.Error(t, err)
	}
}

// W12: the pull iterator yields an error once and stops, and stopping the
// consumer early makes no further calls.
func TestW12IteratorStopsCleanly(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(100))
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	for range p.Pull(t.Context(), nil) {
		break
	}
	assert.Equal(t, 1, s.Count(mimecasttest.PathGetFeed), "no request after the consumer stopped")

	s.FailEnvelope(mimecasttest.PathGetFeed, 1, "err_x", "broken")
	n, errs := 0, 0
	for _, err := range p.Pull(t.Context(), nil) {
		n++
		if err != nil {
			errs++
		}
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, errs)

	_, err := pullAll(t, p, cte.Checkpoint(`{"v":9}`))
	require.Error(t, err, "a foreign checkpoint is an error, not a crash")
	assert.Contains(t, err.Error(), "clear it")
}

// W13: URL retraction deletes every match (not only data[0]) and batches the
// deletes; hash retraction stops on a spent quota with the rest retryable; counts
// are per call.
func TestW13Retraction(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	ctx := t.Context()
	var urls []ioc.Indicator
	for i := range 30 {
		urls = append(urls, ioc.Indicator{Type: ioc.TypeURL, Value: fmt.Sprintf("https://evil%d.example/x", i)})
	}
	urls = append(urls, ioc.Indicator{Type: ioc.TypeDomain, Value: "evil-domain.example"})
	res, err := p.Push(ctx, target(TargetManagedBlock), urls)
	require.NoError(t, err)
	require.Equal(t, 31, res.Applied)
	s.ClearRequests()

	res, err = p.Retract(ctx, target(TargetManagedBlock), append(urls, ioc.Indicator{Type: ioc.TypeURL, Value: "https://never.example/"}))
	require.NoError(t, err)
	assert.Equal(t, 31, res.Applied)
	assert.Equal(t, 1, res.Unchanged, "a URL that is not there")
	assert.Equal(t, 32, s.Count(mimecasttest.PathGetAllManagedURLs))
	assert.Equal(t, 2, s.Count(mimecasttest.PathDeleteManagedURL), "deletes are batched, not one per URL")
	assert.Empty(t, s.ManagedURLs())

	// Retraction counts are per call.
	res, err = p.Retract(ctx, target(TargetManagedBlock), urls[:2])
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 2}, res)

	// Hash DELETE batches stop on a spent quota, rest retryable.
	hashes := sha256s(2500)
	_, err = p.Push(ctx, target(TargetBlock), hashes)
	require.NoError(t, err)
	s.SetBatchQuota(1)
	res, err = p.Retract(ctx, target(TargetBlock), hashes)
	require.ErrorIs(t, err, cte.ErrQuota)
	assert.Equal(t, 1000, res.Applied)
	require.Len(t, res.Rejected, 1500)
	for _, r := range res.Rejected {
		assert.True(t, r.Retryable)
	}
	assert.Len(t, s.Hashes(), 1500)

	_, err = p.Retract(ctx, target(TargetDelete), hashes)
	require.ErrorIs(t, err, cte.ErrNotSupported)
}

// W13, with several entries for one URL: every entry with the target's action is
// deleted, in one request.
func TestW13EveryMatchDeleted(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAllManaged, jsonResponder(200, `{"meta":{"status":200},"fail":[],
	  "data":[{"id":"a","action":"block","matchType":"explicit"},{"id":"b","action":"block","matchType":"explicit"},{"id":"c","action":"permit","matchType":"explicit"}]}`))
	var deleted []string
	mt.RegisterResponder("POST", "https://mock.test"+pathDeleteManaged, func(r *http.Request) (*http.Response, error) {
		var body struct {
			Data []struct{ ID string } `json:"data"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		for _, d := range body.Data {
			deleted = append(deleted, d.ID)
		}
		return jsonResponder(200, `{"meta":{"status":200},"data":[],"fail":[]}`)(r)
	})
	p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: time.Now}
	res, err := p.Retract(t.Context(), target(TargetManagedBlock), []ioc.Indicator{{Type: ioc.TypeURL, Value: "https://evil.example/"}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	assert.Equal(t, []string{"a", "b"}, deleted)
}

// W14: hashes are validated before sending: hex only, 32 digits for md5, 64 for
// sha256; anything else is rejected locally.
func TestW14HashValidationBeforePush(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	sha1 := strings.Repeat("ab", 20)
	in := []ioc.Indicator{
		{Type: ioc.TypeMD5, Value: sha1},
		{Type: ioc.TypeMD5, Value: sha256A},
		{Type: ioc.TypeSHA256, Value: md5A},
		{Type: ioc.TypeSHA256, Value: "zz" + sha256A[2:]},
		{Type: ioc.TypeURL, Value: "https://x.example/"},
		{Type: ioc.TypeMD5, Value: strings.ToUpper(md5A)},
	}
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	require.Len(t, res.Rejected, 5)
	for i, r := range res.Rejected {
		assert.Equal(t, in[i].Value, r.Value)
		assert.False(t, r.Retryable)
		assert.NotEmpty(t, r.Reason)
	}
	assert.Equal(t, "unsupported_type", res.Rejected[4].Code)
	bodies := requestBodies(t, s, mimecasttest.PathCreateBatch)
	require.Len(t, bodies, 1)
	list := bodies[0]["hashList"].([]any)
	require.Len(t, list, 1, "only the valid hash is sent")
	assert.Equal(t, md5A, list[0].(map[string]any)["hash"], "normalised to lower case")

	s.ClearRequests()
	res, err = p.Push(t.Context(), target(TargetBlock), in[:1])
	require.NoError(t, err)
	assert.Len(t, res.Rejected, 1)
	assert.Equal(t, 0, s.Count(mimecasttest.PathCreateBatch), "nothing valid, nothing sent")
}

// W15: start and end are explicit UTC RFC 3339, whatever the clock's zone.
func TestW15TimesAreUTC(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("IST", 5*3600+1800)
	clock := newFakeClock()
	local := func() time.Time { return clock.Now().In(zone) }
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithClickLogs(10))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareCustomer, FeedMalsite}
	_, err := pullAll(t, newTestPlugin(t, s, cfg, local), nil)
	require.NoError(t, err)
	feed := requestBodies(t, s, mimecasttest.PathGetFeed)[0]
	logs := requestBodies(t, s, mimecasttest.PathGetLogs)[0]
	for _, v := range []any{feed["start"], feed["end"], logs["from"], logs["to"]} {
		s, _ := v.(string)
		assert.True(t, strings.HasSuffix(s, "Z"), "%q", s)
		_, err := time.Parse(time.RFC3339, s)
		assert.NoError(t, err)
	}
	assert.Equal(t, "2026-05-01T12:00:00Z", feed["end"])
}

// W16: Mimecast's retryable flag reaches Rejected.Retryable, and a create-batch
// retried after a 5xx applies each hash once (the operation sets per-hash state).
func TestW16RetryableFlagAndIdempotentRetry(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathCreateBatch, jsonResponder(200, `{"meta":{"status":200},
	 "data":[{"batchIdToken":"b","hashCount":1}],
	 "fail":[{"key":{"hash":"`+md5A+`"},"errors":[{"code":"err_busy","message":"try later","retryable":true}]},
	         {"key":{"hash":"`+sha256B+`"},"errors":[{"code":"err_invalid_hash","message":"Invalid hash","retryable":false}]}]}`))
	p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: time.Now}
	res, err := p.Push(t.Context(), target(TargetAllow), []ioc.Indicator{
		{Type: ioc.TypeMD5, Value: md5A}, {Type: ioc.TypeSHA256, Value: sha256B}, {Type: ioc.TypeSHA256, Value: sha256A},
	})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	assert.Equal(t, []cte.Rejected{
		{Value: md5A, Reason: "try later", Code: "err_busy", Retryable: true},
		{Value: sha256B, Reason: "Invalid hash", Code: "err_invalid_hash", Retryable: false},
	}, res.Rejected)

	s := mimecasttest.NewServer(t)
	sp := newTestPlugin(t, s, hmacConfig(s), time.Now)
	s.ServerError(mimecasttest.PathCreateBatch, 1, 502)
	in := sha256s(10)
	res, err = sp.Push(t.Context(), target(TargetBlock), in)
	require.NoError(t, err)
	assert.Equal(t, 10, res.Applied)
	assert.Empty(t, res.Rejected)
	assert.Equal(t, 2, s.Count(mimecasttest.PathCreateBatch))
	assert.Len(t, s.Hashes(), 10)
}

var _ = errors.New
var _ = context.Background
