package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	assert.Equal(t, " (did you mean sync_interval?)", suggest("sync_intreval", pluginKeys))
	assert.Equal(t, "", suggest("completely_else", pluginKeys))
	assert.Equal(t, "", suggest("type", pluginKeys))
}
