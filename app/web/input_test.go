package web

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// guard runs inputGuard on req and returns the refusal's status (200 when the
// handler ran) and what the handler read from the body.
func guard(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	e := echo.New()
	c := e.NewContext(req, httptest.NewRecorder())
	var seen string
	err := inputGuard(func(c echo.Context) error {
		if strings.HasPrefix(c.Request().Header.Get("Content-Type"), "multipart/") {
			f, err := c.FormFile("file")
			if err != nil {
				return err
			}
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			seen = c.FormValue("nome") + "|" + string(b)
			return nil
		}
		b, _ := io.ReadAll(c.Request().Body)
		seen = string(b)
		return nil
	})(c)
	var we *Error
	if errors.As(err, &we) {
		return we.Status, seen
	}
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	return http.StatusOK, seen
}

func TestInputGuardJSONAndMultipart(t *testing.T) {
	t.Parallel()
	jsonReq := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		return r
	}
	for body, want := range map[string]int{
		`{"nome":"Mario\tRossi","n":[1,"a"]}`: 200,
		`{"nome":"Mario\u0000"}`:              400,
		`{"a":{"b":["ok","\u001b"]}}`:         400,
		"{\"nome\":\"Citt\xe0\"}":             400,
		`{"nome":`:                            400,
	} {
		status, seen := guard(t, jsonReq(body))
		if status != want {
			t.Errorf("JSON %q: %d, want %d", body, status, want)
		}
		if want == 200 && seen != body {
			t.Errorf("handler read %q, want the body unchanged", seen)
		}
	}
	multi := func(field, filename string) *http.Request {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("nome", field)
		fw, _ := mw.CreateFormFile("file", filename)
		_, _ = fw.Write([]byte("\x00\xff\xfe\x1b binary content"))
		_ = mw.Close()
		r := httptest.NewRequest(http.MethodPost, "/upload", &b)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		return r
	}
	if status, seen := guard(t, multi("Mario", "doc.pdf")); status != 200 || seen != "Mario|\x00\xff\xfe\x1b binary content" {
		t.Errorf("binary file content refused or lost: %d %q", status, seen)
	}
	if status, _ := guard(t, multi("Mario\x00", "doc.pdf")); status != 400 {
		t.Errorf("NUL in a multipart field: %d", status)
	}
	if status, _ := guard(t, multi("Mario", "doc\x01.pdf")); status != 400 {
		t.Errorf("control character in a file name: %d", status)
	}
}

func TestValidText(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"Via Roma 1\r\n\tint. 2": true, "Città": true, "日本": true,
		"a\x00": false, "\xff": false, "a\x7f": false, "a\u0085": false, "a\x1b[31m": false, "": true} {
		if ValidText(s) != want {
			t.Errorf("ValidText(%q) = %v", s, !want)
		}
	}
}
