package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/netskope/netskopetest"
)

// daemon is "cte run --listen 127.0.0.1:0" running against the fakes.
type daemon struct {
	url    string
	stderr *lockedBuffer
	stop   func() int
}

func startDaemon(t *testing.T, f *fakes, extra ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	d := &daemon{stderr: &lockedBuffer{}}
	done := make(chan int, 1)
	args := append([]string{"--config", f.path, "run", "--listen", "127.0.0.1:0"}, extra...)
	go func() { done <- run(ctx, args, io.Discard, d.stderr, f.lookup) }()
	d.stop = func() int { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	re := regexp.MustCompile(`console at (http://127\.0\.0\.1:\d+)/`)
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(d.stderr.String())
		if m != nil {
			d.url = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "stderr: %s", d.stderr)
	// the first sync of both sources shared something each way
	require.Eventually(t, func() bool {
		return len(f.ns.FileHashList("CE_Malware_Hashes")) > 1 && len(f.mc.Hashes()) > 0 &&
			strings.Count(d.stderr.String(), "next sync") >= 0
	}, 60*time.Second, 20*time.Millisecond)
	return d
}

func TestCommandsWhileTheDaemonRuns(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	d := startDaemon(t, f)
	waitShared(t, d)

	// read commands reach the daemon: no "in use"
	code, out, errs := f.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "mimecast-to-netskope")
	assert.Contains(t, out, "netskope-to-mimecast")
	code, out, errs = f.cte(t, "iocs", "--limit", "2")
	require.Equal(t, exitOK, code, errs)
	assert.NotEmpty(t, out)
	code, _, errs = f.cte(t, "logs", "--limit", "3")
	require.Equal(t, exitOK, code, errs)
	code, out, errs = f.cte(t, "test", "netskope-to-mimecast")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "netskope-to-mimecast")

	// a hash from the Netskope alerts applied to Mimecast's BLOCK operation
	var fromNS string
	for h := range f.mc.Hashes() {
		fromNS = h
		break
	}
	require.NotEmpty(t, fromNS)
	code, out, errs = f.cte(t, "explain", fromNS)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "netskope")

	code, out, errs = f.cte(t, "iocs", "mark-safe", fromNS, "--reason", "vendor says benign")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "mark-safe: 1 value")
	assert.Contains(t, out, "netskope-to-mimecast: 0 sent, 0 applied, 1 retracted")
	assert.NotContains(t, f.mc.Hashes(), fromNS, "retracted from Mimecast at once")
	assert.True(t, deleted(f, fromNS), "the Mimecast fake got a DELETE operation for it")

	code, out, errs = f.cte(t, "iocs", "add", "--tags", "reviewed", "--severity", "high", "evil.example")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "add: 1 value")
	assert.Contains(t, out, "not shared: no sharing configuration has source: manual", "says why nothing was shared")

	// the console API of the same daemon sees the mark
	res, err := http.Get(d.url + "/api/v1/marks")
	require.NoError(t, err)
	var marks []map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&marks))
	res.Body.Close()
	require.Len(t, marks, 1)
	assert.Equal(t, fromNS, marks[0]["value"])

	assert.Equal(t, exitOK, d.stop())
	// the daemon is gone: the same commands open the state file themselves
	code, out, errs = f.cte(t, "iocs", "unmark-safe", fromNS)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "stored; it reaches the products on the next sync")
}

// waitShared waits for the first cycle line of both sources.
func waitShared(t *testing.T, d *daemon) {
	t.Helper()
	require.Eventually(t, func() bool {
		s := d.stderr.String()
		return strings.Contains(s, "cte: running")
	}, 30*time.Second, 10*time.Millisecond)
}

// deleted reports whether the Mimecast fake received a DELETE operation
// naming hash.
func deleted(f *fakes, hash string) bool {
	for _, r := range f.mc.Requests() {
		if strings.Contains(r.Path, "create-batch") && strings.Contains(string(r.Body), `"DELETE"`) && strings.Contains(string(r.Body), hash) {
			return true
		}
	}
	return false
}

func TestReadCommandsNeedNoSecret(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	// the secrets are not exported, and the products are unreachable
	secrets := f.secrets()
	env := func(k string) (string, bool) {
		switch k {
		case "MC_URL", "NS_URL":
			return "http://127.0.0.1:1", true
		}
		return "", false
	}
	f.mc.Close()
	f.ns.Close()
	for _, args := range [][]string{{"sharing"}, {"iocs", "--limit", "1"}, {"logs", "--limit", "1"}, {"test", "mimecast-to-netskope"}, {"explain", strings.Repeat("a", 64)}} {
		var out, errb strings.Builder
		code := run(t.Context(), append([]string{"--config", f.path}, args...), &out, &errb, env)
		assert.Contains(t, []int{exitOK, exitFailure}, code, "%v: %s", args, errb.String())
		if args[0] != "explain" { // an unknown value exits 1
			assert.Equal(t, exitOK, code, "%v: %s", args, errb.String())
			assert.NotEmpty(t, out.String(), "%v", args)
		}
		assert.NotContains(t, errb.String(), "ERROR", "%v", args)
		assert.NotContains(t, errb.String(), "not set", "%v", args)
		for _, s := range secrets {
			assert.NotContains(t, out.String()+errb.String(), s)
		}
		if args[0] == "sharing" {
			assert.Contains(t, out.String(), "replace", "the target kept from the sync")
		}
	}
}

