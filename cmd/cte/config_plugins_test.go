package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte"
)

// Issue 12 item 12 (CLI side): a YAML list in a plugin's config reaches the
// driver as a JSON array, whatever the manifest field's type; YAML scalars are
// typed by the field (a number field gets a number).
func TestPluginConfigYAMLListIsJSONArray(t *testing.T) {
	t.Parallel()
	man := cte.Manifest{ID: "x", Name: "X", Version: "1.0.0", Config: []cte.Field{
		{Key: "lists", Label: "Lists", Type: cte.FieldMultiChoice, Choices: []cte.Choice{{Key: "A", Value: "a"}, {Key: "B", Value: "b"}}},
		{Key: "days", Label: "Days", Type: cte.FieldNumber},
	}}
	require.NoError(t, man.Validate())
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("lists: [a, b]\ndays: 7\n"), &doc))
	l := &loader{file: "cte.yaml", env: func(string) (string, bool) { return "", false }, reg: newRegistry()}
	raw, _ := l.pluginConfig(doc.Content[0], "plugins.x.config", man, 1)
	require.Empty(t, l.errs)
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	assert.Equal(t, []any{"a", "b"}, got["lists"])
	assert.Equal(t, 7.0, got["days"])

	// A text field given a list: the list still arrives as an array, and the
	// driver's manifest decides.
	f := cte.Field{Key: "names", Type: cte.FieldText}
	require.NoError(t, yaml.Unmarshal([]byte("[CE_Malware_Hashes, Other]"), &doc))
	v, ok := l.configValue(doc.Content[0], "names", f, true)
	require.True(t, ok)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `["CE_Malware_Hashes","Other"]`, string(b))
}
