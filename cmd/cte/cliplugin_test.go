package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
)

func TestCLIPlugin(t *testing.T) {
	t.Parallel()
	target := cte.Target{ID: "list/x", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}}
	fake := plugintest.NewFake(target)
	fake.SetPageSize(2)
	for i := range 5 {
		fake.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i+1), Severity: ioc.SeverityHigh})
	}
	var w bytes.Buffer
	term := newTerminal(&w)
	clock := time.Unix(0, 0)
	p := wrapPlugin(fake, "src", term, func() time.Time { clock = clock.Add(time.Second); return clock })
	_, isRetractor := p.(cte.Retractor)
	assert.True(t, isRetractor, "a Retractor stays a Retractor")

	n := 0
	for pg, err := range p.Pull(t.Context(), nil) {
		require.NoError(t, err)
		n += len(pg.Indicators)
	}
	assert.Equal(t, 5, n)
	out := w.String()
	assert.Contains(t, out, "src: page 1, 2 indicators, 2 indicators/s")
	assert.Contains(t, out, "src: page 3, 5 indicators")
	assert.True(t, strings.HasSuffix(out, "\r\033[Ksrc: pulled 3 pages, 5 indicators\n"), "%q", out)

	w.Reset()
	res, err := p.Push(t.Context(), target, []ioc.Indicator{{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", 9)}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	assert.Equal(t, "src: sending 1 indicator to list/x…\r\033[K", w.String())

	type pullOnly struct{ cte.Plugin }
	_, isRetractor = wrapPlugin(pullOnly{fake}, "src", term, time.Now).(cte.Retractor)
	assert.False(t, isRetractor, "a plugin without Retract does not gain one")

	w.Reset()
	quiet := wrapPlugin(fake, "src", nil, time.Now)
	ts, err := quiet.GetTargets(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []cte.Target{target}, ts)
	for _, err := range quiet.Pull(t.Context(), nil) {
		require.NoError(t, err)
	}
	assert.Empty(t, w.String(), "no progress without a terminal")
}

type countingPlugin struct {
	*plugintest.Fake
	calls int
}

func (c *countingPlugin) GetTargets(ctx context.Context) ([]cte.Target, error) {
	c.calls++
	if c.calls == 1 {
		return nil, errors.New("unreachable")
	}
	return c.Fake.GetTargets(ctx)
}

func TestCLIPluginCachesTargets(t *testing.T) {
	t.Parallel()
	cp := &countingPlugin{Fake: plugintest.NewFake(cte.Target{ID: "a", Mode: cte.Append, Types: []ioc.Type{ioc.TypeMD5}})}
	p := wrapPlugin(cp, "x", nil, time.Now)
	_, err := p.GetTargets(t.Context())
	require.Error(t, err, "a failure is not remembered")
	for range 3 {
		ts, err := p.GetTargets(t.Context())
		require.NoError(t, err)
		require.Len(t, ts, 1)
	}
	assert.Equal(t, 2, cp.calls, "the product is asked again after a failure, then never")
}

// The command line's wrapper keeps whether its plugin may be read ahead.
func TestCLIPluginReadsPagesAheadAsItsPlugin(t *testing.T) {
	t.Parallel()
	ahead := &cliPlugin{Plugin: plugintest.NewFake()}
	assert.True(t, ahead.ReadsPagesAhead(), "plugintest.Fake keeps no read position")
	one := &cliPlugin{Plugin: onlyPlugin{ahead.Plugin}}
	assert.False(t, one.ReadsPagesAhead(), "a plugin that does not say so is read one page after the other")
}

// onlyPlugin hides every method of its plugin but cte.Plugin's.
type onlyPlugin struct{ cte.Plugin }
