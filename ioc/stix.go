package ioc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// STIX 2.1 bundles carry indicators between cte and other tools: WriteSTIX exports
// indicators as STIX 2.1 Indicator objects with STIX patterns, and ReadSTIX reads
// the equality comparisons of a bundle's indicator patterns (STIX 2.0 or 2.1) back
// into indicators.

// stixNamespace makes indicator ids deterministic: the same type and value always
// get the same id, so a consumer updates an indicator instead of duplicating it.
var stixNamespace = uuid.MustParse("6d4b1a0e-9c9b-5d1e-8f55-6374652d6374")

// STIXID returns the deterministic STIX id of an indicator.
func STIXID(t Type, value string) string {
	return "indicator--" + uuid.NewSHA1(stixNamespace, []byte(t.String()+":"+value)).String()
}

type stixIndicator struct {
	Type           string   `json:"type"`
	SpecVersion    string   `json:"spec_version,omitempty"`
	ID             string   `json:"id"`
	Created        string   `json:"created,omitempty"`
	Modified       string   `json:"modified,omitempty"`
	Name           string   `json:"name,omitempty"`
	Description    string   `json:"description,omitempty"`
	IndicatorTypes []string `json:"indicator_types,omitempty"`
	Pattern        string   `json:"pattern,omitempty"`
	PatternType    string   `json:"pattern_type,omitempty"`
	ValidFrom      string   `json:"valid_from,omitempty"`
	ValidUntil     string   `json:"valid_until,omitempty"`
	Labels         []string `json:"labels,omitempty"`
	Confidence     *int     `json:"confidence,omitempty"`
	Severity       string   `json:"x_cte_severity,omitempty"`
	Source         string   `json:"x_cte_source,omitempty"`
}

type stixBundle struct {
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	Objects []json.RawMessage `json:"objects"`
}

const stixTime = "2006-01-02T15:04:05.000Z"

func stixTimeOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(stixTime)
}

// patternOf returns the STIX pattern matching one indicator.
func patternOf(t Type, v string) (string, error) {
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)
	switch t {
	case TypeSHA256:
		return "[file:hashes.'SHA-256' = '" + q + "']", nil
	case TypeMD5:
		return "[file:hashes.MD5 = '" + q + "']", nil
	case TypeURL:
		return "[url:value = '" + q + "']", nil
	case TypeDomain, TypeHostname:
		return "[domain-name:value = '" + q + "']", nil
	case TypeIPv4:
		return "[ipv4-addr:value = '" + q + "']", nil
	case TypeIPv6:
		return "[ipv6-addr:value = '" + q + "']", nil
	}
	return "", fmt.Errorf("ioc: no STIX pattern for type %v", t)
}

// WriteSTIX writes in as one STIX 2.1 bundle of Indicator objects. Ids are
// deterministic (STIXID); created and modified are the indicator's firstSeen and
// lastSeen (now when unset), valid_from its firstSeen, valid_until its expiry; tags
// become labels, reputation (1–10) confidence (10–100), and severity and source are
// kept as x_cte_severity and x_cte_source. Indicators are written in the order given.
func WriteSTIX(w io.Writer, in []Indicator, now time.Time) error {
	objs := make([]json.RawMessage, 0, len(in))
	for _, ind := range in {
		pat, err := patternOf(ind.Type, ind.Value)
		if err != nil {
			return err
		}
		first, last := ind.FirstSeen, ind.LastSeen
		if first.IsZero() {
			first = now
		}
		if last.IsZero() || last.Before(first) {
			last = first
		}
		conf := ind.Rep() * 10
		o := stixIndicator{
			Type: "indicator", SpecVersion: "2.1", ID: STIXID(ind.Type, ind.Value),
			Created: stixTimeOf(first), Modified: stixTimeOf(last),
			Name: ind.Value, Description: ind.Comments,
			IndicatorTypes: []string{"malicious-activity"},
			Pattern:        pat, PatternType: "stix",
			ValidFrom: stixTimeOf(first), Labels: ind.Tags, Confidence: &conf,
			Severity: ind.Severity.String(), Source: ind.Source,
		}
		if ind.ExpiresAt.After(first) {
			o.ValidUntil = stixTimeOf(ind.ExpiresAt)
		}
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		objs = append(objs, b)
	}
	id := uuid.NewSHA1(stixNamespace, []byte(now.UTC().Format(time.RFC3339Nano)+fmt.Sprint(len(in))))
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(stixBundle{Type: "bundle", ID: "bundle--" + id.String(), Objects: objs})
}

// STIXResult is what ReadSTIX found.
type STIXResult struct {
	Indicators []Indicator
	// Skipped counts indicator objects and comparisons that give no indicator, by
	// reason (a pattern type other than stix, an object path cte does not map, a
	// value that fails Parse).
	Skipped map[string]int
}

func (r *STIXResult) skip(reason string) {
	if r.Skipped == nil {
		r.Skipped = map[string]int{}
	}
	r.Skipped[reason]++
}

// ErrSTIX is wrapped by ReadSTIX's errors.
var ErrSTIX = errors.New("not a STIX bundle")

