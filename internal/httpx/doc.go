// Package httpx is the one HTTP stack of cte's product clients: retries with
// go-retryablehttp, server-requested waits, per-attempt timeouts, body limits,
// loopback-only plain HTTP and redaction of secrets in what we log.
//
// # Retries
//
// Redirects are followed only within the same scheme and host: a redirect
// elsewhere fails with ErrRedirect before anything is sent there, so credentials
// never leave for another host.
//
// Connection errors, 429 and 5xx answers (but 501) are retried up to RetryMax
// times, and no retry starts once MaxRetryTime has passed since the first attempt.
// What cannot heal by retrying is not retried: a host name that does not resolve,
// a certificate that does not verify, a refused redirect. An attempt that gets no
// answer for AttemptTimeout (no headers, or no body bytes between two reads) fails
// and is retried once at most: a server that is that slow twice is down. A
// request whose context comes from Quick (a plugin's Validate) retries no
// connection failure and waits at most 10 seconds for an answer.
//
// The wait is what the server asked for (Retry-After in seconds or as an HTTP date,
// RateLimit-Reset in seconds on a 429 as the IETF draft has it, or what the
// client's Options.ServerWait reads from the product's own headers) or else
// exponential backoff with jitter. A server-requested wait longer than MaxWait
// fails at once with a *cte.RateLimitError carrying the wait, so a caller never
// hangs for an hour on a quota reset and a host can hold its calls until then. A
// cancelled context is never retried. When the retries are spent, Do returns the
// last response with its body open, so the client's classifier can read the
// product's error. Every attempt sends the request's body whole: an
// in-memory body (a request http.NewRequest made from a bytes.Reader,
// bytes.Buffer or strings.Reader, which can rewind it) is rewound from the
// caller's bytes, any other body is read into a buffer first.
//
// # Logs
//
// The first retry of a request is logged at Warn, later ones at Debug, each with
// the method, the redacted URL, the attempt and what failed; giving up after
// retrying is one Error line. Nothing else is logged here: the client that gets
// the error reports it.
package httpx
