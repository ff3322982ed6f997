package main

import (
	"fmt"
	"iter"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/rule"
)

type loader struct {
	file    string
	env     func(string) (string, bool)
	reg     *cte.Registry
	errs    []*lineError
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
	l.errs = append(l.errs, &lineError{File: l.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(n *yaml.Node, path, format string, args ...any) {
	e := &lineError{File: l.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
	l.warns = append(l.warns, e.Error())
}

func (l *loader) addSecret(s string) {
	for _, v := range []string{s, strings.TrimSpace(s)} { // trimmed as the value is used (a secret file's newline)
		if len(v) >= 4 && !slices.Contains(l.secrets, v) {
			l.secrets = append(l.secrets, v)
		}
	}
}

var topKeys = []string{"state", "log_retention", "plugins", "rules", "sharing", "lease"}

func (l *loader) parse(data []byte) *config {
	cfg := &config{Path: l.file}
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
		if s, ok := l.stateStr(n.val); ok {
			if s == "" {
				l.errorf(n.val, "state", "is empty; write the path of the state file, e.g. %s", defaultState)
			}
			state = s
		}
	}
	if isPostgres(state) {
		l.postgresState(m["state"].val, state)
	} else if !filepath.IsAbs(state) {
		state = filepath.Join(filepath.Dir(l.file), state)
	}
	cfg.State = state
	cfg.Lease = l.lease(m, state)
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
	return l.optionalDuration(m, "log_retention", sharing.DefaultLogRetention, func(n *yaml.Node, s string, _ time.Duration, err error) bool {
		switch {
		case strings.HasPrefix(strings.TrimSpace(s), "-"):
			l.errorf(n, "log_retention", "%q is negative; write how long to keep audit entries, e.g. 30d, or 0 to keep them all", s)
		case err != nil:
			l.errorf(n, "log_retention", "%q is not a duration; write e.g. 30d or 2160h, or 0 to keep every audit entry", s)
		default:
			return true
		}
		return false
	})
}

// optionalDuration reads the optional top-level key of m as a duration. It returns
// def when the key is absent, not a single value, or refused by check; check gets the
// key's node, its text s and what parsing s gave (d, err), reports what is wrong
// and says whether d stands.
func (l *loader) optionalDuration(m map[string]entry, key string, def time.Duration, check func(n *yaml.Node, s string, d time.Duration, err error) bool) time.Duration {
	n, ok := m[key]
	if !ok {
		return def
	}
	s, ok := l.str(n.val, key)
	if !ok {
		return def
	}
	d, err := parseDuration(s)
	if !check(n.val, s, d, err) {
		return def
	}
	return d
}

// yamlError turns "yaml: line 3: did not find expected key" into a lineError.
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
	l.errs = append(l.errs, &lineError{File: l.file, Line: line, Msg: "not valid YAML: " + msg})
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
	s, err := expand(n.Value, l.lookup(nil))
	if err != nil {
		l.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// stateStr is str for the state: in a postgres:// URL, what a ${VAR} of the
// user info gives is escaped as a URL's user and password are, so that a
// password from the environment holding '#', '/', '?', '@' or '%' is the
// password the database gets (the URL was refused, or "ab%41cd" arrived as
// "abAcd").
func (l *loader) stateStr(n *yaml.Node) (string, bool) {
	raw := n.Value
	if n.Kind != yaml.ScalarNode || !isPostgres(raw) || !strings.Contains(raw, "${") {
		return l.str(n, "state")
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	at := userInfoEnd(rest)
	if at < 0 {
		return l.str(n, "state")
	}
	user, pass, hasPass := cutOutside(rest[:at], ':')
	esc := func(part string, escape func(string) string) (string, bool) {
		s, err := expand(part, l.lookup(escape))
		if err != nil {
			l.errorf(n, "state", "%v", err)
			return "", false
		}
		return s, true
	}
	u, ok := esc(user, func(v string) string { return url.User(v).String() })
	if !ok {
		return "", false
	}
	info := u
	if hasPass {
		p, ok := esc(pass, func(v string) string { return strings.TrimPrefix(url.UserPassword("u", v).String(), "u:") })
		if !ok {
			return "", false
		}
		info += ":" + p
	}
	tail, ok := l.strOf(n, rest[at:])
	if !ok {
		return "", false
	}
	return scheme + "://" + info + tail, true
}

// userInfoEnd returns the index of the '@' that ends the user info of the
// URL rest (after "://"), -1 when it has none; ${...} references are
// skipped whole.
func userInfoEnd(rest string) int {
	at := -1
	for i := 0; i < len(rest); i++ {
		switch {
		case strings.HasPrefix(rest[i:], "${"):
			end := strings.IndexByte(rest[i:], '}')
			if end < 0 {
				return at
			}
			i += end
		case rest[i] == '@':
			at = i
		case rest[i] == '/' || rest[i] == '?' || rest[i] == '#':
			return at
		}
	}
	return at
}

// cutOutside cuts s at the first sep outside ${...}.
func cutOutside(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i:], '}'); end >= 0 {
				i += end
				continue
			}
			break
		}
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// strOf is str for a part s of node n's value.
func (l *loader) strOf(n *yaml.Node, s string) (string, bool) {
	part := *n
	part.Value = s
	return l.str(&part, "state")
}

// lookup returns the environment of expand, which notes each value (kept
// out of every output) and gives it through escape when not nil.
func (l *loader) lookup(escape func(string) string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := l.env(name)
		if len(v) >= 4 && !slices.Contains(l.envValues, v) {
			l.envValues = append(l.envValues, v)
		}
		if escape != nil {
			v = escape(v)
		}
		return v, ok
	}
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

// namedMappings yields the path and entry of each name of the mapping n at section
// (plugins, rules) whose name is usable and whose value is a mapping, reporting the
// others with the keys they may have. It is lazy, so the caller's own reports about
// an entry come before those about the entries after it.
func (l *loader) namedMappings(n *yaml.Node, section string, keys []string) iter.Seq2[string, entry] {
	return func(yield func(string, entry) bool) {
		for _, e := range l.orderedMapping(n, section) {
			path := section + "." + e.key.Value
			if !l.checkName(e.key, path) {
				continue
			}
			if e.val.Kind != yaml.MappingNode {
				l.errorf(e.val, path, "must be a mapping with the keys %s", strings.Join(keys, ", "))
				continue
			}
			if !yield(path, e) {
				return
			}
		}
	}
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

// parseDuration reads the duration grammar of the rule language (30d, 12h, 1w,
// 1d12h, 1h30m, 1.5d; see rule.ParseDuration), around spaces.
func parseDuration(s string) (time.Duration, error) {
	return rule.ParseDuration(strings.TrimSpace(s))
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
