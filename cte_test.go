package cte_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

type nopPlugin struct{ cfg json.RawMessage }

func (nopPlugin) Validate(context.Context) error { return nil }
func (nopPlugin) Pull(context.Context, cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(func(cte.Page, error) bool) {}
}
func (nopPlugin) Push(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
	return cte.PushResult{}, cte.ErrNotSupported
}
func (nopPlugin) GetTargets(context.Context) ([]cte.Target, error) { return nil, nil }

var manifest = cte.Manifest{
	ID: "acme", Name: "Acme", Version: "1.0.0", Description: "test product",
	Capabilities: cte.Capabilities{Pull: true},
	Config: []cte.Field{
		{Key: "url", Label: "URL", Type: cte.FieldText, Required: true},
		{Key: "token", Label: "API token", Type: cte.FieldPassword, Required: true},
		{Key: "provider", Label: "Provider", Type: cte.FieldText, Default: "cte", Max: cte.Float(10)},
		{Key: "mode", Label: "Mode", Type: cte.FieldChoice, Default: "fast", Choices: []cte.Choice{{Key: "Fast", Value: "fast"}, {Key: "Slow", Value: "slow"}}},
		{Key: "kinds", Label: "Kinds", Type: cte.FieldMultiChoice, Default: []string{"a"}, Choices: []cte.Choice{{Key: "A", Value: "a"}, {Key: "B", Value: "b"}}},
		{Key: "days", Label: "Days", Type: cte.FieldNumber, Default: 7, Min: cte.Float(0), Max: cte.Float(365)},
		{Key: "debug", Label: "Debug", Type: cte.FieldBool, Default: false},
	},
}

func driver() cte.Driver {
	return cte.Driver{Name: "acme", Manifest: manifest, Open: func(_ context.Context, cfg json.RawMessage, _ cte.Options) (cte.Plugin, error) {
		return nopPlugin{cfg: cfg}, nil
	}}
}

