package plugintest

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Fake is an in-memory cte.Plugin for tests of code that drives plugins, such as the
// sharing engine. It serves a feed of indicators in pages, keeps the contents of each
// of its targets, records every push and retraction, and can be told to reject
// values or fail calls. It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	feed     []ioc.Indicator
	pageSize int
	targets  []cte.Target
	contents map[string]map[string]ioc.Indicator
	pushes   []Call
	retracts []Call
	reject   func(target string, ind ioc.Indicator) *cte.Rejected
	failPush []error
	failPull []error
	badAuth  bool
}

// Call is one recorded Push or Retract.
type Call struct {
	Target     string
	Indicators []ioc.Indicator
	Result     cte.PushResult
	Err        error
}

var (
	_ cte.Plugin    = (*Fake)(nil)
	_ cte.Retractor = (*Fake)(nil)
)

// NewFake returns a Fake with the given targets, serving pages of 100 indicators.
func NewFake(targets ...cte.Target) *Fake {
	return &Fake{pageSize: 100, targets: targets, contents: map[string]map[string]ioc.Indicator{}}
}

// SetPageSize sets how many indicators a pulled page holds (at least 1).
func (f *Fake) SetPageSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageSize = max(n, 1)
}

// Feed appends indicators to the feed that Pull serves; a later pull from an
// earlier checkpoint sees them.
func (f *Fake) Feed(in ...ioc.Indicator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.feed = append(f.feed, in...)
}

// SetBadAuth makes Validate, Pull, Push and GetTargets fail with cte.ErrAuth.
func (f *Fake) SetBadAuth(bad bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.badAuth = bad
}

// SetReject installs a function that decides, per target and indicator, whether a
// push rejects it; nil accepts everything.
func (f *Fake) SetReject(fn func(target string, ind ioc.Indicator) *cte.Rejected) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = fn
}

// FailNextPush makes the next len(errs) Push calls fail whole with those errors,
// applying nothing.
func (f *Fake) FailNextPush(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failPush = append(f.failPush, errs...)
}

// FailNextPull makes the next len(errs) Pull calls yield those errors after
// delivering their first page.
func (f *Fake) FailNextPull(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failPull = append(f.failPull, errs...)
}

// Pushes returns every Push call so far.
func (f *Fake) Pushes() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pushes)
}

// Retractions returns every Retract call so far.
func (f *Fake) Retractions() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.retracts)
}

// Contents returns the sorted values a target holds now.
func (f *Fake) Contents(target string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.contents[target]))
	for v := range f.contents[target] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Validate fails with cte.ErrAuth after SetBadAuth(true).
func (f *Fake) Validate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.badAuth {
		return fmt.Errorf("fake: credentials refused: %w", cte.ErrAuth)
	}
	return nil
}

// ReadsPagesAhead implements cte.PageAheadReader: the checkpoint is an offset
// into the feed, and the fake keeps no read position of its own.
func (f *Fake) ReadsPagesAhead() bool { return true }

// Pull serves the feed from the checkpoint, which is the decimal offset reached.
func (f *Fake) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		off := 0
		if len(from) > 0 {
			n, err := strconv.Atoi(string(from))
			if err != nil || n < 0 {
				yield(cte.Page{}, fmt.Errorf("fake: bad checkpoint %q: %w", from, cte.ErrInvalidConfig))
				return
			}
			off = n
		}
		f.mu.Lock()
		if f.badAuth {
			f.mu.Unlock()
			yield(cte.Page{}, fmt.Errorf("fake: credentials refused: %w", cte.ErrAuth))
			return
		}
		var failAfterFirst error
		if len(f.failPull) > 0 {
			failAfterFirst, f.failPull = f.failPull[0], f.failPull[1:]
		}
		f.mu.Unlock()
		for pages := 0; ; pages++ {
			if err := ctx.Err(); err != nil {
				yield(cte.Page{}, err)
				return
			}
			if failAfterFirst != nil && pages == 1 {
				yield(cte.Page{}, failAfterFirst)
				return
			}
			f.mu.Lock()
			end := min(off+f.pageSize, len(f.feed))
			if off >= end {
				f.mu.Unlock()
				return
			}
			page := cte.Page{Indicators: slices.Clone(f.feed[off:end]), Next: cte.Checkpoint(strconv.Itoa(end))}
			f.mu.Unlock()
			off = end
			if !yield(page, nil) {
				return
			}
		}
	}
}

