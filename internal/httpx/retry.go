package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctexchange/cte"
)

// attempt is the retry state of one Do call.
type attempt struct {
	mu       sync.Mutex
	method   string
	url      string // redacted
	start    time.Time
	n        int // attempts made
	timeouts int
	quick    bool
	once     bool // at most once (AtMostOnce)
}

type attemptKey struct{}

type quickKey struct{}

type onceKey struct{}

// AtMostOnce returns a context whose requests are retried only when they
// surely did not reach the product: a 429 (refused before it acts) or a
// connection that could not be made. A request that moves a cursor on the
// product's side (Netskope's "next") must not be sent twice: when the
// product acted on it and its answer was lost (a 502 from a gateway, a
// broken connection, a timeout), the second would read the page after, and
// the one answered to the first would be lost. The caller gets the error and
// recovers as the product allows (Netskope: "resend" on the next pull).
func AtMostOnce(ctx context.Context) context.Context { return context.WithValue(ctx, onceKey{}, true) }

// Quick returns a context whose requests do not retry connection failures and
// time out after 10 seconds without an answer: for checks such as a plugin's
// Validate, which should say at once that a host cannot be reached.
func Quick(ctx context.Context) context.Context { return context.WithValue(ctx, quickKey{}, true) }

// checkRetry decides whether to try again and logs the decision.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st, _ := ctx.Value(attemptKey{}).(*attempt)
	if st == nil {
		st = &attempt{start: time.Now()}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.n++
	why, retry, rerr := c.judge(st, resp, err)
	if retry && st.once && !surelyNotSent(resp, err) {
		retry = false
	}
	if retry && (st.n > c.o.RetryMax || time.Since(st.start) >= c.o.MaxRetryTime) {
		retry = false
	}
	if !retry {
		if why != "" && st.n > 1 {
			c.log.Error("http: giving up", "method", st.method, "url", st.url, "attempts", st.n, "elapsed", time.Since(st.start).Round(time.Millisecond), "last", why)
		}
		return false, rerr
	}
	level := slog.LevelDebug
	if st.n == 1 {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "http: retrying", "method", st.method, "url", st.url, "attempt", st.n+1, "of", c.o.RetryMax+1,
		"after", why, "wait", c.waitText(st.n, resp))
	return true, nil
}

// surelyNotSent reports whether a failed attempt surely did not reach the
// product: it answered 429, or no connection was made.
func surelyNotSent(resp *http.Response, err error) bool {
	if err == nil {
		return resp != nil && resp.StatusCode == http.StatusTooManyRequests
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// judge says what failed and whether it may heal by retrying.
func (c *Client) judge(st *attempt, resp *http.Response, err error) (why string, retry bool, _ error) {
	if err != nil {
		why = err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			why = ue.Err.Error() // the URL is logged once, redacted, beside
		}
		var dns *net.DNSError
		var tv *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		var he x509.HostnameError
		var ci x509.CertificateInvalidError
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, ErrRedirect):
			return why, false, err
		case errors.As(err, &dns) && dns.IsNotFound:
			return why, false, err // the name does not resolve: retrying cannot help
		case errors.As(err, &tv), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
			return why, false, err // TLS trust problems do not heal by retrying
		case errors.Is(err, errAttemptTimeout):
			st.timeouts++
			return why, st.timeouts <= 1 && !st.quick, nil
		}
		return why, !st.quick, nil
	}
	if !retryable(resp.StatusCode) {
		return "", false, nil
	}
	why = "HTTP " + strconv.Itoa(resp.StatusCode)
	if wait, ok := c.serverWait(resp, time.Now()); ok && wait > c.o.MaxWait {
		return why, false, &cte.RateLimitError{Wait: wait, Reason: why}
	}
	return why, true, nil
}

// retryable reports whether an HTTP status is worth retrying: 429 and 5xx but 501.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
}

// backoff is the retryablehttp.Backoff: the server-requested wait when there is
// one, else exponential backoff with full jitter between lo and hi.
func (c *Client) backoff(lo, hi time.Duration, attemptNum int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := c.serverWait(resp, time.Now()); ok {
			return wait
		}
	}
	ceil := backoffCeil(lo, hi, attemptNum)
	return max(time.Duration(float64(lo)+rand.Float64()*(ceil-float64(lo))), lo)
}

// backoffCeil is the longest backoff after attempt n (counted from 0, as
// retryablehttp does): lo doubled n times, at most hi.
func backoffCeil(lo, hi time.Duration, n int) float64 {
	return min(float64(lo)*float64(uint64(1)<<min(n, 30)), float64(hi))
}

// waitText says how long the retry after attempt n waits: what the server asked
// for, or the bound of the backoff.
func (c *Client) waitText(n int, resp *http.Response) string {
	if resp != nil {
		if wait, ok := c.serverWait(resp, time.Now()); ok {
			return wait.String() + ", as the server asked"
		}
	}
	ceil := backoffCeil(c.o.WaitMin, c.o.WaitMax, n-1) // retryablehttp counts attempts from 0
	return "up to " + time.Duration(ceil).Round(time.Millisecond).String()
}

// serverWait reads how long the server asked us to wait: Retry-After (seconds or
// an HTTP date), then the client's ServerWait, then RateLimit-Reset (seconds) on
// a 429. It reports false when the response asks for nothing.
func (c *Client) serverWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	h := resp.Header
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if c.o.ServerWait != nil {
		if d, ok := c.o.ServerWait(resp); ok {
			return d, true
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" && resp.StatusCode == http.StatusTooManyRequests {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// ServerWait is the wait the client would honour for resp: what its server asked
// for (see serverWait). Clients use it to tell a host how long a 429 asked to wait.
func (c *Client) ServerWait(resp *http.Response) (time.Duration, bool) {
	return c.serverWait(resp, time.Now())
}

// RateLimit returns what a 429 answer that Do gave back (its retries spent)
// tells a host: a *cte.RateLimitError with the wait the server asked for, so
// the host holds its calls until then. It returns nil for any other status and
// for a 429 that asks for no wait.
func (c *Client) RateLimit(resp *http.Response) *cte.RateLimitError {
	if resp.StatusCode != http.StatusTooManyRequests {
		return nil
	}
	wait, ok := c.ServerWait(resp)
	if !ok {
		return nil
	}
	return &cte.RateLimitError{Wait: wait, Reason: "HTTP 429"}
}

// errAttemptTimeout is the cause of an attempt that went without news for
// AttemptTimeout.
var errAttemptTimeout = errors.New("no answer in time")

// attemptTimeout cancels an attempt that gets no headers, or no body bytes
// between two reads, for d. The timer does not run while the caller holds the
// body without reading, e.g. to store what it parsed.
type attemptTimeout struct {
	next http.RoundTripper
	d    time.Duration
}

func (t attemptTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	d := t.d
	if q, _ := req.Context().Value(quickKey{}).(bool); q {
		d = min(d, 10*time.Second)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	cause := fmt.Errorf("%w: nothing for %s from %s", errAttemptTimeout, d, req.URL.Host)
	timer := time.AfterFunc(d, func() { cancel(cause) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel(nil)
		return nil, cause
	}
	if err != nil {
		cancel(nil)
		return resp, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, timer: timer, d: d, cancel: cancel, cause: cause, ctx: ctx}
	return resp, nil
}

type timedBody struct {
	io.ReadCloser
	timer  *time.Timer
	d      time.Duration
	cancel context.CancelCauseFunc
	cause  error
	ctx    context.Context
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && context.Cause(b.ctx) == b.cause {
		err = b.cause
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}
