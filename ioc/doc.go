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
// # Who checks what
//
// A value is validated where it enters, and trusted after:
//
//   - A plugin's Pull parses each value the product sends once, with Parse or a
//     check that accepts exactly the values Parse leaves unchanged (the Mimecast
//     feed parser checks hash cells this way and calls Parse only for the bad
//     ones, to name the rule). Only normal values are yielded; the others are
//     counted in cte.Page.Invalid by Reason.
//   - The engine checks each pulled value once before storing it, because a
//     plugin may come from outside this module, and counts failures as invalid.
//   - Stores and the engine's selection work on the stored, normal values.
//   - A plugin's Push receives those values. It parses each once more, because
//     a host may call Push directly; for a normal value Parse is one pass that
//     does not allocate. Client methods below Push (such as Netskope's
//     UpdateFileHashList) require normal values and only assert the shape.
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
