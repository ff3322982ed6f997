package mimecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
)

// Target IDs.
const (
	TargetBlock         = "operation/BLOCK"
	TargetAllow         = "operation/ALLOW"
	TargetDelete        = "operation/DELETE"
	TargetManagedBlock  = "managed-url/block"
	TargetManagedPermit = "managed-url/permit"
)

// ErrNoBYO is wrapped by Validate's error when the account lacks the "BYO: Threat
// Intelligence [1089]" package: the operation/* targets are not offered, while pulls
// and managed URLs still work. It wraps cte.ErrNotSupported, so a host may show it
// as a warning.
var ErrNoBYO = fmt.Errorf("the account lacks the package %q, so hashes cannot be pushed: %w", byoPackage, cte.ErrNotSupported)

// Plugin is the Mimecast cte.Plugin: it pulls the hash feeds and clicked malicious
// URLs and pushes hashes (BYO Threat Intelligence operations) and managed URLs.
type Plugin struct {
	c    *Client
	cfg  Config
	name string
	log  *slog.Logger
	now  func() time.Time
	// feedChunk overrides feedChunk (tests).
	feedChunk int
}

var (
	_ cte.Plugin    = (*Plugin)(nil)
	_ cte.Retractor = (*Plugin)(nil)
)

// DriverName is the name Driver registers under.
const DriverName = "mimecast"

// Driver returns the driver hosts register: DriverName, Manifest and Open. Open
// reads a configuration Manifest().Normalize accepted (ParseConfig) and takes the
// host's name, logger, HTTP client and clock from cte.Options.
func Driver() cte.Driver {
	return cte.Driver{
		Name:     DriverName,
		Manifest: Manifest(),
		Open: func(_ context.Context, raw json.RawMessage, o cte.Options) (cte.Plugin, error) {
			cfg, err := ParseConfig(raw)
			if err != nil {
				return nil, err
			}
			return NewPlugin(cfg, fromHost(o)...)
		},
	}
}

// fromHost turns what a host injects (cte.Options) into this package's options:
// the one place the two option layers meet.
func fromHost(o cte.Options) []Option {
	return []Option{WithName(o.Name), WithLogger(o.Logger), WithClock(o.Clock), WithHTTPClient(o.HTTPClient)}
}

// NewPlugin returns the plugin for cfg: the Client New(cfg, opts...) returns, named
// by WithName in messages and managed-URL comments.
func NewPlugin(cfg Config, opts ...Option) (*Plugin, error) {
	c, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &Plugin{c: c, cfg: c.cfg, name: c.name, log: c.log, now: c.now}, nil
}

// Client returns the plugin's API client.
func (p *Plugin) Client() *Client { return p.c }

// String describes the plugin without secrets.
func (p *Plugin) String() string { return "mimecast.Plugin(" + p.name + ", " + p.c.String() + ")" }

// Format keeps every fmt verb from printing the plugin's fields.
func (p *Plugin) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.String())) }

// Validate reads the account. Refused keys wrap cte.ErrAuth and name the keys to
// check; a missing BYO package is ErrNoBYO.
//
// A host that does not answer fails at once (no retries of connection errors,
// 10 seconds without an answer): see httpx.Quick.
func (p *Plugin) Validate(ctx context.Context) error {
	acct, err := p.c.GetAccount(httpx.Quick(ctx))
	if err != nil {
		var e *Error
		if ctx.Err() == nil && !errors.Is(err, cte.ErrAuth) && !errors.Is(err, cte.ErrRateLimited) &&
			(!errors.As(err, &e) || e.Status == http.StatusNotFound) {
			// No answer, not the API's answer, or no such API path: the wrong host.
			return fmt.Errorf("mimecast: validate against %s: %w; check base_url (%q): write the region code or the API host of the account's region, e.g. https://us-api.mimecast.com, and that this host can reach it",
				p.c.base, err, p.cfg.BaseURL)
		}
		return fmt.Errorf("mimecast: validate against %s: %w", p.c.base, err)
	}
	if !acct.HasBYO() {
		return fmt.Errorf("mimecast: validate against %s: account %s: %w; pulling and managed URLs still work; ask Mimecast to enable Bring Your Own Threat Intelligence",
			p.c.base, acct.AccountCode, ErrNoBYO)
	}
	return nil
}

// GetTargets lists the operation/* hash targets (when the account has the BYO
// package) and the managed-url/* targets.
func (p *Plugin) GetTargets(ctx context.Context) ([]cte.Target, error) {
	acct, err := p.c.GetAccount(ctx)
	if err != nil {
		return nil, fmt.Errorf("mimecast: targets: %w", err)
	}
	var ts []cte.Target
	hashes := []ioc.Type{ioc.TypeMD5, ioc.TypeSHA256}
	if acct.HasBYO() {
		ts = append(ts,
			cte.Target{ID: TargetBlock, Label: "Block file hashes (BYO Threat Intelligence)", Mode: cte.Append, Types: hashes, Limits: cte.Limits{BatchSize: MaxBatch}},
			cte.Target{ID: TargetAllow, Label: "Allow file hashes (BYO Threat Intelligence)", Mode: cte.Append, Types: hashes, Limits: cte.Limits{BatchSize: MaxBatch}},
			cte.Target{ID: TargetDelete, Label: "Delete file hashes (BYO Threat Intelligence)", Mode: cte.Append, Types: hashes, Limits: cte.Limits{BatchSize: MaxBatch}},
		)
	}
	urls := []ioc.Type{ioc.TypeURL, ioc.TypeDomain}
	ts = append(ts,
		cte.Target{ID: TargetManagedBlock, Label: "Block URLs (URL Protect managed URLs)", Mode: cte.Append, Types: urls, Limits: cte.Limits{BatchSize: MaxCreateManaged}},
		cte.Target{ID: TargetManagedPermit, Label: "Permit URLs (URL Protect managed URLs)", Mode: cte.Append, Types: urls, Limits: cte.Limits{BatchSize: MaxCreateManaged}},
	)
	return ts, nil
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
				Default: defaultFeedTypes()},
			{Key: "hash_types", Label: "Hash types to pull", Type: cte.FieldMultiChoice,
				Choices: []cte.Choice{{Key: "SHA256", Value: ioc.TypeSHA256.String()}, {Key: "MD5", Value: ioc.TypeMD5.String()}},
				Default: typeNames(defaultHashTypes())},
			{Key: "initial_range_days", Label: "Initial range (days)", Type: cte.FieldNumber,
				Default: DefaultInitialRangeDays, Min: cte.Float(0), Max: cte.Float(365),
				Description: "how far back the first pull goes"},
			{Key: "provider", Label: "Provider label", Type: cte.FieldText, Default: DefaultProvider, Max: cte.Float(MaxProviderLen),
				Description: "label Mimecast stores with pushed hashes, at most 10 characters"},
		},
	}
}
