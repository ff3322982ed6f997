package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// childEnv carries a child's job description; its presence makes the process a child.
const childEnv = "CTE_BENCHJOB_CHILD"

const hashList = "CE_Malware_Hashes"

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benchjob child:", err)
			os.Exit(1)
		}
		return
	}
	if err := runParent(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchjob:", err)
		os.Exit(1)
	}
}

type flags struct {
	events     []int
	alerts     int
	count      int
	pageSize   int
	store      string
	dir        string
	profile    string
	memProfile string
	latency    time.Duration
}

func parseFlags(args []string) (flags, error) {
	fs := flag.NewFlagSet("benchjob", flag.ContinueOnError)
	events := fs.String("events", "200000,1000000", "feed event counts, comma-separated")
	f := flags{}
	fs.IntVar(&f.alerts, "alerts", 5000, "Netskope malware alerts")
	fs.IntVar(&f.count, "count", 3, "runs of each scenario")
	fs.IntVar(&f.pageSize, "page-size", 5000, "rows per Mimecast get-feed page")
	fs.StringVar(&f.store, "store", "", "the store to measure: empty for the default embedded one, postgres (in the cluster CTE_TEST_POSTGRES names), or memory (sharing/store/memstore, nothing persisted: the first sync only, the engine's own cost)")
	fs.StringVar(&f.dir, "dir", "", "folder for the state files (default: a new temporary folder)")
	fs.StringVar(&f.profile, "cpuprofile", "", "write each child's CPU profile to this path plus .SCENARIO.EVENTS.RUN")
	fs.DurationVar(&f.latency, "latency", 0, "hold each Mimecast get-feed request this long before the fake answers it, as a product across the internet does")
	fs.StringVar(&f.memProfile, "memprofile", "", "write each cte sync child's allocation profile to this path plus .SCENARIO.EVENTS.RUN")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	for _, s := range strings.Split(*events, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return f, fmt.Errorf("-events %q: want positive counts separated by commas", *events)
		}
		f.events = append(f.events, n)
	}
	if f.count < 1 {
		return f, fmt.Errorf("-count %d: want at least 1", f.count)
	}
	if f.latency < 0 {
		return f, fmt.Errorf("-latency %s: want a duration of 0 or more, such as 50ms", f.latency)
	}
	switch f.store {
	case "", "bolt", "postgres", storeMemory:
	default:
		return f, fmt.Errorf("-store %q: want bolt (the default), postgres or memory", f.store)
	}
	return f, nil
}

// spec is what a child is told: where the fakes and the state file are.
type spec struct {
	State       string `json:"state"`
	Store       string `json:"store"`
	MimecastURL string `json:"mimecastURL"`
	AppID       string `json:"appID"`
	AppKey      string `json:"appKey"`
	AccessKey   string `json:"accessKey"`
	SecretKey   string `json:"secretKey"`
	NetskopeURL string `json:"netskopeURL"`
	V1Token     string `json:"v1Token"`
	V2Token     string `json:"v2Token"`
	// Running makes the child one long-lived process measuring cycles
	// (runRunning) instead of one cte sync.
	Running bool `json:"running,omitempty"`
}

// result is one measured child process.
type result struct {
	Scenario string
	Events   int
	CPU      time.Duration // user + sys
	User     time.Duration
	Sys      time.Duration
	Faults   int64 // page faults (minor and major) of the process, or of the cycle
	Wall     time.Duration
	MaxRSS   int64  // bytes
	Heap     uint64 // peak Go heap (live objects), bytes
	File     int64  // the state file's size after the run, bytes (0: none, as with -store postgres)
	Child    childReport
}

// childReport is what a child prints on stdout.
type childReport struct {
	Heap      uint64 `json:"heap"`
	Pulled    int    `json:"pulled"`
	New       int    `json:"new"`
	Sent      int    `json:"sent"`
	Applied   int    `json:"applied"`
	Unchanged int    `json:"unchanged"`
	Over      int    `json:"overCapacity"`
	Errors    string `json:"errors,omitempty"`
	SyncWall  int64  `json:"syncWallNs"`
	PullNs    int64  `json:"pullNs"` // the pulls' wall time: from the start of each to its last page stored
	// Of a cycle of a running process (runRunning): its CPU (user+sys, ns)
	// and the process's peak RSS so far (bytes).
	CPU    int64 `json:"cpuNs,omitempty"`
	Sys    int64 `json:"sysNs,omitempty"`
	Faults int64 `json:"faults,omitempty"`
	MaxRSS int64 `json:"maxRSS,omitempty"`
	// The process's own peak RSS (VmHWM) when it ended, or after the
	// cycle: what the table reports where the system gives it (peakRSS).
	PeakRSS int64 `json:"peakRSS,omitempty"`
}

// ownRSS is the child's own peak RSS where it reported one, else ru, its
// ru_maxrss (which may hold this process's peak: see peakRSS).
func (r childReport) ownRSS(ru int64) int64 {
	if r.PeakRSS > 0 {
		return r.PeakRSS
	}
	return ru
}

