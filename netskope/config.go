package netskope

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
)

// Alert types the plugin pulls, as the Data Export iterator names them.
const (
	AlertMalware = "malware" // file hashes of malware detections
	AlertMalsite = "malsite" // URLs of malicious sites
)

// Limits of the tenant and the defaults of Config.
const (
	// MaxListMB is the largest File Hash List, as the comma-joined list string, in MiB.
	MaxListMB = 8
	// MaxListEntries is the most hashes one push sends, as the reference plugin does.
	MaxListEntries = 300000
	// MaxInitialRangeDays bounds Config.InitialRangeDays.
	MaxInitialRangeDays = 365
	// DefaultInitialRangeDays is how far back the first pull starts.
	DefaultInitialRangeDays = 7
)

// Config is the configuration of a Client and its Plugin; ParseConfig reads it from
// the driver's JSON form (keys as in the manifest). Built in Go, zero fields take
// defaults: nil AlertTypes and HashTypes mean both, nil FileHashListTypes means
// sha256, zero MaxListMB means 8; an empty non-nil slice means none. A zero
// InitialRangeDays starts the first pull now (the manifest's default is 7).
type Config struct {
	// TenantURL is the tenant, https://<name>.goskope.com or a regional host. A bare
	// tenant name such as "acme" means https://acme.goskope.com; see ParseTenantURL.
	TenantURL string `json:"tenant_url"`
	// V2Token is the REST API v2 token, sent in the Netskope-Api-Token header. It needs
	// the Data Export alerts scopes to pull and the URL list (Read+Write) scope to push.
	V2Token cte.Secret `json:"v2_token"`
	// V1Token is the REST API v1 token, only needed to update File Hash Lists. It is
	// sent in the request body, never in a URL.
	V1Token cte.Secret `json:"v1_token"`
	// AlertTypes are the alert types pulled: AlertMalware, AlertMalsite.
	AlertTypes []string `json:"alert_types"`
	// HashTypes are the hash types taken from malware alerts: ioc.TypeSHA256, ioc.TypeMD5.
	HashTypes []ioc.Type `json:"hash_types"`
	// InitialRangeDays is how many days back the first pull starts (0–365; 0 = now).
	InitialRangeDays int `json:"initial_range_days"`
	// FileHashLists are the names of the File Profile hash lists to push to. The API
	// cannot list them, so the admin names them here; matching is case-sensitive.
	FileHashLists []string `json:"file_hash_lists"`
	// FileHashListTypes are the hash types those lists take (default sha256 only).
	FileHashListTypes []ioc.Type `json:"file_hash_list_types"`
	// MaxListMB caps a File Hash List, as the comma-joined list, in MiB (1–8).
	MaxListMB int `json:"max_list_mb"`
}

// JSON returns the configuration in the driver's JSON form, secrets included:
// what cte.Registry.Open (and ParseConfig) reads. It is the one way to turn a
// Config into that form (json.Marshal writes the same keys but redacts the
// tokens); keep its result where secrets belong and never log it. Zero fields are
// left out, so they take the manifest's defaults, except InitialRangeDays, whose 0
// (start now) is written.
func (c Config) JSON() (json.RawMessage, error) {
	w := map[string]any{"initial_range_days": c.InitialRangeDays}
	for k, v := range map[string]string{"tenant_url": c.TenantURL, "v2_token": c.V2Token.Reveal(), "v1_token": c.V1Token.Reveal()} {
		if v != "" {
			w[k] = v
		}
	}
	for k, v := range map[string]any{"alert_types": c.AlertTypes, "hash_types": c.HashTypes, "file_hash_lists": c.FileHashLists, "file_hash_list_types": c.FileHashListTypes} {
		if !reflect.ValueOf(v).IsNil() {
			w[k] = v
		}
	}
	if c.MaxListMB != 0 {
		w["max_list_mb"] = c.MaxListMB
	}
	return json.Marshal(w)
}

