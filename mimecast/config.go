package mimecast

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
)

// Auth modes of Config.Auth.
const (
	AuthHMAC  = "hmac"  // API 1.0: application id/key and access/secret key, HMAC-SHA1 signed
	AuthOAuth = "oauth" // API 2.0: OAuth2 client credentials
)

// Feed types of Config.FeedTypes.
const (
	FeedMalwareCustomer = "malware_customer" // hashes seen in this account's mail
	FeedMalwareGrid     = "malware_grid"     // hashes seen on the account's regional grid
	FeedMalsite         = "malsite"          // malicious URLs users clicked (URL Protect logs)
)

// GlobalAPI2 is the API 2.0 base URL used when an OAuth configuration names no region.
const GlobalAPI2 = "https://api.services.mimecast.com"

// Defaults of Config.
const (
	DefaultInitialRangeDays = 7
	// NoHistory as Config.InitialRangeDays makes the first pull start at its own
	// time (the manifest's initial_range_days 0).
	NoHistory       = -1
	DefaultProvider = "cte"
	DefaultOverlap  = time.Hour
	DefaultMaxPages = 500
	// MaxProviderLen is the longest provider label create-batch takes.
	MaxProviderLen = 10
	// MaxDescriptionLen is the longest hash description create-batch takes.
	MaxDescriptionLen = 20
)

// regions maps region codes (and the suffix of the admin console host
// login-<region>.mimecast.com) to API 1.0 hosts.
var regions = map[string]string{
	"us":  "https://us-api.mimecast.com",
	"usb": "https://usb-api.mimecast.com",
	"eu":  "https://eu-api.mimecast.com",
	"uk":  "https://eu-api.mimecast.com",
	"de":  "https://de-api.mimecast.com",
	"ca":  "https://ca-api.mimecast.com",
	"za":  "https://za-api.mimecast.com",
	"au":  "https://au-api.mimecast.com",
	"je":  "https://je-api.mimecast.com",
}

// regions2 maps region codes to the pinned API 2.0 instances; other regions use GlobalAPI2.
var regions2 = map[string]string{
	"us": "https://us-api.services.mimecast.com",
	"eu": "https://uk-api.services.mimecast.com",
	"uk": "https://uk-api.services.mimecast.com",
}

// Config is the configuration of a Client and its Plugin. The JSON keys are those of
// the manifest; secrets are cte.Secret, so they never print, not even through
// json.Marshal, which writes "[redacted]" for them. To open the plugin through a
// cte.Registry from a Config, pass Config.JSON: the one form that carries the
// secrets.
type Config struct {
	// BaseURL is the API base URL, a region code (us, usb, eu, de, ca, za, au, je) or
	// the admin console address (https://login-<region>.mimecast.com/...). Empty
	// means the global API 2.0 host for OAuth; HMAC needs a region.
	BaseURL string `json:"base_url"`
	// Auth is AuthHMAC or AuthOAuth; empty picks the mode whose credentials are set.
	Auth string `json:"auth"`

	AppID     string     `json:"app_id"`     // API 1.0 application id
	AppKey    cte.Secret `json:"app_key"`    // API 1.0 application key
	AccessKey cte.Secret `json:"access_key"` // API 1.0 access key
	SecretKey cte.Secret `json:"secret_key"` // API 1.0 secret key, base64

	ClientID     string     `json:"client_id"`     // API 2.0 client id
	ClientSecret cte.Secret `json:"client_secret"` // API 2.0 client secret

	FeedTypes []string   `json:"feed_types"` // default malware_customer, malware_grid
	HashTypes []ioc.Type `json:"hash_types"` // default sha256, md5
	// InitialRangeDays is how far back the first pull goes, 1–365 days; 0 means
	// DefaultInitialRangeDays and NoHistory (the manifest's 0) starts at the first
	// pull's time.
	InitialRangeDays int    `json:"initial_range_days"`
	Provider         string `json:"provider"` // provider label of pushed hashes, ≤10 chars

	// Overlap is how far before the newest timestamp of the checkpoint a pull resumes,
	// so late-arriving events are not missed. Default 1h. Not in the manifest.
	Overlap time.Duration `json:"-"`
	// FileType is the feed format asked for: FileCSV (default) or FileSTIX. Not in
	// the manifest.
	FileType string `json:"-"`
	// MaxPages caps the pages read per feed and pull. Default 500. Not in the manifest.
	MaxPages int `json:"-"`
}

