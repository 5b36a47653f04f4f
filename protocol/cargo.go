package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
)

// CargoTokensPath is crates.io's trusted-publishing route below the registry's URL: POST
// exchanges a CI token, DELETE revokes the token it gave.
const CargoTokensPath = "/api/v1/trusted_publishing/tokens"

// CargoJWT returns the CI token of a cargo exchange's body, {"jwt": "<token>"}: one JSON
// object whose jwt is a non-empty string, other members ignored, nothing after it.
func CargoJWT(body []byte) (string, error) {
	var payload struct {
		JWT *string `json:"jwt"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&payload); err != nil || d.More() {
		return "", errors.New(`the body must be a JSON object {"jwt": "<the CI platform's OIDC token>"}`)
	}
	if payload.JWT == nil || *payload.JWT == "" {
		return "", errors.New(`the body has no "jwt": send {"jwt": "<the CI platform's OIDC token>"}`)
	}
	return *payload.JWT, nil
}
