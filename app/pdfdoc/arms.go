package pdfdoc

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// ArmsSizeMM is the height of the coat of arms in the letterhead.
const ArmsSizeMM = 18.0

// Arms is a coat of arms ready to be drawn as vector paths: the filled <path>
// elements of a simple SVG file (a viewBox, paths with a fill colour and the
// commands M, L, H, V, C, Q, Z in either case, also inside <g> elements), which is what a comune's stemma
// usually is. Gradients, strokes, transforms and other elements are not supported:
// ParseArms refuses a file that has none of the supported paths.
type Arms struct {
	minX, minY, w, h float64
	paths            []armsPath
}

type armsPath struct {
	rgb  [3]int
	segs []segment
}

// segment is one absolute path command: 'M' and 'L' (x, y), 'C' (two control points
// and the end), 'Q' (one control point and the end) or 'Z'.
type segment struct {
	cmd byte
	arg [6]float64
}

// parsePath reads SVG path data into absolute segments (H and V become L, relative
// commands absolute). Arcs and the smooth curve shorthands are not supported.
func parsePath(d string) ([]segment, error) {
	var out []segment
	var cx, cy, sx, sy float64
	i := 0
	skip := func() {
		for i < len(d) && (d[i] == ' ' || d[i] == ',' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r') {
			i++
		}
	}
	number := func() (float64, error) {
		skip()
		j := i
		if j < len(d) && (d[j] == '-' || d[j] == '+') {
			j++
		}
		dot := false
		for j < len(d) && (d[j] >= '0' && d[j] <= '9' || d[j] == '.' && !dot) {
			if d[j] == '.' {
				dot = true
			}
			j++
		}
		if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
			j++
			if j < len(d) && (d[j] == '-' || d[j] == '+') {
				j++
			}
			for j < len(d) && d[j] >= '0' && d[j] <= '9' {
				j++
			}
		}
		v, err := strconv.ParseFloat(d[i:j], 64)
		if err != nil {
			return 0, fmt.Errorf("path data: bad number at %d", i)
		}
		i = j
		return v, nil
	}
	hasNumber := func() bool {
		skip()
		return i < len(d) && (d[i] == '-' || d[i] == '+' || d[i] == '.' || d[i] >= '0' && d[i] <= '9')
	}
	var cmd byte
	for {
		skip()
		if i >= len(d) {
			break
		}
		if !hasNumber() {
			cmd = d[i]
			i++
		} else if cmd == 0 {
			return nil, fmt.Errorf("path data does not start with a command")
		}
		rel := cmd >= 'a' && cmd <= 'z'
		var n int
		switch cmd | 0x20 {
		case 'm', 'l':
			n = 2
		case 'h', 'v':
			n = 1
		case 'c':
			n = 6
		case 'q':
			n = 4
		case 'z':
			n = 0
		default:
			return nil, fmt.Errorf("path command %q not supported", cmd)
		}
		var a [6]float64
		for k := 0; k < n; k++ {
			v, err := number()
			if err != nil {
				return nil, err
			}
			a[k] = v
		}
		if rel {
			for k := 0; k+1 < n; k += 2 {
				a[k] += cx
				a[k+1] += cy
			}
		}
		switch cmd | 0x20 {
		case 'm':
			out = append(out, segment{cmd: 'M', arg: a})
			cx, cy, sx, sy = a[0], a[1], a[0], a[1]
			// Further pairs after a moveto are linetos.
			if cmd == 'm' {
				cmd = 'l'
			} else {
				cmd = 'L'
			}
		case 'l':
			out = append(out, segment{cmd: 'L', arg: a})
			cx, cy = a[0], a[1]
		case 'h':
			x := a[0]
			if rel {
				x = cx + a[0]
			}
			out = append(out, segment{cmd: 'L', arg: [6]float64{x, cy}})
			cx = x
		case 'v':
			y := a[0]
			if rel {
				y = cy + a[0]
			}
			out = append(out, segment{cmd: 'L', arg: [6]float64{cx, y}})
			cy = y
		case 'c':
			out = append(out, segment{cmd: 'C', arg: a})
			cx, cy = a[4], a[5]
		case 'q':
			out = append(out, segment{cmd: 'Q', arg: a})
			cx, cy = a[2], a[3]
		case 'z':
			out = append(out, segment{cmd: 'Z'})
			cx, cy = sx, sy
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path data")
	}
	return out, nil
}

