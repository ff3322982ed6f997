package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// fakes is a pair of fake products and a configuration file pointing at them.
type fakes struct {
	mc   *mimecasttest.Server
	ns   *netskopetest.Server
	dir  string
	path string // the configuration file
	env  map[string]string
}

const fakeConfig = `state: state.db
plugins:
  mimecast:
    type: mimecast
    sync_interval: 5m
    config:
      base_url: ${MC_URL}
      app_id: ${MC_APP_ID}
      app_key: ${MC_APP_KEY}
      access_key: ${MC_ACCESS_KEY}
      secret_key: ${MC_SECRET_KEY}
  netskope:
    type: netskope
    sync_interval: 5m
    config:
      tenant_url: ${NS_URL}
      v2_token: ${NS_V2}
      v1_token: ${NS_V1}
      alert_types: [malware]
      file_hash_lists: CE_Malware_Hashes
      file_hash_list_types: [sha256]
rules:
  all-file-hashes:
    filter: type in (sha256, md5)
sharing:
  - name: mimecast-to-netskope
    source: mimecast
    rule: all-file-hashes
    destination: netskope
    target: file-hash-list/CE_Malware_Hashes
  - name: netskope-to-mimecast
    source: netskope
    rule: all-file-hashes
    destination: mimecast
    target: operation/BLOCK
`

func newFakes(t *testing.T, config string) *fakes {
	t.Helper()
	mc := mimecasttest.NewServer(t, mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 300), mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, 100))
	ns := netskopetest.NewServer(t,
		netskopetest.WithFileHashList("CE_Malware_Hashes", strings.Repeat("f", 64)),
		netskopetest.WithFileHashListTypes("CE_Malware_Hashes", "sha256"),
		netskopetest.WithAlerts(netskopetest.KindMalware, 200))
	c := mc.Credentials()
	f := &fakes{mc: mc, ns: ns, dir: t.TempDir(), env: map[string]string{
		"MC_URL": mc.URL, "MC_APP_ID": c.AppID, "MC_APP_KEY": c.AppKey, "MC_ACCESS_KEY": c.AccessKey, "MC_SECRET_KEY": c.SecretKey,
		"NS_URL": ns.URL, "NS_V2": ns.V2Token(), "NS_V1": ns.V1Token(),
	}}
	f.path = filepath.Join(f.dir, "cte.yaml")
	require.NoError(t, os.WriteFile(f.path, []byte(config), 0o600))
	return f
}

func (f *fakes) lookup(k string) (string, bool) { v, ok := f.env[k]; return v, ok }

// secrets returns the secret values of the configuration.
func (f *fakes) secrets() []string {
	return []string{f.env["MC_APP_KEY"], f.env["MC_ACCESS_KEY"], f.env["MC_SECRET_KEY"], f.env["NS_V2"], f.env["NS_V1"]}
}

// cte runs one cte command against the fakes.
func (f *fakes) cte(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), append([]string{"--config", f.path}, args...), &out, &errb, f.lookup)
	for _, s := range f.secrets() {
		require.NotContains(t, out.String(), s, "stdout of %v", args)
		require.NotContains(t, errb.String(), s, "stderr of %v", args)
	}
	return code, out.String(), errb.String()
}

