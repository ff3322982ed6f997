package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
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

// failingCommits is a store whose every Update runs and then fails to
// commit (rolled back), as on a full disk.
type failingCommits struct{ sharing.Store }

func (s failingCommits) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.Update(ctx, func(tx sharing.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errors.New("commit: write state: no space left on device")
	})
}

// TestIOCActionNotStored runs each operator action on a store that cannot
// write: nothing is stored, so the command fails (exit 1) and says nothing
// of "stored"; it said "stored; it reaches the products on the next sync"
// and exited 3, "stored, but a share run to apply it failed".
func TestIOCActionNotStored(t *testing.T) {
	w := newFakeWorld(t, twoWay, "a", "b")
	v := fmt.Sprintf("%064x", 7)
	code, _, errs := w.cte(t, "iocs", "add", v, "--tags", "x")
	require.Equal(t, exitOK, code, errs)
	w.store = failingCommits{w.store}
	for _, args := range [][]string{
		{"iocs", "add", fmt.Sprintf("%064x", 8)},
		{"iocs", "mark-safe", v, "--reason", "fp"},
		{"iocs", "tag", v, "--tags", "y"},
		{"iocs", "untag", v, "--tags", "x"},
		{"iocs", "delete", v, "--reason", "gone"},
	} {
		code, out, errs := w.cte(t, args...)
		assert.Equal(t, exitFailure, code, "%v: nothing was stored\n%s", args, errs)
		assert.NotContains(t, out, "stored", "%v", args)
		assert.Contains(t, errs, "no space left on device", "%v", args)
	}
}
