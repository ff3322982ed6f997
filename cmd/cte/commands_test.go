package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandsAgainstFakes(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)

	code, out, errs := f.cte(t, "validate")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "ok    mimecast (mimecast)\nok    netskope (netskope)\n", out)

	code, out, errs = f.cte(t, "targets", "netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "file-hash-list/CE_Malware_Hashes")
	assert.Contains(t, out, "replace")

	code, out, errs = f.cte(t, "sync")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "mimecast: pulled ")
	assert.Contains(t, out, "mimecast-to-netskope: ")
	assert.Contains(t, out, "netskope-to-mimecast: ")
	assert.Contains(t, out, "invalid values skipped")
	onList := f.ns.FileHashList("CE_Malware_Hashes")
	assert.Greater(t, len(onList), 100, "hashes reached the Netskope list")
	blocked := 0
	for _, h := range f.mc.Hashes() {
		if h.Operation == "BLOCK" {
			blocked++
		}
	}
	assert.Greater(t, blocked, 10, "Netskope hashes were blocked in Mimecast")

	code, out, errs = f.cte(t, "sync", "--source", "mimecast")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "0 new")
	assert.Contains(t, out, "list unchanged, not sent")

	code, out, errs = f.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "SHARING")
	assert.Contains(t, out, "mimecast-to-netskope")
	assert.Contains(t, out, "operation/BLOCK")

	code, out, errs = f.cte(t, "--json", "sharing")
	require.Equal(t, exitOK, code, errs)
	var st struct {
		Sharing []map[string]any `json:"sharing"`
		Pulls   []map[string]any `json:"pulls"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st.Sharing, 2)
	require.Len(t, st.Pulls, 2)

	code, out, errs = f.cte(t, "iocs", "--filter", "type == sha256 and source == mimecast", "--limit", "5")
	require.Equal(t, exitOK, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 6, "header and five rows:\n%s", out)
	assert.Contains(t, lines[1], "sha256")
	value := strings.Fields(lines[1])[1]

	code, _, errs = f.cte(t, "iocs", "--filter", "typ == sha256")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `unknown field "typ"`)

	code, out, errs = f.cte(t, "explain", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, value+" (sha256)")
	assert.Contains(t, out, "from mimecast: active")
	assert.Contains(t, out, "mimecast-to-netskope → netskope file-hash-list/CE_Malware_Hashes: shared")

	code, out, errs = f.cte(t, "test", "mimecast-to-netskope", "--days", "30", "--value", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "Dry run of mimecast-to-netskope")
	assert.Contains(t, out, "unchanged:")
	assert.Contains(t, out, "  "+value+": shared: ")

	code, out, errs = f.cte(t, "test", "netskope-to-mimecast", "--value", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "  "+value+": not shared: ")

	code, _, errs = f.cte(t, "test", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `no sharing configuration named "nope"`)

	code, out, errs = f.cte(t, "logs", "--level", "info", "--since", "1h")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "[mimecast]")

	code, _, errs = f.cte(t, "logs", "--since", "soon")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `--since "soon" is not a duration`)
}
