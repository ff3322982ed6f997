package sharing

// This file packs a Replace target from a store that ranks (RankedTx): the
// source is read in packing order, each value judged as a full scan judges
// it, and the read stops judging once the list is full, so a share reads
// and holds what fits the target, not the whole source.

import (
	"slices"
	"strings"

	"github.com/ctexchange/cte/ioc"
)

// overSampleN is how many values left out the over-capacity warning names.
const overSampleN = 5

// rankedRead reads the source of m, the one configuration of the target, in
// packing order and packs each candidate as it comes (place, as pack does).
// Unless complete, once the list is full and the samples are taken it reads
// no more records: the keys left of a type the target accepts are counted
// in m.overRaw, each as if the rule matched it (an upper bound), and values
// of a type the target refuses are not read at all. The keys left are not
// read either: the store counts them (RankedCount). The candidates kept
// (m.cands, rs.list) are those read, in value order.
func (rs *replaceSet) rankedRead(tx Tx, rt RankedTx, m *scan, complete bool) error {
	if err := m.start(tx); err != nil {
		return err
	}
	defer m.finish()
	minBytes := minListBytes(rs.target.Types)
	lim := rs.target.Limits
	full := func() bool {
		return (lim.MaxItems > 0 && rs.packedN >= lim.MaxItems) || (lim.MaxBytes > 0 && lim.MaxBytes-rs.packedBytes < minBytes)
	}
	b := rankBatch{rs: rs, m: m, keep: !complete, size: rs.batchSize(minBytes)}
	b.values = make([]string, 0, b.size)
	if b.keep {
		// room for a full list and the batch that fills it: its items are
		// large, and regrowing copies them
		n := lim.MaxItems
		if lim.MaxBytes > 0 && (n == 0 || lim.MaxBytes/minBytes < int64(n)) {
			n = int(lim.MaxBytes/minBytes) + 1
		}
		rs.push = make([]ioc.Indicator, 0, min(n, 1<<20)+rankBatchN)
	}
	read := 0 // the keys of an accepted type read (not left out)
	stopped := false
	err := rt.Ranked(m.cfg.Source, func(value string, t ioc.Type) error {
		if !complete && !rs.target.Accepts(t) {
			return nil // excluded by type whatever the record says
		}
		if !complete && full() && len(rs.overSample) >= overSampleN && len(rs.samples) >= rs.sample {
			stopped = true // the rest is counted, not read (RankedCount)
			return ErrStop
		}
		read++
		b.values = append(b.values, value)
		if len(b.values) >= b.size {
			err := b.read(tx)
			b.size = rs.batchSize(minBytes)
			b.values = slices.Grow(b.values, b.size) // a batch's values: grown once
			return err
		}
		return nil
	})
	if err == nil {
		err = b.read(tx)
	}
	if err == nil && stopped {
		var n int
		n, err = rt.RankedCount(m.cfg.Source, rs.target.Accepts)
		m.overRaw += max(n-read, 1) // at least the key the read stopped at
	}
	if err != nil {
		return err
	}
	rs.partial = stopped || m.overRaw > 0
	rs.overN += m.overRaw
	m.matched += m.overRaw
	m.collect()
	sortCands(m.cands)
	rs.list = m.cands
	rs.digestPacked()
	return nil
}

// sortCands sorts the candidates of a ranked read by value. They come in
// runs already in value order (a batch each), the first holding most of
// them when the list is large (a batch holds what the list has room for),
// so the rest is sorted and merged into the first run from the back,
// instead of sorting the whole.
func sortCands(cands []cand) {
	k := 1
	for k < len(cands) && cands[k-1].value < cands[k].value {
		k++
	}
	if k >= len(cands) {
		return
	}
	tail := slices.Clone(cands[k:])
	slices.SortFunc(tail, func(a, b cand) int { return strings.Compare(a.value, b.value) })
	i, j := k-1, len(tail)-1
	for w := len(cands) - 1; j >= 0; w-- {
		if i >= 0 && cands[i].value > tail[j].value {
			cands[w] = cands[i]
			i--
		} else {
			cands[w] = tail[j]
			j--
		}
	}
}

// rankBatchN and rankBatchMax bound how many values of a ranked read are
// read together, in value order (batchSize): the record and ledger lookups
// then walk their B-trees left to right instead of at random. Variables for
// the tests.
var rankBatchN, rankBatchMax = 2048, 1 << 17

// batchSize is how many values the next batch of a ranked read reads: as
// many as the list still has room for were each of the smallest size, within
// rankBatchN and rankBatchMax. A large batch's lookups are close together in
// value order (a store steps from one to the next instead of searching from
// the root), and a batch of a list's room ends about where the list is full:
// the read stops at most rankBatchN values after it is, for a target of one
// value size.
func (rs *replaceSet) batchSize(minBytes int64) int {
	room := rankBatchMax
	if lim := rs.target.Limits; lim.MaxItems > 0 {
		room = min(room, lim.MaxItems-rs.packedN)
	}
	if lim := rs.target.Limits; lim.MaxBytes > 0 {
		room = min(room, int((lim.MaxBytes-rs.packedBytes)/minBytes))
	}
	return max(room, rankBatchN)
}

// rankBatch is a batch of a ranked read, values in packing order.
type rankBatch struct {
	rs     *replaceSet
	m      *scan
	keep   bool // keep the packed indicators (Share)
	size   int  // read the batch at this many values (batchSize)
	values []string
	order  []int32
	found  []batchCand
	read1  []*cand // Share: the candidates found, in value order (as rs.push)
}

