// Package templates embeds the portal's HTML templates and message catalogues.
//
// layouts/ and partials/ are shared by every page; every other .html file is a page,
// named by its path ("home.html", "urp/offices.html"): one folder per module, plus
// backoffice/ and errors/. locales/<lang>/*.yaml hold the messages, one file per
// platform area or module, every key present in every language.
package templates

import "embed"

// FS holds the templates and locales.
//
//go:embed *
var FS embed.FS
