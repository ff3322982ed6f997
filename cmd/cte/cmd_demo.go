package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctexchange/cte/console"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope/netskopetest"
	"github.com/ctexchange/cte/sharing"
)

func (a *app) demoFlags(fs *flag.FlagSet) {
	fs.BoolVar(&a.f.keep, "keep", false, "keep the fake services running after the demo (until Ctrl-C) to try the other commands")
}

// Demo data sizes: thousands of hashes and alerts, with the malformed values the
// fakes salt in (null and truncated hashes, non-hex digits, empty-file hashes).
const (
	demoCustomerRows = 2000
	demoGridRows     = 3000
	demoAlerts       = 2500
	demoHashList     = "CE_Malware_Hashes"
)

// demoConfig is the configuration the demo writes. The credentials are the
// fakes' own, written into the file so that, with --keep, every other command
// works against the fakes with --config and no environment.
const demoConfig = `# Written by "cte demo": a fake Mimecast account and a fake Netskope tenant.
state: cte-state.db
plugins:
  mimecast:
    type: mimecast
    sync_interval: 5m
    config:
      base_url: %s
      app_id: %s
      app_key: %s
      access_key: %s
      secret_key: %s
  netskope:
    type: netskope
    sync_interval: 5m
    config:
      tenant_url: %s
      v2_token: %s
      v1_token: %s
      alert_types: [malware]
      file_hash_lists: ` + demoHashList + `
      file_hash_list_types: [sha256]
rules:
  all-file-hashes:
    filter: type in (sha256, md5)
sharing:
  - name: mimecast-to-netskope
    source: mimecast
    rule: all-file-hashes
    destination: netskope
    target: file-hash-list/` + demoHashList + `
  - name: netskope-to-mimecast
    source: netskope
    rule: all-file-hashes
    destination: mimecast
    target: operation/BLOCK
`

// demo is one run of cte demo: the fake products and the configuration that
// points at them.
type demo struct {
	mc         *mimecasttest.Server
	ns         *netskopetest.Server
	dir, path  string
	start      time.Time
	firstValue string // of the indicators shown, for the commands to try
}

// cmdDemo runs the whole exchange against in-process fakes and shows each
// step: as text, or with --json as JSON lines, one object per step with a
// "step" key.
func (a *app) cmdDemo(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("demo", "takes no arguments")
	}
	start := a.now()
	mc := mimecasttest.New(
		mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, demoCustomerRows),
		mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, demoGridRows))
	defer mc.Close()
	ns := netskopetest.New(
		netskopetest.WithFileHashList(demoHashList, ioc.Placeholder),
		netskopetest.WithFileHashListTypes(demoHashList, "sha256"),
		netskopetest.WithAlerts(netskopetest.KindMalware, demoAlerts))
	defer ns.Close()

	d := &demo{mc: mc, ns: ns, start: start}
	if err := a.writeDemoConfig(d); err != nil {
		return a.fail(err)
	}
	if !a.f.keep {
		defer os.RemoveAll(d.dir)
	}
	if !a.logLevelSet {
		a.logLevel, a.logLevelSet = "error", true // the walk-through prints the audit log itself; --log-level info shows it live
	}
	a.demoIntro(d)

	a.heading("1. Validate both plugins (cte validate)")
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	results, code := a.validateAll(ctx, cfg)
	if results != nil {
		demoStep(a, "validate", a.printValidate, results)
	}
	if code != exitOK {
		return code
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	if code := a.demoSteps(ctx, d, s); code != exitOK {
		return code
	}
	if a.f.keep {
		s.close() // release the state file so the other commands can use it
		a.demoKeep(ctx, d, s)
	}
	return exitOK
}

// writeDemoConfig writes the configuration of the fakes into a new folder.
func (a *app) writeDemoConfig(d *demo) error {
	dir, err := os.MkdirTemp("", "cte-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary folder: %w", err)
	}
	c := d.mc.Credentials()
	d.dir, d.path = dir, filepath.Join(dir, "cte.yaml")
	body := fmt.Sprintf(demoConfig, d.mc.URL, c.AppID, c.AppKey, c.AccessKey, c.SecretKey, d.ns.URL, d.ns.V2Token(), d.ns.V1Token())
	if err := os.WriteFile(d.path, []byte(body), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("demo: write configuration: %w", err)
	}
	a.configPath = d.path
	return nil
}

