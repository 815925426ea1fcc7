package tokens

// PDFPages returns the page count of a base64 PDF as AnthropicMessages counts it: its
// "/Type /Page" objects, or a guess from its size when none is visible; at least 1. A
// caller that estimates another format's document parts charges PDFPage for each.
func PDFPages(b64 string) int { return pdfPages(b64) }
