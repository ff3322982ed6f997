// Package netskope is the Netskope client and cte plugin: it pulls file hashes and
// URLs from a tenant's malware and malsite alerts, and pushes hashes to File Profile
// hash lists and URLs and host names to URL lists.
//
// A host opens the plugin through a cte.Registry with [Driver] (from a typed
// [Config], pass [Config.JSON]: json.Marshal redacts the tokens), or in Go with
// [NewPlugin]; [New] gives the bare API [Client]. Both take the same [Option]
// values ([WithRetry], [WithName], ...).
//
// # Configuration
//
// The manifest keys are tenant_url (https://acme.goskope.com, a regional host, or
// just the tenant name acme), v2_token, v1_token, alert_types (malware, malsite),
// hash_types (sha256, md5), initial_range_days (0–365, default 7), file_hash_lists
// (a list of the names of the File Profile hash lists, which the API cannot list; a
// comma-separated string is read too), file_hash_list_types
// (default sha256, as in a SHA256 File Profile) and max_list_mb (1–8, default 8). See
// [Manifest] and [Config]. A tenant URL with a path, query or fragment is refused.
//
// # Authentication
//
// REST API v2 calls carry the v2 token in the Netskope-Api-Token header; it needs
// the Data Export scopes of the alert types pulled and, to push to URL lists,
// read+write on /api/v2/policy/urllist. REST API v1 is only used to update File Hash
// Lists and to check the v1 token; the v1 token travels in the request body, never in
// a URL. Tokens are held as cte.Secret and never appear in logs, errors or formatted
// values. A refused token or a missing scope is an [*Error] wrapping cte.ErrAuth
// whose hint names the token (v1_token or v2_token) and the scope to grant.
//
// # Pulling alerts
//
// Pull reads the Data Export iterator,
// GET /api/v2/events/dataexport/alerts/{malware|malsite}?index=&operation=, with an
// index derived from the configuration name ([ExportIndex]): the tenant keeps one
// cursor per index, so it must be stable and unique per configuration. A first run
// starts at now − initial_range_days (an epoch operation), then asks for "next" pages
// until an empty one, honouring wait_time between pages. Malware alerts give MD5 and
// SHA256 indicators (md5 and local_md5, sha256 and local_sha256: one indicator when
// equal, both when different, none when empty); malsite alerts give a URL, host
// name or IP address ([ParseSiteValue]). Values that fail validation are counted in
// Page.Invalid, never dropped silently. Pages hold up to 10,000 alerts and are decoded
// by a single-pass scanner ([DecodeAlertPage]) checked against encoding/json by a
// fuzz target.
//
// # Checkpoints
//
// The checkpoint is JSON: {"v":1,"index":…,"types":{"malware":{"since":…,"hwm":…,
// "last":…}}}, per alert type the first run's start, the highest timestamp_hwm and a
// fingerprint of the last page delivered. Resuming asks the tenant to resend its last
// page: if that is the page the checkpoint was stored with, it is skipped; if not,
// it was delivered but never stored (a crash in between) and is delivered again.
// When the tenant cannot resend (the index expired or the name changed), the pull
// restarts from the stored timestamp_hwm: alerts may repeat, none are lost.
//
// # Pushing
//
// A File Hash List target, ID "file-hash-list/<name>", is a Replace target: Push takes
// the whole desired list and sends it in one updateFileHashList request (body built
// in one buffer). Entries past max_list_mb MiB of the comma-joined list or 300,000
// entries are rejected with reason cte.ReasonOverCapacity; an empty list sends
// ioc.Placeholder so the profile is never empty; the tenant's "Duplicate request"
// answer makes every value Unchanged.
//
// A URL list target, ID "url-list/<name>", is an Append target for url, domain,
// hostname and ipv4 indicators ([URLListEntry] gives the entry). Push appends the
// values the list lacks, then deploys; values the tenant refuses (400) are rejected
// with its reason and the rest are sent once more. Retract replaces the list with its
// entries minus the retracted ones ([URLListPlaceholder] if none remain), then deploys.
// When the deploy fails, the values are reported retryable (the change is staged, not
// in force); sent again, they are found staged and the list is deployed.
//
// # Rate limits and retries
//
// The client keeps v1 calls to 24 in any 5 seconds ([V1Rate], [V1Burst]), pauses v2
// calls while the tenant reports RateLimit-Remaining: 0, and retries 429, 5xx and
// connection errors with the waits the tenant asks for (Retry-After, RateLimit-Reset)
// through internal/httpx; a wait longer than five minutes fails at once.
//
// # Errors
//
// Errors of the API are [*Error] values wrapping a sentinel: cte.ErrAuth,
// cte.ErrRateLimited, [ErrPendingChanges] (409: changes staged in the tenant block
// this one; apply or discard them; it is reported, never looped on), [ErrNotFound],
// [ErrRejected] (v1 status "error" on HTTP 200, 400, 422), [ErrUnavailable] (5xx,
// broken connections) and [ErrBadAnswer]. Each carries the HTTP status, the tenant's
// message, the request id and a hint.
//
// # Testing
//
// Package netskopetest runs a fake tenant; the examples and tests of this package
// run against it.
package netskope
