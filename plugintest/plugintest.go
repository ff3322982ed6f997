package plugintest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Harness is one fresh plugin setup for a conformance check.
type Harness struct {
	// Plugin is configured against a backend that has indicators to pull and targets
	// to push to.
	Plugin cte.Plugin
	// BadAuth is the same plugin against the same backend with wrong credentials.
	BadAuth cte.Plugin
	// AllowRepeats says a resumed pull may deliver again some indicators of the page
	// it resumes after (for plugins that resume with an overlap window). Losing an
	// indicator is never allowed.
	AllowRepeats bool
	// RateLimit makes the backend answer the plugin's next requests with a rate
	// limit asking to wait the given time (e.g. a fake's 429 with Retry-After), for
	// the RateLimitWait check: a push must then fail with an error wrapping
	// cte.ErrRateLimited that carries that wait (cte.RetryAfter), so a host can hold
	// its pushes until then.
	RateLimit func(wait time.Duration)
}

// Run runs the conformance checks as subtests, each on a fresh harness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Plugin == nil {
				t.Fatal("plugintest: Harness.Plugin is nil")
			}
			if err := c.fn(t.Context(), h); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type check struct {
	name string
	fn   func(ctx context.Context, h Harness) error
}

var checks = []check{
	{"Validate", checkValidate},
	{"ValidateBadAuth", checkBadAuth},
	{"Targets", checkTargets},
	{"PullResume", checkPullResume},
	{"PushEmpty", checkPushEmpty},
	{"PushUnknownTarget", checkPushUnknown},
	{"PushAccounting", checkPushAccounting},
	{"Cancel", checkCancel},
	{"RateLimitWait", checkRateLimitWait},
}

func checkValidate(ctx context.Context, h Harness) error {
	if err := h.Plugin.Validate(ctx); err != nil {
		return fmt.Errorf("Validate with good credentials: %v", err)
	}
	return nil
}

func checkBadAuth(ctx context.Context, h Harness) error {
	if h.BadAuth == nil {
		return errors.New("Harness.BadAuth is nil: give the plugin with wrong credentials")
	}
	err := h.BadAuth.Validate(ctx)
	if !errors.Is(err, cte.ErrAuth) {
		return fmt.Errorf("Validate with bad credentials = %v, want an error wrapping cte.ErrAuth", err)
	}
	return nil
}

func checkTargets(ctx context.Context, h Harness) error {
	ts, err := h.Plugin.GetTargets(ctx)
	if err != nil {
		return fmt.Errorf("GetTargets: %v", err)
	}
	seen := map[string]bool{}
	for _, t := range ts {
		switch {
		case t.ID == "":
			return fmt.Errorf("target %+v has an empty ID", t)
		case seen[t.ID]:
			return fmt.Errorf("target ID %q listed twice", t.ID)
		case t.Mode != cte.Append && t.Mode != cte.Replace:
			return fmt.Errorf("target %q has mode %v, want Append or Replace", t.ID, t.Mode)
		case len(t.Types) == 0:
			return fmt.Errorf("target %q accepts no types", t.ID)
		}
		for _, typ := range t.Types {
			if !typ.Valid() {
				return fmt.Errorf("target %q lists invalid type %v", t.ID, typ)
			}
		}
		seen[t.ID] = true
	}
	return nil
}

type key struct {
	t ioc.Type
	v string
}

func pullAll(ctx context.Context, p cte.Plugin, from cte.Checkpoint, limit int) ([]cte.Page, error) {
	var pages []cte.Page
	for page, err := range p.Pull(ctx, from) {
		if err != nil {
			return pages, err
		}
		pages = append(pages, page)
		if limit > 0 && len(pages) == limit {
			break
		}
	}
	return pages, nil
}

