package mimecast

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestManifestKeysAndDefaults(t *testing.T) {
	t.Parallel()
	m := Manifest()
	require.NoError(t, m.Validate())
	var keys []string
	for _, f := range m.Config {
		keys = append(keys, f.Key)
		if f.Key == "app_key" || f.Key == "access_key" || f.Key == "secret_key" || f.Key == "client_secret" {
			assert.Equal(t, cte.FieldPassword, f.Type, f.Key)
		}
	}
	assert.Equal(t, []string{"base_url", "auth", "app_id", "app_key", "access_key", "secret_key", "client_id", "client_secret",
		"feed_types", "hash_types", "initial_range_days", "provider"}, keys)

	raw, err := m.Normalize(json.RawMessage(`{"client_id":"id","client_secret":"sec"}`))
	require.NoError(t, err)
	cfg, err := ParseConfig(raw)
	require.NoError(t, err)
	assert.Equal(t, AuthOAuth, cfg.Auth, "the filled-in credential set picks the mode")
	assert.Equal(t, []string{FeedMalwareCustomer, FeedMalwareGrid}, cfg.FeedTypes)
	assert.Equal(t, []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, cfg.HashTypes)
	assert.Equal(t, 7, cfg.InitialRangeDays)
	assert.Equal(t, "cte", cfg.Provider)
	assert.Equal(t, time.Hour, cfg.Overlap)
	require.NoError(t, cfg.Validate())

	raw, err = m.Normalize(json.RawMessage(`{"base_url":"eu","app_id":"a","app_key":"k","access_key":"ak","secret_key":"c2VjcmV0","initial_range_days":0,"feed_types":["malsite"]}`))
	require.NoError(t, err)
	cfg, err = ParseConfig(raw)
	require.NoError(t, err)
	assert.Equal(t, AuthHMAC, cfg.Auth)
	assert.Equal(t, NoHistory, cfg.InitialRangeDays, "0 days in the manifest: start now")
	require.NoError(t, cfg.Validate())
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, field string }{
		{`{"initial_range_days":1.5}`, "initial_range_days"},
		{`{"initial_range_days":400}`, "initial_range_days"},
		{`{"nope":1}`, ""},
		{`[]`, ""},
	} {
		_, err := ParseConfig(json.RawMessage(tc.raw))
		var ce *cte.ConfigError
		require.ErrorAs(t, err, &ce, tc.raw)
		assert.Equal(t, tc.field, ce.Field, tc.raw)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{BaseURL: "us", AppID: "a", AppKey: "k", AccessKey: "ak", SecretKey: "c2VjcmV0"}
	require.NoError(t, good.Validate())
	for _, tc := range []struct {
		name, field string
		edit        func(*Config)
	}{
		{"no credentials", "auth", func(c *Config) { *c = Config{} }},
		{"both sets", "auth", func(c *Config) { c.ClientID = "x" }},
		{"bad auth", "auth", func(c *Config) { c.Auth = "basic" }},
		{"missing app key", "app_key", func(c *Config) { c.Auth = AuthHMAC; c.AppKey = "" }},
		{"missing client secret", "client_secret", func(c *Config) { *c = Config{Auth: AuthOAuth, ClientID: "x"} }},
		{"bad secret key", "secret_key", func(c *Config) { c.SecretKey = "%%%" }},
		{"hmac without region", "base_url", func(c *Config) { c.BaseURL = "" }},
		{"unknown feed", "feed_types", func(c *Config) { c.FeedTypes = []string{"spam"} }},
		{"no feed", "feed_types", func(c *Config) { c.FeedTypes = []string{} }},
		{"unknown hash", "hash_types", func(c *Config) { c.HashTypes = []ioc.Type{ioc.TypeURL} }},
		{"no hash", "hash_types", func(c *Config) { c.HashTypes = []ioc.Type{} }},
		{"long provider", "provider", func(c *Config) { c.Provider = "NetskopeCE-1" }},
		{"range", "initial_range_days", func(c *Config) { c.InitialRangeDays = 366 }},
		{"overlap", "Overlap", func(c *Config) { c.Overlap = -time.Second }},
		{"path in URL", "base_url", func(c *Config) { c.BaseURL = "https://us-api.mimecast.com/api/x" }},
		{"plain http", "base_url", func(c *Config) { c.BaseURL = "http://us-api.mimecast.com" }},
		{"unknown console region", "base_url", func(c *Config) { c.BaseURL = "https://login-mars.mimecast.com/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.edit(&c)
			err := c.Validate()
			var ce *cte.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.ErrorIs(t, err, cte.ErrInvalidConfig)
			_, err = New(c)
			assert.ErrorIs(t, err, cte.ErrInvalidConfig)
		})
	}
}

func TestResolveBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, auth, want string }{
		{"us", AuthHMAC, "https://us-api.mimecast.com"},
		{"USB", AuthHMAC, "https://usb-api.mimecast.com"},
		{"eu", AuthHMAC, "https://eu-api.mimecast.com"},
		{"de", AuthHMAC, "https://de-api.mimecast.com"},
		{"ca", AuthHMAC, "https://ca-api.mimecast.com"},
		{"za", AuthHMAC, "https://za-api.mimecast.com"},
		{"au", AuthHMAC, "https://au-api.mimecast.com"},
		{"je", AuthHMAC, "https://je-api.mimecast.com"},
		{"https://login-uk.mimecast.com/mimecast/admin#/dashboard", AuthHMAC, "https://eu-api.mimecast.com"},
		{"https://login-de.mimecast.com/", AuthHMAC, "https://de-api.mimecast.com"},
		{"https://de-api.mimecast.com/", AuthHMAC, "https://de-api.mimecast.com"},
		{"za-api.mimecast.com", AuthHMAC, "https://za-api.mimecast.com"},
		{"http://127.0.0.1:8080", AuthHMAC, "http://127.0.0.1:8080"},
		{"", AuthOAuth, GlobalAPI2},
		{"us", AuthOAuth, "https://us-api.services.mimecast.com"},
		{"https://login-uk.mimecast.com/x", AuthOAuth, "https://uk-api.services.mimecast.com"},
		{"de", AuthOAuth, GlobalAPI2},
		{"https://api.services.mimecast.com", AuthOAuth, GlobalAPI2},
	} {
		got, err := ResolveBaseURL(tc.in, tc.auth)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestDriverOpenThroughRegistry(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	cr := s.Credentials()
	var reg cte.Registry
	reg.Register(Driver())
	raw, err := json.Marshal(map[string]any{
		"base_url": s.URL, "app_id": cr.AppID, "app_key": cr.AppKey, "access_key": cr.AccessKey, "secret_key": cr.SecretKey,
		"feed_types": []string{"malware_grid"}, "provider": "acme",
	})
	require.NoError(t, err)
	p, err := reg.Open(t.Context(), "mimecast", raw, cte.WithHTTPClient(s.Client()), cte.WithName("mc1"))
	require.NoError(t, err)
	require.NoError(t, p.Validate(t.Context()))
	res, err := p.Push(t.Context(), target(TargetBlock), sha256s(1))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	assert.Equal(t, "acme", s.Hashes()[sha256s(1)[0].Value].Provider)

	_, err = reg.Open(t.Context(), "mimecast", json.RawMessage(`{"secret_key":"%%%","app_id":"a","app_key":"b","access_key":"c","base_url":"us"}`))
	var ce *cte.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "secret_key", ce.Field)
}

// Issue 13 item 4: a host goes from the typed Config to Registry.Open with
// Config.JSON; json.Marshal, %v and slog keep redacting the secrets, and the
// redacted form is refused with a message that says what to use.
func TestConfigJSONRoundTripsThroughRegistry(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareGrid}
	cfg.HashTypes = []ioc.Type{ioc.TypeSHA256}
	cfg.InitialRangeDays = NoHistory
	var reg cte.Registry
	reg.Register(Driver())
	raw, err := cfg.JSON()
	require.NoError(t, err)
	p, err := reg.Open(t.Context(), DriverName, raw, cte.WithHTTPClient(s.Client()))
	require.NoError(t, err)
	require.NoError(t, p.Validate(t.Context()))
	got := p.(*Plugin).cfg
	assert.Equal(t, cfg.SecretKey.Reveal(), got.SecretKey.Reveal())
	assert.Equal(t, cfg.HashTypes, got.HashTypes)
	assert.Equal(t, NoHistory, got.InitialRangeDays)
	assert.Equal(t, cfg.FeedTypes, got.FeedTypes)

	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, shown := range []string{string(b), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), logs.String()} {
		for _, secret := range []cte.Secret{cfg.AppKey, cfg.AccessKey, cfg.SecretKey} {
			assert.NotContains(t, shown, secret.Reveal())
		}
	}
	_, err = reg.Open(t.Context(), DriverName, b)
	var ce *cte.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Reason, "Config.JSON")
}
