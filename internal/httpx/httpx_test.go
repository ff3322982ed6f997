package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
)

// script is a RoundTripper that answers from a list and records every attempt.
type script struct {
	mu      sync.Mutex
	answers []func(*http.Request) (*http.Response, error)
	times   []time.Time
	bodies  []string
	headers []http.Header
}

func (s *script) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
	}
	s.bodies = append(s.bodies, string(b))
	s.headers = append(s.headers, req.Header.Clone())
	s.times = append(s.times, time.Now())
	i := len(s.times) - 1
	if i >= len(s.answers) {
		i = len(s.answers) - 1
	}
	return s.answers[i](req)
}

func (s *script) attempts() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.times) }

func status(code int, hdr ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(http.StatusText(code))), Request: req}, nil
	}
}

func connErr(req *http.Request) (*http.Response, error) {
	return nil, errors.New("connection reset by peer")
}

func post(t *testing.T, ctx context.Context, c *Client, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://api.example.com/x?token=SECRET", strings.NewReader(body))
	require.NoError(t, err)
	return c.Do(req)
}

func TestRetryHonoursServerWaits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		hdr  []string
		want time.Duration
	}{
		{"Retry-After seconds", []string{"Retry-After", "7"}, 7 * time.Second},
		{"a product header read by Options.ServerWait", []string{"X-Product-Reset", "1500"}, 1500 * time.Millisecond},
		{"RateLimit-Reset seconds (IETF draft)", []string{"RateLimit-Reset", "3"}, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: []func(*http.Request) (*http.Response, error){status(429, tc.hdr...), status(200)}}
				c := New(Options{Transport: s, ServerWait: productWait})
				resp, err := post(t, t.Context(), c, "payload")
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
				require.Equal(t, 2, s.attempts())
				assert.Equal(t, tc.want, s.times[1].Sub(s.times[0]))
				assert.Equal(t, []string{"payload", "payload"}, s.bodies, "the body is resent on every attempt")
			})
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(503, "Retry-After", at), status(200)}}
		resp, err := post(t, t.Context(), New(Options{Transport: s}), "")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 90*time.Second, s.times[1].Sub(s.times[0]))
	})
}

func TestLongServerWaitFailsFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "3600")}}
		c := New(Options{Transport: s, MaxWait: time.Minute})
		start := time.Now()
		resp, err := post(t, t.Context(), c, "")
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err)
		assert.ErrorIs(t, err, cte.ErrRateLimited)
		var rl *cte.RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, time.Hour, rl.Wait)
		assert.Equal(t, "HTTP 429", rl.Reason)
		wait, ok := cte.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, time.Hour, wait, "the contract carries the wait")
		assert.Equal(t, 1, s.attempts())
		assert.Zero(t, time.Since(start), "no waiting before failing")
		assert.Contains(t, err.Error(), "wait 1h0m0s")
	})
}

func TestRetriesConnectionErrorsAnd5xxButNot501Or4xx(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		answers  []func(*http.Request) (*http.Response, error)
		attempts int
		status   int
	}{
		{"conn error then ok", []func(*http.Request) (*http.Response, error){connErr, status(200)}, 2, 200},
		{"502 503 then ok", []func(*http.Request) (*http.Response, error){status(502), status(503), status(200)}, 3, 200},
		{"501 not retried", []func(*http.Request) (*http.Response, error){status(501), status(200)}, 1, 501},
		{"400 not retried", []func(*http.Request) (*http.Response, error){status(400), status(200)}, 1, 400},
		{"401 not retried", []func(*http.Request) (*http.Response, error){status(401), status(200)}, 1, 401},
		{"500 until retries are spent", []func(*http.Request) (*http.Response, error){status(500)}, 3, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: tc.answers}
				resp, err := post(t, t.Context(), New(Options{Transport: s, RetryMax: 2}), "")
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Equal(t, tc.attempts, s.attempts())
				body, _ := io.ReadAll(resp.Body)
				assert.Equal(t, http.StatusText(tc.status), string(body), "the last answer reaches the caller unread")
			})
		})
	}
}

