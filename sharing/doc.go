// Package sharing routes indicators between plugins through business rules: it
// stores what sources report, decides with each sharing configuration's rule what
// goes to which target, pushes it, and keeps a ledger and an audit log.
//
// # Business rules
//
// A [Rule] is plain data (JSON and YAML friendly): a name, a filter query, a list
// of exceptions and a mute flag. [CompileRule] parses every query once and
// compiles it to closures; [CompiledRule.Match] then tells whether one source
// entry of an indicator qualifies: the filter matches and no exception does. An
// [Exception] excludes an indicator when its query matches or when the indicator
// carries any of its tags (compared case-insensitively); it needs at least one of
// the two, and an exception with only tags adds no query condition. Muted is
// carried for the engine, which shares nothing new while a rule is muted; Match
// ignores it.
//
// [CompiledRule.Explain] says why: the clause of the filter that decided, or the
// exception that excluded the indicator:
//
//	filter did not match: severity >= high: false (severity is low)
//	excluded by exception "benign": tag "BENIGN"
//	matched: type in (sha256, md5): true (type is md5); no exception matched
//
// [CompiledRule.Types] lists the indicator types the rule can possibly match, so
// a sharing configuration whose target takes none of them is refused when it is
// created rather than sharing nothing forever.
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
// The reference spelling sources.<field> is accepted for the per-source fields
// (severity, reputation, source, tags, comments, firstSeen, lastSeen), and = for
// ==; queries print in the canonical form of [Query.String].
//
// Using an unknown field, an operator the field does not accept, or a value of
// the wrong kind (severity > 5, type == banana, reputation > high, age > 5, a
// regular expression that does not compile) is an error when the query is
// parsed, never when it runs. A [*QueryError] gives the column and what was
// expected there:
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
// Durations are one or more number-unit pairs, units w (7 days), d (24 hours), h,
// m and s: 30d, 12h, 90m, 1d12h.
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
// (an allowlist of thousands of hashes) are searched by bisection. A three-clause
// rule evaluates in about 10 ns with no allocation (go test -bench Rule
// ./sharing/).
//
// # Engine
//
// [Engine] pulls pages from each source, stores each page with its checkpoint in
// one transaction, and shares through each sharing configuration's rule to the
// configuration's target, recording every outcome in the ledger and the audit log.
//
//   - Append targets get only what is new or changed. The fingerprint of what is
//     sent covers type, value, severity, comments and tags, not lastSeen, so a
//     value reported again is not sent again.
//   - Replace targets get the whole desired set, packed into the target's
//     MaxItems and MaxBytes by severity, then lastSeen, then value, and pushed only
//     when its digest differs from what was last applied. A push that would remove
//     more than half of an applied list of 20 or more values is refused with an
//     audit error unless forced ([WithForce], [WithGuardrail]). Values leaving
//     because they aged out or expired do not count: the guardrail is for
//     surprises such as a rule edit or a source that lost its data.
//   - Retryable rejections back off from 1 minute, doubling up to 6 hours;
//     permanent ones wait until the indicator changes. Nothing is dropped silently:
//     over-capacity values are recorded, reported and retried (a full Append
//     target takes them once retraction frees space). A product that asks to wait
//     (rate limited) gets no push or retraction on that target before the wait ends.
//   - A sharing configuration moved to another destination or target under the
//     same name starts its ledger again, so the new target gets everything.
//   - Loop prevention: a value is never sent to a destination that is among its
//     sources, so products do not keep each other's indicators alive forever.
//   - Aging marks entries inactive after the source's aging period (default 90
//     days after lastSeen) or at their expiry; inactive values are retracted from
//     Append targets whose plugin can retract and left out of Replace lists. A
//     value reported again is active again (an expiry that passed before the new
//     sighting no longer applies) and shared again.
//   - Share with [WithReplay] starts a configuration's ledger again and sends
//     everything it selects, for a product that lost what it was given.
//   - Plan ("Test") and Explain read only; Run syncs each source on its own
//     interval, one pull per source and one share per configuration at a time,
//     pushes to one target serialised.
//
// # Store
//
// A Store keeps indicators (one entry per source), checkpoints, the ledger, the
// applied sets, the audit log and run state, with transactions. Audit entries
// older than the log retention (default 90 days, [WithLogRetention]) are
// deleted by [Engine.PruneLogs], which Run calls daily.
package sharing