func TestCommandsAgainstFakes(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)

	code, out, errs := f.cte(t, "validate")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "ok    mimecast (mimecast)\nok    netskope (netskope)\n", out)

	code, out, errs = f.cte(t, "targets", "netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "file-hash-list/CE_Malware_Hashes")
	assert.Contains(t, out, "replace")

	code, out, errs = f.cte(t, "sync")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "mimecast: pulled ")
	assert.Contains(t, out, "mimecast-to-netskope: ")
	assert.Contains(t, out, "netskope-to-mimecast: ")
	assert.Contains(t, out, "invalid values skipped")
	onList := f.ns.FileHashList("CE_Malware_Hashes")
	assert.Greater(t, len(onList), 100, "hashes reached the Netskope list")
	blocked := 0
	for _, h := range f.mc.Hashes() {
		if h.Operation == "BLOCK" {
			blocked++
		}
	}
	assert.Greater(t, blocked, 10, "Netskope hashes were blocked in Mimecast")

	code, out, errs = f.cte(t, "sync", "--source", "mimecast")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "0 new")
	assert.Contains(t, out, "list unchanged, not sent")

	code, out, errs = f.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "SHARING")
	assert.Contains(t, out, "mimecast-to-netskope")
	assert.Contains(t, out, "operation/BLOCK")

	code, out, errs = f.cte(t, "--json", "sharing")
	require.Equal(t, exitOK, code, errs)
	var st []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st, 2)

	code, out, errs = f.cte(t, "iocs", "--filter", "type == sha256 and source == mimecast", "--limit", "5")
	require.Equal(t, exitOK, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 6, "header and five rows:\n%s", out)
	assert.Contains(t, lines[1], "sha256")
	value := strings.Fields(lines[1])[1]

	code, _, errs = f.cte(t, "iocs", "--filter", "typ == sha256")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `unknown field "typ"`)

	code, out, errs = f.cte(t, "explain", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, value+" (sha256)")
	assert.Contains(t, out, "from mimecast: active")
	assert.Contains(t, out, "mimecast-to-netskope → netskope file-hash-list/CE_Malware_Hashes: shared")

	code, out, errs = f.cte(t, "test", "mimecast-to-netskope", "--days", "30", "--value", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "Dry run of mimecast-to-netskope")
	assert.Contains(t, out, "unchanged:")
	assert.Contains(t, out, "  "+value+": shared: ")

	code, out, errs = f.cte(t, "test", "netskope-to-mimecast", "--value", value)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "  "+value+": not shared: ")

	code, _, errs = f.cte(t, "test", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `no sharing configuration named "nope"`)

	code, out, errs = f.cte(t, "logs", "--level", "info", "--since", "1h")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "[mimecast]")

	code, _, errs = f.cte(t, "logs", "--since", "soon")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `--since "soon" is not a duration`)
}

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

func TestConfigErrorExitCode(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "sync_interval: 5m", "sync_interval: 5 minutes", 1))
	code, out, errs := f.cte(t, "sync")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Equal(t, f.path+`:5: plugins.mimecast.sync_interval: "5 minutes" is not a duration; write e.g. 5m or 1h`+"\n", errs)
}

func TestUnknownTargetIsAConfigError(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "target: operation/BLOCK", "target: operation/BLOK", 1))
	code, _, errs := f.cte(t, "sharing")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, f.path+`:35: sharing[1].target: target "operation/BLOK" is not a target of destination "mimecast": choose one of operation/BLOCK, operation/ALLOW, operation/DELETE, managed-url/block, managed-url/permit`+"\n", errs)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	env := func(string) (string, bool) { return "", false }
	assert.Equal(t, exitOK, run(context.Background(), []string{"--help"}, &out, &errb, env))
	assert.Contains(t, out.String(), "Exit codes:\n  0  everything worked")
	assert.Contains(t, out.String(), "cte demo")

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"version"}, &out, &errb, env))
	assert.Equal(t, "cte "+buildVersion()+"\n", out.String())

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"--json", "version"}, &out, &errb, env))
	assert.JSONEq(t, `{"version":"`+buildVersion()+`"}`, out.String())

	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"iocs", "--help"}, &out, &errb, env))
	assert.Contains(t, out.String(), "Usage: cte iocs [--filter QUERY] [--limit N]")
	assert.Contains(t, out.String(), "-filter QUERY")

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"synk"}, &out, &errb, env))
	assert.Equal(t, "cte: unknown command \"synk\" (did you mean sync?); commands: validate, targets, sync, run, sharing, replay, test, iocs, explain, logs, demo, version\n", errb.String())

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), nil, &out, &errb, env))
	assert.True(t, strings.HasPrefix(errb.String(), "cte: no command given\n"))

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"sync", "--bogus"}, &out, &errb, env))
	assert.Contains(t, errb.String(), "flag provided but not defined: -bogus")

	errb.Reset()
	assert.Equal(t, exitUsage, run(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "none.yaml"), "validate"}, &out, &errb, env))
	assert.Contains(t, errb.String(), "none.yaml: no such file; write one (start from testdata/cte.yaml) or name it with --config")
}

func TestScrubWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	set := &secretSet{}
	set.set([]string{"hunter22"})
	w := scrubWriter{w: &buf, secrets: set, mu: new(sync.Mutex)}
	n, err := w.Write([]byte("token=hunter22 ok"))
	require.NoError(t, err)
	assert.Equal(t, 17, n)
	assert.Equal(t, "token=[redacted] ok", buf.String())
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--config", f.path, "run"}, &out, &errb, f.lookup) }()
	// Wait until the first sync stored something, then stop.
	require.Eventually(t, func() bool { return len(f.ns.FileHashList("CE_Malware_Hashes")) > 1 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.Contains(t, errb.String(), "cte: syncing mimecast every 5m0s")
	assert.Contains(t, errb.String(), "cte: stopped")
}

func TestSyncPartialFailure(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.Unauthorized(mimecasttest.PathGetFeed, 1000)
	code, out, errs := f.cte(t, "sync")
	assert.Equal(t, exitPartial, code, "one source of two failed; stderr:\n%s", errs)
	assert.Contains(t, out, "mimecast: pulled 0 indicators in 0 pages")
	assert.Contains(t, out, "  error: ")
	assert.Contains(t, out, "netskope-to-mimecast: ")

	code, out, _ = f.cte(t, "sync", "--source", "mimecast")
	assert.Equal(t, exitFailure, code)
	assert.NotContains(t, out, "netskope: pulled")

	code, out, _ = f.cte(t, "sharing")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "mimecast-to-netskope")

	code, _, errs = f.cte(t, "sync", "--source", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `--source "nope" is not a plugin that pulls; sources: mimecast, netskope`)
}

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
	assert.Contains(t, out, `"Config": "netskope-to-mimecast"`)

	code, out, errs = f.cte(t, "explain", strings.Repeat("ab", 32))
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, strings.Repeat("ab", 32)+": not stored; no source has reported it\n", out)
}

func TestDemoKeep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep"}, pw, io.Discard, func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var config string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "  cte --config "); ok && strings.HasSuffix(rest, " validate") {
			config = strings.TrimSuffix(rest, " validate")
			break
		}
	}
	require.NotEmpty(t, config, "demo --keep prints the commands to try")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(config)) })

	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--config", config, "iocs", "--filter", "source == netskope", "--limit", "2"}, &out, &errb, func(string) (string, bool) { return "", false })
	require.Equal(t, exitOK, code, errb.String())
	assert.Contains(t, out.String(), "netskope")
	out.Reset()
	code = run(t.Context(), []string{"--config", config, "sync"}, &out, &errb, func(string) (string, bool) { return "", false })
	require.Equal(t, exitOK, code, errb.String())
	assert.Contains(t, out.String(), "(list unchanged, not sent)")

	cancel()
	assert.Equal(t, exitOK, <-done)
}

func TestUnreachableProductIsAFailure(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	f.mc.Unauthorized(mimecasttest.PathGetAccount, 1000)
	code, out, errs := f.cte(t, "sharing")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errs, "cte: list the targets of mimecast: ")

	code, _, errs = f.cte(t, "iocs")
	assert.Equal(t, exitOK, code, "iocs reads the state file only: %s", errs)
}

func TestWarningsPrintedOnce(t *testing.T) {
	t.Parallel()
	f := newFakes(t, strings.Replace(fakeConfig, "sync_interval: 5m", "sync_interval: 1m", 1))
	code, _, errs := f.cte(t, "test", "mimecast-to-netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, 1, strings.Count(errs, "warning: "+f.path+":5: plugins.mimecast.sync_interval: 1m0s is shorter than 5m0s"), errs)
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

func TestReplay(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	blocked := len(f.mc.Hashes())
	require.NotZero(t, blocked)
	batches := f.mc.Count(mimecasttest.PathCreateBatch)
	listCalls := func() (n int) {
		for _, r := range f.ns.Requests() {
			if r.Path == netskopetest.PathUpdateFileHashList {
				n++
			}
		}
		return n
	}
	calls := listCalls()

	code, out, errs := f.cte(t, "replay", "netskope-to-mimecast")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, fmt.Sprintf("replay netskope-to-mimecast: %d matched, %d sent", blocked, blocked))
	assert.Greater(t, f.mc.Count(mimecasttest.PathCreateBatch), batches)

	code, out, errs = f.cte(t, "replay", "mimecast-to-netskope", "--json")
	require.Equal(t, exitOK, code, errs)
	var rep replayJSON
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.True(t, rep.Pushed)
	assert.Equal(t, calls+1, listCalls(), "the whole list is sent again (the tenant answers that nothing changed)")

	code, out, errs = f.cte(t, "logs", "--level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "replay requested")

	code, _, errs = f.cte(t, "replay", "nope")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `no sharing configuration named "nope"`)
}

// The engine and the plugins log from their own goroutines: run must serialise
// what reaches a writer that is not safe for concurrent use (run with -race).
func TestOutputWritesAreSerialised(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer // not safe for concurrent use
	var mu sync.Mutex
	set := &secretSet{}
	out := scrubWriter{w: &buf, secrets: set, mu: &mu}
	errw := scrubWriter{w: &buf, secrets: set, mu: &mu}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := out
			if i%2 == 1 {
				w = errw
			}
			for range 100 {
				_, _ = w.Write([]byte("line\n"))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 800, strings.Count(buf.String(), "line\n"))
}
