package mimecast

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
)

// Client calls the Mimecast API with one of the two authentication schemes. It is
// safe for concurrent use.
type Client struct {
	cfg    Config
	base   string
	http   *httpx.Client
	signer *signer      // API 1.0, else nil
	tokens *tokenSource // API 2.0, else nil
	log    *slog.Logger
	now    func() time.Time
	// feedLimit bounds one get-feed page (maxFeedBody; lowered by tests).
	feedLimit int64
	name      string // WithName, for the Plugin
}

// Option configures a Client and its Plugin. Zero values keep the defaults: a
// discarding logger, time.Now, http.DefaultTransport and the retry defaults.
type Option func(*options)

type options struct {
	hc     *http.Client
	logger *slog.Logger
	now    func() time.Time
	retry  Retry
	name   string
}

// Retry tunes the retries of transient failures (see cte.Retry for the
// fields and their defaults).
type Retry = cte.Retry

// WithHTTPClient sets the HTTP client whose Transport and Timeout are used. The
// client is not modified; nil keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.hc = c } }

// WithLogger sets the logger; nil keeps the default, which discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for signatures, token expiry and pull windows; nil
// keeps time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRetry tunes retries.
func WithRetry(r Retry) Option { return func(o *options) { o.retry = r } }

// WithName sets the configuration name a host gives the plugin, used in messages
// and in the comment of pushed managed URLs.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// New returns a client for cfg. A configuration that cannot work is a
// *cte.ConfigError.
func New(cfg Config, opts ...Option) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	base, err := ResolveBaseURL(cfg.BaseURL, cfg.Auth)
	if err != nil {
		return nil, err
	}
	hx := httpx.Options{Logger: o.logger, Version: "mimecast-" + Version, ServerWait: resetWait}.WithRetry(o.retry)
	var transport http.RoundTripper
	if o.hc != nil {
		transport = o.hc.Transport
		hx.Timeout = o.hc.Timeout
	}
	if transport == nil {
		transport = http.DefaultTransport
	}
	c := &Client{cfg: cfg, base: base, log: o.logger, now: o.now, feedLimit: maxFeedBody, name: o.name}
	switch cfg.Auth {
	case AuthHMAC:
		s, err := newSigner(transport, cfg, o.now)
		if err != nil {
			return nil, err
		}
		c.signer = s
		hx.Transport = s
		c.http = httpx.New(hx)
	default:
		hx.Transport = transport
		c.http = httpx.New(hx)
		c.tokens = newTokenSource(base, cfg, c.http.StandardClient(), o.now)
	}
	c.log.Debug("mimecast: API base URL resolved", "base_url", base, "configured", cfg.BaseURL, "auth", cfg.Auth)
	return c, nil
}

// BaseURL returns the resolved API base URL.
func (c *Client) BaseURL() string { return c.base }

// Auth returns the authentication mode, AuthHMAC or AuthOAuth.
func (c *Client) Auth() string { return c.cfg.Auth }

// String describes the client without secrets.
func (c *Client) String() string { return "mimecast.Client(" + c.base + ", " + c.cfg.Auth + ")" }

// Format keeps every fmt verb from printing the client's fields.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// Limits of answers read.
const (
	maxJSONBody = 64 << 20
	maxFeedBody = 512 << 20
)

// answer is a successful (2xx) HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
	reqID  string
}

