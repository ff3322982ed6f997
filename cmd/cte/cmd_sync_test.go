package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestSyncPartialFailure(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.Unauthorized(mimecasttest.PathGetFeed, 1000)
	code, out, errs := f.cte(t, "sync")
	assert.Equal(t, exitPartial, code, "one source of two failed; stderr:\n%s", errs)
	assert.Contains(t, out, "mimecast: pulled 0 indicators in 0 pages")
	assert.Contains(t, out, "  error: ")
	assert.Contains(t, out, "netskope-to-mimecast: ")

	code, out, _ = f.cte(t, "sync", "--source", "mimecast")
	assert.Equal(t, exitFailure, code)
	assert.NotContains(t, out, "netskope: pulled")

	code, out, _ = f.cte(t, "sharing")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "mimecast-to-netskope")

	code, _, errs = f.cte(t, "sync", "--source", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `--source "nope" is not a configured plugin; pulled: mimecast, netskope`)
}

// Issue 12 item 16: the invalid values of a pull are warned about once (the
// plugin's own log line repeated the engine's audit entry).
func TestInvalidValuesWarnedOnce(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, out, errs := f.cte(t, "sync", "--source", "mimecast", "--log-level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "invalid values skipped")
	var warned []string
	for _, l := range strings.Split(errs, "\n") {
		if strings.Contains(l, "valid") { // "invalid" or "not valid"
			warned = append(warned, l)
		}
	}
	assert.Len(t, warned, 1, "stderr:\n%s", errs)
}
