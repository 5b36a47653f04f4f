package policy

// EnvironmentKey is the form in which the platform of kind k tells environments apart:
// GitHub treats environment names without case (ASCII letters only, as Match does), GitLab
// exactly. Two publishers whose environments have the same key accept the same jobs.
func EnvironmentKey(k Kind, environment string) string {
	if k != GitHub {
		return environment
	}
	b := []byte(environment)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

// SameRules reports whether a and b accept exactly the same CI jobs as far as their
// registrations say: same kind and issuer, the same repository and environment as the
// platform compares them, and the same workflow. Pinned ids are left out: they are taken
// from the first job that uses a publisher, so two registrations that differ only there
// still claim the same jobs.
func SameRules(a, b Publisher) bool {
	return a.Kind == b.Kind && a.Issuer == b.Issuer && a.Key() == b.Key() && a.Workflow == b.Workflow &&
		EnvironmentKey(a.Kind, a.Environment) == EnvironmentKey(b.Kind, b.Environment)
}

// Specificity ranks publishers that one job satisfies: a publisher bound to an
// environment names the job more precisely than one that accepts any environment, and
// wins over it wherever only one may act for the job (which pending publisher creates a
// project, which publisher an upload token names).
func Specificity(p Publisher) int {
	if p.Environment != "" {
		return 1
	}
	return 0
}
