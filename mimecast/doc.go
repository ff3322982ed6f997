// Package mimecast is the Mimecast API client and its cte.Plugin: it pulls the
// malware hash feeds (threat-intel get-feed) and the malicious URLs users clicked
// (URL Protect logs), and pushes hashes as Bring-Your-Own Threat Intelligence
// BLOCK, ALLOW and DELETE operations and URLs as managed URLs.
//
// Hosts register [Driver] and open it with a JSON configuration rendered from
// [Manifest], or from a typed [Config] with [Config.JSON] (json.Marshal redacts the
// secrets); Go programs can also build a [Client] with [New] or a [Plugin] with
// [NewPlugin], both configured with the same [Option] values ([WithRetry],
// [WithName], ...). The base URL may be the API URL, a region code (us, usb, eu, de,
// ca, za, au, je) or the admin console address
// (https://login-<region>.mimecast.com/...); [ResolveBaseURL] turns it into the
// region's API host.
//
// # Authentication
//
// API 1.0 (auth "hmac") signs every request, every page and every retry afresh,
// with a RoundTripper under the retry layer: x-mc-date (UTC, English names), a new
// lower-case x-mc-req-id, x-mc-app-id and
//
//	Authorization: MC <access_key>:base64(HMAC-SHA1(base64decode(secret_key), date:req-id:path:app_key))
//
// A 401 "Date Header Too Skewed" is retried once with fresh headers and then
// reported as an error wrapping [ErrClockSkew] that says to synchronise the clock.
// A secret_key that is not base64 is a *cte.ConfigError naming the field.
//
// API 2.0 (auth "oauth") uses OAuth2 client credentials against
// {base}/oauth/token. A token is reused until 60 seconds before its expires_in,
// measured on the injected clock, so no request needs to fail first. A 401
// token_expired makes one refresh and one retry; a second one, or any other
// 401/403, is an error wrapping cte.ErrAuth that names the keys to check.
//
// # Pagination
//
// get-feed answers pipe-delimited CSV and the next page's token in the
// x-mc-threat-feed-next-token header; get-logs pages with meta.pagination.next.
// One page-token loop follows both: it stops on a missing or empty token and after
// Config.MaxPages pages; a token the feed gave before ends the pull with an error
// wrapping [ErrProtocol] (the rest of the feed cannot be read, and the host must
// know the pull was incomplete). A feed page is parsed as it streams in and handed
// on in chunks of at most 50,000 indicators, so memory is bounded by a chunk
// whatever the size of the file; a page over 512 MiB fails with an error naming the
// limit. Each page is one cte.Page whose checkpoint holds, per feed type, the newest
// event time seen (never "now", and never after the end of the window asked for);
// the next pull resumes Config.Overlap (default one hour) before it, so events that
// arrive late are not missed. All times are sent
// as UTC RFC 3339. Values that are not valid indicators (null, empty, malformed)
// are counted in Page.Invalid and logged once per pull, never yielded.
//
// # Errors
//
// Mimecast answers business failures with HTTP 200 and a fail list. The client
// treats a non-empty fail list, a meta.status other than 200, and every non-2xx
// status as an [*Error] carrying the status, Mimecast's code and message, the
// request id and the retryable flag. It wraps cte.ErrAuth (401, 403, 418 binding
// expired, token errors), cte.ErrRateLimited (429 with a wait above the cap),
// cte.ErrQuota ("Quota not available to create the batch") or [ErrClockSkew].
// A JSON answer from get-feed is decoded as an envelope, never parsed as CSV.
// Connection errors, 429 and 5xx are retried by internal/httpx, honouring
// X-RateLimit-Reset (milliseconds); a 429 that outlasts the retries, or asks for
// more than the longest wait accepted, carries the wait as a *cte.RateLimitError.
//
// Validate reads the account: refused keys wrap cte.ErrAuth and name the keys to
// check; an account without the "BYO: Threat Intelligence [1089]" package gives
// [ErrNoBYO] (which wraps cte.ErrNotSupported): GetTargets then offers only the
// managed-url targets, and pulls still work.
//
// Push accounts for every indicator. Every per-hash failure becomes a cte.Rejected
// with Mimecast's code, message and retryable flag. A batch Mimecast did not take as
// a whole (an HTTP or connection failure after the retries, a fail entry without a
// key, or a hashCount that differs from the hashes sent without a failure) is no
// verdict on its hashes: they are rejected as retryable, later batches are still
// sent (two failed in a row stop the push), and Push returns an error, so the host
// counts the push as failed. A spent quota stops the push, marks the unsent rest
// retryable and returns an error wrapping cte.ErrQuota with the partial result; a
// cancelled context leaves the hashes not sent unaccounted. Hashes are checked
// before sending (32 hex digits for md5, 64 for sha256).
//
// Secrets are cte.Secret values: the configuration, the client and the plugin
// print, log and marshal without them, and no error carries them; only
// [Config.JSON] writes them, for Registry.Open.
package mimecast
