// Package storeutil holds the checks, conversions and transaction rules every
// sharing.Store implementation in this module applies the same way (a finished
// or read-only transaction, a scan that fn stops with sharing.ErrStop), so
// memstore, boltstore and pgstore cannot drift apart.
package storeutil