// rawConfig is what Driver.Open receives: numbers may be JSON floats.
type rawConfig struct {
	BaseURL          string     `json:"base_url"`
	Auth             string     `json:"auth"`
	AppID            string     `json:"app_id"`
	AppKey           cte.Secret `json:"app_key"`
	AccessKey        cte.Secret `json:"access_key"`
	SecretKey        cte.Secret `json:"secret_key"`
	ClientID         string     `json:"client_id"`
	ClientSecret     cte.Secret `json:"client_secret"`
	FeedTypes        []string   `json:"feed_types"`
	HashTypes        []string   `json:"hash_types"`
	InitialRangeDays *float64   `json:"initial_range_days"`
	Provider         *string    `json:"provider"`
}

// ParseConfig decodes a JSON configuration (as cte.Manifest.Normalize returns it) and
// fills in defaults. It does not call Validate.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var rc rawConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rc); err != nil {
		return Config{}, &cte.ConfigError{Reason: "mimecast configuration is not a JSON object with the manifest's keys: " + jsonReason(err)}
	}
	cfg := Config{
		BaseURL: rc.BaseURL, Auth: rc.Auth, AppID: rc.AppID, AppKey: rc.AppKey, AccessKey: rc.AccessKey,
		SecretKey: rc.SecretKey, ClientID: rc.ClientID, ClientSecret: rc.ClientSecret,
		FeedTypes: rc.FeedTypes,
	}
	if rc.HashTypes != nil {
		cfg.HashTypes = []ioc.Type{}
		for _, h := range rc.HashTypes {
			t, err := ioc.ParseType(strings.TrimSpace(h))
			if err != nil || !t.IsHash() {
				return Config{}, &cte.ConfigError{Field: "hash_types", Reason: fmt.Sprintf("%q is not sha256 or md5", h)}
			}
			cfg.HashTypes = append(cfg.HashTypes, t)
		}
	}
	if rc.InitialRangeDays != nil {
		n := *rc.InitialRangeDays
		if n != math.Trunc(n) || n < 0 || n > 365 {
			return Config{}, &cte.ConfigError{Field: "initial_range_days", Reason: fmt.Sprintf("%g is not a whole number of days from 0 to 365", n)}
		}
		cfg.InitialRangeDays = int(n)
		if n == 0 {
			cfg.InitialRangeDays = NoHistory
		}
	}
	if rc.Provider != nil {
		cfg.Provider = *rc.Provider
	}
	return cfg.withDefaults(), nil
}

func jsonReason(err error) string {
	// encoding/json errors name fields and types, never values.
	return err.Error()
}

// defaultFeedTypes and defaultHashTypes are the defaults of Config.FeedTypes and
// Config.HashTypes, declared once for withDefaults and the manifest.
func defaultFeedTypes() []string   { return []string{FeedMalwareCustomer, FeedMalwareGrid} }
func defaultHashTypes() []ioc.Type { return []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5} }