func (a *app) demoIntro(d *demo) {
	if a.json {
		a.writeJSONLine(jsonObject{{"step", "start"}, {"mimecast", d.mc.URL}, {"netskope", d.ns.URL}, {"config", d.path},
			{"mimecastFeedRows", demoCustomerRows + demoGridRows}, {"netskopeAlerts", demoAlerts}, {"netskopeList", demoHashList}})
		return
	}
	w := a.stdout
	fmt.Fprintln(w, "cte demo: the whole exchange against a fake Mimecast account and a fake Netskope tenant on this machine.")
	fmt.Fprintf(w, "  fake Mimecast:  %s  (threat-intel feed: %d file-hash rows, some malformed)\n", d.mc.URL, demoCustomerRows+demoGridRows)
	fmt.Fprintf(w, "  fake Netskope:  %s  (%d malware alerts; SHA256 File Hash List %s)\n", d.ns.URL, demoAlerts, demoHashList)
	fmt.Fprintf(w, "  configuration:  %s\n", d.path)
}

// demoStep shows one step's data: print(v) as text, or {"step": name, name: v}
// as a JSON line.
func demoStep[T any](a *app, name string, print func(T), v T) {
	if a.json {
		a.writeJSONLine(jsonObject{{"step", name}, {name, jsonValue(v)}})
		return
	}
	print(v)
}

// demoSteps runs steps 2 to 8 of the demo.
func (a *app) demoSteps(ctx context.Context, d *demo, s *session) int {
	a.heading("2. One full bidirectional sync (cte sync): Mimecast feed → Netskope list, Netskope alerts → Mimecast BLOCK")
	if code := a.demoSync(ctx, s, "sync"); code != exitOK {
		return code
	}
	a.heading("3. What reached the products")
	a.demoProducts(d)

	a.heading("4. The sharing table (cte sharing)")
	if a.json {
		st, err := s.eng.Sharing(ctx)
		if err != nil {
			return a.fail(err)
		}
		demoStep(a, "sharing", func([]sharing.SharingStatus) {}, st)
	} else if code := a.printSharing(ctx, s.eng); code != exitOK {
		return code
	}

	a.heading("5. A few indicators (cte iocs --filter 'severity >= high' --limit 5)")
	recs, err := s.eng.Indicators(ctx, "severity >= high", 5)
	if err == nil && len(recs) == 0 {
		recs, err = s.eng.Indicators(ctx, "", 5)
	}
	if err != nil {
		return a.fail(err)
	}
	demoStep(a, "iocs", func([]iocJSON) { a.printIOCs(recs) }, iocsJSON(recs))
	d.firstValue = firstValue(recs)

	if !a.json {
		a.heading("6. Values not shared, and why")
		if err := a.demoRejected(ctx, s); err != nil {
			return a.fail(err)
		}
	}

	a.heading("7. The tail of the audit log (cte logs)")
	logs, err := s.eng.Logs(ctx, sharing.LogFilter{Limit: 6})
	if err != nil {
		return a.fail(err)
	}
	demoStep(a, "logs", func([]console.LogEntry) { a.printLogs(a.stdout, logs) }, logsJSON(logs))

	a.heading("8. A second sync: nothing new is sent")
	before := d.mc.Count(mimecasttest.PathCreateBatch) + d.ns.FileHashListUpdates(demoHashList)
	if code := a.demoSync(ctx, s, "secondSync"); code != exitOK {
		return code
	}
	writes := d.mc.Count(mimecasttest.PathCreateBatch) + d.ns.FileHashListUpdates(demoHashList) - before
	elapsed := a.now().Sub(d.start).Round(10 * time.Millisecond)
	if a.json {
		a.writeJSONLine(jsonObject{{"step", "done"}, {"secondSyncWrites", writes}, {"seconds", elapsed.Seconds()}})
		return exitOK
	}
	fmt.Fprintf(a.stdout, "Writes to the products during the second sync: %d\n", writes)
	fmt.Fprintf(a.stdout, "\nDemo finished in %s.\n", elapsed)
	if !a.f.keep {
		fmt.Fprintln(a.stdout, "Run \"cte demo --keep\" to keep the fakes running and try the other commands against them.")
	}
	return exitOK
}

