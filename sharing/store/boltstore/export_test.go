package boltstore

// WithFoldAt is withFoldAt for the tests.
var WithFoldAt = withFoldAt
