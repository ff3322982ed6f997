package cte

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ctexchange/cte/ioc"
)

// FieldType is the kind of a configuration field, as a host renders it.
type FieldType string

// Field types.
const (
	FieldText        FieldType = "text"
	FieldPassword    FieldType = "password" // a secret: rendered masked, never echoed
	FieldNumber      FieldType = "number"
	FieldChoice      FieldType = "choice"
	FieldMultiChoice FieldType = "multichoice"
	// FieldList holds several free values, such as list names: a JSON array of
	// strings, or (for configurations written before) one comma-separated string.
	// Normalize returns it as an array, values trimmed, empty ones dropped.
	FieldList FieldType = "list"
	FieldBool FieldType = "bool"
)

// Choice is one option of a choice or multichoice field.
type Choice struct {
	Key   string `json:"key"`   // shown to people
	Value string `json:"value"` // stored in the configuration
}

// Field describes one configuration key.
type Field struct {
	Key         string    `json:"key"`
	Label       string    `json:"label"`
	Type        FieldType `json:"type"`
	Default     any       `json:"default,omitempty"`
	Required    bool      `json:"required,omitempty"`
	Choices     []Choice  `json:"choices,omitempty"`
	Min         *float64  `json:"min,omitempty"` // number fields
	Max         *float64  `json:"max,omitempty"` // number fields; for text, the longest length
	Description string    `json:"description,omitempty"`
}

// Capabilities says what a plugin can do.
type Capabilities struct {
	Pull    bool `json:"pull"`
	Push    bool `json:"push"`
	Retract bool `json:"retract"`
}

// Manifest describes a driver and its configuration form.
type Manifest struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Description  string       `json:"description"`
	Capabilities Capabilities `json:"capabilities"`
	Config       []Field      `json:"config"`
}

// Field returns the field with the given key.
func (m Manifest) Field(key string) (Field, bool) {
	for _, f := range m.Config {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

func (m Manifest) keys() []string {
	ks := make([]string, len(m.Config))
	for i, f := range m.Config {
		ks[i] = f.Key
	}
	return ks
}

// Normalize checks a JSON configuration against the manifest and returns it with the
// defaults of absent fields filled in. Unknown keys, missing required fields, values
// of the wrong type, choices not offered and numbers out of range are *ConfigError
// values naming the field; a password field's value is never part of an error.
func (m Manifest) Normalize(config json.RawMessage) (json.RawMessage, error) {
	values := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(config)) > 0 && !bytes.Equal(bytes.TrimSpace(config), []byte("null")) {
		if err := json.Unmarshal(config, &values); err != nil {
			return nil, &ConfigError{Reason: fmt.Sprintf("%s configuration must be a JSON object of key: value pairs (%v)", m.ID, jsonReason(err))}
		}
	}
	for k := range values {
		if _, ok := m.Field(k); !ok {
			return nil, &ConfigError{Field: k, Reason: fmt.Sprintf("unknown key for %s; known keys: %s", m.ID, strings.Join(m.keys(), ", "))}
		}
	}
	out := make(map[string]any, len(m.Config))
	for _, f := range m.Config {
		raw, ok := values[f.Key]
		if !ok || bytes.Equal(raw, []byte("null")) || (f.Type != FieldBool && f.Type != FieldNumber && isEmptyString(raw)) {
			if f.Required {
				return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("required (%s)", f.Label)}
			}
			if f.Default != nil {
				out[f.Key] = f.Default
			}
			continue
		}
		v, err := f.check(raw)
		if err != nil {
			return nil, err
		}
		out[f.Key] = v
	}
	return json.Marshal(out)
}

func isEmptyString(raw json.RawMessage) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) == ""
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return "got a JSON " + te.Value
	case errors.As(err, &se):
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	}
	return "not valid JSON"
}

func (f Field) shown(raw json.RawMessage) string {
	if f.Type == FieldPassword {
		return "the value given"
	}
	return ioc.Truncate(string(raw), 60)
}

