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

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

// Defaults of the configuration file.
const (
	defaultConfigFile   = "cte.yaml"
	defaultState        = "cte-state.db"
	defaultSyncInterval = time.Hour
)

// Config is a loaded and checked configuration file.
type Config struct {
	Path    string          // the file as given
	State   string          // the state file, relative paths resolved against the file's folder
	Plugins []*PluginConfig // in file order
	Rules   []sharing.Rule  // in file order
	Sharing []SharingConfig // in file order
	// LogRetention is how long audit entries are kept (log_retention; default
	// sharing.DefaultLogRetention, 0 keeps everything).
	LogRetention time.Duration
	Warnings     []string // file:line: problems that do not stop cte

	secrets []string // configured secret values, scrubbed from every output
}

// PluginConfig is one entry of plugins.
type PluginConfig struct {
	Name         string
	Type         string // the driver name
	SyncInterval time.Duration
	Aging        time.Duration
	Config       json.RawMessage // checked against the driver's manifest, defaults filled in

	cfgLine  int            // of its config key, or its name when absent
	keyLines map[string]int // config key -> line
}

// SharingConfig is one entry of sharing.
type SharingConfig struct {
	sharing.Config

	index     int            // in the sharing list
	fieldLine map[string]int // key -> line
}

// Plugin returns the plugin configuration called name.
func (c *Config) Plugin(name string) (*PluginConfig, bool) {
	for _, p := range c.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Rule returns the rule called name.
func (c *Config) Rule(name string) (sharing.Rule, bool) {
	for _, r := range c.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return sharing.Rule{}, false
}

// SharingByName returns the sharing configuration called name.
func (c *Config) SharingByName(name string) (SharingConfig, bool) {
	for _, s := range c.Sharing {
		if s.Name == name {
			return s, true
		}
	}
	return SharingConfig{}, false
}

// LineError is one problem of a configuration file, at a line, under a key path.
type LineError struct {
	File string
	Line int    // 0 when the problem concerns the whole file
	Path string // e.g. plugins.mimecast.sync_interval; empty for the whole file
	Msg  string // what is wrong and what to write instead
}

// Error returns "file:line: path: message".
func (e *LineError) Error() string {
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
func (e *LineError) Unwrap() error { return cte.ErrInvalidConfig }

// ConfigErrors is every problem found in a configuration file, in file order.
type ConfigErrors []*LineError

// Error returns one problem per line.
func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.Is(err, cte.ErrInvalidConfig) holds.
func (es ConfigErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds how many problems one load reports.
const maxErrors = 20

// LoadConfig reads and checks the configuration file at path. env looks up
// environment variables for ${VAR}; reg holds the plugin types. A problem in the
// file is a ConfigErrors (wrapping cte.ErrInvalidConfig); no secret value from the
// file is part of it.
func LoadConfig(path string, reg *cte.Registry, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ConfigErrors{{File: path, Msg: "no such file; write one (start from testdata/cte.yaml) or name it with --config"}}
		}
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseConfig(path, data, reg, env)
}

// ParseConfig checks the configuration data read from the file called name.
func ParseConfig(name string, data []byte, reg *cte.Registry, env func(string) (string, bool)) (*Config, error) {
	l := &loader{file: name, env: env, reg: reg}
	cfg := l.parse(data)
	slices.SortStableFunc(l.errs, func(a, b *LineError) int { return a.Line - b.Line })
	if len(l.errs) > maxErrors {
		l.errs = l.errs[:maxErrors]
	}
	if len(l.errs) > 0 {
		// Values from the environment may be secrets wherever they were put.
		hide := append(slices.Clone(l.secrets), l.envValues...)
		for _, e := range l.errs {
			e.Msg = scrub(e.Msg, hide)
		}
		return nil, ConfigErrors(l.errs)
	}
	cfg.secrets = l.secrets
	return cfg, nil
}

type loader struct {
	file    string
	env     func(string) (string, bool)
	reg     *cte.Registry
	errs    []*LineError
	warns   []string
	secrets []string // values of password fields
	// envValues are the values ${VAR} brought in; they never appear in an error.
	envValues []string
	// brokenRules are rules with a reported problem.
	brokenRules []string
}

func (l *loader) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &LineError{File: l.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(n *yaml.Node, path, format string, args ...any) {
	e := &LineError{File: l.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
	l.warns = append(l.warns, e.Error())
}

func (l *loader) addSecret(s string) {
	if len(s) >= 4 && !slices.Contains(l.secrets, s) {
		l.secrets = append(l.secrets, s)
	}
}

var topKeys = []string{"state", "log_retention", "plugins", "rules", "sharing"}

func (l *loader) parse(data []byte) *Config {
	cfg := &Config{Path: l.file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.yamlError(err)
		return cfg
	}
	if len(doc.Content) == 0 {
		l.errorf(nil, "", "the file is empty; start from testdata/cte.yaml")
		return cfg
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "", "the file must be a mapping with the keys %s", strings.Join(topKeys, ", "))
		return cfg
	}
	m := l.mapping(root, "", topKeys)
	state := defaultState
	if n, ok := m["state"]; ok {
		if s, ok := l.str(n.val, "state"); ok {
			if s == "" {
				l.errorf(n.val, "state", "is empty; write the path of the state file, e.g. %s", defaultState)
			}
			state = s
		}
	}
	if !filepath.IsAbs(state) {
		state = filepath.Join(filepath.Dir(l.file), state)
	}
	cfg.State = state
	cfg.LogRetention = l.logRetention(m)

	if n, ok := m["plugins"]; !ok {
		l.errorf(root, "plugins", "is missing; configure at least one plugin (see testdata/cte.yaml)")
	} else {
		cfg.Plugins = l.plugins(n.val)
	}
	if n, ok := m["rules"]; ok {
		cfg.Rules = l.rules(n.val)
	}
	if n, ok := m["sharing"]; ok {
		cfg.Sharing = l.sharing(n.val, cfg)
	}
	cfg.Warnings = l.warns
	return cfg
}

// logRetention reads the optional log_retention key: a duration, or 0 to keep
// the whole audit log.
func (l *loader) logRetention(m map[string]entry) time.Duration {
	n, ok := m["log_retention"]
	if !ok {
		return sharing.DefaultLogRetention
	}
	s, ok := l.str(n.val, "log_retention")
	if !ok {
		return sharing.DefaultLogRetention
	}
	d, err := parseDuration(s)
	switch {
	case err != nil:
		l.errorf(n.val, "log_retention", "%q is not a duration; write e.g. 30d or 2160h, or 0 to keep every audit entry", s)
	case d < 0:
		l.errorf(n.val, "log_retention", "%q is negative; write how long to keep audit entries, e.g. 30d, or 0 to keep them all", s)
	default:
		return d
	}
	return sharing.DefaultLogRetention
}

// yamlError turns "yaml: line 3: did not find expected key" into a LineError.
func (l *loader) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, rest[i+2:]
			}
		}
	}
	l.errs = append(l.errs, &LineError{File: l.file, Line: line, Msg: "not valid YAML: " + msg})
}

