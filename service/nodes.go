package service

import (
	"context"
	"time"
)

// ReportNode stores what a running server reports about itself, replacing
// its previous report (see NodeRecord).
func (s *Service) ReportNode(ctx context.Context, n *NodeRecord) error {
	return s.store.PutNode(ctx, n)
}

// Nodes returns the reports of every node, ordered by ID; those whose
// SeenAt is old are of nodes that stopped without a word.
func (s *Service) Nodes(ctx context.Context) ([]*NodeRecord, error) {
	return s.store.ListNodes(ctx)
}

// ForgetNode deletes the report of the node id, which is stopping, and
// those of the nodes not seen for staleAfter.
func (s *Service) ForgetNode(ctx context.Context, id string, staleAfter time.Duration) error {
	return s.store.DeleteNode(ctx, id, s.now().Add(-staleAfter))
}