func runParent(args []string, out io.Writer) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cte-benchjob-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var all []result
	for _, n := range f.events {
		for run := range f.count {
			rs, err := runJob(exe, dir, f, n, run)
			if err != nil {
				return err
			}
			for _, r := range rs {
				fmt.Fprintf(os.Stderr, "%-12s %8d events: cpu %6.2fs (sys %5.2fs, %6d faults) wall %6.2fs rss %5d MB heap %5d MB file %5d MB  pulled %d sent %d applied %d over %d %s\n",
					r.Scenario, r.Events, r.CPU.Seconds(), r.Sys.Seconds(), r.Faults, r.Wall.Seconds(), r.MaxRSS>>20, r.Heap>>20, r.File>>20,
					r.Child.Pulled, r.Child.Sent, r.Child.Applied, r.Child.Over, r.Child.Errors)
			}
			all = append(all, rs...)
		}
	}
	printTable(out, f, all)
	return nil
}

// newMimecast is the job's Mimecast fake: the feeds of events, and each
// get-feed request held for f.latency.
func newMimecast(f flags, events int) *mimecasttest.Server {
	mc := mimecasttest.New(
		mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, events/2),
		mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, events-events/2),
		mimecasttest.WithFeedPageSize(f.pageSize),
		mimecasttest.WithClickLogs(0),
		// The events GrowFeed adds are stamped up to the fake's now, and the
		// plugin asks for the feed up to its own now in whole seconds: an
		// event stamped in the current second would wait for the next pull.
		// Two seconds behind, every event added has arrived before the sync
		// that should pull it starts.
		mimecasttest.WithClock(func() time.Time { return time.Now().Add(-2 * time.Second) }))
	if f.latency > 0 {
		mc.Delay(mimecasttest.PathGetFeed, math.MaxInt32, f.latency)
	}
	return mc
}

// runJob runs the scenarios of one feed size against fresh fakes and a new state file.
func runJob(exe, dir string, f flags, events, run int) ([]result, error) {
	mc := newMimecast(f, events)
	defer mc.Close()
	ns := netskopetest.New(
		netskopetest.WithFileHashList(hashList, ioc.Placeholder),
		netskopetest.WithFileHashListTypes(hashList, "sha256"),
		netskopetest.WithAlerts(netskopetest.KindMalware, f.alerts))
	defer ns.Close()
	c := mc.Credentials()
	state := filepath.Join(dir, fmt.Sprintf("state-%d-%d.db", events, run))
	defer os.RemoveAll(state)
	sp := spec{State: state, Store: f.store, MimecastURL: mc.URL, AppID: c.AppID, AppKey: c.AppKey, AccessKey: c.AccessKey,
		SecretKey: c.SecretKey, NetskopeURL: ns.URL, V1Token: ns.V1Token(), V2Token: ns.V2Token()}
	profiles := func(name string) []string {
		var env []string
		if f.profile != "" {
			env = append(env, fmt.Sprintf("CTE_BENCHJOB_CPUPROFILE=%s.%s.%d.%d", f.profile, name, events, run))
		}
		if f.memProfile != "" {
			env = append(env, fmt.Sprintf("CTE_BENCHJOB_MEMPROFILE=%s.%s.%d.%d", f.memProfile, name, events, run))
		}
		return env
	}
	var out []result
	sync := func(sc string, grow int) error {
		if grow > 0 {
			mc.GrowFeed(mimecasttest.FeedMalwareCustomer, grow)
		}
		r, err := runChild1(exe, sp, sc, events, profiles(sc))
		out = append(out, r)
		return err
	}
	if f.store == storeMemory {
		// nothing persists from one process to the next: only a first sync
		// means what it says
		if err := sync("first", 0); err != nil {
			return nil, err
		}
		return out, nil
	}
	for _, sc := range []struct {
		name string
		grow int
	}{{"first", 0}, {"no-change", 0}, {"1%-new", events / 100}} {
		if err := sync(sc.name, sc.grow); err != nil {
			return nil, err
		}
	}
	var env []string
	if f.profile != "" {
		env = append(env, fmt.Sprintf("CTE_BENCHJOB_CPUPROFILE=%s.running.%d.%d", f.profile, events, run))
	}
	// The running process's first cycle, not measured, pulls 1% new too: it
	// re-packs the list, as the cycles of a running process do, so that the
	// measured 1%-new cycle is not the first to read the file's pages.
	mc.GrowFeed(mimecasttest.FeedMalwareCustomer, events/100)
	rs, err := runRunningChild(exe, sp, events, env, func(sc string) {
		if sc == runNew {
			mc.GrowFeed(mimecasttest.FeedMalwareCustomer, events/100)
		}
	})
	if err != nil {
		return nil, err
	}
	out = append(out, rs...)
	// last, as it grows the store by more than the others: a sync that
	// folds its staging log at Close (at 1M events)
	return out, sync(scenarioFold, events/20)
}

// fileSize is the size of the file at path, or 0 when there is none.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// The scenarios of a running process (cte run): cycles after its first.
const (
	runNoChange = "run: no-change"
	runNew      = "run: 1%-new"
)

