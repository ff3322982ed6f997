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
// The filter and exception queries are in the language of package
// [github.com/ctexchange/cte/sharing/rule], which documents it in full:
//
//	type in (sha256, md5) and severity >= medium and not tags has benign
//	source == "Mimecast Feed" and lastSeen > 7d
//
// A query that does not parse is refused when the rule is compiled, with the
// column of the problem ([*rule.Error]); a compiled rule evaluates one source
// entry in about 10 ns without allocating (go test -bench Rule ./sharing/).
//
// # Engine
//
// [Engine] pulls pages from each source, stores each page with its checkpoint in
// one transaction, and shares through each sharing configuration's rule to the
// configuration's target, recording every outcome in the ledger and the audit log.
// A plugin that allows it ([cte.PageAheadReader], the Mimecast plugin) reads one
// page ahead, in a goroutine of its own, while the engine stores the page
// before: the product's latency and the parsing overlap the merge and its
// fsync. A page read ahead is stored only after the pages before it, and
// dropped, with its checkpoint, when the engine stops first. Other plugins
// are asked for a page once the page before is stored.
// A report that an earlier pull stored and a pull reads again unchanged (a
// plugin's overlap) is not merged again: merging it would change nothing but the
// entry's StoredAt. The source's re-read memo knows the newest 65,536 reports
// stored, while nothing but pulls changed the source ([SyncReport].Known).
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
//     pushes to one target serialised. With a store several instances share
//     ([Leaser]), this holds across instances: a source is pulled and a target
//     pushed only under its lease, and work whose target another instance holds
//     waits for the next sync. A sync started outside Run works under the
//     lease Run holds, if it does; work whose lease cannot be renewed for as
//     long as the lease runs stops.
//
// # Store
//
// A Store keeps indicators (one entry per source), checkpoints, the ledger, the
// applied sets, the audit log and run state, with transactions. Audit entries
// older than the log retention (default 90 days, [WithLogRetention]) are
// deleted by [Engine.PruneLogs], which Run calls daily.
package sharing
