package netskope

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
)

// Target ID prefixes.
const (
	// TargetFileHashList prefixes the ID of a File Hash List target: the list name
	// follows, e.g. "file-hash-list/CE_Malware_Hashes".
	TargetFileHashList = "file-hash-list/"
	// TargetURLList prefixes the ID of a URL list target: the list name follows.
	TargetURLList = "url-list/"
)

// URLListTypes are the indicator types URL list targets take (IPv6 is refused by the
// tenant).
var URLListTypes = []ioc.Type{ioc.TypeURL, ioc.TypeDomain, ioc.TypeHostname, ioc.TypeIPv4}

// Plugin is the Netskope cte.Plugin: it pulls malware and malsite alerts and pushes
// to File Hash Lists (Replace) and URL lists (Append, with Retract).
type Plugin struct {
	c     *Client
	name  string
	index string
	log   *slog.Logger
	// maxEntries caps a File Hash List push (MaxListEntries; lowered by tests).
	maxEntries int
}

var (
	_ cte.Plugin    = (*Plugin)(nil)
	_ cte.Retractor = (*Plugin)(nil)
)

// NewPlugin returns the plugin for cfg: the Client New(cfg, opts...) returns, with
// the Data Export index derived from the name WithName gives (see ExportIndex).
func NewPlugin(cfg Config, opts ...Option) (*Plugin, error) {
	c, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &Plugin{c: c, name: c.name, index: ExportIndex(c.name), log: c.log, maxEntries: MaxListEntries}, nil
}

// String describes the plugin without its tokens.
func (p *Plugin) String() string { return "netskope.Plugin(" + p.c.tenant + ", index " + p.index + ")" }

// Format keeps every fmt verb from printing the plugin's fields (see Client.Format).
func (p *Plugin) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, p.String()) }

// Client returns the plugin's API client.
func (p *Plugin) Client() *Client { return p.c }

// Index returns the Data Export index the plugin pulls with.
func (p *Plugin) Index() string { return p.index }

// ExportIndex derives the Data Export iterator index from the configuration name:
// "cte_" and the first 16 hex digits of SHA-256("cte/netskope\x00" + name). The tenant
// keeps one cursor per (alert type, index), so the index must be stable across
// restarts (the name is) and different for every configuration reading the same
// tenant (two readers of one index each see only part of the alerts). Hashing keeps
// it short and URL-safe whatever the name holds.
func ExportIndex(name string) string {
	sum := sha256.Sum256([]byte("cte/netskope\x00" + name))
	return "cte_" + hex.EncodeToString(sum[:8])
}

// Validate checks each configured credential against a harmless endpoint: the v2
// token on the Data Export iterator of each alert type (operation tail on a separate
// index) and on the URL lists, the v1 token on /api/v1/app_instances. A refused token
// or a missing scope wraps cte.ErrAuth and names the token and scope. With
// file_hash_lists set and no v1_token, pushing is not offered and Validate says so.
//
// A tenant that does not answer fails at once (no retries of connection errors,
// 10 seconds without an answer).
func (p *Plugin) Validate(ctx context.Context) error {
	ctx = httpx.Quick(ctx)
	cfg := p.c.cfg
	var errs []error
	if len(cfg.FileHashLists) > 0 && cfg.V1Token == "" {
		errs = append(errs, &cte.ConfigError{Field: "v1_token", Reason: fmt.Sprintf(
			"file_hash_lists names %d list(s) but v1_token is empty: File Hash Lists are updated with REST API v1 only, so they are not offered as targets; add a v1 token (Settings > Tools > REST API v1) or clear file_hash_lists",
			len(cfg.FileHashLists))})
	}
	for _, typ := range cfg.AlertTypes {
		var e *Error
		if _, err := p.c.Alerts(ctx, typ, p.index+"_validate", OpTail); err != nil && !(errors.As(err, &e) && e.Status == http.StatusConflict) {
			errs = append(errs, err) // a 409 (index conflict) means the token was accepted
		}
		if ctx.Err() != nil {
			return fmt.Errorf("netskope: validate: %w", ctx.Err())
		}
	}
	if _, err := p.c.URLLists(ctx); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == 403 {
			p.log.Warn("netskope: the v2 token cannot read URL lists, so none are offered as targets; grant it read+write access to /api/v2/policy/urllist to push URLs")
		} else {
			errs = append(errs, err)
		}
	}
	if cfg.V1Token != "" {
		if err := p.c.CheckV1Token(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("netskope: validate: %w", errors.Join(errs...))
	}
	return nil
}

// CheckV1Token checks the v1 token with a read-only call,
// POST /api/v1/app_instances?op=list&limit=1 (token in the form body).
func (c *Client) CheckV1Token(ctx context.Context) error {
	op := "check the v1 token"
	body := []byte(url.Values{"token": {c.cfg.V1Token.Reveal()}}.Encode())
	a, err := c.do(ctx, call{op: op, method: "POST", path: "/api/v1/app_instances",
		query: url.Values{"op": {"list"}, "limit": {"1"}}, body: body, contentType: "application/x-www-form-urlencoded"})
	clear(body)
	if err != nil {
		return err
	}
	if _, e := classifyV1(op, a.body); e != nil {
		return c.scrub(e)
	}
	return nil
}

