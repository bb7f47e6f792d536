package gofpdf

// Staybook patch (not in gofpdf v1.16.2; see
// docs/upstream/gofpdf-utf8-font-per-document.md in the Staybook repository).
//
// Upstream, every document that calls AddUTF8FontFromBytes parses the whole
// TrueType file again, JSON-encodes and hashes its 65,536-entry width table
// to name it, and parses the cmap, hmtx and loca tables once more to cut
// the subset when it is written. None of that depends on the document. Here
// a font is parsed once per process, keyed by its bytes: each document gets
// a shallow copy of the parsed font, with its own reader over the shared
// bytes (fileReader.Read returns capped slices, so nothing appends into
// them) and the tables the subsetter reads (cutTables), shared read-only.
// What GenerateCutFont changes it assigns to the copy. The output is the
// same, byte for byte.

import "sync"

// maxParsedUTF8Fonts bounds the cache: a program embeds a few fonts; past
// this many distinct ones, a font is parsed per document, as upstream.
const maxParsedUTF8Fonts = 16

// parsedUTF8 is one font, parsed once.
type parsedUTF8 struct {
	file *utf8FontFile     // read-only once cached
	ids  map[string]string // generateFontID's result per font key; guarded by parsedUTF8Fonts
}

var parsedUTF8Fonts = struct {
	sync.Mutex
	byBytes map[string]*parsedUTF8 // by the font file's bytes
}{byBytes: make(map[string]*parsedUTF8)}

// cutTables is what GenerateCutFont reads of the whole font before it cuts
// a subset: the same for every subset.
type cutTables struct {
	tableDescriptions    map[string]*tableDescription
	charSymbolDictionary map[int]int
	symbolPosition       []int
	locaFormat           int
	metricsCount         int
	numSymbols           int
}

// readCutTables reads the cut tables, as GenerateCutFont did each time
// upstream, without parseHMTXTable(..., 1.0): nothing reads the widths it
// set after the cut. Nil if the font has no Unicode cmap.
func (utf *utf8FontFile) readCutTables() *cutTables {
	utf.fileReader.readerPosition = 0
	utf.skip(4)
	utf.generateTableDescriptions()

	utf.SeekTable("head")
	utf.skip(50)
	locaFormat := utf.readUint16()

	utf.SeekTable("hhea")
	utf.skip(34)
	metricsCount := utf.readUint16()

	utf.SeekTable("maxp")
	utf.skip(4)
	numSymbols := utf.readUint16()

	if utf.generateCMAP() == nil {
		return nil
	}
	utf.parseLOCATable(locaFormat, numSymbols)
	return &cutTables{
		tableDescriptions:    utf.tableDescriptions,
		charSymbolDictionary: utf.charSymbolDictionary,
		symbolPosition:       utf.symbolPosition,
		locaFormat:           locaFormat,
		metricsCount:         metricsCount,
		numSymbols:           numSymbols,
	}
}

// parsedUTF8Font returns a document's own copy of the font in utf8Bytes,
// parsed once per process, and the cache entry it came from.
func parsedUTF8Font(utf8Bytes []byte) (*utf8FontFile, *parsedUTF8, error) {
	parsedUTF8Fonts.Lock()
	p := parsedUTF8Fonts.byBytes[string(utf8Bytes)]
	parsedUTF8Fonts.Unlock()
	if p == nil {
		var err error
		if p, err = parseUTF8(utf8Bytes); err != nil {
			return nil, nil, err
		}
		parsedUTF8Fonts.Lock()
		if q := parsedUTF8Fonts.byBytes[string(utf8Bytes)]; q != nil {
			p = q // parsed meanwhile by another document
		} else if len(parsedUTF8Fonts.byBytes) < maxParsedUTF8Fonts {
			parsedUTF8Fonts.byBytes[string(utf8Bytes)] = p
		}
		parsedUTF8Fonts.Unlock()
	}
	doc := *p.file
	doc.fileReader = &fileReader{array: p.file.fileReader.array}
	return &doc, p, nil
}

// parseUTF8 parses a copy of utf8Bytes (the caller keeps its slice) and
// reads its cut tables.
func parseUTF8(utf8Bytes []byte) (*parsedUTF8, error) {
	file := newUTF8Font(&fileReader{array: append([]byte(nil), utf8Bytes...)})
	if err := file.parseFile(); err != nil {
		return nil, err
	}
	scratch := *file
	scratch.fileReader = &fileReader{array: file.fileReader.array}
	file.cut = scratch.readCutTables() // nil without a Unicode cmap: GenerateCutFont then fails as upstream
	return &parsedUTF8{file: file, ids: make(map[string]string)}, nil
}

// fontID is generateFontID(def) for a definition made from p, computed
// once per font key: the definition's encoded fields depend only on the
// font and the key.
func (p *parsedUTF8) fontID(def fontDefType) (string, error) {
	parsedUTF8Fonts.Lock()
	id, ok := p.ids[def.Name]
	parsedUTF8Fonts.Unlock()
	if ok {
		return id, nil
	}
	id, err := generateFontID(def)
	if err != nil {
		return id, err
	}
	parsedUTF8Fonts.Lock()
	p.ids[def.Name] = id
	parsedUTF8Fonts.Unlock()
	return id, nil
}
