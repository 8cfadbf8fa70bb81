// Command cerberus is the Cerberus secure property store: `cerberus server`
// serves the API, `cerberus user` manages the local user directory and
// `cerberus category` the categories of SDBs.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRootCmd(stdin, stdout, stderr, getenv)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "cerberus:", err)
		if ue, ok := errors.AsType[*usageError](err); ok {
			printUsage(stderr, ue)
			return 2
		}
		return 1
	}
	return 0
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "cerberus",
		Short:         "Cerberus: a secure property store for cloud applications",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate(versionText())
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{cmd: c, err: err} })
	root.AddCommand(newServerCmd(stdout, stderr, getenv), newUserCmd(stdin, stdout, stderr, getenv))
	root.AddCommand(newCategoryCmd(stdout, stderr, getenv))
	root.AddCommand(newLoginCmd(stdout, getenv))
	root.AddCommand(newKeysCmd(stdout, stderr, getenv))
	root.AddCommand(newBackupCmd(stdout, stderr, getenv), newRestoreCmd(stdout, stderr, getenv))
	root.AddCommand(newVersionCmd(stdout))
	root.InitDefaultCompletionCmd()
	strictCommands(root)
	return root
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func newServerCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	m := &Main{out: stdout}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the Cerberus API (embedded SQLite and local master key by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := m.cfg.resolve(cmd.Flags(), getenv); err != nil {
				return err
			}
			m.logger = newLogger(stderr, m.cfg.LogLevel)
			// SIGHUP reloads the TLS certificate and key.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			m.reload = hup
			// A second SIGINT or SIGTERM during the shutdown cuts the
			// requests in flight (the first cancels ctx as well).
			stop := make(chan os.Signal, 2)
			signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(stop)
			m.signals = stop
			ctx := cmd.Context()
			if err := m.Open(ctx); err != nil {
				m.Close()
				return err
			}
			defer m.Close()
			return m.Serve(ctx)
		},
	}
	m.cfg.bindFlags(cmd.Flags(), true)
	return cmd
}

func newUserCmd(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the local user directory (works while the server runs)",
	}
	with := storeCommand(getenv, stderr)
	var groups []string
	var withTOTP bool
	add := with(&cobra.Command{
		Use:   "add NAME --groups g1,g2 [--totp]",
		Short: "Add a user in one or more groups; the password is read from standard input",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(c *cobra.Command, _ []string) error {
			return needGroups(c, groups)
		},
	}, func(ctx context.Context, b *backend, args []string) error {
		gs, err := service.NormalizeGroups(splitGroups(groups))
		if err != nil {
			return userError(err)
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		url, err := b.svc.AddUser(ctx, args[0], pw, gs, withTOTP)
		if err != nil {
			return userError(err)
		}
		fmt.Fprintf(stdout, "Added user %q in groups %s.\n", args[0], strings.Join(gs, ","))
		if url != "" {
			fmt.Fprintf(stdout, "Enroll this in the user's authenticator app (shown only this once):\n%s\n", url)
		}
		return nil
	})
	add.Flags().StringArrayVar(&groups, "groups", nil, "groups of the user, comma-separated (spaces around names are trimmed); at least one")
	add.Flags().BoolVar(&withTOTP, "totp", false, "require a TOTP one-time code at login")
	passwd := with(&cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password, read from standard input, and revoke its tokens",
		Args:  cobra.ExactArgs(1),
	}, func(ctx context.Context, b *backend, args []string) error {
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := b.svc.SetPassword(ctx, args[0], pw); err != nil {
			return userError(err)
		}
		fmt.Fprintf(stdout, "Changed the password of %q; its tokens are revoked.\n", args[0])
		return nil
	})
	var newGroups []string
	var resetTOTP, removeTOTP bool
	update := with(&cobra.Command{
		Use:   "update NAME [--groups g1,g2] [--reset-totp | --remove-totp]",
		Short: "Change a user's groups or second factor, and revoke its tokens",
		Long: `Change a user's groups, its TOTP second factor, or both at once, and revoke the user's
tokens, which carry its groups: running servers stop honouring them within --token-cache-ttl.

  --groups g1,g2   replace the user's groups (comma-separated; spaces around names are
                   trimmed; at least one group)
  --reset-totp     give the user a new second factor, as when its device is lost, and print
                   the otpauth:// URL to enroll, once; a user without one gets one
  --remove-totp    remove the user's second factor: its password alone logs it in

The password is changed with "cerberus user passwd NAME".`,
		Args:       cobra.ExactArgs(1),
		SuggestFor: []string{"groups", "totp", "edit", "modify", "set"},
		PreRunE: func(c *cobra.Command, _ []string) error {
			switch {
			case !c.Flags().Changed("groups") && !resetTOTP && !removeTOTP:
				return usagef(c, "nothing to change: give --groups, --reset-totp or --remove-totp")
			case resetTOTP && removeTOTP:
				return usagef(c, "--reset-totp and --remove-totp go against each other: give one")
			case c.Flags().Changed("groups"):
				return needGroups(c, newGroups)
			}
			return nil
		},
	}, func(ctx context.Context, b *backend, args []string) error {
		var upd service.UserUpdate
		var gs []string
		if newGroups != nil {
			var err error
			if gs, err = service.NormalizeGroups(splitGroups(newGroups)); err != nil {
				return userError(err)
			}
			upd.Groups = &gs
		}
		if resetTOTP || removeTOTP {
			upd.TOTP = &resetTOTP
		}
		url, err := b.svc.UpdateUser(ctx, args[0], upd)
		if err != nil {
			return userError(err)
		}
		if upd.Groups != nil {
			fmt.Fprintf(stdout, "Set the groups of %q to %s.\n", args[0], strings.Join(gs, ","))
		}
		if removeTOTP {
			fmt.Fprintf(stdout, "Removed the second factor of %q: its password alone logs it in.\n", args[0])
		}
		if resetTOTP {
			fmt.Fprintf(stdout, "Gave %q a new second factor; the previous one no longer works.\n", args[0])
			fmt.Fprintf(stdout, "Enroll this in the user's authenticator app (shown only this once):\n%s\n", url)
		}
		fmt.Fprintf(stdout, "The tokens of %q are revoked.\n", args[0])
		return nil
	})
	update.Flags().StringArrayVar(&newGroups, "groups", nil, "the user's new groups, comma-separated (spaces around names are trimmed); at least one")
	update.Flags().BoolVar(&resetTOTP, "reset-totp", false, "give the user a new TOTP second factor (a lost device), printing the URL to enroll")
	update.Flags().BoolVar(&removeTOTP, "remove-totp", false, "remove the user's TOTP second factor")
	del := with(&cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user and revoke its tokens",
		Args:  cobra.ExactArgs(1),
	}, func(ctx context.Context, b *backend, args []string) error {
		if err := b.svc.RemoveUser(ctx, args[0]); err != nil {
			return userError(err)
		}
		fmt.Fprintf(stdout, "Deleted user %q.\n", args[0])
		return nil
	})
	list := with(&cobra.Command{
		Use:   "list",
		Short: "List the users",
		Args:  cobra.NoArgs,
	}, func(ctx context.Context, b *backend, _ []string) error {
		users, err := b.svc.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tGROUPS\tMFA")
		for _, u := range users {
			mfa := "no"
			if u.TOTPSecret != nil {
				mfa = "totp"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, strings.Join(u.Groups, ","), mfa)
		}
		return tw.Flush()
	})
	cmd.AddCommand(add, passwd, update, del, list)
	return cmd
}