func TestRegistryOpenFillsDefaults(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	r.Register(driver())
	p, err := r.Open(t.Context(), "acme", json.RawMessage(`{"url":"https://x.example","token":"s3cret"}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"url":"https://x.example","token":"s3cret","provider":"cte","mode":"fast","kinds":["a"],"days":7,"debug":false}`, string(p.(nopPlugin).cfg))
}

func TestRegistryOpenErrors(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	r.Register(driver())
	r.Register(cte.Driver{Name: "beta", Manifest: cte.Manifest{ID: "beta", Name: "Beta"}, Open: driver().Open})
	cases := []struct {
		name, cfg, want string
	}{
		{"missing required", `{"url":"https://x"}`, "invalid configuration: token: required (API token)"},
		{"blank required", `{"url":"https://x","token":"  "}`, "invalid configuration: token: required (API token)"},
		{"unknown key", `{"url":"u","token":"t","tokn":"x"}`, "invalid configuration: tokn: unknown key for acme; known keys: url, token, provider, mode, kinds, days, debug"},
		{"wrong type", `{"url":5,"token":"t"}`, "invalid configuration: url: 5 is not a string"},
		{"bad choice", `{"url":"u","token":"t","mode":"warp"}`, `invalid configuration: mode: "warp" is not one of fast, slow`},
		{"bad multichoice", `{"url":"u","token":"t","kinds":["a","z"]}`, `invalid configuration: kinds: "z" is not one of a, b`},
		{"out of range", `{"url":"u","token":"t","days":400}`, "invalid configuration: days: 400 is out of range 0 to 365"},
		{"not a number", `{"url":"u","token":"t","days":"seven"}`, `invalid configuration: days: "seven" is not a number`},
		{"not a bool", `{"url":"u","token":"t","debug":"yes"}`, `invalid configuration: debug: "yes" is not true or false`},
		{"too long", `{"url":"u","token":"t","provider":"NetskopeCTE1"}`, `invalid configuration: provider: "NetskopeCTE1" is longer than 10 characters`},
		{"not an object", `[1,2]`, "invalid configuration: acme configuration must be a JSON object of key: value pairs (got a JSON array)"},
		{"syntax", `{"url":`, "invalid configuration: acme configuration must be a JSON object of key: value pairs"},
		{"password never echoed", `{"url":"u","token":12345678}`, "invalid configuration: token: the value given is not a string"},
		{"redacted placeholder", `{"url":"u","token":"[redacted]"}`, `invalid configuration: token: is "[redacted]", what a secret prints as`},
	}
	for _, tc := range cases {
		_, err := r.Open(t.Context(), "acme", json.RawMessage(tc.cfg))
		require.Error(t, err, tc.name)
		assert.ErrorIs(t, err, cte.ErrInvalidConfig, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		assert.NotContains(t, err.Error(), "12345678", tc.name)
	}
	_, err := r.Open(t.Context(), "nope", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	assert.Contains(t, err.Error(), `unknown plugin "nope" (known: acme, beta)`)

	var empty cte.Registry
	_, err = empty.Open(t.Context(), "acme", nil)
	assert.ErrorContains(t, err, "known: none registered")
}

func TestMultichoiceAcceptsCommaString(t *testing.T) {
	t.Parallel()
	out, err := manifest.Normalize(json.RawMessage(`{"url":"u","token":"t","kinds":"a, b"}`))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	assert.Equal(t, []any{"a", "b"}, m["kinds"])
}

// Issue 12 item 12: a field holding several free values takes a JSON array (what
// a YAML list renders to) and, for older configurations, one comma string.
func TestListFieldThroughRegistryOpen(t *testing.T) {
	t.Parallel()
	m := cte.Manifest{ID: "lists", Name: "Lists", Config: []cte.Field{{Key: "names", Label: "Names", Type: cte.FieldList}}}
	require.NoError(t, m.Validate())
	var r cte.Registry
	r.Register(cte.Driver{Name: "lists", Manifest: m, Open: driver().Open})
	for cfg, want := range map[string]string{
		`{"names":["CE_Malware_Hashes"]}`:           `{"names":["CE_Malware_Hashes"]}`,
		`{"names":[" a ","b","a",""]}`:              `{"names":["a","b"]}`,
		`{"names":"CE_Malware_Hashes, Other_List"}`: `{"names":["CE_Malware_Hashes","Other_List"]}`,
		`{"names":[]}`:                              `{"names":[]}`,
	} {
		p, err := r.Open(t.Context(), "lists", json.RawMessage(cfg))
		require.NoError(t, err, cfg)
		assert.JSONEq(t, want, string(p.(nopPlugin).cfg), cfg)
	}
	_, err := r.Open(t.Context(), "lists", json.RawMessage(`{"names":[1,2]}`))
	require.ErrorIs(t, err, cte.ErrInvalidConfig)
	assert.ErrorContains(t, err, "names: [1,2] is not a list of strings")
}

func TestRegistryOpenerErrorIsWrapped(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	d := driver()
	d.Open = func(context.Context, json.RawMessage, cte.Options) (cte.Plugin, error) {
		return nil, &cte.ConfigError{Field: "url", Reason: "not reachable"}
	}
	r.Register(d)
	_, err := r.Open(t.Context(), "acme", json.RawMessage(`{"url":"u","token":"t"}`))
	var ce *cte.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "url", ce.Field)
	assert.EqualError(t, err, "cte: open acme: invalid configuration: url: not reachable")
}

func TestRegisterPanics(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	r.Register(driver())
	assert.PanicsWithValue(t, "cte: Register called twice for driver acme", func() { r.Register(driver()) })
	assert.PanicsWithValue(t, "cte: Register with an empty driver name", func() { r.Register(cte.Driver{Open: driver().Open}) })
	assert.PanicsWithValue(t, "cte: Register x with a nil Open", func() { r.Register(cte.Driver{Name: "x"}) })
	bad := driver()
	bad.Name = "bad"
	bad.Manifest.Config = append(bad.Manifest.Config, cte.Field{Key: "url", Type: cte.FieldText})
	assert.Panics(t, func() { r.Register(bad) })
	bad.Manifest.Config = []cte.Field{{Key: "c", Type: cte.FieldChoice}}
	assert.Panics(t, func() { r.Register(bad) })
	bad.Manifest.Config = []cte.Field{{Key: "n", Type: cte.FieldNumber, Default: "x"}}
	assert.Panics(t, func() { r.Register(bad) })
	bad.Manifest.Config = []cte.Field{{Key: "n", Type: "slider"}}
	assert.Panics(t, func() { r.Register(bad) })
}

func TestDriversSorted(t *testing.T) {
	t.Parallel()
	var r cte.Registry
	for _, n := range []string{"zeta", "alpha", "mid"} {
		d := driver()
		d.Name = n
		r.Register(d)
	}
	var names []string
	for _, d := range r.Drivers() {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"alpha", "mid", "zeta"}, names)
	_, ok := r.Driver("mid")
	assert.True(t, ok)
}

func TestOptions(t *testing.T) {
	t.Parallel()
	o := cte.ApplyOptions()
	require.NotNil(t, o.Logger)
	require.NotNil(t, o.Clock)
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	o = cte.ApplyOptions(cte.WithName("prod"), cte.WithLogger(l), cte.WithLogger(nil), cte.WithClock(nil), nil)
	assert.Equal(t, "prod", o.Name)
	assert.Same(t, l, o.Logger)
	assert.NotNil(t, o.Clock)
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	type cfg struct {
		User   string
		Secret cte.Secret `json:"secret"`
	}
	c := cfg{User: "bob", Secret: "hunter2"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "secret", c.Secret, "cfg", c)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, c.Secret, c.Secret, c.Secret), string(b), buf.String(), c.Secret.String()} {
		assert.NotContains(t, s, "hunter2")
	}
	assert.Contains(t, string(b), "[redacted]")
	assert.Equal(t, "hunter2", c.Secret.Reveal())
	var back cfg
	require.NoError(t, json.Unmarshal([]byte(`{"secret":"p4ss"}`), &back))
	assert.Equal(t, "p4ss", back.Secret.Reveal())
	assert.Equal(t, "", cte.Secret("").String())
}

