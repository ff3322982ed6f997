package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// session is a loaded configuration with its store, engine and plugins.
type session struct {
	cfg     *Config
	store   sharing.Store
	eng     *sharing.Engine
	plugins map[string]cte.Plugin
}

// Close closes the store.
func (s *session) Close() error {
	if s.store == nil {
		return nil
	}
	return s.store.Close()
}

// loadConfig loads the configuration file, prints its warnings and arms the
// output scrubbing with its secrets. On a problem it prints it and returns the
// exit code.
func (a *app) loadConfig() (*Config, int) {
	if a.cfg != nil && a.cfg.Path == a.configPath {
		return a.cfg, exitOK
	}
	cfg, err := LoadConfig(a.configPath, a.reg, a.env)
	if err != nil {
		return nil, a.fail(err)
	}
	a.secrets.set(cfg.secrets)
	a.cfg = cfg
	for _, w := range cfg.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	return cfg, exitOK
}

// logger returns the logger for stderr at --log-level. On a terminal the default
// level is warn, so progress lines are not drowned by info lines.
func (a *app) logger() *slog.Logger {
	lvl, _ := parseLevel(a.logLevel)
	if a.progress && !a.logLevelSet {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
}

// openPlugins opens the named plugins (all when names is empty).
func (a *app) openPlugins(ctx context.Context, cfg *Config, names ...string) (map[string]cte.Plugin, int) {
	out := map[string]cte.Plugin{}
	log := a.logger()
	for _, p := range cfg.Plugins {
		if len(names) > 0 && !slices.Contains(names, p.Name) {
			continue
		}
		pl, err := cfg.OpenPlugin(ctx, a.reg, p, cte.WithLogger(log.With("plugin", p.Name)), cte.WithClock(a.now))
		if err != nil {
			return nil, a.fail(err)
		}
		var progress io.Writer
		if a.progress {
			progress = a.stderr
		}
		out[p.Name] = wrapPlugin(pl, p.Name, progress, a.now)
	}
	return out, exitOK
}

// sessionMode says how much of the configuration a command needs.
type sessionMode int

const (
	storeOnly   sessionMode = iota // the store: iocs, logs
	withSharing                    // plugins, rules and sharing configurations: sync, run, sharing, test, explain
)

// openSession loads the configuration, opens the state file and builds the
// engine. With withSharing it also opens the plugins and registers the rules and
// sharing configurations (which asks each destination for its targets).
func (a *app) openSession(ctx context.Context, mode sessionMode) (*session, int) {
	cfg, code := a.loadConfig()
	if cfg == nil {
		return nil, code
	}
	s := &session{cfg: cfg}
	if mode == withSharing {
		if s.plugins, code = a.openPlugins(ctx, cfg); s.plugins == nil {
			return nil, code
		}
	}
	st, err := a.openStore(cfg.State)
	if err != nil {
		return nil, a.fail(fmt.Errorf("open state file %s: %w", cfg.State, err))
	}
	s.store = st
	eng, err := sharing.New(st, sharing.WithLogger(a.logger()), sharing.WithClock(a.now), sharing.WithLogRetention(cfg.LogRetention))
	if err != nil {
		_ = st.Close()
		return nil, a.fail(err)
	}
	s.eng = eng
	if mode == storeOnly {
		return s, exitOK
	}
	for _, p := range cfg.Plugins {
		d, _ := a.reg.Driver(p.Type)
		set := sharing.SourceSettings{SyncInterval: p.SyncInterval, Aging: p.Aging, PushOnly: !d.Manifest.Capabilities.Pull}
		if err := eng.AddPlugin(p.Name, s.plugins[p.Name], set); err != nil {
			_ = s.Close()
			return nil, a.fail(err)
		}
	}
	for _, r := range cfg.Rules {
		if err := eng.AddRule(r); err != nil {
			_ = s.Close()
			return nil, a.fail(err)
		}
	}
	// Ask each destination for its targets once, so that a product that cannot be
	// reached is a failure (exit 1), and AddSharing's complaints are about the file.
	asked := map[string]bool{}
	for _, sc := range cfg.Sharing {
		if asked[sc.Destination] {
			continue
		}
		asked[sc.Destination] = true
		if _, err := s.plugins[sc.Destination].GetTargets(ctx); err != nil {
			_ = s.Close()
			return nil, a.fail(fmt.Errorf("list the targets of %s: %w", sc.Destination, err))
		}
	}
	var problems ConfigErrors
	for _, sc := range cfg.Sharing {
		err := eng.AddSharing(ctx, sc.Config)
		if err == nil {
			_, err = eng.CheckTarget(ctx, sc.Name) // the plugins cache the targets listed above
		}
		if err != nil {
			problems = append(problems, cfg.sharingError(sc, err))
		}
	}
	if len(problems) > 0 {
		_ = s.Close()
		return nil, a.fail(problems)
	}
	return s, exitOK
}

// sharingError places an error of Engine.AddSharing at its sharing entry. The
// loader has checked the names already, so what remains concerns the target: one
// the destination does not offer, or one whose types the rule can never match.
func (c *Config) sharingError(sc SharingConfig, err error) *LineError {
	msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("sharing %q: ", sc.Name))
	return &LineError{File: c.Path, Line: sc.fieldLine["target"], Path: fmt.Sprintf("sharing[%d].target", sc.index), Msg: scrub(msg, c.secrets)}
}

