package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--config", f.path, "run"}, &out, &errb, f.lookup) }()
	// Wait until the first sync stored something, then stop.
	require.Eventually(t, func() bool { return len(f.ns.FileHashList("CE_Malware_Hashes")) > 1 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.Contains(t, errb.String(), "cte: syncing mimecast every 5m0s")
	assert.Contains(t, errb.String(), "cte: stopped")
}
