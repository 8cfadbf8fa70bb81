package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// userCommand returns the command line of `cerberus user ARGS` on the
// store of cfg, for a message that tells the operator what to run. The DSN
// is not shown: it may hold a password.
func userCommand(cfg *Config, args string) string {
	cmd := "cerberus user " + args + " --data " + cfg.Data
	if cfg.Storage != "sqlite" {
		cmd += " --storage " + cfg.Storage + " (with the server's --dsn, CERBERUS_DSN or --config)"
	}
	return cmd
}

// adminHints tells the operator, on a start that created no admin, how to
// get into a store that nobody may be able to administer: when no user is
// in an admin group, how to make one; when the user admin still has the
// password it was created with, which was printed once (or written to the
// --admin-password-file) by a start that may have failed or been killed
// before anyone read it, how to set a new one.
func (m *Main) adminHints(ctx context.Context) error {
	users, err := m.backend.svc.Users(ctx)
	if err != nil {
		return fmt.Errorf("list the users: %w", err)
	}
	admins := 0
	for _, u := range users {
		if slices.ContainsFunc(u.Groups, func(g string) bool { return slices.Contains(m.cfg.AdminGroups, g) }) {
			admins++
		}
		if u.Name == "admin" && u.UpdatedAt.Equal(u.CreatedAt) {
			fmt.Fprintf(m.out, "The user \"admin\" still has the password made when it was created. If that password was lost, set a new one with: %s\n",
				userCommand(&m.cfg, "passwd admin"))
		}
	}
	if admins == 0 && len(m.cfg.AdminRoles) == 0 {
		fmt.Fprintf(m.out, "No user is in an admin group (%s), so no user can administer this server. Make one with: %s\n",
			strings.Join(m.cfg.AdminGroups, ", "), userCommand(&m.cfg, "add NAME --groups "+m.cfg.AdminGroups[0]))
	}
	return nil
}