func TestModeText(t *testing.T) {
	t.Parallel()
	for _, m := range []cte.Mode{cte.Append, cte.Replace} {
		b, err := m.MarshalText()
		require.NoError(t, err)
		var back cte.Mode
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, m, back)
	}
	var m cte.Mode
	assert.ErrorContains(t, m.UnmarshalText([]byte("merge")), `mode "merge": want append or replace`)
	_, err := cte.Mode(0).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "Mode(9)", cte.Mode(9).String())
}

func TestTargetAcceptsAndResultAdd(t *testing.T) {
	t.Parallel()
	tg := cte.Target{Types: []ioc.Type{ioc.TypeMD5}}
	assert.True(t, tg.Accepts(ioc.TypeMD5))
	assert.False(t, tg.Accepts(ioc.TypeURL))
	r := cte.PushResult{Applied: 1}
	r.Add(cte.PushResult{Applied: 2, Unchanged: 3, Rejected: []cte.Rejected{{Value: "x"}}})
	assert.Equal(t, cte.PushResult{Applied: 3, Unchanged: 3, Rejected: []cte.Rejected{{Value: "x"}}}, r)
}

func TestSentinelsAndConfigError(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("mimecast: create batch: %w", &cte.ConfigError{Field: "secret_key", Reason: "not base64"})
	assert.True(t, errors.Is(err, cte.ErrInvalidConfig))
	assert.EqualError(t, &cte.ConfigError{Reason: "empty"}, "invalid configuration: empty")
	for _, e := range []error{cte.ErrNotSupported, cte.ErrInvalidConfig, cte.ErrAuth, cte.ErrRateLimited, cte.ErrQuota} {
		assert.NotEmpty(t, e.Error())
	}
}
