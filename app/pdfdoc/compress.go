package pdfdoc

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
)

// Page compression, done here rather than by fpdf.
//
// fpdf compresses each page's content stream with a new zlib writer, and a zlib writer
// allocates and clears about a megabyte before it writes a byte: three quarters of the
// memory a certificate cost, and the garbage collector's work with it, on every issue
// and every download. fpdf has no hook for its writer, so the document is written
// uncompressed and its page streams are compressed here, with writers kept for reuse,
// into exactly the file fpdf would have written: the same zlib level (zlib.Writer.Reset
// makes a writer equal to a new one), the same stream dictionary, the cross-reference
// table moved by the bytes saved. The bytes must not change: a certificate's PDF is
// rebuilt from its record and checked against the SHA-256 taken when it was issued
// (TestCompressionMatchesFpdf compares both files byte for byte).

// compressors keeps a few writers for good, each with the buffers a document uses
// around it. Not a sync.Pool: the pool is emptied by every other garbage collection,
// and at a megabyte a writer the collections come often enough that most documents
// would allocate a new one anyway.
var compressors = make(chan *compressor, 2*runtime.GOMAXPROCS(0))

// compressor is a zlib writer at fpdf's level with its output buffer (z: one page
// compressed) and the buffer fpdf writes the uncompressed file into (raw).
type compressor struct {
	zw     *zlib.Writer
	z, raw bytes.Buffer
}

func getCompressor() *compressor {
	select {
	case c := <-compressors:
		return c
	default:
		w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // fpdf's level (xcompr.go)
		return &compressor{zw: w}
	}
}

func putCompressor(c *compressor) {
	if c.raw.Cap() > 1<<20 || c.z.Cap() > 1<<20 {
		return // a long document's buffers are not worth keeping
	}
	c.raw.Reset()
	c.z.Reset()
	select {
	case compressors <- c:
	default: // enough kept
	}
}

var (
	contentsRef = regexp.MustCompile(`/Contents (\d+) 0 R`)
	startXref   = regexp.MustCompile(`\nstartxref\n(\d+)\n%%EOF\n?$`)
	xrefHead    = regexp.MustCompile(`^xref\n0 (\d+)\n`)
)

// nbAlias is written where the number of pages goes (the footer's "Pagina 1 di
// {nb}"); compressPages replaces it in every page, as fpdf's AliasNbPages would
// have before writing the pages (fpdf did so by copying each page four times),
// both as is and, as fpdf also does, in UTF-16.
const nbAlias = "{nb}"

var nbAlias16 = []byte("\x00{\x00n\x00b\x00}")

// writeWithPageCount writes data to w with nbAlias replaced by nb, in both forms,
// piece by piece rather than through a replaced copy of the page. The compressed
// bytes do not depend on how the input is cut into writes.
func writeWithPageCount(w io.Writer, data []byte, nb int) error {
	n := []byte(strconv.Itoa(nb))
	var n16 []byte
	for _, c := range n {
		n16 = append(n16, 0, c)
	}
	for len(data) > 0 {
		i, alias, repl := bytes.Index(data, []byte(nbAlias)), []byte(nbAlias), n
		if j := bytes.Index(data, nbAlias16); j >= 0 && (i < 0 || j < i) {
			i, alias, repl = j, nbAlias16, n16
		}
		if i < 0 {
			_, err := w.Write(data)
			return err
		}
		if _, err := w.Write(data[:i]); err != nil {
			return err
		}
		if _, err := w.Write(repl); err != nil {
			return err
		}
		data = data[i+len(alias):]
	}
	return nil
}

// xrefEntry is the length of one entry of the cross-reference table as fpdf writes it
// ("%010d 00000 n " and a newline).
const xrefEntry = 20

// compressPages returns pdf, written by fpdf without compression, with its page
// content streams compressed as fpdf compresses them, and the page count put in
// for nbAlias.
func compressPages(pdf []byte) ([]byte, error) {
	c := getCompressor()
	defer putCompressor(c)
	return c.compressPages(pdf)
}

func (c *compressor) compressPages(pdf []byte) ([]byte, error) {
	m := startXref.FindSubmatchIndex(pdf)
	if m == nil {
		return nil, fmt.Errorf("pdfdoc: no startxref at the end of the PDF")
	}
	xref, _ := strconv.Atoi(string(pdf[m[2]:m[3]]))
	h := xrefHead.FindSubmatch(pdf[xref:])
	if h == nil {
		return nil, fmt.Errorf("pdfdoc: no cross-reference table at %d", xref)
	}
	count, _ := strconv.Atoi(string(h[1]))
	table := xref + len(h[0])
	offsets := make([]int, count)
	for i := 1; i < count; i++ {
		e := pdf[table+i*xrefEntry : table+i*xrefEntry+10]
		offsets[i], _ = strconv.Atoi(string(e))
	}
	// The page content objects, in file order.
	var pages []int
	for _, r := range contentsRef.FindAllSubmatch(pdf[:xref], -1) {
		n, _ := strconv.Atoi(string(r[1]))
		if n <= 0 || n >= count {
			return nil, fmt.Errorf("pdfdoc: page contents %d outside the table", n)
		}
		pages = append(pages, n)
	}
	slices.SortFunc(pages, func(a, b int) int { return offsets[a] - offsets[b] })

	zw, z := c.zw, &c.z
	out := bytes.NewBuffer(make([]byte, 0, len(pdf)/2))
	shift := make([]int, 0, len(pages)) // bytes saved after each page stream, cumulated
	at, saved := 0, 0
	for _, n := range pages {
		head := fmt.Sprintf("%d 0 obj\n<</Length ", n)
		o := offsets[n]
		if !bytes.HasPrefix(pdf[o:], []byte(head)) {
			return nil, fmt.Errorf("pdfdoc: object %d is not an uncompressed stream", n)
		}
		p := o + len(head)
		end := bytes.IndexByte(pdf[p:], '>')
		length, err := strconv.Atoi(string(pdf[p : p+end]))
		if err != nil {
			return nil, fmt.Errorf("pdfdoc: object %d: %w", n, err)
		}
		p += end
		const open = ">>\nstream\n"
		if !bytes.HasPrefix(pdf[p:], []byte(open)) {
			return nil, fmt.Errorf("pdfdoc: object %d: no stream", n)
		}
		z.Reset()
		zw.Reset(z)
		if err := writeWithPageCount(zw, pdf[p+len(open):p+len(open)+length], len(pages)); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		out.Write(pdf[at:o])
		fmt.Fprintf(out, "%d 0 obj\n<</Filter /FlateDecode /Length %d>>\nstream\n", n, z.Len())
		out.Write(z.Bytes())
		at = p + len(open) + length
		saved += (at - o) - (out.Len() - (o - saved))
		shift = append(shift, saved)
	}
	out.Write(pdf[at : table+xrefEntry]) // up to the free entry 0
	// The table: every object after a page stream moves back by what was saved before it.
	for i := 1; i < count; i++ {
		d := 0
		for j, n := range pages {
			if offsets[i] > offsets[n] {
				d = shift[j]
			}
		}
		fmt.Fprintf(out, "%010d 00000 n \n", offsets[i]-d)
	}
	rest := pdf[table+count*xrefEntry : m[0]]
	out.Write(rest)
	fmt.Fprintf(out, "\nstartxref\n%d\n%%%%EOF\n", xref-saved)
	return out.Bytes(), nil
}
