package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain makes the test binary a benchmark child when the parent (the
// test) starts it as one, as main does.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benchjob child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestJobTable runs the whole job on a small feed and checks every
// scenario's row: what each sync pulled and sent, not its speed.
func TestJobTable(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runParent([]string{"-events", "400", "-alerts", "20", "-count", "1", "-dir", t.TempDir()}, &out))
	rows := map[string][]string{}
	for line := range strings.Lines(out.String()) {
		f := strings.Split(strings.TrimSpace(line), " | ")
		if len(f) == 12 && f[1] == "400" {
			rows[strings.TrimPrefix(f[0], "| ")] = f
		}
	}
	require.Len(t, rows, len(scenarios), out.String())
	pulled := func(sc string) string { return rows[sc][9] }
	sent := func(sc string) string { return strings.TrimSuffix(rows[sc][11], " |") }
	assert.NotEqual(t, "0", pulled("first"))
	assert.NotContains(t, rows["first"][10], "0 [0", "a rate of storing")
	assert.NotEqual(t, "0", rows["first"][4], "a process faults its pages in")
	assert.NotEqual(t, "0", sent("first"), "the first sync shares")
	assert.Equal(t, "0", sent("no-change"), "nothing new, nothing sent")
	assert.Equal(t, "0", sent(runNoChange), "nothing new in a running cycle either")
	assert.NotEqual(t, "0", sent("1%-new"), "new values re-pack the list")
	assert.NotEqual(t, "0", sent(runNew), "new values reach a running cycle")
	assert.NotEqual(t, "0", sent(scenarioFold), "and a sync after the running process")
}

// TestJobFileSize checks that every scenario reports the state file's
// size, which the table's file column gives.
func TestJobFileSize(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := parseFlags([]string{"-events", "400", "-alerts", "20", "-count", "1"})
	require.NoError(t, err)
	rs, err := runJob(exe, t.TempDir(), f, 400, 0)
	require.NoError(t, err)
	require.Len(t, rs, len(scenarios))
	for _, r := range rs {
		assert.Positive(t, r.File, r.Scenario)
	}
}

// TestJobInMemory runs the job on the in-memory store: a first sync only (a
// later process would find nothing stored), which pulls and shares as the
// embedded store's does.
func TestJobInMemory(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runParent([]string{"-store", "memory", "-events", "400", "-alerts", "20", "-count", "1", "-dir", t.TempDir()}, &out))
	var rows []string
	for line := range strings.Lines(out.String()) {
		if f := strings.Split(strings.TrimSpace(line), " | "); len(f) == 12 && f[1] == "400" {
			rows = append(rows, strings.TrimPrefix(f[0], "| "))
			assert.NotEqual(t, "0", f[9], "it pulls")
			assert.NotEqual(t, "0 |", f[11], "it shares")
		}
	}
	assert.Equal(t, []string{"first"}, rows, out.String())
}

// TestFlagsRefused checks that bad flags are refused with the value named.
func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{{"-events", "0"}, {"-events", "ten"}, {"-count", "0"}, {"-latency", "-1s"}, {"-store", "sqlite"}} {
		err := runParent(args, &strings.Builder{})
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), args[1], args)
	}
}

// -latency holds every get-feed request of the job's Mimecast fake (each
// takes one use of its Delay), and only those; without it none is held.
func TestLatencyHoldsGetFeed(t *testing.T) {
	f, err := parseFlags([]string{"-events", "400", "-latency", "1ms"})
	require.NoError(t, err)
	mc := newMimecast(f, 400)
	defer mc.Close()
	held := mc.PendingFaults()
	require.Equal(t, math.MaxInt32, held)
	c := mc.Credentials()
	p, err := mimecast.NewPlugin(mimecast.Config{BaseURL: mc.URL, AppID: c.AppID, AppKey: cte.Secret(c.AppKey),
		AccessKey: cte.Secret(c.AccessKey), SecretKey: cte.Secret(c.SecretKey)}, mimecast.WithHTTPClient(mc.Client()))
	require.NoError(t, err)
	for _, err := range p.Pull(t.Context(), nil) {
		require.NoError(t, err)
	}
	feeds := mc.Count(mimecasttest.PathGetFeed)
	require.Positive(t, feeds)
	assert.Equal(t, held-feeds, mc.PendingFaults(), "one held request per get-feed request")

	f, err = parseFlags([]string{"-events", "400"})
	require.NoError(t, err)
	plain := newMimecast(f, 400)
	defer plain.Close()
	assert.Zero(t, plain.PendingFaults())
}