func TestConnectionErrorsSpentKeepNoTokenInError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){connErr}}
		_, err := post(t, t.Context(), New(Options{Transport: s, RetryMax: 1}), "")
		require.Error(t, err)
		assert.Equal(t, 2, s.attempts())
		assert.NotContains(t, err.Error(), "SECRET")
		assert.Contains(t, err.Error(), "connection reset by peer")
		assert.Contains(t, err.Error(), "token=redacted")
	})
}

func TestCancelledContextIsNotRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := &script{answers: []func(*http.Request) (*http.Response, error){func(r *http.Request) (*http.Response, error) {
			cancel()
			return nil, r.Context().Err()
		}}}
		_, err := post(t, ctx, New(Options{Transport: s}), "")
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, s.attempts())
	})
}

func TestCancelDuringBackoffStopsWaiting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(503, "Retry-After", "60")}}
		go func() {
			time.Sleep(10 * time.Second) // fake time inside the bubble
			cancel()
		}()
		start := time.Now()
		_, err := post(t, ctx, New(Options{Transport: s}), "")
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 10*time.Second, time.Since(start))
		assert.Equal(t, 1, s.attempts())
	})
}

func TestBackoffIsBoundedAndGrows(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	for attempt := range 40 {
		d := c.backoff(time.Second, 30*time.Second, attempt, nil)
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 30*time.Second)
	}
	for range 50 {
		assert.LessOrEqual(t, c.backoff(time.Second, time.Minute, 1, nil), 2*time.Second)
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"9"}}}
	assert.Equal(t, 9*time.Second, c.backoff(time.Second, 2*time.Second, 0, resp), "a server wait beats the backoff cap")
}

func TestServerWaitIgnoresGarbage(t *testing.T) {
	t.Parallel()
	for _, h := range []http.Header{
		{},
		{"Retry-After": {"soon"}},
		{"Retry-After": {"-3"}},
		{"X-Product-Reset": {"x"}},
	} {
		_, ok := New(Options{ServerWait: productWait}).ServerWait(&http.Response{StatusCode: 429, Header: h})
		assert.False(t, ok, "%v", h)
	}
	_, ok := New(Options{}).ServerWait(&http.Response{StatusCode: 200, Header: http.Header{"Ratelimit-Reset": {"5"}}})
	assert.False(t, ok, "RateLimit-Reset on a success is pacing, not a retry wait")
}

func TestRateLimitOnlyFor429WithAWait(t *testing.T) {
	t.Parallel()
	c := New(Options{ServerWait: productWait})
	rl := c.RateLimit(&http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}})
	require.NotNil(t, rl)
	assert.Equal(t, 7*time.Second, rl.Wait)
	assert.Equal(t, "HTTP 429", rl.Reason)
	assert.Nil(t, c.RateLimit(&http.Response{StatusCode: 429, Header: http.Header{}}), "a 429 that asks for no wait")
	assert.Nil(t, c.RateLimit(&http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"7"}}}), "not a 429")
}

func TestUserAgentAndCallerRequestUntouched(t *testing.T) {
	t.Parallel()
	s := &script{answers: []func(*http.Request) (*http.Response, error){status(200)}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://api.example.com/", nil)
	require.NoError(t, err)
	resp, err := New(Options{Transport: s, Version: "1.2.3"}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "cte/1.2.3", s.headers[0].Get("User-Agent"))
	assert.Empty(t, req.Header.Get("User-Agent"), "the caller's request is not mutated")
}

func TestStandardClientRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(503), status(200)}}
		hc := New(Options{Transport: s}).StandardClient()
		resp, err := hc.Get("https://api.example.com/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, 2, s.attempts())
	})
}

func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	ok := []string{"https://us-api.mimecast.com", "http://127.0.0.1:8080", "http://[::1]:9/", "http://localhost:1", "http://127.3.4.5"}
	for _, raw := range ok {
		_, err := CheckBaseURL(raw)
		assert.NoError(t, err, raw)
	}
	bad := map[string]string{
		"http://acme.goskope.com":        "uses plain http: use https",
		"ftp://x.example.com":            "not an absolute https URL",
		"acme.goskope.com":               "not an absolute https URL",
		"":                               "not an absolute https URL",
		"https://user:pw@x.example.com/": "must not carry a user name or password",
		"http://10.0.0.1":                "uses plain http",
	}
	for raw, want := range bad {
		_, err := CheckBaseURL(raw)
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
		assert.NotContains(t, err.Error(), "pw@", "credentials never echoed")
	}
}