// withDefaults fills unset fields. New and Validate apply it; the manifest declares
// the same defaults to a host's form from the same functions and constants.
func (c Config) withDefaults() Config {
	if c.FeedTypes == nil {
		c.FeedTypes = defaultFeedTypes()
	}
	if c.HashTypes == nil {
		c.HashTypes = defaultHashTypes()
	}
	if c.InitialRangeDays == 0 {
		c.InitialRangeDays = DefaultInitialRangeDays
	}
	if c.Provider == "" {
		c.Provider = DefaultProvider
	}
	if c.Overlap == 0 {
		c.Overlap = DefaultOverlap
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.Auth == "" {
		hmacSet := c.AppID != "" || c.AppKey != "" || c.AccessKey != "" || c.SecretKey != ""
		oauthSet := c.ClientID != "" || c.ClientSecret != ""
		switch {
		case oauthSet && !hmacSet:
			c.Auth = AuthOAuth
		case hmacSet && !oauthSet:
			c.Auth = AuthHMAC
		}
	}
	return c
}

// Validate checks the configuration without any I/O. Errors are *cte.ConfigError
// naming the field and what to write instead; secret values are never part of them.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch c.Auth {
	case AuthHMAC:
		for _, f := range []struct {
			key string
			set bool
		}{{"app_id", c.AppID != ""}, {"app_key", c.AppKey != ""}, {"access_key", c.AccessKey != ""}, {"secret_key", c.SecretKey != ""}} {
			if !f.set {
				return &cte.ConfigError{Field: f.key, Reason: "required for auth hmac (API 1.0): copy it from the Mimecast API application and its user binding"}
			}
		}
		if _, err := decodeSecretKey(c.SecretKey); err != nil {
			return err
		}
	case AuthOAuth:
		if c.ClientID == "" {
			return &cte.ConfigError{Field: "client_id", Reason: "required for auth oauth (API 2.0): copy it from the Mimecast API 2.0 application"}
		}
		if c.ClientSecret == "" {
			return &cte.ConfigError{Field: "client_secret", Reason: "required for auth oauth (API 2.0): copy it from the Mimecast API 2.0 application"}
		}
	case "":
		if c.ClientID != "" || c.ClientSecret != "" {
			return &cte.ConfigError{Field: "auth", Reason: "both API 1.0 keys (app_id, app_key, access_key, secret_key) and API 2.0 keys (client_id, client_secret) are set: set auth to hmac or oauth"}
		}
		return &cte.ConfigError{Field: "auth", Reason: "no credentials: set client_id and client_secret (API 2.0), or app_id, app_key, access_key and secret_key (API 1.0)"}
	default:
		return &cte.ConfigError{Field: "auth", Reason: fmt.Sprintf("%q is not hmac or oauth", c.Auth)}
	}
	if _, err := ResolveBaseURL(c.BaseURL, c.Auth); err != nil {
		return err
	}
	if len(c.FeedTypes) == 0 {
		return &cte.ConfigError{Field: "feed_types", Reason: "select at least one of malware_customer, malware_grid, malsite"}
	}
	for _, f := range c.FeedTypes {
		if f != FeedMalwareCustomer && f != FeedMalwareGrid && f != FeedMalsite {
			return &cte.ConfigError{Field: "feed_types", Reason: fmt.Sprintf("%q is not one of malware_customer, malware_grid, malsite", f)}
		}
	}
	if c.hashFeeds() && len(c.HashTypes) == 0 {
		return &cte.ConfigError{Field: "hash_types", Reason: "select sha256, md5 or both"}
	}
	for _, h := range c.HashTypes {
		if !h.IsHash() {
			return &cte.ConfigError{Field: "hash_types", Reason: fmt.Sprintf("%q is not sha256 or md5", h)}
		}
	}
	if c.InitialRangeDays > 365 || c.InitialRangeDays < NoHistory {
		return &cte.ConfigError{Field: "initial_range_days", Reason: fmt.Sprintf("%d is not a number of days from 0 to 365", c.InitialRangeDays)}
	}
	if n := utf8.RuneCountInString(c.Provider); n > MaxProviderLen {
		return &cte.ConfigError{Field: "provider", Reason: fmt.Sprintf("%q has %d characters; Mimecast takes at most %d", c.Provider, n, MaxProviderLen)}
	}
	if c.Overlap < 0 {
		return &cte.ConfigError{Field: "Overlap", Reason: fmt.Sprintf("%s is negative", c.Overlap)}
	}
	if c.FileType != "" && c.FileType != FileCSV && c.FileType != FileSTIX {
		return &cte.ConfigError{Field: "FileType", Reason: fmt.Sprintf("%q is not csv or stix", c.FileType)}
	}
	if c.MaxPages < 0 {
		return &cte.ConfigError{Field: "MaxPages", Reason: fmt.Sprintf("%d is negative", c.MaxPages)}
	}
	return nil
}

