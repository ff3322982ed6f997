package mimecast

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/plugintest"
)

// fakeClock is a settable clock shared by a fake and a plugin.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func hmacConfig(s *mimecasttest.Server) Config {
	cr := s.Credentials()
	return Config{BaseURL: s.URL, Auth: AuthHMAC, AppID: cr.AppID, AppKey: cte.Secret(cr.AppKey),
		AccessKey: cte.Secret(cr.AccessKey), SecretKey: cte.Secret(cr.SecretKey)}
}

func oauthConfig(s *mimecasttest.Server) Config {
	cr := s.Credentials()
	return Config{BaseURL: s.URL, Auth: AuthOAuth, ClientID: cr.ClientID, ClientSecret: cte.Secret(cr.ClientSecret)}
}

// fastRetry keeps backoff waits short in tests.
var fastRetry = WithRetry(Retry{WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond})

func newTestPlugin(t testing.TB, s *mimecasttest.Server, cfg Config, clock func() time.Time, opts ...Option) *Plugin {
	t.Helper()
	p, err := NewPlugin(cfg, append([]Option{WithName("test"), WithHTTPClient(s.Client()), WithClock(clock), fastRetry}, opts...)...)
	require.NoError(t, err)
	return p
}

func pullAll(t testing.TB, p *Plugin, from cte.Checkpoint) ([]cte.Page, error) {
	t.Helper()
	var pages []cte.Page
	for page, err := range p.Pull(context.Background(), from) {
		if err != nil {
			return pages, err
		}
		pages = append(pages, page)
	}
	return pages, nil
}

func values(pages []cte.Page) map[string]ioc.Indicator {
	out := map[string]ioc.Indicator{}
	for _, p := range pages {
		for _, in := range p.Indicators {
			out[in.Type.String()+":"+in.Value] = in
		}
	}
	return out
}

func TestEndToEndBothAuthModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{AuthHMAC, AuthOAuth} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(100), mimecasttest.WithClickLogs(40))
			cfg := hmacConfig(s)
			if mode == AuthOAuth {
				cfg = oauthConfig(s)
			}
			cfg.FeedTypes = []string{FeedMalwareCustomer, FeedMalwareGrid, FeedMalsite}
			p := newTestPlugin(t, s, cfg, time.Now)
			ctx := t.Context()
			require.NoError(t, p.Validate(ctx))

			pages, err := pullAll(t, p, nil)
			require.NoError(t, err)
			got := values(pages)
			// Every valid hash of both feeds arrives, as sha256 and md5.
			want := 0
			for _, ft := range []string{FeedMalwareCustomer, FeedMalwareGrid} {
				for _, r := range s.Feed(ft) {
					for typ, raw := range map[ioc.Type]string{ioc.TypeSHA256: r.SHA256, ioc.TypeMD5: r.MD5} {
						v, err := ioc.Parse(typ, raw)
						if err != nil {
							continue
						}
						want++
						in, ok := got[typ.String()+":"+v]
						if assert.True(t, ok, "missing %s %s", typ, v) {
							assert.Len(t, in.Tags, 1)
							assert.False(t, in.FirstSeen.IsZero())
						}
					}
				}
			}
			assert.Greater(t, want, 1000)
			urls := 0
			for _, in := range got {
				if in.Type == ioc.TypeURL {
					urls++
					assert.NotContains(t, in.Value, "protect-us.mimecast.com", "rewritten links are decoded")
				}
			}
			assert.Positive(t, urls)
			var invalid int
			for _, pg := range pages {
				for _, x := range pg.Invalid {
					invalid += x.Count
				}
			}
			assert.Positive(t, invalid, "null, empty and malformed values are counted")

			ts, err := p.GetTargets(ctx)
			require.NoError(t, err)
			var ids []string
			for _, tg := range ts {
				ids = append(ids, tg.ID)
			}
			assert.Equal(t, []string{TargetBlock, TargetAllow, TargetDelete, TargetManagedBlock, TargetManagedPermit}, ids)

			res, err := p.Push(ctx, ts[0], []ioc.Indicator{{Type: ioc.TypeSHA256, Value: sha256A, Comments: "a comment that is longer than twenty"}})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Applied)
			h := s.Hashes()[sha256A]
			assert.Equal(t, "BLOCK", h.Operation)
			assert.Equal(t, "cte", h.Provider)
			assert.Equal(t, "a comment that is lo", h.Description, "cut to 20 characters, not blanked")

			res, err = p.Retract(ctx, ts[0], []ioc.Indicator{{Type: ioc.TypeSHA256, Value: sha256A}})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Applied)
			assert.NotContains(t, s.Hashes(), sha256A)
		})
	}
}

func TestPluginConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{AuthHMAC, AuthOAuth} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			plugintest.Run(t, func(t *testing.T) plugintest.Harness {
				s := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(200), mimecasttest.WithClickLogs(30))
				cfg, bad := hmacConfig(s), hmacConfig(s)
				bad.AppKey = "wrong-app-key"
				if mode == AuthOAuth {
					cfg, bad = oauthConfig(s), oauthConfig(s)
					bad.ClientSecret = "wrong-secret"
				}
				cfg.FeedTypes = []string{FeedMalwareCustomer, FeedMalwareGrid, FeedMalsite}
				return plugintest.Harness{
					Plugin:       newTestPlugin(t, s, cfg, time.Now),
					BadAuth:      newTestPlugin(t, s, bad, time.Now),
					AllowRepeats: true,
					RateLimit:    func(wait time.Duration) { s.RateLimit("/api/", 10, wait) },
				}
			})
		})
	}
}
