package main

import (
	"bytes"
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

// TestStateHidesPostgresPassword runs cte state on a postgres:// state whose
// password is written percent-escaped (a space as %20, as a URL's user info
// writes it) or holds "&" (which --json writes \u0026): neither form may
// reach stdout or stderr. cte state printed the URL as written.
func TestStateHidesPostgresPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, json, secret string }{
		{"postgres://cte:my%20s3cret@127.0.0.1:1/cte?connect_timeout=2", "", "s3cret"},
		{"postgres://cte:s3cret&x@127.0.0.1:1/cte?connect_timeout=2", "--json", "s3cret"},
		{"postgres://cte:s3cret&x@127.0.0.1:1/cte?connect_timeout=2", "", "s3cret"},
	} {
		path := filepath.Join(t.TempDir(), "cte.yaml")
		cfg := strings.Replace(fakeConfig, "state: state.db", "state: "+tc.url, 1)
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		f := newFakes(t, fakeConfig)
		var out, errb bytes.Buffer
		args := []string{"--config", path, "state", "check"}
		if tc.json != "" {
			args = append([]string{tc.json}, args...)
		}
		code := run(t.Context(), args, &out, &errb, f.lookup)
		assert.Equal(t, exitFailure, code, "no database listens there")
		assert.Contains(t, out.String()+errb.String(), "127.0.0.1", "the state is named")
		assert.NotContains(t, out.String()+errb.String(), tc.secret, "%s %s", tc.url, tc.json)
	}
}

func TestRawPassword(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"postgres://cte:my%20pw@h:5432/db": "my%20pw",
		"postgres://cte:p@ss@h/db?x=@":     "p@ss",
		"postgres://cte@h/db":              "",
		"postgres://h/db":                  "",
		"postgresql://u:a:b@h":             "a:b",
		"not a url":                        "",
	} {
		assert.Equal(t, want, rawPassword(url), url)
	}
}

// TestStateHidesPasswordsEverywhere: a password given as ?password= (pgx
// takes it) or in a URL whose scheme is written PostgreSQL:// (taken for a
// file name, the password printed in its error), and a secret from the
// environment with a trailing newline (a secret file), reach no output.
func TestStateHidesPasswordsEverywhere(t *testing.T) {
	t.Parallel()
	for _, state := range []string{
		"postgres://cte@127.0.0.1:1/cte?password=hunter2-db-secret&connect_timeout=2",
		"PostgreSQL://cte:hunter2-db-secret@127.0.0.1:1/cte?connect_timeout=2",
	} {
		path := filepath.Join(t.TempDir(), "cte.yaml")
		cfg := strings.Replace(fakeConfig, "state: state.db", "state: "+state, 1)
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		f := newFakes(t, fakeConfig)
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"--config", path, "state", "check"}, &out, &errb, f.lookup)
		assert.Equal(t, exitFailure, code, "no database listens there")
		assert.Contains(t, out.String()+errb.String(), "127.0.0.1", "a database is named, not a file")
		assert.NotContains(t, out.String()+errb.String(), "hunter2", state)
	}
	l := &loader{}
	l.addSecret("V1TOKEN-abcdef\n")
	assert.Contains(t, l.secrets, "V1TOKEN-abcdef", "as the value is used, trimmed")
}
