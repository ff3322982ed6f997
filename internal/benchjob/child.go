package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/netskope"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/memstore"
	"github.com/ctexchange/cte/sharing/store/pgstore"
)

// runChild runs one sync of both sources as cte sync does and prints a
// childReport as JSON on w.
func runChild(specJSON string, w io.Writer) error {
	var sp spec
	if err := json.Unmarshal([]byte(specJSON), &sp); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if sp.Running {
		return runRunning(sp, os.Stdin, w)
	}
	stopProfile, err := startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	defer writeAllocs()
	stop := sampleHeap()
	start := time.Now()
	rep, err := syncOnce(sp)
	rep.SyncWall = int64(time.Since(start))
	rep.Heap = stop()
	if err != nil {
		rep.Errors = err.Error()
	}
	rep.PeakRSS = peakRSS() // the store closed
	return json.NewEncoder(w).Encode(rep)
}

// peakRSS returns the process's own peak resident set (VmHWM), in bytes, or
// 0 where /proc/self/status does not give it. getrusage's ru_maxrss is not
// it: Linux carries into it, at exec, the peak of the memory the child
// shared with its parent from fork to exec (os/exec forks with CLONE_VM),
// so a child of this benchmark, whose parent holds the fakes, would report
// the parent's peak whenever its own is lower.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

// storeMemory names the in-memory store: nothing persisted, so a first sync
// of it is what the engine costs without a store's work.
const storeMemory = "memory"

// openStore opens the state file with the engine named (empty: the default).
func openStore(sp spec) (sharing.Store, error) {
	switch sp.Store {
	case "", "bolt":
		return boltstore.Open(sp.State)
	case "postgres":
		return openPostgres(sp.State)
	case storeMemory:
		return memstore.New(), nil
	}
	return nil, fmt.Errorf("unknown store %q", sp.Store)
}

// syncOnce wires the job the README describes and syncs both sources once,
// as cte sync does.
func syncOnce(sp spec) (childReport, error) {
	st, eng, err := newJob(sp)
	if err != nil {
		return childReport{}, err
	}
	defer st.Close()
	return cycle(eng)
}

// newJob opens the store and wires the engine the README describes.
func newJob(sp spec) (st sharing.Store, eng *sharing.Engine, err error) {
	c := ctx()
	if st, err = openStore(sp); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	if eng, err = sharing.New(st); err != nil {
		return nil, nil, err
	}
	var reg cte.Registry
	reg.Register(mimecast.Driver())
	reg.Register(netskope.Driver())
	mcfg, _ := json.Marshal(map[string]any{"base_url": sp.MimecastURL, "app_id": sp.AppID, "app_key": sp.AppKey,
		"access_key": sp.AccessKey, "secret_key": sp.SecretKey})
	ncfg, _ := json.Marshal(map[string]any{"tenant_url": sp.NetskopeURL, "v2_token": sp.V2Token, "v1_token": sp.V1Token,
		"alert_types": []string{"malware"}, "file_hash_lists": hashList, "file_hash_list_types": []string{"sha256"}})
	for _, p := range []struct {
		name string
		cfg  []byte
	}{{"mimecast", mcfg}, {"netskope", ncfg}} {
		pl, err := reg.Open(c, p.name, p.cfg, cte.WithName(p.name))
		if err != nil {
			return nil, nil, err
		}
		if err := eng.AddPlugin(p.name, pl, sharing.SourceSettings{}); err != nil {
			return nil, nil, err
		}
	}
	if err := eng.AddRule(sharing.Rule{Name: "all-file-hashes", Filter: "type in (sha256, md5)"}); err != nil {
		return nil, nil, err
	}
	for _, sc := range []sharing.Config{
		{Name: "mimecast-to-netskope", Source: "mimecast", Rule: "all-file-hashes", Destination: "netskope", Target: "file-hash-list/" + hashList},
		{Name: "netskope-to-mimecast", Source: "netskope", Rule: "all-file-hashes", Destination: "mimecast", Target: "operation/BLOCK"},
	} {
		if err := eng.AddSharing(c, sc); err != nil {
			return nil, nil, err
		}
	}
	return st, eng, nil
}

