package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateFailures(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.env["NS_V2"] = "wrong-token-value-123"
	code, out, _ := f.cte(t, "validate")
	assert.Equal(t, exitPartial, code)
	assert.Contains(t, out, "ok    mimecast (mimecast)\n")
	assert.Contains(t, out, "FAIL  netskope (netskope): ")

	code, out, _ = f.cte(t, "validate", "netskope")
	assert.Equal(t, exitFailure, code)
	assert.NotContains(t, out, "mimecast")

	code, _, errs := f.cte(t, "validate", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `no plugin named "nope"`)
}

// Without the Mimecast BYO package, pulling still works: validate warns, and fails
// only for the sharing configuration that needs a BYO target.
func TestValidateWithoutBYOPackage(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.SetPackages("Targeted Threat Protection - URL Protect [1033]")
	code, out, errs := f.cte(t, "validate")
	require.Equal(t, exitPartial, code, errs)
	assert.Contains(t, out, "FAIL  mimecast (mimecast): ")
	assert.Contains(t, out, `BYO: Threat Intelligence [1089]`)
	assert.Contains(t, out, `sharing "netskope-to-mimecast" needs target operation/BLOCK, which it does not offer`)
	assert.Contains(t, out, "ok    netskope (netskope)")

	pullOnly := strings.Replace(fakeConfig, `  - name: netskope-to-mimecast
    source: netskope
    rule: all-file-hashes
    destination: mimecast
    target: operation/BLOCK
`, "", 1)
	g := newFakes(t, pullOnly)
	g.mc.SetPackages()
	code, out, errs = g.cte(t, "validate", "--json")
	require.Equal(t, exitOK, code, errs)
	var res []validateResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res, 2)
	assert.True(t, res[0].OK)
	assert.Contains(t, res[0].Warning, "hashes cannot be pushed")
	assert.Empty(t, res[0].Error)
}
