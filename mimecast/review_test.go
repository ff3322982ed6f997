package mimecast

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// feedStarts answers get-feed with body and records the start of every request.
func feedStarts(mt *httpmock.MockTransport, body string) func() []string {
	var mu sync.Mutex
	var starts []string
	mt.RegisterResponder("POST", "https://mock.test"+pathGetFeed, func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Data []struct {
				Start string `json:"start"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &req)
		mu.Lock()
		if len(req.Data) > 0 {
			starts = append(starts, req.Data[0].Start)
		}
		mu.Unlock()
		return httpmock.NewStringResponse(200, body), nil
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), starts...)
	}
}

// A feed row stamped after the pull's end (Mimecast's clock ahead of ours by more
// than the overlap, or a file holding rows past end) must not push the checkpoint
// past the window: the next pull would start at its own "now" and never ask for
// the events stamped between the two pulls.
func TestPullFutureTimestampDoesNotSkipTheNextWindow(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	c, mt := mockClient(t, mockHMAC())
	p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: clock.Now}
	p.cfg.FeedTypes = []string{FeedMalwareCustomer}
	ahead := clock.Now().Add(3 * time.Hour).Format(time.RFC3339)
	starts := feedStarts(mt, "Timestamp|MD5\n"+ahead+"|"+md5A+"\n")

	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	require.Len(t, pages, 1)
	firstEnd := clock.Now()

	clock.Add(30 * time.Minute)
	_, err = pullAll(t, p, pages[0].Next)
	require.NoError(t, err)
	got := starts()
	require.Len(t, got, 2)
	start, err := time.Parse(time.RFC3339, got[1])
	require.NoError(t, err)
	assert.False(t, start.After(firstEnd), "the second pull starts at %s, after the first pull's end %s: events stamped in between are never asked for", got[1], firstEnd.Format(time.RFC3339))
}

// A checkpoint already in the future (stored before the cap) resumes from now minus
// the overlap, not from now.
func TestPullFutureCheckpointResumesWithOverlap(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	c, mt := mockClient(t, mockHMAC())
	p := &Plugin{c: c, cfg: c.cfg, log: c.log, now: clock.Now}
	p.cfg.FeedTypes = []string{FeedMalwareCustomer}
	starts := feedStarts(mt, "Timestamp|MD5\n")
	future := checkpoint{V: 1, Feeds: map[string]time.Time{FeedMalwareCustomer: clock.Now().Add(3 * time.Hour)}}
	_, err := pullAll(t, p, future.encode())
	require.NoError(t, err)
	assert.Equal(t, []string{clock.Now().Add(-DefaultOverlap).Format(time.RFC3339)}, starts())
}

// A redirect to another host must not carry credentials there: net/http follows it
// through the signer (which signs it, access key included) and resends the token
// request's form body, client secret included, on a 307.
func TestRedirectToAnotherHostCarriesNoCredentials(t *testing.T) {
	t.Parallel()
	redirect := func(status int, to string) httpmock.Responder {
		return func(*http.Request) (*http.Response, error) {
			resp := httpmock.NewStringResponse(status, "")
			resp.Header.Set("Location", to)
			return resp, nil
		}
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		path   string
		status int
		secret string
	}{
		{"hmac", mockHMAC(), pathGetAccount, http.StatusFound, string(vecAccessKey)},
		{"oauth token", mockOAuth(), "/oauth/token", http.StatusTemporaryRedirect, "top-secret-client-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(t, tc.cfg)
			mt.RegisterResponder("POST", "https://mock.test"+tc.path, redirect(tc.status, "https://elsewhere.example"+tc.path))
			var mu sync.Mutex
			var seen []string
			other := func(r *http.Request) (*http.Response, error) {
				var b []byte
				if r.Body != nil {
					b, _ = io.ReadAll(r.Body)
				}
				mu.Lock()
				seen = append(seen, r.Header.Get("Authorization")+" "+string(b))
				mu.Unlock()
				return httpmock.NewStringResponse(200, accountOK), nil
			}
			mt.RegisterResponder("POST", "https://elsewhere.example"+tc.path, other)
			mt.RegisterResponder("GET", "https://elsewhere.example"+tc.path, other)
			_, err := c.GetAccount(t.Context())
			require.Error(t, err, "a redirect to another host is not followed")
			assert.Contains(t, err.Error(), "base_url")
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				assert.NotContains(t, s, tc.secret)
			}
			assert.Empty(t, seen, "nothing reached the other host")
		})
	}
}

// Validate's error names the key to check when the base URL is wrong: a host that
// does not answer, or answers 404 for the API path (not Mimecast's API host).
func TestValidateWrongBaseURLSaysCheckBaseURL(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]httpmock.Responder{
		"404":         httpmock.NewStringResponder(404, "<html>Not Found</html>"),
		"unreachable": httpmock.NewErrorResponder(errors.New("dial tcp: lookup mock.test: no such host")),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, mt := mockPlugin(t, mockHMAC())
			mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, r)
			err := p.Validate(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "check base_url")
			assert.Contains(t, err.Error(), "https://mock.test")
			assert.NotErrorIs(t, err, cte.ErrAuth)
		})
	}
}

// Mimecast answers "already exists" for a URL it holds with the other action (the
// managed URL is keyed by URL and match type). Counting that as Unchanged reported a
// URL blocked while Mimecast permits it: it is rejected, saying what is there.
func TestPushManagedURLExistingWithOtherAction(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	in := []ioc.Indicator{{Type: ioc.TypeURL, Value: "https://evil.example/dl"}, {Type: ioc.TypeDomain, Value: "bad.example"}}
	res, err := p.Push(t.Context(), target(TargetManagedPermit), in)
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied)

	res, err = p.Push(t.Context(), target(TargetManagedBlock), in)
	require.NoError(t, err)
	assert.Zero(t, res.Applied+res.Unchanged, "neither is blocked")
	require.Len(t, res.Rejected, 2)
	for _, r := range res.Rejected {
		assert.Contains(t, r.Reason, "permit", r.Value)
		assert.False(t, r.Retryable, "sending it again does not change it")
	}
	for _, m := range s.ManagedURLs() {
		assert.Equal(t, "permit", m.Action)
	}

	// The same action again is Unchanged.
	res, err = p.Push(t.Context(), target(TargetManagedPermit), in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 2}, res)
}
