package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	cerberusclient "github.com/cerberus-go/cerberus/client"
)

// newLoginCmd returns `cerberus login`, whose subcommands log in to a
// Cerberus server and print the token, for
// `export CERBERUS_TOKEN=$(cerberus login sts ...)`.
func newLoginCmd(stdout io.Writer, getenv func(string) string) *cobra.Command {
	login := &cobra.Command{
		Use:   "login",
		Short: "Log in to a Cerberus server and print a token",
	}
	var url, region, serverID string
	sts := &cobra.Command{
		Use:   "sts --url URL --region REGION [--server-id ID]",
		Short: "Log in as the AWS IAM principal of the default AWS credentials and print the token",
		Long: `Log in as the AWS IAM principal of the AWS credentials found by the default chain
(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files, SSO,
web identity, ECS and EC2 roles) and print the Cerberus token, for
  export CERBERUS_TOKEN=$(cerberus login sts --url https://cerberus.example.com --region us-west-2)
The credentials sign an STS GetCallerIdentity request that the server checks with STS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromEnv := func(v *string, flag, env string) {
				if !cmd.Flags().Changed(flag) && *v == "" {
					*v = getenv(env)
				}
			}
			fromEnv(&url, "url", "CERBERUS_URL")
			fromEnv(&region, "region", "CERBERUS_REGION")
			fromEnv(&serverID, "server-id", "CERBERUS_STS_SERVER_ID")
			if url == "" {
				return errors.New("no Cerberus URL: set --url or CERBERUS_URL")
			}
			ctx := cmd.Context()
			awsCfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("loading the AWS configuration: %w", err)
			}
			if region == "" {
				region = awsCfg.Region
			}
			if region == "" {
				return errors.New("no AWS region: set --region or CERBERUS_REGION (or AWS_REGION)")
			}
			c, err := cerberusclient.New(url, cerberusclient.WithServerID(serverID))
			if err != nil {
				return err
			}
			tok, err := c.LoginSTS(ctx, awsCfg.Credentials, region)
			var apiErr *cerberusclient.APIError
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
				return fmt.Errorf("%w\nCheck the AWS credentials, and that --server-id (CERBERUS_STS_SERVER_ID) is the server's --sts-server-id, if it has one", err)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, tok.ClientToken)
			return err
		},
	}
	sts.Flags().StringVar(&url, "url", "", "URL of the Cerberus server (env CERBERUS_URL)")
	sts.Flags().StringVar(&region, "region", "", "AWS region to sign the STS request for, such as us-west-2 (env CERBERUS_REGION, then the AWS configuration)")
	sts.Flags().StringVar(&serverID, "server-id", "", "the server's ID, signed in X-Cerberus-Server-ID, if it has one (env CERBERUS_STS_SERVER_ID)")
	login.AddCommand(sts)
	return login
}