// ParseArms reads an SVG coat of arms.
func ParseArms(svg []byte) (*Arms, error) {
	type path struct {
		D     string `xml:"d,attr"`
		Fill  string `xml:"fill,attr"`
		Style string `xml:"style,attr"`
	}
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Width   string `xml:"width,attr"`
		Height  string `xml:"height,attr"`
		Paths   []path `xml:"path"`
		Groups  []struct {
			Fill  string `xml:"fill,attr"`
			Paths []path `xml:"path"`
		} `xml:"g"`
	}
	if err := xml.NewDecoder(bytes.NewReader(svg)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("pdfdoc: coat of arms: %w", err)
	}
	a := &Arms{}
	if f := strings.Fields(strings.ReplaceAll(doc.ViewBox, ",", " ")); len(f) == 4 {
		a.minX, _ = strconv.ParseFloat(f[0], 64)
		a.minY, _ = strconv.ParseFloat(f[1], 64)
		a.w, _ = strconv.ParseFloat(f[2], 64)
		a.h, _ = strconv.ParseFloat(f[3], 64)
	} else {
		a.w, _ = strconv.ParseFloat(strings.TrimSuffix(doc.Width, "px"), 64)
		a.h, _ = strconv.ParseFloat(strings.TrimSuffix(doc.Height, "px"), 64)
	}
	if a.w <= 0 || a.h <= 0 {
		return nil, fmt.Errorf("pdfdoc: coat of arms: no viewBox or size")
	}
	all := doc.Paths
	for _, g := range doc.Groups {
		for _, p := range g.Paths {
			if p.Fill == "" {
				p.Fill = g.Fill
			}
			all = append(all, p)
		}
	}
	for _, p := range all {
		fill := p.Fill
		if i := strings.Index(p.Style, "fill:"); i >= 0 {
			fill = strings.TrimSpace(strings.SplitN(p.Style[i+5:], ";", 2)[0])
		}
		if fill == "none" || strings.TrimSpace(p.D) == "" {
			continue
		}
		rgb, ok := parseColour(fill)
		if !ok {
			return nil, fmt.Errorf("pdfdoc: coat of arms: colour %q not supported", fill)
		}
		segs, err := parsePath(p.D)
		if err != nil {
			return nil, fmt.Errorf("pdfdoc: coat of arms: %w", err)
		}
		a.paths = append(a.paths, armsPath{rgb: rgb, segs: segs})
	}
	if len(a.paths) == 0 {
		return nil, fmt.Errorf("pdfdoc: coat of arms: no filled path")
	}
	return a, nil
}

// parseColour reads #rgb, #rrggbb, black and white.
func parseColour(s string) ([3]int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "black":
		return [3]int{0, 0, 0}, true
	case "white":
		return [3]int{255, 255, 255}, true
	}
	if !strings.HasPrefix(s, "#") {
		return [3]int{}, false
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return [3]int{}, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return [3]int{}, false
	}
	return [3]int{int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)}, true
}

// WithArms draws the coat of arms at the left of the letterhead of every page.
func WithArms(a *Arms) Option {
	return func(d *Doc) { d.arms = a }
}

// drawArms paints the coat of arms with its top-left corner at (x, y), height size.
func (d *Doc) drawArms(x, y, size float64) {
	a := d.arms
	if a == nil {
		return
	}
	k := size / a.h
	p := d.pdf
	X := func(v float64) float64 { return x + (v-a.minX)*k }
	Y := func(v float64) float64 { return y + (v-a.minY)*k }
	for _, ap := range a.paths {
		p.SetFillColor(ap.rgb[0], ap.rgb[1], ap.rgb[2])
		for _, s := range ap.segs {
			switch s.cmd {
			case 'M':
				p.MoveTo(X(s.arg[0]), Y(s.arg[1]))
			case 'L':
				p.LineTo(X(s.arg[0]), Y(s.arg[1]))
			case 'C':
				p.CurveBezierCubicTo(X(s.arg[0]), Y(s.arg[1]), X(s.arg[2]), Y(s.arg[3]), X(s.arg[4]), Y(s.arg[5]))
			case 'Q':
				p.CurveTo(X(s.arg[0]), Y(s.arg[1]), X(s.arg[2]), Y(s.arg[3]))
			case 'Z':
				p.ClosePath()
			}
		}
		p.DrawPath("F")
	}
	p.SetFillColor(255, 255, 255)
}
