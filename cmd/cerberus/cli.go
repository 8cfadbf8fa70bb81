package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command line that does not fit its command: an unknown
// subcommand or flag, or a wrong count of arguments. run prints the
// command's usage after it and exits 2.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError of cmd with the message of format.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// strictCommands walks the command tree of c and makes every command
// refuse a command line that does not fit it, as a usageError: a command
// that only groups others (such as "cerberus user") refuses an unknown
// subcommand instead of printing its help and exiting 0, and the others a
// wrong count of arguments. A group given no subcommand prints its help.
func strictCommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictCommands(sub)
	}
	switch {
	case c.HasSubCommands() && !c.Runnable():
		c.Args = cobra.ArbitraryArgs
		// The flags are the subcommands': a group reads its arguments
		// itself, so that "cerberus user groups --groups g" is told that
		// groups is no command rather than that --groups is no flag. The
		// root keeps its flags (--version).
		c.DisableFlagParsing = c.HasParent()
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
				return cmd.Help()
			}
			if strings.HasPrefix(args[0], "-") {
				return usagef(cmd, "%s is no flag of %q, and no subcommand follows it", args[0], cmd.CommandPath())
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", strings.Join(s, `" or "`))
			}
			return usagef(cmd, "%s", msg)
		}
	case c.Args != nil:
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usagef(cmd, "%s: %v", cmd.CommandPath(), err)
			}
			return nil
		}
	}
}

// printUsage follows the message of a usageError with the usage line of
// its command.
func printUsage(w io.Writer, e *usageError) {
	if e.cmd.HasAvailableSubCommands() {
		var names []string
		for _, c := range e.cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		fmt.Fprintf(w, "Usage: %s COMMAND, where COMMAND is one of: %s\n", e.cmd.CommandPath(), strings.Join(names, ", "))
	} else {
		fmt.Fprintf(w, "Usage: %s\n", e.cmd.UseLine())
	}
	fmt.Fprintf(w, "Run \"%s --help\" for more.\n", e.cmd.CommandPath())
}
