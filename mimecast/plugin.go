package mimecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte"
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
}

var (
	_ cte.Plugin    = (*Plugin)(nil)
	_ cte.Retractor = (*Plugin)(nil)
)

// Driver returns the driver hosts register: name "mimecast", Manifest and Open.
func Driver() cte.Driver {
	return cte.Driver{
		Name:     "mimecast",
		Manifest: Manifest(),
		Open: func(_ context.Context, raw json.RawMessage, o cte.Options) (cte.Plugin, error) {
			cfg, err := ParseConfig(raw)
			if err != nil {
				return nil, err
			}
			return NewPlugin(cfg, o)
		},
	}
}

// NewPlugin returns the plugin for cfg. o supplies the name, logger, HTTP client and
// clock; opts tune the client further (e.g. WithRetry).
func NewPlugin(cfg Config, o cte.Options, opts ...Option) (*Plugin, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	all := append([]Option{WithLogger(o.Logger), WithClock(o.Clock), WithHTTPClient(o.HTTPClient)}, opts...)
	c, err := New(cfg, all...)
	if err != nil {
		return nil, err
	}
	return &Plugin{c: c, cfg: c.cfg, name: o.Name, log: o.Logger, now: o.Clock}, nil
}

// Client returns the plugin's API client.
func (p *Plugin) Client() *Client { return p.c }

// String describes the plugin without secrets.
func (p *Plugin) String() string { return "mimecast.Plugin(" + p.name + ", " + p.c.String() + ")" }

// Format keeps every fmt verb from printing the plugin's fields.
func (p *Plugin) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.String())) }

// Validate reads the account. Refused keys wrap cte.ErrAuth and name the keys to
// check; a missing BYO package is ErrNoBYO.
func (p *Plugin) Validate(ctx context.Context) error {
	acct, err := p.c.GetAccount(ctx)
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

// checkpoint is the plugin's resume position: per feed type (and "malsite" for the
// click logs) the newest event time seen, UTC. A pull resumes Overlap before it.
type checkpoint struct {
	V     int                  `json:"v"`
	Feeds map[string]time.Time `json:"feeds,omitempty"`
}

func decodeCheckpoint(b cte.Checkpoint) (checkpoint, error) {
	cp := checkpoint{V: 1, Feeds: map[string]time.Time{}}
	if len(b) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(b, &cp); err != nil || cp.V != 1 {
		return checkpoint{}, fmt.Errorf("mimecast: checkpoint %s is not one this plugin wrote; clear it to start again from initial_range_days", snippet(b))
	}
	if cp.Feeds == nil {
		cp.Feeds = map[string]time.Time{}
	}
	return cp, nil
}

func (cp checkpoint) encode() cte.Checkpoint {
	b, _ := json.Marshal(cp)
	return b
}

func (cp checkpoint) with(feed string, newest time.Time) checkpoint {
	if newest.IsZero() || !newest.After(cp.Feeds[feed]) {
		return cp
	}
	out := checkpoint{V: 1, Feeds: make(map[string]time.Time, len(cp.Feeds)+1)}
	for k, v := range cp.Feeds {
		out.Feeds[k] = v
	}
	out.Feeds[feed] = newest.UTC()
	return out
}

// notAfter caps a feed's newest timestamp at the end of the window asked for. Rows
// stamped later (Mimecast's clock ahead of ours, or a feed file holding rows past
// end) must not move the checkpoint past it: the next pull would start after the
// events stamped between the two pulls and never ask for them.
func notAfter(newest, end time.Time) time.Time {
	if newest.After(end) {
		return end
	}
	return newest
}

// feedOrder is the order feeds are pulled in.
var feedOrder = []string{FeedMalwareCustomer, FeedMalwareGrid, FeedMalsite}

// Pull yields the selected feeds page by page: each get-feed CSV page, then each
// page of malicious clicks with its decoded URLs. Every page's Next holds, per feed
// type, the newest timestamp seen so far.
func (p *Plugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull: %w", err))
			return
		}
		cp, err := decodeCheckpoint(from)
		if err != nil {
			yield(cte.Page{}, err)
			return
		}
		now := p.now().UTC().Truncate(time.Second)
		var skipped invalids
		defer func() {
			if n := skipped.total(); n > 0 {
				args := []any{"total", n}
				for _, x := range skipped.list {
					args = append(args, slog.Group("reason", "text", x.Reason, "count", x.Count))
				}
				p.log.Warn("mimecast: skipped values that are not valid indicators", args...)
			}
		}()
		for _, feed := range feedOrder {
			if !p.selected(feed) {
				continue
			}
			start := p.start(cp, feed, now)
			var ok bool
			if feed == FeedMalsite {
				cp, ok = p.pullClicks(ctx, cp, start, now, &skipped, yield)
			} else {
				cp, ok = p.pullHashes(ctx, feed, cp, start, now, &skipped, yield)
			}
			if !ok {
				return
			}
		}
	}
}

