package mimecast

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

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

// hashItems turns indicators into create-batch entries; what is not a valid
// hash is rejected for good. values holds the indicator values as given, index
// for index with hashes.
func (p *Plugin) hashItems(target, op string, in []ioc.Indicator) (res cte.PushResult, hashes []Hash, values []string) {
	hashes = make([]Hash, 0, len(in))
	values = make([]string, 0, len(in))
	for _, ind := range in {
		if !ind.Type.IsHash() {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Code: "unsupported_type",
				Reason: fmt.Sprintf("%s takes md5 and sha256 indicators, not %s", target, ind.Type)})
			continue
		}
		v, err := ioc.Parse(ind.Type, ind.Value)
		if err != nil {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Code: "invalid_value", Reason: "invalid " + ioc.Reason(err)})
			continue
		}
		desc := ""
		if op != OpDelete {
			desc = ioc.TruncateRunes(strings.TrimSpace(ind.Comments), MaxDescriptionLen)
		}
		hashes = append(hashes, Hash{Hash: v, Provider: p.cfg.Provider, Description: desc})
		values = append(values, ind.Value)
	}
	return res, hashes, values
}

// maxDownBatches is how many batches in a row may fail on the transport (HTTP
// errors or no answer, after the retries) before a push stops sending: Mimecast
// is then down, and the rest waits for the next run.
const maxDownBatches = 2

// pushHashes sends hashes to create-batch in batches of MaxBatch and accounts
// for every one. A batch Mimecast did not take as a whole (an HTTP or connection
// failure after the retries, a fail entry without a key, or a hashCount that does
// not match what was sent) is not a verdict on its hashes: they are rejected as
// retryable, later batches are still sent, and the push returns an error wrapping
// the first batch's error, so the host counts the push as failed. A cancelled
// context leaves the hashes not yet sent unaccounted (the host sends them again
// without counting an attempt); a spent quota, refused credentials or a long
// rate-limit wait stop the push with the rest rejected as retryable.
func (p *Plugin) pushHashes(ctx context.Context, target, op string, in []ioc.Indicator) (cte.PushResult, error) {
	res, hashes, orig := p.hashItems(target, op, in)
	nBatches := (len(hashes) + MaxBatch - 1) / MaxBatch
	var first error
	failed, down := 0, 0
	for b := 0; b < nBatches; b++ {
		lo, hi := b*MaxBatch, min((b+1)*MaxBatch, len(hashes))
		batch, values := hashes[lo:hi], orig[lo:hi]
		br, err := p.c.CreateBatch(ctx, op, batch)
		if err == nil && br.Quota() {
			return p.quotaStop(target, br, batch, orig, lo, hi, b, nBatches, res)
		}
		if err != nil && ctx.Err() != nil {
			return res, fmt.Errorf("mimecast: push to %s: batch %d of %d: stopped with %d hashes not sent: %w", target, b+1, nBatches, len(orig)-lo, context.Cause(ctx))
		}
		if err != nil && stopping(ctx, err) {
			notSent(&res, orig[lo:], err)
			return res, fmt.Errorf("mimecast: push to %s: batch %d of %d: %d hashes not sent: %w", target, b+1, nBatches, len(orig)-lo, err)
		}
		if err != nil {
			notSent(&res, values, err)
			down++
		} else {
			var out cte.PushResult
			out, err = batchOutcome(br, batch, values)
			res.Add(out)
			down = 0
		}
		if err == nil {
			continue
		}
		failed++
		if first == nil {
			first = fmt.Errorf("batch %d of %d: %w", b+1, nBatches, err)
		}
		p.log.Warn("mimecast: create-batch not applied; its hashes are retried on the next run", "target", target, "batch", b+1, "of", nBatches, "err", err)
		if down >= maxDownBatches && hi < len(hashes) {
			notSent(&res, orig[hi:], fmt.Errorf("not sent: %d batches in a row failed: %w", down, err))
			return res, fmt.Errorf("mimecast: push to %s: stopped after %d failed batches in a row, %d hashes not sent: %w", target, down, len(orig)-hi, first)
		}
	}
	if first != nil {
		return res, fmt.Errorf("mimecast: push to %s: %d of %d batches not applied (their hashes are retried): %w", target, failed, nBatches, first)
	}
	return res, nil
}