// entry is one key: value pair of a mapping.
type entry struct {
	key, val *yaml.Node
}

// mapping returns the entries of n by key, reporting unknown keys (when known is
// not nil) and keys given twice.
func (l *loader) mapping(n *yaml.Node, path string, known []string) map[string]entry {
	out := map[string]entry{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, path, "a key must be a plain word")
			continue
		}
		if known != nil && !slices.Contains(known, k.Value) {
			l.errorf(k, kp, "unknown key%s; known keys: %s", suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			l.errorf(k, kp, "given twice (first at line %d); keep one", prev.key.Line)
			continue
		}
		out[k.Value] = entry{key: k, val: v}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str returns the string value of a scalar with ${VAR} expanded.
func (l *loader) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, path, "must be a single value, not %s", kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	s, err := expand(n.Value, func(name string) (string, bool) {
		v, ok := l.env(name)
		if len(v) >= 4 && !slices.Contains(l.envValues, v) {
			l.envValues = append(l.envValues, v)
		}
		return v, ok
	})
	if err != nil {
		l.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (*name); write the value itself"
	}
	return "a value"
}

// expand replaces ${NAME} with the environment variable NAME, and ${NAME:-default}
// with default when NAME is unset or empty. $${ stands for a literal ${.
func expand(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("${ without a closing }; write ${NAME}")
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a variable reference; write ${NAME} with letters, digits and _", clipRef(name))
		}
		v, ok := env(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set; export it, or write ${%s:-} to allow it to be empty", name, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func clipRef(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validName reports whether s can name a plugin, rule or sharing configuration.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (l *loader) checkName(k *yaml.Node, path string) bool {
	if !validName(k.Value) {
		l.errorf(k, path, "%q is not a usable name; use letters, digits, '-', '_' and '.', at most 64", clipRef(k.Value))
		return false
	}
	return true
}