// demoProducts reads back what reached the fake products.
func (a *app) demoProducts(d *demo) {
	onList := 0
	for _, h := range d.ns.FileHashList(demoHashList) {
		if h != ioc.Placeholder {
			onList++
		}
	}
	blocked := 0
	for _, h := range d.mc.Hashes() {
		if h.Operation == "BLOCK" {
			blocked++
		}
	}
	if a.json {
		a.writeJSONLine(jsonObject{{"step", "products"}, {"netskopeListHashes", onList}, {"mimecastBlocked", blocked}})
		return
	}
	fmt.Fprintf(a.stdout, "Netskope File Hash List %s: %d SHA256 hashes (read back from the fake tenant)\n", demoHashList, onList)
	fmt.Fprintf(a.stdout, "Mimecast BYO threat intelligence: %d hashes BLOCKed (read back from the fake account)\n", blocked)
}

// demoKeep leaves the fakes running until ctx ends, saying how to use them.
func (a *app) demoKeep(ctx context.Context, d *demo, s *session) {
	if a.json {
		a.writeJSONLine(jsonObject{{"step", "keep"}, {"config", d.path}, {"state", s.cfg.State}})
	} else {
		w := a.stdout
		fmt.Fprintf(w, "\nThe fakes keep running until Ctrl-C. In another terminal, try:\n")
		for _, cmd := range []string{"validate", "targets netskope", "sharing", "iocs --filter 'type == sha256' --limit 10",
			"test mimecast-to-netskope", "explain " + d.firstValue, "logs --level warn", "sync"} {
			fmt.Fprintf(w, "  cte --config %s %s\n", d.path, cmd)
		}
		fmt.Fprintf(w, "Mimecast: %s   Netskope: %s   state: %s\n", d.mc.URL, d.ns.URL, s.cfg.State)
	}
	<-ctx.Done()
	if !a.json {
		fmt.Fprintf(a.stdout, "stopped; the configuration and state stay in %s\n", d.dir)
	}
}

func firstValue(recs []sharing.Record) string {
	if len(recs) == 0 {
		return "VALUE"
	}
	return recs[0].Value
}

// heading starts a step of the text walk-through.
func (a *app) heading(s string) {
	if !a.json {
		fmt.Fprintf(a.stdout, "\n== %s\n", s)
	}
}

// demoSync syncs every source once and shows what happened as step name.
func (a *app) demoSync(ctx context.Context, s *session, name string) int {
	var out []syncJSON
	code := exitOK
	for _, src := range s.cfg.pulled(a.reg) {
		rep, errs := a.syncSource(ctx, s, src)
		j := syncJSON{Source: src, Outcome: syncOutcome(rep, errs), Report: rep}
		for _, e := range errs {
			j.Errors = append(j.Errors, e.Error())
		}
		out = append(out, j)
		if !a.json {
			a.printSync(rep, errs)
		}
		if len(errs) > 0 {
			code = exitFailure
		}
	}
	if a.json {
		a.writeJSONLine(jsonObject{{"step", name}, {"sources", jsonValue(out)}})
	}
	return code
}

// demoRejected prints the invalid values the sources sent (from the audit log)
// and the values a destination refused (from the ledger).
func (a *app) demoRejected(ctx context.Context, s *session) error {
	w := a.stdout
	logs, err := s.eng.Logs(ctx, sharing.LogFilter{MinLevel: -8})
	if err != nil {
		return err
	}
	shown := 0
	for _, e := range logs {
		for _, k := range sortedKeys(e.Details) {
			if r, ok := strings.CutPrefix(k, "invalid: "); ok {
				fmt.Fprintf(w, "from %s, never stored: %s: %s\n", e.Config, r, e.Details[k])
				shown++
			}
		}
	}
	err = s.store.View(ctx, func(tx sharing.Tx) error {
		for _, c := range s.cfg.Sharing {
			n := 0
			err := tx.LedgerEntries(c.Name, func(le *sharing.LedgerEntry) error {
				if le.State != sharing.StateRejected && le.State != sharing.StateRetryable && le.State != sharing.StateOverCapacity {
					return nil
				}
				if n < 3 {
					fmt.Fprintf(w, "%s, not applied: %s %s: %s (%s)\n", c.Name, le.Type, le.Value, le.State, le.Reason)
				}
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if n > 3 {
				fmt.Fprintf(w, "%s: %d more not applied (cte explain VALUE says why)\n", c.Name, n-3)
			}
			shown += n
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "never shared by design: the empty file's hashes and the 64-f placeholder; MD5 hashes are left out of the SHA256-only Netskope list")
	if shown == 0 {
		fmt.Fprintln(w, "no value was rejected")
	}
	return nil
}
