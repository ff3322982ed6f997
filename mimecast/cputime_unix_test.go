//go:build unix

package mimecast

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) the process used so far, all
// threads included, so a benchmark can report throughput per CPU second on a
// busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
