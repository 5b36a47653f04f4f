package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// CreateOwnedProject creates project name owned by the actor, an owner-to-be with a
// second factor and a recent authentication: a project made from the web is a project
// someone can then add publishers to.
func (s *Service) CreateOwnedProject(ctx context.Context, a Actor, name string) (store.Project, error) {
	if err := s.managed("only the index creates projects"); err != nil {
		return store.Project{}, err
	}
	if _, err := s.authorize(ctx, a, 0); err != nil {
		return store.Project{}, err
	}
	return s.createProject(ctx, a, name, a.UserName)
}

// OwnedProject returns project name if user owns it: the one check before any of a
// project's pages, publishers, failures or audit log is shown.
func (s *Service) OwnedProject(ctx context.Context, user store.User, name string) (store.Project, error) {
	p, err := s.project(ctx, name)
	if err != nil {
		return store.Project{}, err
	}
	ok, err := s.cfg.Store.IsOwner(ctx, p.ID, user.ID)
	if err != nil {
		return store.Project{}, err
	}
	if !ok {
		// The same answer as for a project that does not exist: a non-owner learns nothing.
		return store.Project{}, fmt.Errorf("%w: %q", ErrUnknownProject, name)
	}
	return p, nil
}

// ProjectDetails is everything an owner's project page shows.
type ProjectDetails struct {
	Project     store.Project
	Publishers  []store.Publisher
	Owners      []store.Owner
	Invitations []store.Invitation
	Failures    []store.FailedExchange
	Audit       []store.AuditEvent
	// Creators names the users who added publishers, by id.
	Creators map[int64]string
}

// Project returns the details of project name for user, one of its owners.
func (s *Service) Project(ctx context.Context, user store.User, name string) (ProjectDetails, error) {
	p, err := s.OwnedProject(ctx, user, name)
	if err != nil {
		return ProjectDetails{}, err
	}
	d := ProjectDetails{Project: p, Creators: map[int64]string{}}
	if d.Publishers, err = s.cfg.Store.ListPublishers(ctx, p.ID); err != nil {
		return ProjectDetails{}, err
	}
	if d.Owners, err = s.cfg.Store.ProjectOwners(ctx, p.ID); err != nil {
		return ProjectDetails{}, err
	}
	if d.Invitations, err = s.cfg.Store.Invitations(ctx, p.ID, 0, s.cfg.Now()); err != nil {
		return ProjectDetails{}, err
	}
	if d.Failures, err = s.cfg.Store.FailedExchanges(ctx, p.ID); err != nil {
		return ProjectDetails{}, err
	}
	if d.Audit, err = s.cfg.Store.AuditLog(ctx, p.ID, 0, 0); err != nil {
		return ProjectDetails{}, err
	}
	for _, pub := range d.Publishers {
		if _, ok := d.Creators[pub.CreatedBy]; ok || pub.CreatedBy == 0 {
			continue
		}
		if u, err := s.cfg.Store.UserByID(ctx, pub.CreatedBy); err == nil {
			d.Creators[pub.CreatedBy] = u.Name
		}
	}
	return d, nil
}

// Projects lists the projects user owns.
func (s *Service) Projects(ctx context.Context, user store.User) ([]store.Project, error) {
	return s.cfg.Store.ProjectsOwnedBy(ctx, user.ID)
}

// Pending lists the user's pending publishers.
func (s *Service) Pending(ctx context.Context, user store.User) ([]store.PendingPublisher, error) {
	return s.cfg.Store.ListPending(ctx, user.ID)
}

