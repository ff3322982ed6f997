package mimecast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func newTestClient(t testing.TB, s *mimecasttest.Server, cfg Config, clock func() time.Time, opts ...Option) *Client {
	t.Helper()
	c, err := New(cfg, append([]Option{WithHTTPClient(s.Client()), WithClock(clock), fastRetry}, opts...)...)
	require.NoError(t, err)
	return c
}

// mockClient returns a client against an httpmock transport for https://mock.test.
func mockClient(t testing.TB, cfg Config, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://mock.test"
	}
	c, err := New(cfg, append([]Option{WithHTTPClient(&http.Client{Transport: mt}), fastRetry}, opts...)...)
	require.NoError(t, err)
	return c, mt
}

func mockHMAC() Config {
	return Config{BaseURL: "https://mock.test", AppID: vecAppID, AppKey: vecAppKey, AccessKey: vecAccessKey, SecretKey: vecSecret}
}

func mockOAuth() Config {
	return Config{BaseURL: "https://mock.test", ClientID: "cid", ClientSecret: "top-secret-client-secret"}
}

func jsonResponder(status int, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		resp.Request = r
		return resp, nil
	}
}

func tokenResponder(ttl int) httpmock.Responder {
	n := 0
	return func(r *http.Request) (*http.Response, error) {
		n++
		return jsonResponder(200, fmt.Sprintf(`{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, ttl))(r)
	}
}

const accountOK = `{"meta":{"status":200},"data":[{"accountCode":"CUSA1","packages":["BYO: Threat Intelligence [1089]"]}],"fail":[]}`

func TestOAuthTokenReuseAndProactiveRefresh(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithTokenTTL(30*time.Minute))
	c := newTestClient(t, s, oauthConfig(s), clock.Now)
	ctx := t.Context()
	for range 3 {
		_, err := c.GetAccount(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, s.Count(mimecasttest.PathToken), "the token is reused")
	clock.Add(28*time.Minute + 59*time.Second)
	_, err := c.GetAccount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Count(mimecasttest.PathToken), "still valid until 60 s before expires_in")
	clock.Add(2 * time.Second)
	_, err = c.GetAccount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, s.Count(mimecasttest.PathToken), "refreshed 60 s before expiry, without a 401")
	for _, r := range s.Requests() {
		assert.NotEqual(t, http.StatusUnauthorized, r.Status, "no request was refused: %s", r.Path)
	}
}

func TestOAuthRefreshOnceThenErrAuth(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now))
	c := newTestClient(t, s, oauthConfig(s), clock.Now)
	ctx := t.Context()

	s.Unauthorized(mimecasttest.PathGetAccount, 1)
	_, err := c.GetAccount(ctx)
	require.NoError(t, err, "one token_expired is healed by one refresh")
	assert.Equal(t, 2, s.Count(mimecasttest.PathToken))

	s.Unauthorized(mimecasttest.PathGetAccount, 2)
	_, err = c.GetAccount(ctx)
	require.ErrorIs(t, err, cte.ErrAuth)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusUnauthorized, e.Status)
	assert.Equal(t, CodeTokenExpired, e.Code)
	assert.Contains(t, e.Error(), "client_id and client_secret")
	assert.Equal(t, 3, s.Count(mimecasttest.PathToken), "refreshed once, not in a loop")
	assert.Equal(t, 4, s.Count(mimecasttest.PathGetAccount))

	// The fake's own expiry (server side) is healed the same way.
	s.ExpireTokens()
	_, err = c.GetAccount(ctx)
	require.NoError(t, err)
}

func TestOAuthBadClientSecret(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	cfg := oauthConfig(s)
	cfg.ClientSecret = "wrong-secret-value"
	c := newTestClient(t, s, cfg, time.Now)
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "client_id and client_secret")
	assert.NotContains(t, err.Error(), "wrong-secret-value")
	assert.Equal(t, 0, s.Count(mimecasttest.PathGetAccount))
}

func TestOAuthNonExpiryUnauthorizedDoesNotRefresh(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockOAuth())
	mt.RegisterResponder("POST", "https://mock.test/oauth/token", tokenResponder(1800))
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, jsonResponder(401, `{"fail":[{"code":"unauthorized","message":"Unauthorized Request"}]}`))
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST https://mock.test/oauth/token"])
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST https://mock.test"+pathGetAccount])
}

func TestOAuthEmptyAccessToken(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockOAuth())
	mt.RegisterResponder("POST", "https://mock.test/oauth/token", jsonResponder(200, `{"access_token":"","expires_in":1800}`))
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrAuth)
}

func TestSkewRetriedOnceThenClockError(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now)
	ctx := t.Context()

	s.SkewDate(mimecasttest.PathGetAccount, 1)
	_, err := c.GetAccount(ctx)
	require.NoError(t, err, "one skew answer is retried with fresh headers")
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].ReqID, reqs[1].ReqID)

	s.SkewDate(mimecasttest.PathGetAccount, 2)
	_, err = c.GetAccount(ctx)
	require.ErrorIs(t, err, ErrClockSkew)
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "synchronise the clock")
	assert.Equal(t, 4, s.Count(mimecasttest.PathGetAccount), "one retry, not more")
}

func TestSkewFromARealClockDifference(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now))
	late := func() time.Time { return clock.Now().Add(-time.Hour) }
	c := newTestClient(t, s, hmacConfig(s), late)
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, ErrClockSkew)
	assert.Equal(t, 2, s.Count(mimecasttest.PathGetAccount))
}

func TestHMACBadKeys(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"app key", func(c *Config) { c.AppKey = "wrong" }},
		{"access key", func(c *Config) { c.AccessKey = "AK-nobody" }},
		{"app id", func(c *Config) { c.AppID = "other-app" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := hmacConfig(s)
			tc.edit(&cfg)
			c := newTestClient(t, s, cfg, time.Now)
			_, err := c.GetAccount(t.Context())
			require.ErrorIs(t, err, cte.ErrAuth)
			assert.Contains(t, err.Error(), "check app_id, app_key, access_key and secret_key")
		})
	}
}

func TestBindingExpired(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	s.SetBindingExpired(true)
	c := newTestClient(t, s, hmacConfig(s), time.Now)
	_, err := c.GetAccount(t.Context())
	require.ErrorIs(t, err, cte.ErrAuth)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 418, e.Status)
	assert.Contains(t, e.Message, "binding expired")
}

func TestFailEnvelopeOn200(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now)
	s.FailEnvelope(mimecasttest.PathGetAccount, 1, "err_something", "Something broke")
	_, err := c.GetAccount(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "err_something", e.Code)
	assert.Equal(t, "Something broke", e.Message)
	assert.NotEmpty(t, e.RequestID, "the x-mc-req-id of the request")
	assert.Contains(t, err.Error(), pathGetAccount)
}

func TestRateLimitedWaitsThenSucceeds(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now)
	s.RateLimit(mimecasttest.PathGetAccount, 2, time.Millisecond)
	_, err := c.GetAccount(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, s.Count(mimecasttest.PathGetAccount))
}

func TestServerErrorsExhaustRetries(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now, WithRetry(Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	s.ServerError(mimecasttest.PathGetAccount, 5, 503)
	_, err := c.GetAccount(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 503, e.Status)
	assert.True(t, e.Retryable)
	assert.Equal(t, 3, s.Count(mimecasttest.PathGetAccount))
}

func TestConnectionResetIsAnError(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	c := newTestClient(t, s, hmacConfig(s), time.Now, WithRetry(Retry{Max: -1}))
	s.ResetConnection(mimecasttest.PathGetAccount, 1)
	_, err := c.GetAccount(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), pathGetAccount)
}

func TestEnvelopeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		sentinel  error
		code      string
		retryable bool
	}{
		{"429", 429, `{"meta":{"status":429},"data":[],"fail":[{"errors":[{"code":"err_xdk_rate_limit_exceeded","message":"Quota Exceeded","retryable":true}]}]}`, cte.ErrRateLimited, "err_xdk_rate_limit_exceeded", true},
		{"401 signature", 401, `{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_xdk_invalid_signature","message":"0004 Invalid Signature","retryable":false}]}]}`, cte.ErrAuth, "err_xdk_invalid_signature", false},
		{"403", 403, `{"meta":{"status":403},"fail":[{"errors":[{"code":"err_forbidden","message":"Forbidden"}]}]}`, cte.ErrAuth, "err_forbidden", false},
		{"418 binding", 418, `{"meta":{"status":418},"fail":[{"errors":[{"code":"err_xdk_binding_expired","message":"AccessKey has expired"}]}]}`, cte.ErrAuth, CodeBindingExpired, false},
		{"oauth shape", 401, `{"fail":[{"code":"unauthorized"}]}`, cte.ErrAuth, "unauthorized", false},
		{"quota on 200", 200, `{"meta":{"status":200},"fail":[{"errors":[{"code":"err_q","message":"Quota not available to create the batch"}]}]}`, cte.ErrQuota, "err_q", true},
		{"500 not JSON", 500, `<html>oops</html>`, nil, "", true},
		{"200 meta 500 empty fail", 200, `{"meta":{"status":500},"data":[],"fail":[]}`, nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := httpError("/p", tc.status, []byte(tc.body), "rid")
			if tc.status == 200 {
				env, err := decodeEnvelope([]byte(tc.body))
				require.NoError(t, err)
				e = envelopeError("/p", 200, env, "rid")
			}
			require.NotNil(t, e)
			if tc.sentinel != nil {
				assert.ErrorIs(t, e, tc.sentinel)
			} else {
				assert.Empty(t, e.Unwrap())
			}
			assert.Equal(t, tc.code, e.Code)
			assert.Equal(t, tc.retryable, e.Retryable)
			assert.Equal(t, "rid", e.RequestID)
		})
	}
}

func TestDecodeEnvelopeRejectsNonObjects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "   ", "[]", "Timestamp|MD5\n", `{"data":`, `{"fail":"x"}`} {
		_, err := decodeEnvelope([]byte(body))
		assert.ErrorIs(t, err, ErrProtocol, "%q", body)
	}
	env, err := decodeEnvelope([]byte(`{"meta":{"status":200},"data":[{}],"fail":[]}`))
	require.NoError(t, err)
	assert.Nil(t, envelopeError("/p", 200, env, ""))
}

