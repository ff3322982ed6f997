package rule

import "github.com/ctexchange/cte/ioc"

// Types returns the indicator types for which the query can hold, in ioc.Types
// order: every type unless the query constrains type. A query whose types do
// not meet a target's types can never select anything for it.
func (q *Query) Types() []ioc.Type { return typeSets(q.root).canTrue.types() }

// TypesUnmatched returns the indicator types for which the query can fail to
// hold, in ioc.Types order: every type except those the query accepts whatever
// else the indicator says ("type == md5" holds for every md5). A rule uses it to
// learn which types an exception can never let through.
func (q *Query) TypesUnmatched() []ioc.Type { return typeSets(q.root).canFalse.types() }

// typeSet is a bit set of ioc.Type (bit t for type t).
type typeSet uint32

var allTypes = func() typeSet {
	var s typeSet
	for _, t := range ioc.Types() {
		s |= 1 << t
	}
	return s
}()

// types lists the members of s in ioc.Types order.
func (s typeSet) types() []ioc.Type {
	var out []ioc.Type
	for _, t := range ioc.Types() {
		if s>>t&1 != 0 {
			out = append(out, t)
		}
	}
	return out
}

// sets holds, for a query node, the types for which it can be true and the
// types for which it can be false. Only clauses on type narrow them; any other
// clause can go either way for every type.
type sets struct{ canTrue, canFalse typeSet }

func typeSets(e expr) sets {
	switch e := e.(type) {
	case allExpr:
		return sets{canTrue: allTypes}
	case notExpr:
		s := typeSets(e.x)
		return sets{canTrue: s.canFalse, canFalse: s.canTrue}
	case andExpr:
		out := sets{canTrue: allTypes}
		for _, x := range e.xs {
			s := typeSets(x)
			out.canTrue &= s.canTrue
			out.canFalse |= s.canFalse
		}
		return out
	case orExpr:
		out := sets{canFalse: allTypes}
		for _, x := range e.xs {
			s := typeSets(x)
			out.canTrue |= s.canTrue
			out.canFalse &= s.canFalse
		}
		return out
	case *cmpExpr:
		if e.field != fType {
			return sets{canTrue: allTypes, canFalse: allTypes}
		}
		m := typeSet(typeMask(e))
		return sets{canTrue: m, canFalse: allTypes &^ m}
	}
	panic("rule: unknown query node")
}
