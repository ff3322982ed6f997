package plugintest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

func hashes(n int) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	for i := range out {
		out[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i+1), Severity: ioc.SeverityHigh, LastSeen: time.Unix(int64(i), 0).UTC()}
	}
	return out
}

var (
	appendTarget  = cte.Target{ID: "list/append", Label: "append", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{BatchSize: 10}}
	replaceTarget = cte.Target{ID: "list/replace", Label: "replace", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeURL, ioc.TypeDomain}, Limits: cte.Limits{MaxItems: 3}}
)

func fakeHarness(t *testing.T) Harness {
	good := NewFake(appendTarget, replaceTarget)
	good.SetPageSize(7)
	good.Feed(hashes(30)...)
	bad := NewFake(appendTarget)
	bad.SetBadAuth(true)
	return Harness{Plugin: good, BadAuth: bad, RateLimit: func(wait time.Duration) {
		good.FailNextPush(fmt.Errorf("fake: %w", &cte.RateLimitError{Wait: wait, Reason: "HTTP 429"}))
	}}
}

func TestFakeConforms(t *testing.T) {
	t.Parallel()
	Run(t, fakeHarness)
}

// broken wraps a plugin to break one part of the contract.
type broken struct {
	cte.Plugin
	pull func(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error]
	push func(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error)
}

func (b broken) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	if b.pull != nil {
		return b.pull(ctx, from)
	}
	return b.Plugin.Pull(ctx, from)
}

func (b broken) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if b.push != nil {
		return b.push(ctx, t, in)
	}
	return b.Plugin.Push(ctx, t, in)
}

func TestChecksCatchBrokenPlugins(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		check  func(context.Context, Harness) error
		break_ func(h Harness) Harness
		want   string
	}{
		{"bad auth accepted", checkBadAuth, func(h Harness) Harness { h.BadAuth = NewFake(); return h }, "want an error wrapping cte.ErrAuth"},
		{"resume loses a page", checkPullResume, func(h Harness) Harness {
			inner := h.Plugin
			h.Plugin = broken{Plugin: inner, pull: func(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
				return func(yield func(cte.Page, error) bool) {
					skip := from != nil
					for p, err := range inner.Pull(ctx, from) {
						if skip {
							skip = false
							continue
						}
						if !yield(p, err) {
							return
						}
					}
				}
			}}
			return h
		}, "resumed pull lost"},
		{"resume repeats", checkPullResume, func(h Harness) Harness {
			inner := h.Plugin
			h.Plugin = broken{Plugin: inner, pull: func(ctx context.Context, _ cte.Checkpoint) iter.Seq2[cte.Page, error] {
				return inner.Pull(ctx, nil)
			}}
			return h
		}, "resumed pull repeated"},
		{"not normal form", checkPullResume, func(h Harness) Harness {
			h.Plugin.(*Fake).Feed(ioc.Indicator{Type: ioc.TypeMD5, Value: "44D88612FEA8A8F36DE82E1278ABB02F"})
			return h
		}, "not in normal form"},
		{"rejects a value not pushed", checkPushAccounting, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(_ context.Context, _ cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{Applied: len(in) - 1, Rejected: []cte.Rejected{{Value: "elsewhere", Reason: "x"}}}, nil
			}}
			return h
		}, "which was not pushed"},
		{"accepts an invalid value", checkPushAccounting, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(_ context.Context, _ cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{Applied: len(in)}, nil
			}}
			return h
		}, "did not reject the invalid"},
		{"loses count", checkPushAccounting, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(_ context.Context, _ cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{}, nil
			}}
			return h
		}, "accounted for 0 of"},
		{"empty push does something", checkPushEmpty, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{Applied: 1}, nil
			}}
			return h
		}, "want zero"},
		{"unknown target accepted", checkPushUnknown, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{}, nil
			}}
			return h
		}, "unknown target returned no error"},
		{"rate limit without its wait", checkRateLimitWait, func(h Harness) Harness {
			h.Plugin = broken{Plugin: h.Plugin, push: func(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
				return cte.PushResult{}, fmt.Errorf("busy: %w", cte.ErrRateLimited)
			}}
			return h
		}, "carries a wait of 0s"},
		{"ignores cancel", checkCancel, func(h Harness) Harness {
			inner := h.Plugin
			h.Plugin = broken{Plugin: inner, pull: func(_ context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
				return inner.Pull(context.Background(), from)
			}}
			return h
		}, "yielded a page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.break_(fakeHarness(t))
			err := tc.check(t.Context(), h)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFakeRecordsAndFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := NewFake(appendTarget, replaceTarget)
	in := hashes(3)
	res, err := f.Push(ctx, appendTarget, in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Applied: 3}, res)
	res, err = f.Push(ctx, appendTarget, in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 3}, res)

	f.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
		if ind.Value == in[1].Value {
			return &cte.Rejected{Reason: "quota", Retryable: true}
		}
		return nil
	})
	more := hashes(5)[3:]
	res, err = f.Push(ctx, appendTarget, append(more, in[1]))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Applied)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, cte.Rejected{Value: in[1].Value, Reason: "quota", Retryable: true}, res.Rejected[0])

	boom := errors.New("boom")
	f.FailNextPush(boom)
	_, err = f.Push(ctx, appendTarget, hashes(1))
	assert.ErrorIs(t, err, boom)
	assert.Len(t, f.Pushes(), 4)
	assert.Len(t, f.Contents(appendTarget.ID), 5)

	rres, err := f.Retract(ctx, appendTarget, append(hashes(1), ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", 999)}))
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Applied: 1, Unchanged: 1}, rres)
	assert.Len(t, f.Contents(appendTarget.ID), 4)
	_, err = f.Retract(ctx, replaceTarget, nil)
	assert.ErrorIs(t, err, cte.ErrNotSupported)
	assert.Len(t, f.Retractions(), 2)
}

func TestFakeReplaceHonoursMaxItems(t *testing.T) {
	t.Parallel()
	f := NewFake(replaceTarget)
	in := []ioc.Indicator{
		{Type: ioc.TypeDomain, Value: "a.example.com"}, {Type: ioc.TypeDomain, Value: "b.example.com"},
		{Type: ioc.TypeDomain, Value: "c.example.com"}, {Type: ioc.TypeDomain, Value: "d.example.com"},
		{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", 1)},
	}
	res, err := f.Push(t.Context(), replaceTarget, in)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Applied)
	require.Len(t, res.Rejected, 2)
	assert.Equal(t, cte.ReasonOverCapacity, res.Rejected[0].Reason)
	assert.Contains(t, res.Rejected[1].Reason, "type sha256 not accepted")
	res, err = f.Push(t.Context(), replaceTarget, in[3:4])
	require.NoError(t, err)
	assert.Equal(t, []string{"d.example.com"}, f.Contents(replaceTarget.ID), "replace leaves out what is not pushed")
	assert.Equal(t, 0, res.Unchanged)
}

func TestFakePullFailureAndBadCheckpoint(t *testing.T) {
	t.Parallel()
	f := NewFake()
	f.SetPageSize(2)
	f.Feed(hashes(6)...)
	boom := errors.New("boom")
	f.FailNextPull(boom)
	var pages int
	var gotErr error
	for _, err := range f.Pull(t.Context(), nil) {
		if err != nil {
			gotErr = err
			break
		}
		pages++
	}
	assert.Equal(t, 1, pages)
	assert.ErrorIs(t, gotErr, boom)
	for _, err := range f.Pull(t.Context(), cte.Checkpoint("x")) {
		assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	}
}
