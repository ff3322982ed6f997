package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

// Defaults of the configuration file.
const (
	defaultConfigFile   = "cte.yaml"
	defaultState        = "cte-state.db"
	defaultSyncInterval = time.Hour
)

// config is a loaded and checked configuration file.
type config struct {
	Path    string         // the file as given
	State   string         // the state file, relative paths resolved against the file's folder; or a postgres:// URL
	Lease   time.Duration  // lease: how long a source or target stays with an instance that stopped renewing it (postgres state only)
	Plugins []*pluginEntry // in file order
	Rules   []sharing.Rule // in file order
	Sharing []sharingEntry // in file order
	// LogRetention is how long audit entries are kept (log_retention; default
	// sharing.DefaultLogRetention, 0 keeps everything).
	LogRetention time.Duration
	Warnings     []string // file:line: problems that do not stop cte

	secrets []string // configured secret values, scrubbed from every output
}

// pluginEntry is one entry of plugins.
type pluginEntry struct {
	Name         string
	Type         string // the driver name
	SyncInterval time.Duration
	Aging        time.Duration
	// Pull is the pull key: pull this plugin even when no sharing configuration
	// has it as its source (its indicators are then stored, for iocs and explain).
	Pull   bool
	Config json.RawMessage // checked against the driver's manifest, defaults filled in

	cfgLine  int            // of its config key, or its name when absent
	keyLines map[string]int // config key -> line
}

// sharingEntry is one entry of sharing.
type sharingEntry struct {
	sharing.Config

	index     int            // in the sharing list
	fieldLine map[string]int // key -> line
}

// plugin returns the plugin configuration called name.
func (c *config) plugin(name string) (*pluginEntry, bool) {
	for _, p := range c.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// rule returns the rule called name.
func (c *config) rule(name string) (sharing.Rule, bool) {
	for _, r := range c.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return sharing.Rule{}, false
}

// pulled lists, in file order, the plugins cte pulls: those that can pull and
// are the source of a sharing configuration or set pull: true.
func (c *config) pulled(reg *cte.Registry) []string {
	var out []string
	for _, p := range c.Plugins {
		if d, ok := reg.Driver(p.Type); !ok || !d.Manifest.Capabilities.Pull {
			continue
		}
		if p.Pull || slices.ContainsFunc(c.Sharing, func(s sharingEntry) bool { return s.Source == p.Name }) {
			out = append(out, p.Name)
		}
	}
	if _, ok := c.plugin(sharing.ManualSource); !ok && slices.ContainsFunc(c.Sharing, func(s sharingEntry) bool { return s.Source == sharing.ManualSource }) {
		out = append(out, sharing.ManualSource) // shares what cte iocs add stored
	}
	return out
}

// sharingByName returns the sharing configuration called name.
func (c *config) sharingByName(name string) (sharingEntry, bool) {
	for _, s := range c.Sharing {
		if s.Name == name {
			return s, true
		}
	}
	return sharingEntry{}, false
}

// lineError is one problem of a configuration file, at a line, under a key path.
type lineError struct {
	File string
	Line int    // 0 when the problem concerns the whole file
	Path string // e.g. plugins.mimecast.sync_interval; empty for the whole file
	Msg  string // what is wrong and what to write instead
}

// Error returns "file:line: path: message".
func (e *lineError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns cte.ErrInvalidConfig.
func (e *lineError) Unwrap() error { return cte.ErrInvalidConfig }

// configErrors is every problem found in a configuration file, in file order.
type configErrors []*lineError

// Error returns one problem per line.
func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.Is(err, cte.ErrInvalidConfig) holds.
func (es configErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds how many problems one load reports.
const maxErrors = 20

// loadConfigFile reads and checks the configuration file at path. env looks up
// environment variables for ${VAR}; reg holds the plugin types. A problem in the
// file is a configErrors (wrapping cte.ErrInvalidConfig); no secret value from the
// file is part of it.
func loadConfigFile(path string, reg *cte.Registry, env func(string) (string, bool)) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, configErrors{{File: path, Msg: "no such file; write one (start from testdata/cte.yaml) or name it with --config"}}
		}
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			return nil, configErrors{{File: path, Msg: fmt.Sprintf("is a folder, not a configuration file; name the file, e.g. --config %s", filepath.Join(path, defaultConfigFile))}}
		}
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return parseConfig(path, data, reg, env)
}

// parseConfig checks the configuration data read from the file called name.
func parseConfig(name string, data []byte, reg *cte.Registry, env func(string) (string, bool)) (*config, error) {
	l := &loader{file: name, env: env, reg: reg}
	cfg := l.parse(data)
	slices.SortStableFunc(l.errs, func(a, b *lineError) int { return a.Line - b.Line })
	if len(l.errs) > maxErrors {
		l.errs = l.errs[:maxErrors]
	}
	if len(l.errs) > 0 {
		// Values from the environment may be secrets wherever they were put.
		hide := append(slices.Clone(l.secrets), l.envValues...)
		for _, e := range l.errs {
			e.Msg = scrub(e.Msg, hide)
		}
		return nil, configErrors(l.errs)
	}
	cfg.secrets = l.secrets
	return cfg, nil
}

// openPlugin opens one configured plugin through reg. A configuration the driver
// refuses is reported like a file problem, at the line of the key it names.
func (c *config) openPlugin(ctx context.Context, reg *cte.Registry, p *pluginEntry, opts ...cte.Option) (cte.Plugin, error) {
	opts = append([]cte.Option{cte.WithName(p.Name)}, opts...)
	pl, err := reg.Open(ctx, p.Type, p.Config, opts...)
	if err == nil {
		return pl, nil
	}
	var ce *cte.ConfigError
	if !errors.As(err, &ce) {
		return nil, fmt.Errorf("open plugin %s: %w", p.Name, err)
	}
	l := &loader{file: c.Path}
	l.manifestError(err, "plugins."+p.Name+".config", p.cfgLine, p.keyLines)
	for _, e := range l.errs {
		e.Msg = scrub(e.Msg, c.secrets)
	}
	return nil, configErrors(l.errs)
}

// scrub replaces every secret in s with [redacted].
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