// ParseTenantURL normalises a tenant to scheme://host with no trailing slash. It takes
// a full URL such as https://acme.goskope.com, a host such as acme.eu.goskope.com, or
// a bare tenant name such as acme (which becomes https://acme.goskope.com). A path,
// query, fragment or user info is an error; plain http is accepted only for loopback
// hosts (test servers).
func ParseTenantURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("empty: write the tenant URL, e.g. https://acme.goskope.com, or the tenant name acme")
	}
	if !strings.Contains(s, "://") {
		host := strings.TrimSuffix(s, "/")
		if host == "" || strings.ContainsAny(host, "/?#@ ") {
			return nil, fmt.Errorf("%q is neither a tenant name nor a URL: write it like https://acme.goskope.com", ioc.Truncate(raw, 80))
		}
		if !strings.Contains(host, ".") && !strings.Contains(host, ":") {
			host += ".goskope.com"
		}
		s = "https://" + host
	}
	u, err := httpx.CheckBaseURL(s)
	if err != nil {
		return nil, err
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("%q has a path, query or fragment: write only the tenant, like https://%s", ioc.Truncate(raw, 80), u.Host)
	}
	if u.Opaque != "" || strings.ContainsAny(u.Host, " ") {
		return nil, fmt.Errorf("%q is not a tenant URL: write it like https://acme.goskope.com", ioc.Truncate(raw, 80))
	}
	return &url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host)}, nil
}

// Validate checks the configuration. Errors are *cte.ConfigError values naming the
// key and what to write instead; they never carry a token.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, reason string, args ...any) {
		errs = append(errs, &cte.ConfigError{Field: field, Reason: fmt.Sprintf(reason, args...)})
	}
	if _, err := ParseTenantURL(c.TenantURL); err != nil {
		bad("tenant_url", "%s", err.Error())
	}
	if c.V2Token == "" {
		bad("v2_token", "required: create a REST API v2 token (Settings > Tools > REST API v2, or an RBAC service account) with the Data Export alerts and URL list scopes")
	} else if err := tokenShape(c.V2Token); err != "" {
		bad("v2_token", "%s", err)
	}
	if c.V1Token != "" {
		if err := tokenShape(c.V1Token); err != "" {
			bad("v1_token", "%s", err)
		}
	}
	for _, a := range c.AlertTypes {
		if a != AlertMalware && a != AlertMalsite {
			bad("alert_types", "%q is not an alert type: write malware, malsite or both", ioc.Truncate(a, 80))
		}
	}
	for _, t := range c.HashTypes {
		if !t.IsHash() {
			bad("hash_types", "%s is not a hash type: write sha256, md5 or both", t)
		}
	}
	if c.InitialRangeDays < 0 || c.InitialRangeDays > MaxInitialRangeDays {
		bad("initial_range_days", "%d is out of range: write 0 to %d", c.InitialRangeDays, MaxInitialRangeDays)
	}
	seen := map[string]bool{}
	for _, n := range c.FileHashLists {
		switch {
		case strings.TrimSpace(n) == "":
			bad("file_hash_lists", "an empty list name: write the names of the File Profile hash lists, separated by commas")
		case seen[n]:
			bad("file_hash_lists", "%q is named twice", ioc.Truncate(n, 80))
		}
		seen[n] = true
	}
	if len(c.FileHashLists) > 0 && len(c.FileHashListTypes) == 0 {
		bad("file_hash_list_types", "empty: write the hash types the lists take, sha256 and/or md5")
	}
	for _, t := range c.FileHashListTypes {
		if !t.IsHash() {
			bad("file_hash_list_types", "%s is not a hash type: write sha256, md5 or both", t)
		}
	}
	if c.MaxListMB < 1 || c.MaxListMB > MaxListMB {
		bad("max_list_mb", "%d is out of range: write 1 to %d (the tenant takes at most %d MiB per list)", c.MaxListMB, MaxListMB, MaxListMB)
	}
	return errors.Join(errs...)
}

// tokenShape rejects values that cannot be a token, without echoing them.
func tokenShape(s cte.Secret) string {
	v := s.Reveal()
	if strings.TrimSpace(v) != v {
		return "the token has leading or trailing spaces: paste it again without them"
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "the token contains spaces or characters outside printable ASCII: paste it again"
		}
	}
	return ""
}