func TestReadBodyLimits(t *testing.T) {
	t.Parallel()
	b, err := ReadBody(strings.NewReader("12345"), 5)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(b))
	_, err = ReadBody(strings.NewReader("123456"), 5)
	assert.ErrorIs(t, err, ErrBodyTooLarge)
	big := bytes.Repeat([]byte("x"), ErrorBodyLimit+10)
	assert.Len(t, ReadErrorBody(bytes.NewReader(big)), ErrorBodyLimit)
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://bob:hunter2@t.example.com/api/v1/x?token=abc123&name=list&client_secret=zz")
	got := redactURL(u)
	for _, secret := range []string{"abc123", "hunter2", "zz"} {
		assert.NotContains(t, got, secret)
	}
	assert.Contains(t, got, "name=list")
}

func TestRetryLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := &script{answers: []func(*http.Request) (*http.Response, error){connErr, status(503), status(200)}}
		resp, err := post(t, t.Context(), New(Options{Transport: s, Logger: log}), "")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Contains(t, buf.String(), "http: retrying")
		assert.Contains(t, buf.String(), `wait="up to 500ms"`, "the line says how long it waits")
		assert.Equal(t, 1, strings.Count(buf.String(), "level=WARN"), "the first retry at Warn, later ones at Debug")
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			assert.Equal(t, 1, strings.Count(line, "api.example.com"), "the URL once per line: %s", line)
		}
		assert.NotContains(t, buf.String(), "SECRET")
	})
}

func TestPacerWaitsForWindowReset(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){
			status(200, "RateLimit-Remaining", "0", "RateLimit-Reset", "4"),
			status(200, "RateLimit-Remaining", "9", "RateLimit-Reset", "60"),
			status(200),
		}}
		hc := &http.Client{Transport: NewPacer(s, nil)}
		for range 3 {
			resp, err := hc.Get("https://t.example.com/")
			require.NoError(t, err)
			resp.Body.Close()
		}
		assert.Equal(t, 4*time.Second, s.times[1].Sub(s.times[0]), "waits out the window after Remaining 0")
		assert.Zero(t, s.times[2].Sub(s.times[1]), "no wait while budget remains")
	})
}

func TestPacerStopsOnCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(200, "RateLimit-Remaining", "0", "RateLimit-Reset", "100")}}
		p := NewPacer(s, nil)
		req, _ := http.NewRequest(http.MethodGet, "https://t.example.com/", nil)
		resp, err := p.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://t.example.com/", nil)
		_, err = p.RoundTrip(req2)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, s.attempts())
	})
}

func TestRedirectToAnotherHostIsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	var other, same, first int
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other++ }))
	defer evil.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			first++
			http.Redirect(w, r, evil.URL+"/steal", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/there", http.StatusFound)
		case "/there":
			same++
		}
	}))
	defer srv.Close()
	c := New(Options{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/away", strings.NewReader("token=s3cret"))
	req.Header.Set("Authorization", "MC key:sig")
	_, err := c.Do(req)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRedirect)
	assert.Contains(t, err.Error(), "check the configured URL")
	assert.Equal(t, 0, other, "nothing reaches the other host")
	assert.Equal(t, 1, first, "a refused redirect is not retried")

	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/here", nil)
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 1, same, "redirects within the host are followed")
}

// A reader past its limit fails naming the limit, after handing on exactly the
// bytes up to it; the bytes beyond are never read into memory.
func TestLimitBodyNamesTheLimit(t *testing.T) {
	t.Parallel()
	r := LimitBody(strings.NewReader(strings.Repeat("x", 10<<20)), 1<<20)
	n, err := io.Copy(io.Discard, r)
	require.ErrorIs(t, err, ErrBodyTooLarge)
	assert.Equal(t, int64(1<<20), n)
	assert.ErrorContains(t, err, "more than 1048576 bytes (1 MiB)")
	_, err = r.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrBodyTooLarge, "and keeps failing")
}

