package pdfdoc

import (
	"math/bits"
	"sync"

	qr "github.com/piglig/go-qr"
)

// The mask choice, done here rather than by the encoder.
//
// ISO/IEC 18004 (§7.8.3) has the encoder try the eight mask patterns and keep the one
// whose symbol scores the lowest penalty (runs of one colour, 2×2 blocks, finder-like
// patterns, the balance of dark and light). github.com/piglig/go-qr does exactly that
// when asked for mask -1, but its scoring took about 0.9 ms of the 1 ms a certificate's
// symbol cost, most of an issued certificate's PDF. This file scores the same eight
// candidates with the same rules on bit sets: the symbol is encoded once, with mask 0,
// and unmasked back; each candidate is then its rows and columns XORed with the mask's,
// plus its format bits; the rules look at runs found with bit operations instead of
// one module at a time. The result is the very symbol go-qr would have chosen
// (TestQRMaskChoiceMatchesEncoder compares both on hundreds of contents of most
// versions, module by module), several times faster.

// qrLayout is what one QR version fixes: its side, which modules are function
// patterns, where the format bits go and, per mask, which data modules it inverts.
type qrLayout struct {
	n int
	// fn[y*n+x] is true for a function module (finders and separators, timing,
	// alignment, format and version information): masks leave them alone.
	fn []bool
	// format1[i], format2[i] are the two cells that carry format bit i.
	format1, format2 [15]int
	// maskRows[k][y] and maskCols[k][x] are the data modules mask k inverts, by row
	// (bit x) and by column (bit y).
	maskRows, maskCols [8][]qrLine
	// valid has the n bits of a line; pairs the n-1 bits of neighbouring pairs.
	valid, pairs qrLine
}

// qrLine is one row or column of a symbol, bit i for module i (1 dark): at most 177
// modules, version 40.
type qrLine [3]uint64

var qrLayouts sync.Map // version -> *qrLayout

// layoutOf returns the layout of the version whose side is n modules.
func layoutOf(n int) *qrLayout {
	ver := (n - 17) / 4
	if l, ok := qrLayouts.Load(ver); ok {
		return l.(*qrLayout)
	}
	l := &qrLayout{n: n, fn: make([]bool, n*n)}
	mark := func(x, y int) {
		if 0 <= x && x < n && 0 <= y && y < n {
			l.fn[y*n+x] = true
		}
	}
	for i := 0; i < n; i++ { // timing patterns
		mark(6, i)
		mark(i, 6)
	}
	for _, c := range [][2]int{{3, 3}, {n - 4, 3}, {3, n - 4}} { // finders with separators
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				mark(c[0]+dx, c[1]+dy)
			}
		}
	}
	align := alignmentPositions(ver, n)
	last := len(align) - 1
	for i := range align {
		for j := range align {
			if i == 0 && j == 0 || i == 0 && j == last || i == last && j == 0 {
				continue // where the finders are
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					mark(align[i]+dx, align[j]+dy)
				}
			}
		}
	}
	// Format information, as go-qr's drawFormatBits places bit i (x, y).
	at := func(x, y int) int { return y*n + x }
	for i := 0; i <= 5; i++ {
		l.format1[i] = at(8, i)
	}
	l.format1[6], l.format1[7], l.format1[8] = at(8, 7), at(8, 8), at(7, 8)
	for i := 9; i < 15; i++ {
		l.format1[i] = at(14-i, 8)
	}
	for i := 0; i < 8; i++ {
		l.format2[i] = at(n-1-i, 8)
	}
	for i := 8; i < 15; i++ {
		l.format2[i] = at(8, n-15+i)
	}
	for i := 0; i < 15; i++ {
		l.fn[l.format1[i]], l.fn[l.format2[i]] = true, true
	}
	l.fn[at(8, n-8)] = true // the dark module
	if ver >= 7 {           // version information
		for i := 0; i < 18; i++ {
			mark(n-11+i%3, i/3)
			mark(i/3, n-11+i%3)
		}
	}
	for k := range l.maskRows {
		rows, cols := make([]qrLine, n), make([]qrLine, n)
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				if !l.fn[y*n+x] && maskInverts(k, x, y) {
					rows[y].set(x, true)
					cols[x].set(y, true)
				}
			}
		}
		l.maskRows[k], l.maskCols[k] = rows, cols
	}
	for i := 0; i < n; i++ {
		l.valid.set(i, true)
		if i < n-1 {
			l.pairs.set(i, true)
		}
	}
	l2, _ := qrLayouts.LoadOrStore(ver, l)
	return l2.(*qrLayout)
}