func (f Field) check(raw json.RawMessage) (any, error) {
	bad := func(want string) error {
		return &ConfigError{Field: f.Key, Reason: fmt.Sprintf("%s is not %s", f.shown(raw), want)}
	}
	switch f.Type {
	case FieldText, FieldPassword, FieldChoice:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, bad("a string")
		}
		s = strings.TrimSpace(s)
		if f.Type == FieldPassword && s == redacted {
			return nil, &ConfigError{Field: f.Key, Reason: `is "` + redacted + `", what a secret prints as: json.Marshal of a typed configuration redacts its secrets; give the secret itself, e.g. from the plugin's Config.JSON`}
		}
		if f.Type == FieldChoice && !f.offers(s) {
			return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("%q is not one of %s", s, f.choiceList())}
		}
		if f.Type == FieldText && f.Max != nil && float64(len(s)) > *f.Max {
			return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("%q is longer than %g characters", s, *f.Max)}
		}
		return s, nil
	case FieldMultiChoice, FieldList:
		var ss []string
		if json.Unmarshal(raw, &ss) != nil {
			var one string
			if json.Unmarshal(raw, &one) != nil {
				return nil, bad("a list of strings (a JSON array, or one comma-separated string)")
			}
			ss = splitList(one)
		}
		out := make([]string, 0, len(ss))
		for _, v := range ss {
			v = strings.TrimSpace(v)
			if f.Type == FieldList && v == "" {
				continue
			}
			if f.Type == FieldMultiChoice && !f.offers(v) {
				return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("%q is not one of %s", v, f.choiceList())}
			}
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out, nil
	case FieldNumber:
		var n float64
		if json.Unmarshal(raw, &n) != nil || math.IsNaN(n) {
			return nil, bad("a number")
		}
		if (f.Min != nil && n < *f.Min) || (f.Max != nil && n > *f.Max) {
			return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("%g is out of range %s", n, f.rangeText())}
		}
		return n, nil
	case FieldBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, bad("true or false")
		}
		return b, nil
	}
	return nil, &ConfigError{Field: f.Key, Reason: fmt.Sprintf("manifest field type %q is unknown", f.Type)}
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (f Field) offers(v string) bool {
	for _, c := range f.Choices {
		if c.Value == v {
			return true
		}
	}
	return false
}

func (f Field) choiceList() string {
	vs := make([]string, len(f.Choices))
	for i, c := range f.Choices {
		vs[i] = c.Value
	}
	return strings.Join(vs, ", ")
}

func (f Field) rangeText() string {
	lo, hi := "-inf", "+inf"
	if f.Min != nil {
		lo = fmt.Sprint(*f.Min)
	}
	if f.Max != nil {
		hi = fmt.Sprint(*f.Max)
	}
	return lo + " to " + hi
}

// Validate checks the manifest itself: non-empty id and name, unique keys, known
// field types, choices for choice fields and defaults that pass their own field.
func (m Manifest) Validate() error {
	if m.ID == "" || m.Name == "" {
		return fmt.Errorf("cte: manifest needs an id and a name")
	}
	seen := map[string]bool{}
	for _, f := range m.Config {
		if f.Key == "" || seen[f.Key] {
			return fmt.Errorf("cte: manifest %s: empty or duplicate key %q", m.ID, f.Key)
		}
		seen[f.Key] = true
		if (f.Type == FieldChoice || f.Type == FieldMultiChoice) && len(f.Choices) == 0 {
			return fmt.Errorf("cte: manifest %s: %s field %q has no choices", m.ID, f.Type, f.Key)
		}
		if f.Default != nil {
			raw, err := json.Marshal(f.Default)
			if err != nil {
				return fmt.Errorf("cte: manifest %s: default of %q: %v", m.ID, f.Key, err)
			}
			if _, err := f.check(raw); err != nil {
				return fmt.Errorf("cte: manifest %s: default of %q: %w", m.ID, f.Key, err)
			}
		} else if _, err := f.check([]byte("null")); err != nil && strings.Contains(err.Error(), "unknown") {
			return fmt.Errorf("cte: manifest %s: %w", m.ID, err)
		}
	}
	return nil
}

// Float returns a pointer to v, for Field.Min and Field.Max.
func Float(v float64) *float64 { return &v }
