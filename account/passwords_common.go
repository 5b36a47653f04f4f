package account

import (
	_ "embed"
	"strings"
	"unicode"
)

//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is the parsed list: whole passwords, and words a password must not be
// made of alone. It is read once; the list is part of the binary and never changes.
type commonPasswords struct {
	whole map[string]bool
	words map[string]bool
}

func parseCommonPasswords(text string) commonPasswords {
	c := commonPasswords{whole: map[string]bool{}, words: map[string]bool{}}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "~"):
			c.words[strings.ToLower(line[1:])] = true
		default:
			c.whole[strings.ToLower(line)] = true
		}
	}
	return c
}

// passwordProblem says why password is not acceptable for user name, or returns nil: too
// short, on the bundled list of common passwords, a common word with digits and
// punctuation around it, the user name, or a handful of characters repeated.
func (s *Service) passwordProblem(name, password string) error {
	if len([]rune(password)) < MinPasswordLen {
		return invalid("password must be at least %d characters", MinPasswordLen)
	}
	lower := strings.ToLower(password)
	letters := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, password)
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	switch {
	case s.ui.common.whole[lower] || s.ui.common.words[letters]:
		return invalid("this password is on a list of common passwords; choose another (a few unrelated words make a good one)")
	case len(name) >= 3 && strings.Contains(lower, strings.ToLower(name)):
		return invalid("the password must not contain the user name")
	case len(distinct) < 5:
		return invalid("the password repeats too few characters; choose another")
	}
	return nil
}
