//go:build unix

package netskope

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time the process used so far, so a
// benchmark can report a rate that does not depend on how busy the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
