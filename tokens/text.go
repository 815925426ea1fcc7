package tokens

import "unicode/utf8"

// Costs are in sixteenths of a token so that the whole estimate is integer arithmetic; Text
// rounds the sum up once.
const (
	unit = 16

	// safety scales the sum by 17/16: the per-class costs are fitted to land at or just above
	// o200k_base on the corpus, and this margin covers text unlike the corpus.
	safety = 17

	wordBase      = 16 // a run of ASCII letters: one token, the common case for English words
	wordPerChar   = 3  // plus this per letter beyond wordFree: rare and long words split
	wordFree      = 5
	capsPerChar   = 4  // per capital beyond the second in an all-caps piece
	shortGlued    = 8  // a piece of one or two letters followed directly by more letters or digits
	digitGroup    = 16 // digits are split in groups of at most three
	punctFirst    = 16 // a run of punctuation: its first character is a token
	punctNext     = 8  // later ones often merge (`");`, `://`) but not always
	punctAbsorbed = 8  // one non-letter before a word shares its pre-token, but often not its token
	spaceRun      = 16 // whitespace not absorbed by the following word: indentation, blank lines
	newlineRun    = 16
	latinExt      = 10 // an accented Latin letter (é, ü, ñ) inside or beside a word
	cyrillic      = 5  // per letter of Cyrillic, Greek, Armenian, Hebrew, Arabic...: words split in 2–4 letter pieces
	cjk           = 14 // per Han, kana or Hangul character, fullwidth punctuation included
	otherRune     = 24 // symbols, emoji, rarer scripts: often more than one token each
)

// byteClass classifies ASCII bytes; bytes >= 0x80 start a multi-byte rune.
var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = clsLower
		case c >= 'A' && c <= 'Z':
			t[c] = clsUpper
		case c >= '0' && c <= '9':
			t[c] = clsDigit
		case c == ' ' || c == '\t':
			t[c] = clsSpace
		case c == '\n' || c == '\r':
			t[c] = clsNewline
		case c >= 0x80:
			t[c] = clsMulti
		default:
			t[c] = clsPunct
		}
	}
	return t
}()

const (
	clsPunct uint8 = iota
	clsLower
	clsUpper
	clsDigit
	clsSpace
	clsNewline
	clsMulti
)

// Text returns an estimate of the number of tokens of s, calibrated to be at or slightly above
// what OpenAI's o200k_base tokenizer counts (see the package documentation for the measured
// error). It is safe for concurrent use, does not allocate and runs in time linear in len(s).
func Text(s string) int {
	return (textUnits(s)*safety + unit*unit - 1) / (unit * unit)
}

// textUnits is Text's sum in sixteenths of a token, before the safety margin and the
// rounding.
func textUnits(s string) int {
	var units int
	n := len(s)
	for i := 0; i < n; {
		switch byteClass[s[i]] {
		case clsLower, clsUpper:
			// The tokenizers pre-split a letter run at case changes (Upper* lower+ or
			// Upper+ lower*), so "getUserById" is four pieces and "GmbH" two.
			for i < n && byteClass[s[i]] <= clsUpper && byteClass[s[i]] != clsPunct {
				start := i
				for i < n && byteClass[s[i]] == clsUpper {
					i++
				}
				ups := i - start
				for i < n && byteClass[s[i]] == clsLower {
					i++
				}
				units += wordBase
				if l := i - start; l > wordFree {
					units += (l - wordFree) * wordPerChar
				}
				if ups > 2 {
					units += (ups - 2) * capsPerChar // all-caps words beyond acronyms split
				}
				if i-start <= 2 && i < n && byteClass[s[i]] <= clsDigit && byteClass[s[i]] != clsPunct {
					// A short piece glued to more letters or digits is what random ids and
					// base64 look like: the vocabulary rarely has such pairs whole.
					units += shortGlued
				}
			}
		case clsDigit:
			j := i + 1
			for j < n && byteClass[s[j]] == clsDigit {
				j++
			}
			units += (j - i + 2) / 3 * digitGroup
			i = j
		case clsSpace:
			j := i + 1
			for j < n && byteClass[s[j]] == clsSpace {
				j++
			}
			// A single space before a word or punctuation joins it, as in " the" or " (";
			// before digits, whitespace or a multi-byte rune it is a token of its own.
			if c := byteClass[s[min(j, n-1)]]; j-i > 1 || j == n || (c >= clsDigit && c != clsMulti) {
				units += spaceRun
			}
			i = j
		case clsNewline:
			j := i + 1
			// Line breaks and the indentation after them are usually one token.
			for j < n && (byteClass[s[j]] == clsNewline || byteClass[s[j]] == clsSpace) {
				j++
			}
			units += newlineRun
			i = j
		case clsPunct:
			j := i + 1
			for j < n && byteClass[s[j]] == clsPunct {
				j++
			}
			l := j - i
			if j < n && byteClass[s[j]] <= clsUpper && byteClass[s[j]] != clsPunct {
				// The tokenizers' pre-split lets one non-letter join the word after it:
				// ".get", "(self", "_tokens".
				l--
				units += punctAbsorbed
			}
			if l > 0 {
				units += punctFirst + (l-1)*punctNext
			}
			i = j
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			units += runeCost(r)
			i += size
		}
	}
	return units
}

// runeCost is the cost of one non-ASCII rune, by script, from ranges rather than the unicode
// tables because it runs for every such rune and only the broad class matters.
func runeCost(r rune) int {
	switch {
	case r >= 0xC0 && r <= 0x24F: // Latin-1 Supplement letters, Latin Extended-A and -B
		return latinExt
	case r >= 0x370 && r <= 0x6FF: // Greek, Cyrillic, Armenian, Hebrew, Arabic
		return cyrillic
	case r >= 0x2E80 && r <= 0x9FFF, // CJK radicals, punctuation, kana, Han
		r >= 0xAC00 && r <= 0xD7AF, // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF, // CJK compatibility ideographs
		r >= 0xFF00 && r <= 0xFFEF: // fullwidth forms
		return cjk
	default:
		return otherRune
	}
}