func (c Config) hashFeeds() bool {
	for _, f := range c.FeedTypes {
		if f == FeedMalwareCustomer || f == FeedMalwareGrid {
			return true
		}
	}
	return false
}

func decodeSecretKey(s cte.Secret) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Reveal()))
	if err != nil || len(key) == 0 {
		return nil, &cte.ConfigError{Field: "secret_key", Reason: "is not valid base64: paste the Secret Key exactly as Mimecast showed it when the keys were created"}
	}
	return key, nil
}

// ResolveBaseURL turns what an operator typed into the API base URL (no trailing
// slash). It accepts the base URL itself, a region code (us, usb, eu, uk, de, ca, za,
// au, je) or the admin console address https://login-<region>.mimecast.com/....
// For auth oauth, an empty value is the global API 2.0 host and a region code picks
// the pinned API 2.0 instance where there is one (us, eu/uk) and the global host
// elsewhere.
func ResolveBaseURL(raw, auth string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		if auth == AuthOAuth {
			return GlobalAPI2, nil
		}
		return "", &cte.ConfigError{Field: "base_url", Reason: "required for auth hmac: write the region (us, usb, eu, de, ca, za, au, je) or the API URL, e.g. https://us-api.mimecast.com"}
	}
	if r, ok := regionURL(strings.ToLower(s), auth); ok {
		return r, nil
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := httpx.CheckBaseURL(s)
	if err != nil {
		return "", &cte.ConfigError{Field: "base_url", Reason: err.Error()}
	}
	host := strings.ToLower(u.Hostname())
	if region, ok := strings.CutPrefix(host, "login-"); ok {
		region, _, _ = strings.Cut(region, ".")
		if r, ok := regionURL(region, auth); ok {
			return r, nil
		}
		return "", &cte.ConfigError{Field: "base_url", Reason: fmt.Sprintf("admin console host %q names no known region; write the region code (us, usb, eu, de, ca, za, au, je) instead", host)}
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return "", &cte.ConfigError{Field: "base_url", Reason: fmt.Sprintf("%q has a path or query: write only the scheme and host, e.g. %s://%s", u.Redacted(), u.Scheme, u.Host)}
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(), nil
}

func regionURL(region, auth string) (string, bool) {
	if _, ok := regions[region]; !ok {
		return "", false
	}
	if auth == AuthOAuth {
		if r, ok := regions2[region]; ok {
			return r, true
		}
		return GlobalAPI2, true
	}
	return regions[region], true
}

// Version is the plugin version reported in the manifest.
const Version = "1.0.0"

// JSON returns the configuration in the driver's JSON form, secrets included:
// what cte.Registry.Open (and ParseConfig) reads. It is the one way to turn a
// Config into that form (json.Marshal redacts the secrets); keep its result where
// secrets belong and never log it. Overlap, FileType and MaxPages are not part of
// the form.
func (c Config) JSON() (json.RawMessage, error) {
	w := map[string]any{}
	for k, v := range map[string]string{
		"base_url": c.BaseURL, "auth": c.Auth, "app_id": c.AppID, "client_id": c.ClientID, "provider": c.Provider,
		"app_key": c.AppKey.Reveal(), "access_key": c.AccessKey.Reveal(), "secret_key": c.SecretKey.Reveal(),
		"client_secret": c.ClientSecret.Reveal(),
	} {
		if v != "" {
			w[k] = v
		}
	}
	if c.FeedTypes != nil {
		w["feed_types"] = c.FeedTypes
	}
	if c.HashTypes != nil {
		w["hash_types"] = typeNames(c.HashTypes)
	}
	switch c.InitialRangeDays {
	case 0:
	case NoHistory:
		w["initial_range_days"] = 0
	default:
		w["initial_range_days"] = c.InitialRangeDays
	}
	return json.Marshal(w)
}

func typeNames(ts []ioc.Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}
