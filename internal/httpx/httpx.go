// Package httpx is the one HTTP stack of cte's product clients: retries with
// go-retryablehttp, server-requested waits, per-attempt timeouts, body limits,
// loopback-only plain HTTP and redaction of secrets in what we log.
//
// # Retries
//
// Redirects are followed only within the same scheme and host: a redirect
// elsewhere fails with ErrRedirect before anything is sent there, so credentials
// never leave for another host.
//
// Connection errors, 429 and 5xx answers (but 501) are retried up to RetryMax
// times, and no retry starts once MaxRetryTime has passed since the first attempt.
// What cannot heal by retrying is not retried: a host name that does not resolve,
// a certificate that does not verify, a refused redirect. An attempt that gets no
// answer for AttemptTimeout (no headers, or no body bytes between two reads) fails
// and is retried once at most: a server that is that slow twice is down.
//
// The wait is what the server asked for (Retry-After in seconds or as an HTTP date,
// RateLimit-Reset in seconds on a 429 as the IETF draft has it, or what the
// client's Options.ServerWait reads from the product's own headers) or else
// exponential backoff with jitter. A server-requested wait longer than MaxWait
// fails at once with a *cte.RateLimitError carrying the wait, so a caller never
// hangs for an hour on a quota reset and a host can hold its calls until then. A
// cancelled context is never retried. When the retries are spent, Do returns the
// last response with its body open, so the client's classifier can read the
// product's error.
//
// # Logs
//
// The first retry of a request is logged at Warn, later ones at Debug, each with
// the method, the redacted URL, the attempt and what failed; giving up after
// retrying is one Error line. Nothing else is logged here: the client that gets
// the error reports it.
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
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Defaults of Options.
const (
	DefaultRetryMax       = 4
	DefaultWaitMin        = 500 * time.Millisecond
	DefaultWaitMax        = 30 * time.Second
	DefaultMaxWait        = 5 * time.Minute
	DefaultAttemptTimeout = 30 * time.Second
	DefaultMaxRetryTime   = 2 * time.Minute
	// ErrorBodyLimit bounds what is read of an error answer.
	ErrorBodyLimit = 1 << 20
)

// Options configures a Client. The zero value is usable.
type Options struct {
	Logger    *slog.Logger      // default: discard
	Transport http.RoundTripper // under the retries; auth signers wrap the real transport here
	RetryMax  int               // retries after the first attempt; default 4, negative for none
	WaitMin   time.Duration     // backoff floor; default 500ms
	WaitMax   time.Duration     // backoff ceiling; default 30s
	MaxWait   time.Duration     // longest server-requested wait accepted; default 5m
	// AttemptTimeout is the longest an attempt may go without news: until the
	// answer's headers, and between two reads of its body. Default 30s.
	AttemptTimeout time.Duration
	// MaxRetryTime is how long after the first attempt a retry may still start.
	// Default 2m.
	MaxRetryTime time.Duration
	// Timeout bounds a whole exchange, body included, as http.Client.Timeout does;
	// 0 (the default) sets none, as a feed page may take long to read.
	Timeout time.Duration
	// ServerWait reads a wait from a product's own headers (e.g. a reset time in
	// milliseconds) for answers without Retry-After; nil reads none.
	ServerWait func(resp *http.Response) (time.Duration, bool)
	Version    string // sent as User-Agent "cte/<version>"
}

// Client sends requests with retries. Safe for concurrent use.
type Client struct {
	rc       *retryablehttp.Client
	agent    string
	o        Options
	log      *slog.Logger
	retryMax int
}

// New returns a Client.
func New(o Options) *Client {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Transport == nil {
		o.Transport = cleanhttp.DefaultPooledTransport()
	}
	if o.RetryMax == 0 {
		o.RetryMax = DefaultRetryMax
	} else if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	o.WaitMin = cmpDur(o.WaitMin, DefaultWaitMin)
	o.WaitMax = cmpDur(o.WaitMax, DefaultWaitMax)
	o.MaxWait = cmpDur(o.MaxWait, DefaultMaxWait)
	o.AttemptTimeout = cmpDur(o.AttemptTimeout, DefaultAttemptTimeout)
	o.MaxRetryTime = cmpDur(o.MaxRetryTime, DefaultMaxRetryTime)
	if o.Version == "" {
		o.Version = "dev"
	}
	c := &Client{agent: "cte/" + o.Version, o: o, log: o.Logger, retryMax: o.RetryMax}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: attemptTimeout{next: o.Transport, d: o.AttemptTimeout}, Timeout: o.Timeout, CheckRedirect: checkRedirect}
	rc.Logger = nil // checkRetry logs, once per retry, without secrets
	rc.RetryMax = o.RetryMax
	rc.RetryWaitMin = o.WaitMin
	rc.RetryWaitMax = o.WaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = c.backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.rc = rc
	return c
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// attempt is the retry state of one Do call.
type attempt struct {
	mu       sync.Mutex
	method   string
	url      string // redacted
	start    time.Time
	n        int // attempts made
	timeouts int
	quick    bool
}

type attemptKey struct{}

type quickKey struct{}

