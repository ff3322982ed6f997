package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// asCTE makes the test binary run as the cte command (see TestMain), so the
// multi-instance test starts real cte processes without building the binary.
const asCTE = "CTE_TEST_RUN_AS_CTE"

func TestMain(m *testing.M) {
	if os.Getenv(asCTE) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// products are the two fakes of the seed workflow, as cte demo sets them up.
type products struct {
	mc *mimecasttest.Server
	ns *netskopetest.Server
}

func newProducts(t *testing.T) products {
	t.Helper()
	mc := mimecasttest.New(
		mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, demoCustomerRows),
		mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, demoGridRows))
	t.Cleanup(mc.Close)
	ns := netskopetest.New(
		netskopetest.WithFileHashList(demoHashList, ioc.Placeholder),
		netskopetest.WithFileHashListTypes(demoHashList, "sha256"),
		netskopetest.WithAlerts(netskopetest.KindMalware, demoAlerts))
	t.Cleanup(ns.Close)
	return products{mc, ns}
}

// config writes the demo's configuration with another state, sync interval
// and lease, and returns its path.
func (p products) config(t *testing.T, state, interval, lease string) string {
	t.Helper()
	c := p.mc.Credentials()
	body := fmt.Sprintf(demoConfig, p.mc.URL, c.AppID, c.AppKey, c.AccessKey, c.SecretKey, p.ns.URL, p.ns.V2Token(), p.ns.V1Token())
	body = strings.Replace(body, "state: cte-state.db", fmt.Sprintf("state: '%s'\nlease: %s", state, lease), 1)
	body = strings.ReplaceAll(body, "sync_interval: 5m", "sync_interval: "+interval)
	path := filepath.Join(t.TempDir(), "cte.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

// state is what the products hold: the Netskope list and the Mimecast BLOCKs.
type state struct {
	list, blocked []string
}

func (p products) state() state {
	var s state
	for _, h := range p.ns.FileHashList(demoHashList) {
		if h != ioc.Placeholder {
			s.list = append(s.list, h)
		}
	}
	for h, v := range p.mc.Hashes() {
		if v.Operation == "BLOCK" {
			s.blocked = append(s.blocked, h)
		}
	}
	slices.Sort(s.list)
	slices.Sort(s.blocked)
	return s
}

// blockPushes counts how often each hash was in a BLOCK batch the fake
// Mimecast applied, and returns the hashes of the first such batch.
func (p products) blockPushes(t *testing.T) (map[string]int, []string) {
	t.Helper()
	out := map[string]int{}
	var first []string
	for _, r := range p.mc.Requests() {
		if r.Path != mimecasttest.PathCreateBatch || r.Status != 200 {
			continue
		}
		var body struct {
			Data []struct {
				OperationType string `json:"operationType"`
				HashList      []struct {
					Hash string `json:"hash"`
				} `json:"hashList"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &body))
		for _, b := range body.Data {
			for _, h := range b.HashList {
				if b.OperationType == "BLOCK" {
					out[h.Hash]++
				}
			}
		}
		if first == nil {
			first = make([]string, 0)
			for _, b := range body.Data {
				for _, h := range b.HashList {
					first = append(first, h.Hash)
				}
			}
		}
	}
	return out, first
}

// instance is a cte run process.
type instance struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{} // closed when the process has exited
}

func startInstance(t *testing.T, config string) *instance {
	t.Helper()
	in := &instance{done: make(chan struct{})}
	in.cmd = exec.Command(os.Args[0], "--config", config, "--log-level", "warn", "run")
	in.cmd.Env = append(os.Environ(), asCTE+"=1")
	in.cmd.Stdout, in.cmd.Stderr = &in.stdout, &in.stderr
	require.NoError(t, in.cmd.Start())
	go func() {
		_ = in.cmd.Wait() // killed on purpose, or stopped by the test
		close(in.done)
	}()
	t.Cleanup(func() {
		_ = in.cmd.Process.Kill()
		<-in.done
		if t.Failed() {
			t.Logf("instance %d stderr:\n%s", in.cmd.Process.Pid, in.stderr.String())
		}
	})
	return in
}

// leaseHolder returns the holder of a lease in the test's database.
func leaseHolder(t *testing.T, dsn, name string) string {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer c.Close(context.WithoutCancel(t.Context()))
	var holder string
	require.NoError(t, c.QueryRow(t.Context(), `SELECT holder FROM cte_leases WHERE name = $1`, name).Scan(&holder))
	return holder
}

// waitFor polls cond until it holds or the bound passes; it never asserts on
// how long that took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInstancesFailover runs the seed workflow with two cte run processes on
// one PostgreSQL database, kills the one pushing to Mimecast with SIGKILL in
// the middle of its push, and checks that the survivor brings both products to
// exactly the state one cte sync gives, counting the values pushed twice.
func TestInstancesFailover(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)

	// The expected state: one cte sync with a state file against the same data.
	ref := newProducts(t)
	var out, errs bytes.Buffer
	code := run(t.Context(), []string{"--config", ref.config(t, filepath.Join(t.TempDir(), "state.db"), "5m", "30s"), "sync"},
		&out, &errs, os.LookupEnv)
	require.Equal(t, exitOK, code, "reference sync: %s", errs.String())
	want := ref.state()
	require.Greater(t, len(want.list), 1000)
	require.Greater(t, len(want.blocked), 1000)

	p := newProducts(t)
	gate := p.mc.Stall(mimecasttest.PathCreateBatch, 1)
	cfg := p.config(t, dsn, "1s", "5s")
	a, b := startInstance(t, cfg), startInstance(t, cfg)
	select {
	case <-gate.Arrived():
	case <-time.After(3 * time.Minute):
		t.Fatal("no instance pushed to Mimecast")
	}
	holder := leaseHolder(t, dsn, "target/mimecast/operation/BLOCK")
	victim, survivor := a, b
	if strings.Contains(holder, fmt.Sprintf("-%d-", b.cmd.Process.Pid)) {
		victim, survivor = b, a
	}
	require.Contains(t, holder, fmt.Sprintf("-%d-", victim.cmd.Process.Pid), "the pushing instance holds the target's lease")
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	<-victim.done
	gate.Release()

	// The read commands read the database while an instance runs.
	out.Reset()
	errs.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"--config", cfg, "sharing"}, &out, &errs, os.LookupEnv), errs.String())
	assert.Contains(t, out.String(), "netskope-to-mimecast")
	assert.Contains(t, out.String(), "mimecast-to-netskope")

	waitFor(t, "the products reach the expected state", func() bool {
		s := p.state()
		return slices.Equal(s.list, want.list) && slices.Equal(s.blocked, want.blocked)
	})
	assert.Equal(t, want, p.state(), "exactly what one instance gives")

	// At least once: the batch in flight when the instance died was applied
	// (the fake answered it after the kill) but never recorded, so the
	// survivor sends it again. Nothing else may be sent twice.
	pushes, inFlight := p.blockPushes(t)
	assert.ElementsMatch(t, want.blocked, slices.Collect(maps.Keys(pushes)), "every BLOCK went through an applied batch")
	dups := 0
	for h, n := range pushes {
		dups += n - 1
		if n > 1 {
			assert.Contains(t, inFlight, h, "only the batch in flight at the kill is pushed again")
			assert.Equal(t, 2, n, h)
		}
	}
	t.Logf("failover: %d hashes BLOCKed; %d pushed twice (the batch in flight at the kill held %d); Netskope list updated %d times (one instance: %d)",
		len(pushes), dups, len(inFlight), p.ns.FileHashListUpdates(demoHashList), ref.ns.FileHashListUpdates(demoHashList))

	require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-survivor.done:
	case <-time.After(time.Minute):
		t.Fatal("the survivor did not stop on SIGTERM")
	}
	assert.Empty(t, leaseHolders(t, dsn), "a stopped instance releases its leases")
}

// leaseHolders returns the unexpired leases' holders.
func leaseHolders(t *testing.T, dsn string) []string {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer c.Close(context.WithoutCancel(t.Context()))
	rows, err := c.Query(t.Context(), `SELECT name || ' ' || holder FROM cte_leases WHERE expires_at > clock_timestamp()`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}
