package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/tpx-dev/tpx/verify"
)

// uploadHandler is the upload endpoint of a Python package index that accepts tpx
// upload tokens. twine and pypa/gh-action-pypi-publish send the token as the password
// of the user "__token__", with the project's name in the form field "name".
func uploadHandler(v *verify.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "__token__" || !strings.HasPrefix(password, verify.Prefix) {
			w.Header().Set("WWW-Authenticate", `Basic realm="upload"`)
			http.Error(w, "send a tpx upload token as the password of __token__", http.StatusUnauthorized)
			return
		}
		claims, err := v.Verify(r.Context(), password)
		switch {
		case errors.Is(err, verify.ErrKeysUnavailable):
			// tpx's keys cannot be fetched: the token may be fine. Say "try again", not
			// "invalid", so that the CI job retries instead of failing for good.
			http.Error(w, "cannot check upload tokens right now; try again", http.StatusServiceUnavailable)
			return
		case err != nil:
			// The message says which check failed (expired, another audience, …) and
			// never holds the token itself.
			http.Error(w, "invalid upload token: "+err.Error(), http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 100<<20)
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			http.Error(w, "not a multipart upload", http.StatusBadRequest)
			return
		}
		// Compare names in the one canonical form (PEP 503): "Sample_Project" and
		// "sample-project" are the same project.
		name := normalize(r.FormValue("name"))
		if !claims.Covers(name) {
			http.Error(w, "this token may not upload to "+name, http.StatusForbidden)
			return
		}
		// Store the file here, and record where it came from: claims.Publisher, the
		// commit (claims.SHA) and the token's jti (claims.ID) for the audit trail.
		fmt.Fprintf(w, "uploaded %s %s from %s@%s\n", name, r.FormValue("version"), claims.Subject, claims.Ref)
	})
}

var separators = regexp.MustCompile(`[-_.]+`)

// normalize is PEP 503's name normalisation.
func normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// An upload service that accepts tpx upload tokens: the Verifier is made once, from
// tpx's public URL, and shared by every request.
func Example_uploadService() {
	tpx := startStandInTPX() // in production: TPX_PUBLIC_URL, e.g. https://tpx.example.org
	defer tpx.Close()

	v, err := verify.New(verify.Config{Issuer: tpx.URL})
	if err != nil {
		log.Fatal(err)
	}
	index := httptest.NewServer(uploadHandler(v))
	defer index.Close()

	token := tpx.Mint("sample-project")
	fmt.Print(upload(index.URL, token, "Sample_Project"))
	fmt.Print(upload(index.URL, token, "other-project"))

	impostor := startStandInTPX() // signs with a key of its own under the same kid
	defer impostor.Close()
	fmt.Print(upload(index.URL, impostor.Mint("sample-project"), "sample-project"))

	// While tpx cannot be reached and no key is cached, a token is not "invalid": the
	// upload service answers 503 and the CI job retries.
	tpx.Close()
	cold, err := verify.New(verify.Config{Issuer: tpx.URL})
	if err != nil {
		log.Fatal(err)
	}
	coldIndex := httptest.NewServer(uploadHandler(cold))
	defer coldIndex.Close()
	fmt.Print(upload(coldIndex.URL, token, "sample-project"))
	// Output:
	// 200 uploaded sample-project 1.0 from github:octo-org/octo-repo@refs/heads/main
	// 403 this token may not upload to other-project
	// 403 invalid upload token: upload token signature does not verify: go-jose/go-jose: error in cryptographic primitive
	// 503 cannot check upload tokens right now; try again
}

// upload posts a distribution the way twine does and returns the status and the reply.
func upload(index, token, name string) string {
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	form.WriteField(":action", "file_upload")
	form.WriteField("name", name)
	form.WriteField("version", "1.0")
	file, _ := form.CreateFormFile("content", name+"-1.0.tar.gz")
	file.Write([]byte("not really a tarball"))
	form.Close()
	req, _ := http.NewRequest(http.MethodPost, index, &body)
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.SetBasicAuth("__token__", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error() + "\n"
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, reply)
}
