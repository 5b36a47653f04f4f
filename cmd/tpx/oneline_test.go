package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/policy"
)

// TestANewPlatformIsOneFileAndOneLine adds a platform the way the policy package says one
// is added — a file of its own and one entry in the list — and runs the tests that hold the
// command-line help, the web form and validation to every listed platform, which must then
// show it. The files are laid over the source with go's -overlay, so the tree is untouched.
func TestANewPlatformIsOneFileAndOneLine(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds three test binaries")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(root, "policy", "platform.go")
	src, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^var platforms = \[\]\*Platform\{(.*)\}$`)
	if !line.Match(src) {
		t.Fatal("policy/platform.go has no one-line list of platforms")
	}
	// The one line: the list with the new platform at its end.
	edited := line.ReplaceAll(src, []byte("var platforms = []*Platform{$1, &examplePlatform}"))
	example, err := os.ReadFile(filepath.Join("testdata", "example_platform.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		list: write("platform.go", edited),
		filepath.Join(root, "policy", "example_platform.go"): write("example_platform.go", example),
	}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "test", "-count=1", "-overlay", write("overlay.json", overlay),
		"-run", "^(TestEveryPlatformValidates|TestUIFormsOfEveryPlatform|TestHelpListsEveryPlatform)$",
		"./policy", "./web", "./cmd/tpx")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TPX_EXPECT_PLATFORM=example")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with the example platform added, the tests fail: %v\n%s", err, out)
	}
	if strings.Count(string(out), "ok  ") != 3 {
		t.Fatalf("not every package ran:\n%s", out)
	}
}

// TestHelpListsEveryPlatform: the overview names `tpx publisher add KIND` for every listed
// platform, and that command's help lists each of its fields' flags. With
// TPX_EXPECT_PLATFORM set, that kind must be among them.
func TestHelpListsEveryPlatform(t *testing.T) {
	t.Parallel()
	overview := runTPX(t, nil, "", "help").ok(t, "help").stdout
	if k := os.Getenv("TPX_EXPECT_PLATFORM"); k != "" && !strings.Contains(overview, "tpx publisher add "+k+" ") {
		t.Fatalf("the overview lacks %s:\n%s", k, overview)
	}
	for _, pl := range policy.Platforms() {
		kind := string(pl.Kind)
		if !strings.Contains(overview, "tpx publisher add "+kind+" ") {
			t.Errorf("the overview lacks publisher add %s", kind)
		}
		help := runTPX(t, nil, "", "publisher", "add", kind, "--help").ok(t, "publisher add "+kind+" --help").stdout
		for _, f := range pl.Fields {
			if !f.Disabled && !strings.Contains(help, "-"+f.Flag+" ") && !strings.Contains(help, "-"+f.Flag+"\n") {
				t.Errorf("tpx publisher add %s --help lacks --%s:\n%s", kind, f.Flag, help)
			}
		}
	}
}
