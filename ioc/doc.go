// Package ioc defines indicators of compromise and their normal forms.
//
// # Normalisation
//
// [Parse] turns a raw value into the one form cte stores, compares and sends:
// lower-case hex hashes of the exact length, canonical http(s) URLs, lower-case
// punycode host names, and IP addresses as net/netip prints them. It is on the hot
// path of every pull and does not allocate for values that are already normal.
// [Detect] guesses a raw value's type.
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
// # Never shared
//
// [NeverShare] names values no destination should ever get: the hashes of the
// empty file and the 64-"f" placeholder Netskope file profiles are created with.
package ioc
