package netskope

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// maxURLBatchBytes bounds the URLs of one append request (the tenant takes 8 MB
// bodies; the reference plugin caps pushes at 7 MB).
const maxURLBatchBytes = 7 << 20

func reject(v, reason string, retryable bool) cte.Rejected {
	return cte.Rejected{Value: v, Reason: reason, Retryable: retryable}
}

// failAll rejects values as retryable with err's message. When err is the end of
// the context (the push was stopped), the values stay unaccounted: they were not
// refused, and the host sends them again without counting an attempt.
func failAll(res *cte.PushResult, values []string, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	for _, v := range values {
		res.Rejected = append(res.Rejected, reject(v, "not written: "+err.Error(), true))
	}
}

// pushFileHashList replaces the named list with in (validated, de-duplicated, cut to
// the limits) in one request.
func (p *Plugin) pushFileHashList(ctx context.Context, name string, in []ioc.Indicator) (cte.PushResult, error) {
	cfg := p.c.cfg
	var res cte.PushResult
	maxBytes := cfg.MaxListMB << 20
	hashes := make([]string, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	var taken []string // input values written, twins included, for failAll
	size, full := 0, false
	for _, ind := range in {
		if !slices.Contains(cfg.FileHashListTypes, ind.Type) {
			res.Rejected = append(res.Rejected, reject(ind.Value, fmt.Sprintf("type %s: the list takes %s", ind.Type, typeList(cfg.FileHashListTypes)), false))
			continue
		}
		v, err := ioc.Parse(ind.Type, ind.Value)
		if err != nil {
			res.Rejected = append(res.Rejected, reject(ind.Value, parseReason(err), false))
			continue
		}
		if ioc.NeverShare(v) {
			res.Rejected = append(res.Rejected, reject(ind.Value, "never shared: the Netskope placeholder or an empty-file hash", false))
			continue
		}
		if _, dup := seen[v]; dup {
			taken = append(taken, ind.Value)
			continue
		}
		add := len(v)
		if len(hashes) > 0 {
			add++
		}
		if full || len(hashes)+1 > p.maxEntries || size+add > maxBytes {
			full = true
			res.Rejected = append(res.Rejected, reject(ind.Value, cte.ReasonOverCapacity, true))
			continue
		}
		seen[v] = struct{}{}
		hashes = append(hashes, v)
		taken = append(taken, ind.Value)
		size += add
	}
	outcome, err := p.c.UpdateFileHashList(ctx, name, hashes)
	if err != nil {
		failAll(&res, taken, err)
		return res, fmt.Errorf("netskope: push to %s%s: %w", TargetFileHashList, name, err)
	}
	if outcome == V1Duplicate {
		res.Unchanged = len(taken)
	} else {
		res.Applied = len(taken)
	}
	p.log.Debug("netskope: file hash list pushed", "list", name, "hashes", len(hashes), "bytes", size,
		"duplicate", outcome == V1Duplicate, "rejected", len(res.Rejected))
	return res, nil
}

func typeList(ts []ioc.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

func parseReason(err error) string { return "invalid " + ioc.Reason(err) }

// URLListEntry returns the URL list entry for an indicator: a URL without its scheme
// (the tenant ignores schemes) and without a lone trailing "/", a domain, host name
// or IPv4 address as it is. For a regex list the entry is quoted so it matches the
// value literally. IPv6 and other types are refused with the reason.
func URLListEntry(listType string, ind ioc.Indicator) (string, error) {
	if !slices.Contains(URLListTypes, ind.Type) {
		return "", fmt.Errorf("type %s: URL lists take url, domain, hostname and ipv4", ind.Type)
	}
	t, v, err := ioc.Normalize(ind.Type, ind.Value)
	if err != nil {
		return "", errors.New(parseReason(err))
	}
	if t == ioc.TypeURL {
		v = v[strings.Index(v, "://")+3:]
		if strings.HasPrefix(v, "[") {
			return "", errors.New("URL lists do not take IPv6 addresses")
		}
		if i := strings.IndexByte(v, '/'); i == len(v)-1 {
			v = v[:i]
		}
	}
	if listType == URLListRegex {
		v = regexp.QuoteMeta(v)
	}
	return v, nil
}

// pushURLList appends the values of in that the list lacks, then deploys.
func (p *Plugin) pushURLList(ctx context.Context, name string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	if len(in) == 0 {
		return res, nil
	}
	target := TargetURLList + name
	l, err := p.c.URLListByName(ctx, name)
	if err != nil {
		return res, fmt.Errorf("netskope: push to %s: %w", target, err)
	}
	typ := cmpOr(l.Data.Type, URLListExact)
	existing := make(map[string]bool, len(l.Data.URLs))
	for _, u := range l.Data.URLs {
		existing[u] = true
	}
	// entry → the input values that map to it
	byEntry := map[string][]string{}
	var order []string
	var done []string // input values found in the list or appended: what a deploy makes count
	for _, ind := range in {
		e, err := URLListEntry(typ, ind)
		switch {
		case err != nil:
			res.Rejected = append(res.Rejected, reject(ind.Value, err.Error(), false))
		case existing[e]:
			res.Unchanged++
			done = append(done, ind.Value)
		default:
			if _, ok := byEntry[e]; !ok {
				order = append(order, e)
			}
			byEntry[e] = append(byEntry[e], ind.Value)
		}
	}
	// Deploy applies every staged URL-list change of the tenant. With nothing new to
	// append, deploy only to finish a change of ours (a deploy that failed before),
	// never to publish what an administrator staged in the UI.
	ours := l.Pending != 0 && strings.EqualFold(l.ModifyBy, ModifiedByAPI)
	if len(order) == 0 && !ours {
		return res, nil
	}
	for len(order) > 0 {
		n, size := 0, 0
		for n < len(order) && n < MaxListEntries && size+len(order[n])+3 <= maxURLBatchBytes {
			size += len(order[n]) + 3
			n++
		}
		n = max(n, 1)
		batch := order[:n]
		order = order[n:]
		applied := res.Applied
		if err := p.appendBatch(ctx, l.ID, typ, batch, byEntry, &res, &done); err != nil {
			for _, e := range order {
				failAll(&res, byEntry[e], err)
			}
			if applied > 0 || ours {
				// What the batches before wrote (or a change of ours found
				// staged) is staged, not deployed: retryable, as when the
				// deploy fails. Sent again, it is found staged and deployed.
				// No deploy now: the tenant is failing requests.
				undeployed(&res, done, err)
			}
			return res, fmt.Errorf("netskope: push to %s: %w", target, err)
		}
	}
	if err := p.c.DeployURLLists(ctx); err != nil {
		undeployed(&res, done, err)
		return res, fmt.Errorf("netskope: push to %s: the values are staged but not deployed: %w", target, err)
	}
	return res, nil
}

// undeployed reports the values a URL-list change wrote, or found staged, as
// retryable when the deploy failed: the change is staged, not in force, and counting
// them applied would let the engine forget them while nothing deploys the list. Sent
// again, they are found staged and the list is deployed.
func undeployed(res *cte.PushResult, values []string, err error) {
	res.Applied, res.Unchanged = 0, 0
	for _, v := range values {
		res.Rejected = append(res.Rejected, reject(v, "staged but not deployed: "+err.Error(), true))
	}
}

// appendBatch appends entries; values the tenant refuses (400) are rejected with its
// reason and the rest sent once more. On error the batch's values are accounted as
// retryable rejections.
func (p *Plugin) appendBatch(ctx context.Context, id int64, typ string, batch []string, byEntry map[string][]string, res *cte.PushResult, done *[]string) error {
	for attempt := 0; ; attempt++ {
		_, err := p.c.AppendURLs(ctx, id, typ, batch)
		if err == nil {
			for _, e := range batch {
				res.Applied += len(byEntry[e])
				*done = append(*done, byEntry[e]...)
			}
			return nil
		}
		var e *Error
		if attempt == 0 && errors.As(err, &e) && errors.Is(err, ErrRejected) && len(e.Invalid) > 0 {
			refused := map[string]string{}
			for _, iv := range e.Invalid {
				refused[iv.Value] = iv.Reason
			}
			rest := batch[:0:0]
			for _, en := range batch {
				if reason, ok := refused[en]; ok {
					for _, v := range byEntry[en] {
						res.Rejected = append(res.Rejected, cte.Rejected{Value: v, Reason: "refused by the tenant: " + reason, Code: "400"})
					}
					continue
				}
				rest = append(rest, en)
			}
			if len(rest) < len(batch) {
				p.log.Info("netskope: the tenant refused URL list values; sending the rest once more",
					"refused", len(batch)-len(rest), "rest", len(rest))
				if len(rest) == 0 {
					return nil
				}
				batch = rest
				continue
			}
		}
		for _, en := range batch {
			failAll(res, byEntry[en], err)
		}
		return err
	}
}

// retractURLList replaces the list with its entries minus those of in, then deploys.
func (p *Plugin) retractURLList(ctx context.Context, name string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	if len(in) == 0 {
		return res, nil
	}
	target := TargetURLList + name
	l, err := p.c.URLListByName(ctx, name)
	if err != nil {
		return res, fmt.Errorf("netskope: retract from %s: %w", target, err)
	}
	typ := cmpOr(l.Data.Type, URLListExact)
	present := make(map[string]bool, len(l.Data.URLs))
	for _, u := range l.Data.URLs {
		present[u] = true
	}
	remove := map[string]bool{}
	var removed, absent []string
	for _, ind := range in {
		e, err := URLListEntry(typ, ind)
		switch {
		case err != nil:
			res.Rejected = append(res.Rejected, reject(ind.Value, err.Error(), false))
		case present[e] || remove[e]:
			remove[e] = true
			removed = append(removed, ind.Value)
		default:
			res.Unchanged++
			absent = append(absent, ind.Value)
		}
	}
	if len(removed) == 0 {
		// Nothing to remove. A removal of ours may still be staged (its deploy
		// failed): finish it, but never publish what an administrator staged.
		if l.Pending != 0 && strings.EqualFold(l.ModifyBy, ModifiedByAPI) {
			if err := p.c.DeployURLLists(ctx); err != nil {
				undeployed(&res, absent, err)
				return res, fmt.Errorf("netskope: retract from %s: the removal is staged but not deployed: %w", target, err)
			}
		}
		return res, nil
	}
	keep := make([]string, 0, len(l.Data.URLs))
	for _, u := range l.Data.URLs {
		if !remove[u] {
			keep = append(keep, u)
		}
	}
	if len(keep) == 0 {
		keep = []string{URLListPlaceholder}
	}
	if _, err := p.c.ReplaceURLs(ctx, l.ID, typ, keep); err != nil {
		failAll(&res, removed, err)
		return res, fmt.Errorf("netskope: retract from %s: %w", target, err)
	}
	res.Applied = len(removed)
	if err := p.c.DeployURLLists(ctx); err != nil {
		undeployed(&res, append(removed, absent...), err)
		return res, fmt.Errorf("netskope: retract from %s: the removal is staged but not deployed: %w", target, err)
	}
	return res, nil
}
