package mimecasttest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// t0 is the fake's clock in most tests.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fake starts a fake on a settable clock at t0.
func fake(t *testing.T, opts ...mimecasttest.Option) (*mimecasttest.Server, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	s := mimecasttest.NewServer(t, append([]mimecasttest.Option{mimecasttest.WithClock(clk.Now)}, opts...)...)
	return s, clk
}

// mcDate formats t as x-mc-date.
func mcDate(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05") + " UTC" }

// sign is a tiny hand-written API 1.0 signer, independent of the client's and
// of the fake's.
func sign(r *http.Request, c mimecasttest.Credentials, date, reqID string) {
	key, err := base64.StdEncoding.DecodeString(c.SecretKey)
	if err != nil {
		panic(err)
	}
	mac := hmac.New(sha1.New, key)
	mac.Write([]byte(date + ":" + reqID + ":" + r.URL.Path + ":" + c.AppKey))
	r.Header.Set("Authorization", "MC "+c.AccessKey+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	r.Header.Set("x-mc-app-id", c.AppID)
	r.Header.Set("x-mc-date", date)
	r.Header.Set("x-mc-req-id", reqID)
}

// bodyOf turns a string, []byte or JSON-marshalable value into a reader.
func bodyOf(t *testing.T, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return strings.NewReader(`{"data":[]}`)
	case string:
		return strings.NewReader(b)
	case []byte:
		return bytes.NewReader(b)
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return bytes.NewReader(raw)
}

// reply is a read response.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// env decodes the standard envelope.
func (r reply) env(t *testing.T) envelope {
	t.Helper()
	var e envelope
	require.NoError(t, json.Unmarshal(r.body, &e), "body: %s", r.body)
	return e
}

type envelope struct {
	Meta struct {
		Status     int `json:"status"`
		Pagination *struct {
			PageSize   int    `json:"pageSize"`
			TotalCount int    `json:"totalCount"`
			Next       string `json:"next"`
			Previous   string `json:"previous"`
		} `json:"pagination"`
	} `json:"meta"`
	Data []json.RawMessage `json:"data"`
	Fail []struct {
		Key    json.RawMessage `json:"key"`
		Errors []struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Retryable bool   `json:"retryable"`
		} `json:"errors"`
	} `json:"fail"`
}

// codes lists the error codes of every fail item.
func (e envelope) codes() []string {
	var out []string
	for _, f := range e.Fail {
		for _, x := range f.Errors {
			out = append(out, x.Code)
		}
	}
	return out
}

func do(t *testing.T, s *mimecasttest.Server, req *http.Request) reply {
	t.Helper()
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, resp.Header, b}
}

// newReq builds a POST to path with a JSON body.
func newReq(t *testing.T, s *mimecasttest.Server, path string, body any) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, bodyOf(t, body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// hmacPost sends a request signed now on clk with a fresh request id.
func hmacPost(t *testing.T, s *mimecasttest.Server, clk *clock, path string, body any) reply {
	t.Helper()
	req := newReq(t, s, path, body)
	sign(req, s.Credentials(), mcDate(clk.Now()), uuid.NewString())
	return do(t, s, req)
}

// token gets a bearer token with form credentials.
func token(t *testing.T, s *mimecasttest.Server) string {
	t.Helper()
	c := s.Credentials()
	r := tokenReq(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	tok, _ := r.json(t)["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

func tokenReq(t *testing.T, s *mimecasttest.Server, form url.Values) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+mimecasttest.PathToken, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return do(t, s, req)
}

func bearerPost(t *testing.T, s *mimecasttest.Server, tok, path string, body any) reply {
	t.Helper()
	req := newReq(t, s, path, body)
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(t, s, req)
}

// feedBody is a get-feed request body.
func feedBody(item map[string]any) map[string]any {
	return map[string]any{"data": []any{item}}
}

func decodeJSON(tb testing.TB, resp *http.Response, v any) {
	tb.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatal(err)
	}
}

func countLines(tb testing.TB, resp *http.Response) int {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}
