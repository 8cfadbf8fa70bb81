package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cerberus-go/cerberus"
)

// newCategoryCmd manages the categories of SDBs on the store, as an admin
// does with POST and DELETE /v1/category. Whoever runs it holds the data
// directory and the master key, so it acts as an admin, recorded as
// "operator:<login name>".
func newCategoryCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "category",
		Short: "Manage the categories of safe deposit boxes (works while the server runs)",
	}
	with := storeCommand(getenv, stderr)
	add := with(&cobra.Command{
		Use:   `add "DISPLAY NAME"`,
		Short: "Add a category; its path is the slug of its name (\"Team X\" → team-x)",
		Args:  cobra.ExactArgs(1),
	}, func(ctx context.Context, b *backend, args []string) error {
		c, err := b.svc.CreateCategory(operator(ctx), args[0])
		if err != nil {
			return categoryError(err)
		}
		fmt.Fprintf(stdout, "Added category %q with path %q (id %s).\n", c.DisplayName, c.Path, c.ID)
		return nil
	})
	del := with(&cobra.Command{
		Use:   "delete PATH",
		Short: "Delete a category that holds no safe deposit box",
		Args:  cobra.ExactArgs(1),
	}, func(ctx context.Context, b *backend, args []string) error {
		ctx = operator(ctx)
		cats, err := b.svc.ListCategories(ctx)
		if err != nil {
			return err
		}
		for _, c := range cats {
			if c.Path == args[0] {
				if err := b.svc.DeleteCategory(ctx, c.ID); err != nil {
					return categoryError(err)
				}
				fmt.Fprintf(stdout, "Deleted category %q.\n", c.DisplayName)
				return nil
			}
		}
		return fmt.Errorf("no category has the path %q (see cerberus category list)", args[0])
	})
	list := with(&cobra.Command{
		Use:   "list",
		Short: "List the categories",
		Args:  cobra.NoArgs,
	}, func(ctx context.Context, b *backend, _ []string) error {
		cats, err := b.svc.ListCategories(operator(ctx))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tNAME\tID")
		for _, c := range cats {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Path, c.DisplayName, c.ID)
		}
		return tw.Flush()
	})
	cmd.AddCommand(add, del, list)
	return cmd
}

// operator returns ctx carrying the admin principal of the person at the
// terminal.
func operator(ctx context.Context) context.Context {
	name := "operator"
	if u, err := user.Current(); err == nil {
		name += ":" + u.Username
	}
	return cerberus.NewContextWithPrincipal(ctx, &cerberus.Principal{Type: cerberus.PrincipalUser, Name: name, IsAdmin: true})
}

// categoryError turns a domain error into a message for the operator.
func categoryError(err error) error {
	var e *cerberus.Error
	if errors.As(err, &e) && e.Code != cerberus.ECodeInternal && e.Code != cerberus.ECodeUnavailable {
		return errors.New(e.Message)
	}
	return err
}