// rawConfig is the JSON form of Config, as the manifest normalises it.
type rawConfig struct {
	TenantURL         string     `json:"tenant_url"`
	V2Token           string     `json:"v2_token"`
	V1Token           string     `json:"v1_token"`
	AlertTypes        stringList `json:"alert_types"`
	HashTypes         stringList `json:"hash_types"`
	InitialRangeDays  *float64   `json:"initial_range_days"`
	FileHashLists     stringList `json:"file_hash_lists"`
	FileHashListTypes stringList `json:"file_hash_list_types"`
	MaxListMB         *float64   `json:"max_list_mb"`
}

// stringList reads a JSON array of strings or one comma-separated string.
type stringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *stringList) UnmarshalJSON(b []byte) error {
	var ss []string
	if err := json.Unmarshal(b, &ss); err == nil {
		*l = ss
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a list of strings or one comma-separated string")
	}
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// ParseConfig reads a configuration in the driver's JSON form (see Driver) and
// validates it. Absent keys take the manifest's defaults.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(raw, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Config{}, &cte.ConfigError{Field: te.Field, Reason: "got a JSON " + te.Value + ", want the type the manifest gives"}
		}
		return Config{}, &cte.ConfigError{Reason: "the netskope configuration must be a JSON object (" + jsonReason(err) + ")"}
	}
	c := Config{
		TenantURL:        r.TenantURL,
		V2Token:          cte.Secret(strings.TrimSpace(r.V2Token)),
		V1Token:          cte.Secret(strings.TrimSpace(r.V1Token)),
		InitialRangeDays: DefaultInitialRangeDays,
		FileHashLists:    r.FileHashLists,
	}
	var errs []error
	if r.AlertTypes != nil {
		c.AlertTypes = lower(r.AlertTypes)
		slices.Sort(c.AlertTypes)
		c.AlertTypes = slices.Compact(c.AlertTypes)
	}
	var err error
	if r.HashTypes != nil {
		if c.HashTypes, err = hashTypes("hash_types", r.HashTypes); err != nil {
			errs = append(errs, err)
		}
	}
	if r.FileHashListTypes != nil {
		if c.FileHashListTypes, err = hashTypes("file_hash_list_types", r.FileHashListTypes); err != nil {
			errs = append(errs, err)
		}
	}
	if r.InitialRangeDays != nil {
		if c.InitialRangeDays, err = whole("initial_range_days", *r.InitialRangeDays); err != nil {
			errs = append(errs, err)
		}
	}
	if r.MaxListMB != nil {
		if c.MaxListMB, err = whole("max_list_mb", *r.MaxListMB); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// withDefaults fills the fields a caller may leave zero: nil AlertTypes and HashTypes
// mean both, nil FileHashListTypes means sha256, zero MaxListMB means 8. An empty
// non-nil slice means none. A zero InitialRangeDays means "start now".
func (c Config) withDefaults() Config {
	if c.AlertTypes == nil {
		c.AlertTypes = []string{AlertMalsite, AlertMalware}
	}
	if c.HashTypes == nil {
		c.HashTypes = []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}
	}
	if c.FileHashListTypes == nil {
		c.FileHashListTypes = []ioc.Type{ioc.TypeSHA256}
	}
	if c.MaxListMB == 0 {
		c.MaxListMB = MaxListMB
	}
	return c
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}

func hashTypes(field string, names []string) ([]ioc.Type, error) {
	out := []ioc.Type{}
	for _, n := range names {
		t, err := ioc.ParseType(strings.TrimSpace(n))
		if err != nil || !t.IsHash() {
			return nil, &cte.ConfigError{Field: field, Reason: fmt.Sprintf("%q is not a hash type: write sha256, md5 or both", ioc.Truncate(n, 80))}
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

func whole(field string, f float64) (int, error) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, &cte.ConfigError{Field: field, Reason: fmt.Sprintf("%g is not a whole number", f)}
	}
	return int(f), nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	}
	return "not valid JSON"
}
