// Package cte holds the contracts of cte, a library and command that share threat
// indicators (IoCs) between security products in the style of a Cloud Exchange
// "Threat Exchange" module.
//
// A product is reached through a [Plugin]: it pulls indicators page by page from a
// [Checkpoint], lists the [Target]s it can write to, and pushes indicators to one of
// them, reporting what was applied, what was already there and what was rejected
// and why. The sharing engine (package sharing) routes indicators between plugins
// through business rules.
//
// # Drivers and the registry
//
// Each plugin package exports a Driver function returning a [Driver]: a name, a
// [Manifest] describing the configuration form, and an opener. A host wires the
// drivers it wants into a [Registry] (its zero value is ready to use) and opens
// plugins by name with a JSON configuration. The registry checks the configuration
// against the manifest before the plugin sees it, so a missing required field or a
// wrong type is an error naming the field. Plugins never register themselves in
// init.
//
// # Errors
//
// Plugins return errors that wrap one of the sentinels [ErrNotSupported],
// [ErrInvalidConfig], [ErrAuth], [ErrRateLimited] and [ErrQuota], so a host can
// choose a recovery with errors.Is without matching strings. Product clients return
// typed errors (*mimecast.Error, *netskope.Error) that wrap these sentinels.
//
// # Secrets
//
// Credentials are held in [Secret] values, which print, format and marshal as
// "[redacted]". Nothing a plugin logs or returns carries a secret.
package cte
