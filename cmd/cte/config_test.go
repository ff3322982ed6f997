package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

func TestParseConfigGood(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig("/etc/cte/cte.yaml", []byte(goodConfig), newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("/etc/cte", "state.db"), cfg.State)
	require.Len(t, cfg.Plugins, 2)
	mc := cfg.Plugins[0]
	assert.Equal(t, "mimecast", mc.Name)
	assert.Equal(t, "mimecast", mc.Type)
	assert.Equal(t, 5*time.Minute, mc.SyncInterval)
	assert.Equal(t, 30*24*time.Hour, mc.Aging)
	var got map[string]any
	require.NoError(t, json.Unmarshal(mc.Config, &got))
	assert.Equal(t, "app-id-1234", got["app_id"])
	assert.Equal(t, secSecretKey, got["secret_key"], "the secret reaches the plugin")
	assert.Equal(t, 3.0, got["initial_range_days"])
	assert.Equal(t, "cte", got["provider"], "manifest defaults are filled in")
	ns := cfg.Plugins[1]
	assert.Equal(t, time.Hour, ns.SyncInterval, "default interval")
	assert.Equal(t, 90*24*time.Hour, ns.Aging, "default aging")

	require.Len(t, cfg.Rules, 2)
	assert.Equal(t, "all-hashes", cfg.Rules[0].Name)
	assert.Equal(t, "type in (sha256, md5)", cfg.Rules[0].Filter)
	require.Len(t, cfg.Rules[0].Exceptions, 2)
	assert.Equal(t, "tags has benign", cfg.Rules[0].Exceptions[0].Query)
	assert.Equal(t, "low", cfg.Rules[0].Exceptions[1].Name)
	require.Len(t, cfg.Sharing, 2)
	assert.Equal(t, "netskope-to-mimecast", cfg.Sharing[1].Name)
	assert.Equal(t, "operation/BLOCK", cfg.Sharing[1].Target)
	assert.Empty(t, cfg.Warnings)
	s, ok := cfg.sharingByName("mimecast-to-netskope")
	require.True(t, ok)
	assert.Equal(t, "sha256-only", s.Rule)
	_, ok = cfg.sharingByName("nope")
	assert.False(t, ok)
}

func TestParseConfigDefaultsAndForms(t *testing.T) {
	t.Parallel()
	y := edit(t, "state: state.db\n", "")
	y = strings.Replace(y, "initial_range_days: 3", "initial_range_days: ${DAYS}", 1)
	y = strings.Replace(y, "app_id: ${MC_APP_ID}", "app_id: 12345", 1)
	y = strings.Replace(y, "sync_interval: 5m", "sync_interval: 1h30m", 1)
	y = strings.Replace(y, "aging: 30d", "aging: 1.5d", 1)
	cfg, err := parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv("DAYS", "14"))
	require.NoError(t, err)
	assert.Equal(t, defaultState, cfg.State)
	var got map[string]any
	require.NoError(t, json.Unmarshal(cfg.Plugins[0].Config, &got))
	assert.Equal(t, 14.0, got["initial_range_days"], "a number from the environment is a number")
	assert.Equal(t, "12345", got["app_id"], "a YAML integer in a text field is text")
	assert.Equal(t, 90*time.Minute, cfg.Plugins[0].SyncInterval)
	assert.Equal(t, 36*time.Hour, cfg.Plugins[0].Aging)
}

func TestParseConfigLogRetention(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig("cte.yaml", []byte(goodConfig), newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, sharing.DefaultLogRetention, cfg.LogRetention, "absent: 90 days")
	for in, want := range map[string]time.Duration{
		"30d":    30 * 24 * time.Hour,
		"2160h":  90 * 24 * time.Hour,
		"0":      0,
		"0s":     0,
		"${RET}": 7 * 24 * time.Hour,
	} {
		y := edit(t, "state: state.db\n", "state: state.db\nlog_retention: "+in+"\n")
		cfg, err := parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv("RET", "7d"))
		require.NoError(t, err, in)
		assert.Equal(t, want, cfg.LogRetention, in)
	}
}

func TestParseConfigWarnsShortInterval(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig("cte.yaml", []byte(edit(t, "sync_interval: 5m", "sync_interval: 30s")), newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, []string{"cte.yaml:6: plugins.mimecast.sync_interval: 30s is shorter than 5m0s; the product may rate-limit cte"}, cfg.Warnings)
}

