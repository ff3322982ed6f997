package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSyncRetryNow: cte sync --retry-now syncs (the engine's WithRetryNow is
// tested in package sharing) and is in the help.
func TestSyncRetryNow(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync", "--retry-now")
	require.Equal(t, exitOK, code, errs)
	code, out, herr := f.cte(t, "sync", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out+herr, "--retry-now")
}