func (p *Plugin) selected(feed string) bool {
	for _, f := range p.cfg.FeedTypes {
		if f == feed {
			return true
		}
	}
	return false
}

// start is where a feed's pull begins: the checkpoint minus the overlap, or the
// initial range on a first run; never after now.
func (p *Plugin) start(cp checkpoint, feed string, now time.Time) time.Time {
	if t, ok := cp.Feeds[feed]; ok && !t.IsZero() {
		// A checkpoint after now (written before newest was capped at the window's
		// end) resumes from now, minus the overlap like any other.
		return notAfter(t, now).Add(-p.cfg.Overlap)
	}
	if p.cfg.InitialRangeDays == NoHistory {
		return now
	}
	return now.AddDate(0, 0, -p.cfg.InitialRangeDays)
}

func (p *Plugin) wantHash(t string) bool {
	for _, h := range p.cfg.HashTypes {
		if h == t {
			return true
		}
	}
	return false
}

// pullHashes follows one hash feed's pages. It stops on a missing, empty or repeated
// token and after MaxPages pages.
func (p *Plugin) pullHashes(ctx context.Context, feed string, cp checkpoint, start, end time.Time, skipped *invalids, yield func(cte.Page, error) bool) (checkpoint, bool) {
	parser := &feedParser{md5: p.wantHash(HashMD5), sha256: p.wantHash(HashSHA256), tags: []string{feed}}
	parser.tags = parser.tags[:1:1]
	seen := map[string]bool{}
	token := ""
	for page := 1; ; page++ {
		if page > p.cfg.MaxPages {
			p.log.Warn("mimecast: feed page cap reached; the next pull continues from the checkpoint", "feed", feed, "pages", p.cfg.MaxPages)
			return cp, true
		}
		fp, err := p.c.GetFeed(ctx, FeedRequest{FeedType: feed, Start: start, End: end, Token: token, FileType: p.cfg.FileType})
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s page %d: %w", feed, page, err))
			return cp, false
		}
		var res feedResult
		if p.cfg.FileType == FileSTIX {
			res, err = parser.parseSTIX(fp.Body)
		} else {
			res, err = parser.parse(fp.Body, nil)
		}
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull %s page %d: %w", feed, page, err))
			return cp, false
		}
		cp = cp.with(feed, notAfter(res.newest, end))
		for _, x := range res.invalid.list {
			for range x.Count {
				skipped.add(x.Reason, x.Example)
			}
		}
		if !yield(cte.Page{Indicators: res.indicators, Next: cp.encode(), Invalid: res.invalid.list}, nil) {
			return cp, false
		}
		next := fp.NextToken
		switch {
		case next == "":
			return cp, true
		case seen[next] || next == token:
			p.log.Warn("mimecast: feed repeated a page token; stopping this feed", "feed", feed, "page", page)
			return cp, true
		}
		seen[next] = true
		token = next
	}
}