// TestConfigErrorMessages checks, word for word, what the common mistakes print.
func TestConfigErrorMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		env  func(string) (string, bool)
		want string
	}{
		{"bad duration", edit(t, "sync_interval: 5m", "sync_interval: 5 minutes"), nil,
			`cte.yaml:6: plugins.mimecast.sync_interval: "5 minutes" is not a duration; write e.g. 5m or 1h`},
		{"number as duration", edit(t, "sync_interval: 5m", "sync_interval: 300"), nil,
			`cte.yaml:6: plugins.mimecast.sync_interval: "300" is not a duration; write e.g. 5m or 1h`},
		{"bad log retention", edit(t, "state: state.db\n", "state: state.db\nlog_retention: forever\n"), nil,
			`cte.yaml:3: log_retention: "forever" is not a duration; write e.g. 30d or 2160h, or 0 to keep every audit entry`},
		{"negative log retention", edit(t, "state: state.db\n", "state: state.db\nlog_retention: -1h\n"), nil,
			`cte.yaml:3: log_retention: "-1h" is negative; write how long to keep audit entries, e.g. 30d, or 0 to keep them all`},
		{"log retention not a value", edit(t, "state: state.db\n", "state: state.db\nlog_retention: [30d]\n"), nil,
			`cte.yaml:3: log_retention: must be a single value, not a list`},
		{"bad aging", edit(t, "aging: 30d", "aging: 30 days"), nil,
			`cte.yaml:7: plugins.mimecast.aging: "30 days" is not a duration; write e.g. 90d or 720h`},
		{"zero interval", edit(t, "sync_interval: 5m", "sync_interval: 0s"), nil,
			`cte.yaml:6: plugins.mimecast.sync_interval: "0s" must be longer than 0; write e.g. 5m or 1h`},
		{"missing variable", goodConfig, testEnvWithout("MC_SECRET_KEY"),
			`cte.yaml:13: plugins.mimecast.config.secret_key: environment variable MC_SECRET_KEY is not set; export it, or write ${MC_SECRET_KEY:-} to allow it to be empty`},
		{"unknown plugin key", edit(t, "sync_interval: 5m", "sync_intervall: 5m"), nil,
			`cte.yaml:6: plugins.mimecast.sync_intervall: unknown key (did you mean sync_interval?); known keys: type, sync_interval, aging, pull, config`},
		{"unknown top key", edit(t, "state: state.db", "stat: state.db"), nil,
			`cte.yaml:2: stat: unknown key (did you mean state?); known keys: state, log_retention, plugins, rules, sharing, lease`},
		{"unknown config key", edit(t, "base_url: us", "baseurl: us"), nil,
			`cte.yaml:9: plugins.mimecast.config.baseurl: unknown key for mimecast; known keys: base_url, auth, app_id, app_key, access_key, secret_key, client_id, client_secret, feed_types, hash_types, initial_range_days, provider`},
		{"missing required config", edit(t, "      tenant_url: https://acme.goskope.com\n", ""), nil,
			`cte.yaml:17: plugins.netskope.config.tenant_url: required (Tenant URL)`},
		{"wrong config type", edit(t, "initial_range_days: 3", "initial_range_days: three"), nil,
			`cte.yaml:14: plugins.mimecast.config.initial_range_days: "three" is not a number`},
		{"out of range", edit(t, "initial_range_days: 3", "initial_range_days: 400"), nil,
			`cte.yaml:14: plugins.mimecast.config.initial_range_days: 400 is out of range 0 to 365`},
		{"config not a mapping", edit(t, "      tenant_url: https://acme.goskope.com\n      v2_token: ${NS_V2}\n      v1_token: ${NS_V1}\n      file_hash_lists: CE_Malware_Hashes\n", "      - tenant_url\n"), nil,
			`cte.yaml:18: plugins.netskope.config: must be a mapping of Netskope settings`},
		{"unknown type", edit(t, "type: netskope", "type: netskop"), nil,
			`cte.yaml:16: plugins.netskope.type: "netskop" is not a plugin type; write one of: mimecast, netskope`},
		{"missing type", edit(t, "    type: netskope\n", ""), nil,
			`cte.yaml:15: plugins.netskope.type: is missing; write type: mimecast or type: netskope`},
		{"missing plugins", "state: x.db\n", nil,
			`cte.yaml:1: plugins: is missing; configure at least one plugin (see testdata/cte.yaml)`},
		{"empty file", "# nothing\n", nil,
			`cte.yaml: the file is empty; start from testdata/cte.yaml`},
		{"not yaml", "plugins:\n  a: [\n", nil,
			`cte.yaml:2: not valid YAML: did not find expected node content`},
		{"tab indentation", "plugins:\n\tmimecast:\n", nil,
			`cte.yaml:2: not valid YAML: found character that cannot start any token`},
		{"duplicate plugin", edit(t, "  netskope:\n    type: netskope", "  mimecast:\n    type: netskope"), nil,
			`cte.yaml:15: plugins.mimecast: given twice (first at line 4); keep one
cte.yaml:36: sharing[0].destination: no plugin named "netskope"; plugins: mimecast
cte.yaml:39: sharing[1].source: no plugin named "netskope"; plugins: mimecast`},
		{"plugin named manual", edit(t, "  netskope:\n    type: netskope", "  manual:\n    type: netskope"), nil,
			`cte.yaml:15: plugins.manual: "manual" is cte's own source of the indicators added by hand (cte iocs add): give the plugin another name
cte.yaml:36: sharing[0].destination: no plugin named "netskope"; plugins: mimecast
cte.yaml:39: sharing[1].source: no plugin named "netskope"; plugins: mimecast`},
		{"bad filter", edit(t, "filter: type == sha256", "filter: typ == sha256"), nil,
			"cte.yaml:30: rules.sha256-only.filter: column 1: unknown field \"typ\": want one of type, value, severity, reputation, source, tags, comments, firstSeen, lastSeen, age, expiresAt\n    typ == sha256\n    ^"},
		{"missing filter", edit(t, "    filter: type == sha256\n", ""), nil,
			`cte.yaml:29: rules.sha256-only.filter: is missing; write e.g. filter: "type in (sha256, md5)", or filter: all`},
		{"bad muted", edit(t, "muted: false", "muted: sometimes"), nil,
			`cte.yaml:31: rules.sha256-only.muted: "sometimes" is not true or false`},
		{"empty exception", edit(t, "      - name: low\n        query: severity == low\n", "      - name: low\n"), nil,
			`cte.yaml:27: rules.all-hashes.exceptions[1]: needs a query or tags; write e.g. query: severity == low, or tags: [benign]`},
		{"sharing unknown plugin", edit(t, "    source: mimecast\n", "    source: mimecst\n"), nil,
			`cte.yaml:34: sharing[0].source: no plugin named "mimecst" (did you mean mimecast?); plugins: mimecast, netskope`},
		{"sharing unknown rule", edit(t, "rule: sha256-only\n", "rule: all\n"), nil,
			`cte.yaml:35: sharing[0].rule: no rule named "all"; rules: all-hashes, sha256-only`},
		{"sharing missing target", edit(t, "    target: operation/BLOCK\n", ""), nil,
			`cte.yaml:38: sharing[1].target: is missing; write a target of the destination (cte targets NAME lists them), e.g. target: operation/BLOCK`},
		{"sharing to itself", edit(t, "    destination: mimecast\n", "    destination: netskope\n"), nil,
			`cte.yaml:41: sharing[1].destination: is the source "netskope"; a sharing configuration goes from one plugin to another`},
		{"sharing duplicate name", edit(t, "name: netskope-to-mimecast", "name: mimecast-to-netskope"), nil,
			`cte.yaml:38: sharing[1].name: "mimecast-to-netskope" is used twice (first at line 33); give each sharing configuration its own name`},
		{"sharing not a list", edit(t, "sharing:\n  - name: mimecast-to-netskope", "sharing:\n  x:\n  - name: mimecast-to-netskope"), nil,
			`cte.yaml:33: sharing: must be a list of {name, source, rule, destination, target} entries`},
		{"list as a value", edit(t, "sync_interval: 5m", "sync_interval: [5m]"), nil,
			`cte.yaml:6: plugins.mimecast.sync_interval: must be a single value, not a list`},
		{"alias as a value", strings.Replace(edit(t, "base_url: us", "base_url: &u us"), "app_id: ${MC_APP_ID}", "app_id: *u", 1), nil,
			`cte.yaml:10: plugins.mimecast.config.app_id: must be a value or a list, not an alias (*name); write the value itself`},
		{"empty tag", edit(t, "tags has benign", `{name: x, tags: [""]}`), nil,
			`cte.yaml:26: rules.all-hashes.exceptions[0].tags[0]: is empty; write a tag`},
		{"no tags", edit(t, "tags has benign", `{name: x, tags: []}`), nil,
			`cte.yaml:26: rules.all-hashes.exceptions[0].tags: is empty: list the tags that exempt a value, e.g. tags: [benign], or remove the exception`},
		{"empty tags", edit(t, "tags has benign", `{name: x, tags: ""}`), nil,
			`cte.yaml:26: rules.all-hashes.exceptions[0].tags: is empty; write a tag or a list of tags`},
		{"unknown exception key", edit(t, "tags has benign", `{name: x, tag: [a]}`), nil,
			`cte.yaml:26: rules.all-hashes.exceptions[0].tag: unknown key (did you mean tags?); known keys: name, query, tags
cte.yaml:26: rules.all-hashes.exceptions[0]: needs a query or tags; write e.g. query: severity == low, or tags: [benign]`},
		{"exception is a list", edit(t, "tags has benign", `[a]`), nil,
			`cte.yaml:26: rules.all-hashes.exceptions[0]: must be a query or a mapping with the keys name, query, tags`},
		{"exceptions not a list", edit(t, "    exceptions:\n      - tags has benign\n      - name: low\n        query: severity == low\n", "    exceptions: none\n"), nil,
			`cte.yaml:25: rules.all-hashes.exceptions: must be a list of queries or {name, query, tags} entries, e.g. ["tags has benign"]`},
		{"empty state", edit(t, "state: state.db", `state: ""`), nil,
			`cte.yaml:2: state: is empty; write the path of the state file, e.g. cte-state.db`},
		{"bad choice", edit(t, "      initial_range_days: 3", "      hash_types: [sha1]"), nil,
			`cte.yaml:14: plugins.mimecast.config.hash_types: "sha1" is not one of sha256, md5`},
		{"plugins a list", "plugins: []\n", nil,
			`cte.yaml:1: plugins: must map plugin names to their settings, e.g. plugins: {mimecast: {type: mimecast, config: {...}}}`},
		{"plugin a word", "plugins:\n  mimecast: x\n", nil,
			`cte.yaml:2: plugins.mimecast: must be a mapping with the keys type, sync_interval, aging, pull, config`},
		{"rules a list", "plugins:\n  mimecast: {type: mimecast}\nrules: [a]\n", nil,
			`cte.yaml:3: rules: must map rule names to rules, e.g. rules: {all-hashes: {filter: "type in (sha256, md5)"}}`},
		{"rule a word", "plugins:\n  mimecast: {type: mimecast, config: {base_url: us}}\nrules:\n  r: x\n", nil,
			`cte.yaml:4: rules.r: must be a mapping with the keys filter, exceptions, muted`},
		{"file a list", "- a\n", nil,
			`cte.yaml:1: the file must be a mapping with the keys state, log_retention, plugins, rules, sharing, lease`},
		{"bad plugin name", edit(t, "  netskope:\n    type: netskope", "  net skope:\n    type: netskope"), nil,
			`cte.yaml:15: plugins.net skope: "net skope" is not a usable name; use letters, digits, '-', '_' and '.', at most 64
cte.yaml:36: sharing[0].destination: no plugin named "netskope"; plugins: mimecast
cte.yaml:39: sharing[1].source: no plugin named "netskope"; plugins: mimecast`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := tc.env
			if env == nil {
				env = testEnv()
			}
			_, err := parseConfig("cte.yaml", []byte(tc.yaml), newRegistry(), env)
			require.Error(t, err)
			assert.True(t, errors.Is(err, cte.ErrInvalidConfig), "wraps cte.ErrInvalidConfig")
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	y := edit(t, "sync_interval: 5m", "sync_interval: soon")
	y = strings.Replace(y, "type: netskope", "type: netskop", 1)
	_, err := parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv())
	require.Error(t, err)
	assert.Equal(t, `cte.yaml:6: plugins.mimecast.sync_interval: "soon" is not a duration; write e.g. 5m or 1h
cte.yaml:16: plugins.netskope.type: "netskop" is not a plugin type; write one of: mimecast, netskope`, err.Error())
}

