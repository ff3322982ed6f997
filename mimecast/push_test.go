package mimecast

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestPushQuotaMidPush(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithBatchQuota(2))
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	in := sha256s(4500)
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	require.ErrorIs(t, err, cte.ErrQuota)
	assert.Contains(t, err.Error(), "Quota not available")
	assert.Equal(t, 2000, res.Applied, "the partial result comes with the error")
	require.Len(t, res.Rejected, 2500)
	for _, r := range res.Rejected {
		assert.True(t, r.Retryable, "%s", r.Value)
	}
	assert.Equal(t, in[2000].Value, res.Rejected[0].Value)
	assert.Equal(t, in[4499].Value, res.Rejected[2499].Value)
	assert.Equal(t, 3, s.Count(mimecasttest.PathCreateBatch), "the push stops at the quota")
	assert.Len(t, s.Hashes(), 2000)
}

func TestPush100kIsExactly100Batches(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	in := sha256s(100_000)
	start := time.Now()
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	t.Logf("100,000 hashes pushed in %s", time.Since(start))
	require.NoError(t, err)
	assert.Equal(t, 100_000, res.Applied)
	assert.Empty(t, res.Rejected)
	assert.Equal(t, 100, s.Count(mimecasttest.PathCreateBatch))
	for _, b := range requestBodies(t, s, mimecasttest.PathCreateBatch) {
		assert.Len(t, b["hashList"], MaxBatch)
		assert.Equal(t, "BLOCK", b["operationType"])
	}
	assert.Len(t, s.Hashes(), 100_000)
}

func BenchmarkPush100k(b *testing.B) {
	s := mimecasttest.NewServer(b)
	p := newTestPlugin(b, s, hmacConfig(s), time.Now)
	in := sha256s(100_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Push(ctx, target(TargetBlock), in)
		if err != nil || res.Applied != len(in) {
			b.Fatalf("push: %v, %d applied", err, res.Applied)
		}
	}
	b.ReportMetric(float64(len(in)*b.N)/b.Elapsed().Seconds(), "hashes/s")
}

func TestPushManagedURLs(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	in := []ioc.Indicator{
		{Type: ioc.TypeURL, Value: "https://evil.example/a#frag"},
		{Type: ioc.TypeDomain, Value: "Evil-Domain.example"},
		{Type: ioc.TypeURL, Value: "javascript:alert(1)"},
		{Type: ioc.TypeSHA256, Value: sha256A},
	}
	for i := range 25 {
		in = append(in, ioc.Indicator{Type: ioc.TypeURL, Value: fmt.Sprintf("http://bulk%d.example/", i)})
	}
	res, err := p.Push(t.Context(), target(TargetManagedBlock), in)
	require.NoError(t, err)
	assert.Equal(t, 27, res.Applied)
	require.Len(t, res.Rejected, 2)
	assert.Equal(t, "javascript:alert(1)", res.Rejected[0].Value)
	assert.Equal(t, "unsupported_type", res.Rejected[1].Code)
	assert.Equal(t, 2, s.Count(mimecasttest.PathCreateManagedURL), "batches of at most 20")
	m := s.ManagedURLs()
	require.Len(t, m, 27)
	assert.Equal(t, "https://evil.example/a", m[0].URL, "no fragment")
	assert.Equal(t, "block", m[0].Action)
	assert.Equal(t, "explicit", m[0].MatchType)
	assert.Equal(t, "cte | test", m[0].Comment)
	assert.Equal(t, "domain", m[1].MatchType)
	assert.Equal(t, "evil-domain.example", m[1].Domain)

	// Pushing again: already there counts as Unchanged.
	res, err = p.Push(t.Context(), target(TargetManagedBlock), in[:2])
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 2}, res)

	// Unknown target, empty push.
	_, err = p.Push(t.Context(), target("managed-url/whatever"), in)
	require.ErrorIs(t, err, cte.ErrNotSupported)
	res, err = p.Push(t.Context(), target(TargetManagedPermit), nil)
	require.NoError(t, err)
	assert.Zero(t, res)
}

func TestPushStopsOnAuthError(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	s.SetBindingExpired(true)
	res, err := p.Push(t.Context(), target(TargetBlock), sha256s(2500))
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Len(t, res.Rejected, 2500)
	assert.Equal(t, 1, s.Count(mimecasttest.PathCreateBatch), "no use sending more batches with refused keys")
}

func TestValidateWithoutBYO(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithoutBYO())
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	err := p.Validate(t.Context())
	require.ErrorIs(t, err, ErrNoBYO)
	require.ErrorIs(t, err, cte.ErrNotSupported)
	assert.NotErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "BYO: Threat Intelligence [1089]")
	assert.Contains(t, err.Error(), s.URL)
	ts, err := p.GetTargets(t.Context())
	require.NoError(t, err)
	var ids []string
	for _, tg := range ts {
		ids = append(ids, tg.ID)
	}
	assert.Equal(t, []string{TargetManagedBlock, TargetManagedPermit}, ids)
	_, err = pullAll(t, p, nil)
	assert.NoError(t, err, "pull still works")
}

func TestCutRunes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "abc", cutRunes("abc", 20))
	assert.Equal(t, "ééééé", cutRunes("éééééé", 5))
	assert.Equal(t, "", cutRunes("abc", 0))
}
