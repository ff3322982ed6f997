package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
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
	rc    *retryablehttp.Client
	agent string
	o     Options
	log   *slog.Logger
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
	c := &Client{agent: "cte/" + o.Version, o: o, log: o.Logger}
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

// WithRetry returns o with the retry settings of r.
func (o Options) WithRetry(r cte.Retry) Options {
	o.RetryMax, o.WaitMin, o.WaitMax = r.Max, r.WaitMin, r.WaitMax
	o.MaxWait, o.AttemptTimeout, o.MaxRetryTime = r.MaxWait, r.AttemptTimeout, r.MaxRetryTime
	return o
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Do sends req with retries. Every attempt sends its body whole: an in-memory
// body (one http.NewRequest can give again, GetBody) is taken anew for each
// attempt, with its Content-Length; any other is buffered first.
// The caller closes the returned response's body, also when err is not nil.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	st := &attempt{method: req.Method, url: redactURL(req.URL), start: time.Now()}
	st.quick, _ = req.Context().Value(quickKey{}).(bool)
	st.once, _ = req.Context().Value(onceKey{}).(bool)
	req = req.Clone(context.WithValue(req.Context(), attemptKey{}, st))
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.agent)
	}
	var get func() (io.ReadCloser, error)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody != nil {
		get, req.Body = req.GetBody, nil
	}
	rr, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, err
	}
	if get != nil {
		// Each attempt reads a body of its own, from GetBody: an attempt
		// that failed early (a 503 before the body was all sent) may still
		// be reading its own in the transport's goroutine when the next
		// starts, and one body rewound for both was read and rewound at
		// once (a data race).
		n := req.ContentLength
		if err := rr.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) { return get() })); err != nil {
			return nil, err
		}
		rr.ContentLength = n
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
