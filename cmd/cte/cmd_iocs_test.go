package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

func TestIOCsExportSTIX(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	code, out, errs := f.cte(t, "iocs", "--limit", "0", "--json")
	require.Equal(t, exitOK, code, errs)
	var recs []iocJSON
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.NotEmpty(t, recs)

	code, out, errs = f.cte(t, "iocs", "--limit", "0", "--stix")
	require.Equal(t, exitOK, code, errs)
	res, err := ioc.ReadSTIX(strings.NewReader(out), 1<<30)
	require.NoError(t, err)
	assert.Empty(t, res.Skipped)
	require.Len(t, res.Indicators, len(recs), "every stored (active) indicator is exported once")
	for i, ind := range res.Indicators {
		assert.Equal(t, recs[i].Value, ind.Value)
		assert.Equal(t, recs[i].Type, ind.Type)
		assert.NotEmpty(t, ind.Source)
	}

	code, _, errs = f.cte(t, "iocs", "--stix", "--filter", "type ==")
	assert.Equal(t, exitUsage, code, errs)
}