var pluginKeys = []string{"type", "sync_interval", "aging", "config"}

func (l *loader) plugins(n *yaml.Node) []*PluginConfig {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		l.errorf(n, "plugins", "must map plugin names to their settings, e.g. plugins: {mimecast: {type: mimecast, config: {...}}}")
		return nil
	}
	var out []*PluginConfig
	for _, e := range l.orderedMapping(n, "plugins") {
		path := "plugins." + e.key.Value
		if !l.checkName(e.key, path) {
			continue
		}
		if e.val.Kind != yaml.MappingNode {
			l.errorf(e.val, path, "must be a mapping with the keys %s", strings.Join(pluginKeys, ", "))
			continue
		}
		p := &PluginConfig{Name: e.key.Value, cfgLine: e.key.Line, SyncInterval: defaultSyncInterval, Aging: sharing.DefaultAging}
		m := l.mapping(e.val, path, pluginKeys)
		var drv cte.Driver
		typeOK := false
		if t, ok := m["type"]; !ok {
			l.errorf(e.key, path+".type", "is missing; write type: %s", strings.Join(l.driverNames(), " or type: "))
		} else if s, ok := l.str(t.val, path+".type"); ok {
			if drv, typeOK = l.reg.Driver(s); !typeOK {
				l.errorf(t.val, path+".type", "%q is not a plugin type; write one of: %s", s, strings.Join(l.driverNames(), ", "))
			}
			p.Type = s
		}
		if d, ok := m["sync_interval"]; ok {
			if v, ok := l.duration(d.val, path+".sync_interval", "5m or 1h"); ok {
				p.SyncInterval = v
				if v < sharing.MinSyncInterval {
					l.warnf(d.val, path+".sync_interval", "%s is shorter than %s; the product may rate-limit cte", v, sharing.MinSyncInterval)
				}
			}
		}
		if d, ok := m["aging"]; ok {
			if v, ok := l.duration(d.val, path+".aging", "90d or 720h"); ok {
				p.Aging = v
			}
		}
		c, hasCfg := m["config"]
		if hasCfg {
			p.cfgLine = c.key.Line
		}
		if typeOK {
			var cn *yaml.Node
			if hasCfg {
				cn = c.val
			}
			p.Config, p.keyLines = l.pluginConfig(cn, path+".config", drv.Manifest, p.cfgLine)
		}
		out = append(out, p)
	}
	return out
}

// orderedMapping returns the entries of a mapping in file order, reporting names
// given twice.
func (l *loader) orderedMapping(n *yaml.Node, path string) []entry {
	seen := map[string]int{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, path, "a name must be a plain word")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.errorf(k, join(path, k.Value), "given twice (first at line %d); keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k, val: v})
	}
	return out
}

func (l *loader) driverNames() []string {
	var names []string
	for _, d := range l.reg.Drivers() {
		names = append(names, d.Name)
	}
	return names
}

// parseDuration accepts Go durations (90m, 1h30m) and whole or decimal days (30d).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || f < 0 || f > 36500 || strings.ContainsAny(days, "eE+xXpP_") {
			return 0, errors.New("not a duration")
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

func (l *loader) duration(n *yaml.Node, path, example string) (time.Duration, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		l.errorf(n, path, "%q is not a duration; write e.g. %s", s, example)
		return 0, false
	}
	if d <= 0 {
		l.errorf(n, path, "%q must be longer than 0; write e.g. %s", s, example)
		return 0, false
	}
	return d, true
}

