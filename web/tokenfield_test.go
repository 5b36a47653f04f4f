package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
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
		{"A space inside the string is the token's, read by the decoder", `{"token":"` + jwt + ` "}`, jwt + " ", "", true, false},
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

// TestReplyTokenWritesWhatEncodingJSONWrites holds the success reply written by hand to
// echo's JSON rendering of mintReply, byte for byte and header for header.
func TestReplyTokenWritesWhatEncodingJSONWrites(t *testing.T) {
	e := echo.New()
	for _, tc := range []struct{ name, token, query string }{
		{"A minted token", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_", ""},
		{"A request with a query string is rendered by echo", "eyJ.eyJ.c2ln", "pretty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			render := func(f func(c echo.Context) error) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				c := e.NewContext(httptest.NewRequest(http.MethodPost, "/_/oidc/mint-token?"+tc.query, nil), rec)
				if err := f(c); err != nil {
					t.Fatal(err)
				}
				return rec
			}
			got := render(func(c echo.Context) error { return replyToken(c, tc.token, 1798761600) })
			want := render(func(c echo.Context) error {
				return c.JSON(http.StatusOK, mintReply{Success: true, Token: tc.token, Expires: 1798761600})
			})
			if got.Body.String() != want.Body.String() || got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Fatalf("got %d %q %q, want %d %q %q", got.Code, got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
			}
		})
	}
}