// GetTargets lists a File Hash List target for each configured list (when a v1 token
// is set) and a URL list target for each URL list of the tenant.
//
// URL lists are optional: when listing them fails (a v2 token without the URL list
// scope, a 5xx, no answer) and File Hash List targets are configured, GetTargets
// returns those with a nil error and logs a warning naming the failure, so a
// configuration that only pushes hashes keeps working while the URL list API is
// down; the URL lists are offered again once it answers. GetTargets fails only when
// it could list nothing (no File Hash List is configured and the URL lists failed
// for another reason than the missing scope), when the v2 token is refused, or
// when the context ended.
func (p *Plugin) GetTargets(ctx context.Context) ([]cte.Target, error) {
	cfg := p.c.cfg
	var out []cte.Target
	if cfg.V1Token != "" {
		for _, name := range cfg.FileHashLists {
			out = append(out, p.fileHashTarget(name))
		}
	}
	lists, err := p.c.URLLists(ctx)
	if err != nil {
		var e *Error
		forbidden := errors.As(err, &e) && e.Status == http.StatusForbidden
		switch {
		case ctx.Err() != nil, errors.Is(err, cte.ErrAuth) && !forbidden:
			return nil, fmt.Errorf("netskope: get targets: %w", err)
		case forbidden:
			p.log.Warn("netskope: the v2 token cannot read URL lists; none are offered as targets", "hint", e.Hint)
			return out, nil
		case len(out) > 0:
			p.log.Warn("netskope: listing URL lists failed; only the File Hash List targets are offered until it answers", "error", err.Error())
			return out, nil
		}
		return nil, fmt.Errorf("netskope: get targets: %w", err)
	}
	seen := map[string]bool{}
	for _, l := range lists {
		if seen[l.Name] {
			continue
		}
		seen[l.Name] = true
		out = append(out, cte.Target{
			ID:    TargetURLList + l.Name,
			Label: fmt.Sprintf("Netskope URL list %s (%s, id %d)", l.Name, cmpOr(l.Data.Type, URLListExact), l.ID),
			Mode:  cte.Append,
			Types: slices.Clone(URLListTypes),
		})
	}
	return out, nil
}

func (p *Plugin) fileHashTarget(name string) cte.Target {
	cfg := p.c.cfg
	return cte.Target{
		ID:    TargetFileHashList + name,
		Label: "Netskope File Hash List " + name,
		Mode:  cte.Replace,
		Types: slices.Clone(cfg.FileHashListTypes),
		Limits: cte.Limits{
			MaxItems: MaxListEntries,
			MaxBytes: int64(cfg.MaxListMB) << 20,
		},
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Push writes in to target t: the whole desired content of a File Hash List (one
// updateFileHashList call), or the new values of a URL list (append, then deploy).
// Every input indicator is accounted for in the result.
func (p *Plugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, fmt.Errorf("netskope: push to %s: %w", t.ID, err)
	}
	switch {
	case strings.HasPrefix(t.ID, TargetFileHashList):
		name := strings.TrimPrefix(t.ID, TargetFileHashList)
		if !slices.Contains(p.c.cfg.FileHashLists, name) {
			return cte.PushResult{}, p.unknownTarget(t.ID)
		}
		if p.c.cfg.V1Token == "" {
			return cte.PushResult{}, fmt.Errorf("netskope: push to %s: %w", t.ID, &cte.ConfigError{Field: "v1_token", Reason: "empty: File Hash Lists are updated with REST API v1 only"})
		}
		return p.pushFileHashList(ctx, name, in)
	case strings.HasPrefix(t.ID, TargetURLList):
		return p.pushURLList(ctx, strings.TrimPrefix(t.ID, TargetURLList), in)
	}
	return cte.PushResult{}, p.unknownTarget(t.ID)
}

func (p *Plugin) unknownTarget(id string) error {
	return fmt.Errorf("netskope: unknown target %q: use an ID GetTargets lists (%s<configured list name> or %s<URL list name>): %w",
		ioc.Truncate(id, 80), TargetFileHashList, TargetURLList, ErrNotFound)
}

// Retract removes in from a URL list target: the list is replaced with its entries
// minus the retracted ones, then deployed. Removed values count as Applied, values
// not in the list as Unchanged. File Hash Lists need no retraction (the next Replace
// push leaves the value out): Retract on them wraps cte.ErrNotSupported.
func (p *Plugin) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, fmt.Errorf("netskope: retract from %s: %w", t.ID, err)
	}
	switch {
	case strings.HasPrefix(t.ID, TargetFileHashList):
		return cte.PushResult{}, fmt.Errorf("netskope: retract from %s: a File Hash List is replaced whole on every push; push the list without the values instead: %w", t.ID, cte.ErrNotSupported)
	case strings.HasPrefix(t.ID, TargetURLList):
		return p.retractURLList(ctx, strings.TrimPrefix(t.ID, TargetURLList), in)
	}
	return cte.PushResult{}, p.unknownTarget(t.ID)
}
