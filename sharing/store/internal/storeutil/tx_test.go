package storeutil

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/sharing"
)

func TestReadableWritable(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Readable(false))
	assert.ErrorIs(t, Readable(true), ErrTxDone)
	assert.NoError(t, Writable("xstore", "put mark", false, true))
	assert.ErrorIs(t, Writable("xstore", "put mark", true, true), ErrTxDone)
	assert.ErrorIs(t, Writable("xstore", "put mark", true, false), ErrTxDone, "a finished tx says so before read-only")
	err := Writable("xstore", "put mark", false, false)
	assert.ErrorIs(t, err, sharing.ErrReadOnly)
	assert.Equal(t, "xstore: put mark: "+sharing.ErrReadOnly.Error(), err.Error())
}

func TestEndScan(t *testing.T) {
	t.Parallel()
	assert.NoError(t, EndScan(sharing.ErrStop))
	assert.NoError(t, EndScan(fmt.Errorf("wrapped: %w", sharing.ErrStop)))
	boom := errors.New("boom")
	assert.Equal(t, boom, EndScan(boom))
}

func TestEach(t *testing.T) {
	t.Parallel()
	var seen []int
	visit := func(stopAt int, err error) func(int) error {
		return func(v int) error {
			seen = append(seen, v)
			if v == stopAt {
				return err
			}
			return nil
		}
	}
	assert.NoError(t, Each([]int{1, 2, 3}, visit(0, nil)))
	assert.Equal(t, []int{1, 2, 3}, seen)

	seen = nil
	assert.NoError(t, Each([]int{1, 2, 3}, visit(2, sharing.ErrStop)))
	assert.Equal(t, []int{1, 2}, seen, "ErrStop ends the scan")

	seen = nil
	boom := errors.New("boom")
	assert.Equal(t, boom, Each([]int{1, 2, 3}, visit(1, boom)))
	assert.Equal(t, []int{1}, seen, "an error ends the scan")

	assert.NoError(t, Each[int](nil, visit(0, nil)))
}