func checkPullResume(ctx context.Context, h Harness) error {
	full, err := pullAll(ctx, h.Plugin, nil, 0)
	if err != nil {
		return fmt.Errorf("Pull from nil checkpoint: %v", err)
	}
	want := map[key]bool{}
	for _, p := range full {
		for _, ind := range p.Indicators {
			if !ind.Type.Valid() {
				return fmt.Errorf("Pull yielded an indicator of invalid type: %+v", ind)
			}
			if v, err := ioc.Parse(ind.Type, ind.Value); err != nil || v != ind.Value {
				return fmt.Errorf("Pull yielded %s %q that is not in normal form (%v)", ind.Type, ind.Value, err)
			}
			want[key{ind.Type, ind.Value}] = true
		}
	}
	if len(want) == 0 {
		return errors.New("Pull from nil checkpoint yielded no indicators: seed the backend so resuming can be checked")
	}
	first, err := pullAll(ctx, h.Plugin, nil, 1)
	if err != nil || len(first) != 1 {
		return fmt.Errorf("Pull first page again: %d pages, %v", len(first), err)
	}
	if first[0].Next == nil {
		return errors.New("the first page's Next checkpoint is nil: a host could not resume")
	}
	rest, err := pullAll(ctx, h.Plugin, first[0].Next, 0)
	if err != nil {
		return fmt.Errorf("Pull resumed from the first page's checkpoint: %v", err)
	}
	got := map[key]bool{}
	inFirst := map[key]bool{}
	for _, ind := range first[0].Indicators {
		got[key{ind.Type, ind.Value}] = true
		inFirst[key{ind.Type, ind.Value}] = true
	}
	for _, p := range rest {
		for _, ind := range p.Indicators {
			k := key{ind.Type, ind.Value}
			if inFirst[k] && !h.AllowRepeats {
				return fmt.Errorf("resumed pull repeated %s %s from the page it resumed after", ind.Type, ind.Value)
			}
			got[k] = true
		}
	}
	for k := range want {
		if !got[k] {
			return fmt.Errorf("resumed pull lost %s %s (first page plus resumed pages miss it)", k.t, k.v)
		}
	}
	return nil
}

func checkPushEmpty(ctx context.Context, h Harness) error {
	ts, err := h.Plugin.GetTargets(ctx)
	if err != nil {
		return fmt.Errorf("GetTargets: %v", err)
	}
	for _, t := range ts {
		res, err := h.Plugin.Push(ctx, t, nil)
		if err != nil {
			return fmt.Errorf("Push of nothing to %s: %v", t.ID, err)
		}
		if res.Applied != 0 || res.Unchanged != 0 || len(res.Rejected) != 0 {
			return fmt.Errorf("Push of nothing to %s = %+v, want zero", t.ID, res)
		}
	}
	return nil
}

func checkPushUnknown(ctx context.Context, h Harness) error {
	t := cte.Target{ID: "plugintest/no-such-target", Mode: cte.Append, Types: ioc.Types()}
	_, err := h.Plugin.Push(ctx, t, Samples(ioc.TypeSHA256))
	if err == nil {
		return errors.New("Push to an unknown target returned no error")
	}
	return nil
}

// Samples returns one valid, normalised indicator of each given type.
func Samples(types ...ioc.Type) []ioc.Indicator {
	values := map[ioc.Type]string{
		ioc.TypeSHA256:   "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		ioc.TypeMD5:      "44d88612fea8a8f36de82e1278abb02f",
		ioc.TypeURL:      "http://malware.example.net/payload.exe",
		ioc.TypeDomain:   "malware.example.net",
		ioc.TypeHostname: "c2.malware.example.net",
		ioc.TypeIPv4:     "203.0.113.7",
		ioc.TypeIPv6:     "2001:db8::7",
	}
	out := make([]ioc.Indicator, 0, len(types))
	for _, t := range types {
		out = append(out, ioc.Indicator{Type: t, Value: values[t], Severity: ioc.SeverityHigh, Comments: "plugintest sample"})
	}
	return out
}

