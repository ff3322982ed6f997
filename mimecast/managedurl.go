package mimecast

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

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
			return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: "invalid " + ioc.Reason(err)}
		}
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = v[:i]
		}
		return ManagedURL{URL: v, Action: action, MatchType: "explicit", Comment: comment}, nil
	case ioc.TypeDomain:
		v, err := ioc.Parse(ioc.TypeDomain, ind.Value)
		if err != nil {
			return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: "invalid " + ioc.Reason(err)}
		}
		return ManagedURL{URL: "https://" + v, Action: action, MatchType: "domain", Comment: comment}, nil
	}
	return ManagedURL{}, &cte.Rejected{Value: ind.Value, Code: "unsupported_type", Reason: fmt.Sprintf("managed URLs take url and domain indicators, not %s", ind.Type)}
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
	var first error
	failed := 0
	for lo := 0; lo < len(items); lo += MaxCreateManaged {
		hi := min(lo+MaxCreateManaged, len(items))
		batch, values := items[lo:hi], orig[lo:hi]
		_, fails, err := p.c.CreateManagedURLs(ctx, batch)
		if err != nil && stopping(ctx, err) {
			if ctx.Err() == nil { // a stopped push leaves what it did not send unaccounted
				notSent(&res, orig[lo:], err)
			}
			return res, fmt.Errorf("mimecast: push to %s: %d URLs not sent: %w", target, len(orig)-lo, err)
		}
		if err != nil {
			p.log.Warn("mimecast: create-managed-url failed; its URLs are retried on the next run", "target", target, "err", err)
			// The request failed as a whole (a 408, a proxy's 400 or 404):
			// it says nothing of its URLs, so they are retryable, as a
			// create-batch request's hashes are; a refusal of one URL
			// comes in the answer's failures.
			notSent(&res, values, err)
			failed++
			first = cmp.Or(first, err)
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
	if first != nil {
		return res, fmt.Errorf("mimecast: push to %s: %d of the create-managed-url requests failed: %w", target, failed, first)
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

// retractGroup is one retracted value and the ids of its managed URLs.
type retractGroup struct {
	value string
	ids   []string
}

// deleteGroups deletes the managed URLs of pending with one call and accounts for
// each value. It returns the error when the retraction must stop.
func (p *Plugin) deleteGroups(ctx context.Context, pending []retractGroup, res *cte.PushResult) error {
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
	if err != nil && stopping(ctx, err) {
		return err
	}
	return nil
}

// findGroup looks up the managed URLs of it that carry its action.
func (p *Plugin) findGroup(ctx context.Context, it ManagedURL, value string) (retractGroup, error) {
	key := it.URL
	if it.MatchType == "domain" {
		key = strings.TrimPrefix(it.URL, "https://")
	}
	found, err := p.c.FindManagedURLs(ctx, key)
	g := retractGroup{value: value}
	for _, m := range found {
		if m.Action == it.Action && (m.MatchType == "" || m.MatchType == it.MatchType) && m.ID != "" {
			g.ids = append(g.ids, m.ID)
		}
	}
	return g, err
}

// retractURLs deletes the managed URLs matching in with the target's action: one
// lookup per value and one delete per MaxCreateManaged ids.
func (p *Plugin) retractURLs(ctx context.Context, target, action string, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	var pending []retractGroup
	nIDs := 0
	stop := func(rest []ioc.Indicator, err error) (cte.PushResult, error) {
		for _, ind := range rest {
			if ctx.Err() == nil { // a stopped retraction leaves the rest unaccounted
				res.Rejected = append(res.Rejected, rejection(ind.Value, err))
			}
		}
		return res, fmt.Errorf("mimecast: retract from %s: %w", target, err)
	}
	for i, ind := range in {
		it, rej := managedItem(ind, action, "")
		if rej != nil {
			res.Rejected = append(res.Rejected, *rej)
			continue
		}
		g, err := p.findGroup(ctx, it, ind.Value)
		switch {
		case err != nil && stopping(ctx, err):
			for _, g := range pending {
				if ctx.Err() == nil {
					res.Rejected = append(res.Rejected, rejection(g.value, err))
				}
			}
			return stop(in[i:], err)
		case err != nil:
			res.Rejected = append(res.Rejected, rejection(ind.Value, err))
			continue
		case len(g.ids) == 0:
			res.Unchanged++
			continue
		}
		pending = append(pending, g)
		if nIDs += len(g.ids); nIDs >= MaxCreateManaged {
			err := p.deleteGroups(ctx, pending, &res)
			pending, nIDs = nil, 0
			if err != nil {
				return stop(in[i+1:], err)
			}
		}
	}
	if err := p.deleteGroups(ctx, pending, &res); err != nil {
		return stop(nil, err)
	}
	return res, nil
}
