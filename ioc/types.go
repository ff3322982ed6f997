package ioc

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is the kind of an indicator.
type Type uint8

// Indicator types. The zero Type is invalid.
const (
	TypeSHA256 Type = iota + 1
	TypeMD5
	TypeURL
	TypeDomain
	TypeHostname
	TypeIPv4
	TypeIPv6
)

var typeNames = [...]string{"", "sha256", "md5", "url", "domain", "hostname", "ipv4", "ipv6"}

// Types lists every valid Type in order.
func Types() []Type {
	return []Type{TypeSHA256, TypeMD5, TypeURL, TypeDomain, TypeHostname, TypeIPv4, TypeIPv6}
}

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool { return t >= TypeSHA256 && t <= TypeIPv6 }

// String returns the lower-case name, e.g. "sha256".
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// IsHash reports whether t is a file hash type.
func (t Type) IsHash() bool { return t == TypeSHA256 || t == TypeMD5 }

// ParseType reads a type name, case-insensitively.
func ParseType(s string) (Type, error) {
	for i := 1; i < len(typeNames); i++ {
		if strings.EqualFold(s, typeNames[i]) {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("ioc: unknown type %q: want one of %s", Truncate(s, 80), strings.Join(typeNames[1:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("ioc: invalid type %d", uint8(t))
	}
	return []byte(typeNames[t]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Severity orders how bad an indicator is. The zero value is SeverityUnknown.
type Severity uint8

// Severities, in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "low", "medium", "high", "critical"}

// Valid reports whether s is a defined severity.
func (s Severity) Valid() bool { return s <= SeverityCritical }

// String returns the lower-case name, e.g. "high".
func (s Severity) String() string {
	if s.Valid() {
		return severityNames[s]
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// ParseSeverity reads a severity name, case-insensitively; "info" and
// "informational" read as low, and "" as unknown.
func ParseSeverity(s string) (Severity, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return SeverityUnknown, nil
	}
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	if strings.EqualFold(s, "info") || strings.EqualFold(s, "informational") {
		return SeverityLow, nil
	}
	return 0, fmt.Errorf("ioc: unknown severity %q: want one of %s", Truncate(s, 80), strings.Join(severityNames[:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("ioc: invalid severity %d", uint8(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// DefaultReputation is the reputation of an indicator that states none.
const DefaultReputation = 5

// Indicator is one indicator of compromise as a source reported it.
type Indicator struct {
	Type       Type      `json:"type"`
	Value      string    `json:"value"`
	Severity   Severity  `json:"severity"`
	Reputation int       `json:"reputation,omitempty"` // 1–10; 0 means DefaultReputation
	Comments   string    `json:"comments,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	FirstSeen  time.Time `json:"firstSeen,omitzero"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	Source     string    `json:"source,omitempty"` // configuration name, set by the engine
}

// Rep returns the reputation, DefaultReputation when unset, clamped to 1–10.
func (i Indicator) Rep() int {
	switch {
	case i.Reputation == 0:
		return DefaultReputation
	case i.Reputation < 1:
		return 1
	case i.Reputation > 10:
		return 10
	}
	return i.Reputation
}

// Merge combines two reports of the same value: firstSeen the earliest, lastSeen the
// latest, the highest severity and reputation, the union of tags (sorted), the
// comments of the latest report that has any (of two seen at the same time, the
// greater in byte order), and the latest expiry. Type, Value and Source come from a unless a leaves them empty.
// Neither input is modified. Merging a report again into what it was merged into
// changes nothing: a pull relies on it to leave out what it re-reads unchanged.
func Merge(a, b Indicator) Indicator {
	out := a
	if out.Type == 0 {
		out.Type = b.Type
	}
	if out.Value == "" {
		out.Value = b.Value
	}
	if out.Source == "" {
		out.Source = b.Source
	}
	out.FirstSeen = earliest(a.FirstSeen, b.FirstSeen)
	out.LastSeen = latest(a.LastSeen, b.LastSeen)
	out.ExpiresAt = latest(a.ExpiresAt, b.ExpiresAt)
	out.Severity = max(a.Severity, b.Severity)
	if b.Reputation != 0 && (a.Reputation == 0 || b.Reputation > a.Reputation) {
		out.Reputation = b.Reputation
	}
	// Comments: the report seen last wins, if it says anything; of two seen
	// at the same time, the greater (empty is the least).
	first, second := a, b
	if b.LastSeen.Before(a.LastSeen) || b.LastSeen.Equal(a.LastSeen) && b.Comments < a.Comments {
		first, second = b, a
	}
	out.Comments = first.Comments
	if second.Comments != "" {
		out.Comments = second.Comments
	}
	out.Tags = unionTags(a.Tags, b.Tags)
	return out
}

func unionTags(a, b []string) []string {
	if len(b) == 0 && len(a) == 0 {
		return nil
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Placeholder is the 64-"f" value Netskope file profiles are created with; it is
// never shared.
const Placeholder = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

// Hashes of the empty file, never shared: blocking them blocks every empty file.
const (
	EmptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// NeverShare reports whether a normalised value must never be pushed anywhere: the
// empty-file hashes and the Netskope placeholder, in its SHA256 and its MD5 form
// (32 "f", which an MD5-only list holds).
func NeverShare(value string) bool {
	switch value {
	case EmptyMD5, EmptySHA256, Placeholder, Placeholder[:32]:
		return true
	}
	return false
}
