package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/sharing"
)

func TestConfigErrorExitCode(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "sync_interval: 5m", "sync_interval: 5 minutes", 1))
	code, out, errs := f.cte(t, "sync")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Equal(t, f.path+`:5: plugins.mimecast.sync_interval: "5 minutes" is not a duration; write e.g. 5m or 1h`+"\n", errs)
}

// Issue 12 item 19: validate checks each sharing configuration's target on its
// destination, at the file and line, with the target meant (target: BLOCK used
// to pass validate and fail only in sync).
func TestValidateChecksSharingTargets(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "target: operation/BLOCK", "target: BLOCK", 1))
	code, out, errs := f.cte(t, "validate")
	assert.Equal(t, exitPartial, code, errs)
	assert.Contains(t, out, "ok    netskope (netskope)\n")
	assert.Contains(t, out, "FAIL  mimecast (mimecast): "+f.path+`:35: sharing[1].target: sharing "netskope-to-mimecast" needs target BLOCK, which it does not offer (did you mean operation/BLOCK?); targets: operation/BLOCK, operation/ALLOW, operation/DELETE, managed-url/block, managed-url/permit`)

	g := newFakes(t, strings.Replace(fakeConfig, "target: operation/BLOCK", "target: operation/BLOK", 1))
	_, out, _ = g.cte(t, "validate", "mimecast")
	assert.Contains(t, out, "needs target operation/BLOK, which it does not offer (did you mean operation/BLOCK?)")
}

// --config naming a folder is a command-line mistake: exit 2 and what to write.
func TestConfigIsAFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--config", dir, "validate"}, &out, &errb, func(string) (string, bool) { return "", false })
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, dir+": is a folder, not a configuration file; name the file, e.g. --config "+filepath.Join(dir, "cte.yaml")+"\n", errb.String())
}

// A destination that cannot be asked for its targets fails the shares to it
// only; the commands that read the state file need no product.
func TestUnreachableProductFailsItsSharesOnly(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.Unauthorized(mimecasttest.PathGetAccount, 1000)
	code, out, errs := f.cte(t, "sync")
	assert.Equal(t, exitPartial, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "mimecast-to-netskope: ")
	assert.Greater(t, len(f.ns.FileHashList("CE_Malware_Hashes")), 100, "mimecast → netskope was shared")

	code, _, errs = f.cte(t, "iocs")
	assert.Equal(t, exitOK, code, "iocs reads the state file only: %s", errs)
}

func TestWarningsPrintedOnce(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "sync_interval: 5m", "sync_interval: 1m", 1))
	code, _, errs := f.cte(t, "test", "mimecast-to-netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, 1, strings.Count(errs, "warning: "+f.path+":5: plugins.mimecast.sync_interval: 1m0s is shorter than 5m0s"), errs)
}

// TestLogRetentionReachesEngine runs "cte run" on a state file holding an old
// audit entry: log_retention decides whether it survives.
func TestLogRetentionReachesEngine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		retention string
		kept      bool
	}{{"30d", false}, {"0", true}} {
		t.Run(c.retention, func(t *testing.T) {
			t.Parallel()
			f := newFakes(t, strings.Replace(fakeConfig, "state: state.db\n", "state: state.db\nlog_retention: "+c.retention+"\n", 1))
			st, err := openStateFile(filepath.Join(f.dir, "state.db"))
			require.NoError(t, err)
			require.NoError(t, st.Update(t.Context(), func(tx sharing.Tx) error {
				return tx.Log(sharing.AuditEntry{Time: time.Now().Add(-40 * 24 * time.Hour), Level: slog.LevelInfo, Message: "ancient entry"})
			}))
			require.NoError(t, st.Close())

			ctx, cancel := context.WithCancel(t.Context())
			var out, errb lockedBuffer // the engine and each plugin log on handlers of their own
			done := make(chan int)
			go func() { done <- run(ctx, []string{"--config", f.path, "run"}, &out, &errb, f.lookup) }()
			require.Eventually(t, func() bool { return len(f.ns.FileHashList("CE_Malware_Hashes")) > 1 }, 30*time.Second, 10*time.Millisecond)
			cancel()
			require.Equal(t, exitOK, <-done, errb.String())

			code, stdout, stderr := f.cte(t, "logs", "--level", "debug")
			require.Equal(t, exitOK, code, stderr)
			if c.kept {
				assert.Contains(t, stdout, "ancient entry")
				assert.NotContains(t, stdout, "deleted 1 audit entries")
			} else {
				assert.NotContains(t, stdout, "ancient entry")
				assert.Contains(t, stdout, "deleted 1 audit entries older than")
				assert.Contains(t, stdout, "log retention 720h0m0s")
			}
		})
	}
}
