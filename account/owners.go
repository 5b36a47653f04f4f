package account

import (
	"context"
	"errors"
	"fmt"
	"github.com/patrickmn/go-cache"
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
	if _, err := s.authorize(ctx, a); err != nil {
		return store.Project{}, err
	}
	return s.createProject(ctx, a, name, a.UserName)
}

// ProjectDetails is everything a member's project page shows.
type ProjectDetails struct {
	Project store.Project
	// Role is the viewer's: owners change the project, maintainers only see it.
	Role       store.Role
	Publishers []store.Publisher
	// Owners are the members, owners first.
	Owners      []store.Owner
	Invitations []store.Invitation
	Failures    []store.FailedExchange
	Audit       []store.AuditEvent
	// Creators names the users who added publishers, by id.
	Creators map[int64]string
}

// Project returns the details of project name for user, one of its members: the one
// check before any of a project's pages, publishers, failures or audit log is shown.
func (s *Service) Project(ctx context.Context, user store.User, name string) (ProjectDetails, error) {
	p, role, err := s.memberOf(ctx, Actor{Via: ViaWeb}, user, name)
	if err != nil {
		return ProjectDetails{}, err
	}
	d := ProjectDetails{Project: p, Role: role, Creators: map[int64]string{}}
	if d.Publishers, err = s.cfg.Store.ListPublishers(ctx, p.ID); err != nil {
		return ProjectDetails{}, err
	}
	if d.Owners, err = s.cfg.Store.ProjectMembers(ctx, p.ID); err != nil {
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

// Projects lists the projects user owns, then those they maintain.
func (s *Service) Projects(ctx context.Context, user store.User) (owned, maintained []store.Project, err error) {
	if owned, err = s.cfg.Store.ProjectsOwnedBy(ctx, user.ID); err != nil {
		return nil, nil, err
	}
	maintained, err = s.cfg.Store.ProjectsMaintainedBy(ctx, user.ID)
	return owned, maintained, err
}

// Pending lists the user's pending publishers.
func (s *Service) Pending(ctx context.Context, user store.User) ([]store.PendingPublisher, error) {
	return s.cfg.Store.ListPending(ctx, user.ID)
}

// RemovePending removes one of the actor's pending publishers.
func (s *Service) RemovePending(ctx context.Context, a Actor, id int64) error {
	u, err := s.authorize(ctx, a)
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

// ownerAction is the start of an action by a on another user of project, as to members
// and invitations: the project, a (through the gate, as an owner) and the other user.
func (s *Service) ownerAction(ctx context.Context, a Actor, project, other string) (store.Project, store.User, store.User, error) {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	p, err := s.ownedBy(ctx, a, u, project)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	who, err := s.user(ctx, other)
	if err != nil {
		return store.Project{}, store.User{}, store.User{}, err
	}
	return p, u, who, nil
}

// InviteOwner asks invitee to become a member of project in role (an owner, or a
// maintainer who sees the project and changes nothing); the invitee accepts from their
// account page, with a second factor of their own.
func (s *Service) InviteOwner(ctx context.Context, a Actor, project, invitee string, role store.Role) error {
	if role != store.RoleOwner && role != store.RoleMaintainer {
		return invalid("role %q: invite an owner or a maintainer", role)
	}
	p, u, who, err := s.ownerAction(ctx, a, project, invitee)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	err = s.cfg.Store.Invite(ctx, store.Invitation{Role: role, ProjectID: p.ID, UserID: who.ID, InvitedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(InvitationLifetime)})
	if errors.Is(err, store.ErrConflict) {
		return invalid("%s is a member of %s or is invited already", who.Name, p.Name)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.invite", fmt.Sprintf("%s invited %s to become %s", u.Name, who.Name, roleNoun(role)))
	s.mailUser(ctx, who, "tpx: invitation to "+p.Name, fmt.Sprintf("%s invited you to become %s of %s. Accept or decline on your account page, %s/account, within %v. Members need a second factor.", u.Name, roleNoun(role), p.Name, s.cfg.PublicURL, InvitationLifetime))
	return nil
}

// roleNoun is a role with its article, for sentences.
func roleNoun(r store.Role) string {
	if r == store.RoleMaintainer {
		return "a maintainer"
	}
	return "an owner"
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

// invitedTo finds project name for an invitee. A project that does not exist gets the
// same error as one without an invitation, naming it as asked for.
func (s *Service) invitedTo(ctx context.Context, name string) (store.Project, error) {
	p, err := s.cfg.Store.ProjectByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, notInvited(name)
	}
	return p, err
}

func notInvited(name string) error {
	return fmt.Errorf("%w: you are not invited to %q, or the invitation expired", ErrNoInvitation, name)
}

// AcceptInvitation makes the actor a member of project in the invitation's role: they
// need a second factor and a recent authentication, as for any management action.
func (s *Service) AcceptInvitation(ctx context.Context, a Actor, project string) error {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return err
	}
	p, err := s.invitedTo(ctx, project)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.AcceptInvitation(ctx, p.ID, u.ID, s.cfg.Now()); errors.Is(err, store.ErrNotFound) {
		return notInvited(project)
	} else if err != nil {
		return err
	}
	role, err := s.cfg.Store.MemberRole(ctx, p.ID, u.ID)
	if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.add", fmt.Sprintf("%s accepted the invitation and is now %s", u.Name, roleNoun(role)))
	s.notifyOwners(ctx, p.ID, "", "tpx: new member of "+p.Name, fmt.Sprintf("%s is now %s of %s.", u.Name, roleNoun(role), p.Name))
	return nil
}

// DeclineInvitation deletes an invitation to the actor; declining needs no second factor.
func (s *Service) DeclineInvitation(ctx context.Context, a Actor, project string) error {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	p, err := s.invitedTo(ctx, project)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveInvitation(ctx, p.ID, u.ID); errors.Is(err, store.ErrNotFound) {
		return notInvited(project)
	} else if err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.decline", u.Name+" declined the invitation")
	return nil
}

// RemoveOwner removes a member (an owner or a maintainer) from project; an owner may
// remove themselves, and the last owner stays.
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
		return invalid("%s is no member of %s", who.Name, p.Name)
	case err != nil:
		return err
	}
	s.audit(ctx, a, u.ID, p.ID, "owner.remove", fmt.Sprintf("%s removed %s from the members", u.Name, who.Name))
	s.notifyOwners(ctx, p.ID, "", "tpx: member removed from "+p.Name, fmt.Sprintf("%s removed %s from the members of %s.", u.Name, who.Name, p.Name))
	s.mailUser(ctx, who, "tpx: you are no longer a member of "+p.Name, fmt.Sprintf("%s removed you from the members of %s.", u.Name, p.Name))
	return nil
}

// ExchangeFailed records, for each project, why an exchange that matched none of its
// publishers failed (exchange.Observer). The reasons quote the owners' configuration, so
// they go to the owners' project page, never to the caller. The same refusal of a
// publisher (the same reason in the same minute) is recorded once: the project's list
// keeps MaxFailedPerProject rows, which a busy repository's jobs would otherwise fill
// with copies, each a write.
func (s *Service) ExchangeFailed(ctx context.Context, failures []store.FailedExchange) {
	var (
		fresh []store.FailedExchange
		keys  []string
	)
	for _, f := range failures {
		key := fmt.Sprintf("%d\x00%d\x00%s", f.PublisherID, f.At.Unix()/60, f.Reason)
		if _, done := s.refused.Get(key); done || slices.Contains(keys, key) {
			continue
		}
		fresh = append(fresh, f)
		keys = append(keys, key)
	}
	if len(fresh) == 0 {
		return
	}
	if err := s.cfg.Store.RecordFailedExchanges(ctx, fresh); err != nil {
		s.cfg.Logger.Error("failed exchanges not recorded", "count", len(fresh), "error", err)
		return
	}
	remember(s.refused, keys)
}

// ExchangeSucceeded logs and tells the owners of a project a pending publisher created,
// and tells owners when a publisher without an environment served a job that ran in one
// (exchange.Observer).
func (s *Service) ExchangeSucceeded(ctx context.Context, id policy.Identity, tokenID string, matched []store.Publisher, created []store.PendingPublisher) {
	// The "token minted" events of the matched publishers' projects were written by the
	// exchange in its own transaction.
	// The owners of the projects need not be the repository's people: they are told of a
	// job from a repository that is not public only that there was one.
	facts := id.SourceForOwners()
	env := "a deployment environment"
	if id.Public {
		env = fmt.Sprintf("the environment %q", id.Environment)
	}
	s.environmentHints(ctx, id, matched, env, facts)
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

// environmentHints tells the owners of each project whose publisher accepts any
// environment that a job which ran in one (described as env) used it, once per publisher,
// environment and owner. All projects' owners are read at once and all messages written
// at once: the projects a job's token covers are partly chosen by other tenants, and a
// read per project would make the exchanges that follow wait on them.
func (s *Service) environmentHints(ctx context.Context, id policy.Identity, matched []store.Publisher, env, facts string) {
	var (
		hinted []store.Publisher
		keys   []string
	)
	for _, p := range matched {
		if p.Environment == "" && id.Environment != "" {
			key := fmt.Sprintf("environment-hint:%d:%s", p.ID, strings.ToLower(id.Environment))
			if _, done := s.hinted.Get(key); done {
				continue
			}
			hinted = append(hinted, p)
			keys = append(keys, key)
		}
	}
	if len(hinted) == 0 {
		return
	}
	ids := make([]int64, len(hinted))
	for i, p := range hinted {
		ids[i] = p.ProjectID
	}
	owners, err := s.cfg.Store.OwnersOf(ctx, ids)
	if err != nil {
		s.cfg.Logger.Error("owners not told of environment hints", "projects", len(ids), "error", err)
		return
	}
	var msgs []store.Mail
	for i, p := range hinted {
		msgs = append(msgs, s.mails(owners[p.ProjectID], keys[i],
			"tpx: restrict the publisher of "+p.ProjectName+" to an environment?",
			fmt.Sprintf("an upload token for %s was minted through publisher %d (%s), which accepts any environment, for a job that ran in %s. Restricting the publisher to that environment lets the environment's protection rules guard your releases. Publishers: %s/projects/%s\n\nThe job: %s.",
				p.ProjectName, p.ID, Describe(p.Publisher), env, s.cfg.PublicURL, p.ProjectName, facts))...)
	}
	if len(msgs) > 0 {
		if err := s.cfg.Store.EnqueueMail(ctx, msgs); err != nil {
			s.cfg.Logger.Error("owners not told of environment hints", "messages", len(msgs), "error", err)
			return
		}
	}
	remember(s.hinted, keys)
}

// auditAs is audit with an actor that is not a Via (the exchange).
func (s *Service) auditAs(ctx context.Context, actor string, user, project int64, action, detail string) {
	err := s.cfg.Store.Audit(ctx, store.AuditEvent{At: s.cfg.Now(), Actor: actor, UserID: user, ProjectID: project, Action: action, Detail: detail})
	if err != nil {
		s.cfg.Logger.Error("audit event not recorded", "action", action, "user", user, "project", project, "error", err)
	}
}

// remember adds keys to c, for its default span, while it holds fewer than maxHinted.
func remember(c *cache.Cache, keys []string) {
	for _, key := range keys {
		if c.ItemCount() >= maxHinted {
			return
		}
		c.SetDefault(key, struct{}{})
	}
}
