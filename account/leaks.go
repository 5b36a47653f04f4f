package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/token"
)

// maxLeakWhere bounds the place a report names, which reaches the audit log and mail.
const maxLeakWhere = 512

// TokenLeaked acts on a report that the upload token c, verified as one of this
// service's, was found where others can read it: it revokes the token at once, then
// records the report in the audit log of each project the token names and tells those
// projects' owners. reporter names who reported it ("github-secret-scanning", "admin-api")
// and where the place it was found, when the reporter said (a URL; may be empty). A token
// reported again is revoked again, harmlessly; its owners are told once.
func (s *Service) TokenLeaked(ctx context.Context, c token.Claims, reporter, where string) error {
	now := s.cfg.Now()
	if err := s.cfg.Store.RevokeUploadToken(ctx, c.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fault.Wrap(fault.Unavailable, "the token could not be revoked; try again", err)
	}
	if len(where) > maxLeakWhere {
		where = where[:maxLeakWhere] + "…"
	}
	found := "where others can read it"
	if where != "" {
		found = fmt.Sprintf("at %q", where)
	}
	s.cfg.Logger.WarnContext(ctx, "leaked upload token revoked", "token_id", c.ID, "reporter", reporter, "where", where, "projects", c.Projects)
	for _, name := range c.Projects {
		p, err := s.cfg.Store.ProjectByName(ctx, name)
		if err != nil {
			// Deleted since: the token is revoked, and nobody is left to tell.
			s.cfg.Logger.InfoContext(ctx, "project of a leaked token not found", "project", name, "error", err)
			continue
		}
		// A token may cover projects of several owners, whose publishers matched the same
		// job: what each is told names the token, not the job's claims, which another
		// owner's repository may keep private.
		s.auditAs(ctx, reporter, 0, p.ID, "token.leaked", fmt.Sprintf("upload token %s, minted at %s, reported leaked by %s, found %s; revoked",
			c.ID, c.IssuedAt.UTC().Format(time.RFC3339), reporter, found))
		s.notifyOwners(ctx, p.ID, "token-leaked:"+c.ID, "tpx: an upload token for "+p.Name+" leaked and was revoked",
			fmt.Sprintf("%s reported an upload token for %s found %s. tpx revoked it at once; it would have expired at %s.\n\n"+
				"The token (id %s) was minted at %s for a job that one of the project's publishers trusted. The project's audit log "+
				"says which exchange minted it; check that job's workflow, which printed or stored the token where others can read it. "+
				"Publishers: %s/projects/%s",
				reporter, p.Name, found, c.ExpiresAt.UTC().Format(time.RFC3339), c.ID, c.IssuedAt.UTC().Format(time.RFC3339), s.cfg.PublicURL, p.Name))
	}
	return nil
}