// storeCommand returns a function that declares the settings of the store
// on a command and makes it run fn with the backend opened as the server
// opens it. The store must exist: the server alone makes one.
func storeCommand(getenv func(string) string, stderr io.Writer) func(c *cobra.Command, fn func(ctx context.Context, b *backend, args []string) error) *cobra.Command {
	cfg := Config{existingStore: true}
	return func(c *cobra.Command, fn func(ctx context.Context, b *backend, args []string) error) *cobra.Command {
		cfg.bindSettings(c.Flags(), storeSettings...)
		c.RunE = func(c *cobra.Command, args []string) error {
			if err := cfg.resolve(c.Flags(), getenv); err != nil {
				return err
			}
			// Only the server makes a store: a mistyped --data must not
			// make a new, empty one.
			if err := needExistingData(&cfg); err != nil {
				return err
			}
			b, err := openBackend(c.Context(), &cfg, nil, newLogger(stderr, "warn"))
			if err != nil {
				return err
			}
			defer b.Close()
			return fn(c.Context(), b, args)
		}
		return c
	}
}

// splitGroups returns the group names of --groups flags, each a
// comma-separated list.
func splitGroups(flags []string) []string {
	var out []string
	for _, f := range flags {
		out = append(out, strings.Split(f, ",")...)
	}
	return out
}

// needGroups refuses --groups flags that name no group: a user in no group
// can log in, but reaches no SDB and can create none.
func needGroups(c *cobra.Command, flags []string) error {
	for _, g := range splitGroups(flags) {
		if strings.TrimSpace(g) != "" {
			return nil
		}
	}
	return usagef(c, "--groups must name at least one group, such as --groups team-a: a user in no group can log in, but reaches no SDB and can create none")
}

// userError turns a domain error into a message for the operator.
func userError(err error) error {
	switch cerberus.Code(err) {
	case cerberus.ECodeNotFound:
		return errors.New("no such user")
	case cerberus.ECodeUserExists:
		return errors.New("a user with that name exists already")
	case cerberus.ECodeBadRequest:
		return errors.New(cerberus.Message(err))
	}
	return err
}

// readPassword prompts for a password twice on a terminal, or reads the
// first line of in otherwise, so that scripts can pipe it.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	r := bufio.NewReaderSize(io.LimitReader(in, 4096), 4096)
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
