// Package httpx is the one HTTP stack of cte's product clients: retries with
// go-retryablehttp, server-requested waits, body limits, loopback-only plain HTTP and
// redaction of secrets in what we log.
//
// # Retries
//
// Redirects are followed only within the same scheme and host: a redirect
// elsewhere fails with ErrRedirect before anything is sent there, so credentials
// never leave for another host.
//
// Connection errors, 429 and 5xx answers (but 501) are retried up to RetryMax times.
// The wait is what the server asked for (Retry-After in seconds or as an HTTP date,
// X-RateLimit-Reset in milliseconds as Mimecast sends it, RateLimit-Reset in seconds
// as Netskope sends it) or else exponential backoff with jitter. A server-requested
// wait longer than MaxWait fails at once with a *RateLimitError, so a caller never
// hangs for an hour on a quota reset. A cancelled context is never retried. When the
// retries are spent, Do returns the last response with its body open, so the client's
// classifier can read the product's error.
package httpx

import (
	"context"
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
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/ctexchange/cte"
)

// Defaults of Options.
const (
	DefaultRetryMax = 4
	DefaultWaitMin  = 500 * time.Millisecond
	DefaultWaitMax  = 30 * time.Second
	DefaultMaxWait  = 5 * time.Minute
	DefaultTimeout  = 60 * time.Second
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
	Timeout   time.Duration     // per attempt; default 60s
	Version   string            // sent as User-Agent "cte/<version>"
}

// Client sends requests with retries. Safe for concurrent use.
type Client struct {
	rc      *retryablehttp.Client
	agent   string
	maxWait time.Duration
}

// New returns a Client.
func New(o Options) *Client {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Transport == nil {
		o.Transport = cleanhttp.DefaultPooledTransport()
	}
	if o.RetryMax == 0 {
		o.RetryMax = DefaultRetryMax
	} else if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	if o.WaitMin <= 0 {
		o.WaitMin = DefaultWaitMin
	}
	if o.WaitMax <= 0 {
		o.WaitMax = DefaultWaitMax
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	c := &Client{agent: "cte/" + o.Version, maxWait: o.MaxWait}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: o.Transport, Timeout: o.Timeout, CheckRedirect: checkRedirect}
	rc.Logger = leveled{o.Logger}
	rc.RetryMax = o.RetryMax
	rc.RetryWaitMin = o.WaitMin
	rc.RetryWaitMax = o.WaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = Backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.rc = rc
	return c
}

// Do sends req with retries. Its body is buffered so every attempt can resend it.
// The caller closes the returned response's body, also when err is not nil.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
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
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return fmt.Errorf("%s %s: %w", req.Method, RedactURL(req.URL), cause)
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

// RateLimitError reports that the server asked for a wait longer than we accept.
type RateLimitError struct {
	Wait   time.Duration // what the server asked for
	Status int           // the HTTP status, usually 429
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited: the server asks to wait %s (HTTP %d); try again after that", e.Wait.Round(time.Second), e.Status)
}

// Unwrap returns cte.ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return cte.ErrRateLimited }

func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return false, err
		}
		if errors.Is(err, ErrRedirect) {
			return false, err
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			var cert x509.UnknownAuthorityError
			if errors.As(ue.Err, &cert) || strings.Contains(ue.Err.Error(), "certificate") {
				return false, err // TLS trust problems do not heal by retrying
			}
		}
		return true, nil
	}
	if !Retryable(resp.StatusCode) {
		return false, nil
	}
	if wait, ok := ServerWait(resp, time.Now()); ok && wait > c.maxWait {
		return false, &RateLimitError{Wait: wait, Status: resp.StatusCode}
	}
	return true, nil
}

// Retryable reports whether an HTTP status is worth retrying: 429 and 5xx but 501.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
}

// Backoff is the retryablehttp.Backoff of our clients: the server-requested wait when
// there is one, else exponential backoff with full jitter between min and max.
func Backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := ServerWait(resp, time.Now()); ok {
			return wait
		}
	}
	ceil := float64(min) * float64(uint64(1)<<min2(attempt, 30))
	if ceil > float64(max) {
		ceil = float64(max)
	}
	d := time.Duration(float64(min) + rand.Float64()*(ceil-float64(min)))
	if d < min {
		d = min
	}
	return d
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// ServerWait reads how long the server asked us to wait: Retry-After (seconds or an
// HTTP date), X-RateLimit-Reset (milliseconds, Mimecast) or RateLimit-Reset (seconds,
// Netskope). It reports false when the response asks for nothing.
func ServerWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	h := resp.Header
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Millisecond, true
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" && resp.StatusCode == http.StatusTooManyRequests {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// CheckBaseURL parses a product base URL. It must be absolute https; plain http is
// accepted only for a loopback host (127.0.0.0/8, ::1, localhost), so tests and
// fakes work and production never downgrades by accident.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an absolute https URL: write it like https://host.example.com", truncate(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q must not carry a user name or password: put credentials in their own fields", u.Redacted())
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%q uses plain http: use https (plain http is allowed only for loopback test servers)", u.String())
	}
	return u, nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
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

// RedactURL returns u as a string with user info and the values of token-like query
// parameters replaced by "redacted".
func RedactURL(u *url.URL) string {
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

// secretHeaders are headers whose values are never logged.
var secretHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
	"Netskope-Api-Token":  true,
	"X-Mc-App-Key":        true,
	"X-Mc-Secret-Key":     true,
	"X-Api-Key":           true,
}

// RedactHeader returns a copy of h with secret-bearing values replaced by "redacted".
func RedactHeader(h http.Header) http.Header {
	out := h.Clone()
	for k := range out {
		ck := http.CanonicalHeaderKey(k)
		if secretHeaders[ck] || strings.Contains(strings.ToLower(ck), "token") || strings.Contains(strings.ToLower(ck), "secret") {
			out[k] = []string{"redacted"}
		}
	}
	return out
}

// leveled adapts slog to retryablehttp's LeveledLogger; its messages carry URLs, so
// every string value that parses as a URL is redacted.
type leveled struct{ l *slog.Logger }

func (l leveled) Error(msg string, kv ...any) { l.l.Error("http: "+msg, redactKV(kv)...) }
func (l leveled) Info(msg string, kv ...any)  { l.l.Debug("http: "+msg, redactKV(kv)...) }
func (l leveled) Debug(msg string, kv ...any) { l.l.Debug("http: "+msg, redactKV(kv)...) }
func (l leveled) Warn(msg string, kv ...any)  { l.l.Warn("http: "+msg, redactKV(kv)...) }

func redactKV(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		switch x := v.(type) {
		case *url.URL:
			out[i] = RedactURL(x)
		case string:
			out[i] = RedactText(x)
		case *http.Request:
			out[i] = x.Method + " " + RedactURL(x.URL)
		case error:
			out[i] = RedactError(x)
		default:
			out[i] = v
		}
	}
	return out
}

// RedactText returns s with every http(s) URL in it redacted as RedactURL does.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	words := strings.Fields(s)
	for i, w := range words {
		if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") {
			if u, err := url.Parse(w); err == nil {
				words[i] = RedactURL(u)
			}
		}
	}
	return strings.Join(words, " ")
}

// RedactError returns err's message with any URL in it redacted.
func RedactError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return fmt.Sprintf("%s %s: %v", ue.Op, RedactURL(u), ue.Err)
		}
	}
	return err.Error()
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