// pluginConfig converts the config mapping to JSON, typed by the manifest, and
// checks it with Manifest.Normalize.
func (l *loader) pluginConfig(n *yaml.Node, path string, man cte.Manifest, cfgLine int) (json.RawMessage, map[string]int) {
	values := map[string]any{}
	lines := map[string]int{}
	if n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		if n.Kind != yaml.MappingNode {
			l.errorf(n, path, "must be a mapping of %s settings", man.Name)
			return nil, nil
		}
		before := len(l.errs)
		for _, e := range l.orderedMapping(n, path) {
			f, known := man.Field(e.key.Value)
			lines[e.key.Value] = e.key.Line
			v, ok := l.configValue(e.val, join(path, e.key.Value), f, known)
			if !ok {
				continue
			}
			values[e.key.Value] = v
		}
		if len(l.errs) > before {
			return nil, lines
		}
	}
	raw, err := json.Marshal(values)
	if err != nil {
		l.errorf(n, path, "cannot be encoded: %v", err)
		return nil, lines
	}
	out, err := man.Normalize(raw)
	if err != nil {
		l.manifestError(err, path, cfgLine, lines)
		return nil, lines
	}
	return out, lines
}

// manifestError reports a *cte.ConfigError at the line of its field.
func (l *loader) manifestError(err error, path string, cfgLine int, lines map[string]int) {
	var ce *cte.ConfigError
	if !errors.As(err, &ce) {
		l.errs = append(l.errs, &LineError{File: l.file, Line: cfgLine, Path: path, Msg: err.Error()})
		return
	}
	line, p := cfgLine, path
	if ce.Field != "" {
		p = join(path, ce.Field)
		if ln, ok := lines[ce.Field]; ok {
			line = ln
		}
	}
	l.errs = append(l.errs, &LineError{File: l.file, Line: line, Path: p, Msg: ce.Reason})
}

// configValue converts one plugin setting to the JSON type its manifest field
// takes, so `initial_range_days: ${DAYS}` is a number and `app_id: 1234` a string.
func (l *loader) configValue(n *yaml.Node, path string, f cte.Field, known bool) (any, bool) {
	secret := !known || f.Type == cte.FieldPassword
	switch n.Kind {
	case yaml.SequenceNode:
		var out []string
		for _, it := range n.Content {
			s, ok := l.str(it, path)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		if secret {
			for _, s := range out {
				l.addSecret(s)
			}
		}
		if out == nil {
			out = []string{}
		}
		return out, true
	case yaml.ScalarNode:
	default:
		l.errorf(n, path, "must be a value or a list, not %s", kindName(n))
		return nil, false
	}
	if n.Tag == "!!null" {
		return nil, true
	}
	s, ok := l.str(n, path)
	if !ok {
		return nil, false
	}
	if secret {
		l.addSecret(s)
	}
	switch f.Type {
	case cte.FieldNumber:
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return v, true
		}
	case cte.FieldBool:
		if v, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			return v, true
		}
	}
	return s, true
}

var ruleKeys = []string{"filter", "exceptions", "muted"}
var exceptionKeys = []string{"name", "query", "tags"}

