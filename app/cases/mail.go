package cases

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
)

// CitizenPath is where the citizen reads case id.
func CitizenPath(id int64) string { return fmt.Sprintf("/area-personale/pratiche/%d", id) }

// StaffPath is where officers of module work case id.
func StaffPath(module string, id int64) string {
	return fmt.Sprintf("/backoffice/%s/pratiche/%d", module, id)
}

// mail queues, in tx, the notices of a transition: the citizen hears of every step
// but the ones they make themselves (except the submission, whose mail is the
// receipt); the office hears of every step the citizen makes.
func (s *Service) mail(ctx context.Context, tx *gorm.DB, t *Type, c *Case, tr Transition, a Actor, in Input) error {
	t2 := func(lang, key, link string) string {
		return s.o.I18n.T(lang, key, "Protocol", c.Protocol, "Title", s.o.I18n.T(lang, t.Title),
			"State", s.o.I18n.T(lang, StateKey(c.State)), "Step", s.o.I18n.T(lang, TransitionKey(tr.Name)),
			"Link", link, "Message", in.Message, "Reason", in.Reason, "Name", c.ApplicantName, "CF", c.ApplicantCF)
	}
	both := func(key, link string) string {
		return t2("it", key, link) + "\n\n-----\n\n" + t2("en", key, link)
	}
	base := strings.TrimSuffix(s.local(ctx).BaseURL, "/")
	if c.ApplicantEmail != "" && (a.Kind != Citizen || tr.To == Submitted) {
		link := base + CitizenPath(c.ID)
		if _, err := s.o.Outbox.Enqueue(ctx, tx, notify.Message{To: c.ApplicantEmail, ToName: c.ApplicantName,
			Subject: t2("it", "cases.mail.citizen.subject", link) + " / " + t2("en", "cases.mail.citizen.subject", link),
			Text:    both("cases.mail.citizen.text", link), Kind: "cases.citizen", CitizenCF: c.ApplicantCF}); err != nil {
			return fmt.Errorf("cases: citizen mail: %w", err)
		}
	}
	office := t.OfficeEmail
	if office == "" {
		office = s.local(ctx).OfficeEmail
	}
	if office != "" && a.Kind == Citizen && c.Protocol != "" {
		link := base + StaffPath(c.Module, c.ID)
		if _, err := s.o.Outbox.Enqueue(ctx, tx, notify.Message{To: office,
			Subject: t2("it", "cases.mail.office.subject", link) + " / " + t2("en", "cases.mail.office.subject", link),
			Text:    both("cases.mail.office.text", link), Kind: "cases.office", CitizenCF: c.ApplicantCF}); err != nil {
			return fmt.Errorf("cases: office mail: %w", err)
		}
	}
	return nil
}

// StateKey is the message key naming state s.
func StateKey(s State) string { return "cases.state." + string(s) }

// TransitionKey is the message key naming transition name (the button and the step).
func TransitionKey(name string) string { return "cases.transition." + name }