// TestConfigErrorsNeverShowSecrets puts secrets where the checks complain about
// them and checks that no message carries the value.
func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const literal = "LiteralSecretInFile99"
	cases := map[string]string{
		"secret as list":        edit(t, "secret_key: ${MC_SECRET_KEY}", "secret_key: [${MC_SECRET_KEY}]"),
		"secret in unknown key": edit(t, "secret_key: ${MC_SECRET_KEY}", "secret_kee: ${MC_SECRET_KEY}"),
		"secret as number":      edit(t, "initial_range_days: 3", "initial_range_days: ${MC_SECRET_KEY}"),
		"literal secret":        edit(t, "app_key: ${MC_APP_KEY}", "app_key: "+literal+"\n      auth: "+literal),
		"secret in type":        edit(t, "type: netskope", "type: ${NS_V2}"),
		"secret as duration":    edit(t, "sync_interval: 5m", "sync_interval: ${NS_V1}"),
	}
	for name, y := range cases {
		_, err := parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv())
		require.Error(t, err, name)
		for _, s := range []string{secAppKey, secAccessKey, secSecretKey, secV2, secV1, literal} {
			assert.NotContains(t, err.Error(), s, name)
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cte.yaml")
	_, err := loadConfigFile(path, newRegistry(), testEnv())
	require.Error(t, err)
	assert.Equal(t, path+": no such file; write one (start from testdata/cte.yaml) or name it with --config", err.Error())
	require.NoError(t, os.WriteFile(path, []byte(goodConfig), 0o600))
	cfg, err := loadConfigFile(path, newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(filepath.Dir(path), "state.db"), cfg.State)
}

