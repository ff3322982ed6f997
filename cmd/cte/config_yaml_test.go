package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "30d": 30 * 24 * time.Hour, "0.5d": 12 * time.Hour, " 2d ": 48 * time.Hour,
		// the rule language's grammar: weeks and compound days
		"1w": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour, "0": 0,
	} {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"5 minutes", "300", "d", "-1d", "1e3d", "30days", "", "0x10d", "300ms", "1.5s", "36501d"} {
		_, err := parseDuration(in)
		assert.Error(t, err, in)
	}
}
