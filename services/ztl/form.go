package ztl

import (
	"fmt"
	"strconv"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
)

// FormPath is the application form's address.
const FormPath = "/servizi/ztl/domanda"

// form is the application as a case form: the permit, the vehicles, the badge.
func (m *Module) form() *cases.Form {
	var opts []cases.Option
	for _, c := range DefaultCategories {
		opts = append(opts, cases.Option{Value: c.Code, Label: "ztl.category." + c.Code})
	}
	plates := []cases.Field{}
	for i := 1; i <= MaxPlates; i++ {
		plates = append(plates,
			cases.Field{Name: fmt.Sprintf("plate%d", i), Label: fmt.Sprintf("ztl.form.plate%d", i), Help: "ztl.form.plate_help",
				Optional: i > 1, Max: 20, Validate: func(v string) string {
					// Italian or foreign: the country field decides, in Check.
					if NormalizePlate(v) == "" {
						return ErrPlateEmpty.Error()
					}
					return ""
				}},
			cases.Field{Name: fmt.Sprintf("country%d", i), Label: fmt.Sprintf("ztl.form.country%d", i), Help: "ztl.form.country_help",
				Optional: true, Max: 3})
	}
	return &cases.Form{Service: m.cases, Render: m.render, Module: ID, Type: CaseType, Path: FormPath,
		Next: "ztl.case.next",
		Steps: []cases.Step{
			{ID: "permesso", Title: "ztl.form.step_permit", Fields: []cases.Field{
				{Name: "category", Label: "ztl.form.category", Help: "ztl.form.category_help", Kind: "select", Options: opts},
				{Name: "start", Label: "ztl.form.start", Help: "ztl.form.start_help", Kind: "date", Max: 10,
					Validate: func(v string) string {
						if _, ok := parseDay(v); !ok {
							return "ztl.error.date"
						}
						return ""
					}},
				{Name: "days", Label: "ztl.form.days", Help: "ztl.form.days_help", Optional: true, Max: 3,
					Validate: func(v string) string {
						if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 366 {
							return "ztl.error.days"
						}
						return ""
					}},
			}},
			{ID: "veicoli", Title: "ztl.form.step_vehicles", Fields: plates},
			{ID: "contrassegno", Title: "ztl.form.step_badge", Fields: []cases.Field{
				{Name: "badge_number", Label: "ztl.form.badge_number", Help: "ztl.form.badge_help", Optional: true, Max: 30},
				{Name: "badge_expiry", Label: "ztl.form.badge_expiry", Kind: "date", Optional: true, Max: 10},
			}},
		},
		Check: checkForm,
	}
}

// checkForm checks the whole application before submission: plates with their
// countries, and what the category of the default set asks (days, badge).
func checkForm(values map[string]string) web.FormErrors {
	a, errs := checkApplication(values)
	out := web.FormErrors{}
	for f, k := range errs {
		out.Add(f, k)
	}
	for _, c := range DefaultCategories {
		if c.Code != a.Category {
			continue
		}
		if c.Kind == KindTemporary && a.Days == "" {
			out.Add("days", "ztl.error.days")
		}
		if c.Kind == KindDisabled && (a.BadgeNumber == "" || a.BadgeExpiry == "") {
			out.Add("badge_number", "ztl.error.badge_required")
		}
		if len(a.Plates) > c.MaxVehicles {
			out.Add("plate1", "ztl.error.too_many_plates")
		}
	}
	return out
}
