// Package text holds the one helper that shortens text for messages, so values
// quoted in errors, logs and reports are cut the same way everywhere and never
// in the middle of a UTF-8 character.
package text
