package netskope

import (
	"bytes"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// fakeConfig is a configuration for the fake tenant s.
func fakeConfig(s *netskopetest.Server) Config {
	return Config{
		TenantURL:        s.URL,
		V2Token:          cte.Secret(s.V2Token()),
		V1Token:          cte.Secret(s.V1Token()),
		InitialRangeDays: 7,
		FileHashLists:    []string{"CE_Malware_Hashes"},
	}
}

// fastOptions keep retries quick; the v1 limiter stays on unless lifted.
func fastOptions() []Option {
	return []Option{WithRetry(Retry{Max: 3, WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond})}
}

// newPlugin opens a plugin on s with cfg changed by edit.
func newPlugin(t testing.TB, s *netskopetest.Server, edit func(*Config), opts ...Option) *Plugin {
	t.Helper()
	cfg := fakeConfig(s)
	if edit != nil {
		edit(&cfg)
	}
	p, err := NewPlugin(cfg, append(append([]Option{WithName("netskope-test"), WithClock(s.Now)}, fastOptions()...), opts...)...)
	require.NoError(t, err)
	return p
}

// logBuffer collects slog output at Debug.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustRe(s string) *regexp.Regexp { return regexp.MustCompile(s) }
