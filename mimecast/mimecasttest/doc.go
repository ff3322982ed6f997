// Package mimecasttest is an in-process fake of the Mimecast API, in the style
// of net/http/httptest, for testing code that talks to Mimecast without a
// network: the mimecast client and plugin, the sharing engine and `cte demo`.
//
// It never imports package mimecast: the signature check, the envelopes and the
// limits are re-implemented from Mimecast's documented API behaviour (described
// below), so a client bug fails a test instead of being mirrored by the fake.
//
//	s := mimecasttest.NewServer(t) // closed by t.Cleanup
//	c := s.Credentials()           // the keys the fake accepts
//	// point the client under test at s.URL with c
//
// # Endpoints
//
// Every endpoint answers POST only (other methods: 405; unknown paths: 404):
//
//   - /oauth/token: API 2.0 client credentials (form body, client id and
//     secret in the form or in HTTP Basic), answering access_token, token_type
//     "Bearer" and expires_in.
//   - /api/account/get-account: the account, with its packages (BYOPackage
//     unless WithoutBYO or SetPackages).
//   - /api/ttp/threat-intel/get-feed: pipe-delimited CSV pages (FeedHeader,
//     "\n" line endings) or a STIX 2.0 bundle for fileType "stix".
//   - /api/byo-threat-intelligence/create-batch: ALLOW, BLOCK or DELETE a
//     batch of hashes; state readable with Server.Hashes.
//   - /api/ttp/url/get-logs: URL Protect click logs, paged.
//   - /api/ttp/url/decode-url: rewritten links back to the original.
//   - /api/ttp/url/create-managed-url, get-all-managed-urls,
//     delete-managed-url: the managed URL list, readable with
//     Server.ManagedURLs.
//
// # Authentication
//
// API requests authenticate in either mode (WithAuthMode restricts them).
//
// API 1.0 (HMAC-SHA1): the fake wants Authorization "MC <accessKey>:<sig>",
// x-mc-app-id, x-mc-date ("Mon, 02 Jan 2006 15:04:05 UTC"; GMT accepted) and
// x-mc-req-id, where sig is base64(HMAC-SHA1(base64decode(secretKey),
// date:reqID:path:appKey)) over the URL path without host or query. It checks,
// in order: the headers are present (else 401 err_xdk_credentials_missing), the
// access key (401 err_xdk_access_key_not_found), the app id (401
// err_xdk_app_id_mismatch), the binding (418 err_xdk_binding_expired, see
// SetBindingExpired), the date within WithMaxSkew of the fake's clock (401
// "Date Header Too Skewed"), the signature (401 err_xdk_invalid_signature,
// "0004 Invalid Signature"), and that the request id was not used before (401
// err_xdk_request_id_reused; WithReplayCheck(false) allows reuse, as the real
// service is believed to).
//
// API 2.0 (OAuth2): bearer tokens from /oauth/token live WithTokenTTL
// (default 30 minutes) on the fake's clock. An expired token gets 401
// {"fail":[{"code":"token_expired","message":"Token expired"}]}; an unknown one
// {"fail":[{"code":"unauthorized","message":"Unauthorized Request"}]}.
// ExpireTokens expires every token at once.
//
// # Envelopes and errors
//
// JSON answers carry meta.status, data and fail. Business failures come back as
// HTTP 200 with fail[] items: per-item failures echo the request item as key;
// whole-request failures have no key. A body that is not a JSON object with a
// data array is a 400 err_request_invalid.
//
// # Limits
//
// create-batch: at most MaxHashesPerBatch hashes (more: whole-request fail
// err_validation_hash_list_too_large), operationType ALLOW, BLOCK or DELETE,
// each hash 32 or 64 hex digits (else a per-hash err_invalid_hash), provider at
// most MaxProviderLen characters, description at most MaxDescriptionLen. When
// the batch quota (WithBatchQuota, SetBatchQuota) is spent the answer is HTTP
// 200 with QuotaMessage. decode-url: at most MaxDecodeURLs items.
// create-managed-url: at most MaxCreateManagedURLs items; a duplicate is
// err_managed_url_exists_code, a bad URL "The URL is invalid".
//
// # Pagination
//
// get-feed serves WithFeedPageSize rows per page and sets the
// x-mc-threat-feed-next-token header on every page but the last; a request
// with a token continues from it and ignores start and end. start and end
// accept "Z", "+00:00" and "+0000" offsets. get-logs pages with
// meta.pagination pageSize and pageToken (empty: the first page) and answers
// meta.pagination.next only when more pages exist.
//
// # Data
//
// Feed rows and click logs are generated deterministically from WithSeed and
// the clock at construction, spread over WithDataWindow before it. Feeds hold
// oddities on purpose: "null", empty and malformed hashes, empty-file hashes,
// upper-case hex, duplicates and rows without a sender (see FeedRow and
// WithFeed). Click logs include clean ones, duplicates, links that are not
// rewritten, links with an unknown token and empty urls; ClickLog.Decoded says
// what decode-url answers for each. GrowFeed adds generated rows up to the
// fake's clock now (new events between two pulls); AddFeedRows, AddClickLogs
// and RewriteURL add hand-made data.
//
// # Faults
//
// Knobs script failures for the next n requests to a path: RateLimit (429
// with X-RateLimit-Reset in ms), ServerError, ResetConnection, FailEnvelope,
// Quota, Unauthorized, SkewDate, Delay and Stall (held until the test releases
// a Gate, so no test sleeps). SetFeedMode makes get-feed answer an empty body,
// a header only, a JSON fail, endless empty pages with fresh tokens or a
// repeated token. WithRateLimit adds a real token bucket per credential.
//
// # Inspection
//
// Requests returns the request log (method, path, headers with Authorization
// redacted, body, auth mode, x-mc-req-id, status, injected fault); Count and
// Counts the per-path counters.
package mimecasttest
