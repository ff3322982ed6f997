package mimecasttest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// The worked HMAC-SHA1 vectors (made-up keys, the fake's default credentials;
// signatures computed independently with Python's hmac), checked against the
// fake's verifier:
// a request carrying exactly these headers is accepted at the vector's time, and
// the negative vectors are refused.
func TestGoldenVectorsAccepted(t *testing.T) {
	t.Parallel()
	const (
		date  = "Tue, 24 Nov 2015 12:50:11 UTC"
		reqID = "8578fcfc-a305-4d9a-99cb-f4d5ecefe297"
	)
	at := time.Date(2015, 11, 24, 12, 50, 11, 0, time.UTC)
	cases := []struct {
		name, path, sig string
		reqID           string
		want            int
	}{
		{"get-feed", mimecasttest.PathGetFeed, "wr4LM/G7KHMqboKyQ8O6kPrCIdI=", reqID, http.StatusOK},
		{"create-batch", mimecasttest.PathCreateBatch, "OvZxiweTywcORhtVBKYiwe44SQ8=", reqID, http.StatusOK},
		{"get-account", mimecasttest.PathGetAccount, "udg275DAvfA5KleRtIIDqqjJa3g=", reqID, http.StatusOK},
		{"upper-case req-id with its own signature", mimecasttest.PathGetFeed, "H1QLO0r3iwqvptcrJmfqhB1gOgM=", strings.ToUpper(reqID), http.StatusOK},
		{"wrong app key", mimecasttest.PathGetFeed, "LCPNtll7NgDuhZd1GqkO/YVrDMM=", reqID, http.StatusUnauthorized},
		{"upper-case req-id with the lower-case signature", mimecasttest.PathGetFeed, "wr4LM/G7KHMqboKyQ8O6kPrCIdI=", strings.ToUpper(reqID), http.StatusUnauthorized},
		{"signature of another path", mimecasttest.PathGetAccount, "wr4LM/G7KHMqboKyQ8O6kPrCIdI=", reqID, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mimecasttest.NewServer(t, mimecasttest.WithClock(func() time.Time { return at }))
			c := s.Credentials()
			require.Equal(t, "AK-test-0001", c.AccessKey, "the default credentials are the worked vectors' keys")
			body := `{"data":[]}`
			if tc.path == mimecasttest.PathCreateBatch {
				body = `{"data":[{"operationType":"BLOCK","hashList":[{"hash":"4b61fd53c077baffe40a70f0b2c1c7f5f66e9e7b590aa13feaaf8a2711f3dd9d","provider":"NetskopeCE","description":"Morris worm"}]}]}`
			}
			req := newReq(t, s, tc.path, body)
			req.Header.Set("Authorization", "MC AK-test-0001:"+tc.sig)
			req.Header.Set("x-mc-app-id", c.AppID)
			req.Header.Set("x-mc-date", date)
			req.Header.Set("x-mc-req-id", tc.reqID)
			r := do(t, s, req)
			assert.Equal(t, tc.want, r.status, "%s", r.body)
			if tc.want == http.StatusUnauthorized {
				assert.JSONEq(t, `{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_xdk_invalid_signature","message":"0004 Invalid Signature","retryable":false}]}]}`, string(r.body))
			}
		})
	}
}

