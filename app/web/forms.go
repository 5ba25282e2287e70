package web

import (
	"errors"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
)

// FormErrors maps a form field's name to the message key explaining what is wrong
// with it. Templates tie each message to its field (aria-describedby) and list them
// all in a summary at the top of the form.
type FormErrors map[string]string

// Add records a problem with field unless one is already recorded.
func (f FormErrors) Add(field, key string) {
	if _, ok := f[field]; !ok {
		f[field] = key
	}
}

// Any reports whether there is at least one problem.
func (f FormErrors) Any() bool { return len(f) > 0 }

// Validator checks form structs with `validate` tags and reports problems by the
// fields' `form` names with message keys "validation.<tag>".
type Validator struct{ v *validator.Validate }

// NewValidator returns a validator reporting fields by their form tag.
func NewValidator() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	return &Validator{v: v}
}

// Struct validates s and returns the problems found (empty when s is valid).
func (v *Validator) Struct(s any) FormErrors {
	out := FormErrors{}
	err := v.v.Struct(s)
	var ve validator.ValidationErrors
	if errors.As(err, &ve) {
		for _, fe := range ve {
			out.Add(fe.Field(), "validation."+fe.Tag())
		}
	} else if err != nil {
		out.Add("_form", "validation.invalid")
	}
	return out
}

// Engine exposes the underlying validator to register custom rules (such as the
// codice fiscale check) at start.
func (v *Validator) Engine() *validator.Validate { return v.v }
