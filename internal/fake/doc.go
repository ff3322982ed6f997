// Package fake holds the plumbing shared by the public API fakes
// (mimecasttest, netskopetest): the fault queue, the gate that holds stalled
// requests, the request log, the connection reset and the HTTP server with
// its shutdown. What a fault answers (status, headers, body) is product
// knowledge and stays in each fake; this package knows nothing of Mimecast or
// Netskope and imports neither client.
//
// # Faults
//
// A Queue holds scripted faults of a fake's own type F. Each fault is queued
// for the next n requests whose path matches (MatchPath) and faults are
// consumed in the order they were queued, so a test can script a sequence such
// as 429, 429, 503, then normal answers.
//
// # Stalls
//
// A Gate holds stalled requests until the test releases it, the client gives
// up or the server closes. Gate.Wait tells which of the three happened; each
// fake decides what a closing server means for a held request.
//
// # Server
//
// Start runs a handler on 127.0.0.1 with net/http (not httptest, so a
// program linking a fake links no test code). Server.Close closes the
// Closing channel (which frees held requests) and then waits for in-flight
// requests; Server.Abort first drops every client connection. Both are
// idempotent. ResetConn ends a request with a TCP reset instead of an answer.
//
// # Request log
//
// Log is a concurrency-safe, optionally bounded, log of a fake's own request
// records, oldest first.
package fake
