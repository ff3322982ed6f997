package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

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

// Secret values used in test configurations; none may appear in any output.
const (
	secAppKey    = "APPKEY-7f3a9c1e5b"
	secAccessKey = "ACCESS-mc-1d2e3f4a5b"
	secSecretKey = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3OA=="
	secV2        = "V2TOKEN-9a8b7c6d5e"
	secV1        = "V1TOKEN-0f1e2d3c4b"
)

func testEnv(extra ...string) func(string) (string, bool) {
	m := map[string]string{
		"MC_APP_ID":     "app-id-1234",
		"MC_APP_KEY":    secAppKey,
		"MC_ACCESS_KEY": secAccessKey,
		"MC_SECRET_KEY": secSecretKey,
		"NS_V2":         secV2,
		"NS_V1":         secV1,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// goodConfig is a complete, valid configuration; tests derive broken ones from it
// with edit, so the line numbers in expected messages refer to this text.
const goodConfig = `# test configuration
state: state.db
plugins:
  mimecast:
    type: mimecast
    sync_interval: 5m
    aging: 30d
    config:
      base_url: us
      app_id: ${MC_APP_ID}
      app_key: ${MC_APP_KEY}
      access_key: ${MC_ACCESS_KEY}
      secret_key: ${MC_SECRET_KEY}
      initial_range_days: 3
  netskope:
    type: netskope
    config:
      tenant_url: https://acme.goskope.com
      v2_token: ${NS_V2}
      v1_token: ${NS_V1}
      file_hash_lists: CE_Malware_Hashes
rules:
  all-hashes:
    filter: type in (sha256, md5)
    exceptions:
      - tags has benign
      - name: low
        query: severity == low
  sha256-only:
    filter: type == sha256
    muted: false
sharing:
  - name: mimecast-to-netskope
    source: mimecast
    rule: sha256-only
    destination: netskope
    target: file-hash-list/CE_Malware_Hashes
  - name: netskope-to-mimecast
    source: netskope
    rule: all-hashes
    destination: mimecast
    target: operation/BLOCK
`

// edit replaces old (which must occur once) with new in goodConfig.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(goodConfig, old), "edit target %q", old)
	return strings.Replace(goodConfig, old, new, 1)
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes, as the *os.File
// cte writes to in production is.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testEnvWithout(name string) func(string) (string, bool) {
	env := testEnv()
	return func(k string) (string, bool) {
		if k == name {
			return "", false
		}
		return env(k)
	}
}

func countIn(t *testing.T, s, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	require.NotNil(t, m, "no match for %q in:\n%s", pattern, s)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}
