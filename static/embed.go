// Package static embeds the portal's static files: its own css, js and images, and
// the vendor folder that `make assets` fills with Bootstrap Italia from npm.
package static

import "embed"

// FS holds css/, js/, img/ and vendor/.
//
//go:embed css js img all:vendor
var FS embed.FS
