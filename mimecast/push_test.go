package mimecast

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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

// Issue 12 item 1: create-batch answering 500 until the retries are spent is a
// failed push (the host exits non-zero), not per-value rejections and nil; two
// batches failing in a row stop the push, the rest not sent and retryable.
func TestPushOutageIsAnError(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now, WithRetry(Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	s.ServerError(mimecasttest.PathCreateBatch, 100, 500)
	in := sha256s(4000)
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	require.Error(t, err)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 500, e.Status)
	assert.Contains(t, err.Error(), "stopped after 2 failed batches in a row, 2000 hashes not sent")
	assert.Zero(t, res.Applied)
	require.Len(t, res.Rejected, 4000, "every hash is accounted for")
	for _, r := range res.Rejected {
		require.True(t, r.Retryable)
	}
	assert.Equal(t, 6, s.Count(mimecasttest.PathCreateBatch), "2 batches of 3 attempts, then no more")
}

// Issue 12 item 2: a fail entry without a key (a failure of the whole batch),
// even with retryable false, is no verdict on each hash: they are retried.
func TestPushWholeBatchFailIsRetryable(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	s.FailEnvelope(mimecasttest.PathCreateBatch, 1, "err_validation", "Batch rejected")
	in := sha256s(10)
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Batch rejected")
	assert.Zero(t, res.Applied)
	require.Len(t, res.Rejected, 10)
	for _, r := range res.Rejected {
		assert.True(t, r.Retryable)
		assert.Equal(t, "err_validation", r.Code)
		assert.Equal(t, "batch not applied: Batch rejected", r.Reason)
	}
	// A per-hash failure stays Mimecast's verdict on that hash.
	bad := ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", 999)}
	out, err := batchOutcome(BatchResult{HashCount: 1, Failures: []HashFailure{{Hash: bad.Value, Code: "err_invalid_hash", Message: "bad"}}},
		[]Hash{{Hash: in[0].Value}, {Hash: bad.Value}}, []string{in[0].Value, bad.Value})
	require.NoError(t, err)
	assert.Equal(t, 1, out.Applied)
	require.Len(t, out.Rejected, 1)
	assert.False(t, out.Rejected[0].Retryable)
}

// Issue 12 item 9: an answer whose hashCount differs from the hashes sent
// without a failure confirms nothing: those hashes are retryable, the push
// fails and the mismatch is logged.
func TestPushHashCountMismatchIsUnconfirmed(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	var logs syncBuilder
	p, err := NewPlugin(hmacConfig(s), WithHTTPClient(s.Client()), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))), fastRetry)
	require.NoError(t, err)
	s.MiscountBatch(1, 0)
	in := sha256s(1500)
	res, err := p.Push(t.Context(), target(TargetBlock), in)
	require.ErrorIs(t, err, ErrProtocol)
	assert.Contains(t, err.Error(), "hashCount 0, but 1000 hashes were sent without a failure")
	assert.Equal(t, 500, res.Applied, "the second batch was confirmed")
	require.Len(t, res.Rejected, 1000)
	for _, r := range res.Rejected {
		require.True(t, r.Retryable)
		require.Equal(t, CodeUnconfirmed, r.Code)
	}
	assert.Contains(t, logs.String(), "create-batch not applied")
}

// A push stopped by its context leaves the hashes it did not send unaccounted:
// they were not attempted, so the host sends them again without a backoff.
func TestPushCancelledLeavesUnsentUnaccounted(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	gate := s.Stall(mimecasttest.PathCreateBatch, 1)
	done := make(chan struct{})
	var res cte.PushResult
	var err error
	go func() {
		defer close(done)
		res, err = p.Push(ctx, target(TargetBlock), sha256s(2000))
	}()
	<-gate.Arrived()
	cancel()
	<-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, res.Applied)
	assert.Empty(t, res.Rejected)
}

// syncBuilder is a strings.Builder safe for the logger's goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
