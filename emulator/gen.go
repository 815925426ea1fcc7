package emulator

import (
	"net/http"
	"strconv"
	"time"
)

// finish is why an answer ended.
type finish uint8

const (
	finishStop   finish = iota // the model ended its turn
	finishLength               // the output cap (max_tokens) or the context window stopped it
	finishTools                // it called tools
)

// answer is one generated choice: what a model produces in the order it produces it,
// each part counted in output tokens.
type answer struct {
	reasoning int // hidden reasoning tokens (OpenAI reasoning models)

	thinking  string // visible thinking (Anthropic extended thinking), one token a word
	thinkingN int
	signature string

	text  string // the answer text, one token a word; with calls, a preamble
	textN int

	// calls are the tool calls; an OpenAI call cut by the output cap carries truncated
	// arguments, its tokens counting what was generated.
	calls []toolCall

	finish finish
}

// tokens is the answer's output: everything generated, reasoning included.
func (a *answer) tokens() int {
	n := a.reasoning + a.thinkingN + a.textN
	for i := range a.calls {
		n += a.calls[i].tokens
	}
	return n
}

// visible is the answer's output without the hidden reasoning.
func (a *answer) visible() int { return a.tokens() - a.reasoning }

// effortScale is how much an OpenAI reasoning model reasons for each reasoning_effort, as a
// multiple of a draw of Config.Output; "" is the default, medium.
var effortScale = map[string]float64{"none": 0, "minimal": 0.25, "low": 0.5, "": 1, "medium": 1, "high": 2, "xhigh": 3}

// draw returns an answer length drawn from Config.Output.
func (c *call) draw() int {
	o := c.e.cfg.Output
	return o.MinTokens + c.rng.intn(o.MaxTokens-o.MinTokens+1)
}

// plan generates one choice. The output cap is max_tokens (per choice), or, for a server
// that sizes answers to its window, the rest of the window; reasoning and thinking come
// first and count against it, as OpenAI's max_completion_tokens and Anthropic's max_tokens
// count them.
func (c *call) plan(anthropic bool) answer {
	req := &c.req
	limit := -1
	if req.hasMax {
		limit = req.maxTokens
	}
	if c.windowCap > 0 && (limit < 0 || c.windowCap < limit) {
		limit = c.windowCap
	}
	var a answer
	used := 0
	full := func(n int) bool { return limit >= 0 && used+n >= limit }
	if c.m.reasoning && !anthropic {
		r := int(float64(c.draw()) * effortScale[req.effort])
		if full(r) {
			a.reasoning, a.finish = limit, finishLength
			return a
		}
		a.reasoning, used = r, r
	}
	if req.thinking != 0 {
		t := c.draw()
		if req.thinking > 0 {
			t = min(t, req.thinking)
		}
		if full(t) {
			t, a.finish = limit-used, finishLength
		}
		a.thinking, a.thinkingN, a.signature = c.text(t), t, c.signature()
		if used += t; a.finish == finishLength {
			return a
		}
	}
	calls := false
	switch req.choice.kind {
	case choiceRequired, choiceNamed:
		calls = true
	case choiceAuto:
		calls = len(req.tools) > 0 && c.rng.intn(2) == 1
	}
	n := 0
	structured := ""
	switch {
	case !calls && req.format != nil:
		g := argGen{c: c}
		structured = string(g.value(nil, req.format, 0))
		n = CountTokens(structured)
	case !calls:
		n = c.draw()
	case anthropic && req.choice.kind == choiceAuto:
		// Claude says what it is about to do before an optional call; with "any" or a named
		// tool the API prefills the call, so no text comes first.
		n = 5 + c.rng.intn(16)
	}
	if full(n) {
		n, a.finish = limit-used, finishLength
	}
	if structured != "" {
		a.text, a.textN = structured[:cutTokens(structured, n)], n // a cap cuts the JSON short
	} else {
		a.text, a.textN = c.text(n), n
	}
	if used += n; !calls || a.finish == finishLength {
		return a
	}
	a.calls = c.planCalls(callPrefix(anthropic))
	a.finish = finishTools
	for i := range a.calls {
		k := &a.calls[i]
		if !full(k.tokens) || used+k.tokens == limit {
			used += k.tokens
			continue
		}
		// The cap falls inside this call. OpenAI sends what was generated: the name and the
		// start of the arguments. Anthropic's answer ends in text instead, so that its
		// content stays valid; either way the output is exactly the cap.
		rest, name := limit-used, CountTokens(k.name)
		a.finish = finishLength
		if !anthropic && rest > name {
			k.args = k.args[:cutTokens(k.args, rest-name)]
			k.tokens = rest
			a.calls = a.calls[:i+1]
			return a
		}
		a.calls = a.calls[:i]
		a.text = joinWords(a.text, c.text(rest))
		a.textN += rest
		return a
	}
	return a
}

