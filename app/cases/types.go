package cases

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"gorm.io/gorm"
)

// State is where a case stands. The common states are declared here; a case type may
// add its own.
type State string

// The common states.
const (
	Draft             State = "draft"
	Submitted         State = "submitted"
	InReview          State = "in_review"
	WaitingForCitizen State = "waiting_for_citizen"
	Approved          State = "approved"
	Rejected          State = "rejected"
	Withdrawn         State = "withdrawn"
)

// CommonStates lists the states every case type has, in lifecycle order.
var CommonStates = []State{Draft, Submitted, InReview, WaitingForCitizen, Approved, Rejected, Withdrawn}

// ActorKind says who makes a transition.
type ActorKind string

// The kinds of actor.
const (
	// Citizen is the applicant (only the applicant ever acts on a case as a citizen).
	Citizen ActorKind = "citizen"
	// Officer is a staff member holding the case type's role.
	Officer ActorKind = "staff"
	// System is the portal itself (jobs, hooks).
	System ActorKind = "system"
)

// Actor is who acts.
type Actor struct {
	Kind ActorKind
	// ID is the citizen's tax code, the officer's username or the job's name.
	ID string
	// Name is shown in the history (optional).
	Name string
	// Email is where the citizen is told of changes (set by the citizen's own
	// requests; kept on the case at creation).
	Email string
	// Roles are the officer's roles.
	Roles []string
	// IP and RequestID go to the audit log.
	IP, RequestID string
}

// Transition is one allowed step of a case type.
type Transition struct {
	// Name identifies the transition ("submit", "approve") and names its message
	// keys: cases.transition.<name> (a type's own names need their keys too).
	Name string
	From []State
	To   State
	// By is who may make it; officers must hold the type's Role (or Role here).
	By ActorKind
	// Role overrides the type's role for this transition.
	Role string
	// NeedsReason and NeedsMessage make the text mandatory. A reason is kept in the
	// history; a message joins the thread the citizen reads.
	NeedsReason  bool
	NeedsMessage bool
	// Attachments allows documents with this step.
	Attachments bool
	// Assign gives the case to the officer making the transition ("take").
	Assign bool
}

// Deadline is the time a state allows.
type Deadline struct {
	// Within is the time allowed.
	Within time.Duration
	// FromSubmission counts from the submission instead of from entering the state
	// ("decide within 30 days of submission").
	FromSubmission bool
}

// Event is what a hook receives.
type Event struct {
	Case       Case
	Transition Transition
	From       State
	Actor      Actor
	Reason     string
	Message    string
}

// Hook runs inside a transition's transaction, after every platform write. A non-nil
// error vetoes the transition: nothing of it is kept. An error wrapping a *Error is
// shown to the user.
type Hook func(ctx context.Context, tx *gorm.DB, ev Event) error

// Type is a case type declared by a module.
type Type struct {
	// Module is the owning module's id; ID the type's id within it.
	Module, ID string
	// Title is a message key.
	Title string
	// Role is the staff role whose holders work these cases.
	Role string
	// States are the type's own states, beyond CommonStates.
	States []State
	// Transitions are every allowed step.
	Transitions []Transition
	// Deadlines are the time each state allows; a state not listed has none.
	Deadlines map[State]Deadline
	// MaxAttachments caps documents per case; MaxAttachmentSize caps one document
	// (bytes). Zero means the defaults (10 documents of 5 MiB).
	MaxAttachments    int
	MaxAttachmentSize int64
	// OfficeEmail receives the office's notices; empty means the service's default.
	OfficeEmail string
	// Hook runs in every transition's transaction (optional).
	Hook Hook
	// Closed are the states where nothing more happens (default: approved,
	// rejected, withdrawn).
	Closed []State
	// ClockStops are the states during which deadlines counted from the submission
	// stop running: the time a case spends in them is added to such a deadline (the
	// request for an integration suspends the term, art. 2 c. 7 L. 241/1990).
	ClockStops []State
	// Facts returns what the case pages show of the module's data (the computed
	// amount, the child, the ISEE...), for the applicant and the officers alike
	// (optional), in the page's language lang ("it", "en").
	Facts func(ctx context.Context, c Case, lang string) ([]Fact, error)
}

// Fact is one line of a case's data on its pages: Label is a message key, Value is
// shown as it is (already formatted data).
type Fact struct {
	Label, Value string
}

