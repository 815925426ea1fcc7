package emulator

import (
	"encoding/base64"
	"encoding/json"
	"image"
	_ "image/gif" // registers the decoders whose headers give an image's size
	_ "image/jpeg"
	_ "image/png"
	"math"
	"strings"
)

// Images count as the providers count them, from their size in pixels: the size of a
// base64 image (a data: URL, an Anthropic base64 source) is read from its header (PNG,
// JPEG, GIF); an image known only by its URL or file id, or in another format, counts as
// the default size below, so that the count never depends on the network.
//
// OpenAI (https://platform.openai.com/docs/guides/images-vision#calculating-costs), for
// gpt-4o-class models: detail "low" costs 85 tokens; "high" and "auto" scale the image to
// fit 2048x2048, then its shortest side down to 768, and cost 85 plus 170 per 512-pixel
// tile. Anthropic (https://docs.claude.com/en/docs/build-with-claude/vision#calculate-image-costs):
// width*height/750, after scaling the image down to a long edge of at most 1568 pixels and
// to at most about 1.15 megapixels (1600 tokens).
const (
	openAIImageBase     = 85
	openAIImageTile     = 170
	defaultImageOpenAI  = 1024 // an image of unknown size: 1024x1024, 765 tokens
	defaultImageAnthrop = 1092 // Anthropic's largest 1:1 size: 1092x1092, 1590 tokens
	anthropicMaxEdge    = 1568
	anthropicMaxTokens  = 1600
)

// openAIImageTokens counts an OpenAI image part: its URL (an https or data: URL) and
// detail ("low", "high", "auto" or "").
func openAIImageTokens(url, detail string) int {
	if detail == "low" {
		return openAIImageBase
	}
	w, h, ok := dataURLSize(url)
	if !ok {
		w, h = defaultImageOpenAI, defaultImageOpenAI
	}
	fw, fh := float64(w), float64(h)
	if s := 2048 / math.Max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	if s := 768 / math.Min(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	tiles := math.Ceil(fw/512) * math.Ceil(fh/512)
	return openAIImageBase + openAIImageTile*int(tiles)
}

// anthropicImageTokens counts an Anthropic image block of the given source.
func anthropicImageTokens(src *imageSource) int {
	w, h, ok := 0, 0, false
	if src != nil && src.Type == "base64" {
		w, h, ok = base64Size(src.Data)
	}
	if !ok {
		w, h = defaultImageAnthrop, defaultImageAnthrop
	}
	fw, fh := float64(w), float64(h)
	if s := anthropicMaxEdge / math.Max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	if px := fw * fh; px/750 > anthropicMaxTokens {
		s := math.Sqrt(anthropicMaxTokens * 750 / px)
		fw, fh = fw*s, fh*s
	}
	return max(1, int(math.Ceil(math.Floor(fw)*math.Floor(fh)/750)))
}

// imageSource is an Anthropic image's source: base64 data, a URL or a file.
type imageSource struct {
	Type string `json:"type"`
	Data string `json:"data"`
	URL  string `json:"url"`
}

// identity is what identifies the image for the prompt cache.
func (s *imageSource) identity() string {
	if s == nil {
		return ""
	}
	return s.Type + "\x00" + s.Data + s.URL
}

// dataURLSize reads the size of a base64 data: URL's image.
func dataURLSize(url string) (w, h int, ok bool) {
	rest, found := strings.CutPrefix(url, "data:")
	if !found {
		return 0, 0, false
	}
	_, data, found := strings.Cut(rest, ";base64,")
	if !found {
		return 0, 0, false
	}
	return base64Size(data)
}

// base64Size reads an image's size from its header, decoding only as much base64 as the
// header takes.
func base64Size(data string) (w, h int, ok bool) {
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(data)))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// imageURL reads an OpenAI image_url: an object {"url", "detail"} in chat completions, a
// string in the Responses API (whose detail is a sibling field).
func imageURL(raw json.RawMessage) (url, detail string) {
	if len(raw) == 0 {
		return "", ""
	}
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &url)
		return url, ""
	}
	var o struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.URL, o.Detail
}