func TestRunListenNeedsTokenOffLoopback(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "run", "--listen", "0.0.0.0:0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "--token")
	code, _, errs = f.cte(t, "run", "--listen", "127.0.0.1:0", "--tls-cert", "x.pem")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "--tls-key")
	code, _, errs = f.cte(t, "run", "--listen", "nonsense")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "HOST:PORT")
	// a certificate that cannot be loaded stops cte run before it starts,
	// not a daemon running without its console
	missing := filepath.Join(t.TempDir(), "missing.pem")
	code, _, errs = f.cte(t, "run", "--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing)
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, missing)
	assert.NotContains(t, errs, "console at")
	cert, _ := selfSigned(t)
	code, _, errs = f.cte(t, "run", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", cert)
	assert.Equal(t, exitUsage, code, "a certificate given as its own key")
	assert.Contains(t, errs, "PEM private key")
}

func TestRunServesTLSWithToken(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	cert, key := selfSigned(t)
	ctx, cancel := context.WithCancel(t.Context())
	errb := &lockedBuffer{}
	done := make(chan int, 1)
	env := func(k string) (string, bool) {
		if k == "CTE_API_TOKEN" {
			return "tok-3f9a", true
		}
		return f.lookup(k)
	}
	go func() {
		done <- run(ctx, []string{"--config", f.path, "run", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key}, io.Discard, errb, env)
	}()
	re := regexp.MustCompile(`console at (https://127\.0\.0\.1:\d+)/`)
	var url string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(errb.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "stderr: %s", errb)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own self-signed certificate
	get := func(path, token string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := cl.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/healthz", ""))
	assert.Equal(t, http.StatusUnauthorized, get("/api/v1/sharing", ""))
	assert.Equal(t, http.StatusOK, get("/api/v1/sharing", "tok-3f9a"), "the token from CTE_API_TOKEN")
	// the CLI reaches the daemon through its socket without the token
	code, out, errs := f.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "mimecast-to-netskope")
	assert.NotContains(t, out+errs, "tok-3f9a")
	cancel()
	assert.Equal(t, exitOK, <-done)
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}

// A sharing configuration with source: manual shares what cte iocs add
// stored, on the next sync.
func TestManualSourceShares(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig+`  - name: manual-to-netskope
    source: manual
    rule: all-file-hashes
    destination: netskope
    target: file-hash-list/CE_Malware_Hashes
`)
	h := strings.Repeat("ab", 32)
	code, out, errs := f.cte(t, "iocs", "add", strings.ToUpper(h), "--tags", "reviewed", "--severity", "high", "--expires", "30d")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "stored; it reaches the products on the next sync")
	code, _, errs = f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, f.ns.FileHashList("CE_Malware_Hashes"), h)
	code, out, errs = f.cte(t, "explain", h)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "manual")

	for _, args := range [][]string{
		{"iocs", "add"},
		{"iocs", "mark-safe", h},
		{"iocs", "tag", h},
		{"iocs", "add", h, "--type", "blob"},
		{"iocs", "add", h, "--severity", "loud"},
		{"iocs", "add", h, "--expires", "soon"},
	} {
		code, _, errs := f.cte(t, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errs)
	}
	code, _, errs = f.cte(t, "iocs", "add", "not-an-indicator!")
	assert.Equal(t, exitUsage, code, "a value that is no indicator is a wrong command line")
	assert.Contains(t, errs, "not an indicator")
	code, _, errs = f.cte(t, "iocs", "mark-safe", "zz", "--reason", "x")
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, `"zz" is not an indicator`)
}

func TestSocketPath(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "/var/lib/cte/state.db.sock", socketPath("/var/lib/cte/state.db"))
	assert.Empty(t, socketPath("postgres://cte@db/cte"), "a shared database has no socket")
	assert.Equal(t, "sharing", commandOf([]string{"--config", "/x/cte.yaml", "--json", "sharing", "--limit", "3"}))
	assert.Equal(t, "iocs", commandOf([]string{"-log-level", "debug", "iocs"}))
	assert.Empty(t, commandOf([]string{"--json"}))
}

// A socket left by a daemon that died does not stop the commands: they open
// the state file themselves.
func TestStaleSocket(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	_, err := os.Stat(filepath.Join(f.dir, "state.db"))
	require.NoError(t, err, "the state file is beside the configuration")
	l, err := net.Listen("unix", filepath.Join(f.dir, "state.db.sock"))
	require.NoError(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	_, err = os.Stat(filepath.Join(f.dir, "state.db.sock"))
	require.NoError(t, err, "the stale socket is there")
	code, out, errs := f.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "mimecast-to-netskope")
}