func TestHMACRefusals(t *testing.T) {
	t.Parallel()
	type mutate func(r *http.Request, c mimecasttest.Credentials)
	resign := func(date, reqID string) mutate {
		return func(r *http.Request, c mimecasttest.Credentials) { sign(r, c, date, reqID) }
	}
	cases := []struct {
		name   string
		opts   []mimecasttest.Option
		mut    mutate
		status int
		code   string
		text   string
	}{
		{name: "no authorization", mut: func(r *http.Request, _ mimecasttest.Credentials) { r.Header.Del("Authorization") },
			status: 401, code: "err_xdk_credentials_missing", text: "0001 Credentials are missing"},
		{name: "authorization without colon", mut: func(r *http.Request, _ mimecasttest.Credentials) { r.Header.Set("Authorization", "MC AK-test-0001") },
			status: 401, code: "err_xdk_credentials_missing"},
		{name: "no x-mc-date", mut: func(r *http.Request, _ mimecasttest.Credentials) { r.Header.Del("x-mc-date") },
			status: 401, code: "err_xdk_credentials_missing", text: "x-mc-date"},
		{name: "no x-mc-req-id", mut: func(r *http.Request, _ mimecasttest.Credentials) { r.Header.Del("x-mc-req-id") },
			status: 401, code: "err_xdk_credentials_missing", text: "x-mc-req-id"},
		{name: "no x-mc-app-id", mut: func(r *http.Request, _ mimecasttest.Credentials) { r.Header.Del("x-mc-app-id") },
			status: 401, code: "err_xdk_credentials_missing", text: "x-mc-app-id"},
		{name: "unknown access key", mut: func(r *http.Request, c mimecasttest.Credentials) {
			c.AccessKey = "AK-other"
			sign(r, c, mcDate(t0), uuid.NewString())
		}, status: 401, code: "err_xdk_access_key_not_found"},
		{name: "wrong app id", mut: func(r *http.Request, c mimecasttest.Credentials) {
			c.AppID = "99999999-2222-3333-4444-555555555555"
			sign(r, c, mcDate(t0), uuid.NewString())
		}, status: 401, code: "err_xdk_app_id_mismatch"},
		{name: "wrong app key", mut: func(r *http.Request, c mimecasttest.Credentials) {
			c.AppKey = "wrong-app-key"
			sign(r, c, mcDate(t0), uuid.NewString())
		}, status: 401, code: "err_xdk_invalid_signature"},
		{name: "wrong secret", mut: func(r *http.Request, c mimecasttest.Credentials) {
			c.SecretKey = "b3RoZXItc2VjcmV0"
			sign(r, c, mcDate(t0), uuid.NewString())
		}, status: 401, code: "err_xdk_invalid_signature"},
		{name: "date not in Mimecast format", mut: resign(t0.Format(time.RFC3339), uuid.NewString()),
			status: 401, code: "err_xdk_invalid_date"},
		{name: "date 16 minutes late", mut: resign(mcDate(t0.Add(-16*time.Minute)), uuid.NewString()),
			status: 401, code: "err_xdk_date_header_too_skewed", text: mimecasttest.SkewMessage},
		{name: "date 16 minutes early", mut: resign(mcDate(t0.Add(16*time.Minute)), uuid.NewString()),
			status: 401, code: "err_xdk_date_header_too_skewed", text: mimecasttest.SkewMessage},
		{name: "skew limit is configurable", opts: []mimecasttest.Option{mimecasttest.WithMaxSkew(time.Minute)},
			mut: resign(mcDate(t0.Add(-2*time.Minute)), uuid.NewString()), status: 401, code: "err_xdk_date_header_too_skewed"},
		{name: "binding expired", opts: nil, mut: func(r *http.Request, c mimecasttest.Credentials) {}, status: 418, code: "err_xdk_binding_expired"},
		{name: "hmac refused in oauth-only mode", opts: []mimecasttest.Option{mimecasttest.WithAuthMode(mimecasttest.AuthOAuth)},
			mut: func(*http.Request, mimecasttest.Credentials) {}, status: 401, code: "err_xdk_auth_mode_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, clk := fake(t, tc.opts...)
			if tc.status == http.StatusTeapot {
				s.SetBindingExpired(true)
			}
			req := newReq(t, s, mimecasttest.PathGetAccount, nil)
			sign(req, s.Credentials(), mcDate(clk.Now()), uuid.NewString())
			tc.mut(req, s.Credentials())
			r := do(t, s, req)
			assert.Equal(t, tc.status, r.status, "%s", r.body)
			e := r.env(t)
			assert.Equal(t, tc.status, e.Meta.Status)
			assert.Equal(t, []string{tc.code}, e.codes())
			assert.Contains(t, string(r.body), tc.text)
			assert.Empty(t, e.Data)
		})
	}
}