// pullClicks follows the malicious click logs and decodes their URLs.
func (p *Plugin) pullClicks(ctx context.Context, cp checkpoint, start, end time.Time, skipped *invalids, yield func(cte.Page, error) bool) (checkpoint, bool) {
	seen := map[string]bool{}
	token := ""
	tags := []string{FeedMalsite}
	for page := 1; ; page++ {
		if page > p.cfg.MaxPages {
			p.log.Warn("mimecast: click log page cap reached; the next pull continues from the checkpoint", "pages", p.cfg.MaxPages)
			return cp, true
		}
		lp, err := p.c.GetMaliciousClicks(ctx, LogsRequest{From: start, To: end, PageToken: token})
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull malsite page %d: %w", page, err))
			return cp, false
		}
		var inv invalids
		var urls []string
		dates := map[string]time.Time{}
		var newest time.Time
		for _, l := range lp.Logs {
			d, ok := parseTimestamp([]byte(l.Date))
			if ok && d.After(newest) {
				newest = d
			}
			u := strings.TrimSpace(l.URL)
			if u == "" || u == "null" {
				inv.add("url: empty", "")
				continue
			}
			if prev, dup := dates[u]; dup {
				if d.After(prev) {
					dates[u] = d
				}
				continue
			}
			dates[u] = d
			urls = append(urls, u)
		}
		decoded, err := p.c.DecodeURLs(ctx, urls)
		if err != nil {
			yield(cte.Page{}, fmt.Errorf("mimecast: pull malsite page %d: decode URLs: %w", page, err))
			return cp, false
		}
		var inds []ioc.Indicator
		for _, d := range decoded {
			if d.URL == "" {
				inv.add("url: "+d.Message, d.Input)
				continue
			}
			v, err := ioc.Parse(ioc.TypeURL, d.URL)
			if err != nil {
				rule := err.Error()
				if pe, ok := err.(*ioc.ParseError); ok {
					rule = pe.Rule
				}
				inv.add("url: "+rule, d.URL)
				continue
			}
			ts := dates[d.Input]
			inds = append(inds, ioc.Indicator{Type: ioc.TypeURL, Value: v, Tags: tags[:1:1], FirstSeen: ts, LastSeen: ts})
		}
		cp = cp.with(FeedMalsite, notAfter(newest, end))
		for _, x := range inv.list {
			for range x.Count {
				skipped.add(x.Reason, x.Example)
			}
		}
		if !yield(cte.Page{Indicators: inds, Next: cp.encode(), Invalid: inv.list}, nil) {
			return cp, false
		}
		switch {
		case lp.Next == "":
			return cp, true
		case seen[lp.Next] || lp.Next == token:
			p.log.Warn("mimecast: click logs repeated a page token; stopping", "page", page)
			return cp, true
		}
		seen[lp.Next] = true
		token = lp.Next
	}
}

// targetOf splits a target ID into its kind and the operation or action.
func targetOf(id string) (kind, op string, err error) {
	switch id {
	case TargetBlock, TargetAllow, TargetDelete:
		return "operation", strings.TrimPrefix(id, "operation/"), nil
	case TargetManagedBlock, TargetManagedPermit:
		return "managed-url", strings.TrimPrefix(id, "managed-url/"), nil
	}
	return "", "", fmt.Errorf("mimecast: unknown target %q: use one of %s, %s, %s, %s, %s: %w",
		id, TargetBlock, TargetAllow, TargetDelete, TargetManagedBlock, TargetManagedPermit, cte.ErrNotSupported)
}

// Push sends in to target t. Hashes go to create-batch in batches of MaxBatch;
// a failed batch does not stop the others; a spent quota stops the push, marks the
// unsent rest retryable and returns an error wrapping cte.ErrQuota with the partial
// result. URLs and domains go to create-managed-url in batches of MaxCreateManaged;
// one that already exists with the target's action counts as Unchanged, one Mimecast
// holds with the other action is rejected.
func (p *Plugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	kind, op, err := targetOf(t.ID)
	if err != nil {
		return cte.PushResult{}, err
	}
	if len(in) == 0 {
		return cte.PushResult{}, nil
	}
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, fmt.Errorf("mimecast: push to %s: %w", t.ID, err)
	}
	if kind == "operation" {
		return p.pushHashes(ctx, t.ID, op, in)
	}
	return p.pushURLs(ctx, t.ID, op, in)
}

// Retract removes in from t: hashes pushed to operation/BLOCK or operation/ALLOW
// get a DELETE operation; managed URLs are looked up (exact match, every match with
// the target's action) and deleted. Removals count as Applied; values that were not
// there as Unchanged.
func (p *Plugin) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	kind, op, err := targetOf(t.ID)
	if err != nil {
		return cte.PushResult{}, err
	}
	if op == OpDelete {
		return cte.PushResult{}, fmt.Errorf("mimecast: retract from %s: a DELETE cannot be undone: %w", t.ID, cte.ErrNotSupported)
	}
	if len(in) == 0 {
		return cte.PushResult{}, nil
	}
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, fmt.Errorf("mimecast: retract from %s: %w", t.ID, err)
	}
	if kind == "operation" {
		return p.pushHashes(ctx, t.ID, OpDelete, in)
	}
	return p.retractURLs(ctx, t.ID, op, in)
}