// TestDaemonTookTheCommandButDidNotAnswer: a daemon that took a command
// and dropped the connection without an answer (stopped or crashed while
// running it) may have run it: the command fails and says so, and is not
// run again here (a replay pushed twice, with exit 0). A socket nobody
// listens on is still worked around (TestStaleSocket).
func TestDaemonTookTheCommandButDidNotAnswer(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	code, _, errs := f.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	l, err := net.Listen("unix", filepath.Join(f.dir, "state.db.sock"))
	require.NoError(t, err)
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close() // no answer
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	before := len(f.ns.Requests())
	code, _, errs = f.cte(t, "replay", "mimecast-to-netskope")
	require.Contains(t, <-got, `"replay"`, "the daemon took the command")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "took the command but did not answer")
	assert.Equal(t, before, len(f.ns.Requests()), "not run a second time here")
}

// TestServeWaitsForRequestsInFlight: once its context ends, serve says done
// only after the requests in flight have answered, and those requests see
// the context end (a forwarded command stops as the daemon's work does):
// the daemon closes its store after serve is done.
func TestServeWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started, answered := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // the daemon's context
		_, _ = io.WriteString(w, "stopped")
		close(answered)
	})}
	ctx, cancel := context.WithCancel(t.Context())
	done := serve(ctx, srv, l)
	body := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + l.Addr().String() + "/")
		if err != nil {
			body <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	require.NoError(t, <-done)
	select {
	case <-answered:
	default:
		t.Fatal("serve was done before the request in flight answered")
	}
	assert.Equal(t, "stopped", <-body)
}

// TestSyncAndReplayGoThroughTheDaemon: while cte run holds the state file,
// "cte sync" and "cte replay" have the daemon sync and share now, from a
// shell without the secrets, instead of saying the file is in use; without a
// daemon the same shell is told which variable is missing.
func TestSyncAndReplayGoThroughTheDaemon(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	d := startDaemon(t, f)
	waitShared(t, d)
	noSecrets := func(k string) (string, bool) {
		if k == "MC_URL" || k == "NS_URL" {
			return f.env[k], true
		}
		return "", false
	}
	cte := func(env func(string) (string, bool), args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := run(t.Context(), append([]string{"--config", f.path}, args...), &out, &errb, env)
		for _, s := range f.secrets() {
			require.NotContains(t, out.String()+errb.String(), s, "%v", args)
		}
		return code, out.String(), errb.String()
	}

	// a new alert: the daemon's next cycle is minutes away
	alert := f.ns.AddGeneratedAlerts(netskopetest.KindMalware, 1)[0]
	hash, _ := alert["sha256"].(string)
	require.NotEmpty(t, hash)
	require.NotContains(t, f.mc.Hashes(), hash)
	code, out, errs := cte(noSecrets, "sync", "--source", "netskope")
	require.Equal(t, exitOK, code, errs)
	assert.NotContains(t, errs, "in use")
	assert.Contains(t, out, "netskope")
	assert.Contains(t, f.mc.Hashes(), hash, "the daemon pulled the alert and shared it at once")

	pushes := len(f.ns.Requests())
	code, out, errs = cte(noSecrets, "replay", "mimecast-to-netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "replay")
	assert.Greater(t, len(f.ns.Requests()), pushes, "the replay reached Netskope")

	assert.Equal(t, exitOK, d.stop())
	// no daemon: the command needs the secrets itself and names the missing one
	code, _, errs = cte(noSecrets, "sync", "--source", "netskope")
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, "not set")
}

// metricValue reads one series of the daemon's /metrics; -1 when it is not
// there (yet).
func metricValue(d *daemon, series string) float64 {
	res, err := http.Get(d.url + "/metrics")
	if err != nil {
		return -1
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestForwardedWorkCountsInMetrics: "cte replay" and "cte sync" run while
// the daemon runs are run by the daemon, and its /metrics counts them as it
// counts its own cycles (they pushed and pulled from its process unseen).
func TestForwardedWorkCountsInMetrics(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	d := startDaemon(t, f)
	waitShared(t, d)
	pushed := `cte_pushed_indicators_total{config="mimecast-to-netskope"}`
	pulls := `cte_pulls_total{result="ok",source="netskope"}`
	// the daemon's first cycle of both sources is counted
	require.Eventually(t, func() bool {
		return metricValue(d, `cte_pulls_total{result="ok",source="mimecast"}`) >= 1 && metricValue(d, pulls) >= 1
	}, 30*time.Second, 20*time.Millisecond)
	p0, s0 := metricValue(d, pushed), metricValue(d, pulls)
	require.GreaterOrEqual(t, p0, 0.0)
	code, _, errs := f.cte(t, "replay", "mimecast-to-netskope")
	require.Equal(t, exitOK, code, errs)
	code, _, errs = f.cte(t, "sync", "--source", "netskope")
	require.Equal(t, exitOK, code, errs)
	assert.Greater(t, metricValue(d, pushed), p0, "the replay pushed from the daemon")
	assert.Greater(t, metricValue(d, pulls), s0, "the sync pulled from the daemon")
}
