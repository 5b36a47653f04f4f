package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tpx-dev/tpx/account"
)

func (c *cli) apikeyCreate(ctx context.Context, args []string) error {
	fs, load := c.flags("apikey create")
	name := fs.String("name", "", "who uses the key, such as index")
	scope := fs.String("scope", "", "what the key may do: admin (the admin API)")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *name == "" || *scope == "" {
		return fmt.Errorf("%w: --name and --scope are required", errUsage)
	}
	return c.with(ctx, load, func(s *session) error {
		key, k, err := s.accounts.CreateAPIKey(ctx, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, key)
		fmt.Fprintf(c.stderr, "API key %d (%s, scope %s) created. It is shown this once; tpx keeps only a hash of it.\n", k.ID, k.Name, k.Scope)
		return nil
	})
}

func (c *cli) apikeyList(ctx context.Context, args []string) error {
	fs, load := c.flags("apikey list")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		keys, err := s.accounts.APIKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tSCOPE\tCREATED\tLAST USED\tREVOKED")
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.UTC().Format(time.RFC3339)
		}
		for _, k := range keys {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
		}
		return w.Flush()
	})
}

func (c *cli) apikeyRevoke(ctx context.Context, args []string) error {
	fs, load := c.flags("apikey revoke")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := account.ParseID(pos[0])
	if err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		if err := s.accounts.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "API key %d revoked\n", id)
		return nil
	})
}

func (c *cli) userInvite(ctx context.Context, args []string) error {
	fs, load := c.flags("user invite")
	email := fs.String("email", "", "the address the invitation is for")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: --email is required", errUsage)
	}
	return c.with(ctx, load, func(s *session) error {
		link, inv, err := s.accounts.InviteSignup(ctx, account.Actor{Via: account.ViaOperator}, *email)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, link)
		fmt.Fprintf(c.stderr, "Send this link to %s; it signs up one account with that address until %s.\n", inv.Email, inv.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	})
}