// GetTargets returns the targets the Fake was made with.
func (f *Fake) GetTargets(ctx context.Context) ([]cte.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.badAuth {
		return nil, fmt.Errorf("fake: credentials refused: %w", cte.ErrAuth)
	}
	return slices.Clone(f.targets), nil
}

func (f *Fake) target(id string) (cte.Target, bool) {
	for _, t := range f.targets {
		if t.ID == id {
			return t, true
		}
	}
	return cte.Target{}, false
}

// Push applies in to the target: Append adds or updates values, Replace makes the
// target hold exactly the accepted values. Values of types the target does not take,
// values past Limits.MaxItems and values the reject function refuses are Rejected.
func (f *Fake) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res, err := f.push(t, in)
	f.pushes = append(f.pushes, Call{Target: t.ID, Indicators: slices.Clone(in), Result: res, Err: err})
	return res, err
}

func (f *Fake) push(t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	var res cte.PushResult
	if f.badAuth {
		return res, fmt.Errorf("fake: credentials refused: %w", cte.ErrAuth)
	}
	known, ok := f.target(t.ID)
	if !ok {
		return res, fmt.Errorf("fake: unknown target %q: %w", t.ID, cte.ErrNotSupported)
	}
	if len(f.failPush) > 0 {
		err := f.failPush[0]
		f.failPush = f.failPush[1:]
		return res, err
	}
	cur := f.contents[t.ID]
	if cur == nil {
		cur = map[string]ioc.Indicator{}
	}
	next := cur
	if known.Mode == cte.Replace {
		next = map[string]ioc.Indicator{}
	}
	for _, ind := range in {
		switch {
		case !known.Accepts(ind.Type):
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Reason: fmt.Sprintf("type %s not accepted", ind.Type), Code: "type"})
			continue
		case !valid(ind):
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Reason: fmt.Sprintf("not a valid %s", ind.Type), Code: "invalid"})
			continue
		case f.reject != nil:
			if r := f.reject(t.ID, ind); r != nil {
				r.Value = ind.Value
				res.Rejected = append(res.Rejected, *r)
				continue
			}
		}
		if _, have := next[ind.Value]; !have && known.Limits.MaxItems > 0 && len(next) >= known.Limits.MaxItems {
			res.Rejected = append(res.Rejected, cte.Rejected{Value: ind.Value, Reason: cte.ReasonOverCapacity, Code: "capacity"})
			continue
		}
		if old, have := cur[ind.Value]; have && sameIndicator(old, ind) {
			res.Unchanged++
		} else {
			res.Applied++
		}
		next[ind.Value] = ind
	}
	f.contents[t.ID] = next
	return res, nil
}

func valid(ind ioc.Indicator) bool {
	v, err := ioc.Parse(ind.Type, ind.Value)
	return err == nil && v == ind.Value
}

func sameIndicator(a, b ioc.Indicator) bool {
	return a.Type == b.Type && a.Value == b.Value && a.Severity == b.Severity && a.Comments == b.Comments &&
		a.LastSeen.Equal(b.LastSeen) && slices.Equal(a.Tags, b.Tags)
}

// Retract removes in from an Append target; values it does not hold count as
// Unchanged.
func (f *Fake) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if err := ctx.Err(); err != nil {
		return cte.PushResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var res cte.PushResult
	var err error
	known, ok := f.target(t.ID)
	switch {
	case f.badAuth:
		err = fmt.Errorf("fake: credentials refused: %w", cte.ErrAuth)
	case !ok:
		err = fmt.Errorf("fake: unknown target %q: %w", t.ID, cte.ErrNotSupported)
	case known.Mode != cte.Append:
		err = fmt.Errorf("fake: target %q is not an append target: %w", t.ID, cte.ErrNotSupported)
	default:
		for _, ind := range in {
			if _, have := f.contents[t.ID][ind.Value]; have {
				delete(f.contents[t.ID], ind.Value)
				res.Applied++
			} else {
				res.Unchanged++
			}
		}
	}
	f.retracts = append(f.retracts, Call{Target: t.ID, Indicators: slices.Clone(in), Result: res, Err: err})
	return res, err
}
