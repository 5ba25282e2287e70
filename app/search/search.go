// Package search answers the portal's search box: services, offices and frequently
// asked questions, matched in Italian as people type it (plurals, feminine forms,
// accents or none, capital letters, the first letters of a word).
//
// The documents are few (tens of services, offices and questions per ente), so each
// search builds its index afresh from what the modules offer and no search engine is
// needed. Words are reduced by a light Italian stemmer written here: no maintained Go
// module served to this project stems Italian (the Snowball ports in Go cover other
// languages), and a light stemmer (final vowels, -ch/-gh) is what a search over short
// texts needs: "certificati" finds "certificato", "uffici" finds "ufficio", "città"
// finds "citta".
package search

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Kind tells what a document is; the results page groups by it.
type Kind string

// The kinds of document.
const (
	KindService Kind = "servizio"
	KindOffice  Kind = "ufficio"
	KindFAQ     Kind = "faq"
)

// Doc is one searchable document, already in the visitor's language.
type Doc struct {
	Kind  Kind
	Title string
	// Text is the body searched besides the title (summary, description, topics).
	Text string
	// Summary is what the results page shows under the title.
	Summary string
	Href    string
}

// Hit is a document that matches, with its score (higher is better).
type Hit struct {
	Doc
	Score int
}

// MaxQuery is the longest query considered, in characters; the rest is ignored.
const MaxQuery = 100

// stopWords are Italian (and a few English) words too common to search for.
var stopWords = map[string]bool{
	"a": true, "ad": true, "al": true, "allo": true, "alla": true, "ai": true, "agli": true, "alle": true,
	"da": true, "dal": true, "dallo": true, "dalla": true, "dai": true, "dagli": true, "dalle": true,
	"di": true, "del": true, "dello": true, "della": true, "dei": true, "degli": true, "delle": true,
	"in": true, "nel": true, "nello": true, "nella": true, "nei": true, "negli": true, "nelle": true,
	"su": true, "sul": true, "sullo": true, "sulla": true, "sui": true, "sugli": true, "sulle": true,
	"con": true, "per": true, "tra": true, "fra": true, "il": true, "lo": true, "la": true, "i": true,
	"gli": true, "le": true, "un": true, "uno": true, "una": true, "e": true, "ed": true, "o": true,
	"che": true, "come": true, "mi": true, "si": true, "non": true, "mio": true, "mia": true,
	"l": true, "dell": true, "all": true, "dall": true, "nell": true, "sull": true, "quest": true,
	"the": true, "of": true, "and": true, "to": true, "for": true, "an": true, "my": true,
}

// fold lower-cases s and removes its accents ("Città" -> "citta", "è" -> "e").
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(s))
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// Stem reduces one folded word to the stem its singular, plural, masculine and
// feminine forms share: final vowels go ("certificati", "certificato" ->
// "certificat"; "ufficio", "uffici" -> "uffic"), and an "h" kept only to harden c or
// g before e and i goes too ("banche" -> "banc", like "banca"). Stems keep at least
// three letters, so short words stay whole.
func Stem(w string) string {
	r := []rune(w)
	for len(r) > 3 && strings.ContainsRune("aeiou", r[len(r)-1]) {
		r = r[:len(r)-1]
	}
	if n := len(r); n > 3 && r[n-1] == 'h' && (r[n-2] == 'c' || r[n-2] == 'g') {
		r = r[:n-1]
	}
	return string(r)
}

// Terms splits text into folded, stemmed words, without stop words. An apostrophe
// splits too ("dell'anagrafe" -> "anagraf").
func Terms(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(fold(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if stopWords[w] {
			continue
		}
		out = append(out, Stem(w))
	}
	return out
}

// Query is a prepared search.
type Query struct {
	terms []string
}

// ParseQuery prepares q (cut to MaxQuery characters). An empty Query matches nothing.
func ParseQuery(q string) Query {
	if r := []rune(q); len(r) > MaxQuery {
		q = string(r[:MaxQuery])
	}
	terms := Terms(q)
	slices.Sort(terms)
	return Query{terms: slices.Compact(terms)}
}

// Empty reports whether the query has nothing to search for.
func (q Query) Empty() bool { return len(q.terms) == 0 }

// matches reports whether term matches one of words: the same stem, or (for a term of
// three letters or more, as someone still typing) the start of one.
func matches(term string, words []string) bool {
	for _, w := range words {
		if w == term || (len(term) >= 3 && strings.HasPrefix(w, term)) {
			return true
		}
	}
	return false
}

// Search returns the documents matching every term of q, best first: a term in the
// title counts three, in the text one; ties keep the documents' order.
func Search(q Query, docs []Doc) []Hit {
	if q.Empty() {
		return nil
	}
	var hits []Hit
	for _, d := range docs {
		title, text := Terms(d.Title), Terms(d.Text)
		score := 0
		for _, t := range q.terms {
			switch {
			case matches(t, title):
				score += 3
			case matches(t, text):
				score++
			default:
				score = -1
			}
			if score < 0 {
				break
			}
		}
		if score > 0 {
			hits = append(hits, Hit{Doc: d, Score: score})
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return b.Score - a.Score })
	return hits
}
