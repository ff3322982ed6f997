package netskope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
)

// V1 rate limit: the tenant takes at most 24 v1 requests in 5 seconds (4 in the first
// second, 20 over the next 4). A token bucket of 4 refilled at 4 per second never
// sends more than 24 in any 5 seconds.
const (
	V1Rate  rate.Limit = 4
	V1Burst int        = 4
)

// Body limits.
const (
	// maxPageBytes bounds one Data Export page: at most 10,000 alerts of 1–3 KB.
	// The page decoder needs the page whole, so memory is bounded by this.
	maxPageBytes = 64 << 20
	maxBodyBytes = 64 << 20 // any other answer (URL lists are at most 8 MB)
)

// Client calls a Netskope tenant: REST API v2 with the Netskope-Api-Token header and
// REST API v1 with the token in the request body. It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   *url.URL
	tenant string // base as a string
	hc     *httpx.Client
	v1     *rate.Limiter
	log    *slog.Logger
	now    func() time.Time
	name   string // WithName, for the Plugin
	// pageLimit bounds one Data Export page (maxPageBytes; lowered by tests).
	pageLimit int64
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	logger     *slog.Logger
	clock      func() time.Time
	retry      Retry
	v1Rate     rate.Limit
	v1Burst    int
	name       string
}

// Retry tunes the retries of transient failures (see cte.Retry for the
// fields and their defaults).
type Retry = cte.Retry

// WithHTTPClient sets the HTTP client whose Transport and Timeout the Client uses. The
// client is not modified.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithLogger sets the logger; requests are logged at Debug without tokens.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for the first pull's start and rate-limit pacing.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithRetry tunes retries.
func WithRetry(r Retry) Option { return func(o *options) { o.retry = r } }

// WithName sets the configuration name a host gives the plugin; the Plugin derives
// its Data Export index from it (see ExportIndex).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithV1RateLimit replaces the v1 limiter (V1Rate requests per second, burst V1Burst).
// Only a fake tenant takes more; rate.Inf lifts the limit.
func WithV1RateLimit(r rate.Limit, burst int) Option {
	return func(o *options) { o.v1Rate, o.v1Burst = r, burst }
}

// New returns a Client for cfg. Zero fields of cfg take their defaults (see Config);
// an invalid cfg is an error wrapping cte.ErrInvalidConfig.
func New(cfg Config, opts ...Option) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("netskope: %w", err)
	}
	o := options{v1Rate: V1Rate, v1Burst: V1Burst}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	base, _ := ParseTenantURL(cfg.TenantURL) // checked by Validate
	c := &Client{cfg: cfg, base: base, tenant: base.String(), log: o.logger, now: o.clock, name: o.name, pageLimit: maxPageBytes}
	c.v1 = rate.NewLimiter(o.v1Rate, o.v1Burst)

	var transport http.RoundTripper = http.DefaultTransport
	var timeout time.Duration
	if o.httpClient != nil {
		if o.httpClient.Transport != nil {
			transport = o.httpClient.Transport
		}
		timeout = o.httpClient.Timeout
	}
	transport = &logTransport{next: transport, log: o.logger}
	transport = &authTransport{next: transport, v2: cfg.V2Token, v1: c.v1}
	transport = httpx.NewPacer(transport, o.clock)
	c.hc = httpx.New(httpx.Options{Logger: o.logger, Transport: transport, Timeout: timeout, Version: Version}.WithRetry(o.retry))
	return c, nil
}

// String describes the client without its tokens.
func (c *Client) String() string { return "netskope.Client(" + c.tenant + ")" }

// Format keeps every fmt verb, %#v included, from printing the client's fields: fmt
// cannot redact unexported fields, and the client holds the tokens.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// Tenant returns the tenant URL, scheme://host.
func (c *Client) Tenant() string { return c.tenant }

// Config returns the client's configuration with defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// authTransport adds the v2 header to /api/v2/ requests and holds /api/v1/ requests
// to the v1 rate limit. It sits under the retries, so every attempt counts. A
// redirect to another host never reaches it: internal/httpx refuses those before
// sending (httpx.ErrRedirect).
type authTransport struct {
	next http.RoundTripper
	v2   cte.Secret
	v1   *rate.Limiter
}

// RoundTrip implements http.RoundTripper.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case strings.HasPrefix(req.URL.Path, "/api/v2/"):
		req = req.Clone(req.Context())
		req.Header.Set("Netskope-Api-Token", t.v2.Reveal())
	case strings.HasPrefix(req.URL.Path, "/api/v1/"):
		if err := t.v1.Wait(req.Context()); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			cause := context.Cause(req.Context())
			if cause == nil { // the wait would outlast the deadline
				cause = context.DeadlineExceeded
			}
			return nil, fmt.Errorf("waiting for the v1 rate limit: %w", cause)
		}
	}
	return t.next.RoundTrip(req)
}

// logTransport logs every attempt at Debug: method, path, status, request id.
type logTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

