package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	env := func(string) (string, bool) { return "", false }
	assert.Equal(t, exitOK, run(context.Background(), []string{"--help"}, &out, &errb, env))
	assert.Contains(t, out.String(), "Exit codes:\n  0  everything worked")
	assert.Contains(t, out.String(), "cte demo")

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"version"}, &out, &errb, env))
	assert.Equal(t, "cte "+buildVersion()+"\n", out.String())

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"--json", "version"}, &out, &errb, env))
	assert.JSONEq(t, `{"version":"`+buildVersion()+`"}`, out.String())

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"iocs", "--help"}, &out, &errb, env))
	assert.Contains(t, out.String(), "Usage: cte iocs [--filter QUERY] [--limit N]")
	assert.Contains(t, out.String(), "-filter QUERY")

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"synk"}, &out, &errb, env))
	assert.Equal(t, "cte: unknown command \"synk\" (did you mean sync?); commands: validate, targets, sync, run, sharing, replay, test, iocs, explain, logs, demo, completion, version\n", errb.String())

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), nil, &out, &errb, env))
	assert.True(t, strings.HasPrefix(errb.String(), "cte: no command given\n"))

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"sync", "--bogus"}, &out, &errb, env))
	assert.Contains(t, errb.String(), "flag provided but not defined: --bogus")

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "none.yaml"), "validate"}, &out, &errb, env))
	assert.Contains(t, errb.String(), "none.yaml: no such file; write one (start from testdata/cte.yaml) or name it with --config")
}
