package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/service"
)

func TestClientRates(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := service.NewClientRates(2, 3, 10)
	for i := range 3 {
		if _, ok := c.Take("a", t0); !ok {
			t.Fatalf("take %d of a burst of 3: refused", i+1)
		}
	}
	if wait, ok := c.Take("a", t0); ok || wait != 500*time.Millisecond {
		t.Fatalf("take 4: ok %v, wait %v; want refused, 500ms (2 per second)", ok, wait)
	}
	// A refused take spends nothing: the token comes at 500ms as said.
	if _, ok := c.Take("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("take after the wait: refused")
	}
	// The table stays bounded; full (idle) buckets go first, so a client
	// that is waiting keeps its bucket.
	if _, ok := c.Take("a", t0.Add(500*time.Millisecond)); ok {
		t.Fatal("a: a token too many")
	}
	for i := range 30 {
		c.Take(fmt.Sprint("idle-", i), t0)
	}
	if n := c.Len(); n > 10 {
		t.Fatalf("%d buckets, want at most 10", n)
	}
	if _, ok := c.Take("a", t0.Add(600*time.Millisecond)); ok {
		t.Fatal("a's empty bucket was forgotten while idle ones were kept: a got a fresh burst")
	}
}