// RoundTrip implements http.RoundTripper.
func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if !t.log.Enabled(req.Context(), slog.LevelDebug) {
		return resp, err
	}
	if err != nil {
		t.log.LogAttrs(req.Context(), slog.LevelDebug, "netskope request failed",
			slog.String("method", req.Method), slog.String("path", req.URL.Path), slog.String("error", httpx.RedactError(err)))
		return resp, err
	}
	t.log.LogAttrs(req.Context(), slog.LevelDebug, "netskope request",
		slog.String("method", req.Method), slog.String("path", req.URL.Path),
		slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("X-Request-Id")))
	return resp, err
}

// call is one API request.
type call struct {
	op          string // for errors: "list URL lists"
	method      string
	path        string // e.g. /api/v2/policy/urllist
	query       url.Values
	body        []byte
	contentType string
	limit       int64 // body limit; default maxBodyBytes
}

// answer is a 2xx answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a call and returns a 2xx answer, or an *Error for any other status or a
// transport failure.
func (c *Client) do(ctx context.Context, k call) (answer, error) {
	u := *c.base
	u.Path = k.path
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), body)
	if err != nil {
		return answer{}, fmt.Errorf("netskope: %s: %w", k.op, err)
	}
	if k.body != nil {
		ct := k.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		return answer{}, c.transportError(ctx, k, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := classifyHTTP(k.op, k.path, resp, c.scrubBody(httpx.ReadErrorBody(resp.Body)))
		if rl := c.hc.RateLimit(resp); rl != nil {
			e.Err = rl // the wait reaches the host
		}
		return answer{}, c.scrub(e)
	}
	limit := k.limit
	if limit == 0 {
		limit = maxBodyBytes
	}
	b, err := httpx.ReadBody(resp.Body, limit)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, fmt.Errorf("netskope: %s: %w", k.op, ctx.Err())
		}
		if errors.Is(err, httpx.ErrBodyTooLarge) {
			return answer{}, c.scrub(&Error{Op: k.op, API: apiOf(k.path), Status: resp.StatusCode, Err: ErrBadAnswer,
				Message: err.Error(), RequestID: resp.Header.Get("X-Request-Id"),
				Hint: "the answer is larger than a documented one can be; check tenant_url names a Netskope tenant"})
		}
		return answer{}, c.scrub(&Error{Op: k.op, API: apiOf(k.path), Status: resp.StatusCode, Err: ErrUnavailable, Retryable: true,
			Message: "reading the answer: " + httpx.RedactError(err), RequestID: resp.Header.Get("X-Request-Id"),
			Hint: "the connection broke or the answer was too large; the next sync tries again"})
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: c.scrubBody(b)}, nil
}

// scrubBody removes the tokens from an answer's body before anything reads
// it: an error's message is cut to its first 400 bytes, and a token echoed
// across the cut would keep its head past scrub.
func (c *Client) scrubBody(b []byte) []byte {
	for _, s := range []cte.Secret{c.cfg.V1Token, c.cfg.V2Token} {
		if v := s.Reveal(); len(v) >= 4 && bytes.Contains(b, []byte(v)) {
			b = bytes.ReplaceAll(b, []byte(v), []byte("[redacted]"))
		}
	}
	return b
}

func apiOf(path string) string {
	if strings.HasPrefix(path, "/api/v1/") {
		return "v1"
	}
	return "v2"
}

// transportError wraps an error of httpx.Client.Do: a cancelled context stays
// matchable, a rate-limit wait too long to accept becomes an *Error with
// cte.ErrRateLimited, and a connection failure an *Error with ErrUnavailable.
func (c *Client) transportError(ctx context.Context, k call, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("netskope: %s: %w", k.op, context.Cause(ctx))
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("netskope: %s: %w", k.op, err)
	}
	var rl *cte.RateLimitError
	if errors.As(err, &rl) {
		return c.scrub(&Error{Op: k.op, API: apiOf(k.path), Status: http.StatusTooManyRequests, Err: rl, Retryable: true,
			Hint: "the next sync continues after the wait"})
	}
	if errors.Is(err, httpx.ErrRedirect) {
		return c.scrub(&Error{Op: k.op, API: apiOf(k.path), Err: ErrUnavailable,
			Message: httpx.RedactError(err), Hint: "check tenant_url is the tenant's own host, e.g. https://acme.goskope.com"})
	}
	return c.scrub(&Error{Op: k.op, API: apiOf(k.path), Err: ErrUnavailable, Retryable: true,
		Message: httpx.RedactError(err), Hint: "check tenant_url and the network path to the tenant"})
}

// scrub removes the tokens from an error's text fields, in case a tenant echoes one.
func (c *Client) scrub(e *Error) *Error {
	for _, s := range []cte.Secret{c.cfg.V1Token, c.cfg.V2Token} {
		if v := s.Reveal(); len(v) >= 4 {
			e.Message = strings.ReplaceAll(e.Message, v, "[redacted]")
			e.Code = strings.ReplaceAll(e.Code, v, "[redacted]")
		}
	}
	return e
}
