package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

// checkSharingArg checks that args is the name of one configured sharing
// configuration, and says which exist when it is not.
func (a *app) checkSharingArg(cmd string, args []string) int {
	if len(args) != 1 {
		return a.usageErr(cmd, "needs the name of one sharing configuration")
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	if _, ok := cfg.sharingByName(args[0]); !ok {
		names := make([]string, len(cfg.Sharing))
		for i, s := range cfg.Sharing {
			names[i] = s.Name
		}
		return a.usageErr(cmd, "no sharing configuration named %q%s; configured: %s", args[0], suggest(args[0], names), listOrNone(names))
	}
	return exitOK
}

// session is a loaded configuration with its store, engine and plugins.
type session struct {
	cfg     *config
	store   sharing.Store
	eng     *sharing.Engine
	plugins map[string]cte.Plugin
	// borrowed is the daemon's session lent to a forwarded command: close
	// leaves it open.
	borrowed bool
	// obs is the daemon's console, which counts what a forwarded command
	// does in its metrics as it counts the scheduler's syncs (nil: none).
	obs observer
}

// observer is what counts syncs and shares in the daemon's metrics.
type observer interface {
	ObserveSync(rep sharing.SyncReport, err error, next time.Time)
	ObserveShare(rep sharing.ShareReport)
}

// observeSync and observeShares count a command's work in the daemon's
// metrics, when it runs in the daemon.
func (s *session) observeSync(rep sharing.SyncReport, err error) {
	if s.obs != nil {
		s.obs.ObserveSync(rep, err, time.Time{})
	}
}

func (s *session) observeShares(reps ...sharing.ShareReport) {
	if s.obs != nil {
		for _, r := range reps {
			s.obs.ObserveShare(r)
		}
	}
}

// close closes the store; closing twice is harmless.
func (s *session) close() {
	if s.store != nil && !s.borrowed {
		_ = s.store.Close()
		s.store = nil
	}
}

// loadConfig loads the configuration file, prints its warnings and arms the
// output scrubbing with its secrets. On a problem it prints it and returns the
// exit code.
func (a *app) loadConfig() (*config, int) {
	if a.cfg != nil && a.cfg.Path == a.configPath {
		return a.cfg, exitOK
	}
	cfg, err := loadConfigFile(a.configPath, a.reg, a.configEnv())
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
	if a.term != nil && !a.logLevelSet {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
}

// openPlugins opens the named plugins (all when names is empty).
func (a *app) openPlugins(ctx context.Context, cfg *config, names ...string) (map[string]cte.Plugin, int) {
	out := map[string]cte.Plugin{}
	log := a.logger()
	for _, p := range cfg.Plugins {
		if len(names) > 0 && !slices.Contains(names, p.Name) {
			continue
		}
		pl, err := cfg.openPlugin(ctx, a.reg, p, cte.WithLogger(log.With("plugin", p.Name)), cte.WithClock(a.now))
		if err != nil && a.readOnly {
			out[p.Name] = offlinePlugin{name: p.Name, err: err} // never asked: the command reads local state
			continue
		}
		if err != nil {
			return nil, a.fail(err)
		}
		var progress progressSink
		if a.term != nil {
			progress = a.term
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
// sharing configurations; no product is asked anything. The
// caller closes the session; on a failure it is closed here.
func (a *app) openSession(ctx context.Context, mode sessionMode) (_ *session, code int) {
	if a.daemon != nil {
		return a.daemon.shared(), exitOK
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return nil, code
	}
	s := &session{cfg: cfg}
	defer func() {
		if code != exitOK {
			s.close()
		}
	}()
	if mode == withSharing {
		if s.plugins, code = a.openPlugins(ctx, cfg); s.plugins == nil {
			return nil, code
		}
	}
	st, err := a.openStore(cfg.State)
	if err != nil {
		return nil, a.fail(fmt.Errorf("open state %s: %w", stateName(cfg.State), err))
	}
	s.store = st
	if s.eng, err = sharing.New(st, sharing.WithLogger(a.logger()), sharing.WithClock(a.now), sharing.WithLogRetention(cfg.LogRetention),
		sharing.WithInstance("", cfg.Lease)); err != nil {
		return nil, a.fail(err)
	}
	if mode == storeOnly {
		return s, exitOK
	}
	if err := a.addSharing(ctx, s); err != nil {
		return nil, a.fail(err)
	}
	return s, exitOK
}

// addSharing registers the plugins, rules and sharing configurations of the
// session's configuration with its engine. It asks no product anything: a
// destination that cannot list its targets now fails the shares to it when they
// run, and the other direction goes on.
func (a *app) addSharing(ctx context.Context, s *session) error {
	cfg, eng := s.cfg, s.eng
	pulled := cfg.pulled(a.reg)
	for _, p := range cfg.Plugins {
		set := sharing.SourceSettings{SyncInterval: p.SyncInterval, Aging: p.Aging, PushOnly: !slices.Contains(pulled, p.Name)}
		if err := eng.AddPlugin(p.Name, s.plugins[p.Name], set); err != nil {
			return err
		}
	}
	for _, r := range cfg.Rules {
		if err := eng.AddRule(r); err != nil {
			return err
		}
	}
	var problems configErrors
	for _, sc := range cfg.Sharing {
		if err := eng.AddSharing(ctx, sc.Config); err != nil {
			problems = append(problems, cfg.sharingError(sc, err))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// sharingError places an error of Engine.AddSharing at its sharing entry. The
// loader has checked the names already, so what remains concerns the target: one
// the destination does not offer, or one whose types the rule can never match.
func (c *config) sharingError(sc sharingEntry, err error) *lineError {
	msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("sharing %q: ", sc.Name))
	return &lineError{File: c.Path, Line: sc.fieldLine["target"], Path: fmt.Sprintf("sharing[%d].target", sc.index), Msg: scrub(msg, c.secrets)}
}
