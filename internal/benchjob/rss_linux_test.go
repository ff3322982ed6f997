//go:build linux

package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChildRSSIsItsOwn checks that a child's peak RSS is its own, not its
// parent's: with 256 MiB touched in this (parent) process, a small job's
// children report far less, where ru_maxrss would give at least the
// parent's 256 MiB (Linux carries the memory shared from fork to exec into
// it).
func TestChildRSSIsItsOwn(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	f, err := parseFlags([]string{"-events", "400", "-alerts", "20", "-count", "1"})
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	rs, err := runJob(exe, t.TempDir(), f, 400, 0)
	require.NoError(t, err)
	for _, r := range rs {
		assert.Positive(t, r.MaxRSS, r.Scenario)
		assert.Less(t, r.MaxRSS, int64(200<<20), "%s: the child's own peak, not the parent's", r.Scenario)
	}
	assert.Equal(t, byte(1), ballast[len(ballast)-1])
}
