package mimecast

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
)

// Worked HMAC-SHA1 test vectors: made-up keys, signatures computed
// independently with Python's hmac, hashlib and base64.
const (
	vecSecret    = "bmV0c2tvcGUtZmFrZS1taW1lY2FzdC1zZWNyZXQtMDAwMQ=="
	vecAccessKey = "AK-test-0001"
	vecAppID     = "11111111-2222-3333-4444-555555555555"
	vecAppKey    = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	vecDate      = "Tue, 24 Nov 2015 12:50:11 UTC"
	vecReqID     = "8578fcfc-a305-4d9a-99cb-f4d5ecefe297"
)

var vecTime = time.Date(2015, 11, 24, 12, 50, 11, 0, time.UTC)

func vecConfig() Config {
	return Config{BaseURL: "us", Auth: AuthHMAC, AppID: vecAppID, AppKey: vecAppKey, AccessKey: vecAccessKey, SecretKey: vecSecret}
}

// captureRT records the requests it is given and answers 200 {}.
type captureRT struct{ reqs []*http.Request }

func (c *captureRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.reqs = append(c.reqs, r)
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func TestSignerGoldenVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path, appKey, reqID, want string
	}{
		{"get-feed", "/api/ttp/threat-intel/get-feed", vecAppKey, vecReqID, "wr4LM/G7KHMqboKyQ8O6kPrCIdI="},
		{"create-batch", "/api/byo-threat-intelligence/create-batch", vecAppKey, vecReqID, "OvZxiweTywcORhtVBKYiwe44SQ8="},
		{"get-account", "/api/account/get-account", vecAppKey, vecReqID, "udg275DAvfA5KleRtIIDqqjJa3g="},
		{"wrong app key", "/api/ttp/threat-intel/get-feed", "wrong-app-key", vecReqID, "LCPNtll7NgDuhZd1GqkO/YVrDMM="},
		{"upper-case req id", "/api/ttp/threat-intel/get-feed", vecAppKey, strings.ToUpper(vecReqID), "H1QLO0r3iwqvptcrJmfqhB1gOgM="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := vecConfig()
			cfg.AppKey = cte.Secret(tc.appKey)
			rt := &captureRT{}
			s, err := newSigner(rt, cfg, func() time.Time { return vecTime.In(time.FixedZone("CET", 3600)) })
			require.NoError(t, err)
			s.newID = func() string { return tc.reqID }
			// The query string is not signed.
			req, err := http.NewRequest(http.MethodPost, "https://us-api.mimecast.com"+tc.path+"?x=1", nil)
			require.NoError(t, err)
			_, err = s.RoundTrip(req)
			require.NoError(t, err)
			require.Len(t, rt.reqs, 1)
			h := rt.reqs[0].Header
			assert.Equal(t, "MC "+vecAccessKey+":"+tc.want, h.Get("Authorization"))
			assert.Equal(t, vecDate, h.Get("x-mc-date"), "UTC with English names whatever the clock's zone")
			assert.Equal(t, tc.reqID, h.Get("x-mc-req-id"))
			assert.Equal(t, vecAppID, h.Get("x-mc-app-id"))
			assert.Empty(t, req.Header.Get("Authorization"), "the caller's request is not modified")
		})
	}
}

func TestSignerFreshHeadersEachAttempt(t *testing.T) {
	t.Parallel()
	rt := &captureRT{}
	now := vecTime
	s, err := newSigner(rt, vecConfig(), func() time.Time { return now })
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "https://us-api.mimecast.com/api/account/get-account", nil)
	require.NoError(t, err)
	_, err = s.RoundTrip(req)
	require.NoError(t, err)
	now = now.Add(time.Minute)
	_, err = s.RoundTrip(req)
	require.NoError(t, err)
	require.Len(t, rt.reqs, 2)
	a, b := rt.reqs[0].Header, rt.reqs[1].Header
	assert.NotEqual(t, a.Get("x-mc-req-id"), b.Get("x-mc-req-id"))
	assert.Equal(t, strings.ToLower(a.Get("x-mc-req-id")), a.Get("x-mc-req-id"), "request ids are lower case")
	assert.Equal(t, "Tue, 24 Nov 2015 12:51:11 UTC", b.Get("x-mc-date"))
	assert.NotEqual(t, a.Get("Authorization"), b.Get("Authorization"))
}

func TestSignerBadSecretKey(t *testing.T) {
	t.Parallel()
	cfg := vecConfig()
	cfg.SecretKey = "not base64!!"
	_, err := New(cfg)
	var ce *cte.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "secret_key", ce.Field)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "not base64!!")
}