// cycle syncs both sources once, as a cycle of cte run does.
func cycle(eng *sharing.Engine) (childReport, error) {
	var rep childReport
	c := ctx()
	var errs []error
	for _, src := range []string{"mimecast", "netskope"} {
		r, err := eng.SyncSource(c, src)
		errs = append(errs, err)
		rep.Pulled += r.Indicators
		rep.PullNs += int64(r.PullTook)
		rep.New += r.New
		for _, s := range r.Shares {
			rep.Sent += s.Sent
			rep.Applied += s.Applied
			rep.Unchanged += s.Unchanged
			rep.Over += s.OverCapacity
		}
	}
	return rep, errors.Join(errs...)
}

// sampleHeap samples the live Go heap every 5 ms until the returned function
// is called, which returns the peak.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	read := func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		read()
		return peak.Load()
	}
}

// openPostgres opens a pgstore in a schema of its own for the state path, in
// the cluster CTE_TEST_POSTGRES names (make bench-job-pg starts one). The
// scenarios of one run share the state path, so they share the schema.
func openPostgres(state string) (sharing.Store, error) {
	base := os.Getenv("CTE_TEST_POSTGRES")
	if base == "" {
		return nil, errors.New("-store postgres: set CTE_TEST_POSTGRES to a cluster's URL (scripts/testpg.sh start prints one)")
	}
	h := fnv.New64a()
	h.Write([]byte(state))
	schema := fmt.Sprintf("bench_%x", h.Sum64())
	c, err := pgx.Connect(ctx(), base)
	if err != nil {
		return nil, err
	}
	_, err = c.Exec(ctx(), "CREATE SCHEMA IF NOT EXISTS "+schema)
	c.Close(ctx())
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return pgstore.Open(ctx(), u.String())
}

// runRunning measures cycles of one long-lived process, as cte run has them:
// the store stays open and its file stays mapped between cycles. It opens
// the job and runs a first, unmeasured cycle, then for each line read from
// in (the parent changes the fakes before it writes one) runs a cycle and
// writes its report, with the process's CPU over that cycle alone, as a JSON
// line on w. It ends when in ends.
func runRunning(sp spec, in io.Reader, w io.Writer) error {
	st, eng, err := newJob(sp)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := cycle(eng); err != nil {
		return err
	}
	stopProfile, err := startProfile() // the measured cycles only
	if err != nil {
		return err
	}
	defer stopProfile()
	enc := json.NewEncoder(w)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var before, after syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
			return err
		}
		stop := sampleHeap()
		start := time.Now()
		rep, err := cycle(eng)
		rep.SyncWall = int64(time.Since(start))
		rep.Heap = stop()
		if err != nil {
			rep.Errors = err.Error()
		}
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			return err
		}
		rep.CPU = after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano()
		rep.Sys = after.Stime.Nano() - before.Stime.Nano()
		rep.Faults = after.Minflt + after.Majflt - before.Minflt - before.Majflt
		rep.MaxRSS = after.Maxrss << 10
		rep.PeakRSS = peakRSS()
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return sc.Err()
}

// startProfile starts a CPU profile into the file CTE_BENCHJOB_CPUPROFILE
// names, if any, and returns what stops it.
func startProfile() (stop func(), err error) {
	path := os.Getenv("CTE_BENCHJOB_CPUPROFILE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeAllocs writes a heap profile (allocations since the start, and what is
// live) into the file CTE_BENCHJOB_MEMPROFILE names, if any.
func writeAllocs() {
	path := os.Getenv("CTE_BENCHJOB_MEMPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjob child:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "benchjob child:", err)
	}
}