// invalidValues are values a plugin must reject rather than send.
var invalidValues = map[ioc.Type]string{
	ioc.TypeSHA256:   "not-a-sha256",
	ioc.TypeMD5:      "zz",
	ioc.TypeURL:      "javascript:alert(1)",
	ioc.TypeDomain:   "-bad-.example",
	ioc.TypeHostname: "-bad-.example",
	ioc.TypeIPv4:     "999.1.1.1",
	ioc.TypeIPv6:     "2001:db8::zz",
}

func checkPushAccounting(ctx context.Context, h Harness) error {
	ts, err := h.Plugin.GetTargets(ctx)
	if err != nil {
		return fmt.Errorf("GetTargets: %v", err)
	}
	for _, t := range ts {
		in := Samples(t.Types...)
		bad := ioc.Indicator{Type: t.Types[0], Value: invalidValues[t.Types[0]]}
		in = append(in, bad)
		res, err := h.Plugin.Push(ctx, t, in)
		if err != nil {
			return fmt.Errorf("Push of samples to %s: %v", t.ID, err)
		}
		if n := res.Applied + res.Unchanged + len(res.Rejected); n != len(in) {
			return fmt.Errorf("Push to %s accounted for %d of %d indicators: %+v", t.ID, n, len(in), res)
		}
		values := make([]string, len(in))
		for i, ind := range in {
			values[i] = ind.Value
		}
		badRejected := false
		for _, r := range res.Rejected {
			if !slices.Contains(values, r.Value) {
				return fmt.Errorf("Push to %s rejected %q, which was not pushed", t.ID, r.Value)
			}
			if r.Reason == "" {
				return fmt.Errorf("Push to %s rejected %q without a reason", t.ID, r.Value)
			}
			badRejected = badRejected || r.Value == bad.Value
		}
		if !badRejected {
			return fmt.Errorf("Push to %s did not reject the invalid %s %q", t.ID, bad.Type, bad.Value)
		}
	}
	return nil
}

func checkCancel(ctx context.Context, h Harness) error {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	n := 0
	for _, err := range h.Plugin.Pull(ctx, nil) {
		n++
		if err == nil {
			return errors.New("Pull with a cancelled context yielded a page")
		}
		if !errors.Is(err, context.Canceled) {
			return fmt.Errorf("Pull with a cancelled context: %v, want an error wrapping context.Canceled", err)
		}
	}
	if n != 1 {
		return fmt.Errorf("Pull with a cancelled context yielded %d times, want the error once", n)
	}
	ts, err := h.Plugin.GetTargets(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("GetTargets: %v", err)
	}
	for _, t := range ts {
		if _, err := h.Plugin.Push(ctx, t, Samples(t.Types[0])); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("Push to %s with a cancelled context: %v, want an error wrapping context.Canceled", t.ID, err)
		}
	}
	return nil
}

// rateLimitWait is what RateLimitWait asks the backend to demand: longer than any
// plugin waits by itself.
const rateLimitWait = 2 * time.Hour

func checkRateLimitWait(ctx context.Context, h Harness) error {
	if h.RateLimit == nil {
		return errors.New("Harness.RateLimit is nil: give a function that makes the backend answer with a rate limit (429 and a wait)")
	}
	ts, err := h.Plugin.GetTargets(ctx)
	if err != nil {
		return fmt.Errorf("GetTargets: %v", err)
	}
	if len(ts) == 0 {
		return nil // a pull-only plugin pushes nowhere
	}
	t := ts[0]
	h.RateLimit(rateLimitWait)
	_, err = h.Plugin.Push(ctx, t, Samples(t.Types[0]))
	if !errors.Is(err, cte.ErrRateLimited) {
		return fmt.Errorf("Push to %s while rate limited: %v, want an error wrapping cte.ErrRateLimited", t.ID, err)
	}
	wait, ok := cte.RetryAfter(err)
	if !ok || wait < rateLimitWait-time.Minute || wait > rateLimitWait+time.Minute {
		return fmt.Errorf("Push to %s while rate limited: the error carries a wait of %v, want about %v (cte.RateLimitError or a RetryAfter method): %v", t.ID, wait, rateLimitWait, err)
	}
	return nil
}
