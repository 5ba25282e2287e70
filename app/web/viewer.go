package web

import (
	"encoding/json"
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/enti"
)

const viewerKey = "viewer"

// Login records v as the logged-in person of this session. The session token is
// renewed first, so a token planted before login (session fixation) is worthless.
func Login(c echo.Context, v *Viewer) error {
	sm := Sessions(c)
	if sm == nil {
		return fmt.Errorf("web: no session on this path")
	}
	ctx := c.Request().Context()
	if err := sm.RenewToken(ctx); err != nil {
		return err
	}
	if e := enti.Current(c); e != nil {
		v.Ente = e.ID
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sm.Put(ctx, viewerKey, string(b))
	SetViewer(c, v)
	return nil
}

// Logout ends the session: its data is deleted from the database and the cookie
// cleared.
func Logout(c echo.Context) error {
	sm := Sessions(c)
	if sm == nil {
		return nil
	}
	SetViewer(c, nil)
	return sm.Destroy(c.Request().Context())
}

// loadViewer puts the session's logged-in person, if any, in the request context.
func loadViewer(c echo.Context) {
	sm := Sessions(c)
	if sm == nil {
		return
	}
	raw := sm.GetString(c.Request().Context(), viewerKey)
	if raw == "" {
		return
	}
	var v Viewer
	if json.Unmarshal([]byte(raw), &v) != nil || v.Kind == "" {
		return
	}
	if e := enti.Current(c); e != nil && v.Ente != e.ID {
		// A session made on another ente's host (a copied cookie, or one portal
		// reached under two names): not logged in here.
		return
	}
	SetViewer(c, &v)
}