type batchCand struct {
	at int32 // in values
	c  *cand // in m.chunks, which never move
}

// read judges the batch's values in value order (visit), then places the
// candidates found in packing order. The indicators kept to push go into
// rs.push in value order as they are read (the push is sorted by priority
// anyway), and those left out are dropped after the placing: a batch moves
// its small batchCands, not its indicators.
func (b *rankBatch) read(tx Tx) error {
	if len(b.values) == 0 {
		return nil
	}
	m, rs := b.m, b.rs
	b.order = b.order[:0]
	for i := range b.values {
		b.order = append(b.order, int32(i))
	}
	slices.SortFunc(b.order, func(x, y int32) int { return strings.Compare(b.values[x], b.values[y]) })
	b.found, b.read1 = slices.Grow(b.found[:0], len(b.values)), slices.Grow(b.read1[:0], len(b.values))
	base := len(rs.push)
	lastAt := int32(-1)
	for _, i := range b.order {
		value := b.values[i]
		r, ok, err := tx.Record(value)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		en, has := r.Entry(m.cfg.Source)
		if has && i > lastAt {
			lastAt, rs.last = i, rankOf(en, value) // the last read in packing order
		}
		n := m.nCands
		if err := m.visit(tx, &r); err != nil {
			return err
		}
		if m.nCands > n {
			c := m.lastCand()
			b.found = append(b.found, batchCand{at: i, c: c})
			if b.keep {
				// what readPacked would read again: kept from this snapshot
				b.read1 = append(b.read1, c)
				rs.push = append(rs.push, cloneIndicator(&en.Indicator))
			}
		}
	}
	slices.SortFunc(b.found, func(x, y batchCand) int { return int(x.at - y.at) })
	for _, f := range b.found {
		rs.place(f.c)
	}
	if b.keep {
		w := base
		for k, c := range b.read1 {
			if c.packed {
				rs.push[w] = rs.push[base+k]
				w++
			}
		}
		clear(rs.push[w:])
		rs.push = rs.push[:w]
	}
	b.values = b.values[:0]
	return nil
}

// minListBytes is the least a value of the given types costs in a list: the
// hashes have a fixed length (values are normalised), other types can be
// short.
func minListBytes(types []ioc.Type) int64 {
	least := int64(-1)
	for _, t := range types {
		var n int64
		switch t {
		case ioc.TypeMD5:
			n = 32 + 1
		case ioc.TypeSHA256:
			n = 64 + 1
		default:
			n = 2
		}
		if least < 0 || n < least {
			least = n
		}
	}
	return max(least, 2)
}

// rank is where an entry comes in packing order.
type rank struct {
	sev      ioc.Severity
	lastSeen int64
	value    string
}

func rankOf(en *Entry, value string) rank { return rank{en.Severity, en.LastSeen.UnixNano(), value} }

// after reports whether a comes after b in packing order.
func (a rank) after(b rank) bool {
	if a.sev != b.sev {
		return a.sev < b.sev
	}
	if a.lastSeen != b.lastSeen {
		return a.lastSeen < b.lastSeen
	}
	return a.value > b.value
}

// holds reports whether the list has a candidate for value.
func (rs *replaceSet) holds(value string) bool {
	_, ok := slices.BinarySearchFunc(rs.list, value, func(c cand, v string) int { return strings.Compare(c.value, v) })
	return ok
}

// probe judges one value with a ledger entry that a partial ranked read did
// not read (it ranks after the last value read), with the same filter and
// predicate (visit) on a copy of m. Its refusals and waits are counted into
// m, as a full read counts them (matched already counts it in m.overRaw). A
// candidate found is over capacity (the list was full before it): it is kept
// in m.cands, marked probed (counted in m.overRaw), for its ledger entry
// (overEntries).
func (rs *replaceSet) probe(tx Tx, m *scan, value string) (bool, error) {
	r, ok, err := tx.Record(value)
	if err != nil || !ok {
		return false, err
	}
	if en, ok := r.Entry(m.cfg.Source); !ok || en.Inactive || !rankOf(en, value).after(rs.last) {
		return false, nil // not in the ranked read, or read and judged already
	}
	p := *m
	// one candidate at most, copied out below: the chunk is the set's, reused
	rs.probeChunk = slices.Grow(rs.probeChunk[:0], 1)
	p.chunks, p.nCands, p.sample, p.excluded = [][]cand{rs.probeChunk}, 0, 0, map[string]int{}
	if err := p.visit(tx, &r); err != nil {
		return false, err
	}
	for _, a := range []action{actRejected, actWaiting} {
		m.counts[a] += p.counts[a] - m.counts[a]
	}
	m.until = earliest(m.until, p.until)
	if p.nCands == 0 {
		return false, nil
	}
	c := *p.lastCand()
	c.probed = true
	rs.probed = append(rs.probed, c)
	return true, nil
}

// addProbed adds the candidates probe found to m.cands (and rs.list), in
// value order.
func (rs *replaceSet) addProbed(m *scan) {
	if len(rs.probed) == 0 {
		return
	}
	// both in value order (probe is called in ledger order): merged
	out := make([]cand, 0, len(m.cands)+len(rs.probed))
	i, j := 0, 0
	for i < len(m.cands) || j < len(rs.probed) {
		if j == len(rs.probed) || (i < len(m.cands) && m.cands[i].value < rs.probed[j].value) {
			out = append(out, m.cands[i])
			i++
		} else {
			out = append(out, rs.probed[j])
			j++
		}
	}
	m.cands, rs.list, rs.probed = out, out, nil
}
