package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/tpx-dev/tpx/policy"
)

// claimDecoder fills a platform's typed claims from a parsed payload. It gives each field
// what encoding/json would give it: the member whose name equals the field's JSON name
// ignoring case (parseObject has refused payloads where two do), a JSON string as the
// string it stands for, null as nothing, and any other JSON type as an error; members
// without a field are ignored. Doing it here rather than with json.Unmarshal spares a
// second parse of the payload and a copy of every claim. The few claims that are not
// strings (booleans, numbers, lists: Google's email_verified, CircleCI's context-ids,
// Buildkite's build_number) are decoded from their member alone with encoding/json.
type claimDecoder struct {
	typ reflect.Type // the struct type pl.NewClaims points to
	// field maps a JSON name in foldName form to its field's index
	field map[string]int
	json  []string // JSON names by field index, for errors
	// other marks, by field index, the fields that are not strings.
	other []bool
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// newClaimDecoder reads the JSON names of the fields of pl's claims. Every field must be
// exported with a JSON name.
func newClaimDecoder(pl *policy.Platform) (*claimDecoder, error) {
	t := reflect.TypeOf(pl.NewClaims())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s claims are a %v, not a pointer to a struct", pl.Kind, t)
	}
	t = t.Elem()
	d := &claimDecoder{typ: t, field: make(map[string]int, t.NumField()), json: make([]string, t.NumField()), other: make([]bool, t.NumField())}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := cutComma(f.Tag.Get("json"))
		if !f.IsExported() || f.Anonymous || name == "" || name == "-" || (opts != "" && opts != "omitempty") {
			return nil, fmt.Errorf("%s claims: field %s is not exported with a JSON name", pl.Kind, f.Name)
		}
		d.other[i] = f.Type.Kind() != reflect.String || reflect.PointerTo(f.Type).Implements(jsonUnmarshaler)
		key := foldName(name)
		if _, dup := d.field[key]; dup {
			return nil, fmt.Errorf("%s claims: JSON name %s twice", pl.Kind, name)
		}
		d.field[key], d.json[i] = i, name
	}
	return d, nil
}

func cutComma(tag string) (name, opts string, found bool) {
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			return tag[:i], tag[i+1:], true
		}
	}
	return tag, "", false
}

// decode fills c, a value of the decoder's platform's NewClaims, from o.
func (d *claimDecoder) decode(o object, c policy.Claims) error {
	v := reflect.ValueOf(c).Elem()
	if v.Type() != d.typ {
		return fmt.Errorf("claims of type %v, want %v", v.Type(), d.typ)
	}
	var buf [64]byte
	for _, m := range o {
		i, ok := d.lookup(m.fold, &buf)
		if !ok {
			continue
		}
		if d.other[i] {
			if err := json.Unmarshal([]byte(m.value), v.Field(i).Addr().Interface()); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return fmt.Errorf("%w: claim %s is a JSON %s, want %s", ErrMalformed, d.json[i], te.Value, te.Type)
				}
				return fmt.Errorf("%w: claim %s: %v", ErrMalformed, d.json[i], err)
			}
			continue
		}
		switch m.value[0] {
		case 'n': // null: nothing, as encoding/json leaves a string alone
			continue
		case '"':
		default:
			return fmt.Errorf("%w: claim %s is a JSON %s, want string", ErrMalformed, d.json[i], jsonType(m.value[0]))
		}
		s, err := unquote(m.value)
		if err != nil {
			return fmt.Errorf("%w: claim %s: %v", ErrMalformed, d.json[i], err)
		}
		v.Field(i).SetString(s)
	}
	return nil
}

// lookup finds the field of a member's fold key: ASCII keys are upper-cased in buf, so
// that looking up costs no allocation.
func (d *claimDecoder) lookup(fold string, buf *[64]byte) (int, bool) {
	if len(fold) > len(buf) {
		i, ok := d.field[foldName(fold)]
		return i, ok
	}
	for j := 0; j < len(fold); j++ {
		buf[j] = upperASCII(fold[j])
	}
	i, ok := d.field[string(buf[:len(fold)])]
	return i, ok
}

// jsonType names the JSON type of a value by its first byte, as encoding/json's errors do.
func jsonType(first byte) string {
	switch first {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// fill copies the platform's fields of from into id, keeping the issuer, jti and times
// that the common checks already set.
func fill(id *policy.Identity, from policy.Identity) {
	from.Issuer, from.JTI, from.IssuedAt, from.Expiry = id.Issuer, id.JTI, id.IssuedAt, id.Expiry
	*id = from
}