// productWait reads a product's own reset header, in milliseconds.
func productWait(resp *http.Response) (time.Duration, bool) {
	n, err := strconv.ParseInt(resp.Header.Get("X-Product-Reset"), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// Issue 12 items 10 and 13: what cannot heal is not retried (a name that does not
// resolve, a certificate that does not verify); an attempt without an answer
// times out and is retried once; retrying stops at MaxRetryTime; giving up is one
// Error line.
func TestRetryJudgesFailures(t *testing.T) {
	t.Parallel()
	dnsErr := func(*http.Request) (*http.Response, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "nope.example", IsNotFound: true}
	}
	tlsErr := func(*http.Request) (*http.Response, error) {
		return nil, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	}
	for name, answer := range map[string]func(*http.Request) (*http.Response, error){"dns": dnsErr, "tls": tlsErr} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := &script{answers: []func(*http.Request) (*http.Response, error){answer}}
			_, err := post(t, t.Context(), New(Options{Transport: s}), "")
			require.Error(t, err)
			assert.Equal(t, 1, s.attempts(), "not retried")
		})
	}
	t.Run("a slow answer times out and is retried once", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var buf syncBuf
			slow := func(r *http.Request) (*http.Response, error) {
				select {
				case <-r.Context().Done():
					return nil, r.Context().Err()
				case <-time.After(65 * time.Second):
					return status(200)(r)
				}
			}
			s := &script{answers: []func(*http.Request) (*http.Response, error){slow}}
			log := slog.New(slog.NewTextHandler(&buf, nil))
			start := time.Now()
			_, err := post(t, t.Context(), New(Options{Transport: s, Logger: log, AttemptTimeout: 20 * time.Second, WaitMin: time.Second, WaitMax: time.Second}), "")
			require.ErrorIs(t, err, errAttemptTimeout)
			assert.ErrorContains(t, err, "nothing for 20s from api.example.com")
			assert.Equal(t, 2, s.attempts())
			assert.Equal(t, 41*time.Second, time.Since(start))
			assert.Equal(t, 1, strings.Count(buf.String(), "level=ERROR"), "%s", buf.String())
			assert.Contains(t, buf.String(), "giving up")
		})
	})
	t.Run("no retry starts after MaxRetryTime", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := &script{answers: []func(*http.Request) (*http.Response, error){status(503, "Retry-After", "40")}}
			resp, err := post(t, t.Context(), New(Options{Transport: s, RetryMax: 10, MaxRetryTime: time.Minute}), "")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, 3, s.attempts(), "at 0s, 40s and 80s; none after a minute")
		})
	})
	t.Run("quick: connection errors are not retried", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(*http.Request) (*http.Response, error){connErr}}
		_, err := post(t, Quick(t.Context()), New(Options{Transport: s}), "")
		require.Error(t, err)
		assert.Equal(t, 1, s.attempts())
	})
}

// A body that stops arriving fails the read after AttemptTimeout.
func TestStalledBodyTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		s := &script{answers: []func(*http.Request) (*http.Response, error){func(r *http.Request) (*http.Response, error) {
			go func() {
				<-r.Context().Done()
				pw.CloseWithError(r.Context().Err())
			}()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: pr, Request: r}, nil
		}}}
		resp, err := post(t, t.Context(), New(Options{Transport: s, AttemptTimeout: 10 * time.Second}), "")
		require.NoError(t, err)
		defer resp.Body.Close()
		start := time.Now()
		_, err = io.ReadAll(resp.Body)
		require.ErrorIs(t, err, errAttemptTimeout)
		assert.Equal(t, 10*time.Second, time.Since(start))
	})
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// WithRetry sets every retry setting from a cte.Retry and nothing else.
func TestOptionsWithRetry(t *testing.T) {
	r := cte.Retry{Max: 3, WaitMin: time.Second, WaitMax: 2 * time.Second, MaxWait: 3 * time.Second,
		AttemptTimeout: 4 * time.Second, MaxRetryTime: 5 * time.Second}
	got := Options{Version: "v"}.WithRetry(r)
	assert.Equal(t, Options{Version: "v", RetryMax: 3, WaitMin: time.Second, WaitMax: 2 * time.Second, MaxWait: 3 * time.Second,
		AttemptTimeout: 4 * time.Second, MaxRetryTime: 5 * time.Second}, got)
}