// cliPlugin wraps a plugin for the command line: it remembers the targets the
// product listed, so one session asks each product once, and on a terminal it
// shows pull and push progress (pages, indicators, rate) on w.
type cliPlugin struct {
	cte.Plugin
	name string
	w    io.Writer // progress output; nil for none
	now  func() time.Time

	mu      sync.Mutex
	targets []cte.Target // nil until GetTargets succeeded
}

// cliRetractor keeps the cte.Retractor ability of the wrapped plugin.
type cliRetractor struct {
	*cliPlugin
	r cte.Retractor
}

func (p cliRetractor) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	return p.r.Retract(ctx, t, in)
}

// wrapPlugin returns pl wrapped in a cliPlugin; progress goes to w unless it is nil.
func wrapPlugin(pl cte.Plugin, name string, w io.Writer, now func() time.Time) cte.Plugin {
	cp := &cliPlugin{Plugin: pl, name: name, w: w, now: now}
	if r, ok := pl.(cte.Retractor); ok {
		return cliRetractor{cliPlugin: cp, r: r}
	}
	return cp
}

func (p *cliPlugin) GetTargets(ctx context.Context) ([]cte.Target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.targets != nil {
		return p.targets, nil
	}
	ts, err := p.Plugin.GetTargets(ctx)
	if err != nil {
		return nil, err
	}
	if ts == nil {
		ts = []cte.Target{}
	}
	p.targets = ts
	return ts, nil
}

func (p *cliPlugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	if p.w == nil {
		return p.Plugin.Pull(ctx, from)
	}
	return func(yield func(cte.Page, error) bool) {
		start := p.now()
		pages, n := 0, 0
		defer func() {
			if pages > 0 {
				fmt.Fprintf(p.w, "\r\033[K%s: pulled %d pages, %d indicators\n", p.name, pages, n)
			}
		}()
		for pg, err := range p.Plugin.Pull(ctx, from) {
			if err == nil {
				pages++
				n += len(pg.Indicators)
				rate := float64(n) / max(p.now().Sub(start).Seconds(), 0.001)
				fmt.Fprintf(p.w, "\r\033[K%s: page %d, %d indicators, %.0f/s", p.name, pages, n, rate)
			}
			if !yield(pg, err) {
				return
			}
		}
	}
}

func (p *cliPlugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if p.w == nil {
		return p.Plugin.Push(ctx, t, in)
	}
	fmt.Fprintf(p.w, "\r\033[K%s: sending %d indicators to %s…", p.name, len(in), t.ID)
	res, err := p.Plugin.Push(ctx, t, in)
	fmt.Fprint(p.w, "\r\033[K")
	return res, err
}

// secretSet is the configured secrets, shared by the scrubbing writers.
type secretSet struct {
	mu  sync.RWMutex
	all [][]byte
}

func (s *secretSet) set(secrets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = s.all[:0]
	for _, v := range secrets {
		s.all = append(s.all, []byte(v))
	}
}

// scrubWriter replaces configured secrets with [redacted] in everything written,
// a second line of defence behind cte.Secret: no output of cte carries a secret
// from the configuration. Writes are serialised through mu (shared by stdout and
// stderr), because the engine and each plugin log from their own goroutines and
// the writer given to run need not be safe for concurrent use.
type scrubWriter struct {
	w       io.Writer
	secrets *secretSet
	mu      *sync.Mutex
}

func (s scrubWriter) Write(p []byte) (int, error) {
	s.secrets.mu.RLock()
	out := p
	for _, sec := range s.secrets.all {
		if bytes.Contains(out, sec) {
			out = bytes.ReplaceAll(out, sec, []byte("[redacted]"))
		}
	}
	s.secrets.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// errorsOf splits a joined error into its parts.
func errorsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, errorsOf(e)...)
		}
		return out
	}
	return []error{err}
}