// Quick returns a context whose requests do not retry connection failures and
// time out after 10 seconds without an answer: for checks such as a plugin's
// Validate, which should say at once that a host cannot be reached.
func Quick(ctx context.Context) context.Context { return context.WithValue(ctx, quickKey{}, true) }

// Do sends req with retries. Its body is buffered so every attempt can resend it.
// The caller closes the returned response's body, also when err is not nil.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	st := &attempt{method: req.Method, url: redactURL(req.URL), start: time.Now()}
	st.quick, _ = req.Context().Value(quickKey{}).(bool)
	req = req.Clone(context.WithValue(req.Context(), attemptKey{}, st))
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.agent)
	}
	rr, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.rc.Do(rr)
	if err != nil {
		err = cleanError(req, err)
	}
	return resp, err
}

// cleanError keeps our typed errors and the context's errors matchable and removes
// the raw URL (which may carry a token) that net/http and retryablehttp put in theirs.
func cleanError(req *http.Request, err error) error {
	var rl *cte.RateLimitError
	if errors.As(err, &rl) {
		return rl
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL), cause)
}

// StandardClient returns an *http.Client whose requests go through Do.
func (c *Client) StandardClient() *http.Client {
	return &http.Client{Transport: roundTripper{c}}
}

type roundTripper struct{ c *Client }

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r.c.Do(req) }

// ErrRedirect is wrapped by the error of a request whose answer redirects to
// another host or scheme: following it would hand our credentials to that host.
var ErrRedirect = errors.New("redirect to another host refused")

// checkRedirect follows redirects only within the same scheme and host, at most 5.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("%w: %s://%s answered with a redirect to %s://%s; check the configured URL", ErrRedirect, first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
	if len(via) >= 5 {
		return fmt.Errorf("%w: more than 5 redirects from %s", ErrRedirect, first.Host)
	}
	return nil
}

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
	if retry && (st.n > c.retryMax || time.Since(st.start) >= c.o.MaxRetryTime) {
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
	c.log.Log(ctx, level, "http: retrying", "method", st.method, "url", st.url, "attempt", st.n+1, "of", c.retryMax+1,
		"after", why, "wait", c.waitText(st.n, resp))
	return true, nil
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
	ceil := float64(lo) * float64(uint64(1)<<min(attemptNum, 30))
	ceil = min(ceil, float64(hi))
	return max(time.Duration(float64(lo)+rand.Float64()*(ceil-float64(lo))), lo)
}

// waitText says how long the retry after attempt n waits: what the server asked
// for, or the bound of the backoff.
func (c *Client) waitText(n int, resp *http.Response) string {
	if resp != nil {
		if wait, ok := c.serverWait(resp, time.Now()); ok {
			return wait.String() + ", as the server asked"
		}
	}
	ceil := min(float64(c.o.WaitMin)*float64(uint64(1)<<min(n-1, 30)), float64(c.o.WaitMax)) // retryablehttp counts attempts from 0
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

// CheckBaseURL parses a product base URL. It must be absolute https; plain http is
// accepted only for a loopback host (127.0.0.0/8, ::1, localhost), so tests and
// fakes work and production never downgrades by accident.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an absolute https URL: write it like https://host.example.com", ioc.Truncate(raw, 80))
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q must not carry a user name or password: put credentials in their own fields", u.Redacted())
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%q uses plain http: use https (plain http is allowed only for loopback test servers)", u.String())
	}
	return u, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// ReadErrorBody reads at most 1 MiB of an error answer and drains nothing more.
func ReadErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, ErrorBodyLimit))
	return b
}

// ErrBodyTooLarge is wrapped by the error of a body read past its limit.
var ErrBodyTooLarge = errors.New("response body too large")

// LimitBody returns a reader of r that fails with an error wrapping
// ErrBodyTooLarge, and naming limit, once r holds more than limit bytes. Parsers
// read answers through it, so memory stays bounded by what they keep, whatever
// the server sends.
func LimitBody(r io.Reader, limit int64) io.Reader { return &limitedBody{r: r, limit: limit} }

type limitedBody struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, l.tooLarge()
	}
	if rem := l.limit - l.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n - int(l.n-l.limit), l.tooLarge()
	}
	return n, err
}

func (l *limitedBody) tooLarge() error {
	return fmt.Errorf("%w: more than %d bytes (%d MiB), the limit of one answer", ErrBodyTooLarge, l.limit, l.limit>>20)
}

// ReadBody reads a whole body of at most limit bytes, for answers small enough
// to hold (JSON envelopes); pages of a feed are parsed from LimitBody instead.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(LimitBody(r, limit))
}

// secretParams are query keys whose values are never logged.
var secretParams = []string{"token", "access_token", "api_key", "apikey", "key", "secret", "password", "client_secret", "signature", "sig"}

// redactURL returns u as a string with user info and the values of token-like query
// parameters replaced by "redacted".
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if isSecretName(k) {
				q[k] = []string{"redacted"}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

func isSecretName(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretParams {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasSuffix(k, "-"+s) {
			return true
		}
	}
	return false
}

// RedactError returns err's message with any URL in it redacted.
func RedactError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return fmt.Sprintf("%s %s: %v", ue.Op, redactURL(u), ue.Err)
		}
	}
	return err.Error()
}