// The skewed-date answer, whole: HTTP 401 with code
// err_xdk_date_header_too_skewed and the text "Date Header Too Skewed", the
// substring clients look for before signing again.
func TestSkewBody(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	req := newReq(t, s, mimecasttest.PathGetAccount, nil)
	sign(req, s.Credentials(), mcDate(clk.Now().Add(-time.Hour)), uuid.NewString())
	r := do(t, s, req)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_xdk_date_header_too_skewed","message":"Date Header Too Skewed","retryable":false}]}]}`, string(r.body))
}

func TestHMACAccepted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		date func(time.Time) string
		path string
	}{
		{"now", mcDate, mimecasttest.PathGetAccount},
		{"14 minutes late", func(t time.Time) string { return mcDate(t.Add(-14 * time.Minute)) }, mimecasttest.PathGetAccount},
		{"14 minutes early", func(t time.Time) string { return mcDate(t.Add(14 * time.Minute)) }, mimecasttest.PathGetAccount},
		{"GMT suffix", func(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05") + " GMT" }, mimecasttest.PathGetAccount},
		{"query not signed", mcDate, mimecasttest.PathGetAccount + "?x=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, clk := fake(t)
			req := newReq(t, s, tc.path, nil)
			sign(req, s.Credentials(), tc.date(clk.Now()), uuid.NewString())
			r := do(t, s, req)
			assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, 200, r.env(t).Meta.Status)
		})
	}
}

func TestReplayedRequestID(t *testing.T) {
	t.Parallel()
	for _, check := range []bool{true, false} {
		s, clk := fake(t, mimecasttest.WithReplayCheck(check))
		id := uuid.NewString()
		send := func() reply {
			req := newReq(t, s, mimecasttest.PathGetAccount, nil)
			sign(req, s.Credentials(), mcDate(clk.Now()), id)
			return do(t, s, req)
		}
		require.Equal(t, http.StatusOK, send().status)
		r := send()
		if check {
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, []string{"err_xdk_request_id_reused"}, r.env(t).codes())
		} else {
			assert.Equal(t, http.StatusOK, r.status, "reuse allowed with WithReplayCheck(false)")
		}
	}
}

func TestCredentialsOverride(t *testing.T) {
	t.Parallel()
	c := mimecasttest.DefaultCredentials()
	c.AccessKey, c.SecretKey, c.ClientSecret = "AK-2", "c2Vjb25k", "s2"
	s, clk := fake(t, mimecasttest.WithCredentials(c))
	assert.Equal(t, c, s.Credentials())
	assert.Equal(t, http.StatusOK, hmacPost(t, s, clk, mimecasttest.PathGetAccount, nil).status)
	assert.Equal(t, http.StatusOK, bearerPost(t, s, token(t, s), mimecasttest.PathGetAccount, nil).status)

	def := mimecasttest.DefaultCredentials()
	req := newReq(t, s, mimecasttest.PathGetAccount, nil)
	sign(req, def, mcDate(clk.Now()), uuid.NewString())
	assert.Equal(t, http.StatusUnauthorized, do(t, s, req).status, "the default keys no longer work")
}

