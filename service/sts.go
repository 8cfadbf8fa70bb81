package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
	"github.com/cerberus-go/cerberus/stsauth"
)

// CallerIdentifier completes a signed STS GetCallerIdentity request;
// *stsauth.Client is one.
type CallerIdentifier interface {
	GetCallerIdentity(ctx context.Context, h stsauth.Headers) (*stsauth.Identity, error)
}

// Groups of IAM principals' tokens, as the original named them.
const (
	groupIAMPrincipals      = "registered-iam-principals"
	groupAdminIAMPrincipals = "admin-iam-principals"
)

// LoginSTS implements cerberus.AuthService.
func (s *Service) LoginSTS(ctx context.Context, sig cerberus.AWSSignature) (*cerberus.IssuedToken, error) {
	ev := audit.FromContext(ctx)
	ev.SetAction("sts login")
	if s.cfg.STS == nil {
		ev.SetReason("STS login is not configured")
		return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. AWS STS login is not enabled on this server.")
	}
	// Each login costs a call to AWS that nobody authenticated for: bound
	// how many a client address may start.
	if wait, ok := s.stsLogins.take(clientKey(cerberus.ClientIPFromContext(ctx)), s.cfg.Now()); !ok {
		ev.SetReason("too many STS logins from this address")
		return nil, errTooManyAttempts(wait)
	}
	id, err := s.cfg.STS.GetCallerIdentity(ctx, stsauth.Headers(sig))
	if err != nil {
		reason := err.Error()
		var se *stsauth.Error
		if errors.As(err, &se) {
			reason = se.Reason()
		}
		ev.SetReason(reason)
		level := slog.LevelInfo
		if cerberus.Code(err) == cerberus.ECodeUnavailable {
			level = slog.LevelWarn
		}
		s.cfg.Logger.Log(ctx, level, "sts login failed", "code", int(cerberus.Code(err)), "reason", reason)
		return nil, err
	}
	arn, err := stsauth.ParseARN(id.ARN)
	if err != nil {
		// The client validated it already; this is defence in depth.
		return nil, fmt.Errorf("service: STS returned %q: %w", id.ARN, err)
	}
	ev.SetPrincipal(string(cerberus.PrincipalIAM), id.ARN, false)
	admin := s.isAdminARN(arn)
	// Whether one grant covers the principal is all a login needs to know:
	// one indexed lookup, however many SDBs grant it and however many
	// grants they have.
	granted, err := s.store.HasSDBGrant(ctx, nil, arn.GrantCandidates())
	if err != nil {
		return nil, err
	}
	if !granted && !admin {
		ev.SetReason(fmt.Sprintf("IAM principal %s is granted on no SDB", id.ARN))
		return nil, cerberus.Errorf(cerberus.ECodeIAMPrincipalInvalid, "The specified IAM principal is not valid. The principal %s was not configured for any SDB.", id.ARN)
	}
	groups := []string{groupIAMPrincipals}
	if admin {
		groups = append(groups, groupAdminIAMPrincipals)
	}
	ev.SetPrincipal(string(cerberus.PrincipalIAM), id.ARN, admin)
	it, err := s.issue(ctx, cerberus.Principal{
		Type:    cerberus.PrincipalIAM,
		Name:    id.ARN,
		Groups:  groups,
		IsAdmin: admin,
	})
	if err != nil {
		return nil, err
	}
	it.AWSRegion = id.Region
	return it, nil
}

// isAdminARN reports whether the principal, or its base role, is one of the
// configured admin ARNs.
func (s *Service) isAdminARN(a stsauth.ARN) bool {
	if slices.Contains(s.cfg.AdminARNs, a.String()) {
		return true
	}
	role, ok := a.BaseRole()
	return ok && slices.Contains(s.cfg.AdminARNs, role)
}

// grantCandidates returns the grant ARNs that cover an IAM principal.
func grantCandidates(principalARN string) []string {
	a, err := stsauth.ParseARN(principalARN)
	if err != nil {
		return []string{principalARN}
	}
	return a.GrantCandidates()
}
