package rule

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte/ioc"
)

// Match reports whether the query holds for ind, one source entry of an indicator
// (ind.Source is that source), at the instant now (used by age and relative
// times). A nil ind matches nothing. Match does not allocate.
func (q *Query) Match(ind *ioc.Indicator, now time.Time) bool {
	if ind == nil {
		return false
	}
	return q.eval(ind, now)
}

// foldSet is the value list of an in / not in clause, tested case-insensitively.
// Short lists are scanned; long ones (an allowlist of hashes) are kept sorted in
// ASCII lower case and searched by bisection, still without allocating.
type foldSet struct {
	list   []string // every value, as written; scanned when short or for non-ASCII input
	sorted []string // long lists only: the ASCII values, lower-cased and sorted
	other  []string // long lists only: the non-ASCII values (Unicode folding may map them to ASCII)
}

// foldSetScan is the list length up to which a scan beats bisection.
const foldSetScan = 12

func newFoldSet(vals []literal) *foldSet {
	s := &foldSet{list: make([]string, len(vals))}
	for i, v := range vals {
		s.list[i] = v.str
	}
	if len(vals) <= foldSetScan {
		return s
	}
	s.sorted = make([]string, 0, len(vals))
	for _, v := range s.list {
		if isASCII(v) {
			s.sorted = append(s.sorted, strings.ToLower(v))
		} else {
			s.other = append(s.other, v)
		}
	}
	slices.Sort(s.sorted)
	s.sorted = slices.Compact(s.sorted)
	return s
}

func (s *foldSet) has(x string) bool {
	if s.sorted == nil || !isASCII(x) {
		return inFold(x, s.list)
	}
	if _, found := slices.BinarySearchFunc(s.sorted, x, compareLowerASCII); found {
		return true
	}
	return inFold(x, s.other)
}

// compareLowerASCII compares a lower-case ASCII string with x lower-cased,
// without allocating the lower-cased x.
func compareLowerASCII(lower, x string) int {
	for i := 0; i < len(lower) && i < len(x); i++ {
		if c := cmp.Compare(lower[i], lowerASCII(x[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(lower), len(x))
}

func inFold(s string, list []string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(s, x) })
}

// needle is a case-insensitive substring to look for.
type needle struct {
	lower string // strings.ToLower of the literal
	ascii bool   // lower is all ASCII
}

func newNeedle(s string) needle {
	l := strings.ToLower(s)
	return needle{lower: l, ascii: isASCII(l)}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// in reports whether h contains the needle, ignoring case. ASCII text (hashes,
// hosts, most URLs) is searched without allocating; other text is lower-cased
// first.
func (n needle) in(h string) bool {
	if n.lower == "" {
		return true
	}
	if !isASCII(h) {
		return strings.Contains(strings.ToLower(h), n.lower)
	}
	if !n.ascii {
		return false // a non-ASCII needle cannot occur in ASCII text
	}
	first, k := n.lower[0], len(n.lower)
outer:
	for i := 0; i+k <= len(h); i++ {
		if lowerASCII(h[i]) != first {
			continue
		}
		for j := 1; j < k; j++ {
			if lowerASCII(h[i+j]) != n.lower[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
