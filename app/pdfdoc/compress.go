package pdfdoc

import (
	"bytes"
	"compress/zlib"
	"fmt"
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

// zlibWriters keeps a few writers for good. Not a sync.Pool: the pool is emptied by
// every other garbage collection, and at a megabyte a writer the collections come
// often enough that most documents would allocate a new one anyway.
var zlibWriters = make(chan *zlib.Writer, 2*runtime.GOMAXPROCS(0))

func getZlibWriter() *zlib.Writer {
	select {
	case w := <-zlibWriters:
		return w
	default:
		w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // fpdf's level (xcompr.go)
		return w
	}
}

func putZlibWriter(w *zlib.Writer) {
	select {
	case zlibWriters <- w:
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

// withPageCount returns data with nbAlias replaced by nb, in both forms.
func withPageCount(data []byte, nb int) []byte {
	n := strconv.Itoa(nb)
	if bytes.Contains(data, []byte(nbAlias)) {
		data = bytes.ReplaceAll(data, []byte(nbAlias), []byte(n))
	}
	if bytes.Contains(data, nbAlias16) {
		var n16 []byte
		for i := 0; i < len(n); i++ {
			n16 = append(n16, 0, n[i])
		}
		data = bytes.ReplaceAll(data, nbAlias16, n16)
	}
	return data
}

// xrefEntry is the length of one entry of the cross-reference table as fpdf writes it
// ("%010d 00000 n " and a newline).
const xrefEntry = 20

// compressPages returns pdf, written by fpdf without compression, with its page
// content streams compressed as fpdf compresses them, and the page count put in
// for nbAlias.
func compressPages(pdf []byte) ([]byte, error) {
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

	zw := getZlibWriter()
	defer putZlibWriter(zw)
	out := bytes.NewBuffer(make([]byte, 0, len(pdf)/2))
	var z bytes.Buffer
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
		data := withPageCount(pdf[p+len(open):p+len(open)+length], len(pages))
		z.Reset()
		zw.Reset(&z)
		if _, err := zw.Write(data); err != nil {
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