// cutRunes returns s cut to at most n characters.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// stopping reports whether err should stop a push: the context ended, the
// credentials were refused or the rate limit asks for a long wait.
func stopping(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, cte.ErrAuth) || errors.Is(err, cte.ErrRateLimited) || errors.Is(err, cte.ErrQuota)
}

// rejection describes err for a Rejected entry.
func rejection(value string, err error) cte.Rejected {
	r := cte.Rejected{Value: value, Reason: err.Error(), Retryable: true}
	var e *Error
	if errors.As(err, &e) {
		r.Code, r.Retryable = e.Code, e.Retryable || e.Status >= 500 || e.Status == http.StatusTooManyRequests
		if e.Message != "" {
			r.Reason = e.Message
		}
	}
	return r
}

func (p *Plugin) pushHashes(ctx context.Context, target, op string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	hashes := make([]Hash, 0, len(in))
	orig := make([]string, 0, len(in))
	for _, ind := range in {
		if !ind.Type.IsHash() {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Code: "unsupported_type",
				Reason: fmt.Sprintf("%s takes md5 and sha256 indicators, not %s", target, ind.Type)})
			continue
		}
		v, err := ioc.Parse(ind.Type, ind.Value)
		if err != nil {
			reason := err.Error()
			if pe, ok := err.(*ioc.ParseError); ok {
				reason = fmt.Sprintf("not a valid %s: %s", ind.Type, pe.Rule)
			}
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: reason})
			continue
		}
		desc := ""
		if op != OpDelete {
			desc = cutRunes(strings.TrimSpace(ind.Comments), MaxDescriptionLen)
		}
		hashes = append(hashes, Hash{Hash: v, Provider: p.cfg.Provider, Description: desc})
		orig = append(orig, ind.Value)
	}
	nBatches := (len(hashes) + MaxBatch - 1) / MaxBatch
	for b := 0; b < nBatches; b++ {
		lo, hi := b*MaxBatch, min((b+1)*MaxBatch, len(hashes))
		batch, values := hashes[lo:hi], orig[lo:hi]
		br, err := p.c.CreateBatch(ctx, op, batch)
		if err == nil && br.Quota() {
			// Hashes Mimecast took before the quota ran out count; the rest of this
			// batch and every later batch can be sent again later.
			out := batchOutcome(br, batch, values)
			for i := range out.Rejected {
				out.Rejected[i].Retryable = true
			}
			res.Add(out)
			qerr := quotaError(br)
			for _, v := range orig[hi:] {
				res.Rejected = append(res.Rejected, cte.Rejected{Value: v, Reason: "not sent: " + quotaText, Code: "quota", Retryable: true})
			}
			return res, fmt.Errorf("mimecast: push to %s: batch %d of %d: %d hashes not applied: %w", target, b+1, nBatches, len(out.Rejected)+len(orig)-hi, qerr)
		}
		if err != nil && stopping(ctx, err) {
			for _, v := range orig[lo:] {
				r := rejection(v, err)
				r.Retryable = true
				res.Rejected = append(res.Rejected, r)
			}
			return res, fmt.Errorf("mimecast: push to %s: batch %d of %d: %d hashes not sent: %w", target, b+1, nBatches, len(orig)-lo, err)
		}
		if err != nil {
			p.log.Warn("mimecast: create-batch failed; continuing with the next batch", "target", target, "batch", b+1, "of", nBatches, "err", err)
			for _, v := range values {
				res.Rejected = append(res.Rejected, rejection(v, err))
			}
			continue
		}
		res.Add(batchOutcome(br, batch, values))
	}
	return res, nil
}

// quotaError is the error of a create-batch answer whose failures say the quota is
// spent.
func quotaError(br BatchResult) error {
	for _, f := range br.Failures {
		if strings.Contains(f.Message, quotaText) {
			e := &Error{Status: http.StatusOK, Code: f.Code, Message: f.Message, RequestID: br.RequestID, Retryable: true, Op: pathCreateBatch}
			classify(e)
			return e
		}
	}
	return nil
}

