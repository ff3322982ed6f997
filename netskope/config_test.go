package netskope

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

func TestParseTenantURL(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://acme.goskope.com":     "https://acme.goskope.com",
		"https://acme.goskope.com/":    "https://acme.goskope.com",
		" https://ACME.goskope.com ":   "https://acme.goskope.com",
		"acme":                         "https://acme.goskope.com",
		"acme.eu.goskope.com":          "https://acme.eu.goskope.com",
		"HTTPS://acme.goskope.com":     "https://acme.goskope.com",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"https://acme.goskope.com:443": "https://acme.goskope.com:443",
	}
	for in, want := range good {
		u, err := ParseTenantURL(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, u.String(), in)
		}
	}
	bad := map[string]string{
		"":                                  "empty",
		"https://acme.goskope.com/api":      "path, query or fragment",
		"https://acme.goskope.com?x=1":      "path, query or fragment",
		"https://acme.goskope.com#f":        "path, query or fragment",
		"http://acme.goskope.com":           "plain http",
		"ftp://acme.goskope.com":            "not an absolute https URL",
		"https://user:pw@acme.goskope.com":  "user name or password",
		"acme/tenant":                       "neither a tenant name nor a URL",
		"https://":                          "not an absolute https URL",
		"https://acme.goskope.com/?":        "path, query or fragment",
		"acme goskope":                      "neither a tenant name nor a URL",
		"https://acme.goskope.com/a/b?c#d":  "path, query or fragment",
		"https://acme.goskope.com/%zz":      "not an absolute https URL",
		"https://acme.goskope.com/ /":       "path, query or fragment",
		"https://acme.goskope.com/api/v2/x": "path, query or fragment",
	}
	for in, want := range bad {
		_, err := ParseTenantURL(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
	_, err := ParseTenantURL("https://user:secretpw@acme.goskope.com")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secretpw")
}

func TestManifestKeys(t *testing.T) {
	t.Parallel()
	m := Driver().Manifest
	require.NoError(t, m.Validate())
	var keys []string
	for _, f := range m.Config {
		keys = append(keys, f.Key)
	}
	assert.Equal(t, []string{"tenant_url", "v2_token", "v1_token", "alert_types", "hash_types", "initial_range_days",
		"file_hash_lists", "file_hash_list_types", "max_list_mb"}, keys)
	for _, k := range []string{"v2_token", "v1_token"} {
		f, _ := m.Field(k)
		assert.Equal(t, cte.FieldPassword, f.Type, k)
	}
	assert.True(t, m.Capabilities.Pull && m.Capabilities.Push && m.Capabilities.Retract)
	var r cte.Registry
	r.Register(Driver()) // panics on an invalid manifest
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	norm, err := Manifest().Normalize(json.RawMessage(`{"tenant_url":"acme","v2_token":"v2tokenvalue"}`))
	require.NoError(t, err)
	c, err := ParseConfig(norm)
	require.NoError(t, err)
	assert.Equal(t, "acme", c.TenantURL)
	assert.Equal(t, []string{AlertMalsite, AlertMalware}, c.AlertTypes)
	assert.Equal(t, []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, c.HashTypes)
	assert.Equal(t, 7, c.InitialRangeDays)
	assert.Empty(t, c.FileHashLists)
	assert.Equal(t, []ioc.Type{ioc.TypeSHA256}, c.FileHashListTypes)
	assert.Equal(t, 8, c.MaxListMB)
	assert.Equal(t, cte.Secret("v2tokenvalue"), c.V2Token)
	assert.Empty(t, c.V1Token)
}

func TestParseConfigFull(t *testing.T) {
	t.Parallel()
	norm, err := Manifest().Normalize(json.RawMessage(`{"tenant_url":"https://acme.goskope.com","v2_token":"v2","v1_token":"v1",
		"alert_types":["malware"],"hash_types":["md5"],"initial_range_days":0,"file_hash_lists":"A, B ,C",
		"file_hash_list_types":["md5","sha256"],"max_list_mb":3}`))
	require.NoError(t, err)
	c, err := ParseConfig(norm)
	require.NoError(t, err)
	assert.Equal(t, []string{AlertMalware}, c.AlertTypes)
	assert.Equal(t, []ioc.Type{ioc.TypeMD5}, c.HashTypes)
	assert.Equal(t, 0, c.InitialRangeDays)
	assert.Equal(t, []string{"A", "B", "C"}, c.FileHashLists)
	assert.Equal(t, []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, c.FileHashListTypes)
	assert.Equal(t, 3, c.MaxListMB)
	assert.Equal(t, cte.Secret("v1"), c.V1Token)

	// Empty lists mean none, not the default.
	c, err = ParseConfig(json.RawMessage(`{"tenant_url":"acme","v2_token":"v2","alert_types":[],"file_hash_lists":["X"]}`))
	require.NoError(t, err)
	assert.Empty(t, c.AlertTypes)
	assert.NotNil(t, c.AlertTypes)
	assert.Equal(t, []string{"X"}, c.FileHashLists)
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`{"tenant_url":"https://acme.goskope.com/x","v2_token":"v2"}`: "tenant_url",
		`{"tenant_url":"acme"}`: "v2_token",
		`{"tenant_url":"acme","v2_token":"v2","initial_range_days":7.5}`:                          "initial_range_days",
		`{"tenant_url":"acme","v2_token":"v2","initial_range_days":400}`:                          "initial_range_days",
		`{"tenant_url":"acme","v2_token":"v2","max_list_mb":9}`:                                   "max_list_mb",
		`{"tenant_url":"acme","v2_token":"v2","max_list_mb":0.5}`:                                 "max_list_mb",
		`{"tenant_url":"acme","v2_token":"v2","hash_types":["sha1"]}`:                             "hash_types",
		`{"tenant_url":"acme","v2_token":"v2","alert_types":["dlp"]}`:                             "alert_types",
		`{"tenant_url":"acme","v2_token":"v2","file_hash_list_types":["url"]}`:                    "file_hash_list_types",
		`{"tenant_url":"acme","v2_token":"v2","file_hash_lists":["A","A"]}`:                       "file_hash_lists",
		`{"tenant_url":"acme","v2_token":"v2","file_hash_lists":["A"],"file_hash_list_types":[]}`: "file_hash_list_types",
		`{"tenant_url":"acme","v2_token":"bad token with spaces"}`:                                "v2_token",
		`{"tenant_url":"acme","v2_token":"v2","v1_token":"tab\there"}`:                            "v1_token",
		`{"tenant_url":5,"v2_token":"v2"}`:                                                        "tenant_url",
		`[1,2]`:                                                                                   "JSON object",
		`{`:                                                                                       "JSON object",
	}
	for in, field := range cases {
		_, err := ParseConfig(json.RawMessage(in))
		if !assert.Error(t, err, in) {
			continue
		}
		assert.ErrorIs(t, err, cte.ErrInvalidConfig, in)
		assert.Contains(t, err.Error(), field, in)
		assert.NotContains(t, err.Error(), "bad token with spaces", in)
		assert.NotContains(t, err.Error(), "tab\there", in)
	}
}

