// Package console is the operator console of a running exchange: an
// http.Handler over a *sharing.Engine, mounted the way net/http/pprof or expvar
// are. It serves
//
//   - the page at / (html/template and a little JavaScript, embedded: nothing
//     is fetched from the internet): plugins, the sharing table with Test and
//     Replay, the Threat IoCs list with a filter in the rule language and row
//     actions, an indicator's detail, and the audit log, polled live;
//   - the JSON API under /api/v1/ (shapes in dto.go and the README);
//   - /healthz and Prometheus metrics at /metrics.
//
// The handlers are thin: the engine owns the behaviour (List, Explain, Plan,
// MarkSafe…), so the command line, the API and the page cannot disagree.
//
// # Security
//
// Without Options.Token the console answers only requests for a loopback host
// name, so serve it only on 127.0.0.1 or [::1] (IsLoopback tells). With a
// token every request but /healthz and the login form must carry it, as
// "Authorization: Bearer TOKEN" or in the cookie the /login form sets
// (HttpOnly, SameSite=Strict). State-changing calls (POST) must also pass a
// same-origin check (Sec-Fetch-Site, else Origin against Host):
// http.CrossOriginProtection. No answer carries a secret: the API shows no
// plugin configuration, and the engine's errors are redacted by the plugins.
//
// # Metrics
//
// Counters move with each sync the daemon reports to ObserveSync (pass it to
// sharing.Engine.RunNotify) and each share the console runs itself: pulls,
// pulled and invalid indicators, pushed indicators, what shares applied and
// retracted, rejections by reason, retries, rate-limit waits, sync durations,
// the last and next sync per source. What stands rejected or left out of a
// full target after a configuration's last share is a gauge
// (cte_share_standing): every share counts it again. cte_stored_indicators{state} is counted at scrape time from
// sharing.Engine.Counts (cached until a record changes).
//
// With a store several instances share (PostgreSQL), the leases show which
// sources and targets this instance works on, read at scrape time from
// sharing.Engine.Instance and HeldLeases: cte_instance_info{instance} (1),
// cte_lease_held{lease} (1 while held; 0 for a lease held earlier and lost or
// released since the console started) and
// cte_lease_expiry_timestamp_seconds{lease} (Unix time, for held leases).
package console
