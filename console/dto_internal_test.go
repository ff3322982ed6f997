package console

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/sharing"
)

// The sync answer carries each count of the engine's report under its name.
func TestSyncOfCounts(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(syncOf(sharing.SyncReport{Source: "s", Pages: 1, Indicators: 9, New: 2, Updated: 7, Known: 5, Invalid: 3, Inactive: 4}, nil))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	for k, want := range map[string]float64{"pages": 1, "indicators": 9, "new": 2, "updated": 7, "known": 5, "invalid": 3, "inactive": 4} {
		assert.Equal(t, want, got[k], k)
	}
}
