// Package sharing routes indicators between plugins through business rules.
package sharing
