package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

func TestReplay(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	blocked := len(f.mc.Hashes())
	require.NotZero(t, blocked)
	batches := f.mc.Count(mimecasttest.PathCreateBatch)
	listCalls := func() (n int) {
		for _, r := range f.ns.Requests() {
			if r.Path == netskopetest.PathUpdateFileHashList {
				n++
			}
		}
		return n
	}
	calls := listCalls()

	code, out, errs := f.cte(t, "replay", "netskope-to-mimecast")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, fmt.Sprintf("replay netskope-to-mimecast: %d matched, %d sent", blocked, blocked))
	assert.Greater(t, f.mc.Count(mimecasttest.PathCreateBatch), batches)

	code, out, errs = f.cte(t, "replay", "mimecast-to-netskope", "--json")
	require.Equal(t, exitOK, code, errs)
	var rep replayJSON
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.True(t, rep.Pushed)
	assert.Equal(t, calls+1, listCalls(), "the whole list is sent again (the tenant answers that nothing changed)")

	code, out, errs = f.cte(t, "logs", "--level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "replay requested")

	code, _, errs = f.cte(t, "replay", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `no sharing configuration named "nope"`)
}