// ReadSTIX reads a STIX 2.0 or 2.1 bundle (at most limit bytes). Each indicator
// object whose pattern compares a file hash (MD5, SHA-256), url, domain-name or
// IP address with = gives one indicator per comparison, normalised by Parse; a
// pattern joining several comparisons with OR or AND gives each of them.
// Comments come from description (else name), tags from labels, firstSeen from
// valid_from (else created), lastSeen from modified, expiry from valid_until,
// severity and source from cte's own x_cte_ properties when present.
func ReadSTIX(r io.Reader, limit int64) (STIXResult, error) {
	var res STIXResult
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return res, err
	}
	if int64(len(body)) > limit {
		return res, fmt.Errorf("ioc: STIX bundle larger than %d bytes", limit)
	}
	var b stixBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return res, fmt.Errorf("ioc: %w: %v", ErrSTIX, err)
	}
	if b.Type != "bundle" {
		return res, fmt.Errorf("ioc: %w: type is %q, want bundle", ErrSTIX, Truncate(b.Type, 80))
	}
	for _, raw := range b.Objects {
		var o stixIndicator
		if err := json.Unmarshal(raw, &o); err != nil || o.Type != "indicator" {
			continue
		}
		if o.PatternType != "" && o.PatternType != "stix" {
			res.skip("pattern type " + Truncate(o.PatternType, 80))
			continue
		}
		base := Indicator{Comments: o.Description, Tags: slices.Clone(o.Labels), Source: o.Source}
		if base.Comments == "" && o.Name != "" {
			base.Comments = o.Name
		}
		base.FirstSeen = firstTime(o.ValidFrom, o.Created)
		base.LastSeen = firstTime(o.Modified, o.ValidFrom, o.Created)
		base.ExpiresAt = firstTime(o.ValidUntil)
		if s, err := ParseSeverity(o.Severity); err == nil {
			base.Severity = s
		}
		if o.Confidence != nil && *o.Confidence > 0 {
			base.Reputation = min(max((*o.Confidence+9)/10, 1), 10)
		}
		comps := PatternComparisons(o.Pattern)
		if len(comps) == 0 {
			res.skip("pattern compares nothing cte maps")
		}
		for _, c := range comps {
			typ, ok := stixPathType(c.Path)
			if !ok {
				res.skip("object path " + Truncate(c.Path, 80))
				continue
			}
			typ, v, err := Normalize(typ, c.Value)
			if err != nil {
				res.skip(fmt.Sprintf("invalid %s", typ))
				continue
			}
			ind := base
			ind.Type, ind.Value = typ, v
			ind.Tags = slices.Clone(base.Tags)
			res.Indicators = append(res.Indicators, ind)
		}
	}
	return res, nil
}

func firstTime(vals ...string) time.Time {
	for _, s := range vals {
		if s == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func stixPathType(path string) (Type, bool) {
	p := strings.ToLower(strings.ReplaceAll(path, "'", ""))
	p = strings.ReplaceAll(p, `"`, "")
	switch p {
	case "file:hashes.sha-256", "file:hashes.sha256":
		return TypeSHA256, true
	case "file:hashes.md5":
		return TypeMD5, true
	case "url:value":
		return TypeURL, true
	case "domain-name:value":
		return TypeDomain, true
	case "ipv4-addr:value":
		return TypeIPv4, true
	case "ipv6-addr:value":
		return TypeIPv6, true
	}
	return 0, false
}

// Comparison is one "<object path> = '<value>'" of a STIX pattern.
type Comparison struct {
	Path  string // e.g. file:hashes.'SHA-256'
	Value string // unescaped
}

// PatternComparisons returns the equality comparisons of a STIX pattern, in order.
// Other operators, and comparisons whose value is not a string, are left out. It
// never fails: a malformed pattern yields what could be read before the fault.
func PatternComparisons(pattern string) []Comparison {
	var out []Comparison
	path, op := "", ""
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[' || c == ']' || c == '(' || c == ')':
			path, op = "", ""
			i++
		case c == '\'':
			s, next, ok := readQuoted(pattern, i)
			if !ok {
				return out
			}
			if path != "" && op == "=" {
				out = append(out, Comparison{Path: path, Value: s})
			}
			path, op = "", ""
			i = next
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			for j < len(pattern) && (pattern[j] == '=' || pattern[j] == '<' || pattern[j] == '>') {
				j++
			}
			op = pattern[i:j]
			i = j
		default:
			j := i
			for j < len(pattern) {
				d := pattern[j]
				if d == '\'' && j > i && pattern[j-1] == '.' {
					_, next, ok := readQuoted(pattern, j)
					if !ok {
						return out
					}
					j = next
					continue
				}
				if d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '=' || d == '!' || d == '<' || d == '>' || d == '[' || d == ']' || d == '(' || d == ')' || d == '\'' {
					break
				}
				j++
			}
			word := pattern[i:j]
			if strings.Contains(word, ":") {
				path, op = word, ""
			} else {
				path, op = "", "" // a keyword (AND, OR, LIKE, ...) or a non-string value
			}
			i = j
		}
	}
	return out
}

// readQuoted reads the STIX string literal starting at p[i] == '\” and returns its
// unescaped value and the index after it.
func readQuoted(p string, i int) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			if j+1 >= len(p) {
				return "", 0, false
			}
			j++
			b.WriteByte(p[j])
		case '\'':
			return b.String(), j + 1, true
		default:
			b.WriteByte(p[j])
		}
	}
	return "", 0, false
}