func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	env := testEnv("MIMECAST_APP_ID", "id", "MIMECAST_APP_KEY", "k1", "MIMECAST_ACCESS_KEY", "k2",
		"MIMECAST_SECRET_KEY", "c2VjcmV0", "NETSKOPE_V2_TOKEN", "t2", "NETSKOPE_V1_TOKEN", "t1")
	cfg, err := loadConfigFile(filepath.Join("..", "..", "testdata", "cte.yaml"), newRegistry(), env)
	require.NoError(t, err)
	assert.Len(t, cfg.Plugins, 2)
	assert.Len(t, cfg.Sharing, 2)
	assert.Equal(t, 5*time.Minute, cfg.Plugins[0].SyncInterval)
	r, ok := cfg.rule("all-file-hashes")
	require.True(t, ok)
	assert.Equal(t, []sharing.Exception{{Name: "benign", Tags: []string{"benign", "false-positive"}}}, r.Exceptions)
	assert.Equal(t, "operation/BLOCK", cfg.Sharing[1].Target)
}

func TestOpenPluginPlacesDriverErrors(t *testing.T) {
	t.Parallel()
	reg := newRegistry()
	for _, tc := range []struct{ old, new, want string }{
		{"base_url: us", "base_url: us\n      auth: oauth",
			"cte.yaml:8: plugins.mimecast.config.client_id: required for auth oauth (API 2.0): copy it from the Mimecast API 2.0 application"},
		{"secret_key: ${MC_SECRET_KEY}", "secret_key: not*base64!" + secAppKey,
			"cte.yaml:13: plugins.mimecast.config.secret_key: is not valid base64: paste the Secret Key exactly as Mimecast showed it when the keys were created"},
	} {
		cfg, err := parseConfig("cte.yaml", []byte(edit(t, tc.old, tc.new)), reg, testEnv())
		require.NoError(t, err)
		_, err = cfg.openPlugin(t.Context(), reg, cfg.Plugins[0])
		require.Error(t, err)
		assert.Equal(t, tc.want, err.Error())
		assert.True(t, errors.Is(err, cte.ErrInvalidConfig))
	}
}

// TestREADMEConfigLoads keeps the configuration shown in README.md valid.
func TestREADMEConfigLoads(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	require.True(t, ok, "README.md has a yaml block")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	env := testEnv("MIMECAST_APP_ID", "id", "MIMECAST_APP_KEY", "k1", "MIMECAST_ACCESS_KEY", "k2",
		"MIMECAST_SECRET_KEY", "c2VjcmV0", "NETSKOPE_V2_TOKEN", "t2", "NETSKOPE_V1_TOKEN", "t1")
	cfg, err := parseConfig("cte.yaml", []byte(block), newRegistry(), env)
	require.NoError(t, err)
	assert.Len(t, cfg.Sharing, 2)
}