func TestConfigSecretsRedacted(t *testing.T) {
	t.Parallel()
	c := Config{TenantURL: "acme", V2Token: "v2-secret-value", V1Token: "v1-secret-value"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, s, "secret-value")
	}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "secret-value")
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{TenantURL: "https://acme.goskope.com"})
	require.Error(t, err)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	var ce *cte.ConfigError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "v2_token", ce.Field)

	c, err := New(Config{TenantURL: "acme", V2Token: "x"})
	require.NoError(t, err)
	got := c.Config()
	assert.Equal(t, "https://acme.goskope.com", c.Tenant())
	assert.Equal(t, 8, got.MaxListMB)
	assert.True(t, slices.Equal([]ioc.Type{ioc.TypeSHA256}, got.FileHashListTypes))
}

func TestDriverOpen(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	r.Register(Driver())
	p, err := r.Open(t.Context(), DriverName, json.RawMessage(`{"tenant_url":"acme","v2_token":"v2"}`), cte.WithName("x"))
	require.NoError(t, err)
	np, ok := p.(*Plugin)
	require.True(t, ok)
	assert.Equal(t, ExportIndex("x"), np.Index())

	_, err = r.Open(t.Context(), DriverName, json.RawMessage(`{"tenant_url":"acme/x","v2_token":"v2"}`))
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
}

// Issue 12 item 12: file_hash_lists is a list field: the JSON array a YAML list
// renders to opens, and so does the older comma string.
func TestDriverOpenFileHashListsAsList(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	r.Register(Driver())
	f, ok := Manifest().Field("file_hash_lists")
	require.True(t, ok)
	assert.Equal(t, cte.FieldList, f.Type)
	for _, lists := range []string{`["CE_Malware_Hashes","Other"]`, `"CE_Malware_Hashes, Other"`} {
		p, err := r.Open(t.Context(), DriverName, json.RawMessage(`{"tenant_url":"acme","v2_token":"v2","v1_token":"v1","file_hash_lists":`+lists+`,"file_hash_list_types":["sha256","md5"]}`))
		require.NoError(t, err, lists)
		cfg := p.(*Plugin).Client().Config()
		assert.Equal(t, []string{"CE_Malware_Hashes", "Other"}, cfg.FileHashLists, lists)
		assert.ElementsMatch(t, []ioc.Type{ioc.TypeMD5, ioc.TypeSHA256}, cfg.FileHashListTypes)
	}
}

func TestExportIndex(t *testing.T) {
	t.Parallel()
	a, b := ExportIndex("Netskope Prod"), ExportIndex("Netskope Prod")
	assert.Equal(t, a, b, "stable")
	assert.NotEqual(t, a, ExportIndex("Netskope Dev"))
	assert.Regexp(t, `^cte_[0-9a-f]{16}$`, a)
}

// Issue 13 item 4: a host goes from the typed Config to Registry.Open with
// Config.JSON; json.Marshal writes the manifest's keys with the tokens redacted,
// and %v and slog redact them too.
func TestConfigJSONRoundTripsThroughRegistry(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes"))
	cfg := fakeConfig(s)
	cfg.HashTypes = []ioc.Type{ioc.TypeSHA256}
	cfg.InitialRangeDays = 0
	var reg cte.Registry
	reg.Register(Driver())
	raw, err := cfg.JSON()
	require.NoError(t, err)
	p, err := reg.Open(t.Context(), DriverName, raw, cte.WithName("x"))
	require.NoError(t, err)
	require.NoError(t, p.Validate(t.Context()))
	got := p.(*Plugin).Client().Config()
	assert.Equal(t, cfg.V1Token.Reveal(), got.V1Token.Reveal())
	assert.Equal(t, cfg.HashTypes, got.HashTypes)
	assert.Equal(t, cfg.FileHashLists, got.FileHashLists)
	assert.Zero(t, got.InitialRangeDays, "0 (start now) survives the manifest's default of 7")

	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(b, &keys))
	for _, f := range Manifest().Config {
		assert.Contains(t, keys, f.Key, "json.Marshal writes the manifest's keys")
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, shown := range []string{string(b), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), logs.String()} {
		assert.NotContains(t, shown, s.V1Token())
		assert.NotContains(t, shown, s.V2Token())
	}
}