// drain is a RoundTripper that reads every request body without keeping it.
type drain struct{ n int64 }

func (d *drain) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		n, _ := io.Copy(io.Discard, req.Body)
		d.n += n
	}
	return status(200)(req)
}

// TestLargeBodyIsNotCopied: an in-memory body (one http.NewRequest can
// rewind) is sent from the caller's bytes, not read into a buffer first.
func TestLargeBodyIsNotCopied(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	d := &drain{}
	c := New(Options{Transport: d})
	send := func() {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.example.com/x", bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	send()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send()
	runtime.ReadMemStats(&after)
	assert.Equal(t, int64(2*len(body)), d.n, "sent whole each time")
	t.Logf("%d bytes allocated to send a %d-byte body", after.TotalAlloc-before.TotalAlloc, len(body))
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(len(body)/4), "bytes allocated to send a 4 MiB body")
}

// onlyReader hides every method of a body but Read: it cannot be rewound.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestBodyWithoutGetBodyIsResent: a body http.NewRequest cannot rewind is
// buffered, and every attempt sends it whole.
func TestBodyWithoutGetBodyIsResent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []func(*http.Request) (*http.Response, error){status(503), status(200)}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.example.com/x", onlyReader{strings.NewReader("payload")})
		require.NoError(t, err)
		require.Nil(t, req.GetBody)
		resp, err := New(Options{Transport: s}).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, []string{"payload", "payload"}, s.bodies)
	})
}

// TestRetriedBodyIsEachAttemptsOwn: a server answers the first attempt 503
// before reading its 4 MiB body, so the transport may still be sending it
// when the retry starts: each attempt reads a body of its own (one body
// rewound for both was read and rewound at once, which go test -race
// reported), the retry arrives whole, with its Content-Length, not chunked.
func TestRetriedBodyIsEachAttemptsOwn(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	var mu sync.Mutex
	attempts, got, lengths := 0, 0, []int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		first := attempts == 1
		lengths = append(lengths, r.ContentLength)
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable) // before reading the body
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = int(n)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	c := New(Options{RetryMax: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, attempts)
	assert.Equal(t, len(body), got, "the retry is sent whole")
	assert.Equal(t, []int64{int64(len(body)), int64(len(body))}, lengths, "with its Content-Length")
}

// TestAtMostOnce: a request that must not reach the product twice is
// retried after a 429 (refused before it acted) but not after a 502 or a
// 503, which it may have acted on; without AtMostOnce both are retried.
func TestAtMostOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		once     bool
		attempts int
	}{
		{http.StatusTooManyRequests, true, 2},
		{http.StatusBadGateway, true, 1},
		{http.StatusServiceUnavailable, true, 1},
		{http.StatusBadGateway, false, 2},
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.WriteHeader(tc.status)
			}
		}))
		c := New(Options{RetryMax: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond})
		ctx := t.Context()
		if tc.once {
			ctx = AtMostOnce(ctx)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		assert.Equal(t, int32(tc.attempts), n.Load(), "%d once=%v", tc.status, tc.once)
		srv.Close()
	}
}

// neverConnected fails its first round trip as a connection that could not
// be made, then answers 200.
type neverConnected struct{ n atomic.Int32 }

func (c *neverConnected) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.n.Add(1) == 1 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
}

// TestAtMostOnceRetriesWhatNeverLeft: a request that must not reach the
// product twice is still retried when its connection could not be made: it
// never reached the product.
func TestAtMostOnceRetriesWhatNeverLeft(t *testing.T) {
	t.Parallel()
	tr := &neverConnected{}
	c := New(Options{Transport: tr, RetryMax: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond})
	req, err := http.NewRequestWithContext(AtMostOnce(t.Context()), http.MethodGet, "https://api.example.com/x", nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int32(2), tr.n.Load())
}