func callPrefix(anthropic bool) (string, int) {
	if anthropic {
		return "toolu_01", 22
	}
	return "call_", 24
}

func joinWords(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

const signatureAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// signature is an opaque thinking signature, base64 like Anthropic's.
func (c *call) signature() string {
	b := append(make([]byte, 0, 90), "Eq"...)
	for range 86 {
		b = append(b, signatureAlphabet[c.rng.intn(len(signatureAlphabet))])
	}
	return string(b)
}

// streamer writes the events of a stream, paces them, applies the faults that strike a
// stream part-way, and bills the request when it ends early. It does not hold the call,
// which its methods take: escape analysis is not field-sensitive, and the writer it holds
// would otherwise move every call to the heap.
type streamer struct {
	w        http.ResponseWriter
	r        *http.Request
	rc       *http.ResponseController
	paced    bool // latency is on: flush each event and wait for its tokens
	out      int  // output tokens sent
	steps    int  // content events sent
	strikeAt int  // the content event before which the fault strikes; -1 for none
	errEvent string
	buf      []byte
	// respFail renders the error events of a Responses stream, which carry its sequence
	// number; nil for the other streams, whose errEvent is fixed.
	respFail *respWriter
}

// newStreamer returns a streamer for the call's stream.
func (c *call) newStreamer(w http.ResponseWriter, r *http.Request, contentSteps int, errEvent string) streamer {
	s := streamer{w: w, r: r, rc: http.NewResponseController(w), paced: c.m.latency != (Latency{}),
		strikeAt: -1, errEvent: errEvent, buf: make([]byte, 0, 512)}
	switch c.fault {
	case faultCut, faultErrorEvent, faultStall:
		s.strikeAt = contentSteps / 2
	case faultStartErrorEvent:
		s.strikeAt = 0
	}
	return s
}

// write sends bytes that carry no output.
func (s *streamer) write(b []byte) { _, _ = s.w.Write(b) }

// clientGoneCheck is how often, in events, an unpaced stream checks for a gone client;
// a paced one notices in its pauses.
const clientGoneCheck = 16

// step sends one content event carrying k output tokens and reports whether the stream
// goes on. When it does not, the request has been billed (or the connection aborted).
func (s *streamer) step(c *call, b []byte, k int) bool {
	if s.steps == s.strikeAt && !s.strike(c) {
		return false
	}
	s.write(b)
	s.out += k
	s.steps++
	if s.paced {
		_ = s.rc.Flush()
		if !pause(s.r, c.perTokenDelay()*time.Duration(k)) {
			return s.gone(c)
		}
	} else if s.steps%clientGoneCheck == 0 && s.r.Context().Err() != nil {
		return s.gone(c)
	}
	return true
}

// strike applies the request's mid-stream fault and reports whether the stream goes on.
// A stream with fewer content events than the fault's place meets it before its end.
func (s *streamer) strike(c *call) bool {
	s.strikeAt = -1
	if s.paced {
		_ = s.rc.Flush()
	}
	switch c.fault {
	case faultCut:
		c.refuse(FaultCut)
		c.bill(EndCut, s.out+c.reasoningDone, c.reasoningDone)
		abort(s.w)
	case faultErrorEvent, faultStartErrorEvent:
		c.refuse(faultReasons[c.fault])
		if s.respFail != nil {
			s.respFail.seq-- // the event rendered for this place is not sent: this one takes its number
		}
		switch {
		case s.respFail == nil:
			s.write([]byte(s.errEvent))
		case c.fault == faultStartErrorEvent:
			s.write(s.respFail.errorEvent())
		default:
			s.write(s.respFail.failed())
		}
		_ = s.rc.Flush()
		c.bill(EndErrorEvent, s.out+c.reasoningDone, c.reasoningDone)
		return false
	case faultStall:
		_ = s.rc.Flush()
		if !pause(s.r, c.stallFor()) {
			c.refuse(FaultStall)
			return s.gone(c)
		}
	}
	return true
}

// gone bills a stream whose client left: the input and what was generated.
func (s *streamer) gone(c *call) bool {
	c.bill(EndClientGone, s.out+c.reasoningDone, c.reasoningDone)
	return false
}

// finish sends the last bytes and bills the complete answer, unless a fault that had not
// struck yet (the answer had fewer content events than its place) strikes first.
func (s *streamer) finish(c *call, b []byte, out, reasoning int) {
	if s.strikeAt >= 0 && !s.strike(c) {
		return
	}
	s.write(b)
	_ = s.rc.Flush()
	c.bill(EndComplete, out, reasoning)
}

// think waits while the hidden reasoning of the answers is generated (at the model's
// speed, answers in parallel), and records how much was generated; it reports whether the
// client stayed.
func (s *streamer) think(c *call, answers []answer) bool {
	longest := 0
	for i := range answers {
		longest = max(longest, answers[i].reasoning)
	}
	per := c.perTokenDelay()
	start := time.Now()
	ok := pause(s.r, per*time.Duration(longest))
	done := longest
	if !ok && per > 0 {
		done = int(time.Since(start) / per)
	}
	for i := range answers {
		c.reasoningDone += min(answers[i].reasoning, done)
	}
	if !ok {
		return s.gone(c)
	}
	return true
}

// waitWhole waits while a non-streamed answer of n tokens is generated and bills it: in
// full unless the client left before the first token, when only the input is billed. It
// reports whether the client is still there to receive it.
func (c *call) waitWhole(r *http.Request, n, out, reasoning int) bool {
	first, total := c.firstTokenDelay(), c.perTokenDelay()*time.Duration(n)
	if c.fault == faultStall {
		total += c.stallFor()
	}
	start := time.Now()
	if pause(r, first+total) {
		return true
	}
	if time.Since(start) < first {
		c.bill(EndClientGone, 0, 0)
	} else {
		c.bill(EndClientGone, out, reasoning)
	}
	if c.fault == faultStall {
		c.refuse(FaultStall)
	}
	return false
}

// sendWhole sends a whole JSON answer and bills it; the cut fault sends half of it and
// drops the connection, and bills it all the same: the answer was generated whole.
func (c *call) sendWhole(w http.ResponseWriter, b []byte, out, reasoning int) {
	h := w.Header()
	h["Content-Type"] = contentJSON
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	if c.fault == faultCut {
		c.refuse(FaultCut)
		_, _ = w.Write(b[:len(b)/2])
		c.bill(EndCut, out, reasoning)
		abort(w)
	}
	_, _ = w.Write(b)
	c.bill(EndComplete, out, reasoning)
}

// silent sends the 200 headers and nothing more, until the client leaves or HangMax
// passes, when the connection drops. The request is billed its input.
func (c *call) silent(w http.ResponseWriter, r *http.Request, contentType string) {
	setHeader(w.Header(), "Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	c.refuse(FaultSilent)
	if hm := c.m.faults.HangMax; hm > 0 {
		if pause(r, hm) {
			c.bill(EndCut, 0, 0)
			abort(w)
		}
	} else {
		<-r.Context().Done()
	}
	c.bill(EndClientGone, 0, 0)
}
