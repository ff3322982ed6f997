package sharing_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/sharing"
)

func TestAuditDetailValuesCountsAreNumbers(t *testing.T) {
	t.Parallel()
	e := sharing.AuditEntry{Details: map[string]string{"applied": "288", "target": "operation/BLOCK", "neg": "-3", "ratio": "1.5"}}
	assert.Equal(t, map[string]any{"applied": int64(288), "target": "operation/BLOCK", "neg": int64(-3), "ratio": "1.5"}, e.DetailValues())
	assert.Nil(t, sharing.AuditEntry{}.DetailValues(), "no details: left out of JSON")
}