func (l *loader) rules(n *yaml.Node) []sharing.Rule {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "rules", `must map rule names to rules, e.g. rules: {all-hashes: {filter: "type in (sha256, md5)"}}`)
		return nil
	}
	var out []sharing.Rule
	for _, e := range l.orderedMapping(n, "rules") {
		path := "rules." + e.key.Value
		if !l.checkName(e.key, path) {
			continue
		}
		if e.val.Kind != yaml.MappingNode {
			l.errorf(e.val, path, "must be a mapping with the keys %s", strings.Join(ruleKeys, ", "))
			continue
		}
		r := sharing.Rule{Name: e.key.Value}
		m := l.mapping(e.val, path, ruleKeys)
		before := len(l.errs)
		if f, ok := m["filter"]; !ok {
			l.errorf(e.key, path+".filter", `is missing; write e.g. filter: "type in (sha256, md5)", or filter: all`)
		} else if s, ok := l.query(f.val, path+".filter"); ok {
			r.Filter = s
		}
		if x, ok := m["exceptions"]; ok {
			r.Exceptions = l.exceptions(x.val, path+".exceptions")
		}
		if mu, ok := m["muted"]; ok {
			if s, ok := l.str(mu.val, path+".muted"); ok {
				b, err := strconv.ParseBool(s)
				if err != nil {
					l.errorf(mu.val, path+".muted", "%q is not true or false", s)
				}
				r.Muted = b
			}
		}
		if len(l.errs) == before {
			if _, err := sharing.CompileRule(r); err != nil {
				l.errorf(e.key, path, "%v", err)
			}
		}
		if len(l.errs) > before {
			l.brokenRules = append(l.brokenRules, r.Name) // reported; sharing entries naming it are not
			continue
		}
		out = append(out, r)
	}
	return out
}

// query reads and parses a query, reporting a syntax error with its column.
func (l *loader) query(n *yaml.Node, path string) (string, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		l.errorf(n, path, "is empty; write a query such as type == sha256, or all")
		return "", false
	}
	if _, err := sharing.ParseQuery(s); err != nil {
		var qe *sharing.QueryError
		if errors.As(err, &qe) {
			l.errorf(n, path, "%v\n    %s", err, strings.ReplaceAll(qe.Pointer(), "\n", "\n    "))
		} else {
			l.errorf(n, path, "%v", err)
		}
		return "", false
	}
	return s, true
}

func (l *loader) exceptions(n *yaml.Node, path string) []sharing.Exception {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, path, `must be a list of queries or {name, query, tags} entries, e.g. ["tags has benign"]`)
		return nil
	}
	var out []sharing.Exception
	for i, it := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind == yaml.ScalarNode {
			if q, ok := l.query(it, p); ok {
				out = append(out, sharing.Exception{Query: q})
			}
			continue
		}
		if it.Kind != yaml.MappingNode {
			l.errorf(it, p, "must be a query or a mapping with the keys %s", strings.Join(exceptionKeys, ", "))
			continue
		}
		var x sharing.Exception
		m := l.mapping(it, p, exceptionKeys)
		if v, ok := m["name"]; ok {
			x.Name, _ = l.str(v.val, p+".name")
		}
		if v, ok := m["query"]; ok {
			x.Query, _ = l.query(v.val, p+".query")
		}
		if v, ok := m["tags"]; ok {
			x.Tags = l.strList(v.val, p+".tags")
		}
		if x.Query == "" && len(x.Tags) == 0 {
			if _, q := m["query"]; !q {
				if _, t := m["tags"]; !t {
					l.errorf(it, p, "needs a query or tags; write e.g. query: severity == low, or tags: [benign]")
				}
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

func (l *loader) strList(n *yaml.Node, path string) []string {
	if n.Kind == yaml.ScalarNode {
		s, ok := l.str(n, path)
		if !ok || strings.TrimSpace(s) == "" {
			if ok {
				l.errorf(n, path, "is empty; write a tag or a list of tags")
			}
			return nil
		}
		return []string{s}
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, path, "must be a list of tags")
		return nil
	}
	var out []string
	for i, it := range n.Content {
		s, ok := l.str(it, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			l.errorf(it, fmt.Sprintf("%s[%d]", path, i), "is empty; write a tag")
			continue
		}
		out = append(out, s)
	}
	return out
}

var sharingKeys = []string{"name", "source", "rule", "destination", "target"}

func (l *loader) sharing(n *yaml.Node, cfg *Config) []SharingConfig {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "sharing", "must be a list of {name, source, rule, destination, target} entries")
		return nil
	}
	var out []SharingConfig
	names := map[string]int{}
	for i, it := range n.Content {
		path := fmt.Sprintf("sharing[%d]", i)
		if it.Kind != yaml.MappingNode {
			l.errorf(it, path, "must be a mapping with the keys %s", strings.Join(sharingKeys, ", "))
			continue
		}
		s := SharingConfig{index: i, fieldLine: map[string]int{}}
		m := l.mapping(it, path, sharingKeys)
		vals := map[string]string{}
		ok := true
		for _, k := range sharingKeys {
			e, has := m[k]
			if !has {
				l.errorf(it, path+"."+k, "is missing; %s", sharingHint[k])
				ok = false
				continue
			}
			v, good := l.str(e.val, path+"."+k)
			if good && strings.TrimSpace(v) == "" {
				l.errorf(e.val, path+"."+k, "is empty; %s", sharingHint[k])
				good = false
			}
			ok = ok && good
			vals[k] = v
			s.fieldLine[k] = e.val.Line
		}
		if !ok {
			continue
		}
		s.Name, s.Source, s.Rule, s.Destination, s.Target = vals["name"], vals["source"], vals["rule"], vals["destination"], vals["target"]
		if first, dup := names[s.Name]; dup {
			l.errorf(m["name"].val, path+".name", "%q is used twice (first at line %d); give each sharing configuration its own name", s.Name, first)
			continue
		}
		names[s.Name] = m["name"].val.Line
		if !validName(s.Name) {
			l.errorf(m["name"].val, path+".name", "%q is not a usable name; use letters, digits, '-', '_' and '.', at most 64", clipRef(s.Name))
			continue
		}
		good := l.sharingPlugin(cfg, m["source"].val, path+".source", s.Source, true)
		good = l.sharingPlugin(cfg, m["destination"].val, path+".destination", s.Destination, false) && good
		if slices.Contains(l.brokenRules, s.Rule) {
			good = false
		} else if _, found := cfg.Rule(s.Rule); !found {
			good = false
			rules := make([]string, len(cfg.Rules))
			for i, r := range cfg.Rules {
				rules[i] = r.Name
			}
			l.errorf(m["rule"].val, path+".rule", "no rule named %q%s; rules: %s", s.Rule, suggest(s.Rule, rules), listOrNone(rules))
		}
		if good && s.Source == s.Destination {
			l.errorf(m["destination"].val, path+".destination", "is the source %q; a sharing configuration goes from one plugin to another", s.Source)
			good = false
		}
		if good {
			out = append(out, s)
		}
	}
	return out
}