func TestBadSecretPanics(t *testing.T) {
	t.Parallel()
	c := mimecasttest.DefaultCredentials()
	c.SecretKey = "not base64!"
	assert.PanicsWithValue(t, "mimecasttest: WithCredentials: SecretKey is not valid base64 (illegal base64 data at input byte 3); pass the key as Mimecast shows it",
		func() { mimecasttest.New(mimecasttest.WithCredentials(c)) })
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	c := s.Credentials()
	ok := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}

	r := tokenReq(t, s, ok)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	assert.Equal(t, "Bearer", m["token_type"])
	assert.EqualValues(t, 1800, m["expires_in"])
	assert.NotEmpty(t, m["access_token"])
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))

	bad := func(mut func(url.Values)) url.Values {
		v := url.Values{}
		for k, x := range ok {
			v[k] = x
		}
		mut(v)
		return v
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong secret", bad(func(v url.Values) { v.Set("client_secret", "nope") }), 401, "invalid_client"},
		{"wrong id", bad(func(v url.Values) { v.Set("client_id", "nope") }), 401, "invalid_client"},
		{"no secret", bad(func(v url.Values) { v.Del("client_secret") }), 400, "invalid_request"},
		{"password grant", bad(func(v url.Values) { v.Set("grant_type", "password") }), 400, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		r := tokenReq(t, s, tc.form)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Equal(t, tc.code, r.json(t)["error"], tc.name)
		assert.NotContains(t, string(r.body), c.ClientSecret, "never echo the secret")
	}

	// JSON instead of a form.
	req := newReq(t, s, mimecasttest.PathToken, `{"grant_type":"client_credentials"}`)
	r = do(t, s, req)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_request", r.json(t)["error"])

	// HTTP Basic with URL-encoded parts, as x/oauth2 sends them.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+mimecasttest.PathToken, strings.NewReader("grant_type=client_credentials"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	assert.Equal(t, http.StatusOK, do(t, s, req).status)

	// The token endpoint never logs the form body (it holds the secret).
	for _, e := range s.Requests() {
		if e.Path == mimecasttest.PathToken {
			assert.Nil(t, e.Body)
			assert.Positive(t, e.BodySize)
			assert.Equal(t, mimecasttest.AuthOAuth, e.Auth)
			assert.NotContains(t, e.Header.Get("Authorization"), ":")
		}
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	s, clk := fake(t, mimecasttest.WithTokenTTL(10*time.Minute))
	tok := token(t, s)
	assert.Equal(t, http.StatusOK, bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil).status)

	r := bearerPost(t, s, "not-a-token", mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"fail":[{"code":"unauthorized","message":"Unauthorized Request"}]}`, string(r.body))

	clk.Add(10*time.Minute - time.Second)
	assert.Equal(t, http.StatusOK, bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil).status)
	clk.Add(time.Second)
	r = bearerPost(t, s, tok, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"fail":[{"code":"token_expired","message":"Token expired"}]}`, string(r.body))

	fresh := token(t, s)
	assert.NotEqual(t, tok, fresh)
	assert.Equal(t, http.StatusOK, bearerPost(t, s, fresh, mimecasttest.PathGetAccount, nil).status)
	s.ExpireTokens()
	r = bearerPost(t, s, fresh, mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, string(r.body), "token_expired")
	assert.Equal(t, http.StatusOK, bearerPost(t, s, token(t, s), mimecasttest.PathGetAccount, nil).status, "tokens issued after ExpireTokens work")

	// HMAC-only mode refuses bearers; a request without credentials in that
	// mode gets the API 2.0 shape when only OAuth is on.
	h, _ := fake(t, mimecasttest.WithAuthMode(mimecasttest.AuthHMAC))
	r = bearerPost(t, h, token(t, h), mimecasttest.PathGetAccount, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, string(r.body), `"unauthorized"`)
	o, _ := fake(t, mimecasttest.WithAuthMode(mimecasttest.AuthOAuth))
	r = do(t, o, newReq(t, o, mimecasttest.PathGetAccount, nil))
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"fail":[{"code":"unauthorized","message":"Unauthorized Request"}]}`, string(r.body))
}

// The fake works with golang.org/x/oauth2's client credentials flow, as the
// client will use it.
func TestOAuth2Library(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	c := s.Credentials()
	cfg := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: s.URL + mimecasttest.PathToken}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, s.Client())
	tok, err := cfg.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.False(t, tok.Expiry.IsZero(), "expires_in was read")

	hc := cfg.Client(ctx)
	resp, err := hc.Post(s.URL+mimecasttest.PathGetAccount, "application/json", strings.NewReader(`{"data":[]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var env struct {
		Data []struct {
			Packages []string `json:"packages"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &env))
	require.Len(t, env.Data, 1)
	assert.Contains(t, env.Data[0].Packages, mimecasttest.BYOPackage)
}
