// Package rule is the query language of cte's business rules: it parses a
// filter such as
//
//	type in (sha256, md5) and severity >= medium and not tags has benign
//
// once, compiles it to closures, and then tells whether one source entry of an
// indicator matches ([Query.Match]) and why ([Query.Explain]). Package sharing
// builds its business rules (a filter plus exceptions) on it; the cte command
// uses [ParseDuration] for the durations of its configuration file.
//
// The package reads like text/template/parse, one stage a file: lex.go (tokens),
// parse.go (recursive descent to an AST, every value checked for its field),
// node.go (the AST and its canonical printing), compile.go (AST to closures),
// match.go (evaluation), explain.go, types.go (which indicator types a query can
// match), duration.go (the duration grammar) and error.go (the error a query
// that does not parse gets, with its column).
//
// # Query language
//
// A query is a boolean combination of clauses of the form
//
//	<field> <operator> <value>
//	<field> in (<value>, <value>, ...)
//	<field> not in (<value>, ...)
//
// joined with and (&&), or (||) and not (!), grouped with parentheses. not binds
// tighter than and, which binds tighter than or: "not a and b or c" is
// "((not a) and b) or c". Keywords, field names and enumerated values (types,
// severities) are case-insensitive. An empty query, all and * match every
// indicator. A query is evaluated against one source entry of an indicator, so
// every clause of a query talks about the same source.
//
// Fields and the operators they accept:
//
//	type        sha256 md5 url domain hostname ipv4 ipv6   == != in, not in
//	severity    unknown < low < medium < high < critical   == != < <= > >= in, not in
//	reputation  whole number 1–10 (unset counts as 5)      == != < <= > >= in, not in
//	value       the normalised indicator value             == != in, not in, contains, matches
//	source      the configuration that reported it         == != in, not in, contains, matches
//	comments    free text                                  == != in, not in, contains, matches
//	tags        a list of strings                          has, in, not in, contains, matches
//	firstSeen   a time                                     == != < <= > >=
//	lastSeen    a time                                     == != < <= > >=
//	expiresAt   a time                                     == != < <= > >=
//	age         now - firstSeen, a duration                == != < <= > >=
//
// The spelling sources.<field> is accepted for the per-source fields (severity,
// reputation, source, tags, comments, firstSeen, lastSeen), and = for ==;
// queries print in the canonical form of [Query.String].
//
// Using an unknown field, an operator the field does not accept, or a value of
// the wrong kind (severity > 5, type == banana, reputation > high, age > 5, a
// regular expression that does not compile) is an error when the query is
// parsed, never when it runs. An [*Error] gives the column and what was
// expected there, and [Error.Pointer] draws a caret under it:
//
//	column 12: "5" is not a severity: want unknown, low, medium, high or critical
//
// # Values
//
// A value is a bare word or a double-quoted string. A bare word runs until a
// space or one of ( ) , " = ! < > & |; anything else (a URL with a query
// string, a value with spaces, a word that is a keyword such as "and") must be
// quoted. Inside quotes, \" is a quote and \\ a backslash; any other backslash
// is kept as written, so a regular expression needs no doubling: "\d+\.example".
// Whether quoted or not, a value is read according to its field: a type or
// severity name, a reputation number, a duration, a time or a string.
//
// # Durations
//
// A duration is 0, or one or more number-unit pairs that add up, units w (7
// days), d (24 hours), h, m and s: 30d, 12h, 1w, 1d12h, 1h30m, 90m. A number
// may have a decimal fraction when the result is a whole number of seconds:
// 1.5d is 36 hours, 0.5h is 30 minutes, 1.5s is an error. There is no sign,
// no space inside, no month or year, and nothing below a second; the longest
// is 36500d (about 100 years). Durations print in days, hours, minutes and
// seconds (90m prints as 1h30m). The cte configuration file reads sync_interval,
// aging and log_retention with the same grammar ([ParseDuration]).
//
// # Times
//
// Times are written as an RFC 3339 time (2024-05-01T12:00:00Z, any offset), a date
// (2024-05-01, midnight UTC), now, a duration ago (7d, or -7d) or a duration
// ahead (+7d). Relative times count from the now passed to Match, so
//
//	lastSeen > 7d      seen within the last 7 days
//	firstSeen < 90d    first seen more than 90 days ago
//	expiresAt < +2d    expires within the next 2 days (or has expired)
//	expiresAt < now    has expired
//	age < 30d          first seen less than 30 days ago
//
// An unset time (and the age of an indicator without firstSeen) satisfies no
// comparison except !=, so "expiresAt < now" does not match an indicator that
// never expires.
//
// # Strings and case
//
// ==, !=, in, not in, contains and has ignore case: hashes and host names are
// stored lower-case by package ioc, so a hash pasted in upper case still matches,
// and tags like BENIGN and benign are the same tag. matches takes an RE2 regular
// expression (package regexp, compiled once when the query is parsed) and is
// case-sensitive unless the expression starts with (?i); it matches anywhere in
// the string unless anchored with ^ and $.
//
// A value compared whole (value ==, !=, in, not in) that is an indicator cte
// knows is taken in the form package ioc stores it in: "http://Evil.example"
// is http://evil.example/, bücher.example is xn--bcher-kva.example, so a rule
// or an exception matches the indicator however the analyst wrote it. Values
// are quoted with double quotes; a value in single quotes is refused (the
// quotes would be part of it).
//
// On tags, has X holds when any tag is X, in (...) when any tag is in the list,
// not in (...) when no tag is, contains and matches when any tag does. An
// indicator without tags satisfies only not in.
//
// # Examples
//
//	type in (sha256, md5) and severity >= medium and not tags has benign
//	type == url and value matches "^https?://[^/]*\.example/"
//	source == "Mimecast Feed" and lastSeen > 7d
//	sources.severity in ("high", "critical") && !(tags in (test, allowlisted))
//	reputation >= 8 or (severity == critical and age < 30d)
//	comments contains emotet or tags matches "^apt[0-9]+$"
//
// # Speed
//
// Queries compile to closures over the AST: types, severities and reputations
// become bit sets, strings are compared without allocating, and long in lists
// (an allowlist of thousands of hashes) are searched by bisection. A
// three-clause rule evaluates in about 10 ns with no allocation (go test -bench
// Rule ./sharing/).
package rule
