package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestDemoKeep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep"}, pw, io.Discard, func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var config string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "  cte --config "); ok && strings.HasSuffix(rest, " validate") {
			config = strings.TrimSuffix(rest, " validate")
			break
		}
	}
	require.NotEmpty(t, config, "demo --keep prints the commands to try")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(config)) })

	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--config", config, "iocs", "--filter", "source == netskope", "--limit", "2"}, &out, &errb, func(string) (string, bool) { return "", false })
	require.Equal(t, exitOK, code, errb.String())
	assert.Contains(t, out.String(), "netskope")
	out.Reset()
	code = run(t.Context(), []string{"--config", config, "sync"}, &out, &errb, func(string) (string, bool) { return "", false })
	require.Equal(t, exitOK, code, errb.String())
	assert.Contains(t, out.String(), "(list unchanged, not sent)")

	cancel()
	assert.Equal(t, exitOK, <-done)
}

// TestDemoBinary builds the cte binary and runs "cte demo" as a new user would.
func TestDemoBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "cte")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "demo")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	require.NoError(t, cmd.Run(), "cte demo exits 0; stderr:\n%s", &stderr)
	got := stdout.String()
	for _, want := range []string{
		"ok    mimecast (mimecast)\n",
		"ok    netskope (netskope)\n",
		"mimecast-to-netskope: ",
		"netskope-to-mimecast: ",
		"SHARING ",
		"from mimecast, never stored: sha256: ",
		"== 7. The tail of the audit log",
		"(list unchanged, not sent)",
		"Writes to the products during the second sync: 0\n",
		"Demo finished in ",
	} {
		assert.Contains(t, got, want)
	}
	onList := countIn(t, got, `Netskope File Hash List CE_Malware_Hashes: (\d+) SHA256 hashes`)
	blocked := countIn(t, got, `Mimecast BYO threat intelligence: (\d+) hashes BLOCKed`)
	assert.Greater(t, onList, 1000, "thousands of hashes reach the Netskope list")
	assert.Greater(t, blocked, 1000, "thousands of hashes are BLOCKed in Mimecast")
	c := mimecasttest.DefaultCredentials()
	for _, s := range []string{c.AppKey, c.AccessKey, c.SecretKey} {
		assert.NotContains(t, got, s)
		assert.NotContains(t, stderr.String(), s)
	}

	// Issue 12 item 14: Ctrl-C (SIGINT) ends the binary with exit code 130.
	keep := exec.CommandContext(t.Context(), bin, "demo", "--keep")
	keep.Env = cmd.Env
	pr, err := keep.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, keep.Start())
	sc := bufio.NewScanner(pr)
	waiting := false
	for !waiting && sc.Scan() {
		waiting = strings.HasPrefix(sc.Text(), "The fakes keep running until Ctrl-C")
	}
	require.True(t, waiting, "demo --keep says the fakes keep running")
	require.NoError(t, keep.Process.Signal(os.Interrupt))
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	err = keep.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitInterrupted, ee.ExitCode())
}