func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(accountOK))
	f.Add([]byte(`{"fail":[{"code":"token_expired"}]}`))
	f.Add([]byte(`{"meta":{"status":401},"data":[],"fail":[{"errors":[]}]}`))
	f.Add([]byte(`{"meta":{"status":200,"pagination":{"next":"x"}},"data":null,"fail":[{"key":{"url":"u"},"errors":[{"code":"c","message":"Date Header Too Skewed","retryable":true}]}]}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(body)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		for _, status := range []int{200, 401, 429, 500} {
			if e := envelopeError("/p", status, env, ""); e != nil {
				_ = e.Error()
			} else if status != 200 {
				t.Fatalf("HTTP %d gave no error", status)
			}
		}
		_ = httpError("/p", 500, body, "")
	})
}

// TestSecretsNeverShown formats the configuration, client and plugin every way and
// checks that no secret appears, nor in the error of a refused request.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	for _, mode := range []string{AuthHMAC, AuthOAuth} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := hmacConfig(s)
			secrets := []string{string(cfg.AppKey), string(cfg.AccessKey), string(cfg.SecretKey)}
			if mode == AuthOAuth {
				cfg = oauthConfig(s)
				secrets = []string{string(cfg.ClientSecret)}
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p := newTestPlugin(t, s, cfg, time.Now, WithLogger(logger))
			require.NoError(t, p.Validate(t.Context()))
			s.ServerError(mimecasttest.PathGetAccount, 1, 500)
			_, err := p.GetTargets(t.Context())
			require.NoError(t, err, "one retried 500")
			var shown []string
			var b []byte
			for _, v := range []any{cfg, &cfg, p.Client(), p} {
				shown = append(shown, fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprint(v))
			}
			b, err = json.Marshal(cfg)
			require.NoError(t, err)
			shown = append(shown, string(b))

			// A refused request: the fake refuses the wrong variant of each secret.
			bad := cfg
			bad.AppKey += "x"
			bad.ClientSecret += "x"
			bp := newTestPlugin(t, s, bad, time.Now, WithLogger(logger))
			err = bp.Validate(t.Context())
			require.ErrorIs(t, err, cte.ErrAuth)
			shown = append(shown, err.Error(), fmt.Sprintf("%+v", err))
			secrets = append(secrets, string(bad.AppKey), string(bad.ClientSecret))

			require.Contains(t, logs.String(), pathGetAccount, "debug logs were written")
			shown = append(shown, logs.String())
			all := strings.Join(shown, "\n")
			for _, sec := range secrets {
				if sec == "" || sec == "x" {
					continue
				}
				assert.NotContains(t, all, sec)
			}
			assert.Contains(t, all, "[redacted]")
		})
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockOAuth(), WithRetry(Retry{Max: 1, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	assert.Equal(t, "https://mock.test", c.BaseURL())
	assert.Equal(t, AuthOAuth, c.Auth())
	mt.RegisterResponder("POST", "https://mock.test/oauth/token", jsonResponder(503, `{"error":"temporarily_unavailable"}`))
	_, err := c.GetAccount(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 503, e.Status)
	assert.True(t, e.Retryable)
	assert.NotErrorIs(t, err, cte.ErrAuth)
	assert.Equal(t, 2, mt.GetCallCountInfo()["POST https://mock.test/oauth/token"], "a 5xx token answer is retried")

	mt.RegisterResponder("POST", "https://mock.test/oauth/token", httpmock.NewErrorResponder(errors.New("connection refused")))
	_, err = c.GetAccount(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/oauth/token")
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), "top-secret-client-secret")
}
