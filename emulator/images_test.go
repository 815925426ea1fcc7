package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"strings"
	"testing"
)

// pngHeader is the start of a PNG of w x h pixels: the signature and the IHDR chunk,
// which is all that a decoder reads for the size.
func pngHeader(w, h int) string {
	ihdr := make([]byte, 0, 25)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 13)
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(w))
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(h))
	chunk = append(chunk, 8, 2, 0, 0, 0) // 8-bit RGB
	ihdr = append(ihdr, chunk...)
	ihdr = binary.BigEndian.AppendUint32(ihdr, crc32.ChecksumIEEE(chunk))
	return base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), ihdr...))
}

func jpegImage(t *testing.T, w, h int) string {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestImageTokens checks the documented examples of both providers.
func TestImageTokens(t *testing.T) {
	dataURL := func(b64 string) string { return "data:image/png;base64," + b64 }
	cases := []struct {
		name string
		part string // a content part as JSON
		want int
	}{
		// OpenAI: "a 1024 x 1024 square image in detail: high mode costs 765 tokens"; "a
		// 2048 x 4096 image in detail: high mode costs 1105 tokens"; "a 4096 x 8192 image
		// in detail: low most costs 85 tokens".
		{"openai 1024x1024 high", `{"type":"image_url","image_url":{"url":"` + dataURL(pngHeader(1024, 1024)) + `","detail":"high"}}`, 765},
		{"openai 2048x4096 high", `{"type":"image_url","image_url":{"url":"` + dataURL(pngHeader(2048, 4096)) + `","detail":"high"}}`, 1105},
		{"openai 4096x8192 low", `{"type":"image_url","image_url":{"url":"` + dataURL(pngHeader(4096, 8192)) + `","detail":"low"}}`, 85},
		{"openai small, auto", `{"type":"image_url","image_url":{"url":"` + dataURL(pngHeader(200, 300)) + `"}}`, 255},
		{"openai jpeg", `{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,` + jpegImage(t, 600, 600) + `"}}`, 85 + 4*170},
		{"openai url of unknown size", `{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}`, 765},
		{"responses input_image", `{"type":"input_image","image_url":"` + dataURL(pngHeader(2048, 4096)) + `","detail":"high"}`, 1105},
		{"responses input_image low", `{"type":"input_image","image_url":"https://example.com/cat.png","detail":"low"}`, 85},
		{"responses file id", `{"type":"input_image","file_id":"file-abc"}`, 765},
		// Anthropic: tokens = width*height/750: 200x200 ~54, 1000x1000 ~1334, 1092x1092
		// ~1590; larger images are scaled to at most 1568 on the long edge and ~1600 tokens.
		{"anthropic 200x200", `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(200, 200) + `"}}`, 54},
		{"anthropic 1000x1000", `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(1000, 1000) + `"}}`, 1334},
		{"anthropic 1092x1092", `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(1092, 1092) + `"}}`, 1590},
		{"anthropic 4000x3000 scaled", `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(4000, 3000) + `"}}`, 1598}, // 1383x1037 after scaling
		{"anthropic url", `{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}`, 1590},
		{"anthropic broken base64", `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!!"}}`, 1590},
		{"anthropic image in a tool result", `{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(200, 200) + `"}}]}`, 54},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, _, err := contentTokens([]byte("[" + tc.part + "]"))
			if err != nil || n != tc.want {
				t.Errorf("tokens = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

// TestImagesInPrompts checks that an image counts in the prompt of both APIs, and that
// the OpenAI prompt cache sees it: a different image is a different prefix.
func TestImagesInPrompts(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now})
	text := strings.Repeat("quota ledger ", 600) // 1200 tokens
	oaiImg := func(w int) string {
		return fmt.Sprintf(`{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},{"type":"text","text":"%s"}]}]}`, pngHeader(w, w), text)
	}
	first := reportedUsage(t, false, false, serve(e, oai(oaiImg(1024))).body)
	if want := int64(3 + 3 + 765 + 1200); first.InputTokens != want {
		t.Errorf("openai prompt_tokens = %d, want %d (765 for the image)", first.InputTokens, want)
	}
	again := reportedUsage(t, false, false, serve(e, oai(oaiImg(1024))).body)
	other := reportedUsage(t, false, false, serve(e, oai(oaiImg(1000))).body)
	if again.CachedInputTokens < 1024 || other.CachedInputTokens != 0 {
		t.Errorf("cached tokens: same image %d, other image %d; want >= 1024 and 0", again.CachedInputTokens, other.CachedInputTokens)
	}
	r := serve(e, ant(`{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+pngHeader(1000, 1000)+`"}},{"type":"text","text":"what is it"}]}]}`))
	if u := reportedUsage(t, true, false, r.body); u.InputTokens != 3+3+1334+3 {
		t.Errorf("anthropic input_tokens = %d, want %d", u.InputTokens, 3+3+1334+3)
	}
}
