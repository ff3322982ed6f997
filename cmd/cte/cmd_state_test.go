package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateBackupAndCheck: a backup of a synced state file is a sound state
// file, an existing backup file is never overwritten, and check says so.
func TestStateBackupAndCheck(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)

	code, out, errs := f.cte(t, "state", "check")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "sound")

	dst := filepath.Join(f.dir, "copy.db")
	code, out, errs = f.cte(t, "state", "backup", dst)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "copied to "+dst)
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Positive(t, fi.Size())

	code, _, errs = f.cte(t, "state", "backup", dst)
	assert.Equal(t, exitUsage, code, "an existing file is not overwritten")
	assert.Contains(t, errs, "exists")

	// The copy is a state file cte reads: point the configuration at it.
	cfg := strings.Replace(fakeConfig, "state: state.db", "state: copy.db", 1)
	require.NoError(t, os.WriteFile(f.path, []byte(cfg), 0o600))
	code, out, errs = f.cte(t, "--json", "state", "check")
	require.Equal(t, exitOK, code, errs)
	var j stateJSON
	require.NoError(t, json.Unmarshal([]byte(out), &j))
	assert.True(t, j.OK)
	assert.Equal(t, "copy.db", filepath.Base(j.State))
}

// TestStateDamaged: a damaged or empty state file makes every command exit
// 1 with "state file damaged" and the way out, never a crash.
func TestStateDamaged(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	state := filepath.Join(f.dir, "state.db")
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(state, b[:3*4096], 0o600)) // truncated: the meta pages and little else

	for _, args := range [][]string{{"state", "check"}, {"sync"}, {"iocs"}} {
		code, _, errs := f.cte(t, args...)
		assert.Equal(t, exitFailure, code, "%v: %s", args, errs)
		assert.Contains(t, errs, "state file damaged", "%v", args)
		assert.Contains(t, errs, "backup", "%v", args)
	}

	require.NoError(t, os.WriteFile(state, nil, 0o600)) // empty
	code, _, errs = f.cte(t, "sync")
	assert.Equal(t, exitFailure, code, errs)
	assert.Contains(t, errs, "0 bytes")
	fi, err := os.Stat(state)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "an empty state file is not initialised")
}

func TestStateUsage(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	for _, args := range [][]string{{"state"}, {"state", "fix"}, {"state", "check", "x"}, {"state", "backup"}} {
		code, _, errs := f.cte(t, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errs)
	}
}
