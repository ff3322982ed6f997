//go:build !unix

package netskope

import "time"

func cpuTime() time.Duration { return 0 }
