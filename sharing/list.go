package sharing

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/rule"
)

// Indicators returns up to limit stored records (all when limit <= 0), in value
// order, of which at least one source entry matches query (the rule language;
// empty matches everything).
func (e *Engine) Indicators(ctx context.Context, query string, limit int) ([]Record, error) {
	q, err := rule.Parse(query)
	if err != nil {
		return nil, fmt.Errorf("sharing: indicators: query: %w", err)
	}
	now := e.now()
	var out []Record
	err = e.store.View(ctx, func(tx Tx) error {
		return tx.Records(func(r *Record) error {
			for i := range r.Entries {
				if q.Match(&r.Entries[i].Indicator, now) {
					out = append(out, cloneRecord(r))
					if limit > 0 && len(out) >= limit {
						return ErrStop
					}
					return nil
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sharing: indicators: %w", err)
	}
	return out, nil
}

// SortBy orders a listing of indicators.
type SortBy string

// Listing orders. Ties are broken by value.
const (
	SortValue    SortBy = "value"    // by value, ascending (the store's order)
	SortLastSeen SortBy = "lastSeen" // most recently seen first
	SortSeverity SortBy = "severity" // most severe first, then most recently seen
)

// ListState selects indicators by state.
type ListState string

// Listing states.
const (
	ListAll      ListState = ""         // every record
	ListActive   ListState = "active"   // at least one source entry active
	ListInactive ListState = "inactive" // every source entry aged out or expired
)

// Listing bounds: a page holds at most MaxListLimit records, and Offset+Limit
// is at most MaxListDepth (a console pages through the first MaxListDepth
// matches; a narrower query reaches the others).
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
	MaxListDepth     = 10000
)

// ListOptions selects a page of stored indicators.
type ListOptions struct {
	Query  string    // the rule language; a record matches when one of its source entries does; empty matches all
	State  ListState // ListAll, ListActive or ListInactive
	Sort   SortBy    // empty is SortValue
	Offset int       // matches to skip
	Limit  int       // page size; 0 is DefaultListLimit
	// AllowStale lets a sorted listing answer from the keys it cached before
	// records changed (at once, with IndicatorPage.Stale set) while it is
	// computed again in the background: a console's pages stay fast while
	// pulls run. The page's records are read now, so what it shows of them is
	// current; only which values it holds and their order may lag.
	AllowStale bool
}

// IndicatorPage is one page of a listing.
type IndicatorPage struct {
	Items  []Listed
	Total  int  // records that match in the whole store; -1 when not counted (More says whether there are more)
	More   bool // matches after this page
	Stale  bool // the order is from before the last change (AllowStale); a newer one is being computed
	Offset int
	Limit  int
}

// Listed is one record of a listing with what a table shows of it.
type Listed struct {
	Record
	Severity ioc.Severity // the highest of its entries
	LastSeen time.Time    // the latest of its entries
	Active   bool         // at least one entry is active
	Mark     *Mark        // set when an operator took it out of sharing
}

// listKey is what a listing keeps of a match while it scans.
type listKey struct {
	value string
	last  int64
	sev   ioc.Severity
}

// listCache holds the last sorted listings (the first MaxListDepth keys of a
// query, state and order), each valid while no record changed (gen) within
// the minute it was computed in (activity and relative times move with the
// clock).
type listCache struct {
	mu      sync.Mutex
	entries map[string]*listEntry // by order, state and query; at most maxListings

	counts    StoreCounts // Counts, by the same rule
	countsGen uint64
	countsAt  int64
	countsOK  bool
}

// maxListings is how many sorted listings the cache keeps.
const maxListings = 8

type listEntry struct {
	gen      uint64
	minute   int64
	keys     []listKey
	total    int
	used     int64 // the minute it was last read, for eviction
	building bool  // a background computation runs (AllowStale)
}

// lookup returns the cached keys of a listing: fresh, or stale when allowed
// (then starting a computation in the background, once).
func (c *listCache) lookup(what string, gen uint64, minute int64, allowStale bool, rebuild func()) (keys []listKey, total int, stale, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent := c.entries[what]
	switch {
	case ent == nil:
		return nil, 0, false, false
	case ent.gen == gen && ent.minute == minute:
	case !allowStale:
		return nil, 0, false, false
	default:
		stale = true
		if !ent.building {
			ent.building = true
			go rebuild()
		}
	}
	ent.used = minute
	return ent.keys, ent.total, stale, true
}

// store keeps a computed listing, evicting the least recently read one.
func (c *listCache) store(what string, gen uint64, minute int64, keys []listKey, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*listEntry{}
	}
	if old := c.entries[what]; old != nil && old.gen > gen {
		return // a newer one landed meanwhile
	}
	if _, ok := c.entries[what]; !ok && len(c.entries) >= maxListings {
		var lru string
		for w, e := range c.entries {
			if lru == "" || e.used < c.entries[lru].used {
				lru = w
			}
		}
		delete(c.entries, lru)
	}
	c.entries[what] = &listEntry{gen: gen, minute: minute, keys: keys, total: total, used: minute}
}

// done says a background computation of what ended (stored or failed).
func (c *listCache) done(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ent := c.entries[what]; ent != nil {
		ent.building = false
	}
}

// recordsChanged says that stored records changed, so a cached listing is
// stale. Every write of records by the engine calls it after its commit.
func (e *Engine) recordsChanged() { e.listGen.Add(1) }

// List returns a page of the stored indicators that match o.
//
// In value order (the store's) it reads records until the page is full and
// one more match is found, so the first pages are cheap; Total is then -1
// unless the scan reached the end. Sorted by lastSeen or severity it reads
// every record once, keeps the first MaxListDepth matches in a bounded heap
// and caches them (the last maxListings listings): paging through the same
// listing reads only the page's records until a record changes (a pull, aging
// or an action). With AllowStale a changed listing is answered from the cache
// at once and computed again in the background.
func (e *Engine) List(ctx context.Context, o ListOptions) (IndicatorPage, error) {
	o.Limit = cmp.Or(o.Limit, DefaultListLimit)
	switch {
	case o.Limit < 0 || o.Limit > MaxListLimit:
		return IndicatorPage{}, invalid(fmt.Errorf("sharing: list: limit %d is out of range: give 1 to %d", o.Limit, MaxListLimit))
	case o.Offset < 0 || o.Offset+o.Limit > MaxListDepth:
		return IndicatorPage{}, invalid(fmt.Errorf("sharing: list: offset %d is out of range: give 0 to %d, or narrow the query", o.Offset, MaxListDepth-o.Limit))
	}
	o.Sort = cmp.Or(o.Sort, SortValue)
	cmpKey, err := listOrder(o.Sort)
	if err != nil {
		return IndicatorPage{}, err
	}
	if o.State != ListAll && o.State != ListActive && o.State != ListInactive {
		return IndicatorPage{}, invalid(fmt.Errorf("sharing: list: state %q is unknown: give active, inactive or nothing", o.State))
	}
	q, err := rule.Parse(o.Query)
	if err != nil {
		return IndicatorPage{}, invalid(fmt.Errorf("sharing: list: query: %w", err))
	}
	now := e.now()
	aging := e.agings()
	page := IndicatorPage{Offset: o.Offset, Limit: o.Limit}
	depth := o.Offset + o.Limit
	what := fmt.Sprintf("%s\x00%s\x00%s", o.Sort, o.State, o.Query)
	gen, minute := e.listGen.Load(), now.Unix()/60
	sorted := func(tx Tx) ([]listKey, int, error) {
		h := &topK{cmp: cmpKey, k: MaxListDepth}
		total, err := scanKeys(tx, q, o.State, aging, now, h.offer)
		return h.sorted(), total, err
	}
	err = e.store.View(ctx, func(tx Tx) error {
		var keys []listKey
		if o.Sort == SortValue {
			var err error
			if keys, err = valueKeys(tx, q, o.State, aging, now, depth, &page); err != nil {
				return err
			}
		} else {
			var ok bool
			keys, page.Total, page.Stale, ok = e.lists.lookup(what, gen, minute, o.AllowStale, func() { e.relist(what, minute, sorted) })
			if !ok {
				var err error
				if keys, page.Total, err = sorted(tx); err != nil {
					return err
				}
				e.lists.store(what, gen, minute, keys, page.Total)
			}
			page.More = page.Total > depth
		}
		keys = keys[min(o.Offset, len(keys)):min(depth, len(keys))]
		return e.fillPage(tx, keys, aging, now, &page)
	})
	if err != nil {
		return IndicatorPage{}, fmt.Errorf("sharing: list: %w", err)
	}
	return page, nil
}

// relist computes a sorted listing again in the background (AllowStale).
func (e *Engine) relist(what string, minute int64, sorted func(Tx) ([]listKey, int, error)) {
	defer e.lists.done(what)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gen := e.listGen.Load()
	_ = e.store.View(ctx, func(tx Tx) error {
		keys, total, err := sorted(tx)
		if err == nil {
			e.lists.store(what, gen, minute, keys, total)
		}
		return err
	})
}

// valueKeys returns the first depth matches in value order, and sets More and
// Total.
func valueKeys(tx Tx, q *rule.Query, state ListState, aging map[string]time.Duration, now time.Time, depth int, page *IndicatorPage) ([]listKey, error) {
	var keys []listKey
	page.Total = -1
	n, err := scanKeys(tx, q, state, aging, now, func(k listKey) bool {
		if len(keys) == depth {
			page.More = true
			return false
		}
		k.value = strings.Clone(k.value)
		keys = append(keys, k)
		return true
	})
	if !page.More {
		page.Total = n
	}
	return keys, err
}

// scanKeys calls offer with the key of every match until it returns false,
// and returns how many matched.
func scanKeys(tx Tx, q *rule.Query, state ListState, aging map[string]time.Duration, now time.Time, offer func(listKey) bool) (int, error) {
	n := 0
	err := tx.Records(func(r *Record) error {
		k, ok := matchKey(r, q, state, aging, now)
		if !ok {
			return nil
		}
		n++
		if !offer(k) {
			return ErrStop
		}
		return nil
	})
	return n, err
}

// topK keeps the k smallest keys offered: a heap whose root is the largest
// kept, so that most keys are turned away by one comparison.
type topK struct {
	cmp  func(a, b listKey) int
	k    int
	keys []listKey
}

func (h *topK) Len() int           { return len(h.keys) }
func (h *topK) Less(i, j int) bool { return h.cmp(h.keys[i], h.keys[j]) > 0 }
func (h *topK) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *topK) Push(x any)         { h.keys = append(h.keys, x.(listKey)) }
func (h *topK) Pop() any {
	x := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return x
}

// offer keeps k if it is among the k smallest so far; it always goes on.
func (h *topK) offer(k listKey) bool {
	if len(h.keys) == h.k {
		if h.cmp(k, h.keys[0]) >= 0 {
			return true
		}
		k.value = strings.Clone(k.value)
		h.keys[0] = k
		heap.Fix(h, 0)
		return true
	}
	k.value = strings.Clone(k.value)
	heap.Push(h, k)
	return true
}

// sorted returns the kept keys, smallest first.
func (h *topK) sorted() []listKey {
	out := h.keys
	h.keys = nil
	slices.SortFunc(out, h.cmp)
	if out == nil {
		out = []listKey{}
	}
	return out
}

// matchKey reports whether r matches and returns its sort key.
func matchKey(r *Record, q *rule.Query, state ListState, aging map[string]time.Duration, now time.Time) (listKey, bool) {
	matched, active := false, false
	k := listKey{value: r.Value, last: math.MinInt64}
	for i := range r.Entries {
		en := &r.Entries[i]
		matched = matched || q.Match(&en.Indicator, now)
		active = active || !entryInactive(en, aging, now)
		k.sev = max(k.sev, en.Severity)
		if !en.LastSeen.IsZero() {
			k.last = max(k.last, en.LastSeen.UnixNano())
		}
	}
	switch {
	case !matched, state == ListActive && !active, state == ListInactive && active:
		return k, false
	}
	return k, true
}

func listOrder(by SortBy) (func(a, b listKey) int, error) {
	switch by {
	case SortValue:
		return func(a, b listKey) int { return strings.Compare(a.value, b.value) }, nil
	case SortLastSeen:
		return func(a, b listKey) int {
			return cmp.Or(cmp.Compare(b.last, a.last), strings.Compare(a.value, b.value))
		}, nil
	case SortSeverity:
		return func(a, b listKey) int {
			return cmp.Or(cmp.Compare(b.sev, a.sev), cmp.Compare(b.last, a.last), strings.Compare(a.value, b.value))
		}, nil
	}
	return nil, invalid(fmt.Errorf("sharing: list: sort %q is unknown: give value, lastSeen or severity", by))
}

// fillPage reads the records of keys into page.
func (e *Engine) fillPage(tx Tx, keys []listKey, aging map[string]time.Duration, now time.Time, page *IndicatorPage) error {
	marks, err := loadMarks(tx)
	if err != nil {
		return err
	}
	page.Items = make([]Listed, 0, len(keys))
	for _, k := range keys {
		r, ok, err := tx.Record(k.value)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		l := Listed{Record: r, Severity: k.sev}
		if k.last != math.MinInt64 {
			l.LastSeen = time.Unix(0, k.last).UTC()
		}
		for i := range r.Entries {
			l.Active = l.Active || !entryInactive(&r.Entries[i], aging, now)
		}
		if m, ok := marks[r.Value]; ok {
			l.Mark = &m
		}
		page.Items = append(page.Items, l)
	}
	return nil
}

// agings returns the aging period of every registered source.
func (e *Engine) agings() map[string]time.Duration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make(map[string]time.Duration, len(e.plugins))
	for n, p := range e.plugins {
		out[n] = p.settings.aging()
	}
	out[ManualSource] = manualAging
	return out
}

// entryInactive reports whether an entry is inactive or past its expiry or its
// source's aging (DefaultAging for a source not registered).
func entryInactive(en *Entry, aging map[string]time.Duration, now time.Time) bool {
	a, ok := aging[en.Source]
	if !ok {
		a = DefaultAging
	}
	return en.Inactive || expired(en, a, now)
}

// StoreCounts is how many records the store holds by state.
type StoreCounts struct {
	Active   int // at least one source entry active
	Inactive int // every entry aged out or expired
	Marked   int // marks (safe or deleted values, stored or not)
}

// Counts counts the stored records by state. It reads every record, and
// caches the answer until a record changes (at most a minute), so a metrics
// scrape costs a scan only after a pull, aging or an action.
func (e *Engine) Counts(ctx context.Context) (StoreCounts, error) {
	now := e.now()
	aging := e.agings()
	gen := e.listGen.Load()
	e.lists.mu.Lock()
	defer e.lists.mu.Unlock()
	c := &e.lists
	if c.countsGen == gen && c.countsAt == now.Unix()/60 && c.countsOK {
		return c.counts, nil
	}
	var out StoreCounts
	err := e.store.View(ctx, func(tx Tx) error {
		err := tx.Records(func(r *Record) error {
			for i := range r.Entries {
				if !entryInactive(&r.Entries[i], aging, now) {
					out.Active++
					return nil
				}
			}
			out.Inactive++
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Marks(func(Mark) error { out.Marked++; return nil })
	})
	if err != nil {
		return StoreCounts{}, fmt.Errorf("sharing: counts: %w", err)
	}
	c.counts, c.countsGen, c.countsAt, c.countsOK = out, gen, now.Unix()/60, true
	return out, nil
}
