package sharing

import "github.com/ctexchange/cte/sharing/rule"

// QueryError is a query that does not parse.
//
// Deprecated: use [rule.Error]; this alias goes once cmd/cte uses package rule.
type QueryError = rule.Error

// ParseQuery parses a query.
//
// Deprecated: use [rule.Parse]; this wrapper goes once cmd/cte uses package rule.
func ParseQuery(src string) (*rule.Query, error) { return rule.Parse(src) }
