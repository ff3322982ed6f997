// Package netskopetest runs an in-process fake Netskope tenant for tests, in the style
// of net/http/httptest.
//
// The fake re-implements the tenant's documented behaviour (endpoints, envelopes,
// limits and errors, described below), not package netskope, so a client bug
// fails a test instead of being mirrored:
//
//	s := netskopetest.NewServer(t,
//		netskopetest.WithFileHashList("CE_Malware_Hashes"),
//		netskopetest.WithURLList("CE_Malsites", "exact", "cedefaultpush.io"),
//		netskopetest.WithAlerts(netskopetest.KindMalware, 5000))
//	// point the client at s.URL with s.V1Token() and s.V2Token()
//
// New starts a server the caller closes; NewServer closes it in tb.Cleanup. The
// server listens on 127.0.0.1 over plain HTTP. Every method is safe for concurrent use.
//
// # Authentication
//
// REST API v1 calls need the v1 token (V1Token, WithV1Token) in the query string, a
// JSON body or a form body; a wrong or missing token gets HTTP 403
// {"status":"error","errorCode":"Authorization Error","errors":["Invalid token"]}.
// REST API v2 calls need the v2 token (V2Token, WithV2Token) in the Netskope-Api-Token
// header: missing or wrong gives 401, a valid token whose scopes (WithV2Scopes) do not
// include the endpoint gives 403, both with a {"message": ...} body. Request.TokenInURL
// and Server.TokenInURL report any token that travelled in a URL.
//
// # File hash lists
//
// /api/v1/updateFileHashList (GET, POST, PUT or PATCH) replaces the whole content of a
// list created with WithFileHashList; its answers are HTTP 200 envelopes:
// {"status":"success","msg":"File Filter Profile updated successfully"}, or
// {"status":"error","errorCode":"General Error","errors":[...]} for a missing name or
// list, an unknown list, a list over 8 MiB or values that are not hashes of the list's
// types, and {"status":"error","errors":["Duplicate request, no change in file hashes"]}
// when the new content equals the old one (compared as case-insensitive sets). A list
// marked pending (SetFileHashListPending) answers 409 with MsgPendingProfile.
// FileHashList reads a list back; the real tenant cannot.
//
// # Alerts
//
// The Data Export iterator, GET /api/v2/events/dataexport/alerts/{type}?index=&operation=,
// keeps one cursor per (type, index). operation is "head" (oldest alert), "tail"
// (positions after the newest, empty page), "next" (the page after the last one; a new
// index starts at the tail), "resend" (the previous page again, cursor unchanged) or
// epoch seconds (the first alert the tenant received at or after that time). A page
// holds up to 10,000 alerts (WithPageSize):
//
//	{"ok":1,"result":[...],"wait_time":0,"timestamp_hwm":1716200500}
//
// timestamp_hwm is the receive time of the page's last alert when more remain, else the
// clock. Pages are gzip-encoded for clients that accept it (WithGzip).
//
// Malware and malsite alerts are generated from a seed (WithSeed, WithAlerts) with
// timestamps over the last days of the clock (WithClock, WithAlertSpan). Malware alerts
// cycle through hash shapes: md5 equal to local_md5 and sha256 equal to local_sha256;
// only local_md5 and local_sha256; reported and local hashes different; all empty;
// SHA256 only; MD5 only; the empty file's hashes. Malsite URLs come with http or https,
// without scheme, as a bare host name, as an IPv4 URL, or empty. AddAlerts and
// AddGeneratedAlerts add alerts later; the next "next" delivers them. Alerts reads them
// back.
//
// # URL lists
//
// /api/v2/policy/urllist lists (GET, honouring field= and pending=1) and creates (POST)
// lists; /{id} reads, replaces (PUT) or deletes one; PATCH /{id}/append and
// /{id}/replace change the content; POST /deploy applies every staged change and answers
// every list with pending 0. Each change only stages (pending 1) until a deploy.
// Invalid values are refused as a whole request with
// {"statusCode":400,"message":[["value","reason"],...]}; bodies over 8 MiB get 413. A
// change staged in the UI (EditURLListInUI) blocks API changes to that list with 409
// until a deploy. URLList, URLListByName, URLLists and Deploys read the state back.
//
// # Rate limits
//
// Every v2 answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset;
// past the budget (WithV2RateLimit, per endpoint per second of the clock) the answer is
// 429 with Retry-After and {"message":"API rate limit exceeded"}. v1 allows 24
// requests in any 5 seconds (WithV1RateLimit) and answers 429 beyond.
//
// # Faults
//
// RateLimit, ServerError, FailStatus, ResetConnection, BreakBody and Stall queue
// failures for the next requests to a path (same knobs as mimecasttest): a status, a
// TCP reset, an answer cut halfway after the request took effect (recover an iterator
// page with operation=resend), or a request held until the test releases its Gate.
// Requests returns the log: method, path, query without token values, status, fault
// and X-Request-Id.
package netskopetest