// quotaStop ends a push whose batch b met the spent quota: hashes Mimecast took
// before the quota ran out count; the rest of this batch and every later batch
// are retryable.
func (p *Plugin) quotaStop(target string, br BatchResult, batch []Hash, orig []string, lo, hi, b, nBatches int, res cte.PushResult) (cte.PushResult, error) {
	out, _ := batchOutcome(br, batch, orig[lo:hi])
	for i := range out.Rejected {
		out.Rejected[i].Retryable = true
	}
	res.Add(out)
	for _, v := range orig[hi:] {
		res.Rejected = append(res.Rejected, cte.Rejected{Value: v, Reason: "not sent: " + quotaText, Code: "quota", Retryable: true})
	}
	return res, fmt.Errorf("mimecast: push to %s: batch %d of %d: %d hashes not applied: %w", target, b+1, nBatches, len(out.Rejected)+len(orig)-hi, quotaError(br))
}

// notSent rejects values as retryable because of err.
func notSent(res *cte.PushResult, values []string, err error) {
	for _, v := range values {
		r := rejection(v, err)
		r.Retryable = true
		res.Rejected = append(res.Rejected, r)
	}
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

// CodeUnconfirmed is the Rejected.Code of hashes a create-batch answer did not
// confirm: its hashCount differs from the hashes sent without a failure.
const CodeUnconfirmed = "unconfirmed"

// batchOutcome accounts for every hash of one create-batch answer. Per-hash
// failures are Mimecast's verdict on that hash, with its retryable flag. A fail
// entry without a key (the whole batch failed) or a hashCount that differs from
// the hashes sent without a failure leaves the other hashes unconfirmed: they are
// rejected as retryable, and the error says why.
func batchOutcome(br BatchResult, batch []Hash, values []string) (cte.PushResult, error) {
	res := accountFailures(br, batch, values)
	var whole *HashFailure
	for i, f := range br.Failures {
		if f.Hash == "" {
			whole = &br.Failures[i]
			break
		}
	}
	var err error
	reason, code := "", CodeUnconfirmed
	switch {
	case whole != nil:
		e := &Error{Status: http.StatusOK, Code: whole.Code, Message: whole.Message, RequestID: br.RequestID, Retryable: true, Op: pathCreateBatch}
		classify(e)
		err, reason, code = e, "batch not applied: "+whole.Message, whole.Code
	case br.HashCount != res.Applied:
		err = fmt.Errorf("mimecast %s: %w: hashCount %d, but %d hashes were sent without a failure (request id %s); they are sent again on the next run",
			pathCreateBatch, ErrProtocol, br.HashCount, res.Applied, br.RequestID)
		reason = fmt.Sprintf("unconfirmed: Mimecast counted %d of the %d hashes sent without a failure", br.HashCount, res.Applied)
	default:
		return res, nil
	}
	failed := make(map[string]bool, len(res.Rejected))
	for _, r := range res.Rejected {
		failed[r.Value] = true
	}
	for _, v := range values {
		if !failed[v] {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: v, Reason: reason, Code: code, Retryable: true})
		}
	}
	res.Applied = 0
	return res, err
}

// accountFailures counts the hashes without a per-hash failure as applied and
// rejects the others with Mimecast's code, message and retryable flag.
func accountFailures(br BatchResult, batch []Hash, values []string) cte.PushResult {
	var res cte.PushResult
	perHash := map[string]HashFailure{}
	for _, f := range br.Failures {
		if f.Hash != "" {
			perHash[strings.ToLower(f.Hash)] = f
		}
	}
	for i, h := range batch {
		if f, failed := perHash[h.Hash]; failed {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: values[i], Reason: f.Message, Code: f.Code, Retryable: f.Retryable})
			continue
		}
		res.Applied++
	}
	return res
}
