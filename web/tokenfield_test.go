package web

import (
	"strings"
	"testing"
)

// FuzzPlainTokenBody holds the decoder-free reading of the usual exchange body to
// encoding/json's: whenever plainTokenBody takes a body, the decoder reads the same token
// and no project from it.
func FuzzPlainTokenBody(f *testing.F) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	for _, b := range []string{
		`{"token":"` + jwt + `"}`,
		`{"token": "` + jwt + `"}`,
		" \n{ \"token\" :\t\"" + jwt + "\" }\r\n",
		`{"token":"` + jwt + `","project":"x"}`,
		`{"token":"` + jwt + `"} {}`,
		`{"token":""}`,
		`{"TOKEN":"` + jwt + `"}`,
		`{"token":"a\u0062c"}`,
		`{"token":"` + jwt + `"`,
		`["token"]`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := plainTokenBody(body)
		if !ok {
			return
		}
		slow, project, sok := decodeTokenField(body)
		if !sok || slow != fast || project != "" {
			t.Fatalf("body %q: plainTokenBody read %q; encoding/json %q, project %q, ok %v", body, fast, slow, project, sok)
		}
	})
}

func TestTokenFieldReadsTheUsualBodyWithoutADecoderAndTheRestWithOne(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	for _, tc := range []struct {
		name, body     string
		token, project string
		ok, plain      bool
	}{
		{"The compact body is read without a decoder", `{"token":"` + jwt + `"}`, jwt, "", true, true},
		{"So is the body Python's json.dumps writes", `{"token": "` + jwt + `"}`, jwt, "", true, true},
		{"A body naming a project goes to the decoder", `{"token": "` + jwt + `", "project": "Sample"}`, jwt, "Sample", true, false},
		{"An escaped token goes to the decoder, which resolves it", `{"token":"a\u0062c"}`, "abc", "", true, false},
		{"A member name in another case goes to the decoder, as encoding/json matches it", `{"Token":"` + jwt + `"}`, jwt, "", true, false},
		{"Two values are refused", `{"token":"` + jwt + `"} {}`, "", "", false, false},
		{"An empty token is refused", `{"token":""}`, "", "", false, false},
		{"A project name over 100 bytes is refused", `{"token":"` + jwt + `","project":"` + strings.Repeat("p", 101) + `"}`, "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, plain := plainTokenBody([]byte(tc.body)); plain != tc.plain {
				t.Errorf("plainTokenBody took it: %v, want %v", plain, tc.plain)
			}
			token, project, ok := tokenField([]byte(tc.body))
			if token != tc.token || project != tc.project || ok != tc.ok {
				t.Fatalf("tokenField = %q, %q, %v; want %q, %q, %v", token, project, ok, tc.token, tc.project, tc.ok)
			}
		})
	}
}