// batchOutcome accounts for every hash of one create-batch answer.
func batchOutcome(br BatchResult, batch []Hash, values []string) cte.PushResult {
	var res cte.PushResult
	perHash := map[string]HashFailure{}
	var whole *HashFailure
	for i, f := range br.Failures {
		if f.Hash == "" {
			whole = &br.Failures[i]
			continue
		}
		perHash[strings.ToLower(f.Hash)] = f
	}
	for i, h := range batch {
		f, failed := perHash[h.Hash]
		if !failed && whole != nil {
			f, failed = *whole, true
		}
		if failed {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: values[i], Reason: f.Message, Code: f.Code, Retryable: f.Retryable})
			continue
		}
		res.Applied++
	}
	return res
}

// urlComment labels managed URLs with where they came from.
func (p *Plugin) urlComment() string {
	if p.name == "" {
		return "cte"
	}
	return "cte | " + p.name
}

// managedItem turns an indicator into a managed URL, or explains why not.
func managedItem(ind ioc.Indicator, action, comment string) (ManagedURL, *cte.Rejected) {
	switch ind.Type {
	case ioc.TypeURL:
		v, err := ioc.Parse(ioc.TypeURL, ind.Value)
		if err != nil {
			return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: "not a valid url: " + ruleOf(err)}
		}
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = v[:i]
		}
		return ManagedURL{URL: v, Action: action, MatchType: "explicit", Comment: comment}, nil
	case ioc.TypeDomain:
		v, err := ioc.Parse(ioc.TypeDomain, ind.Value)
		if err != nil {
			return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: "not a valid domain: " + ruleOf(err)}
		}
		return ManagedURL{URL: "https://" + v, Action: action, MatchType: "domain", Comment: comment}, nil
	}
	return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "unsupported_type", Reason: fmt.Sprintf("managed URLs take url and domain indicators, not %s", ind.Type)}
}

func ruleOf(err error) string {
	if pe, ok := err.(*ioc.ParseError); ok {
		return pe.Rule
	}
	return err.Error()
}

func (p *Plugin) pushURLs(ctx context.Context, target, action string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	items := make([]ManagedURL, 0, len(in))
	orig := make([]string, 0, len(in))
	for _, ind := range in {
		it, rej := managedItem(ind, action, p.urlComment())
		if rej != nil {
			res.Rejected = append(res.Rejected, *rej)
			continue
		}
		items = append(items, it)
		orig = append(orig, ind.Value)
	}
	for lo := 0; lo < len(items); lo += MaxCreateManaged {
		hi := min(lo+MaxCreateManaged, len(items))
		batch, values := items[lo:hi], orig[lo:hi]
		_, fails, err := p.c.CreateManagedURLs(ctx, batch)
		if err != nil && stopping(ctx, err) {
			for _, v := range orig[lo:] {
				r := rejection(v, err)
				r.Retryable = true
				res.Rejected = append(res.Rejected, r)
			}
			return res, fmt.Errorf("mimecast: push to %s: %d URLs not sent: %w", target, len(orig)-lo, err)
		}
		if err != nil {
			p.log.Warn("mimecast: create-managed-url failed; continuing with the next batch", "target", target, "err", err)
			for _, v := range values {
				res.Rejected = append(res.Rejected, rejection(v, err))
			}
			continue
		}
		byURL := map[string]ItemFailure{}
		var whole *ItemFailure
		for i, f := range fails {
			if f.Key == "" {
				whole = &fails[i]
				continue
			}
			byURL[f.Key] = f
		}
		for i, it := range batch {
			f, failed := byURL[it.URL]
			if !failed && whole != nil {
				f, failed = *whole, true
			}
			switch {
			case !failed:
				res.Applied++
			case f.Code == CodeManagedExists:
				if r := p.existsAs(ctx, it, values[i]); r != nil {
					res.Rejected = append(res.Rejected, *r)
				} else {
					res.Unchanged++
				}
			case strings.Contains(f.Message, invalidURLText):
				res.Rejected = append(res.Rejected, cte.Rejected{Value: values[i], Reason: f.Message, Code: f.Code})
			default:
				res.Rejected = append(res.Rejected, cte.Rejected{Value: values[i], Reason: f.Message, Code: f.Code, Retryable: f.Retryable})
			}
		}
	}
	return res, nil
}

