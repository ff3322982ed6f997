package sharing

import "github.com/ctexchange/cte/sharing/rule"

// QueryError is a query that does not parse.
//
// Deprecated: use [rule.Error]. Kept while code written before package rule
// existed moves over.
type QueryError = rule.Error

// ParseQuery parses and compiles a query in the language of package rule.
//
// Deprecated: use [rule.Parse]. Kept while code written before package rule
// existed moves over.
func ParseQuery(src string) (*rule.Query, error) { return rule.Parse(src) }
