package store

import (
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// ErrLastOwner: the change would leave the project without an owner.
var ErrLastOwner = fault.New(fault.Conflict, "the project's last owner")

// Owner is one owner of a project.
type Owner struct {
	UserID        int64
	Name          string
	Email         string
	EmailVerified bool
	Role          Role
}

// Role is what a member of a project may do there.
type Role string

const (
	// RoleOwner manages the project's publishers and members.
	RoleOwner Role = "owner"
	// RoleMaintainer sees the project, its publishers, failed exchanges and log, and
	// changes nothing.
	RoleMaintainer Role = "maintainer"
)

// Invitation asks UserID to become a member of ProjectID in Role.
type Invitation struct {
	Role          Role
	ProjectID     int64
	ProjectName   string
	UserID        int64
	UserName      string
	InvitedBy     int64 // 0 when that user is gone
	InvitedByName string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}
