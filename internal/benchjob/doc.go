// Command benchjob is the whole-job benchmark (make bench-job): the
// bidirectional job of the README, run the way an operator runs cte sync,
// measured as a whole process.
//
// The parent process starts the in-process fakes of both products
// (mimecasttest with a feed of N events, netskopetest with 5,000 malware
// alerts and an empty SHA256 File Hash List), then runs each scenario as a
// child process (this binary again) that opens the default embedded store in
// a temporary folder (real fsync), wires the real plugins, the two sharing
// configurations (Mimecast feed → Netskope SHA256 list, Replace; Netskope
// malware alerts → Mimecast operation/BLOCK, Append) and syncs both sources
// once. The child's CPU (user+sys) and peak RSS come from wait4's rusage, so
// they are the whole process's; the peak Go heap is sampled in the child. The
// fakes' own work runs in the parent and is not counted.
//
// Scenarios, for each feed size: the first sync into an empty store; a second
// sync with nothing new; a sync after 1% more feed events arrived.
//
//	go run ./internal/benchjob -events 200000,1000000 -count 3
package main