// Default attachment caps.
const (
	DefaultMaxAttachments    = 10
	DefaultMaxAttachmentSize = 5 << 20
)

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,47}$`)

// StandardTransitions are the common life of a case: the citizen submits a draft, an
// officer takes it, may ask for an integration that the citizen answers, and decides;
// the citizen may withdraw until the decision. A type may use them as they are or
// declare its own.
func StandardTransitions() []Transition {
	return []Transition{
		{Name: "submit", From: []State{Draft}, To: Submitted, By: Citizen, Attachments: true},
		{Name: "take", From: []State{Submitted}, To: InReview, By: Officer, Assign: true},
		{Name: "request_integration", From: []State{InReview}, To: WaitingForCitizen, By: Officer, NeedsMessage: true},
		{Name: "reply", From: []State{WaitingForCitizen}, To: InReview, By: Citizen, NeedsMessage: true, Attachments: true},
		{Name: "approve", From: []State{InReview}, To: Approved, By: Officer},
		{Name: "reject", From: []State{InReview}, To: Rejected, By: Officer, NeedsReason: true},
		{Name: "withdraw", From: []State{Draft, Submitted, InReview, WaitingForCitizen}, To: Withdrawn, By: Citizen},
	}
}

// states returns every state of t.
func (t *Type) states() []State { return append(slices.Clone(CommonStates), t.States...) }

// HasState reports whether s is a state of t.
func (t *Type) HasState(s State) bool { return slices.Contains(t.states(), s) }

// IsClosed reports whether nothing more happens in s.
func (t *Type) IsClosed(s State) bool { return slices.Contains(t.Closed, s) }

// Transition returns the named transition.
func (t *Type) Transition(name string) (Transition, bool) {
	for _, tr := range t.Transitions {
		if tr.Name == name {
			return tr, true
		}
	}
	return Transition{}, false
}

// Available returns the transitions actor may make from state s, in declared order.
func (t *Type) Available(s State, a Actor) []Transition {
	var out []Transition
	for _, tr := range t.Transitions {
		if slices.Contains(tr.From, s) && t.may(tr, a) {
			out = append(out, tr)
		}
	}
	return out
}

// RoleFor is the staff role that transition tr requires.
func (t *Type) RoleFor(tr Transition) string {
	if tr.Role != "" {
		return tr.Role
	}
	return t.Role
}

// may reports whether a is the kind of actor tr admits (the applicant check is the
// service's).
func (t *Type) may(tr Transition, a Actor) bool {
	if tr.By != a.Kind {
		return false
	}
	if a.Kind == Officer {
		return slices.Contains(a.Roles, t.RoleFor(tr))
	}
	return true
}

func (t *Type) maxAttachments() int {
	if t.MaxAttachments > 0 {
		return t.MaxAttachments
	}
	return DefaultMaxAttachments
}

func (t *Type) maxAttachmentSize() int64 {
	if t.MaxAttachmentSize > 0 {
		return t.MaxAttachmentSize
	}
	return DefaultMaxAttachmentSize
}

// check validates a declaration.
func (t *Type) check() error {
	if !idRE.MatchString(t.Module) || !idRE.MatchString(t.ID) {
		return fmt.Errorf("cases: type %q/%q: module and id must be lowercase identifiers", t.Module, t.ID)
	}
	if t.Role == "" {
		return fmt.Errorf("cases: type %s/%s: no staff role", t.Module, t.ID)
	}
	if len(t.Closed) == 0 {
		t.Closed = []State{Approved, Rejected, Withdrawn}
	}
	names := map[string]bool{}
	for _, tr := range t.Transitions {
		if !idRE.MatchString(tr.Name) || names[tr.Name] {
			return fmt.Errorf("cases: type %s/%s: transition name %q empty, invalid or repeated", t.Module, t.ID, tr.Name)
		}
		names[tr.Name] = true
		if !t.HasState(tr.To) || len(tr.From) == 0 {
			return fmt.Errorf("cases: type %s/%s: transition %s: unknown target or no origin", t.Module, t.ID, tr.Name)
		}
		for _, f := range tr.From {
			if !t.HasState(f) {
				return fmt.Errorf("cases: type %s/%s: transition %s: unknown state %q", t.Module, t.ID, tr.Name, f)
			}
		}
		switch tr.By {
		case Citizen, Officer, System:
		default:
			return fmt.Errorf("cases: type %s/%s: transition %s: unknown actor %q", t.Module, t.ID, tr.Name, tr.By)
		}
		if tr.Assign && tr.By != Officer {
			return fmt.Errorf("cases: type %s/%s: transition %s assigns but is not an officer's", t.Module, t.ID, tr.Name)
		}
	}
	for s := range t.Deadlines {
		if !t.HasState(s) {
			return fmt.Errorf("cases: type %s/%s: deadline for unknown state %q", t.Module, t.ID, s)
		}
	}
	for _, s := range t.States {
		if !idRE.MatchString(string(s)) || slices.Contains(CommonStates, s) {
			return fmt.Errorf("cases: type %s/%s: state %q invalid or already common", t.Module, t.ID, s)
		}
	}
	return nil
}
