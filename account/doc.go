// Package account holds users, their passwords and second factors, and the management
// actions on projects and publishers. The rule that only owners with a second factor may
// add, change or remove publishers lives here, in one place (Service.authorize), below the
// command line and the web UI alike.
package account