// alignmentPositions returns the centres of the alignment patterns of version ver
// (side n) on each axis, as go-qr and Nayuki's generator compute them.
func alignmentPositions(ver, n int) []int {
	if ver == 1 {
		return nil
	}
	num := ver/7 + 2
	step := 26
	if ver != 32 {
		step = (ver*4 + num*2 + 1) / (num*2 - 2) * 2
	}
	res := make([]int, num)
	res[0] = 6
	for i, pos := num-1, n-7; i >= 1; i, pos = i-1, pos-step {
		res[i] = pos
	}
	return res
}

// maskInverts reports whether mask k inverts the module at (x, y) (ISO/IEC 18004
// table 10).
func maskInverts(k, x, y int) bool {
	switch k {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (x/3+y/2)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	default:
		return ((x+y)%2+x*y%3)%2 == 0
	}
}

// formatBits returns the 15 format bits of level ecl with mask k (BCH(15,5) and the
// fixed XOR pattern).
func formatBits(ecl qr.Ecc, k int) int {
	data := ecl.FormatBits()<<3 | k
	rem := data
	for i := 0; i < 10; i++ {
		rem = (rem << 1) ^ ((rem >> 9) * 0x537)
	}
	return (data<<10 | rem) ^ 0x5412
}

// set sets bit i to v.
func (l *qrLine) set(i int, v bool) {
	if v {
		l[i>>6] |= 1 << (i & 63)
	} else {
		l[i>>6] &^= 1 << (i & 63)
	}
}

// get returns bit i.
func (l *qrLine) get(i int) bool { return l[i>>6]>>(i&63)&1 == 1 }

// next returns l moved by one module: bit i of the result is bit i+1 of l.
func (l *qrLine) next() qrLine {
	return qrLine{l[0]>>1 | l[1]<<63, l[1]>>1 | l[2]<<63, l[2] >> 1}
}

// prev returns l moved the other way: bit i of the result is bit i-1 of l (0 for i = 0).
func (l *qrLine) prev() qrLine {
	return qrLine{l[0] << 1, l[1]<<1 | l[0]>>63, l[2]<<1 | l[1]>>63}
}

func popcount(l qrLine) int {
	return bits.OnesCount64(l[0]) + bits.OnesCount64(l[1]) + bits.OnesCount64(l[2])
}

// qrSymbol is a candidate symbol by rows and by columns.
type qrSymbol struct {
	rows, cols []qrLine
}

// encodeBestMask encodes segs at level ecl with the lowest-penalty mask and returns
// the symbol's rows (bit x of row y dark) and its side.
func encodeBestMask(segs []*qr.QrSegment, ecl qr.Ecc) ([]qrLine, int, error) {
	q0, err := qr.EncodeSegments(segs, ecl, qr.MinVersion, qr.MaxVersion, 0, false)
	if err != nil {
		return nil, 0, err
	}
	n := q0.Size()
	l := layoutOf(n)
	// base: the symbol without mask (mask 0 XORed off the data modules).
	base := qrSymbol{make([]qrLine, n), make([]qrLine, n)}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if q0.Module(x, y) {
				base.rows[y].set(x, true)
				base.cols[x].set(y, true)
			}
		}
	}
	for i := 0; i < n; i++ {
		for w := range base.rows[i] {
			base.rows[i][w] ^= l.maskRows[0][i][w]
			base.cols[i][w] ^= l.maskCols[0][i][w]
		}
	}
	cand := qrSymbol{make([]qrLine, n), make([]qrLine, n)}
	runs := make([]int, 0, n+2)
	best, least := 0, int(^uint(0)>>1)
	for k := 0; k < 8; k++ {
		l.apply(&cand, &base, ecl, k)
		if p := l.penalty(&cand, least, runs); p < least {
			best, least = k, p
		}
	}
	l.apply(&cand, &base, ecl, best)
	return cand.rows, n, nil
}

