package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// Issue 12 item 11: cte sync killed with SIGKILL while Mimecast holds a
// create-batch (the fake applies it after the kill, so it was sent but never
// confirmed), then run again, loses nothing, pushes again at most the batch
// that was in flight, and audits those as unconfirmed (the intent to push is
// recorded before sending). The test logs the duplicate count.
func TestKilledDuringPushResendsAtMostTheBatchInFlight(t *testing.T) {
	t.Parallel()
	ref := newProducts(t)
	var out, errs bytes.Buffer
	code := run(t.Context(), []string{"--config", ref.config(t, filepath.Join(t.TempDir(), "state.db"), "5m", "30s"), "sync"},
		&out, &errs, os.LookupEnv)
	require.Equal(t, exitOK, code, "reference sync: %s", errs.String())
	want := ref.state()
	require.Greater(t, len(want.blocked), 2*mimecast.MaxBatch, "several batches, so that one is confirmed before the kill")

	p := newProducts(t)
	cfg := p.config(t, filepath.Join(t.TempDir(), "state.db"), "5m", "30s")
	p.mc.Delay(mimecasttest.PathCreateBatch, 1, time.Nanosecond) // the first batch passes
	gate := p.mc.Stall(mimecasttest.PathCreateBatch, 1)          // the second is held
	var childOut, childErr lockedBuffer
	cmd := exec.Command(os.Args[0], "--config", cfg, "sync")
	cmd.Env = append(os.Environ(), asCTE+"=1")
	cmd.Stdout, cmd.Stderr = &childOut, &childErr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-gate.Arrived():
	case err := <-done:
		t.Fatalf("cte sync ended before its second batch: %v\n%s", err, childErr.String())
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("cte sync sent no second batch")
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	<-done
	gate.Release() // Mimecast applies the batch whose answer nobody reads

	out.Reset()
	errs.Reset()
	code = run(t.Context(), []string{"--config", cfg, "sync"}, &out, &errs, os.LookupEnv)
	require.Equal(t, exitOK, code, "sync after the kill:\n%s\n%s", out.String(), errs.String())
	assert.Equal(t, want, p.state(), "nothing lost: the products hold what one uninterrupted sync gives")

	pushes, _ := p.blockPushes(t)
	assert.ElementsMatch(t, want.blocked, slices.Collect(maps.Keys(pushes)))
	dups := 0
	for _, n := range pushes {
		dups += n - 1
		assert.LessOrEqual(t, n, 2, "no hash is pushed more than twice")
	}
	assert.LessOrEqual(t, dups, mimecast.MaxBatch, "at most the batch in flight at the kill is pushed again")
	// The restart knew which hashes were sent but never confirmed (the intent
	// recorded before the push), and said so: exactly the ones sent twice.
	out.Reset()
	errs.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"--config", cfg, "logs", "--level", "warn"}, &out, &errs, os.LookupEnv), errs.String())
	assert.Contains(t, out.String(), fmt.Sprintf("WARN  %d indicator(s) were being sent when the last share stopped, without an answer; sending them again", dups))
	t.Logf("kill -9 during a push: %d hashes BLOCKed, %d pushed twice (one batch holds at most %d)", len(pushes), dups, mimecast.MaxBatch)
}
