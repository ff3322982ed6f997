package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// The tests in this file replay issue 12 as its reporter did: the real
// plugins, the fake products with a fault switched on, and the cte command
// line, checking the exit code, the products' contents, cte sharing and the
// audit log. The only difference from the binary is a retry policy of
// milliseconds instead of seconds.

// fastRegistry is newRegistry with the plugins' retry waits cut to a
// millisecond and 2 retries (3 attempts) per request.
func fastRegistry() *cte.Registry {
	mc := mimecast.Driver()
	mc.Open = func(_ context.Context, raw json.RawMessage, o cte.Options) (cte.Plugin, error) {
		cfg, err := mimecast.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return mimecast.NewPlugin(cfg, mimecast.WithName(o.Name), mimecast.WithLogger(o.Logger), mimecast.WithClock(o.Clock),
			mimecast.WithHTTPClient(o.HTTPClient), mimecast.WithRetry(mimecast.Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	}
	ns := netskope.Driver()
	ns.Open = func(_ context.Context, raw json.RawMessage, o cte.Options) (cte.Plugin, error) {
		cfg, err := netskope.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return netskope.NewPlugin(cfg, netskope.WithName(o.Name), netskope.WithLogger(o.Logger), netskope.WithClock(o.Clock),
			netskope.WithHTTPClient(o.HTTPClient), netskope.WithRetry(netskope.Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
	}
	var r cte.Registry
	r.Register(mc)
	r.Register(ns)
	return &r
}

// fast runs one cte command against the fakes with fastRegistry, under ctx.
// No secret may appear in its output or in the state file (which holds the
// audit log and is not scrubbed on the way out as stdout and stderr are).
func (f *fakes) fast(ctx context.Context, t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(&out, &errb, f.lookup, false)
	a.reg = fastRegistry()
	code = a.exec(ctx, append([]string{"--config", f.path}, args...))
	state, err := os.ReadFile(filepath.Join(f.dir, "state.db"))
	if err != nil && !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	for _, s := range f.secrets() {
		require.NotContains(t, out.String(), s, "stdout of %v", args)
		require.NotContains(t, errb.String(), s, "stderr of %v", args)
		require.False(t, bytes.Contains(state, []byte(s)), "the state file holds a secret after %v", args)
	}
	return code, out.String(), errb.String()
}

// shareJSON is one row of cte sharing --json.
type shareJSON struct {
	Name      string `json:"name"`
	Applied   int    `json:"applied"`
	Rejected  int    `json:"rejected"`
	Retryable int    `json:"retryable"`
	LastError string `json:"lastError"`
}

// sharingRow returns the cte sharing --json row of name.
func (f *fakes) sharingRow(t *testing.T, name string) shareJSON {
	t.Helper()
	code, out, errs := f.fast(t.Context(), t, "sharing", "--json")
	require.Equal(t, exitOK, code, errs)
	var st struct {
		Sharing []shareJSON `json:"sharing"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	for _, s := range st.Sharing {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sharing row %q in %s", name, out)
	return shareJSON{}
}

// blocked counts the hashes the fake Mimecast account holds.
func blocked(f *fakes) int { return len(f.mc.Hashes()) }

// Issue 12 items 1, 2, 5 and 9: a create-batch that did not apply the batch (a
// 500 outage until the retries are spent, a fail envelope without a key with
// retryable false, or hashCount 0 without a failure) fails the sync (exit 3,
// an ERROR in the audit log), leaves every hash retryable in cte sharing, none
// dropped; the next plain sync waits for the backoff, and cte sync --retry-now
// delivers every hash at once.
func TestE2ECreateBatchNotAppliedIsRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*mimecasttest.Server)
		// landed: the fake applied the batch although its answer does not
		// confirm it (item 9): the hashes are on the account, unconfirmed.
		landed bool
	}{
		{"item 1: 500 until the retries are spent", func(s *mimecasttest.Server) { s.ServerError(mimecasttest.PathCreateBatch, 3, 500) }, false},
		{"item 2: whole-batch fail, retryable false", func(s *mimecasttest.Server) {
			s.FailEnvelope(mimecasttest.PathCreateBatch, 1, "err_validation", "Batch rejected")
		}, false},
		{"item 9: hashCount 0 without a failure", func(s *mimecasttest.Server) { s.MiscountBatch(1, 0) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakes(t, fakeConfig)
			tc.fault(f.mc)

			code, out, errs := f.fast(t.Context(), t, "sync", "--source", "netskope")
			assert.Equal(t, exitPartial, code, "pulled but not delivered: stdout:\n%s\nstderr:\n%s", out, errs)
			assert.Zero(t, f.mc.PendingFaults(), "the fault was used up by this sync")
			if !tc.landed {
				assert.Zero(t, blocked(f), "nothing reached Mimecast")
			}
			row := f.sharingRow(t, "netskope-to-mimecast")
			assert.Zero(t, row.Applied)
			assert.Zero(t, row.Rejected, "a batch not applied is no verdict on its hashes")
			require.Positive(t, row.Retryable, "every hash waits to be retried")
			want := row.Retryable
			code, logs, errs := f.fast(t.Context(), t, "logs", "--level", "error")
			require.Equal(t, exitOK, code, errs)
			assert.Contains(t, logs, "ERROR", "the failed push is in the audit log at error level")

			// The outage is over; a plain sync leaves the hashes to their backoff.
			batches := f.mc.Count(mimecasttest.PathCreateBatch)
			code, out, errs = f.fast(t.Context(), t, "sync", "--source", "netskope")
			require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
			assert.Equal(t, batches, f.mc.Count(mimecasttest.PathCreateBatch), "nothing sent before the backoff")
			assert.Zero(t, f.sharingRow(t, "netskope-to-mimecast").Applied, "nothing confirmed before the backoff")

			code, out, errs = f.fast(t.Context(), t, "sync", "--source", "netskope", "--retry-now")
			require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
			assert.Equal(t, batches+1, f.mc.Count(mimecasttest.PathCreateBatch), "one batch sent by --retry-now")
			assert.Equal(t, want, blocked(f), "every waiting hash delivered by --retry-now")
			row = f.sharingRow(t, "netskope-to-mimecast")
			assert.Equal(t, want, row.Applied)
			assert.Zero(t, row.Retryable)
		})
	}
}

// Issue 12 item 5: a push interrupted by Ctrl-C exits 130, logs no error and
// starts no backoff: the next plain cte sync sends the hashes at once.
func TestE2EInterruptedPushStartsNoBackoff(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	gate := f.mc.Stall(mimecasttest.PathCreateBatch, 1)
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() {
		<-gate.Arrived()
		cancel(errInterrupted)
	}()
	code, out, errs := f.fast(ctx, t, "sync", "--source", "netskope")
	require.Equal(t, exitInterrupted, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Zero(t, blocked(f))

	code, logs, errs := f.fast(t.Context(), t, "logs", "--level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "no log entries\n", logs, "an interrupt is no warning or error")
	code, logs, _ = f.fast(t.Context(), t, "logs")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `INFO  sharing "netskope-to-mimecast": push to mimecast operation/BLOCK: .* stopped with \d+ hashes not sent: interrupted`, logs)
	assert.Contains(t, logs, "what was not sent is sent on the next run", "and the next run does, below")

	code, out, errs = f.fast(t.Context(), t, "sync", "--source", "netskope")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	row := f.sharingRow(t, "netskope-to-mimecast")
	assert.Positive(t, row.Applied)
	assert.Zero(t, row.Retryable)
	assert.Equal(t, row.Applied, blocked(f), "sent on the next sync without --retry-now")
}

// Issue 12 item 3: a Mimecast feed that repeats its page token is abandoned:
// exit 3, an ERROR in the audit log, and the incomplete pull in cte sharing.
func TestE2ERepeatedPageTokenIsPartial(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.SetFeedPageSize(50)
	f.mc.SetFeedMode("", mimecasttest.FeedRepeatToken)
	code, out, errs := f.fast(t.Context(), t, "sync", "--source", "mimecast")
	assert.Equal(t, exitPartial, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "page token")

	code, out, errs = f.fast(t.Context(), t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "incomplete")
	code, out, errs = f.fast(t.Context(), t, "logs", "--level", "error")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "ERROR")
	assert.Contains(t, out, "page token")
}

// Issue 12 item 4: a 5xx from Netskope's URL-list API, which a configuration
// sharing only file hashes does not use, neither fails cte sync nor keeps
// either direction from syncing.
func TestE2EURLListOutageBlocksNothing(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.ns.ServerError(netskopetest.PathURLList, 1000, 503)
	code, out, errs := f.fast(t.Context(), t, "sync")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.NotEmpty(t, f.ns.FileHashList("CE_Malware_Hashes"))
	assert.Positive(t, blocked(f))
	assert.Positive(t, f.sharingRow(t, "mimecast-to-netskope").Applied)
	assert.Positive(t, f.sharingRow(t, "netskope-to-mimecast").Applied)
}

// Issue 12 item 20: a Mimecast→Netskope-only configuration never asks Netskope
// for alerts.
func TestE2EOneWayPullsOnlyTheSource(t *testing.T) {
	t.Parallel()
	oneWay, _, ok := strings.Cut(fakeConfig, "  - name: netskope-to-mimecast")
	require.True(t, ok)
	f := newFakes(t, oneWay)
	code, out, errs := f.fast(t.Context(), t, "sync")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.NotContains(t, out, "netskope: pulled")
	assert.NotEmpty(t, f.ns.FileHashList("CE_Malware_Hashes"))
	for _, r := range f.ns.Requests() {
		assert.False(t, strings.HasPrefix(r.Path, netskopetest.PathDataExportAlerts), "Netskope alerts pulled: %s", r.Path)
	}
}

// A signal's stop cause reads as a cancellation to the engine and the plugins
// (so an interrupted push is audited at INFO), and only SIGINT's is the
// interrupt that exits 130.
func TestStopCauseIsCancellation(t *testing.T) {
	t.Parallel()
	term := stopCause("terminated (terminated)")
	for _, c := range []error{errInterrupted, term} {
		assert.ErrorIs(t, c, context.Canceled, c.Error())
		assert.ErrorIs(t, fmt.Errorf("mimecast: push: %w", c), context.Canceled)
	}
	assert.NotErrorIs(t, term, errInterrupted)
	assert.NotErrorIs(t, context.Canceled, errInterrupted)
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(term)
	assert.Equal(t, exitOK, newApp(&bytes.Buffer{}, &bytes.Buffer{}, testEnv(), false).exec(ctx, []string{"version"}), "SIGTERM is no interrupt")
}