var sharingHint = map[string]string{
	"name":        "write a name for this sharing configuration, e.g. name: mimecast-to-netskope",
	"source":      "write the plugin the indicators come from, e.g. source: mimecast",
	"rule":        "write the name of a rule under rules:",
	"destination": "write the plugin to share to, e.g. destination: netskope",
	"target":      "write a target of the destination (cte targets NAME lists them), e.g. target: operation/BLOCK",
}

func (l *loader) sharingPlugin(cfg *Config, n *yaml.Node, path, name string, source bool) bool {
	p, ok := cfg.Plugin(name)
	if !ok {
		names := make([]string, len(cfg.Plugins))
		for i, p := range cfg.Plugins {
			names[i] = p.Name
		}
		l.errorf(n, path, "no plugin named %q%s; plugins: %s", name, suggest(name, names), listOrNone(names))
		return false
	}
	d, ok := l.reg.Driver(p.Type)
	if !ok {
		return false // reported under plugins
	}
	if source && !d.Manifest.Capabilities.Pull {
		l.errorf(n, path, "plugin %q (%s) cannot pull indicators; pick another source", name, p.Type)
		return false
	}
	if !source && !d.Manifest.Capabilities.Push {
		l.errorf(n, path, "plugin %q (%s) cannot receive indicators; pick another destination", name, p.Type)
		return false
	}
	return true
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none defined"
	}
	return strings.Join(names, ", ")
}

// suggest returns `; did you mean "x"?` for the known word closest to s, when
// one is close enough to be a typing mistake.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// OpenPlugin opens one configured plugin through reg. A configuration the driver
// refuses is reported like a file problem, at the line of the key it names.
func (c *Config) OpenPlugin(ctx context.Context, reg *cte.Registry, p *PluginConfig, opts ...cte.Option) (cte.Plugin, error) {
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
	return nil, ConfigErrors(l.errs)
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