// post sends a JSON body to path and returns the 2xx answer, read whole up to
// limit. Non-2xx answers are an *Error (see send).
func (c *Client) post(ctx context.Context, path string, in any, limit int64) (*answer, error) {
	resp, reqID, err := c.send(ctx, path, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := httpx.ReadBody(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("mimecast %s: read answer: %w", path, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body, reqID: reqID}, nil
}

// send sends a JSON body to path and returns the 2xx response with its body
// open, for the caller to read and close, and its request id. Non-2xx answers
// are an *Error. A 401 "Date Header Too Skewed" (API 1.0) is retried once with
// fresh headers and then reported as a clock problem; a 401 token_expired (API
// 2.0) makes one token refresh and retry, then ErrAuth.
func (c *Client) send(ctx context.Context, path string, in any) (*http.Response, string, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return nil, "", fmt.Errorf("mimecast %s: encode request: %w", path, err)
	}
	skewRetried, refreshed := false, false
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(payload))
		if err != nil {
			return nil, "", fmt.Errorf("mimecast %s: %w", path, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		var tok string
		if c.tokens != nil {
			if tok, err = c.tokens.get(ctx); err != nil {
				return nil, "", err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		start := c.now()
		resp, err := c.http.Do(req)
		if err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, "", c.transportError(path, err)
		}
		reqID := requestID(resp)
		c.log.Debug("mimecast: request", "method", http.MethodPost, "path", path, "status", resp.StatusCode,
			"attempt", attempt, "request_id", reqID, "elapsed", c.now().Sub(start))
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return resp, reqID, nil
		}
		body := httpx.ReadErrorBody(resp.Body)
		resp.Body.Close()
		e := httpError(path, resp.StatusCode, body, reqID)
		if rl := c.http.RateLimit(resp); rl != nil {
			e.sentinels = []error{rl} // the wait reaches the host
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if c.signer != nil && errors.Is(e, ErrClockSkew) && !skewRetried {
				skewRetried = true
				c.log.Debug("mimecast: date header too skewed, signing again", "path", path)
				continue
			}
			if c.tokens != nil && e.Code == CodeTokenExpired && !refreshed {
				refreshed = true
				c.tokens.invalidate(tok)
				c.log.Debug("mimecast: access token expired, fetching a new one", "path", path)
				continue
			}
		}
		c.explain(e)
		return nil, "", e
	}
}

// transportError wraps an error of httpx.Client.Do with the path and what to check.
func (c *Client) transportError(path string, err error) error {
	if errors.Is(err, httpx.ErrRedirect) {
		return fmt.Errorf("mimecast %s: %w (check base_url is the Mimecast API host of the account's region)", path, err)
	}
	return fmt.Errorf("mimecast %s: %w", path, err)
}

// explain adds what to do to auth errors.
func (c *Client) explain(e *Error) {
	switch {
	case errors.Is(e, ErrClockSkew):
		e.Message = fmt.Sprintf("%s: Mimecast says this host's clock (now %s) differs too much from its own, also after signing again; synchronise the clock (NTP) and retry",
			e.Message, c.now().UTC().Format(time.RFC3339))
	case e.Status == 418 || e.Code == CodeBindingExpired:
		e.Message += ": the access key binding expired; create new access and secret keys for the API user and update access_key and secret_key"
	case errors.Is(e, cte.ErrAuth) && c.cfg.Auth == AuthHMAC:
		e.Message += ": check app_id, app_key, access_key and secret_key for " + c.base
	case errors.Is(e, cte.ErrAuth):
		e.Message += ": check client_id and client_secret and the application's permissions for " + c.base
	}
}

func requestID(resp *http.Response) string {
	if id := resp.Header.Get("x-mc-req-id"); id != "" {
		return id
	}
	if resp.Request != nil {
		return resp.Request.Header.Get("x-mc-req-id")
	}
	return ""
}

// call posts in and decodes the JSON envelope. Fail entries are left to the caller.
func (c *Client) call(ctx context.Context, path string, in any) (*envelope, string, error) {
	a, err := c.post(ctx, path, in, maxJSONBody)
	if err != nil {
		return nil, "", err
	}
	env, err := decodeEnvelope(a.body)
	if err != nil {
		return nil, a.reqID, fmt.Errorf("mimecast %s: %w", path, err)
	}
	return env, a.reqID, nil
}

// callStrict is call where any fail entry or a meta.status other than 200 is an error.
func (c *Client) callStrict(ctx context.Context, path string, in any, out any) (*envelope, error) {
	env, reqID, err := c.call(ctx, path, in)
	if err != nil {
		return nil, err
	}
	if e := envelopeError(path, http.StatusOK, env, reqID); e != nil {
		c.explain(e)
		return nil, e
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, fmt.Errorf("mimecast %s: %w: data does not decode: %v", path, ErrProtocol, err)
		}
	}
	return env, nil
}

// request is the body of every API call.
type request struct {
	Meta *requestMeta `json:"meta,omitempty"`
	Data []any        `json:"data"`
}

type requestMeta struct {
	Pagination requestPagination `json:"pagination"`
}

type requestPagination struct {
	PageSize  int    `json:"pageSize"`
	PageToken string `json:"pageToken"`
}

// resetWait reads Mimecast's rate-limit reset, in milliseconds: X-RateLimit-Reset,
// or the spelling X-Rate-Limit-Reset some answers and integrations use.
func resetWait(resp *http.Response) (time.Duration, bool) {
	for _, h := range []string{"X-RateLimit-Reset", "X-Rate-Limit-Reset"} {
		if v := strings.TrimSpace(resp.Header.Get(h)); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				return time.Duration(n) * time.Millisecond, true
			}
		}
	}
	return 0, false
}
