// Package ioc defines indicators of compromise and their normal forms.
//
// # Normalisation
//
// [Parse] turns a raw value into the one form cte stores, compares and sends:
// lower-case hex hashes of the exact length, canonical http(s) URLs, lower-case
// punycode host names, and IP addresses as net/netip prints them. It is on the hot
// path of every pull and does not allocate for values that are already normal.
// [Detect] guesses a raw value's type. A value that fails is a *[ParseError];
// its Reason ("sha256: not 64 hex digits") is what reports and rejections show,
// so values failing the same rule count together.
//
// Two forms of Parse serve the pull path: [AppendHash] parses a hash held in
// bytes (a CSV cell) into a caller's buffer, so a byte scanner makes no string
// per value; [IsNormal] reports whether a value is already what Parse returns,
// in one pass and without allocating, for layers that receive values someone
// else parsed.
//
// # Who checks what
//
// A value is parsed once, where it enters, by the layer that can say which
// product sent it wrong; the layers after it only assert, cheaply, that they
// were given normal values. A sha256 of a Mimecast feed row on its way to a
// Netskope list:
//
//   - The plugin's Pull parses it (here [AppendHash], in the feed parser; a
//     plugin reading JSON calls [Parse] or [Normalize]). Only normal values are
//     yielded; the others, and "null" or empty cells, are counted in
//     cte.Page.Invalid by Reason. This is the validation: the one that decides
//     and says why.
//   - The engine (sharing's page check) runs [IsNormal] on each pulled value,
//     because a plugin may come from outside this module. A normal value costs
//     that one pass; any other is parsed to normalise it, or counted as invalid
//     with its reason, never stored.
//   - A store's Merge and PutRecord run [IsNormal] too (storeutil.CheckIndicator):
//     a store is keyed by the normal value and is used without the engine as
//     well, so it refuses, as an error, what it would key wrongly.
//   - Stores and the engine's selection then work on the stored, normal values.
//   - A plugin's Push receives those values. It parses each once more, because
//     a host may call Push directly; for a normal value Parse is one pass that
//     does not allocate. Client methods below Push (such as Netskope's
//     UpdateFileHashList) require normal values and only assert the shape.
//
// So one layer parses and reports; the three after it each cost one pass over
// a normal value's bytes, and Parse runs again only for a value that fails.
//
// # Merging
//
// The same value reported twice is combined with [Merge]: the earliest firstSeen,
// the latest lastSeen and expiry, the highest severity, the union of tags and the
// latest comments.
//
// # STIX
//
// [WriteSTIX] exports indicators as a STIX 2.1 bundle of Indicator objects with
// deterministic ids ([STIXID]), so a consumer updates instead of duplicating;
// [ReadSTIX] reads the equality comparisons of file-hash, url, domain-name and IP
// patterns of a STIX 2.0 or 2.1 bundle back into normalised indicators and counts
// what it skips and why.
//
// # Quoting values
//
// [Truncate] shortens a value quoted in an error, a log or a report, never in the
// middle of a character; every package of cte uses it, so values are cut alike.
//
// # Never shared
//
// [NeverShare] names values no destination should ever get: the hashes of the
// empty file and the 64-"f" placeholder Netskope file profiles are created with.
package ioc
