package rule

import "slices"

// equalExpr reports whether two trees are the same query. The tests and the
// fuzz target use it to check that a printed query parses back to its tree.
func equalExpr(a, b expr) bool {
	switch a := a.(type) {
	case allExpr:
		_, ok := b.(allExpr)
		return ok
	case notExpr:
		b, ok := b.(notExpr)
		return ok && equalExpr(a.x, b.x)
	case andExpr:
		b, ok := b.(andExpr)
		return ok && equalList(a.xs, b.xs)
	case orExpr:
		b, ok := b.(orExpr)
		return ok && equalList(a.xs, b.xs)
	case *cmpExpr:
		b, ok := b.(*cmpExpr)
		return ok && a.field == b.field && a.op == b.op && slices.EqualFunc(a.vals, b.vals, equalLiteral)
	}
	return false
}

func equalList(a, b []expr) bool { return slices.EqualFunc(a, b, equalExpr) }

func equalLiteral(x, y literal) bool {
	return x.str == y.str && x.typ == y.typ && x.sev == y.sev && x.num == y.num && x.dur == y.dur &&
		x.rel == y.rel && x.at.Equal(y.at) && (x.re == nil) == (y.re == nil) &&
		(x.re == nil || x.re.String() == y.re.String())
}