// existsAs checks a managed URL Mimecast says already exists: it is Unchanged (nil)
// when an entry with the same action is there, and rejected when Mimecast holds it
// with the other action (the entry is keyed by URL and match type, so the create did
// nothing and the URL is, say, permitted rather than blocked).
func (p *Plugin) existsAs(ctx context.Context, it ManagedURL, value string) *cte.Rejected {
	key := it.URL
	if it.MatchType == "domain" {
		key = strings.TrimPrefix(it.URL, "https://")
	}
	found, err := p.c.FindManagedURLs(ctx, key)
	if err != nil {
		r := rejection(value, err)
		r.Reason = "already exists; reading its action failed: " + r.Reason
		r.Retryable = true
		return &r
	}
	other := ""
	for _, m := range found {
		if m.MatchType != "" && m.MatchType != it.MatchType {
			continue
		}
		if m.Action == it.Action {
			return nil
		}
		other = m.Action
	}
	if other == "" {
		return nil // not found by the lookup: trust "already exists"
	}
	return &cte.Rejected{Value: value, Code: CodeManagedExists, Reason: fmt.Sprintf(
		"Mimecast already holds this URL (%s match) with action %s; to %s it, delete the managed URL in Mimecast first", it.MatchType, other, it.Action)}
}

// retractURLs deletes the managed URLs matching in with the target's action: one
// lookup per value and one delete per MaxCreateManaged ids.
func (p *Plugin) retractURLs(ctx context.Context, target, action string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	type group struct {
		value string
		ids   []string
	}
	var pending []group
	nIDs := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var ids []string
		for _, g := range pending {
			ids = append(ids, g.ids...)
		}
		fails, err := p.c.DeleteManagedURLs(ctx, ids)
		if err == nil {
			for _, f := range fails {
				if f.Code != "err_managed_url_not_found" {
					err = &Error{Status: http.StatusOK, Code: f.Code, Message: f.Message, Retryable: true, Op: pathDeleteManaged}
					break
				}
			}
		}
		for _, g := range pending {
			if err != nil {
				res.Rejected = append(res.Rejected, rejection(g.value, err))
			} else {
				res.Applied++
			}
		}
		pending, nIDs = nil, 0
		if err != nil && stopping(ctx, err) {
			return err
		}
		return nil
	}
	for i, ind := range in {
		it, rej := managedItem(ind, action, "")
		if rej != nil {
			res.Rejected = append(res.Rejected, *rej)
			continue
		}
		key := it.URL
		if it.MatchType == "domain" {
			key = strings.TrimPrefix(it.URL, "https://")
		}
		found, err := p.c.FindManagedURLs(ctx, key)
		if err != nil {
			if stopping(ctx, err) {
				for _, rest := range in[i:] {
					res.Rejected = append(res.Rejected, rejection(rest.Value, err))
				}
				for _, g := range pending {
					res.Rejected = append(res.Rejected, rejection(g.value, err))
				}
				return res, fmt.Errorf("mimecast: retract from %s: %w", target, err)
			}
			res.Rejected = append(res.Rejected, rejection(ind.Value, err))
			continue
		}
		g := group{value: ind.Value}
		for _, m := range found {
			if m.Action == action && (m.MatchType == "" || m.MatchType == it.MatchType) && m.ID != "" {
				g.ids = append(g.ids, m.ID)
			}
		}
		if len(g.ids) == 0 {
			res.Unchanged++
			continue
		}
		pending = append(pending, g)
		nIDs += len(g.ids)
		if nIDs >= MaxCreateManaged {
			if err := flush(); err != nil {
				for _, rest := range in[i+1:] {
					res.Rejected = append(res.Rejected, rejection(rest.Value, err))
				}
				return res, fmt.Errorf("mimecast: retract from %s: %w", target, err)
			}
		}
	}
	if err := flush(); err != nil {
		return res, fmt.Errorf("mimecast: retract from %s: %w", target, err)
	}
	return res, nil
}