// scenarioFold is a sync after 5% more events, run after the others.
const scenarioFold = "5%-new"

// scenarios are the table's rows in the order they run.
var scenarios = []string{"first", "no-change", "1%-new", runNoChange, runNew, scenarioFold}

// runRunningChild runs one long-lived child (runRunning) through the cycles
// runNoChange and runNew, calling prepare before each, and returns each
// cycle's report with the CPU the child measured over that cycle alone.
func runRunningChild(exe string, sp spec, events int, env []string, prepare func(scenario string)) ([]result, error) {
	sp.Running = true
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(stdout)
	var out []result
	for _, sc := range []string{runNoChange, runNew} {
		prepare(sc)
		if _, err = io.WriteString(stdin, "cycle\n"); err != nil {
			break
		}
		var rep childReport
		if err = dec.Decode(&rep); err != nil {
			err = fmt.Errorf("%s cycle of %d events: child report: %w", sc, events, err)
			break
		}
		out = append(out, result{Scenario: sc, Events: events, CPU: time.Duration(rep.CPU), Sys: time.Duration(rep.Sys), Faults: rep.Faults, Wall: time.Duration(rep.SyncWall),
			MaxRSS: rep.ownRSS(rep.MaxRSS), Heap: rep.Heap, File: fileSize(sp.State), Child: rep})
	}
	_ = stdin.Close()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("running child of %d events: %w", events, werr)
	}
	return out, err
}

// runChild1 runs one child and reads its rusage.
func runChild1(exe string, sp spec, scenario string, events int, env []string) (result, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+string(b))
	var stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s sync of %d events: %w", scenario, events, err)
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, fmt.Errorf("no rusage for the child on this system")
	}
	var rep childReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		return result{}, fmt.Errorf("%s sync: child report %q: %w", scenario, stdout.String(), err)
	}
	user := time.Duration(ru.Utime.Nano())
	sys := time.Duration(ru.Stime.Nano())
	return result{Scenario: scenario, Events: events, CPU: user + sys, User: user, Sys: sys, Faults: ru.Minflt + ru.Majflt, Wall: wall,
		MaxRSS: rep.ownRSS(ru.Maxrss << 10), Heap: rep.Heap, File: fileSize(sp.State), Child: rep}, nil
}

// printTable prints the median of each scenario with every run's CPU.
func printTable(w io.Writer, f flags, all []result) {
	fmt.Fprintf(w, "\nwhole job (make bench-job): %d run(s) each, median [min–max]; CPU = user+sys of the whole cte process\n", f.count)
	fmt.Fprintf(w, "(first, no-change, 1%%-new: one cte sync process each; run: a cycle of one long-lived process, as cte run,\nits CPU over that cycle alone and the process's peak RSS so far; sys and page faults: medians, of the process or the cycle; stored/s: indicators pulled and stored\nper second of the pulls' wall time, from the start of each pull to its last page stored; file: the state file's size after it)\n\n")
	fmt.Fprintln(w, "| scenario | feed events | CPU s | of it sys s | page faults | wall s | peak RSS MB | peak heap MB | file MB | pulled | stored/s | sent |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range f.events {
		for _, sc := range scenarios {
			var rs []result
			for _, r := range all {
				if r.Events == n && r.Scenario == sc {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			cpu := stat(rs, func(r result) float64 { return r.CPU.Seconds() })
			sys := stat(rs, func(r result) float64 { return r.Sys.Seconds() })
			faults := stat(rs, func(r result) float64 { return float64(r.Faults) })
			wall := stat(rs, func(r result) float64 { return r.Wall.Seconds() })
			rss := stat(rs, func(r result) float64 { return float64(r.MaxRSS) / (1 << 20) })
			heap := stat(rs, func(r result) float64 { return float64(r.Heap) / (1 << 20) })
			file := stat(rs, func(r result) float64 { return float64(r.File) / (1 << 20) })
			rate := stat(rs, func(r result) float64 {
				return float64(r.Child.Pulled) / max(time.Duration(r.Child.PullNs), time.Microsecond).Seconds()
			})
			fmt.Fprintf(w, "| %s | %d | %s | %.2f | %.0f | %s | %s | %s | %s | %d | %s | %d |\n", sc, n,
				cpu.fmt("%.2f"), sys.med, faults.med, wall.fmt("%.2f"), rss.fmt("%.0f"), heap.fmt("%.0f"), file.fmt("%.1f"), rs[0].Child.Pulled, rate.fmt("%.0f"), rs[0].Child.Sent)
		}
	}
}

type summary struct{ med, lo, hi float64 }

func (s summary) fmt(f string) string {
	return fmt.Sprintf(f+" ["+f+"–"+f+"]", s.med, s.lo, s.hi)
}

func stat(rs []result, f func(result) float64) summary {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return summary{med: v[len(v)/2], lo: v[0], hi: v[len(v)-1]}
}

// ctx is the child's context.
func ctx() context.Context { return context.Background() }
