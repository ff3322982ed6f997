// Package plugintest is the conformance kit for cte plugins and an in-memory plugin
// for tests of code that drives plugins.
//
// # Conformance
//
// A plugin author calls [Run] from a test with a function that builds a [Harness]:
// the plugin configured against a backend (usually the product's public fake, such
// as mimecasttest or netskopetest) and the same plugin with wrong credentials. Run
// checks the contract every host relies on: Validate refuses bad credentials with
// cte.ErrAuth; pages resume from their checkpoints without losing indicators; an
// empty push is a no-op; an unknown target is an error; every rejection names a
// value that was pushed and every pushed value is accounted for; a cancelled context
// stops Pull and Push; a push the product rate-limits fails with an error that
// carries the product's wait (cte.RetryAfter), through [Harness].RateLimit.
//
// # The fake plugin
//
// [Fake] serves a feed in pages, keeps target contents, records calls and can reject
// or fail on demand. The sharing engine's tests run on it.
package plugintest
