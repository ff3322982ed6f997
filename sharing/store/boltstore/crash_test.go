package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
)

// crashChildEnv makes the test binary run crashChild instead of the tests.
const crashChildEnv = "CTE_BOLTSTORE_CRASH_CHILD"

// crashRebuildEnv makes the child's folds write the records bucket anew.
const crashRebuildEnv = "CTE_BOLTSTORE_CRASH_REBUILD"

// crashFoldAfterEnv makes the child's folds into a records bucket that has
// records be made after their Update's commit, in small transactions.
const crashFoldAfterEnv = "CTE_BOLTSTORE_CRASH_FOLD_AFTER"

// crashInFoldEnv makes the child kill itself (SIGKILL) in the third
// transaction of its first fold after a commit.
const crashInFoldEnv = "CTE_BOLTSTORE_CRASH_IN_FOLD"

const (
	crashPageSize = 500
	crashMaxPages = 400 // the child stops by itself if nobody kills it
)

// crashChild resumes ingest from the stored checkpoint, as the engine does,
// and prints "ack N" once page N's transaction has committed.
func crashChild(path string) {
	// folded every few pages, so kills land in folds too
	opts := []boltstore.Option{boltstore.WithFoldAt(3*crashPageSize - 100)}
	if os.Getenv(crashRebuildEnv) != "" {
		opts = append(opts, boltstore.WithRebuild(100)) // its folds write the records anew
	}
	if os.Getenv(crashFoldAfterEnv) != "" {
		opts = append(opts, boltstore.WithFoldChunk(50)) // its folds are made after the commit
	}
	if os.Getenv(crashInFoldEnv) != "" {
		opts = append(opts, boltstore.WithFoldChunk(50), boltstore.WithFoldHook(func(part int) error {
			if part == 2 {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			return nil
		}))
	}
	s, err := boltstore.Open(path, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	next := 0
	err = s.View(context.Background(), func(tx sharing.Tx) error {
		cp, err := tx.Checkpoint("feed")
		if err != nil || cp == nil {
			return err
		}
		_, err = fmt.Sscanf(string(cp), "page-%d", &next)
		next++
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for p := next; p < next+crashMaxPages; p++ {
		if err := ingest(s, p, crashPageSize); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Printf("ack %d\n", p) // os.Stdout is unbuffered
	}
	_ = s.Close()
}

// TestCrashKeepsAcknowledgedPages kills a process ingesting pages with SIGKILL
// at several points and checks after each kill that every acknowledged page
// and its checkpoint survived, and that no page is there in part.
func TestCrashKeepsAcknowledgedPages(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	acked := -1
	// how many acknowledgements each child gives before it is killed; 0 kills
	// it while it opens the file (the first time: while it creates it)
	for round, killAfter := range []int{0, 1, 3, 0, 7, 2, 5, 1} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		switch round % 3 {
		case 1:
			cmd.Env = append(cmd.Env, crashRebuildEnv+"=1")
		case 2:
			cmd.Env = append(cmd.Env, crashFoldAfterEnv+"=1")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		readAck := func() bool {
			if !sc.Scan() {
				return false
			}
			var n int
			_, err := fmt.Sscanf(sc.Text(), "ack %d", &n)
			require.NoError(t, err, sc.Text())
			require.Equal(t, acked+1, n, "the child resumes after the last stored page")
			acked = n
			return true
		}
		for seen := 0; seen < killAfter && readAck(); seen++ {
		}
		require.NoError(t, cmd.Process.Kill()) // SIGKILL
		for readAck() {
			// what the child printed before it died was acknowledged too
		}
		err = cmd.Wait()
		require.Error(t, err, "round %d: the child should have been killed; stderr: %s", round, stderr.String())
		assert.Contains(t, err.Error(), "killed", "round %d: stderr: %s", round, stderr.String())

		s, err := boltstore.Open(path)
		require.NoError(t, err, "round %d", round)
		last := -1
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			cp, err := tx.Checkpoint("feed")
			if err != nil || cp == nil {
				return err
			}
			_, err = fmt.Sscanf(string(cp), "page-%d", &last)
			return err
		}))
		// The kill may land after a commit and before its "ack" line.
		assert.Contains(t, []int{acked, acked + 1}, last, "round %d: checkpoint %d, last ack %d", round, last, acked)
		verify(t, s, last, crashPageSize)
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			rt := tx.(sharing.RankedTx)
			n := 0
			if err := rt.Ranked("feed", func(string, ioc.Type) error { n++; return nil }); err != nil {
				return err
			}
			c, err := rt.RankedCount("feed", func(ioc.Type) bool { return true })
			assert.Equal(t, n, c, "round %d: the ranked count after the kill", round)
			return err
		}))
		require.NoError(t, s.Close())
		acked = last
	}
	assert.Positive(t, acked, "pages were ingested between the kills")
}

// TestCrashInAFoldAfterTheCommit kills a process in the middle of a fold
// made after its Update's commit (its third transaction of 50 values): the
// Update's page and everything acknowledged before are there, whole; the
// file checks sound; and the next fold, in the next process, completes.
func TestCrashInAFoldAfterTheCommit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashInFoldEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.Error(t, err, "the child should have killed itself; stderr: %s", stderr.String())
	require.Contains(t, err.Error(), "killed", "stderr: %s", stderr.String())
	acked := strings.Count(string(out), "ack ") - 1
	require.Positive(t, acked, "pages stored before the fold")

	s, err := boltstore.Open(path, boltstore.WithFoldAt(3*crashPageSize-100), boltstore.WithFoldChunk(50))
	require.NoError(t, err)
	defer s.Close()
	require.Positive(t, boltstore.StagedLen(s), "the log stays until the fold's last transaction")
	// the Update that started the fold committed before it: its page is
	// there, though it was not acknowledged
	verify(t, s, acked+1, crashPageSize)
	require.NoError(t, s.Check(t.Context()))
	require.NoError(t, ingest(s, acked+2, crashPageSize))
	require.Zero(t, boltstore.StagedLen(s), "the next fold ran to its end")
	for p := acked + 3; p < acked+8; p++ {
		require.NoError(t, ingest(s, p, crashPageSize))
	}
	verify(t, s, acked+7, crashPageSize)
	require.NoError(t, s.Check(t.Context()))
}
