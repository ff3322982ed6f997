package mimecast

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

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