// apply writes into dst the symbol base with mask k and its format bits.
func (l *qrLayout) apply(dst, base *qrSymbol, ecl qr.Ecc, k int) {
	mr, mc := l.maskRows[k], l.maskCols[k]
	for i := 0; i < l.n; i++ {
		for w := range dst.rows[i] {
			dst.rows[i][w] = base.rows[i][w] ^ mr[i][w]
			dst.cols[i][w] = base.cols[i][w] ^ mc[i][w]
		}
	}
	fb := formatBits(ecl, k)
	put := func(cell int, v bool) {
		x, y := cell%l.n, cell/l.n
		dst.rows[y].set(x, v)
		dst.cols[x].set(y, v)
	}
	for i := 0; i < 15; i++ {
		v := fb>>i&1 == 1
		put(l.format1[i], v)
		put(l.format2[i], v)
	}
	put((l.n-8)*l.n+8, true)
}

// Penalty weights of ISO/IEC 18004 §7.8.3.1.
const (
	penaltyRun     = 3  // N1: a run of five of one colour, plus one per module beyond
	penaltyBlock   = 3  // N2: a 2×2 block of one colour
	penaltyFinder  = 40 // N3: 1:1:3:1:1 with four light modules on one side
	penaltyBalance = 10 // N4: per 5 % away from half dark
)

// penalty returns the penalty score of the candidate s, as go-qr (after Nayuki)
// computes it; once the score reaches cap it stops and returns it, since that mask
// can no longer win. runs is scratch space.
func (l *qrLayout) penalty(s *qrSymbol, cap int, runs []int) int {
	n := l.n
	res, dark := 0, 0
	for y := 0; y < n; y++ {
		row := &s.rows[y]
		res += l.linePenalty(row, runs)
		dark += popcount(*row)
		if y+1 < n {
			// 2×2 blocks with top-left in this row: the pair equal in this row, in the
			// next, and the two rows equal at its left module.
			below := &s.rows[y+1]
			r1, r2 := row.next(), below.next()
			var blocks qrLine
			for w := range blocks {
				blocks[w] = ^(row[w] ^ r1[w]) & ^(below[w] ^ r2[w]) & ^(row[w] ^ below[w]) & l.pairs[w]
			}
			res += popcount(blocks) * penaltyBlock
		}
	}
	if res >= cap {
		return res
	}
	for x := 0; x < n; x++ {
		res += l.linePenalty(&s.cols[x], runs)
	}
	if res >= cap {
		return res
	}
	total := n * n
	d := dark*20 - total*10
	if d < 0 {
		d = -d
	}
	return res + ((d+total-1)/total-1)*penaltyBalance
}

// linePenalty scores one row or column: runs of five or more modules of one colour,
// and finder-like patterns (dark 1:1:3:1:1 with four light modules before or after,
// the line counted with a light border of n modules on each side, as Nayuki's
// generator does). The runs are found from the bits that differ from their
// predecessor, not module by module.
func (l *qrLayout) linePenalty(line *qrLine, runs []int) int {
	n := l.n
	p := line.prev()
	runs = runs[:0]
	last := 0
	for w := range line {
		t := (line[w] ^ p[w]) & l.valid[w] // where a run starts (the line begins light)
		for t != 0 {
			b := w<<6 + bits.TrailingZeros64(t)
			t &= t - 1
			runs = append(runs, b-last)
			last = b
		}
	}
	runs = append(runs, n-last)
	if len(runs)%2 == 0 {
		runs = append(runs, 0) // ended dark: an empty light run before the border
	}
	res := 0
	for _, r := range runs {
		if r >= 5 {
			res += r - 5 + penaltyRun
		}
	}
	// Light runs are at even indexes; the first and the last meet the border.
	runs[0] += n
	runs[len(runs)-1] += n
	for j := 6; j < len(runs); j += 2 {
		k := runs[j-1]
		if runs[j-2] != k || runs[j-3] != 3*k || runs[j-4] != k || runs[j-5] != k {
			continue
		}
		if runs[j] >= 4*k && runs[j-6] >= k {
			res += penaltyFinder
		}
		if runs[j-6] >= 4*k && runs[j] >= k {
			res += penaltyFinder
		}
	}
	return res
}
