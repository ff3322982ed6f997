package main

import (
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

func TestUnknownTargetIsAConfigError(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "target: operation/BLOCK", "target: operation/BLOK", 1))
	code, _, errs := f.cte(t, "sharing")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, f.path+`:35: sharing[1].target: target "operation/BLOK" is not a target of destination "mimecast": choose one of operation/BLOCK, operation/ALLOW, operation/DELETE, managed-url/block, managed-url/permit`+"\n", errs)
}

func TestUnreachableProductIsAFailure(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.Unauthorized(mimecasttest.PathGetAccount, 1000)
	code, out, errs := f.cte(t, "sharing")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errs, "cte: list the targets of mimecast: ")

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
