package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	assert.Equal(t, "cte: unknown command \"synk\" (did you mean sync?); commands: validate, targets, sync, run, sharing, replay, test, iocs, explain, logs, state, demo, completion, version\n", errb.String())

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

// Issue 12 item 14: cte --version, and --flag with two dashes in every help
// text and flag error.
func TestVersionFlagAndTwoDashes(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	var out, errb bytes.Buffer
	assert.Equal(t, exitOK, run(t.Context(), []string{"--version"}, &out, &errb, env))
	assert.Equal(t, "cte "+buildVersion()+"\n", out.String())

	for _, c := range append(commands(), nil) {
		out.Reset()
		args := []string{"--help"}
		if c != nil {
			args = []string{c.name, "--help"}
		}
		require.Equal(t, exitOK, run(t.Context(), args, &out, &errb, env), "%v", args)
		for _, line := range strings.Split(out.String(), "\n") {
			assert.NotRegexp(t, `(^|\s|\[)-[a-z]`, line, "%v: a flag with one dash", args)
		}
	}
	out.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"iocs", "--help"}, &out, &errb, env))
	assert.Contains(t, out.String(), "  --filter QUERY\n")
	assert.Contains(t, out.String(), "  --limit N\n      show at most N indicators (0: all) (default \"50\")\n")

	errb.Reset()
	assert.Equal(t, exitUsage, run(t.Context(), []string{"logs", "--limit"}, &out, &errb, env))
	assert.Contains(t, errb.String(), "flag needs an argument: --limit")
}

// Issue 12 item 14: CTE_CONFIG names the configuration file; --config wins.
func TestCTEConfigEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fromEnv := filepath.Join(dir, "env.yaml")
	env := func(k string) (string, bool) {
		if k == "CTE_CONFIG" {
			return fromEnv, true
		}
		return "", false
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run(t.Context(), []string{"validate"}, &out, &errb, env))
	assert.Contains(t, errb.String(), fromEnv+": no such file")
	errb.Reset()
	other := filepath.Join(dir, "flag.yaml")
	assert.Equal(t, exitUsage, run(t.Context(), []string{"validate", "--config", other}, &out, &errb, env))
	assert.Contains(t, errb.String(), other+": no such file")
}

// Issue 12 item 14: completion scripts list every command and its flags; the
// bash one is valid bash.
func TestCompletion(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		require.Equal(t, exitOK, run(t.Context(), []string{"completion", sh}, &out, &errb, env), errb.String())
		for _, c := range commands() {
			assert.Contains(t, out.String(), c.name, sh)
		}
		assert.Contains(t, out.String(), "source", sh)
		if sh == "bash" {
			bash, err := exec.LookPath("bash")
			require.NoError(t, err, "the bash script is checked with bash -n")
			cmd := exec.Command(bash, "-n")
			cmd.Stdin = strings.NewReader(out.String())
			res, err := cmd.CombinedOutput()
			assert.NoError(t, err, "bash -n: %s", res)
		}
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run(t.Context(), []string{"completion", "tcsh"}, &out, &errb, env))
	assert.Contains(t, errb.String(), `"tcsh" is not a shell cte completes; write bash, zsh or fish`)
}

func TestPlural(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 page", plural(1, "page"))
	assert.Equal(t, "0 pages", plural(0, "page"))
	assert.Equal(t, "2 invalid values", plural(2, "invalid value"))
}

// The README's command table lists every command.
func TestREADMEListsEveryCommand(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	for _, c := range commands() {
		assert.Contains(t, string(readme), "| `cte "+c.name, c.name)
	}
}