// RemovePending removes one of the actor's pending publishers.
func (s *Service) RemovePending(ctx context.Context, a Actor, id int64) error {
	u, err := s.authorize(ctx, a, 0)
	if err != nil {
		return err
	}
	pending, err := s.cfg.Store.ListPending(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(pending, func(p store.PendingPublisher) bool { return p.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: pending publisher %d", ErrUnknownID, id)
	}
	if err := s.cfg.Store.RemovePending(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.audit(ctx, a, u.ID, 0, "pending.remove", fmt.Sprintf("pending publisher %d for new project %s removed: %s", id, pending[i].ProjectName, Describe(pending[i].Publisher)))
	return nil
}

// ownerAction is the start of an action by a on another user of project, as to owners
// and invitations: the project, a (through the gate, as an owner) and the other user.
func (s *Service) ownerAction(ctx context.Context, a Actor, project, other string) (store.Project, store.User, store.User, error) {
	p, err := s.project(ctx, project)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	u, err := s.authorize(ctx, a, p.ID)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	who, err := s.user(ctx, other)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	return p, u, who, nil
}

// InviteOwner asks invitee to become an owner of project; the invitee accepts from their
// account page, with a second factor of their own.
func (s *Service) InviteOwner(ctx context.Context, a Actor, project, invitee string) error {
	p, u, who, err := s.ownerAction(ctx, a, project, invitee)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	err = s.cfg.Store.Invite(ctx, store.Invitation{ProjectID: p.ID, UserID: who.ID, InvitedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(InvitationLifetime)})
	if errors.Is(err, store.ErrConflict) {
		return invalid("%s already owns %s or is invited to", who.Name, p.Name)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.invite", fmt.Sprintf("%s invited %s to become an owner", u.Name, who.Name))
	s.mailUser(ctx, who, "tpx: invitation to own "+p.Name, fmt.Sprintf("%s invited you to become an owner of %s. Accept or decline on your account page, %s/account, within %v. Owners need a second factor.", u.Name, p.Name, s.cfg.PublicURL, InvitationLifetime))
	return nil
}

// CancelInvitation withdraws an invitation to project.
func (s *Service) CancelInvitation(ctx context.Context, a Actor, project, invitee string) error {
	p, u, who, err := s.ownerAction(ctx, a, project, invitee)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveInvitation(ctx, p.ID, who.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s is not invited to %s", ErrNoInvitation, who.Name, p.Name)
	} else if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.uninvite", fmt.Sprintf("invitation of %s withdrawn", who.Name))
	return nil
}

// Invitations lists the invitations to user.
func (s *Service) Invitations(ctx context.Context, user store.User) ([]store.Invitation, error) {
	return s.cfg.Store.Invitations(ctx, 0, user.ID, s.cfg.Now())
}

// AcceptInvitation makes the actor an owner of project: they need a second factor and a
// recent authentication, as for any management action.
func (s *Service) AcceptInvitation(ctx context.Context, a Actor, project string) error {
	p, err := s.project(ctx, project)
	if err != nil {
		return err
	}
	u, err := s.authorize(ctx, a, 0)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.AcceptInvitation(ctx, p.ID, u.ID, s.cfg.Now()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: you are not invited to %s, or the invitation expired", ErrNoInvitation, p.Name)
	} else if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.add", u.Name+" accepted the invitation and is now an owner")
	s.notifyOwners(ctx, p.ID, "", "tpx: new owner of "+p.Name, fmt.Sprintf("%s is now an owner of %s.", u.Name, p.Name))
	return nil
}

// DeclineInvitation deletes an invitation to the actor; declining needs no second factor.
func (s *Service) DeclineInvitation(ctx context.Context, a Actor, project string) error {
	p, err := s.project(ctx, project)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveInvitation(ctx, p.ID, u.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: you are not invited to %s", ErrNoInvitation, p.Name)
	} else if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.decline", u.Name+" declined the invitation")
	return nil
}

// RemoveOwner removes owner from project; an owner may remove themselves, and the last
// owner stays.
func (s *Service) RemoveOwner(ctx context.Context, a Actor, project, owner string) error {
	p, u, who, err := s.ownerAction(ctx, a, project, owner)
	if err != nil {
		return err
	}
	err = s.cfg.Store.RemoveOwner(ctx, p.ID, who.ID)
	switch {
	case errors.Is(err, store.ErrLastOwner):
		return fmt.Errorf("%w: %s is the only owner of %s", ErrLastOwner, who.Name, p.Name)
	case errors.Is(err, store.ErrNotFound):
		return invalid("%s does not own %s", who.Name, p.Name)
	case err != nil:
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.remove", fmt.Sprintf("%s removed %s as an owner", u.Name, who.Name))
	s.notifyOwners(ctx, p.ID, "", "tpx: owner removed from "+p.Name, fmt.Sprintf("%s removed %s as an owner of %s.", u.Name, who.Name, p.Name))
	s.mailUser(ctx, who, "tpx: you no longer own "+p.Name, fmt.Sprintf("%s removed you as an owner of %s.", u.Name, p.Name))
	return nil
}

// ExchangeFailed records, for each project, why an exchange that matched none of its
// publishers failed (exchange.Observer). The reasons quote the owners' configuration, so
// they go to the owners' project page, never to the caller.
func (s *Service) ExchangeFailed(ctx context.Context, failures []store.FailedExchange) {
	if err := s.cfg.Store.RecordFailedExchanges(ctx, failures); err != nil {
		s.cfg.Logger.Error("failed exchanges not recorded", "count", len(failures), "error", err)
	}
}

// ExchangeSucceeded logs and tells the owners of a project a pending publisher created,
// and tells owners when a publisher without an environment served a job that ran in one
// (exchange.Observer).
func (s *Service) ExchangeSucceeded(ctx context.Context, id policy.Identity, tokenID string, matched []store.Publisher, created []store.PendingPublisher) {
	// The "token minted" events of the matched publishers' projects were written by the
	// exchange in its own transaction.
	facts := id.Source()
	for _, p := range matched {
		if p.Environment == "" && id.Environment != "" {
			s.notifyOwners(ctx, p.ProjectID, fmt.Sprintf("environment-hint:%d:%s", p.ID, strings.ToLower(id.Environment)),
				"tpx: restrict the publisher of "+p.ProjectName+" to an environment?",
				fmt.Sprintf("an upload token for %s was minted through publisher %d (%s), which accepts any environment, for a job that ran in the environment %q. Restricting the publisher to that environment lets the environment's protection rules guard your releases. Publishers: %s/projects/%s\n\nThe job: %s.",
					p.ProjectName, p.ID, Describe(p.Publisher), id.Environment, s.cfg.PublicURL, p.ProjectName, facts))
		}
	}
	for _, pp := range created {
		proj, err := s.cfg.Store.ProjectByName(ctx, pp.ProjectName)
		if err != nil {
			s.cfg.Logger.Error("project made by a pending publisher not found", "project", pp.ProjectName, "error", err)
			continue
		}
		s.auditAs(ctx, "exchange", pp.UserID, proj.ID, "pending.use", fmt.Sprintf("project %s created by pending publisher %d (%s); upload token %s minted: %s", proj.Name, pp.ID, Describe(pp.Publisher), tokenID, facts))
		s.notifyOwners(ctx, proj.ID, "", "tpx: project "+proj.Name+" created",
			fmt.Sprintf("your pending publisher (%s) was used and created the project %s, which you own. Publishers: %s/projects/%s\n\nThe job: %s.", Describe(pp.Publisher), proj.Name, s.cfg.PublicURL, proj.Name, facts))
	}
}

// auditAs is audit with an actor that is not a Via (the exchange).
func (s *Service) auditAs(ctx context.Context, actor string, user, project int64, action, detail string) {
	err := s.cfg.Store.Audit(ctx, store.AuditEvent{At: s.cfg.Now(), Actor: actor, UserID: user, ProjectID: project, Action: action, Detail: detail})
	if err != nil {
		s.cfg.Logger.Error("audit event not recorded", "action", action, "user", user, "project", project, "error", err)
	}
}
