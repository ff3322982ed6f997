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

// Hash types of Config.HashTypes.
const (
	HashSHA256 = "sha256"
	HashMD5    = "md5"
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
// the manifest; secrets are cte.Secret so the value never prints.
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

	FeedTypes []string `json:"feed_types"` // default malware_customer, malware_grid
	HashTypes []string `json:"hash_types"` // default sha256, md5
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
		FeedTypes: rc.FeedTypes, HashTypes: rc.HashTypes,
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

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	if c.FeedTypes == nil {
		c.FeedTypes = []string{FeedMalwareCustomer, FeedMalwareGrid}
	}
	if c.HashTypes == nil {
		c.HashTypes = []string{HashSHA256, HashMD5}
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
		if h != HashSHA256 && h != HashMD5 {
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

// Manifest returns the driver manifest: the configuration form a host renders.
func Manifest() cte.Manifest {
	return cte.Manifest{
		ID:          "mimecast",
		Name:        "Mimecast",
		Version:     Version,
		Description: "Mimecast email security: pulls malware file hashes (threat-intel feed) and clicked malicious URLs; pushes hashes as Bring-Your-Own Threat Intelligence BLOCK/ALLOW/DELETE operations and URLs as managed URLs.",
		Capabilities: cte.Capabilities{
			Pull: true, Push: true, Retract: true,
		},
		Config: []cte.Field{
			{Key: "base_url", Label: "Base URL or region", Type: cte.FieldText,
				Description: "API base URL, region code (us, usb, eu, de, ca, za, au, je) or the admin console address https://login-<region>.mimecast.com/...; empty with OAuth means https://api.services.mimecast.com"},
			{Key: "auth", Label: "Authentication", Type: cte.FieldChoice,
				Choices:     []cte.Choice{{Key: "API 1.0 (HMAC keys)", Value: AuthHMAC}, {Key: "API 2.0 (OAuth2 client credentials)", Value: AuthOAuth}},
				Description: "default: whichever credential set is filled in"},
			{Key: "app_id", Label: "Application ID (API 1.0)", Type: cte.FieldText},
			{Key: "app_key", Label: "Application Key (API 1.0)", Type: cte.FieldPassword},
			{Key: "access_key", Label: "Access Key (API 1.0)", Type: cte.FieldPassword},
			{Key: "secret_key", Label: "Secret Key (API 1.0)", Type: cte.FieldPassword},
			{Key: "client_id", Label: "Client ID (API 2.0)", Type: cte.FieldText},
			{Key: "client_secret", Label: "Client Secret (API 2.0)", Type: cte.FieldPassword},
			{Key: "feed_types", Label: "Feeds to pull", Type: cte.FieldMultiChoice,
				Choices: []cte.Choice{
					{Key: "Malware (customer)", Value: FeedMalwareCustomer},
					{Key: "Malware (grid)", Value: FeedMalwareGrid},
					{Key: "Malicious URLs clicked", Value: FeedMalsite},
				},
				Default: []string{FeedMalwareCustomer, FeedMalwareGrid}},
			{Key: "hash_types", Label: "Hash types to pull", Type: cte.FieldMultiChoice,
				Choices: []cte.Choice{{Key: "SHA256", Value: HashSHA256}, {Key: "MD5", Value: HashMD5}},
				Default: []string{HashSHA256, HashMD5}},
			{Key: "initial_range_days", Label: "Initial range (days)", Type: cte.FieldNumber,
				Default: DefaultInitialRangeDays, Min: cte.Float(0), Max: cte.Float(365),
				Description: "how far back the first pull goes"},
			{Key: "provider", Label: "Provider label", Type: cte.FieldText, Default: DefaultProvider, Max: cte.Float(MaxProviderLen),
				Description: "label Mimecast stores with pushed hashes, at most 10 characters"},
		},
	}
}

// Version is the plugin version reported in the manifest.
const Version = "1.0.0"
