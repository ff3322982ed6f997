package netskope

import (
	"errors"

	"fmt"
	"github.com/jarcoal/httpmock"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes"))
	p := newPlugin(t, s, nil)
	require.NoError(t, p.Validate(t.Context()))
	_, exists := s.IteratorPosition(netskopetest.KindMalware, p.Index())
	assert.False(t, exists, "validation does not touch the pull cursor")
	paths := map[string]bool{}
	for _, rq := range s.Requests() {
		paths[rq.Path] = true
	}
	assert.True(t, paths[netskopetest.PathAppInstances], "v1 token checked")
	assert.True(t, paths[netskopetest.PathDataExportAlerts+"malware"] && paths[netskopetest.PathDataExportAlerts+"malsite"])
	assert.True(t, paths[netskopetest.PathURLList])
	assert.False(t, paths[netskopetest.PathUpdateFileHashList], "validation changes nothing")
}

func TestValidateNamesTheProblem(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t)
	err := newPlugin(t, s, func(c *Config) { c.V2Token = "wrong" }).Validate(t.Context())
	assert.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "check v2_token")
	assert.NotContains(t, err.Error(), "v1_token")

	err = newPlugin(t, s, func(c *Config) { c.V1Token = "wrong" }).Validate(t.Context())
	assert.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "check v1_token")
	assert.NotContains(t, err.Error(), "check v2_token")

	// No v1 token although file hash lists are named: push to them is not offered.
	err = newPlugin(t, s, func(c *Config) { c.V1Token = "" }).Validate(t.Context())
	var ce *cte.ConfigError
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.Equal(t, "v1_token", ce.Field)
	assert.Contains(t, ce.Reason, "not offered as targets")
	require.NoError(t, newPlugin(t, s, func(c *Config) { c.V1Token = ""; c.FileHashLists = nil }).Validate(t.Context()))
}

func TestValidateScopes(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithV2Scopes(netskopetest.ScopeAlertsMalware, netskopetest.ScopeURLList))
	err := newPlugin(t, s, nil).Validate(t.Context())
	assert.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "lacks read access to /api/v2/events/dataexport/alerts/malsite")
	assert.NotContains(t, err.Error(), "alerts/malware")
	require.NoError(t, newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} }).Validate(t.Context()))

	// Without the URL list scope, validation passes and the log says why no URL
	// list is offered.
	s2 := netskopetest.NewServer(t, netskopetest.WithV2Scopes(netskopetest.ScopeAlertsMalware, netskopetest.ScopeAlertsMalsite))
	var logs logBuffer
	p, err := NewPlugin(fakeConfig(s2), append([]Option{WithName("n"), WithLogger(logs.logger())}, fastOptions()...)...)
	require.NoError(t, err)
	require.NoError(t, p.Validate(t.Context()))
	assert.Contains(t, logs.String(), "cannot read URL lists")
}

func TestValidateUnreachableTenant(t *testing.T) {
	t.Parallel()
	s := netskopetest.New()
	url := s.URL
	s.Close()
	p, err := NewPlugin(Config{TenantURL: url, V2Token: "x", AlertTypes: []string{AlertMalware}}, WithRetry(Retry{Max: -1}))
	require.NoError(t, err)
	err = p.Validate(t.Context())
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "check tenant_url")
}

func TestValidateWrongTenant(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	mt.RegisterNoResponder(httpmock.NewStringResponder(404, `<html>Not Found</html>`))
	p := &Plugin{c: cl, index: ExportIndex("x"), log: cl.log, maxEntries: MaxListEntries}
	err := p.Validate(t.Context())
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "check tenant_url: it must be the tenant itself")
	assert.NotContains(t, err.Error(), "SECRET")

	mt.RegisterNoResponder(httpmock.NewStringResponder(200, `<html>login</html>`))
	err = p.Validate(t.Context())
	assert.ErrorIs(t, err, ErrBadAnswer)
	assert.Contains(t, err.Error(), "check tenant_url names a Netskope tenant")
}

// TestNoTokenLeaks drives every call, good and failing, with Debug logging and checks
// that no token shows in a log line, an error, a request URL or a formatted value.
func TestNoTokenLeaks(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes"),
		netskopetest.WithURLList("CE_Malsites", "exact", "cedefaultpush.io"), netskopetest.WithPageSize(20))
	var logs logBuffer
	open := func(edit func(*Config)) *Plugin {
		cfg := fakeConfig(s)
		if edit != nil {
			edit(&cfg)
		}
		p, err := NewPlugin(cfg, append([]Option{WithName("leak"), WithLogger(logs.logger())}, fastOptions()...)...)
		require.NoError(t, err)
		return p
	}
	good := open(nil)
	badV1, badV2 := "bad-v1-token-0123456789", "bad-v2-token-0123456789"
	bad := open(func(c *Config) { c.V1Token = cte.Secret(badV1); c.V2Token = cte.Secret(badV2) })
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ctx := t.Context()
	for _, p := range []*Plugin{good, bad} {
		collect(p.Validate(ctx))
		for _, err := range p.Pull(ctx, nil) {
			collect(err)
		}
		_, err := p.GetTargets(ctx)
		collect(err)
		_, err = p.Push(ctx, cte.Target{ID: "file-hash-list/CE_Malware_Hashes"}, shaIndicators(3))
		collect(err)
		_, err = p.Push(ctx, cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example.com"}})
		collect(err)
		_, err = p.Retract(ctx, cte.Target{ID: "url-list/CE_Malsites"}, []ioc.Indicator{{Type: ioc.TypeDomain, Value: "x.example.com"}})
		collect(err)
	}
	s.RateLimit("/api/v1/", 1, 0)
	s.BreakBody(netskopetest.PathUpdateFileHashList, 1)
	_, err := good.Push(ctx, cte.Target{ID: "file-hash-list/CE_Malware_Hashes"}, shaIndicators(4))
	collect(err)
	s.FailStatus(netskopetest.PathURLList, 1, 400, `{"message":"echo `+s.V2Token()+`"}`)
	_, err = good.GetTargets(ctx)
	collect(err)
	require.GreaterOrEqual(t, len(errs), 6, "the failing calls failed")

	secrets := []string{s.V1Token(), s.V2Token(), badV1, badV2}
	out := logs.String()
	require.Contains(t, out, "level=DEBUG", "debug logging was on")
	require.Contains(t, out, "/api/v1/updateFileHashList")
	for _, sec := range secrets {
		assert.NotContains(t, out, sec, "log")
		for _, err := range errs {
			assert.NotContains(t, err.Error(), sec, "error")
			assert.NotContains(t, fmt.Sprintf("%+v", err), sec, "error %+v")
		}
		for _, v := range []any{good, good.Client(), good.Client().Config()} {
			assert.NotContains(t, fmt.Sprintf("%v %+v %#v", v, v, v), sec, "formatted %T", v)
		}
	}
	assert.False(t, s.TokenInURL(), "a token travelled in a URL")
	for _, rq := range s.Requests() {
		for k, vs := range rq.Query {
			assert.NotEqual(t, "token", strings.ToLower(k))
			for _, v := range vs {
				assert.NotEqual(t, "REDACTED", v, "%s %s", rq.Path, k)
			}
		}
	}
}
