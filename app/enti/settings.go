package enti

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Module settings of one ente: for each module id, a YAML mapping laid over the
// installation's modules.settings.<id> (see app's Mount.SettingsFor). They come from
// the configuration (enti[].modules.<id>) or `sportello enti update --set
// <module>.<key>=<value>`, and are stored as YAML text in enti.module_settings.

var settingKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ErrSetting is returned for a module setting that cannot be stored or decoded.
var ErrSetting = errors.New("enti: invalid module setting")

// DecodeModule lays the ente's settings of module id over out (already holding the
// installation's). Keys out does not know, and values of the wrong type, are errors
// naming the ente and the module. Without settings of the module out is untouched.
func (e *Ente) DecodeModule(id string, out any) error {
	text := e.ModuleSettings[id]
	if strings.TrimSpace(text) == "" {
		return nil
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: ente %s, modules.%s: %v", ErrSetting, e.ID, id, err)
	}
	return nil
}

// SetModuleSetting sets key of module to value, a YAML scalar ("12", "true", "testo");
// an empty value removes the key.
func (e *Ente) SetModuleSetting(module, key, value string) error {
	if !idRE.MatchString(module) || !settingKeyRE.MatchString(key) {
		return fmt.Errorf("%w: %q.%q (want module.key, lower case)", ErrSetting, module, key)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(e.ModuleSettings[module]), &m); err != nil {
		return fmt.Errorf("%w: stored settings of %s: %v", ErrSetting, module, err)
	}
	if value == "" {
		delete(m, key)
	} else {
		var v any
		if err := yaml.Unmarshal([]byte(value), &v); err != nil {
			return fmt.Errorf("%w: %s.%s: %v", ErrSetting, module, key, err)
		}
		switch v.(type) {
		case map[string]any, []any:
			return fmt.Errorf("%w: %s.%s: a single value is expected", ErrSetting, module, key)
		}
		m[key] = v
	}
	if e.ModuleSettings == nil {
		e.ModuleSettings = map[string]string{}
	}
	if len(m) == 0 {
		delete(e.ModuleSettings, module)
		return nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return err
	}
	e.ModuleSettings[module] = b.String()
	return nil
}
