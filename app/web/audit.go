package web

import (
	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
)

// RequestID is the request's id, set by the request-id middleware and echoed in the
// X-Request-Id response header; error pages show it and audit entries carry it.
func RequestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// AuditEntry starts the audit entry of an action taken in request c: the actor from
// the session (a citizen by tax code, staff by username, or anonymous), the client
// address and the request id. For a citizen the subject is their own tax code; callers
// set SubjectCF, the object, the outcome and details as the action requires, then
// pass the entry to audit.Record (in the transaction of the change it describes).
func AuditEntry(c echo.Context, action string) audit.Entry {
	return AuditEntryFor(c, CurrentViewer(c), action)
}

// AuditEntryFor is AuditEntry with the actor v (nil: anonymous) instead of the
// session's, for the moment of login and logout when the session changes hands.
func AuditEntryFor(c echo.Context, v *Viewer, action string) audit.Entry {
	e := audit.Entry{ActorKind: audit.ActorAnon, Action: action, IP: c.RealIP(), RequestID: RequestID(c)}
	if v != nil {
		e.ActorID = v.ID
		switch v.Kind {
		case "staff":
			e.ActorKind = audit.ActorStaff
		case "citizen":
			e.ActorKind, e.SubjectCF = audit.ActorCitizen, v.FiscalCode
		}
	}
	return e
}
