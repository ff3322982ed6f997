// Package storeutil holds the checks and conversions every sharing.Store
// implementation in this module applies the same way, so memstore and boltstore
// cannot drift apart.
package storeutil
