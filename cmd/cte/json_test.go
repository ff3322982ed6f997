package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ctexchange/cte/console"
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
	var lj []console.LogEntry
	require.NoError(t, json.Unmarshal([]byte(out), &lj))
	require.NotEmpty(t, lj)
	for _, e := range lj {
		assert.Contains(t, []string{"debug", "info", "warn", "error"}, e.Level, "levels are spelled as --level and the console API spell them")
	}

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

// dataKeys hold maps whose keys are data (reasons, types), not field names.
var dataKeys = map[string]bool{"reasons": true, "byType": true, "excluded": true, "details": true}

// checkJSONStyle fails for a key that is not lower camel case, for a zero time
// and for a count written as a string, anywhere in v.
func checkJSONStyle(t *testing.T, what string, v any) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !dataKeys[lastKey(path)] {
					assert.Regexp(t, `^[a-z][a-zA-Z0-9]*$`, k, "%s: key %s.%s", what, path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			assert.NotContains(t, x, "0001-01-01", "%s: %s is a zero time; leave it out", what, path)
			if lastKey(path) == "pages" || lastKey(path) == "indicators" {
				t.Errorf("%s: %s is the string %q; write numbers as numbers", what, path, x)
			}
		}
	}
	walk("", v)
}

func lastKey(path string) string {
	path = strings.TrimSuffix(path, "[]")
	return path[strings.LastIndex(path, ".")+1:]
}

// Issue 12 item 15: every --json output uses one key style (lower camel), no
// zero times and numbers as numbers; the shapes are those the README documents.
func TestJSONOneKeyStyle(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, out, errs := f.cte(t, "sync", "--json")
	require.Equal(t, exitOK, code, errs)
	var syncOut []struct {
		Source  string `json:"source"`
		Outcome string `json:"outcome"`
		Report  struct {
			Indicators int `json:"indicators"`
			Shares     []struct {
				Config  string `json:"config"`
				Applied int    `json:"applied"`
			} `json:"shares"`
		} `json:"report"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &syncOut))
	require.Len(t, syncOut, 2)
	assert.Equal(t, "ok", syncOut[0].Outcome)
	assert.NotZero(t, syncOut[0].Report.Indicators)
	assert.NotZero(t, syncOut[0].Report.Shares[0].Applied)

	_, out, _ = f.cte(t, "iocs", "--limit", "1")
	value := strings.Fields(strings.Split(out, "\n")[1])[1]
	for _, args := range [][]string{
		{"validate"}, {"targets", "mimecast"}, {"sync"}, {"sharing"}, {"iocs", "--limit", "20"}, {"logs", "--level", "debug"},
		{"explain", value}, {"test", "mimecast-to-netskope", "--value", value}, {"version"},
	} {
		code, out, errs := f.cte(t, append(args, "--json")...)
		require.Equal(t, exitOK, code, "%v: %s", args, errs)
		var v any
		require.NoError(t, json.Unmarshal([]byte(out), &v), "%v", args)
		checkJSONStyle(t, strings.Join(args, " "), v)
	}

	_, out, _ = f.cte(t, "iocs", "--json", "--limit", "1")
	assert.NotContains(t, out, "inactiveAt", "an active indicator has no inactive time")
	_, out, _ = f.cte(t, "logs", "--json", "--level", "debug")
	var logs []struct {
		Details map[string]any `json:"details"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &logs))
	found := false
	for _, l := range logs {
		if p, ok := l.Details["pages"]; ok {
			assert.IsType(t, float64(0), p, "pages is a number")
			found = true
		}
	}
	assert.True(t, found, "a pull entry with its page count")
}

// cte demo --json writes JSON lines: one object per step, each with "step".
func TestDemoJSONLines(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"demo", "--json"}, &out, &errb, func(string) (string, bool) { return "", false })
	require.Equal(t, exitOK, code, errb.String())
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), "%q", line)
		checkJSONStyle(t, "demo", v)
		steps = append(steps, v["step"].(string))
	}
	assert.Equal(t, []string{"start", "validate", "sync", "products", "sharing", "iocs", "logs", "secondSync", "done"}, steps)
	assert.Contains(t, out.String(), `{"step":"done","secondSyncWrites":0,`)
}

func TestLowerCamel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"LastRun": "lastRun", "ID": "id", "URLList": "urlList", "LastOK": "lastOk", "x": "x", "OverCapacity": "overCapacity", "RequestID": "requestId", "LastOKValue": "lastOkValue"} {
		assert.Equal(t, want, lowerCamel(in), in)
	}
}
