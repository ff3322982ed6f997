package mimecast

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
)

// DateFormat is the layout of the x-mc-date header (always UTC, English names).
const DateFormat = "Mon, 02 Jan 2006 15:04:05 UTC"

// signer is the API 1.0 RoundTripper: it signs every attempt afresh with a new date
// and request id, so retries and long paginations never drift out of the skew window.
type signer struct {
	next      http.RoundTripper
	appID     string
	appKey    string
	accessKey string
	key       []byte // base64-decoded secret key
	now       func() time.Time
	newID     func() string
}

func newSigner(next http.RoundTripper, cfg Config, now func() time.Time) (*signer, error) {
	key, err := decodeSecretKey(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return &signer{
		next: next, appID: cfg.AppID, appKey: cfg.AppKey.Reveal(), accessKey: cfg.AccessKey.Reveal(),
		key: key, now: now, newID: func() string { return uuid.NewString() },
	}, nil
}

// signature returns base64(HMAC-SHA1(key, date:reqID:path:appKey)).
func (s *signer) signature(date, reqID, path string) string {
	m := hmac.New(sha1.New, s.key)
	m.Write([]byte(date + ":" + reqID + ":" + path + ":" + s.appKey))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// RoundTrip signs a clone of req and sends it.
func (s *signer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	date := s.now().UTC().Format(DateFormat)
	id := s.newID()
	r.Header.Set("x-mc-date", date)
	r.Header.Set("x-mc-req-id", id)
	r.Header.Set("x-mc-app-id", s.appID)
	r.Header.Set("Authorization", "MC "+s.accessKey+":"+s.signature(date, id, r.URL.Path))
	if r.Header.Get("Accept") == "" {
		r.Header.Set("Accept", "application/json")
	}
	return s.next.RoundTrip(r)
}

// tokenSource is the API 2.0 token cache: a token is reused until 60 s before its
// expires_in (measured on the injected clock) and fetched again after that or when
// the API says it expired.
type tokenSource struct {
	cc  *clientcredentials.Config
	hc  *http.Client // sends the token request
	now func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// earlyRefresh is how long before expires_in a token is replaced.
const earlyRefresh = 60 * time.Second

func newTokenSource(base string, cfg Config, hc *http.Client, now func() time.Time) *tokenSource {
	return &tokenSource{
		cc: &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret.Reveal(),
			TokenURL:     base + "/oauth/token",
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		hc: hc, now: now,
	}
}

// get returns a valid access token, fetching one when needed.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.expiry) {
		return ts.token, nil
	}
	t, err := ts.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, ts.hc))
	if err != nil {
		return "", tokenError(err)
	}
	if t.AccessToken == "" {
		return "", &Error{Op: "/oauth/token", Status: http.StatusOK, Message: "no access_token in the answer: check client_id and client_secret", sentinels: []error{cte.ErrAuth}}
	}
	ttl := time.Duration(t.ExpiresIn) * time.Second
	if ttl <= 0 && !t.Expiry.IsZero() {
		// x/oauth2 turned expires_in into an Expiry on the wall clock.
		ttl = time.Until(t.Expiry).Round(time.Second)
	}
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	ts.token = t.AccessToken
	ts.expiry = ts.now().Add(ttl - earlyRefresh)
	return ts.token, nil
}

// invalidate drops tok if it is still the cached one.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token = ""
	}
}

// tokenError turns an oauth2 error into an *Error without the request URL or body
// echo (which could carry the client secret).
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		e := &Error{Op: "/oauth/token", Status: re.Response.StatusCode, Code: re.ErrorCode}
		switch re.Response.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			e.Message = "Mimecast refused the client credentials: check client_id and client_secret"
			if re.ErrorDescription != "" {
				e.Message += " (" + re.ErrorDescription + ")"
			}
			e.sentinels = []error{cte.ErrAuth}
		default:
			e.Message = "token request failed"
			classify(e)
		}
		return e
	}
	if strings.Contains(err.Error(), "missing access_token") {
		return &Error{Op: "/oauth/token", Status: http.StatusOK, Message: "no access_token in the answer: check client_id and client_secret", sentinels: []error{cte.ErrAuth}}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	if errors.Is(err, httpx.ErrRedirect) {
		return fmt.Errorf("mimecast /oauth/token: %w (check base_url is the Mimecast API host of the account's region)", err)
	}
	return fmt.Errorf("mimecast /oauth/token: %w", err)
}
