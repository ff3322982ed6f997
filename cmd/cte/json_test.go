package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONOutputs(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, out, errs := f.cte(t, "--json", "validate")
	require.Equal(t, exitOK, code, errs)
	var vr []validateResult
	require.NoError(t, json.Unmarshal([]byte(out), &vr))
	assert.Equal(t, []validateResult{{Name: "mimecast", Type: "mimecast", OK: true}, {Name: "netskope", Type: "netskope", OK: true}}, vr)

	code, out, errs = f.cte(t, "sync", "--json")
	require.Equal(t, exitOK, code, errs)
	var sj []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &sj))
	require.Len(t, sj, 2)
	assert.Equal(t, "mimecast", sj[0]["source"])

	code, out, errs = f.cte(t, "iocs", "--json", "--limit", "3")
	require.Equal(t, exitOK, code, errs)
	var ij []iocJSON
	require.NoError(t, json.Unmarshal([]byte(out), &ij))
	assert.Len(t, ij, 3)
	assert.NotEmpty(t, ij[0].Sources)

	code, out, errs = f.cte(t, "logs", "--json", "--level", "debug")
	require.Equal(t, exitOK, code, errs)
	var lj []logJSON
	require.NoError(t, json.Unmarshal([]byte(out), &lj))
	assert.NotEmpty(t, lj)

	code, out, errs = f.cte(t, "targets", "mimecast", "--json")
	require.Equal(t, exitOK, code, errs)
	var tj []targetJSON
	require.NoError(t, json.Unmarshal([]byte(out), &tj))
	assert.Equal(t, "operation/BLOCK", tj[0].ID)

	code, out, errs = f.cte(t, "test", "netskope-to-mimecast", "--json")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, `"config": "netskope-to-mimecast"`)

	code, out, errs = f.cte(t, "explain", strings.Repeat("ab", 32))
	require.Equal(t, exitFailure, code, "a value not stored exits 1, as grep does: %s", errs)
	assert.Equal(t, strings.Repeat("ab", 32)+": not stored; no source has reported it\n", out)
}
